"""`ptkit verify`'s steps in this process: what a step passes to its check and how it judges the result, the run
without torch, and the benchmark table and JSON as printed."""

from __future__ import annotations

import argparse
import io
import json
import sys
from dataclasses import replace

import pytest

from ptkit.verify import bench, output, steps
from ptkit.verify.results import FAIL, PASS, SKIP, WARN, Report, render_benchmarks


def verify_args(**given) -> argparse.Namespace:
    args = {"quick": True, "expect_cuda": False, "expect_cuda_version": None, "require": [], "strict": False}
    return argparse.Namespace(**{**args, **given})


def test_without_torch_the_run_says_so_after_the_import_and_drift_checks(monkeypatch, tmp_path):
    (tmp_path / "manifest.json").write_text("{not json")
    monkeypatch.setenv("PTKIT_MANIFEST", str(tmp_path / "manifest.json"))
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` fails as in a broken install
    report = steps.run_verify(verify_args(strict=True), ["verify", "--strict"])
    names = [(c.name, c.status) for c in report.checks]
    assert names[0] == ("drift", FAIL)  # --strict reached the drift check: a broken manifest is a FAIL
    assert names[1] == ("import:torch", FAIL) and names[-1] == ("verify", SKIP)
    assert report.checks[-1].detail == "no further checks without torch"
    assert report.invocation == ["verify", "--strict"] and report.environment["python"]


def tutorial_result(**given) -> dict:
    return {"device": "cpu", "n": 1000, "median_ms": 12.25, "iqr_ms": 0.5, "repeats": 9, "threads": 2,
            "status": "ok", "detail": "", **given}


@pytest.mark.parametrize(("result", "status", "detail"), [
    (tutorial_result(), PASS, "1000x1000 fp32 on cpu: 12.250 ms (median of 9, 2 thread(s))"),
    (tutorial_result(detail="noisy: IQR 9 ms is 80% of the median"), WARN,
     "1000x1000 fp32 on cpu: 12.250 ms (median of 9, 2 thread(s)); noisy: IQR 9 ms is 80% of the median"),
    (tutorial_result(status="broken", detail="the timing is broken"), FAIL,
     "1000x1000 fp32 on cpu: 12.250 ms (median of 9, 2 thread(s)); the timing is broken"),
])
def test_the_tutorial_step_passes_quick_and_threads_and_judges_the_result(monkeypatch, result, status, detail):
    calls = []
    monkeypatch.setattr(bench, "tutorial", lambda *args: calls.append(args) or result)
    run = steps.Run(verify_args(quick=False), Report(), torch="torch", threads=3)
    steps._tutorial(run)
    assert calls == [("torch", "cpu", False, 3)]
    assert run.report.tutorial is result
    check = run.report.checks[0]
    assert (check.name, check.status, check.detail) == ("tutorial", status, detail)


def test_the_benchmark_step_measures_the_selected_device_with_its_threads(torch, monkeypatch):
    calls, real_run = [], bench.run

    def spy(torch_, devices, dtypes, sizes, settings):
        calls.append((devices, dtypes, sizes, settings.min_run_time, settings.threads))
        return real_run(torch_, devices, ["fp32"], [64], replace(settings, min_run_time=0.02))  # small, but real

    monkeypatch.setattr(bench, "run", spy)
    run = steps.Run(verify_args(quick=False), Report(), torch=torch, threads=1)
    steps._benchmark(run)
    assert calls == [(["cpu"], None, None, 0.3, 1)]  # the default sizes and dtypes, 0.3 s each
    (result,) = run.report.benchmarks
    assert (result["n"], result["dtype"], result["threads"]) == (64, "fp32", 1)
    check = run.report.checks[0]
    assert (check.name, (check.status, check.detail)) == ("benchmark", bench.verdict(run.report.benchmarks))


def test_quick_has_no_benchmark_step_result(torch):
    run = steps.Run(verify_args(quick=True), Report(), torch=torch)
    steps._benchmark(run)
    assert run.report.checks == [] and run.report.benchmarks == []


def test_expect_cuda_reaches_the_cuda_check(torch):
    run = steps.Run(verify_args(expect_cuda=True), Report(), torch=torch)
    steps._cuda(run)
    assert run.report.checks[-1].status == FAIL and run.cuda_devices == []


def benchmark(**given) -> dict:
    return {"device": "cpu", "dtype": "fp32", "n": 512, "status": "ok", "median_s": 0.0125, "iqr_s": 0.0005,
            "tflops": 0.02147, "fraction_of_peak": 0.4321, **given}


def test_the_benchmark_table_in_milliseconds_and_percent_of_peak():
    rows = [benchmark(detail="noisy"), benchmark(status="broken", n=64, detail="the timing is broken"),
            benchmark(dtype="bf16", fraction_of_peak=None)]
    assert render_benchmarks(rows) == [
        "device  dtype  n    median ms  iqr ms  TFLOP/s        % peak  note",
        "cpu     fp32   512  12.500     0.500   0.021          43.2%   noisy",
        "cpu     fp32   64   -          -       BROKEN TIMING  -       the timing is broken",
        "cpu     bf16   512  12.500     0.500   0.021          -",
    ]


def test_json_is_printed_indented_and_text_as_given():
    data = {"schema": "ptkit.bench/1", "benchmarks": [1]}
    stream = io.StringIO()
    assert output.emit(data, "table", argparse.Namespace(json=True, report=None), stream) is None
    assert stream.getvalue() == json.dumps(data, indent=2) + "\n"
    stream = io.StringIO()
    output.emit(data, "table", argparse.Namespace(json=False, report=None), stream)
    assert stream.getvalue() == "table\n"


@pytest.mark.parametrize(("device", "quick", "settings", "shown"), [
    ("cpu", True, bench.TUTORIAL_QUICK, "cpu"), ("cuda:1", False, bench.TUTORIAL_FULL, "cuda")])
def test_the_tutorial_measures_1000x1000_fp32_and_reports_milliseconds(monkeypatch, device, quick, settings, shown):
    calls = []
    measured = {"median_s": 0.0125, "iqr_s": 0.0005, "repeats": 11, "threads": 4, "status": "ok", "detail": ""}
    monkeypatch.setattr(bench, "measure", lambda *args: calls.append(args) or measured)
    result = bench.tutorial("torch", device, quick, threads=4)
    assert calls == [("torch", device, "fp32", 1000, replace(settings, threads=4))]
    assert result == {"device": shown, "n": 1000, "median_ms": 12.5, "iqr_ms": 0.5, "repeats": 11, "threads": 4,
                      "status": "ok", "detail": ""}


def test_the_tutorial_for_real_on_the_cpu(torch):
    result = bench.tutorial(torch, "cpu", quick=True, threads=1)
    assert (result["device"], result["n"], result["threads"], result["status"]) == ("cpu", 1000, 1, "ok")
    assert result["repeats"] >= bench.TUTORIAL_QUICK.min_repeats and 0 < result["median_ms"] < 10_000
