"""The verifier's runtime and numerics checks in-process (threads, /dev/shm, DataLoader, matmul error, autograd,
the step order, the text report), real torch on the CPU; first written for what the mutation run found untested.

`nox -s mutation` runs only in-process tests (a `python -m ptkit` subprocess imports the unmutated package), so the
commands are driven here through cli.main with pytest's capture of the real stdout and stderr.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from ptkit.verify import cli, cpus, facts, numerics, precision, runtime, steps
from tests.utils.stand_ins import FakeCuda

# At collection, so that mutmut's fork server (which collects once) forks each mutant's run with torch loaded.
pytest.importorskip("torch")
from ptkit.verify.results import (
    FAIL,
    PASS,
    WARN,
    Report,
    render_text,
    tutorial_lines,
)


def test_the_cpu_tutorial_line_names_its_threads():
    assert tutorial_lines({"device": "cpu", "median_ms": 12.5, "repeats": 7, "threads": 4}) == [
        "Device selected : CPU",
        "Time taken to multiply two matrices on a CPU: 12.500 ms (1000x1000 fp32, median of 7, synchronized, "
        "4 thread(s))"]
    gpu_line = tutorial_lines({"device": "cuda", "median_ms": 0.5, "repeats": 9, "threads": 4})[1]
    assert gpu_line.endswith("GPU: 0.500 ms (1000x1000 fp32, median of 9, synchronized)")
    assert tutorial_lines({"device": "cpu", "median_ms": 1, "repeats": 2})[1].endswith("median of 2, synchronized)")


def test_drivers_are_looked_up_by_cuda_major_minor():
    assert [facts.cuda_key(v) for v in ("12.8.1", "13.0", "11.8.0.1")] == ["12.8", "13.0", "11.8"]


@pytest.mark.parametrize(("bf16_native", "native"), [(True, ["fp32", "bf16"]), (False, ["fp32"])])
def test_cpu_native_dtypes_follow_the_cpu_bf16_support(torch, monkeypatch, bf16_native, native):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: bf16_native)
    assert precision.native_dtypes(torch, "cpu") == native


@pytest.mark.parametrize(("capability", "native"), [((7, 5), ["fp32", "fp16"]),
                                                    ((8, 0), ["fp32", "tf32", "fp16", "bf16"])])
def test_gpu_native_dtypes_follow_the_capability(torch, monkeypatch, capability, native):
    fake = FakeCuda(capability, capability >= (8, 0))
    monkeypatch.setattr(torch, "cuda", fake)
    assert precision.native_dtypes(torch, "cuda:1") == native and set(fake.asked) == {"cuda:1"}


def test_tf32_is_switchable_through_either_api():
    matmul = SimpleNamespace(allow_tf32=False)
    old = SimpleNamespace(backends=SimpleNamespace(cuda=SimpleNamespace(matmul=matmul)))
    assert precision._tf32_switchable(old)
    assert precision._tf32_switchable(SimpleNamespace(backends=SimpleNamespace(), set_float32_matmul_precision=print))
    assert not precision._tf32_switchable(SimpleNamespace(backends=SimpleNamespace(cuda=SimpleNamespace())))


@pytest.fixture
def threads(torch):
    """Sets torch's thread count for one test and restores it."""
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


def test_threads_against_the_usable_cpus(torch, threads, monkeypatch):
    usable = cpus.read_cpus().usable
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    threads(usable + 1)
    report = Report()
    assert runtime.check_threads(report, torch) == usable + 1
    (check,) = report.checks
    assert check.status == WARN and check.detail.startswith(f"torch uses {usable + 1} threads (torch's default")
    assert check.detail.endswith(f"oversubscribed, set OMP_NUM_THREADS={usable}")
    assert report.environment["cpus"]["torch_threads"] == usable + 1 and report.environment["cpus"]["usable"] == usable
    threads(usable)
    monkeypatch.setenv("OMP_NUM_THREADS", str(usable))
    report = Report()
    runtime.check_threads(report, torch)
    assert (report.checks[0].status, report.checks[0].detail) == (
        PASS, f"torch uses {usable} thread(s) on {cpus.read_cpus().describe()}")
    assert report.environment["cpus"]["OMP_NUM_THREADS"] == str(usable)


def test_fewer_threads_than_cpus_warns_naming_the_setting(torch, threads, monkeypatch):
    if cpus.read_cpus().usable < 2:
        pytest.skip("needs 2 usable CPUs")
    threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    report = Report()
    runtime.check_threads(report, torch)
    assert report.checks[0].status == WARN and report.checks[0].detail.startswith("torch uses 1 thread(s) "
                                                                                  "(OMP_NUM_THREADS=1) of ")


def test_dataloader_workers_pass_every_sample(torch):
    report = Report()
    runtime.check_dataloader(report)
    assert [(c.name, c.status, c.detail) for c in report.checks] == [
        ("dataloader", PASS, "1 worker process(es) iterated 4 samples (checksum 14, expected 14)")]


