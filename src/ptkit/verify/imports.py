"""Imports (each package's own version, where it came from) and what torch was built with."""

from __future__ import annotations

import importlib
import os
import platform
import re
import time
from typing import Any

from .facts import cuda_key
from .results import FAIL, PASS, SKIP, Report, describe

OPTIONAL_PACKAGES = ("torchvision", "torchaudio", "numpy")


def environment() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": None, "cuda": None, "cudnn": None, "nccl": None, "driver": None,
    }


def distribution(name: str) -> Any:
    """The installed distribution called `name`, or None (importlib.metadata is 3.8+)."""
    import importlib.metadata

    try:
        return importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def origin(module: Any, dist: Any) -> dict[str, Any]:
    """Where `module` was imported from, and where its installed distribution put it."""
    installed = None
    if dist is not None:
        candidate = str(dist.locate_file(os.path.join(module.__name__, "__init__.py")))
        installed = candidate if os.path.exists(candidate) else None  # None: editable or unusual layout
    return {"file": getattr(module, "__file__", None), "distribution": installed,
            "distribution_version": dist.version if dist is not None else None}


def shadowed(found: dict[str, Any]) -> bool:
    """A module that is not the installed distribution's files (a torch.py in the working directory)."""
    if not found["distribution"] or not found["file"]:
        return False
    return os.path.realpath(found["file"]) != os.path.realpath(found["distribution"])


def _import(module: str) -> tuple[Any, str | None, float]:
    start = time.perf_counter()
    try:
        mod = importlib.import_module(module)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - a broken install can raise (or exit) anything
        if isinstance(exc, ModuleNotFoundError) and exc.name == module:
            return None, f"{module} is not installed", time.perf_counter() - start
        return None, f"fails to import: {describe(exc)}", time.perf_counter() - start
    return mod, None, time.perf_counter() - start


def check_import(report: Report, module: str, required: bool) -> Any:
    """Import one package: PASS with its own version, FAIL with the real cause or a shadowing file."""
    name = f"import:{module}"
    dist = distribution(module)
    if dist is None and not required:
        report.add(name, SKIP, "not installed")
        return None
    mod, error, seconds = _import(module)
    if mod is None:
        if error.endswith("is not installed"):
            detail = error + (" (required)" if required else "")
        else:
            detail = f"{module} {dist.version} {error}" if dist is not None else f"{module} {error}"
        report.add(name, FAIL, detail, seconds)
        return None
    found = origin(mod, dist)
    report.environment.setdefault("origin", {})[module] = found
    version = getattr(mod, "__version__", None) or "(no __version__)"
    if shadowed(found):
        report.add(name, FAIL, f"{module} imported from {found['file']}, which shadows the installed "
                   f"{module} {found['distribution_version']} ({found['distribution']})", seconds)
        return None
    report.add(name, PASS, f"{module} {version} imported in {seconds:.2f} s", seconds)
    return mod


# --- build information -----------------------------------------------------------------------

def compiled_arch_list(torch: Any) -> list[str]:
    """Arch flags torch was compiled with; readable without a GPU (get_arch_list() is not)."""
    flags = getattr(torch._C, "_cuda_getArchFlags", lambda: "")() or ""
    return flags.split() if flags else []


def blas_backend(torch: Any) -> str:
    config = torch.__config__.show()
    found = re.search(r"BLAS_INFO=(\w+)", config)
    return found.group(1) if found else "unknown"


def cudnn_version(torch: Any) -> str | None:
    try:
        version = torch.backends.cudnn.version()
    except Exception:  # noqa: BLE001 - a missing libcudnn is reported as None
        return None
    if not version:
        return None
    major, rest = divmod(version, 10000) if version >= 10000 else divmod(version, 1000)
    minor, patch = divmod(rest, 100)
    return f"{major}.{minor}.{patch}"


def nccl_version(torch: Any) -> str | None:
    try:
        version = torch.cuda.nccl.version()
    except Exception:  # noqa: BLE001 - CPU builds have no NCCL
        return None
    return ".".join(map(str, version)) if isinstance(version, tuple) else str(version)


def build_info(torch: Any) -> dict[str, Any]:
    cpu_capability = getattr(getattr(torch.backends, "cpu", None), "get_cpu_capability", lambda: "unknown")()
    cuda = getattr(torch.version, "cuda", None)
    return {
        "torch": torch.__version__,
        "cuda": cuda,
        "hip": getattr(torch.version, "hip", None),
        "cudnn": cudnn_version(torch) if cuda else None,
        "nccl": nccl_version(torch) if cuda else None,
        "arch_list": compiled_arch_list(torch),
        "blas": blas_backend(torch),
        "cpu_capability": cpu_capability,
    }


def check_build(report: Report, torch: Any) -> None:
    """Record what torch was built with; the result is informational unless reading it fails."""
    with report.timed("build") as result:
        info = build_info(torch)
        report.environment.update({k: info[k] for k in ("torch", "cuda", "cudnn", "nccl")})
        report.environment["build"] = info
        kind = f"CUDA {info['cuda']}" if info["cuda"] else (f"HIP {info['hip']}" if info["hip"] else "CPU-only")
        result(PASS, f"torch {info['torch']} ({kind}), cuDNN {info['cudnn'] or '-'}, NCCL {info['nccl'] or '-'}, "
                     f"BLAS {info['blas']}, CPU {info['cpu_capability']}, archs {' '.join(info['arch_list']) or '-'}")


def check_cuda_version(report: Report, torch: Any, expected: str) -> None:
    """`expected` is X.Y (validated when parsed); torch's X.Y.Z build matches its X.Y."""
    built = torch.version.cuda
    if built and cuda_key(built) == cuda_key(expected):
        report.add("expect-cuda-version", PASS, f"torch built for CUDA {built}")
    else:
        got = f"CUDA {built}" if built else "a CPU-only build"
        report.add("expect-cuda-version", FAIL,
                   f"expected torch built for CUDA {expected}, got {got} (torch {torch.__version__})")


def import_packages(report: Report, require: list[str]) -> Any:
    """torch first (everything else depends on it), then the optional and required packages."""
    torch = None
    with report.guarded("import:torch"):
        torch = check_import(report, "torch", required=True)
    if torch is None:
        return None
    for name in dict.fromkeys([*OPTIONAL_PACKAGES, *require]):
        if name != "torch":
            with report.guarded(f"import:{name}"):
                check_import(report, name, required=name in require)
    return torch
