"""Files a user names on the command line, read and written without surprises.

An input may be a pipe (`<(...)`), a FIFO with no writer or a device that never ends; it is read
without waiting for a writer that may never come, and only up to a size limit. An output that is
not a regular file (a device node, a pipe, a link's target) is written through, never replaced.
"""

from __future__ import annotations

import argparse
import errno
import io
import os
import re
import stat
from pathlib import Path

from .errors import PtkitError, UsageError

LIMIT = 64 << 20  # far above any report, manifest, lock or matrix ptkit reads


CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def path_arg(text: str) -> Path:
    """The argparse type of every path a user gives: an empty one is refused (Path("") is ".", the current folder:
    a wheelhouse downloaded into the checkout), and so is one with a line break (every message names the path
    in one line)."""
    if not text.strip() or CONTROL.search(text):
        raise argparse.ArgumentTypeError(f"expected a path on one line, got {text!r}")
    return Path(text)


class ClosedStdout(io.TextIOBase):
    """sys.stdout when the shell closed it (`ptkit matrix >&-`; Python then sets sys.stdout to None and print()
    drops everything silently): the first write is one clear error instead of output lost with exit 0; a usage
    error (2), so that `ptkit diff`'s 1 keeps meaning "different"."""

    def write(self, text: str) -> int:
        raise UsageError("standard output is closed (>&-): nothing can be printed; redirect it to a file instead")


def read_bytes(path: Path, limit: int = LIMIT) -> bytes:
    """The file's bytes. A FIFO nobody writes reads as empty (no hang); a folder is IsADirectoryError and more
    than `limit` bytes (a device that never ends) an OSError(EFBIG): OSErrors, for callers' own messages."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # opening a FIFO waits for a writer otherwise
    if stat.S_ISDIR(os.fstat(fd).st_mode):
        os.close(fd)
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(path))
    with os.fdopen(fd, "rb") as handle:
        os.set_blocking(fd, True)  # a writer that is there is waited for; with none, the read is the end
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit >> 20} MiB: not a file ptkit reads", str(path))
    return data


def read_text(path: Path, what: str, limit: int = LIMIT) -> str:
    """read_bytes as UTF-8 text; every failure one PtkitError naming `what` and the path."""
    try:
        return read_bytes(path, limit).decode()
    except OSError as exc:
        raise PtkitError(f"{what} {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise PtkitError(f"{what} {path}: not UTF-8 text") from None


def write_text(path: Path, text: str, what: str = "output") -> None:
    """Write `text` to `path` by the rule `--report` follows (verify/results.py, write_json_atomic): a regular or
    new file replaced atomically, a symlink's target likewise, a character device or a FIFO written through
    (a FIFO nobody reads refused at once), a folder, block device or socket refused; one line each."""
    from .verify.results import replace_atomically, write_through

    try:
        mode = os.stat(path).st_mode  # follows a symlink: what a write would reach
    except FileNotFoundError:
        mode = 0
    except OSError as exc:
        raise PtkitError(f"{what} {path}: {exc.strerror or exc}") from None
    try:
        if not mode or stat.S_ISREG(mode):
            replace_atomically(text.encode(), os.path.realpath(path))
        elif stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
            write_through(text.encode(), str(path), stat.S_ISFIFO(mode))
        else:
            kind = "a folder" if stat.S_ISDIR(mode) else "a block device" if stat.S_ISBLK(mode) else "a socket"
            raise PtkitError(f"{what} {path}: is {kind}; write to a file, a new path, a character device or a FIFO")
    except OSError as exc:
        raise PtkitError(f"{what} {path}: {exc.strerror or exc}") from None


class MadeFolders:
    """The folders one call creates on the way to `path`, and only those, removed again on failure.

    Each folder is recorded when this process's own mkdir makes it (never inferred from what does not exist yet),
    with its device and inode; `remove` deletes the outermost one only if it is still that folder. A wrong path
    (a bug, a mutated line in mutation testing, a race) can then at worst leave a folder behind: it can never
    remove one that existed before, such as `/` or a user's home.
    """

    def __init__(self, path: Path) -> None:
        self.made: list[tuple[Path, int, int]] = []
        try:
            for folder in (*reversed(path.parents), path):
                try:
                    folder.mkdir()
                except FileExistsError:
                    continue
                info = folder.stat()
                self.made.append((folder, info.st_dev, info.st_ino))
        except BaseException:  # a folder that cannot be made (a file in the way, no permission): none is left
            self.remove()
            raise

    def remove(self) -> None:
        import shutil

        if not self.made:
            return
        folder, dev, ino = self.made[0]
        try:
            info = folder.lstat()
        except OSError:
            return
        if (info.st_dev, info.st_ino) == (dev, ino) and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
