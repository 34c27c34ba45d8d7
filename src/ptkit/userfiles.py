"""Files a user names on the command line, read and written without surprises.

An input may be a pipe (`<(...)`), a FIFO with no writer or a device that never ends; it is read
without waiting for a writer that may never come, and only up to a size limit. An output that is
not a regular file (a device node, a pipe, a link's target) is written through, never replaced.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from .errors import PtkitError

LIMIT = 64 << 20  # far above any report, manifest, lock or matrix ptkit reads


def read_text(path: Path, what: str, limit: int = LIMIT) -> str:
    """The file's text. A FIFO nobody writes reads as empty (no hang); more than `limit` bytes is refused;
    a folder, a missing file or undecodable bytes are one-line PtkitErrors naming `what` and the path."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # opening a FIFO waits for a writer otherwise
    except FileNotFoundError:
        raise PtkitError(f"{what} {path}: no such file") from None
    except OSError as exc:
        raise PtkitError(f"{what} {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(os.fstat(fd).st_mode):
        os.close(fd)
        raise PtkitError(f"{what} {path}: is a folder, not a file")
    with os.fdopen(fd, "rb") as handle:
        os.set_blocking(fd, True)  # a writer that is there is waited for; with none, the read is the end
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            raise PtkitError(f"{what} {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise PtkitError(f"{what} {path}: larger than {limit >> 20} MiB: not a file ptkit writes")
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise PtkitError(f"{what} {path}: not UTF-8 text") from None


def write_text(path: Path, text: str, what: str = "output") -> None:
    """Write `text` to `path`: a regular or new file is replaced; a device, a pipe or a FIFO with a reader is
    written through (never replaced by a regular file); a FIFO nobody reads is refused, not waited on."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = 0
    except OSError as exc:
        raise PtkitError(f"{what} {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        raise PtkitError(f"{what} {path}: is a folder, not a file")
    flags = os.O_WRONLY | (os.O_NONBLOCK if stat.S_ISFIFO(mode) else os.O_CREAT | os.O_TRUNC)
    try:
        if not mode:
            path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        reason = "a FIFO nobody reads" if exc.errno == errno.ENXIO else exc.strerror or str(exc)
        raise PtkitError(f"{what} {path}: {reason}") from None
    os.set_blocking(fd, True)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
    except OSError as exc:
        raise PtkitError(f"{what} {path}: {exc.strerror or exc}") from None
