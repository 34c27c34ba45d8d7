"""The CUDA compiler of a row's devel image: which package, at which version, pinned by which lock.

NVIDIA publishes the real compiler as wheels for CUDA 13 only: the extras `nvcc` and `cccl` of its
`cuda-toolkit` meta package install nvcc, crt, nvvm, the runtime headers and CCCL
(https://pypi.org/project/cuda-toolkit/; cuda-toolkit[nvcc,cccl]==13.0.3.0 is nvcc 13.0.88, about 105 MB).
torch's CUDA 13 wheels require `cuda-toolkit[...]==V` (Requires-Dist), so the row's lock, which pip resolved
from that metadata, pins V; the compiler is cuda-toolkit[nvcc,cccl]==V: the same release as torch's runtime.
CUDA 12: nvidia-cuda-nvcc-cu12 holds ptxas and the headers but no nvcc binary. Debian packages a full
nvidia-cuda-toolkit in non-free only: 11.8 in bookworm (the base image's release; it depends on g++-11 or older
or clang-14 or older, as CUDA 11.8 refuses newer host compilers, while bookworm's g++ is 12) and 12.4 in trixie
(apt-cache policy/showpkg against bookworm+trixie non-free, 2026-12-02). Neither is wired: cuda118's would need
non-free and a second g++ in the devel image, and a trixie package on the bookworm base was not tried. So the
CUDA 11 and 12 rows have no compiler, and the verifier's compile:cuda-extension is a SKIP there, naming why.

The compiler lock is the row lock's sibling, `locks/IMAGE-nvcc.txt`, written by `ptkit lock VARIANT --compiler`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from .errors import PtkitError
from .images import lock_path
from .locks import lock_pins, resolve, target_args
from .matrix import Variant
from .platforms import DEFAULT_PLATFORM, Platform
from .verify.extension import compiler_requirement

TOOLKIT = "cuda-toolkit"
LOCK_SUFFIX = "-nvcc"
# The build arg COMPILER of docker/Dockerfile: the stage compiler-nvcc or compiler-none.
WITH, WITHOUT = "nvcc", "none"


def has_compiler(variant: Variant) -> bool:
    """Whether the row's devel image gets nvcc: CUDA 13 and later (the releases with nvcc wheels)."""
    return variant.is_cuda and int(variant.cuda.split(".")[0]) >= 13


def why_none(variant: Variant) -> str:
    """Why a row's devel image has no CUDA compiler, in a few words (the README and `ptkit select` say it)."""
    if not variant.is_cuda:
        return "CPU row"
    if has_compiler(variant):
        return ""
    return f"CUDA {variant.cuda}: NVIDIA publishes no nvcc wheel before CUDA 13"


def compiler_lock_path(row_lock: Path) -> Path:
    """locks/cuda130.txt -> locks/cuda130-nvcc.txt."""
    return row_lock.with_name(f"{row_lock.stem}{LOCK_SUFFIX}{row_lock.suffix}")


def requirement_from_lock(row_lock_text: str, where: str) -> str:
    """cuda-toolkit[nvcc,cccl]==V for the row lock that pins cuda-toolkit V (torch's Requires-Dist)."""
    version = lock_pins(row_lock_text).get(TOOLKIT)
    if not version:
        raise PtkitError(f"{where} pins no {TOOLKIT}: torch's CUDA release has no nvcc wheels (CUDA 13 and later)")
    return compiler_requirement([f"{TOOLKIT}=={version}"]) or ""


def lock_compiler(variant: Variant, row_lock: Path, *, isolated: bool = False,
                  ca_bundle: Path | None = None, platform: Platform = DEFAULT_PLATFORM) -> str:
    """The hash lock of the row's compiler on a platform, resolved on the row's index for that platform's
    machine (as the row lock is: uv for another machine, no wheel downloaded)."""
    if not has_compiler(variant):
        raise PtkitError(f"variant {variant.name} has no CUDA compiler wheels ({why_none(variant)})")
    try:
        text = row_lock.read_text()
    except OSError as exc:
        raise PtkitError(f"{row_lock}: {exc.strerror} (lock the row first: `ptkit lock {variant.name}`)") from None
    return resolve(variant, [requirement_from_lock(text, str(row_lock))], isolated=isolated, ca_bundle=ca_bundle,
                   platform=platform)


def build_files(variant: Variant, flavor: str, row_lock: Path | None) -> tuple[str, bytes]:
    """(the build arg COMPILER, the context's compiler.lock) for one image. The compiler lock beside the row
    lock is installed exactly, once it agrees with the row lock; without one (no row lock, or a wheelhouse's
    requirements.lock) the stage installs the requirement derived from the venv's torch, said on stderr."""
    if flavor != "devel" or not has_compiler(variant):
        return WITHOUT, b""
    path = compiler_lock_path(row_lock) if row_lock else None
    if path is None or not path.is_file():
        print(f"ptkit: no compiler lock{f' {path}' if path else ''}: nvcc is pinned by version, not by hash "
              f"(`ptkit lock {variant.name} --compiler` writes one)", file=sys.stderr)
        return WITH, b""
    text, wanted = path.read_text(), lock_pins(row_lock.read_text()).get(TOOLKIT)
    if lock_pins(text).get(TOOLKIT) != wanted:
        raise PtkitError(f"{path} pins {TOOLKIT} {lock_pins(text).get(TOOLKIT) or '(nothing)'}, {row_lock} "
                         f"pins {wanted or '(nothing)'}: regenerate it with `ptkit lock {variant.name} --compiler`")
    return WITH, text.encode()


def cmd_lock_compiler(args: argparse.Namespace) -> int:
    """`ptkit lock VARIANT --compiler [--platform P]`: locks/IMAGE-nvcc.txt (or -o), from the row lock
    locks/IMAGE.txt of that platform (IMAGE carries the platform's name suffix, as the row lock's does)."""
    from .matrix import load

    variant = load(args.matrix).get(args.variant, args.source)
    platform = variant.on(args.platform)
    row_lock = lock_path(variant, platform)
    out = args.output or compiler_lock_path(row_lock)
    text = lock_compiler(variant, row_lock, isolated=args.isolated, ca_bundle=args.ca_bundle, platform=platform)
    try:
        out.write_text(text)
    except OSError as exc:
        raise PtkitError(f"{out}: {exc.strerror}") from None
    print(f"lock {out}: {len(lock_pins(text))} wheels pinned by hash")
    return 0


def add_compiler_wheels(variant: Variant, dest: Path, row_lock: Path | None,
                        platform: Platform = DEFAULT_PLATFORM) -> bool:
    """`ptkit wheelhouse` of a CUDA 13 row: also the compiler lock's wheels (hash-checked), and that lock as
    dest/requirements-nvcc.txt, beside the wheelhouse's requirements.lock, where a build looks for it.
    False when the row has no compiler or no compiler lock is committed for it."""
    source = compiler_lock_path(row_lock or lock_path(variant, platform))
    if not has_compiler(variant) or not source.is_file():
        return False
    cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--quiet", "--dest", str(dest),
           *target_args(variant, platform), "--no-deps", "--require-hashes", "-r", str(source)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise PtkitError(f"pip could not download the compiler wheels of {source}: "
                         f"{(proc.stderr.strip().splitlines() or ['no output'])[-1][:300]}")
    compiler_lock_path(dest / "requirements.lock").write_text(source.read_text())
    return True
