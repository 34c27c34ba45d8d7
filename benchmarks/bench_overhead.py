"""How much does ptkit's benchmark harness cost? ptkit's fp32 1024 figure against a bare loop.

    python benchmarks/bench_overhead.py [--n 1024] [--rounds 5]

Both run in this process on the same matrices and thread count, interleaved round by round so
that clock and thermal drift hit both alike. Prints each median, their ratio (ptkit / bare
TFLOP/s; 1.0 means no overhead) and the coefficient of variation of each series.
"""

from __future__ import annotations

import statistics
import time

import torch

from ptkit.cli import OneLineParser
from ptkit.verify import bench, cpus


def bare_loop(a: torch.Tensor, b: torch.Tensor, repeats: int, number: int) -> list[float]:
    """The simplest correct timing: warm-up, then synchronized blocks of torch.mm, per-call seconds."""
    device = str(a.device)
    torch.mm(a, b)
    bench.device_timer(torch, device)()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            torch.mm(a, b)
        bench.device_timer(torch, device)()
        times.append((time.perf_counter() - start) / number)
    return times


def cv(values: list[float]) -> float:
    return statistics.stdev(values) / statistics.mean(values)


def main() -> None:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", default="cuda:0" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    threads = cpus.usable_cpus()
    torch.set_num_threads(threads)
    settings = bench.Settings(min_run_time=1.0, threads=threads)
    a = torch.randn(args.n, args.n, device=args.device)
    b = torch.randn(args.n, args.n, device=args.device)
    ptkit_medians, bare_medians = [], []
    for _ in range(args.rounds):
        result = bench.measure(torch, args.device, "fp32", args.n, settings)
        ptkit_medians.append(result["median_s"])
        with bench.matmul_precision(torch, "fp32"):
            bare = bare_loop(a, b, result["repeats"], result["calls_per_repeat"])
        bare_medians.append(statistics.median(bare))
    flop = 2 * args.n**3
    p, q = statistics.median(ptkit_medians), statistics.median(bare_medians)
    print(f"device {args.device}, fp32 n={args.n}, {threads} threads, {args.rounds} interleaved rounds")
    for label, median, series in (("ptkit harness ", p, ptkit_medians), ("bare sync loop", q, bare_medians)):
        print(f"{label}: {median * 1e3:8.3f} ms  {flop / median / 1e12:7.3f} TFLOP/s  "
              f"(cv of round medians {cv(series):.1%})")
    print(f"ratio ptkit/bare TFLOP/s: {q / p:.3f}  (>= 0.95 means the harness costs under 5%)")


if __name__ == "__main__":
    main()
