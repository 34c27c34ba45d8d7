"""PyTorch's binary smoke checks, the ones that apply to a container, as verifier checks.

PyTorch's release process runs a smoke test on each binary; these are its container-relevant
checks, written for ptkit (one check per concern, a FAIL's detail is the cause in one line).
Check names (stable):
  smoke:openmp           torch was built with OpenMP and uses it (intra-op threads)
  smoke:cpu-capability   the vector ISA ATen's CPU kernels dispatch to (WARN when none)
  smoke:numpy            numpy interop both ways, sharing memory (SKIP without numpy)
  smoke:conv2d:DEVICE    a strided, dilated, padded conv2d against an unfold+matmul reference
  smoke:svd:DEVICE       torch.linalg.svd reconstructs its input, fp32 and fp64
  smoke:cudnn            cuDNN loaded at run time = the version torch was compiled with, and = the pip
                         nvidia-cudnn-* package (CUDA builds; SKIP on CPU-only torch)
  smoke:nccl             NCCL version torch loaded = the pip nvidia-nccl-* package (CUDA builds)
  smoke:cuda-error       a device-side assert surfaces as a Python exception (in a subprocess, as it
                         poisons the CUDA context; needs a usable GPU)
torch.compile (fp32/fp64, max-autotune, inductor's vector ISA) is compile_check's part of the smoke test.
Standard library and torch only (this module runs inside foreign images too); Python 3.8 syntax.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from .results import FAIL, PASS, SKIP, WARN, Report

CUDA_ERROR_PROBE = (
    "import torch\n"
    "try:\n"
    "    torch._assert_async(torch.tensor(0, device='cuda'))\n"
    "    torch.cuda.synchronize()\n"
    "except RuntimeError as exc:\n"
    "    print('caught: ' + ' '.join(str(exc).split())[:160])\n"
)
CUDA_ERROR_TIMEOUT_S = 120


# --- CPU facts -------------------------------------------------------------------------------

def check_openmp(report: Report, torch: Any) -> None:
    with report.timed("smoke:openmp") as result:
        if not torch.backends.openmp.is_available():
            result(FAIL, "torch was built without OpenMP: CPU ops run single-threaded")
        else:
            result(PASS, f"OpenMP available, {torch.get_num_threads()} intra-op thread(s)")


def check_cpu_capability(report: Report, torch: Any) -> None:
    with report.timed("smoke:cpu-capability") as result:
        capability = torch.backends.cpu.get_cpu_capability()
        if capability in ("DEFAULT", "NO AVX"):
            result(WARN, f"ATen CPU kernels use no vector ISA ({capability}): a slow, generic build or CPU")
        else:
            result(PASS, f"ATen CPU kernels dispatch to {capability}")


def check_numpy(report: Report, torch: Any) -> None:
    try:
        import numpy as np
    except ImportError:
        report.add("smoke:numpy", SKIP, "numpy not installed")
        return
    with report.timed("smoke:numpy") as result:
        array = np.arange(6, dtype=np.float32).reshape(2, 3)
        tensor = torch.from_numpy(array)
        array[0, 0] = 42.0  # from_numpy shares memory: the tensor must see it
        back = (tensor * 2).numpy()
        if float(tensor[0, 0]) != 42.0 or back.shape != (2, 3) or float(back.sum()) != 114.0:
            result(FAIL, f"torch <-> numpy round trip is wrong: {back.tolist()}")
        else:
            result(PASS, f"numpy {np.__version__} <-> torch round trip shares memory")


# --- per device ------------------------------------------------------------------------------

def error_verdict(errors: dict[str, float], limits: dict[str, float], failed: str, passed: str) -> tuple[str, str]:
    """FAIL naming each dtype over its limit (NaN included), else PASS with the errors."""
    bad = [f"{n} error {e:.1e} > {limits[n]:.0e}" for n, e in errors.items() if not e <= limits[n]]
    if bad:
        return FAIL, f"{failed}: {'; '.join(bad)}"
    return PASS, f"{passed} (relative error {', '.join(f'{n} {e:.1e}' for n, e in errors.items())})"


def conv2d_error(torch: Any, device: str, dtype: Any) -> float:
    """Relative error of conv2d (stride, padding, dilation) against an fp64 unfold+matmul on the CPU."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 12, 10, generator=gen, dtype=torch.float64)
    w = torch.randn(6, 4, 3, 5, generator=gen, dtype=torch.float64)
    opts = {"stride": (2, 1), "padding": (2, 2), "dilation": (2, 1)}
    got = torch.nn.functional.conv2d(x.to(device, dtype), w.to(device, dtype), **opts).cpu().double()
    cols = torch.nn.functional.unfold(x, w.shape[2:], **opts)  # (N, C*kh*kw, L)
    want = (w.reshape(6, -1) @ cols).reshape(got.shape)
    return float((got - want).norm() / want.norm())


def check_conv2d(report: Report, torch: Any, device: str) -> None:
    limits = {"float32": 1e-5, "float64": 1e-12}
    if device != "cpu":
        limits["float32"] = 5e-3  # cuDNN may pick TF32 kernels for fp32 convolutions
    with report.timed(f"smoke:conv2d:{device}") as result:
        errors = {name: conv2d_error(torch, device, getattr(torch, name)) for name in limits}
        result(*error_verdict(errors, limits, "conv2d differs from the reference",
                              "strided, dilated conv2d = reference"))


