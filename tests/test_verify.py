"""The verifier on this machine's real torch, and with faults injected into it."""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time

import pytest

from ptkit.verify import bench, checks, cli, facts
from ptkit.verify.results import FAIL, PASS, WARN, Report, describe, write_json_atomic
from tests.utils.ptkit_cli import ROOT, run_ptkit

SRC = str(ROOT / "src")


def verify_args(*extra: str) -> argparse.Namespace:
    return cli.build_parser().parse_args(["verify", *extra])


@pytest.fixture(scope="module")
def quick_report(torch):
    proc = run_ptkit("verify", "--json", "--quick")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_json_report_follows_the_contract(quick_report):
    r = quick_report
    assert r["schema"] == "ptkit.verify/1" and r["ok"] is True
    assert set(r["environment"]) >= {"python", "platform", "torch", "cuda", "cudnn", "nccl", "driver"}
    for check in r["checks"]:
        assert set(check) == {"name", "status", "detail", "seconds"}
        assert check["status"] in ("pass", "warn", "fail", "skip")
    status = {c["name"]: c["status"] for c in r["checks"]}
    assert status["numerics:cpu:fp32"] == "pass" and status["numerics:cpu:bf16"] == "pass"
    assert status["autograd:cpu"] == "pass" and status["dataloader"] == "pass"
    assert status["import:torch"] == "pass" and r["benchmarks"] == []


def test_default_run_prints_table_tutorial_lines_and_benchmark(torch):
    proc = run_ptkit("verify")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Device selected : CPU" in proc.stdout
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("Time taken to multiply two matrices on a CPU:"))
    ms = float(line.split(":")[1].split()[0])
    assert 0.01 < ms < 10_000  # a real measurement, not the tutorial's 0.00035 ms
    assert "TFLOP/s" in proc.stdout and "numerics:cpu:fp32" in proc.stdout


def test_report_file_is_written(torch, tmp_path):
    path = tmp_path / "sub" / "r.json"
    assert run_ptkit("verify", "--quick", "--report", str(path)).returncode == 0
    assert json.loads(path.read_text())["ok"] is True


def test_expect_cuda_fails_with_one_line_reason(torch):
    proc = run_ptkit("verify", "--quick", "--expect-cuda", "--json")
    assert proc.returncode == 1
    cuda = next(c for c in json.loads(proc.stdout)["checks"] if c["name"] == "cuda")
    assert cuda["status"] == "fail" and "CPU-only build" in cuda["detail"] and "\n" not in cuda["detail"]


def test_expect_cuda_version_against_a_cpu_build(torch):
    proc = run_ptkit("verify", "--quick", "--expect-cuda-version", "13.0", "--json")
    check = next(c for c in json.loads(proc.stdout)["checks"] if c["name"] == "expect-cuda-version")
    assert proc.returncode == 1 and "expected torch built for CUDA 13.0, got a CPU-only build" in check["detail"]


def test_usage_error_exits_2():
    proc = run_ptkit("verify", "--bogus")
    assert proc.returncode == 2 and "unrecognized arguments: --bogus" in proc.stderr


def test_corrupted_matmul_fails_numerics(torch, monkeypatch, capsys):
    real = torch.matmul

    def corrupt(a, b):
        out = real(a, b)
        return out if out.dtype == torch.float64 else out + 0.01 * out.abs().max()

    monkeypatch.setattr(torch, "matmul", corrupt)
    code = cli.verify_main(verify_args("--quick"))
    assert code == 1
    assert "FAIL    numerics:cpu:fp32" in capsys.readouterr().out


def test_old_driver_fails_naming_the_minimum(torch, monkeypatch):
    monkeypatch.setattr(checks, "driver_version", lambda: "535.104.05")
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    report = Report()
    checks.check_cuda(report, torch, expect_cuda=False)
    driver = next(c for c in report.checks if c.name == "driver")
    assert driver.status == FAIL
    assert "535.104.05" in driver.detail and "570.26" in driver.detail and "CUDA 12.8" in driver.detail


def test_driver_judgement_table():
    assert checks.judge_driver("13.0", "580.95.05", True)[0] == PASS
    assert checks.judge_driver("11.8", "470.57.02", True)[0] == WARN  # minor-version compatibility
    assert checks.judge_driver("11.8", "470.57.02", False)[0] == FAIL
    assert checks.judge_driver("12.4", "510.47.03", True)[0] == FAIL  # below the 12.x floor
    assert checks.judge_driver("99.1", "999", True)[0] == WARN


def test_arch_judgement():
    archs = ["sm_80", "sm_86", "sm_90", "compute_90"]
    assert checks.judge_arch("9.0", archs)[0] == PASS
    assert checks.judge_arch("7.0", archs)[0] == FAIL
    assert checks.judge_arch("10.0", archs)[0] == WARN  # PTX JIT from compute_90
    assert "sm_70 is not in torch's compiled arch list" in checks.judge_arch("7.0", archs)[1]


