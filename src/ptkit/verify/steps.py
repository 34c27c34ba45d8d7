"""`ptkit verify`: the checks in the order they run, each guarded so that the run always reaches its end.

Contract for a check: `check_xxx(report, torch, ...)` adds its own results to the report (report.add,
report.timed) and returns only what a later check needs. A step below adapts one check to the Run
that carries those values; an exception escaping a step is a FAIL under the step's name.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import bench, compile_check, drift, extension, fatbin_check, gpu, imports, numerics, runtime, smoke
from .emulation import Emulation, detect
from .results import FAIL, PASS, SKIP, WARN, Report


@dataclass
class Run:
    args: argparse.Namespace
    report: Report
    torch: Any = None
    cuda_devices: list[str] = field(default_factory=list)
    threads: int | None = None  # torch's thread count, once check_threads has read it
    no_tmp: str | None = None  # why nothing can write temporary files here (check_tmp), None when something can
    emulation: Emulation | None = None  # this process's machine and whether its CPU is emulated

    @property
    def devices(self) -> list[str]:
        return ["cpu", *self.cuda_devices]

    @property
    def emulated(self) -> str | None:
        """'emulated CPU (qemu-aarch64-static)' when this process's CPU is emulated, None natively."""
        return self.emulation.label if self.emulation is not None and self.emulation.emulated else None

    @property
    def selected(self) -> str:
        """The device the tutorial, autograd and benchmark use: the first usable GPU, else the CPU."""
        return self.cuda_devices[0] if self.cuda_devices else "cpu"


def _expect_cuda_version(run: Run) -> None:
    if run.args.expect_cuda_version:
        imports.check_cuda_version(run.report, run.torch, run.args.expect_cuda_version)


def _cuda(run: Run) -> None:
    run.cuda_devices = gpu.check_cuda(run.report, run.torch, run.args.expect_cuda,
                                      getattr(run.args, "arch_row", []))


def _tmp(run: Run) -> None:
    run.no_tmp = runtime.check_tmp(run.report)


def needs_tmp(name: str, step: Callable[[Run], None]) -> Callable[[Run], None]:
    """A step that writes temporary files: without a writable folder it is a SKIP saying so, at once,
    instead of a failure deep inside torch (or a DataLoader worker waiting out its timeout)."""
    def gated(run: Run) -> None:
        if run.no_tmp:
            run.report.add(name, SKIP, f"not run: {run.no_tmp} (see the tmp check)")
        else:
            step(run)

    return gated


def _threads(run: Run) -> None:
    run.threads = runtime.check_threads(run.report, run.torch)


def timing_verdict(run: Run, status: str, detail: str) -> tuple[str, str]:
    """The benchmark's verdict, but on an emulated CPU (issue 21): a WARN saying so, for the figures are the
    emulator's speed, not the hardware's (the tutorial is not even measured there); the numerics, smoke and compile
    checks are judged as usual."""
    if run.emulated:
        return WARN, f"not judged, {run.emulated}: {detail}"
    return status, detail


def _tutorial(run: Run) -> None:
    if run.emulated:  # measured under qemu 7.2 here (issue 21): 91 s a multiply, the quick tutorial 385 s
        run.report.add("tutorial", WARN, f"not measured, {run.emulated}: a 1000x1000 fp32 multiply takes minutes "
                                         "under emulation and times the emulator, not the hardware")
        return
    with run.report.timed("tutorial") as result:
        t = run.report.tutorial = bench.tutorial(run.torch, run.selected, run.args.quick, run.threads)
        status = FAIL if t["status"] != "ok" else (WARN if t["detail"] else PASS)
        result(status, f"1000x1000 fp32 on {run.selected}: {t['median_ms']:.3f} ms (median of {t['repeats']}, "
                       f"{t['threads']} thread(s))" + (f"; {t['detail']}" if t["detail"] else ""))


def _benchmark(run: Run) -> None:
    if run.args.quick:
        return
    with run.report.timed("benchmark") as result:
        settings = bench.Settings(min_run_time=0.3, threads=run.threads)
        sizes = list(bench.EMULATED_SIZES) if run.emulated else None
        cases = bench.run(run.torch, [run.selected], None, sizes, settings)
        if run.emulated:
            cases = [bench.unjudged(case, run.emulated) for case in cases]
        run.report.benchmarks = cases
        result(*timing_verdict(run, *bench.verdict(cases)))


# (name, step) in order. Wiring a new check is one line.
STEPS: list[tuple[str, Callable[[Run], None]]] = [
    ("build", lambda run: imports.check_build(run.report, run.torch)),
    ("expect-cuda-version", _expect_cuda_version),
    ("cuda", _cuda),
    ("fatbin", lambda run: fatbin_check.check_fatbin(run.report, run.torch, getattr(run.args, "fatbin", []),
                                                     getattr(run.args, "fatbin_unread", None))),
    ("numerics", lambda run: numerics.check_numerics(run.report, run.torch, run.devices)),
    ("autograd", lambda run: numerics.check_autograd(run.report, run.torch, run.selected)),
    ("shm", lambda run: runtime.check_shm(run.report)),
    ("tmp", _tmp),
    ("dataloader", needs_tmp("dataloader", lambda run: runtime.check_dataloader(run.report))),
    ("threads", _threads),
    ("smoke", lambda run: smoke.check_smoke(run.report, run.torch, run.devices, run.args.quick)),
    ("compile", needs_tmp("compile", lambda run: compile_check.check_compile(run.report, run.torch, run.devices,
                                                                             run.args.quick))),
    ("extension", needs_tmp("extension", lambda run: extension.check_extensions(run.report, run.torch, run.devices,
                                                                                run.args.quick))),
    ("tutorial", _tutorial),
    ("benchmark", _benchmark),
]


def run_verify(args: argparse.Namespace, invocation: list[str] | None = None) -> Report:
    found = detect()
    report = Report(environment={**imports.environment(), **found.environment()}, invocation=list(invocation or []))
    with report.guarded(drift.CHECK):  # first: it needs no torch, and a drifted torch explains what follows
        drift.check_drift(report, args.strict)
    run = Run(args, report, torch=imports.import_packages(report, args.require), emulation=found)
    if run.torch is None:
        report.add("verify", SKIP, "no further checks without torch")
        return report
    for name, step in STEPS:
        with report.guarded(name):
            step(run)
    return report