def svd_error(torch: Any, device: str, dtype: Any) -> float:
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(16, 9, generator=gen, dtype=dtype).to(device)
    u, s, vh = torch.linalg.svd(a, full_matrices=False)
    return float((u @ torch.diag(s) @ vh - a).norm() / a.norm())


def check_svd(report: Report, torch: Any, device: str) -> None:
    limits = {"float32": 1e-5, "float64": 1e-13}
    with report.timed(f"smoke:svd:{device}") as result:
        errors = {name: svd_error(torch, device, getattr(torch, name)) for name in limits}
        result(*error_verdict(errors, limits, "U diag(S) Vh != A", "linalg.svd reconstructs its input"))


# --- CUDA libraries --------------------------------------------------------------------------

def pip_version(prefix: str) -> tuple[str, str] | None:
    """(distribution, version) of the installed pip package whose name starts with prefix."""
    import importlib.metadata  # here: its import alone is a tenth of the verifier's own start-up

    for dist in importlib.metadata.distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if name.startswith(prefix):
            return name, dist.version
    return None


def dotted(version: Any) -> str:
    return ".".join(str(v) for v in version)


def judge_pip(library: str, loaded: str, prefix: str) -> tuple[str, str]:
    """The pip package must carry the version torch loaded (a pip upgrade beside torch breaks this)."""
    pip = pip_version(prefix)
    if pip is None:
        return PASS, f"{library} {loaded} (from the system, no {prefix}* pip package)"
    name, version = pip
    if version == loaded or version.startswith(loaded + "."):
        return PASS, f"{library} {loaded} loaded = pip {name} {version}"
    return FAIL, f"torch loaded {library} {loaded}, but pip has {name} {version}: reinstall the pinned one"


def check_cudnn(report: Report, torch: Any) -> None:
    if not torch.version.cuda:
        report.add("smoke:cudnn", SKIP, "CPU-only torch build")
        return
    with report.timed("smoke:cudnn") as result:
        if not torch.backends.cudnn.is_available():
            result(FAIL, "torch cannot load cuDNN")
            return
        cudnn = getattr(torch._C, "_cudnn", None)  # private: a torch that moves it cannot tell, a SKIP
        if not (hasattr(cudnn, "getCompileVersion") and hasattr(cudnn, "getRuntimeVersion")):
            result(SKIP, f"torch {torch.__version__} does not expose cuDNN's compile-time version (torch._C._cudnn)")
            return
        compiled = dotted(cudnn.getCompileVersion())
        loaded = dotted(cudnn.getRuntimeVersion())
        if loaded != compiled:
            result(WARN if loaded.split(".")[0] == compiled.split(".")[0] else FAIL,
                   f"cuDNN {loaded} loaded, torch was compiled with {compiled}")
            return
        result(*judge_pip("cuDNN", loaded, "nvidia-cudnn"))


def check_nccl(report: Report, torch: Any) -> None:
    if not torch.version.cuda:
        report.add("smoke:nccl", SKIP, "CPU-only torch build")
        return
    with report.timed("smoke:nccl") as result:
        if not hasattr(torch._C, "_nccl_version"):
            result(SKIP, "torch was built without NCCL")
            return
        version = torch.cuda.nccl.version()
        result(*judge_pip("NCCL", dotted(version) if isinstance(version, tuple) else str(version), "nvidia-nccl"))


def check_cuda_error(report: Report, devices: list[str]) -> None:
    if not any(d.startswith("cuda") for d in devices):
        report.add("smoke:cuda-error", SKIP, "no usable GPU")
        return
    with report.timed("smoke:cuda-error") as result:
        try:
            proc = subprocess.run([sys.executable, "-c", CUDA_ERROR_PROBE], capture_output=True, text=True,
                                  timeout=CUDA_ERROR_TIMEOUT_S)
        except subprocess.TimeoutExpired:  # a busy or throttled machine: the check could not tell, not a FAIL
            result(WARN, f"the probe process did not finish within {CUDA_ERROR_TIMEOUT_S:g} s (a CPU quota or a "
                         "busy GPU?): not judged")
            return
        caught = [ln for ln in proc.stdout.splitlines() if ln.startswith("caught: ")]
        if caught and "CUDA" in caught[0]:
            result(PASS, f"a device-side assert raised RuntimeError ({caught[0][8:80]}...)")
        else:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            result(FAIL, f"a device-side assert was not raised as a CUDA RuntimeError (exit {proc.returncode}: {tail})")


def check_smoke(report: Report, torch: Any, devices: list[str], quick: bool = False) -> None:
    """PyTorch's binary smoke checks for this container (devices: 'cpu', 'cuda:0', ...).

    `--quick` keeps the ones that cost nothing; conv2d and SVD (first calls initialise oneDNN/LAPACK,
    a tenth of a second) run in the full verify, as the compile check does."""
    check_openmp(report, torch)
    check_cpu_capability(report, torch)
    check_numpy(report, torch)
    if quick:
        report.add("smoke:conv2d-svd", SKIP, "not run with --quick (the full verify runs them on every device)")
    for device in [] if quick else devices:
        check_conv2d(report, torch, device)
        check_svd(report, torch, device)
    check_cudnn(report, torch)
    check_nccl(report, torch)
    check_cuda_error(report, devices)
