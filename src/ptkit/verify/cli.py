"""`verify` and `bench`: argument parsing and the order the checks run in.

Exit codes: 0 every check passed (warnings allowed), 1 a check failed, 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from . import bench, checks
from .results import FAIL, SKIP, Report, render_benchmarks, render_text, write_json_atomic


def add_verify_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="skip the matmul benchmark")
    parser.add_argument("--expect-cuda", action="store_true", help="FAIL unless a GPU is usable")
    parser.add_argument("--expect-cuda-version", metavar="X.Y",
                        help="FAIL unless torch was built for this CUDA version")
    parser.add_argument("--require", action="append", default=[], metavar="NAME",
                        help="a package that must import (repeatable)")
    _add_output_args(parser)


def add_bench_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto",
                        help="cpu, cuda, cuda:N or all (default: cuda:0 when usable, else cpu)")
    parser.add_argument("--size", type=int, action="append", metavar="N",
                        help="matrix size (repeatable; default cpu 512/1024/2048, gpu 1024/4096/8192)")
    parser.add_argument("--dtype", action="append", choices=bench.DTYPES,
                        help="dtype (repeatable; default: what the device runs natively)")
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds measured per case")
    parser.add_argument("--compare-naive", action="store_true",
                        help="also time the tutorial's loop as written (no sync, no warm-up)")
    _add_output_args(parser)


def _add_output_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the JSON report to stdout")
    parser.add_argument("--report", metavar="FILE", help="also write the JSON report to FILE")


def import_torch(report: Report, require: list[str]) -> Any:
    """torch first (everything else depends on it), then the optional and required packages."""
    torch = checks.check_import(report, "torch", required=True)
    if torch is None:
        return None
    for name in dict.fromkeys([*checks.OPTIONAL_PACKAGES, *require]):
        if name != "torch":
            checks.check_import(report, name, required=name in require)
    return torch


def tutorial_case(torch: Any, device: str, threads: int) -> dict[str, Any]:
    """The tutorial's 1000x1000 fp32 multiply, measured correctly, for its two familiar lines."""
    settings = bench.Settings(min_run_time=0.2, min_repeats=10, threads=threads)
    result = bench.measure(torch, device, "fp32", bench.TUTORIAL_N, settings)
    return {"device": "cpu" if device == "cpu" else "cuda", "n": bench.TUTORIAL_N,
            "median_ms": result["median_s"] * 1e3, "repeats": result["repeats"]}


def run_verify(args: argparse.Namespace) -> Report:
    report = Report(environment=checks.environment())
    torch = import_torch(report, args.require)
    if torch is None:
        report.add("verify", SKIP, "no further checks without torch")
        return report
    with report.timed("build") as result:
        result(*checks.check_build(report, torch))
    if args.expect_cuda_version:
        checks.check_cuda_version(report, torch, args.expect_cuda_version)
    cuda_devices = checks.check_cuda(report, torch, args.expect_cuda)
    devices = ["cpu", *cuda_devices]
    checks.check_numerics(report, torch, devices)
    checks.check_autograd(report, torch, cuda_devices[0] if cuda_devices else "cpu")
    checks.check_shm(report)
    checks.check_dataloader(report, torch)
    threads = checks.check_threads(report, torch)
    selected = cuda_devices[0] if cuda_devices else "cpu"
    with report.timed("tutorial") as result:
        report.tutorial = tutorial_case(torch, selected, threads)
        result("pass", f"1000x1000 fp32 on {selected}: {report.tutorial['median_ms']:.3f} ms (median)")
    if not args.quick:
        with report.timed("benchmark") as result:
            settings = bench.Settings(min_run_time=0.3, threads=threads)
            report.benchmarks = bench.run(torch, [selected], None, None, settings)
            result(*_benchmark_verdict(report.benchmarks))
    return report


def _benchmark_verdict(results: list[dict[str, Any]]) -> tuple[str, str]:
    broken = [r for r in results if r["status"] != "ok"]
    if broken:
        return FAIL, f"{len(broken)} case(s) with broken timing: {broken[0]['detail']}"
    best = max(results, key=lambda r: r["tflops"])
    frac = best["fraction_of_peak"]
    peak = f", {frac * 100:.0f}% of peak" if frac is not None else ""
    return "pass", f"best {best['tflops']:.3f} TFLOP/s ({best['dtype']}, n={best['n']}{peak})"


def resolve_devices(torch: Any, spec: str) -> list[str]:
    usable = torch.version.cuda is not None and torch.cuda.is_available()
    if spec == "auto":
        return ["cuda:0" if usable else "cpu"]
    if spec == "all":
        return ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count() if usable else 0)]
    if spec.startswith("cuda") and not usable:
        raise SystemExit(f"ptkit bench: --device {spec}: no usable GPU ({checks.cuda_unusable_reason(torch)})")
    return ["cuda:0" if spec == "cuda" else spec]


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    report = Report(environment=checks.environment())
    torch = import_torch(report, [])
    if torch is None:
        raise SystemExit("ptkit bench: torch is not importable: " + report.checks[0].detail)
    checks.check_build(report, torch)
    settings = bench.Settings(min_run_time=args.min_time, threads=checks.usable_cpus())
    devices = resolve_devices(torch, args.device)
    results = bench.run(torch, devices, args.dtype, args.size, settings)
    out: dict[str, Any] = {"schema": "ptkit.bench/1", "environment": report.environment, "benchmarks": results}
    if args.compare_naive:
        correct = tutorial_case(torch, devices[0], settings.threads)
        out["naive"] = {"correct_ms": correct["median_ms"], **bench.naive_tutorial_ms(torch, devices[0])}
    return out


def emit(data: dict[str, Any], text: str, args: argparse.Namespace) -> None:
    if args.report:
        write_json_atomic(data, args.report)
    print(json.dumps(data, indent=2) if args.json else text)


def verify_main(args: argparse.Namespace) -> int:
    report = run_verify(args)
    emit(report.to_dict(), render_text(report), args)
    return 0 if report.ok else 1


def bench_main(args: argparse.Namespace) -> int:
    data = run_bench(args)
    lines = render_benchmarks(data["benchmarks"])
    if "naive" in data:
        n = data["naive"]
        lines += [
            "",
            f"tutorial 1000x1000 fp32 on {data['benchmarks'][0]['device']}:",
            f"  correct (warm-up, synchronized, median): {n['correct_ms']:.4f} ms",
            f"  tutorial as written (CPU tensor, no sync): {n['as_written']:.4f} ms",
            f"  on the device but unsynchronized:          {n['on_device_no_sync']:.4f} ms",
        ]
    emit(data, "\n".join(lines), args)
    return 0 if all(r["status"] == "ok" for r in data["benchmarks"]) else 1


def build_parser(prog: str = "ptkit") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Verify a PyTorch environment.")
    sub = parser.add_subparsers(dest="command", required=True)
    add_verify_args(sub.add_parser("verify", help="check this Python environment's PyTorch"))
    add_bench_args(sub.add_parser("bench", help="matmul benchmark against the datasheet peak"))
    return parser


def main(argv: list[str] | None = None, prog: str = "ptkit") -> int:
    args = build_parser(prog).parse_args(argv)
    return dispatch(args)


def dispatch(args: argparse.Namespace) -> int:
    try:
        return verify_main(args) if args.command == "verify" else bench_main(args)
    except KeyboardInterrupt:
        print(f"ptkit {args.command}: interrupted", file=sys.stderr)
        return 130
