"""`verify` and `bench`: their arguments and what each prints (the argv the host passes on: options.py).

Exit codes: 0 every check passed (warnings allowed), 1 a check failed, the results could not be printed
(a closed stdout) or the report could not be written, 2 usage error, 130 interrupted. A failure also prints
one line on stderr saying what failed.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from typing import Any

from . import bench, drift, fatbin_check, output, steps
from .archs import read_arch_row
from .gpu import cuda_unusable_reason
from .imports import build_info, environment, import_packages
from .options import VerifyOptions, to_argv
from .precision import DTYPES
from .results import FAIL, Report, describe, render_benchmarks, render_text

DEVICE_SPEC = re.compile(r"auto|all|cpu|cuda(:\d+)?")


def cuda_version(text: str) -> str:
    if not re.fullmatch(r"\d+\.\d+", text):
        raise argparse.ArgumentTypeError(f"expected a CUDA version X.Y such as 12.8, got {text!r}")
    return text


def arch_row(text: str) -> str:
    """argparse type for 'cuda128=sm_70,sm_75': the text itself once read_arch_row reads it."""
    try:
        read_arch_row(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def positive(convert: Callable[[str], Any], what: str) -> Callable[[str], Any]:
    """An argparse type: `convert`, then refuse anything but a finite number above 0."""
    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


positive_int = positive(int, "a whole number of at least 1")
positive_seconds = positive(float, "a positive number of seconds")


def device_spec(text: str) -> str:
    if not DEVICE_SPEC.fullmatch(text):
        raise argparse.ArgumentTypeError(f"expected cpu, cuda, cuda:N, all or auto, got {text!r}")
    return text


def add_verify_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="skip the matmul benchmark; time the tutorial briefly")
    parser.add_argument("--expect-cuda", action="store_true", help="FAIL unless a GPU is usable")
    parser.add_argument("--expect-cuda-version", type=cuda_version, metavar="X.Y",
                        help="FAIL unless torch was built for this CUDA version")
    parser.add_argument("--require", action="append", default=[], metavar="NAME",
                        help="a package that must import (repeatable)")
    parser.add_argument("--fatbin", action="append", default=[], type=fatbin_check.valid_listing,
                        metavar="LIB=ARCH:N,...",
                        help="the SASS/PTX a CUDA library holds, as cuobjdump listed it (repeatable; the host's "
                             "ptkit.fatbin passes it): arch:fatbin compares torch's arch list with it")
    parser.add_argument("--fatbin-unread", metavar="WHY",
                        help="the host could not list the fatbin, and why: arch:fatbin is a SKIP naming it")
    parser.add_argument("--arch-row", action="append", default=[], type=arch_row, metavar="NAME=ARCH,...",
                        help="an image and its compiled archs, newest first (repeatable): a device no compiled "
                             "arch runs on is told the first of them that runs there")
    drift.add_drift_args(parser)
    _add_output_args(parser)


def add_bench_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", type=device_spec,
                        help="cpu, cuda, cuda:N or all (default: cuda:0 when usable, else cpu)")
    parser.add_argument("--size", type=positive_int, action="append", metavar="N",
                        help="matrix size (repeatable; default cpu 512/1024/2048, gpu 1024/4096/8192)")
    parser.add_argument("--dtype", action="append", choices=DTYPES,
                        help="dtype (repeatable; default: what the device runs natively)")
    parser.add_argument("--min-time", type=positive_seconds, default=0.5, metavar="SECONDS",
                        help="seconds measured per case (default: 0.5)")
    parser.add_argument("--compare-naive", action="store_true",
                        help="also time the tutorial's loop as written (no sync, no warm-up)")
    _add_output_args(parser)


def _add_output_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print only the JSON report to stdout")
    parser.add_argument("--report", metavar="FILE", help="also write the JSON report to FILE")


def output_argv(args: argparse.Namespace) -> list[str]:
    """--json and --report as given: where results go, never passed on by the host."""
    return [*(["--json"] if args.json else []), *(["--report", args.report] if args.report else [])]


def verify_main(args: argparse.Namespace) -> int:
    with output.stdout_reserved(args.json) as stdout:
        invocation = ["verify", *to_argv(VerifyOptions.from_namespace(args)), *output_argv(args)]
        report = steps.run_verify(args, invocation)
        problem = output.emit(report.to_dict(), render_text(report), args, stdout)
    failed = report.first_failure()
    if failed:
        output.complain("verify", f"FAIL: {failed.name}: {failed.detail}")
    if problem:
        output.complain("verify", problem)
    return 0 if report.ok and not problem else 1


def resolve_devices(torch: Any, spec: str) -> list[str]:
    """The devices `spec` names; a GPU the environment lacks is a runtime failure (exit 1), said in one line."""
    count = torch.cuda.device_count() if torch.version.cuda and torch.cuda.is_available() else 0
    if spec == "auto":
        return ["cuda:0" if count else "cpu"]
    if spec == "all":
        return ["cpu"] + [f"cuda:{i}" for i in range(count)]
    if spec == "cpu":
        return ["cpu"]
    device = "cuda:0" if spec == "cuda" else spec
    if not count:
        raise output.Failure(f"--device {spec}: no usable GPU ({cuda_unusable_reason(torch)})")
    if int(device.split(":")[1]) >= count:
        raise output.Failure(f"--device {spec}: this environment has {count} GPU(s), cuda:0 to cuda:{count - 1}")
    return [device]


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    report = Report(environment=environment())
    torch = import_packages(report, [])
    if torch is None:
        raise output.Failure("torch is not importable: " + report.checks[0].detail)
    report.environment.update(build_info(torch))
    devices = resolve_devices(torch, args.device)
    settings = bench.Settings(min_run_time=args.min_time)  # torch's own (the user's) thread count
    try:
        results = bench.run(torch, devices, args.dtype, args.size, settings)
    except (RuntimeError, MemoryError) as exc:  # out of memory, a dtype the device lacks
        raise output.Failure(f"the benchmark failed on {', '.join(devices)}: {describe(exc)}") from None
    out: dict[str, Any] = {"schema": "ptkit.bench/1", "environment": report.environment, "benchmarks": results}
    if args.compare_naive:
        correct = bench.tutorial(torch, devices[0], quick=False)
        out["naive"] = {"correct_ms": correct["median_ms"], **bench.naive_tutorial_ms(torch, devices[0])}
    return out


def naive_lines(data: dict[str, Any]) -> list[str]:
    n = data["naive"]
    return [
        "",
        f"tutorial 1000x1000 fp32 on {data['benchmarks'][0]['device']}:",
        f"  correct (warm-up, synchronized, median): {n['correct_ms']:.4f} ms",
        f"  tutorial as written (CPU tensor, no sync): {n['as_written']:.4f} ms",
        f"  on the device but unsynchronized:          {n['on_device_no_sync']:.4f} ms",
    ]


def bench_main(args: argparse.Namespace) -> int:
    with output.stdout_reserved(args.json) as stdout:
        data = run_bench(args)
        lines = render_benchmarks(data["benchmarks"]) + (naive_lines(data) if "naive" in data else [])
        problem = output.emit(data, "\n".join(lines), args, stdout)
    status, detail = bench.verdict(data["benchmarks"])
    if status == FAIL:
        output.complain("bench", f"FAIL: {detail}")
    if problem:
        output.complain("bench", problem)
    return 1 if status == FAIL or problem else 0


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
    except output.Failure as exc:
        output.complain(args.command, str(exc))
        return 1
    except KeyboardInterrupt:
        output.complain(args.command, "interrupted")
        return 130