def make_package(root, name: str, body: str, version: str = "0.28.0") -> None:
    (root / name).mkdir()
    (root / name / "__init__.py").write_text(body)
    dist = root / f"{name}-{version}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


def test_package_that_fails_to_import_is_a_fail_with_its_cause(torch, tmp_path):
    # The real failure of PyPI's torchvision beside torch+cpu, reproduced by a stand-in package.
    make_package(tmp_path, "torchvision", 'raise RuntimeError("operator torchvision::nms does not exist")')
    env = {"PYTHONPATH": f"{tmp_path}{os.pathsep}{SRC}"}
    proc = run_ptkit("verify", "--quick", "--json", env=env)
    check = next(c for c in json.loads(proc.stdout)["checks"] if c["name"] == "import:torchvision")
    assert proc.returncode == 1 and check["status"] == "fail"
    assert check["detail"] == ("torchvision 0.28.0 fails to import: RuntimeError: operator torchvision::nms "
                               "does not exist")


def test_required_package_missing_is_a_fail(torch):
    proc = run_ptkit("verify", "--quick", "--json", "--require", "no_such_pkg_xyz")
    check = next(c for c in json.loads(proc.stdout)["checks"] if c["name"] == "import:no_such_pkg_xyz")
    assert proc.returncode == 1 and check["detail"] == "no_such_pkg_xyz is not installed (required)"


def test_torch_missing_gives_a_fail_report_not_a_traceback():
    # -S: no site-packages, so no torch; the verifier itself needs only the standard library.
    import subprocess

    proc = subprocess.run([sys.executable, "-S", "-m", "ptkit", "verify", "--json"], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": SRC}, cwd=ROOT)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is False
    first = report["checks"][0]
    assert (first["name"], first["status"]) == ("import:torch", "fail")
    assert first["detail"] == "torch is not installed (required)"


def test_impossibly_fast_timer_is_reported_as_broken_timing(torch):
    fake = lambda: time.perf_counter() / 1e6  # noqa: E731 - a clock a million times too slow
    settings = bench.Settings(min_run_time=0.05, min_repeats=3, threads=1, timer=fake)
    result = bench.measure(torch, "cpu", "fp32", 256, settings)
    assert result["status"] == "broken" and result["tflops"] is None and result["fraction_of_peak"] is None
    assert "exceeds the physical ceiling" in result["detail"]


def test_real_timer_gives_a_plausible_figure(torch):
    settings = bench.Settings(min_run_time=0.1, threads=checks.usable_cpus())
    result = bench.measure(torch, "cpu", "fp32", 512, settings)
    assert result["status"] == "ok" and result["repeats"] >= 7
    assert 1e-4 < result["tflops"] < facts.cpu_ceiling_tflops(checks.usable_cpus(), "fp32")
    assert result["iqr_s"] >= 0


def test_gpu_peak_lookup_and_broken_judgement():
    assert facts.gpu_peaks("NVIDIA H100 80GB HBM3")["bf16"] == 989.4
    assert facts.gpu_peaks("NVIDIA H100 PCIe")["bf16"] == 756.0
    assert facts.gpu_peaks("NVIDIA GeForce GTX 1080") is None
    # The tutorial's claim: 2*1000^3 FLOP in 0.00035 ms = 5.7 PFLOP/s, above every GPU's peak.
    tutorial_tflops = 2 * 1000**3 / 0.35e-6 / 1e12
    status, detail = bench.judge(tutorial_tflops, 989.4, 989.4)
    assert status == "broken" and "datasheet peak" in detail
    assert bench.judge(798.0, 989.4, 989.4)[0] == "ok"


def test_compare_naive_prints_both_figures(torch):
    proc = run_ptkit("bench", "--size", "256", "--dtype", "fp32", "--min-time", "0.05", "--compare-naive")
    assert proc.returncode == 0, proc.stderr
    assert "correct (warm-up, synchronized, median)" in proc.stdout and "tutorial as written" in proc.stdout


def test_bench_json_contract(torch):
    proc = run_ptkit("bench", "--size", "128", "--dtype", "fp32", "--min-time", "0.05", "--json")
    entry = json.loads(proc.stdout)["benchmarks"][0]
    assert set(entry) >= {"device", "dtype", "n", "median_s", "iqr_s", "tflops", "peak_tflops", "fraction_of_peak"}
    assert entry["peak_tflops"] is None and entry["n"] == 128


def test_bench_on_a_missing_gpu_is_one_line(torch):
    proc = run_ptkit("bench", "--device", "cuda")
    assert proc.returncode == 1 and "no usable GPU" in proc.stderr and "Traceback" not in proc.stderr


def test_describe_prefers_the_real_cause():
    exc = ImportError("IMPORTANT: PLEASE READ THIS\n\nblah\nOriginal error was: libfoo.so: bad ELF")
    assert describe(exc) == "ImportError: Original error was: libfoo.so: bad ELF"


def test_atomic_write_leaves_no_partial_file(tmp_path):
    path = tmp_path / "r.json"
    write_json_atomic({"a": 1}, str(path))
    with pytest.raises(TypeError):
        write_json_atomic({"a": object()}, str(path))
    assert json.loads(path.read_text()) == {"a": 1} and sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_small_shm_warns(monkeypatch):
    class Small:
        f_frsize, f_blocks = 4096, 16384  # 64 MiB, Docker's default

    monkeypatch.setattr(checks.os, "statvfs", lambda path: Small())
    report = Report()
    checks.check_shm(report)
    assert report.checks[0].status == WARN and "64 MiB" in report.checks[0].detail


def test_usable_cpus_respects_affinity():
    assert 1 <= checks.usable_cpus() <= len(os.sched_getaffinity(0))


@pytest.fixture
def fake_h100(torch, monkeypatch):
    """This machine's real torch, told that it is a CUDA 12.8 build looking at one H100."""
    from types import SimpleNamespace

    props = SimpleNamespace(name="NVIDIA H100 80GB HBM3", major=9, minor=0, total_memory=80 * 2**30,
                            multi_processor_count=132)
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: props)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: props.name)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: (9, 0))
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    monkeypatch.setattr(torch._C, "_cuda_getArchFlags", lambda: "sm_80 sm_86 sm_90 compute_90", raising=False)
    monkeypatch.setattr(checks, "driver_version", lambda: "570.124.06")
    return props


