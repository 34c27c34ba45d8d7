"""Checks in-process on this machine's real torch, with faults injected where the real fault is not at hand."""

from __future__ import annotations

import argparse
import statistics
import time

import pytest

from ptkit.verify import bench, cli, cpus, facts, numerics, precision, runtime, steps
from ptkit.verify.results import FAIL, PASS, SKIP, Report


def verify(*extra: str) -> Report:
    return steps.run_verify(cli.build_parser().parse_args(["verify", "--quick", *extra]))


def by_name(report: Report) -> dict:
    return {c.name: c for c in report.checks}


def test_corrupted_matmul_fails_numerics(torch, monkeypatch, capsys):
    real = torch.matmul

    def corrupt(a, b):
        out = real(a, b)
        return out if out.dtype == torch.float64 else out + 0.01 * out.abs().max()

    monkeypatch.setattr(torch, "matmul", corrupt)
    assert cli.verify_main(cli.build_parser().parse_args(["verify", "--quick"])) == 1
    captured = capsys.readouterr()
    assert "FAIL    numerics:cpu:fp32" in captured.out
    assert captured.err.startswith("ptkit verify: FAIL: numerics:cpu:fp32: matmul relative error")


def test_an_exception_inside_a_check_is_its_fail_and_the_run_goes_on(torch, monkeypatch):
    def broken(report):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runtime, "check_shm", broken)
    checks = by_name(verify())
    assert checks["shm"].status == FAIL and checks["shm"].detail == "OSError: [Errno 28] No space left on device"
    assert checks["threads"].status != FAIL and "tutorial" in checks


def test_old_torch_without_matmul_precision_api_passes(torch, monkeypatch):
    # torch < 1.12: no get/set_float32_matmul_precision, only the CUDA allow_tf32 switch.
    monkeypatch.delattr(torch, "get_float32_matmul_precision")
    monkeypatch.delattr(torch, "set_float32_matmul_precision")
    report = verify()
    assert report.ok, [c for c in report.checks if c.status == FAIL]
    assert by_name(report)["numerics:cpu:fp32"].status == PASS


def test_old_torch_without_bf16_or_cpu_fp16_skips_with_the_reason(torch, monkeypatch):
    real_mm = torch.mm

    def no_half(a, b):
        if a.dtype == torch.float16:
            raise RuntimeError("\"addmm_impl_cpu_\" not implemented for 'Half'")
        return real_mm(a, b)

    monkeypatch.delattr(torch, "bfloat16")
    monkeypatch.setattr(torch, "mm", no_half)
    report = Report()
    numerics.check_numerics(report, torch, ["cpu"])
    checks = by_name(report)
    assert checks["numerics:cpu:fp32"].status == PASS
    assert (checks["numerics:cpu:bf16"].status, checks["numerics:cpu:bf16"].detail) == (
        SKIP, f"torch {torch.__version__} has no torch.bfloat16")
    fp16 = checks["numerics:cpu:fp16"]
    assert fp16.status == SKIP and "not implemented for 'Half'" in fp16.detail
    assert precision.native_dtypes(torch, "cpu") == ["fp32"]


def test_impossibly_fast_timer_is_reported_as_broken_timing(torch):
    fake = lambda: time.perf_counter() / 1e6  # noqa: E731 - a clock a million times too slow
    settings = bench.Settings(min_run_time=0.05, min_repeats=3, threads=1, timer=fake)
    result = bench.measure(torch, "cpu", "fp32", 256, settings)
    assert result["status"] == "broken" and result["tflops"] is None and result["fraction_of_peak"] is None
    assert "exceeds the physical ceiling" in result["detail"] and bench.verdict([result])[0] == FAIL


def test_real_timer_gives_a_plausible_figure_with_torch_threads(torch):
    result = bench.measure(torch, "cpu", "fp32", 512, bench.Settings(min_run_time=0.1))
    assert result["status"] == "ok" and result["repeats"] >= 7 and result["threads"] == torch.get_num_threads()
    assert 1e-4 < result["tflops"] < facts.cpu_ceiling_tflops(cpus.usable_cpus(), "fp32")
    assert result["iqr_s"] >= 0


