"""Matmul benchmark timed correctly: warm-up, synchronized timer, median and IQR of many blocks.

torch.utils.benchmark.Timer does the timing (its default timer calls torch.cuda.synchronize()
on CUDA builds, so asynchronous launches are not mistaken for finished work). A figure above the
device's physical peak is reported as a broken timing, never as a number.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .facts import BROKEN_FACTOR, cpu_ceiling_tflops, gpu_peaks

DTYPES = ("fp32", "tf32", "fp16", "bf16")
DEFAULT_SIZES = {"cpu": (512, 1024, 2048), "cuda": (1024, 4096, 8192)}
TUTORIAL_N = 1000
BLOCK_S = 0.02  # one timed block: long enough that the timer's own cost is noise


@dataclass(frozen=True)
class Settings:
    min_run_time: float = 0.5  # wall-clock seconds spent measuring each case
    min_repeats: int = 7
    max_repeats: int = 200
    threads: int = 1
    timer: Callable[[], float] | None = None  # None: torch.utils.benchmark's synchronizing timer


def torch_dtype(torch: Any, name: str) -> Any:
    return {"fp32": torch.float32, "tf32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[name]


@contextmanager
def matmul_precision(torch: Any, name: str) -> Iterator[None]:
    """fp32 means true fp32 (TF32 off); tf32 turns tensor-core fp32 on for the block only."""
    saved = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high" if name == "tf32" else "highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(saved)


def cpu_has_native_bf16() -> bool:
    try:
        with open("/proc/cpuinfo") as fh:
            flags = fh.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def device_dtypes(torch: Any, device: str) -> list[str]:
    """The dtypes worth benchmarking by default: those the hardware runs natively."""
    if device == "cpu":
        return ["fp32", "bf16"] if cpu_has_native_bf16() else ["fp32"]
    major, _ = torch.cuda.get_device_capability(device)
    dtypes = ["fp32"]
    if major >= 8:
        dtypes.append("tf32")
    dtypes.append("fp16")
    if torch.cuda.is_bf16_supported():
        dtypes.append("bf16")
    return dtypes


def device_name(torch: Any, device: str) -> str:
    return "cpu" if device == "cpu" else torch.cuda.get_device_name(device)


def sync(torch: Any, device: str) -> None:
    if device != "cpu":
        torch.cuda.synchronize(device)


def _ceiling(torch: Any, device: str, dtype: str, threads: int) -> tuple[float | None, float]:
    """(datasheet peak or None, physical ceiling used to detect broken timings)."""
    if device == "cpu":
        return None, cpu_ceiling_tflops(threads, dtype)
    peaks = gpu_peaks(device_name(torch, device)) or {}
    peak = peaks.get(dtype)
    # Unknown GPU: no datasheet figure, but nothing made reaches 5 PFLOP/s dense.
    return peak, peak if peak else 5000.0


def judge(tflops: float, peak: float | None, ceiling: float) -> tuple[str, str]:
    if not math.isfinite(tflops) or tflops > BROKEN_FACTOR * ceiling:
        what = "datasheet peak" if peak else "physical ceiling"
        return "broken", (
            f"{tflops:.4g} TFLOP/s exceeds the {what} of {ceiling:.4g} TFLOP/s: "
            "the timing is broken (unsynchronized or faulty timer)"
        )
    return "ok", ""


def measure(torch: Any, device: str, dtype: str, n: int, settings: Settings) -> dict[str, Any]:
    """Median and IQR of the per-call time of torch.mm(a, b) for n x n matrices."""
    from torch.utils.benchmark import Timer

    dt = torch_dtype(torch, dtype)
    a = torch.randn(n, n, device=device, dtype=dt)
    b = torch.randn(n, n, device=device, dtype=dt)
    with matmul_precision(torch, dtype):
        # Warm-up (context, cuBLAS handles, heuristics) doubles as a wall-clock estimate that
        # sizes the blocks; it uses the real clock so a faulty injected timer cannot stall us.
        torch.mm(a, b)
        sync(torch, device)
        start = time.perf_counter()
        torch.mm(a, b)
        sync(torch, device)
        per_call = max(time.perf_counter() - start, 1e-7)
        number = max(1, min(10_000, int(BLOCK_S / per_call)))
        kwargs: dict[str, Any] = {"timer": settings.timer} if settings.timer else {}
        timer = Timer(
            stmt="torch.mm(a, b)",
            globals={"torch": torch, "a": a, "b": b},
            num_threads=settings.threads,
            **kwargs,
        )
        times: list[float] = []
        deadline = time.monotonic() + settings.min_run_time
        while len(times) < settings.max_repeats and (
            len(times) < settings.min_repeats or time.monotonic() < deadline
        ):
            times.append(timer.timeit(number).median)
    return summarize(torch, device, dtype, n, times, number, settings.threads)


def summarize(
    torch: Any, device: str, dtype: str, n: int, times: list[float], number: int, threads: int
) -> dict[str, Any]:
    median = statistics.median(times)
    q1, _, q3 = statistics.quantiles(times, n=4) if len(times) > 1 else (median, median, median)
    tflops = 2 * n**3 / median / 1e12 if median > 0 else math.inf
    peak, ceiling = _ceiling(torch, device, dtype, threads)
    status, detail = judge(tflops, peak, ceiling)
    ok = status == "ok"
    return {
        "device": device,
        "device_name": device_name(torch, device),
        "dtype": dtype,
        "n": n,
        "median_s": median,
        "iqr_s": q3 - q1,
        "repeats": len(times),
        "calls_per_repeat": number,
        "tflops": tflops if ok else None,
        "peak_tflops": peak,
        "fraction_of_peak": tflops / peak if ok and peak else None,
        "status": status,
        "detail": detail,
    }


def naive_tutorial_ms(torch: Any, device: str) -> dict[str, float]:
    """The tutorial's loop as written, and the same loop with the tensor actually on the device.

    Neither synchronizes nor warms up: on a GPU they time kernel launches (or the CPU), which is
    exactly the mistake this figure exists to show.
    """
    figures = {}
    for label, where in (("as_written", "cpu"), ("on_device_no_sync", device)):
        tensor = torch.rand(TUTORIAL_N, TUTORIAL_N).to(where)
        start = time.time()
        for _ in range(10):
            torch.mm(tensor, tensor.t())
        figures[label] = (time.time() - start) / 10 * 1e3
    return figures


def run(
    torch: Any, devices: list[str], dtypes: list[str] | None, sizes: list[int] | None, settings: Settings
) -> list[dict[str, Any]]:
    results = []
    for device in devices:
        kind = "cpu" if device == "cpu" else "cuda"
        for dtype in dtypes or device_dtypes(torch, device):
            for n in sizes or DEFAULT_SIZES[kind]:
                results.append(measure(torch, device, dtype, n, settings))
    return results