def test_gpu_present_path_reports_devices_driver_and_arch(torch, fake_h100):
    report = Report()
    devices = checks.check_cuda(report, torch, expect_cuda=True)
    status = {c.name: (c.status, c.detail) for c in report.checks}
    assert devices == ["cuda:0"]
    assert status["driver"] == (PASS, "driver 570.124.06 >= 570.26, the minimum for CUDA 12.8")
    assert status["arch:cuda:0"][0] == PASS and status["cuda"] == (PASS, "1 device(s): NVIDIA H100 80GB HBM3")
    assert report.devices[0] == {"index": 0, "name": "NVIDIA H100 80GB HBM3", "capability": "9.0",
                                 "memory_gib": 80.0, "sm_count": 132}
    assert checks.numerics_dtypes(torch, "cuda:0") == ["fp32", "tf32", "fp16", "bf16"]
    assert bench.device_dtypes(torch, "cuda:0") == ["fp32", "tf32", "fp16", "bf16"]


def test_gpu_figures_are_judged_against_the_datasheet(torch, fake_h100):
    n = 8192
    healthy = bench.summarize(torch, "cuda:0", "bf16", n, [2 * n**3 / 798e12] * 9, 1, 2)
    assert healthy["status"] == "ok" and healthy["peak_tflops"] == 989.4
    assert healthy["fraction_of_peak"] == pytest.approx(798 / 989.4)
    # The tutorial's unsynchronized "0.00035 ms" for n=1000 on the same GPU.
    broken = bench.summarize(torch, "cuda:0", "fp32", 1000, [0.35e-6] * 9, 10, 2)
    assert broken["status"] == "broken" and broken["tflops"] is None
    assert "exceeds the datasheet peak of 67 TFLOP/s" in broken["detail"]


def test_gpu_text_report_names_the_device(torch, fake_h100):
    from ptkit.verify.results import render_text

    report = Report(environment=checks.environment())
    checks.check_cuda(report, torch, expect_cuda=False)
    report.tutorial = {"device": "cuda", "n": 1000, "median_ms": 0.021, "repeats": 10}
    text = render_text(report)
    assert "device 0: NVIDIA H100 80GB HBM3 sm_90 80.0 GiB, 132 SMs" in text
    assert "Device selected : CUDA" in text and "Time taken to multiply two matrices on a GPU: 0.021 ms" in text


OLD_PYTHONS = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.[89].*/bin/python")))


@pytest.mark.parametrize("python", OLD_PYTHONS or [pytest.param(None, marks=pytest.mark.skip("no 3.8/3.9 here"))])
def test_the_copied_verifier_runs_on_older_pythons(python, tmp_path):
    """What `verify --image` injects must import on the Pythons of older vendor images."""
    import shutil
    import subprocess

    shutil.copytree(ROOT / "src" / "ptkit" / "verify", tmp_path / "ptkit_verify")
    proc = subprocess.run([python, "-S", "-m", "ptkit_verify", "verify", "--json"], capture_output=True, text=True,
                          env={"PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert json.loads(proc.stdout)["checks"][0]["detail"] == "torch is not installed (required)"
