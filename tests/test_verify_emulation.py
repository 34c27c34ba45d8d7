"""The verifier knows when its CPU is emulated (issue 21): what shows it, what the report records, and the timing
checks that then WARN instead of judging while the others are judged as usual.

The real emulated run needs an arm64 root file system with python3 and /proc mounted in it, on a host whose
binfmt_misc runs arm64 binaries (bash scripts/emulation-setup.sh arm64 aarch64):
    mmdebstrap --variant=minbase --arch=arm64 --include=python3 bookworm ROOT && mount -t proc proc ROOT/proc
    PTKIT_ARM64_ROOT=ROOT pytest tests/test_verify_emulation.py
(skipped without PTKIT_ARM64_ROOT).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ptkit.verify import bench, emulation, steps
from ptkit.verify.results import FAIL, PASS, WARN, Report, render_text

X86_CPUINFO = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nflags\t\t: fpu sse2 avx2\n"
ARM_CPUINFO = "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\nCPU implementer\t: 0x41\nCPU part\t: 0xd0c\n"


def fake_proc(tmp_path: Path, kernel: str | None, cpuinfo: str | None) -> str:
    """A private /proc with the kernel's machine and cpuinfo given (None: the file is absent)."""
    proc = tmp_path / "proc"
    (proc / "sys/kernel").mkdir(parents=True)
    (proc / "self").mkdir()
    (proc / "self/exe").symlink_to("/usr/bin/python3.11")
    if kernel is not None:
        (proc / "sys/kernel/arch").write_text(kernel + "\n")
    if cpuinfo is not None:
        (proc / "cpuinfo").write_text(cpuinfo)
    return str(proc)


def test_this_host_runs_natively(monkeypatch):
    monkeypatch.delenv(emulation.EMULATED_ENV, raising=False)
    found = emulation.detect()
    assert found.machine == platform.machine() and found.tells == ()
    assert found.environment() == {"machine": platform.machine(), "emulated": False, "emulation": None}


@pytest.mark.parametrize(("machine", "kernel", "cpuinfo", "tells"), [
    ("aarch64", "x86_64", X86_CPUINFO, ["kernel x86_64", "cpuinfo: an x86 CPU"]),
    ("aarch64", None, X86_CPUINFO, ["cpuinfo: an x86 CPU"]),  # a kernel older than kernel.arch
    ("aarch64", "x86_64", ARM_CPUINFO, ["kernel x86_64"]),  # an emulator that fakes cpuinfo
    ("x86_64", "aarch64", ARM_CPUINFO, ["kernel aarch64", "cpuinfo: an arm CPU"]),  # the other way round
    ("aarch64", "aarch64", ARM_CPUINFO, []),  # a Grace or Graviton machine
    ("x86_64", "x86_64", X86_CPUINFO, []),
    ("i686", "x86_64", X86_CPUINFO, []),  # a 32-bit x86 process on a 64-bit kernel is not emulated
    ("aarch64", None, "processor\t: 0\n", []),  # nothing says: native
])
def test_each_tell_compares_what_the_kernel_says_with_the_process_machine(tmp_path, monkeypatch, machine, kernel,
                                                                          cpuinfo, tells):
    monkeypatch.delenv(emulation.EMULATED_ENV, raising=False)
    found = emulation.detect(machine=machine, proc=fake_proc(tmp_path, kernel, cpuinfo))
    assert len(found.tells) == len(tells) and all(t in told for t, told in zip(tells, found.tells, strict=True))
    assert found.emulated == bool(tells) and found.emulator is None  # no tell here names the emulator


def test_the_host_may_say_it_and_name_the_emulator(tmp_path, monkeypatch):
    monkeypatch.setenv("PTKIT_EMULATED", "qemu-aarch64")
    env = emulation.detect(machine="aarch64", proc=fake_proc(tmp_path, "aarch64", ARM_CPUINFO)).environment()
    assert env == {"machine": "aarch64", "emulated": True,
                   "emulation": "emulated CPU (qemu-aarch64): the host says so (PTKIT_EMULATED=qemu-aarch64)"}
    monkeypatch.setenv("PTKIT_EMULATED", "")  # set but empty: no word
    assert not emulation.detect(machine="aarch64", proc=fake_proc(tmp_path / "b", "aarch64", ARM_CPUINFO)).emulated


def test_the_emulated_cpu_model_is_recorded_where_the_cpu_is_emulated(tmp_path, monkeypatch):
    monkeypatch.delenv(emulation.EMULATED_ENV, raising=False)
    monkeypatch.setenv("QEMU_CPU", "neoverse-n2")  # what ptkit's host side gives an arm64 container under qemu 10
    found = emulation.detect(machine="aarch64", proc=fake_proc(tmp_path, "x86_64", X86_CPUINFO))
    assert found.emulated and found.tells[-1] == "the emulated CPU is neoverse-n2 (QEMU_CPU)"
    assert "neoverse-n2" in found.environment()["emulation"]
    # natively the variable means nothing (qemu is not there to read it): no tell, not emulated
    assert emulation.detect(machine="aarch64", proc=fake_proc(tmp_path / "b", "aarch64", ARM_CPUINFO)).tells == ()


