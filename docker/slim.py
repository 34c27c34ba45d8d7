"""Trim a runtime venv: drop what only a build needs, and store byte-identical files once.

Usage: slim.py VENV [DEVEL_ROOT]
       slim.py --check present|absent LIST
Moves torch's C++ headers (torch/include: what inductor's C++ backend compiles against) to DEVEL_ROOT + their
path, for the devel flavor to copy back (removed without DEVEL_ROOT), and lists each file moved with its SHA-256
in DEVEL_ROOT/etc/ptkit/slim-moved.sha256 (sha256sum's format, the image's paths); removes torch's CMake files
and tests, and static libraries; then hardlinks files with identical bytes (wheels cannot carry symlinks, so e.g.
triton ships libcupti.so, .so.13 and .so.2026.x as three copies). Docker stores a hardlinked file once per layer.
Shared libraries are not stripped: auditwheel-patched ones (numpy.libs, ...) break when stripped.
`--check present LIST`: every listed file is there with its bytes (the devel image got all back); `--check absent
LIST`: none of them is there (the runtime image has none); exit 1 naming the count and the first, else 0.
The rules hold for every torch of the matrix (2.4.1 to 2.15.0, read from the wheels' file lists,
tests/test_slim.py): torch/include holds the C++ headers throughout; torch 2.4-2.7 keep inductor's cpp_prefix.h
in torch/_inductor/codegen/ instead (2.10 on: torch/include/torch/csrc/inductor/), which slim leaves in the venv
of both flavors, as it does every other .h outside torch/include (torchgen's templates, torch/lib/libshm, ...).
"""

import collections
import hashlib
import os
import shutil
import sys
import sysconfig


def tree_size(path: str) -> int:
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(path) for f in fs)


MOVED_LIST = os.path.join("etc", "ptkit", "slim-moved.sha256")  # under DEVEL_ROOT: devel gets it at /etc/ptkit/


def move_headers(site: str, devel_root: str) -> int:
    """torch/include -> DEVEL_ROOT/<its absolute path>, so `COPY /opt/devel/ /` puts it back; the list of
    what moved (MOVED_LIST: its image path and SHA-256 per file) beside it, empty when nothing moved."""
    src = os.path.join(site, "torch", "include")
    listing = os.path.join(devel_root, MOVED_LIST)
    os.makedirs(os.path.dirname(listing), exist_ok=True)
    files = sorted(os.path.join(r, f) for r, _, fs in os.walk(src) for f in fs)
    with open(listing, "w") as out:
        out.writelines(f"{digest(path)}  {path}\n" for path in files)
    if not os.path.isdir(src):
        return 0
    moved = tree_size(src)
    dest = os.path.join(devel_root, src.lstrip(os.sep))
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    shutil.move(src, dest)
    return moved


def check(mode: str, listing: str) -> int:
    """0 when every listed file is there with its bytes (present) or none is (absent); 1 naming the count and
    the first one that is not so."""
    with open(listing) as fh:
        entries = [line.rstrip("\n").split("  ", 1) for line in fh if line.strip()]
    if mode == "present":
        wrong = [p for h, p in entries if not os.path.isfile(p) or digest(p) != h]
        what = "missing or changed in this image (the devel flavor must have every file back)"
    else:
        wrong = [p for _, p in entries if os.path.lexists(p)]
        what = "still in this image (the runtime flavor must have none)"
    if wrong:
        print(f"ptkit: slim check: {len(wrong)} of the {len(entries)} files slim moved are {what}, e.g. {wrong[0]}",
              file=sys.stderr)
        return 1
    print(f"ptkit: slim check: {mode}: all {len(entries)} files slim moved ({listing})")
    return 0


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
    if sys.argv[1:2] == ["--check"]:
        if len(sys.argv) != 4 or sys.argv[2] not in ("present", "absent"):
            print("slim.py: usage: slim.py --check present|absent LIST", file=sys.stderr)
            sys.exit(2)
        sys.exit(check(sys.argv[2], sys.argv[3]))
    main(*sys.argv[1:3])
