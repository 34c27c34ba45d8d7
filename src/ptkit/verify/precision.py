"""Which matmul dtypes a device can run, which it runs natively, and how each is selected.

One home for these decisions: the numerics checks and the benchmark both ask here. Old torch
(1.x) lacks some APIs and dtypes; those dtypes are reported as unsupported with the reason, never
as a failure of the environment.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

DTYPES = ("fp32", "tf32", "fp16", "bf16")
_TORCH_DTYPE = {"fp32": "float32", "tf32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def torch_dtype(torch: Any, name: str) -> Any:
    return getattr(torch, _TORCH_DTYPE[name])


def _tf32_switchable(torch: Any) -> bool:
    cuda_matmul = getattr(getattr(torch.backends, "cuda", None), "matmul", None)
    return hasattr(torch, "set_float32_matmul_precision") or hasattr(cuda_matmul, "allow_tf32")


@contextmanager
def backend_precision(torch: Any, name: str) -> Iterator[None]:
    """torch >= 2.9's per-backend switch (torch.backends.{cuda,mkldnn}.matmul.fp32_precision, 'ieee' or
    'tf32': https://docs.pytorch.org/docs/stable/notes/cuda.html#tensorfloat-32-tf32-on-ampere-and-later-devices)."""
    switches = [torch.backends.cuda.matmul, torch.backends.mkldnn.matmul]
    saved = [s.fp32_precision for s in switches]
    for switch in switches:
        switch.fp32_precision = "tf32" if name == "tf32" else "ieee"
    try:
        yield
    finally:
        for switch, value in zip(switches, saved):  # noqa: B905 - Python 3.8 has no strict=
            switch.fp32_precision = value


@contextmanager
def matmul_precision(torch: Any, name: str) -> Iterator[None]:
    """fp32 means true fp32 (TF32 off); tf32 turns tensor-core fp32 on for the block only.

    torch >= 1.12 has set_float32_matmul_precision; 1.7-1.11 only the CUDA allow_tf32 switch;
    older torch has no TF32 at all, so its fp32 is always true fp32.
    """
    if hasattr(torch, "set_float32_matmul_precision"):
        try:
            saved = torch.get_float32_matmul_precision()
        except RuntimeError:  # torch >= 2.9 once something used the per-backend API: refuses to mix them
            with backend_precision(torch, name):
                yield
            return
        torch.set_float32_matmul_precision("high" if name == "tf32" else "highest")
        try:
            yield
        finally:
            torch.set_float32_matmul_precision(saved)
    elif _tf32_switchable(torch):
        flags = torch.backends.cuda.matmul
        saved_flag = flags.allow_tf32
        flags.allow_tf32 = name == "tf32"
        try:
            yield
        finally:
            flags.allow_tf32 = saved_flag
    else:
        yield


def cpu_has_native_bf16() -> bool:
    try:
        with open("/proc/cpuinfo") as fh:
            flags = fh.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _cpu_matmul_refusal(torch: Any, name: str) -> str | None:
    """Why this torch cannot multiply `name` matrices on the CPU (older torch has no fp16 kernel)."""
    try:
        ones = torch.ones(2, 2, dtype=torch_dtype(torch, name))
        torch.mm(ones, ones)
    except RuntimeError as exc:
        return f"torch {torch.__version__} has no CPU {name} matmul ({' '.join(str(exc).split())[:120]})"
    return None


def _cuda_refusals(torch: Any, device: str) -> dict[str, str]:
    major, minor = torch.cuda.get_device_capability(device)
    refused = {}
    if major < 8:
        refused["tf32"] = f"sm_{major}{minor} has no TF32 tensor cores"
    elif not _tf32_switchable(torch):
        refused["tf32"] = f"torch {torch.__version__} cannot switch TF32 on"
    bf16 = getattr(torch.cuda, "is_bf16_supported", None)
    if bf16 is None or not bf16():
        refused["bf16"] = f"no bf16 matmul for sm_{major}{minor} in torch {torch.__version__}"
    return refused


def supported_dtypes(torch: Any, device: str) -> tuple[list[str], dict[str, str]]:
    """(dtypes this torch can multiply on `device`, {dtype: why not} for the others worth naming).

    The CPU has no TF32 mode worth checking; there fp16 and bf16 are probed, since older torch
    lacks their CPU kernels.
    """
    refused = {d: f"torch {torch.__version__} has no torch.{_TORCH_DTYPE[d]}"
               for d in DTYPES if not hasattr(torch, _TORCH_DTYPE[d])}
    if device == "cpu":
        candidates = [d for d in ("fp32", "bf16", "fp16") if d not in refused]
        for name in candidates[1:]:
            why = _cpu_matmul_refusal(torch, name)
            if why:
                refused[name] = why
    else:
        candidates = list(DTYPES)
        refused.update(_cuda_refusals(torch, device))
    return [d for d in candidates if d not in refused], refused


def native_dtypes(torch: Any, device: str) -> list[str]:
    """The dtypes the hardware runs natively: what the benchmark measures by default.

    bf16 is native on Ampere (sm_80) and later GPUs, and on CPUs with AVX512-BF16 or AMX;
    elsewhere torch emulates it, which is correct (numerics checks it) but not worth timing.
    """
    usable, _ = supported_dtypes(torch, device)
    if device == "cpu":
        return [d for d in usable if d == "fp32" or (d == "bf16" and cpu_has_native_bf16())]
    major, _ = torch.cuda.get_device_capability(device)
    return [d for d in usable if d != "bf16" or major >= 8]