def arm64_root() -> Path:
    root = os.environ.get("PTKIT_ARM64_ROOT")
    if not root or not (Path(root) / "usr/bin/python3").exists() or not (Path(root) / "proc/self").exists():
        pytest.skip("PTKIT_ARM64_ROOT names no arm64 root file system with python3 and /proc (see the docstring)")
    if os.geteuid() != 0 or not shutil.which("chroot"):
        pytest.skip("chroot needs root")
    return Path(root)


def test_arm64_python_under_qemu_finds_itself_emulated_for_real(tmp_path):
    root = arm64_root()
    inside = Path("tmp") / f"ptkit-emulation-{os.getpid()}"
    (root / inside).mkdir(parents=True, exist_ok=True)
    try:
        shutil.copy(emulation.__file__, root / inside / "emulation.py")  # stdlib only: it runs on its own
        environ = {**{k: v for k, v in os.environ.items() if k != emulation.EMULATED_ENV}, "PYTHONPATH": f"/{inside}"}
        code = "import json, emulation; print(json.dumps(emulation.detect().environment()))"
        proc = subprocess.run(["chroot", str(root), "python3", "-c", code], cwd=tmp_path, capture_output=True,
                              text=True, timeout=300, env=environ)
    finally:
        shutil.rmtree(root / inside)
    assert proc.returncode == 0, proc.stderr
    env = json.loads(proc.stdout)
    assert env["machine"] == "aarch64" and env["emulated"] is True
    assert "emulated CPU (qemu-aarch64" in env["emulation"]  # the emulator's own file, named past qemu's fake exe
    if platform.machine() == "x86_64":
        assert "cpuinfo: an x86 CPU" in env["emulation"]


def verify_args(**given) -> argparse.Namespace:
    args = {"quick": False, "expect_cuda": False, "expect_cuda_version": None, "require": [], "strict": False}
    return argparse.Namespace(**{**args, **given})


EMULATED = emulation.Emulation("aarch64", ("the host says so (PTKIT_EMULATED=qemu-aarch64)",), "qemu-aarch64")


def test_on_an_emulated_cpu_the_tutorial_is_a_warn_and_not_measured(monkeypatch):
    calls = []
    monkeypatch.setattr(bench, "tutorial", lambda *args: calls.append(args))
    run = steps.Run(verify_args(), Report(), torch="torch", threads=2, emulation=EMULATED)
    steps._tutorial(run)
    (check,) = run.report.checks
    assert calls == [] and run.report.tutorial is None  # 91 s a multiply under qemu here: not worth minutes
    assert check.status == WARN and check.detail.startswith("not measured, emulated CPU (qemu-aarch64): ")


def test_on_an_emulated_cpu_the_benchmark_measures_small_sizes_compares_with_no_peak_and_warns(torch, monkeypatch):
    real_run = bench.run
    asked, measured = [], []

    def spy(torch_, devices, dtypes, sizes, settings):
        asked.append(sizes)
        cases = real_run(torch_, devices, ["fp32"], [64], bench.Settings(min_run_time=0.02, threads=1))
        measured.extend(cases)
        return [{**case, "peak_tflops": 1.0, "fraction_of_peak": 0.5} for case in cases]  # as a GPU's would

    monkeypatch.setattr(bench, "run", spy)
    run = steps.Run(verify_args(), Report(), torch=torch, threads=1, emulation=EMULATED)
    steps._benchmark(run)
    assert asked == [[64, 128]]  # natively None: the default sizes (test_verify_steps)
    (case,) = run.report.benchmarks
    assert case["peak_tflops"] is None and case["fraction_of_peak"] is None
    assert case["detail"].startswith("emulated CPU (qemu-aarch64): not compared with a peak")
    assert case["tflops"] == measured[0]["tflops"]  # the figure itself is kept
    (check,) = run.report.checks
    assert check.status == WARN and check.detail.startswith("not judged, emulated CPU (qemu-aarch64): best ")
    broken = [{**measured[0], "status": "broken", "tflops": None, "detail": "the timing is broken"}]
    monkeypatch.setattr(bench, "run", lambda *args: broken)
    again = steps.Run(verify_args(), Report(), torch=torch, threads=1, emulation=EMULATED)
    steps._benchmark(again)
    assert again.report.checks[0].status == WARN  # natively a FAIL: under emulation not judged


def test_on_an_emulated_cpu_numerics_are_judged_as_usual(torch, monkeypatch):
    right = torch.matmul
    run = steps.Run(verify_args(), Report(), torch=torch, emulation=EMULATED)
    dict(steps.STEPS)["numerics"](run)
    assert {c.status for c in run.report.checks} == {PASS}
    # A matmul wrong by half in the checked dtypes (the float64 reference right) is still a FAIL.
    monkeypatch.setattr(torch, "matmul", lambda a, b: right(a, b) * (1 if a.dtype == torch.float64 else 1.5))
    failed = steps.Run(verify_args(), Report(), torch=torch, emulation=EMULATED)
    dict(steps.STEPS)["numerics"](failed)
    assert FAIL in {c.status for c in failed.report.checks}


def test_the_report_records_the_machine_and_the_host_word(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # no torch: the run stops after the imports
    monkeypatch.setenv("PTKIT_EMULATED", "qemu-aarch64")
    report = steps.run_verify(verify_args(quick=True), ["verify"])
    assert report.environment["machine"] == platform.machine() and report.environment["emulated"] is True
    assert report.environment["emulation"].startswith("emulated CPU (qemu-aarch64): the host says so")
    assert render_text(report).splitlines()[0].endswith(f"| {platform.machine()} emulated")