def test_shm_size_is_reported_in_its_unit():
    report = Report()
    runtime.check_shm(report)
    size = os.statvfs("/dev/shm").f_frsize * os.statvfs("/dev/shm").f_blocks
    expected = (PASS, f"/dev/shm is {size / 2**30:.1f} GiB") if size >= 2**30 else (
        WARN, f"/dev/shm is {size / 2**20:.0f} MiB (< 1 GiB): DataLoader workers may die with bus errors; "
              "use docker run --shm-size=8g or --ipc=host")
    assert (report.checks[0].status, report.checks[0].detail) == expected


@pytest.mark.parametrize(("blocks", "expected"), [
    (None, ("shm", WARN, "/dev/shm is missing: DataLoader workers cannot share tensors")),
    (1 << 18, ("shm", PASS, "/dev/shm is 1.0 GiB")),  # exactly the threshold: enough
    ((1 << 18) - 1, ("shm", WARN, "/dev/shm is 1024 MiB (< 1 GiB): DataLoader workers may die with bus errors; "
                                  "use docker run --shm-size=8g or --ipc=host")),
    (16 << 10, ("shm", WARN, "/dev/shm is 64 MiB (< 1 GiB): DataLoader workers may die with bus errors; "
                             "use docker run --shm-size=8g or --ipc=host")),
])
def test_shm_states_a_container_can_be_in(monkeypatch, blocks, expected):
    """/dev/shm missing or Docker's 64 MiB default: states of other machines, given to the check as statvfs would."""
    def statvfs(path: str) -> SimpleNamespace:
        if blocks is None or path != "/dev/shm":
            raise FileNotFoundError(path)
        return SimpleNamespace(f_frsize=4096, f_blocks=blocks)

    monkeypatch.setattr(runtime.os, "statvfs", statvfs)
    report = Report()
    runtime.check_shm(report)
    assert [(c.name, c.status, c.detail) for c in report.checks] == [expected]


def test_matmul_error_is_small_but_real_and_grows_with_a_narrower_dtype(torch):
    fp32, bf16 = (numerics.matmul_error(torch, "cpu", d) for d in ("fp32", "bf16"))
    assert 0 < fp32 < numerics.TOLERANCE["fp32"] and fp32 < bf16 < numerics.TOLERANCE["bf16"]
    assert numerics.matmul_error(torch, "cpu", "fp32") == fp32  # seeded: the same inputs every run


def test_a_matmul_error_above_the_tolerance_fails_naming_both(torch, monkeypatch):
    monkeypatch.setitem(numerics.TOLERANCE, "fp32", 1e-12)
    report = Report()
    numerics.check_matmul(report, torch, "cpu", "fp32")
    err = numerics.matmul_error(torch, "cpu", "fp32")
    assert [(c.name, c.status, c.detail) for c in report.checks] == [
        ("numerics:cpu:fp32", FAIL, f"matmul relative error {err:.2e} (> 1e-12)")]


def test_autograd_matches_the_analytic_gradient(torch):
    report = Report()
    numerics.check_autograd(report, torch, "cpu")
    (check,) = report.checks
    assert (check.name, check.status) == ("autograd:cpu", PASS)
    assert check.detail.startswith("backward matches analytic gradient (max rel err ")


def test_quick_verify_runs_every_step_in_order_and_times_the_tutorial(torch):
    report = steps.run_verify(cli.build_parser().parse_args(["verify", "--quick"]), ["verify", "--quick"])
    names = [c.name for c in report.checks]
    order = ["drift", "import:torch", "build", "cuda", "numerics:cpu:fp32", "autograd:cpu", "shm", "tmp", "dataloader",
             "threads", "smoke:openmp", "compile", "tutorial"]
    assert [n for n in names if n in order] == order and names[-1] == "tutorial" and report.benchmarks == []
    tutorial = report.checks[-1]
    assert tutorial.detail.startswith(f"1000x1000 fp32 on cpu: {report.tutorial['median_ms']:.3f} ms (median of "
                                      f"{report.tutorial['repeats']}, {report.tutorial['threads']} thread(s))")
    assert tutorial.status == (WARN if report.tutorial["detail"] else PASS)
    assert report.invocation == ["verify", "--quick"]


def test_a_bare_failed_report_renders_dashes_and_the_verdict_only():
    report = Report()
    report.add("cuda", FAIL, "no GPU")
    assert render_text(report).splitlines() == [
        "ptkit verify: python - | torch - | cuda - | driver -", "",
        "status  check  detail  s", "FAIL    cuda   no GPU  0.00", "",
        "verify: FAIL (0 pass, 0 warn, 1 fail, 0 skip)"]


def test_benchmarks_render_between_the_checks_and_the_verdict():
    report = Report(benchmarks=[{"device": "cpu", "dtype": "fp32", "n": 64, "status": "broken", "detail": "too fast"}])
    lines = render_text(report).splitlines()
    assert lines[-5:] == ["", "device  dtype  n   median ms  iqr ms  TFLOP/s        % peak  note",
                          "cpu     fp32   64  -          -       BROKEN TIMING  -       too fast", "",
                          "verify: PASS (0 pass, 0 warn, 0 fail, 0 skip)"]
