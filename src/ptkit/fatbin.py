"""What SASS and PTX a CUDA library really holds, read with NVIDIA's cuobjdump (no GPU needed).

torch.cuda.get_arch_list() is a string compiled into torch; the fatbins inside libtorch_cuda.so are what a GPU
executes. cuobjdump comes from NVIDIA's PyPI wheel `nvidia-cuda-cuobjdump` (`pip install
nvidia-cuda-cuobjdump`: it installs site-packages/nvidia/cu13/bin/cuobjdump; the CUDA 12 wheels used
nvidia/cuda_cuobjdump/bin), or from a CUDA toolkit on PATH, or $PTKIT_CUOBJDUMP; each is tried in turn until
one reads the library (find_cuobjdumps). `cuobjdump --list-elf
--list-ptx LIB` prints one line per fatbin entry ("ELF file 1: libtorch_cuda.1.sm_75.cubin",
"PTX file 1: x.1.sm_90.ptx"): https://docs.nvidia.com/cuda/cuda-binary-utilities/ (cuobjdump options).
A listing is {arch: entries}, SASS as sm_XY and PTX as compute_XY, the names torch's arch list uses.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from .errors import PtkitError
from .verify.archs import parse_arch

CUOBJDUMP_ENV = "PTKIT_CUOBJDUMP"
INSTALL_HINT = "pip install nvidia-cuda-cuobjdump (NVIDIA's PyPI wheel), or set PTKIT_CUOBJDUMP"
# The CUDA libraries whose fatbins are recorded, relative to site-packages: torch's, and torchvision's where
# installed (_C.so up to 0.28; 0.29 builds against torch's stable ABI as _C_stable.so, which holds compute_120 PTX).
LIBRARIES = ("torch/lib/libtorch_cuda.so", "torchvision/_C.so", "torchvision/_C_stable.so")
ENTRY = re.compile(r"^(ELF|PTX) file\s+\d+:\s+\S*?\.(sm_\d+[af]?)\.(?:cubin|ptx)\s*$")
NO_DEVICE_CODE = "does not contain device code"


class FatbinError(PtkitError):
    """cuobjdump is missing or could not read a library."""


def find_cuobjdumps() -> list[Path]:
    """The cuobjdumps to try, in order: those $PTKIT_CUOBJDUMP names (one path, or several joined by os.pathsep)
    and only those when it is set; else the PyPI wheel's binary beside this Python, then cuobjdump on PATH. More
    than one matters: NVIDIA's only PyPI cuobjdump is CUDA 13's, which stops with 'Invalid ELF' in torch
    2.4.1+cu121's libtorch_cuda.so, where a CUDA 12 toolkit's (Debian trixie's non-free nvidia-cuda-toolkit 12.4)
    lists all of it."""
    if os.environ.get(CUOBJDUMP_ENV):
        return list(dict.fromkeys(Path(p) for p in os.environ[CUOBJDUMP_ENV].split(os.pathsep) if p))
    found: list[Path] = []
    for site in sys.path:
        found += [Path(p) for p in sorted(glob.glob(os.path.join(site, "nvidia", "*", "bin", "cuobjdump")))[-1:]]
    if on_path := shutil.which("cuobjdump"):
        found.append(Path(on_path))
    return list(dict.fromkeys(found))


def find_cuobjdump() -> Path:
    """The first cuobjdump find_cuobjdumps() would try; FatbinError when there is none."""
    if found := find_cuobjdumps():
        return found[0]
    raise FatbinError(f"no cuobjdump here: {INSTALL_HINT}")


def _sort_key(arch: str) -> tuple[bool, int, int, str]:
    parsed = parse_arch(arch)
    assert parsed is not None  # ENTRY only lets arch names through
    return parsed.ptx, parsed.major, parsed.minor, parsed.suffix


def parse_listing(text: str) -> dict[str, int]:
    """cuobjdump's --list-elf/--list-ptx lines -> {arch: entries}, SASS then PTX, each by capability."""
    counts: dict[str, int] = {}
    for line in text.splitlines():
        found = ENTRY.match(line.strip())
        if found:
            arch = found.group(2) if found.group(1) == "ELF" else "compute_" + found.group(2)[3:]
            counts[arch] = counts.get(arch, 0) + 1
    return {arch: counts[arch] for arch in sorted(counts, key=_sort_key)}


def list_library(library: Path, cuobjdump: Path | None = None, timeout: float = 600) -> dict[str, int]:
    """The listing of one library ({} when it holds no device code), by `cuobjdump`, else by the first of
    find_cuobjdumps() that reads it; FatbinError naming what each said when none can."""
    tools = [cuobjdump] if cuobjdump else find_cuobjdumps()
    if not tools:
        raise FatbinError(f"no cuobjdump here: {INSTALL_HINT}")
    failures = []
    for tool in tools:
        try:
            return _list_with(tool, library, timeout)
        except FatbinError as exc:
            failures.append(str(exc))
    raise FatbinError("; ".join(failures))


def _list_with(cuobjdump: Path, library: Path, timeout: float) -> dict[str, int]:
    command = [str(cuobjdump), "--list-elf", "--list-ptx", str(library)]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise FatbinError(f"cuobjdump could not run on {library.name} ({exc}): {INSTALL_HINT}") from None
    if proc.returncode != 0 and NO_DEVICE_CODE in proc.stderr + proc.stdout:
        return {}
    if proc.returncode != 0:
        said = (proc.stderr or proc.stdout).strip().splitlines() or [f"exit code {proc.returncode}"]
        # the library's name, not the temporary folder it was copied to: the message reaches the report
        raise FatbinError(f"cuobjdump could not read {library.name}: {said[-1].replace(str(library), library.name)}"
                          f" ({cuobjdump})")
    return parse_listing(proc.stdout)


def list_site(site: Path, cuobjdump: Path | None = None) -> dict[str, dict[str, int]]:
    """{library file name: listing} for each of LIBRARIES present under `site` (site-packages)."""
    return {Path(rel).name: list_library(site / rel, cuobjdump) for rel in LIBRARIES if (site / rel).is_file()}


def main(argv: list[str]) -> int:
    """`python -m ptkit.fatbin [SITE_PACKAGES]`: the verifier's --fatbin arguments (one token a line) for the
    torch this Python imports, or the site-packages given; exit 1 with one line when they cannot be read."""
    from importlib.util import find_spec

    from .verify.fatbin_check import to_argument

    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        print("usage: python -m ptkit.fatbin [SITE_PACKAGES]", file=sys.stderr)
        return 2
    spec = None if argv else find_spec("torch")
    site = Path(argv[0]) if argv else Path(spec.origin).parents[1] if spec and spec.origin else None
    if site is None:
        print("ptkit.fatbin: no torch here: give the site-packages folder", file=sys.stderr)
        return 1
    try:
        listings = list_site(site)
    except FatbinError as exc:
        print(f"ptkit.fatbin: {exc}", file=sys.stderr)
        return 1
    for lib, counts in listings.items():  # nothing at all for a CPU torch: no empty argument for the caller
        print(f"--fatbin\n{to_argument(lib, counts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
