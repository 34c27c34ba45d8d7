"""The environment fingerprint: one digest of an image's environment files (path, type, mode, content).

The single home of the algorithm. It runs wherever an environment is: inside ptkit images
(`python -m ptkit.verify.fingerprint`, and docker/manifest.py at build time), and in any other image,
where the host sends this file's source to `python3 -B -c` (standard library only, Python 3.8+).

Never hashed: timestamps, owners, inode numbers and hardlink structure (none of them change what the
environment does, all of them change between two builds of the same inputs). The walk is sorted by
the bytes of each name, so the digest does not depend on the filesystem's directory order.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import stat
import sys
from collections.abc import Iterator
from typing import NamedTuple

ALGORITHM = "ptkit.fingerprint/1"
# The environment: the venv, ptkit, a team's packages, ptkit's records and the system Python.
DEFAULT_ROOTS = ("/opt/venv", "/opt/ptkit", "/opt/team", "/etc/ptkit", "/usr/lib/python3*")
# The manifest records the fingerprint, so it cannot be part of it; it describes the other files.
MANIFEST = "/etc/ptkit/manifest.json"
DEFAULT_EXCLUDE = (MANIFEST,)



class Entry(NamedTuple):
    path: str
    kind: str  # f file, l symlink, d directory, o anything else
    mode: int  # permission bits (setuid and sticky included)
    payload: str  # sha256 of a file's content, a symlink's target, else ""


def expand_roots(patterns: list[str]) -> list[str]:
    """Roots as absolute paths, globs expanded, sorted; a root that does not exist is left out."""
    roots: list[str] = []
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]:
            if os.path.lexists(path) and os.path.abspath(path) not in roots:
                roots.append(os.path.abspath(path))
    return roots


def _file_digest(path: str, cache: dict[tuple[int, int], str], st: os.stat_result) -> str:
    key = (st.st_dev, st.st_ino)  # hardlinked copies are read once
    if key not in cache:
        h = hashlib.sha256()
        try:
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
        except OSError as exc:  # a read error names no file: name it, the message is all the user sees
            raise OSError(exc.errno, exc.strerror, path) from None
        cache[key] = h.hexdigest()
    return cache[key]


def _entry(path: str, cache: dict[tuple[int, int], str]) -> Entry:
    st = os.lstat(path)
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        return Entry(path, "l", mode, os.readlink(path))
    if stat.S_ISDIR(st.st_mode):
        return Entry(path, "d", mode, "")
    if stat.S_ISREG(st.st_mode):
        return Entry(path, "f", mode, _file_digest(path, cache, st))
    return Entry(path, "o", mode, "")  # sockets, fifos, devices: their presence and mode only


def walk(roots: list[str], exclude: list[str] | None = None) -> Iterator[Entry]:
    """Every entry under the roots, depth first, names sorted bytewise; symlinks are not followed."""
    skip = {os.path.abspath(p) for p in (exclude or [])}
    cache: dict[tuple[int, int], str] = {}
    stack = list(reversed(roots))
    while stack:
        path = stack.pop()
        if path in skip:
            continue
        entry = _entry(path, cache)
        yield entry
        if entry.kind == "d":
            names = sorted(os.listdir(path), key=os.fsencode)
            stack.extend(os.path.join(path, name) for name in reversed(names))


def line(entry: Entry) -> bytes:
    """One entry as hashed: NUL-separated, so no path can forge another's line."""
    return b"\0".join([os.fsencode(entry.path), entry.kind.encode(), b"%o" % entry.mode,
                       os.fsencode(entry.payload)]) + b"\n"


def fingerprint(patterns: list[str] | None = None, exclude: list[str] | None = None,
                listing: list[str] | None = None) -> dict[str, object]:
    """{algorithm, digest, roots, files, exclude}; `listing` collects one readable line per entry."""
    roots = expand_roots(list(patterns or DEFAULT_ROOTS))
    excluded = list(DEFAULT_EXCLUDE if exclude is None else exclude)
    h = hashlib.sha256(ALGORITHM.encode() + b"\n")
    count = 0
    for entry in walk(roots, excluded):
        h.update(line(entry))
        count += 1
        if listing is not None:
            listing.append(f"{entry.kind} {entry.payload or '-'} {entry.mode:o} {entry.path}")
    return {"algorithm": ALGORITHM, "digest": "sha256:" + h.hexdigest(), "roots": roots,
            "exclude": excluded, "files": count}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ptkit-fingerprint", description="Fingerprint an environment's files.")
    parser.add_argument("roots", nargs="*", metavar="ROOT", help=f"default: {' '.join(DEFAULT_ROOTS)}")
    parser.add_argument("--exclude", action="append", metavar="PATH", help=f"default: {MANIFEST}")
    parser.add_argument("--list", action="store_true", help="print one line per file: type digest mode path")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    listing: list[str] | None = [] if args.list else None
    try:
        result = fingerprint(args.roots or None, args.exclude, listing)
    except OSError as exc:
        print(f"ptkit fingerprint: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    for text in listing or []:
        print(text)
    print(json.dumps(result) if args.json else result["digest"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
