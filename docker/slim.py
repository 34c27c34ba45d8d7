"""Trim a runtime venv: drop what only a build needs, and store byte-identical files once.

Usage: slim.py VENV [DEVEL_ROOT]. Moves torch's C++ headers (what inductor's C++ backend compiles
against) to DEVEL_ROOT + their path, for the devel flavor to copy back (removed without DEVEL_ROOT);
removes torch's CMake files and tests, and static libraries; then hardlinks files with identical
bytes (wheels cannot carry symlinks, so e.g. triton ships libcupti.so, .so.13 and .so.2026.x as
three copies). Docker stores a hardlinked file once per layer.
Shared libraries are not stripped: auditwheel-patched ones (numpy.libs, ...) break when stripped.
"""

import collections
import hashlib
import os
import shutil
import sys
import sysconfig


def tree_size(path: str) -> int:
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(path) for f in fs)


def move_headers(site: str, devel_root: str) -> int:
    """torch/include -> DEVEL_ROOT/<its absolute path>, so `COPY /opt/devel/ /` puts it back."""
    src = os.path.join(site, "torch", "include")
    if not os.path.isdir(src):
        return 0
    moved = tree_size(src)
    dest = os.path.join(devel_root, src.lstrip(os.sep))
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    shutil.move(src, dest)
    return moved


def remove_build_only(site: str) -> int:
    freed = 0
    for rel in ("torch/include", "torch/share/cmake", "torch/test"):
        path = os.path.join(site, rel)
        if os.path.isdir(path):
            freed += tree_size(path)
            shutil.rmtree(path)
    for root, _, files in os.walk(site):
        for name in files:
            if name.endswith(".a"):
                path = os.path.join(root, name)
                freed += os.path.getsize(path)
                os.unlink(path)
    return freed


def digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def hardlink_duplicates(top: str, min_size: int = 64 * 1024) -> int:
    by_size = collections.defaultdict(list)
    for root, _, files in os.walk(top):
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path) and os.path.getsize(path) >= min_size:
                by_size[os.path.getsize(path)].append(path)
    freed = 0
    for size, paths in by_size.items():
        if len(paths) < 2:
            continue
        by_digest = collections.defaultdict(list)
        for path in paths:
            by_digest[digest(path)].append(path)
        for same in by_digest.values():
            for dup in same[1:]:
                tmp = dup + ".ptkit-link"
                os.link(same[0], tmp)
                os.replace(tmp, dup)
                freed += size
    return freed


def main(venv: str, devel_root: str = "") -> None:
    site = sysconfig.get_path("purelib", vars={"base": venv, "platbase": venv})
    moved = move_headers(site, devel_root) if devel_root else 0
    removed = remove_build_only(site)
    linked = hardlink_duplicates(venv)
    print(f"ptkit: slim: moved {moved / 1e6:.0f} MB of torch headers to {devel_root or '(nowhere)'}, "
          f"removed {removed / 1e6:.0f} MB of build-only files, hardlinked {linked / 1e6:.0f} MB of duplicates")


if __name__ == "__main__":
    main(*sys.argv[1:3])
