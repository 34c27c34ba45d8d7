"""Matmul benchmark timed correctly: warm-up, a clock that synchronizes the measured device, median and IQR.

The harness follows torch.utils.benchmark.Timer.blocked_autorange: a warm-up, blocks sized so that the
clock's own cost (a sync, a thread waking) is noise, then timed blocks of `number` calls with NO
per-block warm-up (Timer.timeit adds one), until `min_run_time` has passed. Sizing is robust to a slow
call (issue 19.6: one slow sizing call under load made every block a single call, each paying the
clock, and figures 3x-1000x too low): blocks are sized from the fastest of several single calls, then
grown while a block takes under half its time, as Timer._estimate_block_size grows its blocks. Two
differences, both deliberate: the stopping rule uses the real
monotonic clock (a faulty injected timer cannot stall the run) and the repeats are bounded; and the
clock synchronizes exactly the device being measured (Timer's default syncs the current device,
cuda:0, which leaves cuda:1 unsynchronized). Not importing torch.utils.benchmark also saves ~0.1 s
(it pulls in setuptools). A figure above the device's physical peak is reported as a broken
timing, never as a number; an IQR above NOISE_IQR_FRACTION of the median is a warning.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from .facts import BROKEN_FACTOR, NOISE_IQR_FRACTION, UNKNOWN_GPU_CEILING_TFLOPS, cpu_ceiling_tflops, gpu_peaks
from .precision import matmul_precision, native_dtypes, torch_dtype
from .results import FAIL, PASS, WARN

DEFAULT_SIZES = {"cpu": (512, 1024, 2048), "cuda": (1024, 4096, 8192)}
# On an emulated CPU (issue 21): qemu 7.2 took 91 s for one 1000x1000 fp32 multiply here (22 MFLOP/s), so the
# unjudged benchmark measures sizes that take a fraction of a second a call.
EMULATED_SIZES = (64, 128)
TUTORIAL_N = 1000
SIZING_CALLS = (3, 5)  # single calls timed to size the blocks: at least, at most
RESIZE_ROUNDS = 4  # times a block may grow after sizing
MAX_CALLS = 10_000  # per block


@dataclass(frozen=True)
class Settings:
    min_run_time: float = 0.5  # wall-clock seconds spent measuring each case
    min_repeats: int = 7
    max_repeats: int = 200
    block_s: float = 0.02  # one timed block: long enough that the clock's own cost (a sync) is noise
    threads: int | None = None  # None: torch's current count, i.e. the user's OMP_NUM_THREADS / set_num_threads
    timer: Callable[[], float] | None = None  # None: device_timer(torch, device)


# The tutorial's 1000x1000 fp32 multiply: short in --quick, still warmed up, synchronized, a median.
TUTORIAL_QUICK = Settings(min_run_time=0.02, min_repeats=3, block_s=0.005)
TUTORIAL_FULL = Settings(min_run_time=0.2, min_repeats=10)


def device_timer(torch: Any, device: str) -> Callable[[], float]:
    """A clock that first waits for `device` to finish its queued work (CPU work is synchronous)."""
    if device == "cpu":
        return time.perf_counter

    def synchronized() -> float:
        torch.cuda.synchronize(device)
        return time.perf_counter()

    return synchronized


def device_name(torch: Any, device: str) -> str:
    return "cpu" if device == "cpu" else torch.cuda.get_device_name(device)


@contextmanager
def torch_threads(torch: Any, threads: int | None) -> Iterator[int]:
    """Run with `threads` (restored after), or with torch's current setting when None."""
    saved = torch.get_num_threads()
    if threads is None or threads == saved:
        yield saved
        return
    torch.set_num_threads(threads)
    try:
        yield threads
    finally:
        torch.set_num_threads(saved)


def single_calls(fn: Callable[[], Any], clock: Callable[[], float], block_s: float) -> list[float]:
    """Seconds of single calls, each timed by the clock: at least SIZING_CALLS[0] (one slow call must not
    size the blocks), more while they stay within a block's time, at most SIZING_CALLS[1]."""
    times: list[float] = []
    while len(times) < SIZING_CALLS[1] and (len(times) < SIZING_CALLS[0] or sum(times) < block_s):
        start = clock()
        fn()
        times.append(max(clock() - start, 1e-9))
    return times


def calls_per_block(fn: Callable[[], Any], clock: Callable[[], float], per_call: float, block_s: float) -> int:
    """Calls per block from the fastest single call, grown while a block takes under half of block_s: a
    single call pays the clock's cost (a sync) in full, so it overestimates a call within a block."""
    number = max(1, min(MAX_CALLS, int(block_s / per_call)))
    for _ in range(RESIZE_ROUNDS if number > 1 else 0):
        start = clock()
        for _ in range(number):
            fn()
        took = max(clock() - start, 1e-9)
        if took >= block_s / 2 or number >= MAX_CALLS:
            break
        number = min(MAX_CALLS, max(2 * number, int(number * block_s / took)))
    return number


def time_blocks(fn: Callable[[], Any], clock: Callable[[], float], settings: Settings) -> tuple[list[float], int]:
    """Per-call seconds of each timed block, and the calls per block (see the module docstring)."""
    timer = settings.timer or clock
    deadline = time.monotonic() + settings.min_run_time
    fn()  # warm-up: CUDA context, cuBLAS handles and heuristics, oneDNN primitives
    singles = single_calls(fn, clock, settings.block_s)
    number = calls_per_block(fn, clock, min(singles), settings.block_s)
    # Calls each longer than a block are blocks of one, timed by the same clock: keep them as samples
    # (`verify --quick`'s tutorial, a ~10 ms CPU matmul, needs no more calls for them).
    times: list[float] = list(singles) if number == 1 and settings.timer is None else []
    while len(times) < settings.max_repeats and (len(times) < settings.min_repeats or time.monotonic() < deadline):
        begin = timer()
        for _ in range(number):
            fn()
        times.append((timer() - begin) / number)
    return times, number