def test_blocks_have_no_hidden_warm_up():
    calls: list[int] = []
    reads: list[int] = []  # calls made so far, at each reading of the blocks' timer

    def timer() -> float:
        reads.append(len(calls))
        return time.perf_counter()

    times, number = bench.time_blocks(lambda: calls.append(1) or time.sleep(0.002), time.perf_counter,
                                      bench.Settings(min_run_time=0.0, min_repeats=5, block_s=0.01, timer=timer))
    # Each timed block is exactly `number` calls between two readings, nothing else; no call after the last.
    assert len(times) == 5 and 1 < number <= 5
    assert [b - a for a, b in zip(reads[::2], reads[1::2], strict=True)] == [number] * 5 and reads[-1] == len(calls)


def test_a_slow_first_call_does_not_make_every_block_one_call():
    """Issue 19.6: one slow sizing call (a busy machine, a thread waking) made every block a single call,
    each paying the clock's own cost in full (on a GPU, a synchronize): figures 3x to 1000x too low."""
    calls = [0]

    def work() -> None:
        calls[0] += 1
        if calls[0] <= 2:  # the warm-up and the first call after it are slow
            time.sleep(0.05)
        sum(range(300))

    def syncing_clock() -> float:  # a clock whose reading costs a millisecond, as a GPU synchronize can
        time.sleep(0.001)
        return time.perf_counter()

    start = time.perf_counter()
    for _ in range(20_000):
        sum(range(300))
    direct = (time.perf_counter() - start) / 20_000  # the work's own time per call, a few microseconds
    times, number = bench.time_blocks(work, syncing_clock,
                                      bench.Settings(min_run_time=0.2, min_repeats=5, block_s=0.02))
    assert number > 100
    assert 0.5 * direct < statistics.median(times) < 2 * direct, (statistics.median(times), direct)


def test_a_sizing_call_longer_than_a_block_is_the_first_sample():
    calls = []
    times, number = bench.time_blocks(lambda: calls.append(1) or time.sleep(0.004), time.perf_counter,
                                      bench.Settings(min_run_time=0.0, min_repeats=3, block_s=0.001))
    assert number == 1 and len(times) == 3 and len(calls) == 1 + 3  # the warm-up, then three timed calls
    assert all(0.004 <= t < 0.5 for t in times)


def test_benchmark_uses_the_thread_count_it_is_given_and_restores_torch(torch):
    before = torch.get_num_threads()
    result = bench.measure(torch, "cpu", "fp32", 128, bench.Settings(min_run_time=0.01, min_repeats=3, threads=1))
    assert result["threads"] == 1 and torch.get_num_threads() == before


@pytest.mark.parametrize(("text", "ok"), [("12.8", True), ("13.0", True), ("13", False), ("abc", False),
                                          ("", False), ("12.8.1", False)])
def test_cuda_version_argument(text, ok):
    if ok:
        assert cli.cuda_version(text) == text
    else:
        with pytest.raises(argparse.ArgumentTypeError, match=r"expected a CUDA version X\.Y"):
            cli.cuda_version(text)


def test_expected_cuda_version_compares_major_minor(torch, monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    report = verify("--expect-cuda-version", "13.0")
    assert by_name(report)["expect-cuda-version"].status == PASS


def test_fp32_numerics_hold_after_a_package_used_torchs_per_backend_precision_api(torch):
    """torch >= 2.9 refuses get_float32_matmul_precision once the per-backend API was used (a package may do
    so at import): the check switches precision the new way instead of failing with that RuntimeError."""
    matmul = getattr(torch.backends.cuda, "matmul", None)
    if not hasattr(matmul, "fp32_precision"):
        pytest.skip(f"torch {torch.__version__} has no per-backend fp32_precision")
    saved = (matmul.fp32_precision, torch.backends.mkldnn.matmul.fp32_precision)
    matmul.fp32_precision = "tf32"  # as a package might, leaving the CPU backend at its default
    try:
        with pytest.raises(RuntimeError):
            torch.get_float32_matmul_precision()  # the state this test is about
        report = Report()
        numerics.check_matmul(report, torch, "cpu", "fp32")
        assert report.checks[0].status == PASS, report.checks[0].detail
        assert matmul.fp32_precision == "tf32"  # the package's setting is given back
    finally:
        matmul.fp32_precision, torch.backends.mkldnn.matmul.fp32_precision = saved