def measure(torch: Any, device: str, dtype: str, n: int, settings: Settings) -> dict[str, Any]:
    """Median and IQR of the per-call time of torch.mm(a, b) for n x n matrices."""
    dt = torch_dtype(torch, dtype)
    a = torch.randn(n, n, device=device, dtype=dt)
    b = torch.randn(n, n, device=device, dtype=dt)
    with matmul_precision(torch, dtype), torch_threads(torch, settings.threads) as threads:
        times, number = time_blocks(lambda: torch.mm(a, b), device_timer(torch, device), settings)
    return summarize(torch, device, dtype, n, times, number, threads)


def _ceiling(torch: Any, device: str, dtype: str, threads: int) -> tuple[float | None, float]:
    """(datasheet peak or None, physical ceiling used to detect broken timings)."""
    if device == "cpu":
        return None, cpu_ceiling_tflops(threads, dtype)
    peak = (gpu_peaks(device_name(torch, device)) or {}).get(dtype)
    return peak, peak if peak else UNKNOWN_GPU_CEILING_TFLOPS


def judge(tflops: float, peak: float | None, ceiling: float) -> tuple[str, str]:
    if not math.isfinite(tflops) or tflops > BROKEN_FACTOR * ceiling:
        what = "datasheet peak" if peak else "physical ceiling"
        return "broken", (
            f"{tflops:.4g} TFLOP/s exceeds the {what} of {ceiling:.4g} TFLOP/s: "
            "the timing is broken (unsynchronized or faulty timer)"
        )
    return "ok", ""


def noise_warning(median: float, iqr: float) -> str | None:
    """The harness's warning for a noise-dominated measurement (torch's Measurement warns alike)."""
    if median > 0 and iqr / median > NOISE_IQR_FRACTION:
        return (f"noisy: IQR {iqr * 1e3:.3g} ms is {iqr / median:.0%} of the median "
                f"(> {NOISE_IQR_FRACTION:.0%}); the machine is busy or its clock varies")
    return None


def summarize(
    torch: Any, device: str, dtype: str, n: int, times: list[float], number: int, threads: int
) -> dict[str, Any]:
    median = statistics.median(times)
    q1, _, q3 = statistics.quantiles(times, n=4) if len(times) > 1 else (median, median, median)
    tflops = 2 * n**3 / median / 1e12 if median > 0 else math.inf
    peak, ceiling = _ceiling(torch, device, dtype, threads)
    status, detail = judge(tflops, peak, ceiling)
    ok = status == "ok"
    warnings = [w for w in [noise_warning(median, q3 - q1)] if w and ok]
    return {
        "device": device,
        "device_name": device_name(torch, device),
        "dtype": dtype,
        "n": n,
        "median_s": median,
        "iqr_s": q3 - q1,
        "repeats": len(times),
        "calls_per_repeat": number,
        "threads": threads,
        "tflops": tflops if ok else None,
        "peak_tflops": peak,
        "fraction_of_peak": tflops / peak if ok and peak else None,
        "status": status,
        "warnings": warnings,
        "detail": detail or "; ".join(warnings),
    }


def tutorial(torch: Any, device: str, quick: bool, threads: int | None = None) -> dict[str, Any]:
    """The tutorial's 1000x1000 fp32 multiply measured correctly, for its two familiar lines."""
    settings = replace(TUTORIAL_QUICK if quick else TUTORIAL_FULL, threads=threads)
    result = measure(torch, device, "fp32", TUTORIAL_N, settings)
    return {"device": "cpu" if device == "cpu" else "cuda", "n": TUTORIAL_N, "median_ms": result["median_s"] * 1e3,
            "iqr_ms": result["iqr_s"] * 1e3, "repeats": result["repeats"], "threads": result["threads"],
            "status": result["status"], "detail": result["detail"]}


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
        for dtype in dtypes or native_dtypes(torch, device):
            for n in sizes or DEFAULT_SIZES[kind]:
                results.append(measure(torch, device, dtype, n, settings))
    return results


def unjudged(result: dict[str, Any], why: str) -> dict[str, Any]:
    """A case measured on an emulated CPU (issue 21): the emulator's speed, so compared with no peak."""
    detail = "; ".join(filter(None, [f"{why}: not compared with a peak", result["detail"]]))
    return {**result, "peak_tflops": None, "fraction_of_peak": None, "detail": detail}


def verdict(results: list[dict[str, Any]]) -> tuple[str, str]:
    """One status for a set of cases: FAIL on a broken timing, WARN on noise, else the best figure."""
    broken = [r for r in results if r["status"] != "ok"]
    if broken:
        b = broken[0]
        return FAIL, f"{len(broken)} case(s) with broken timing: {b['device']} {b['dtype']} n={b['n']}: {b['detail']}"
    best = max(results, key=lambda r: r["tflops"])
    frac = best["fraction_of_peak"]
    figure = (f"best {best['tflops']:.3f} TFLOP/s ({best['dtype']}, n={best['n']}"
              f"{f', {frac * 100:.0f}% of peak' if frac is not None else ''}, {best['threads']} thread(s))")
    noisy = [r for r in results if r["warnings"]]
    if noisy:
        return WARN, f"{figure}; {len(noisy)} noisy case(s): {noisy[0]['warnings'][0]}"
    return PASS, figure
