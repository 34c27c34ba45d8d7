"""The GPU paths on this machine's real torch, told that it sees NVIDIA GPUs (their memory is the CPU's)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ptkit.verify import bench, facts, gpu, precision, steps
from ptkit.verify.archs import judge_arch
from ptkit.verify.cli import build_parser
from ptkit.verify.results import FAIL, PASS, WARN, Report, render_text

H100 = SimpleNamespace(name="NVIDIA H100 80GB HBM3", major=9, minor=0, total_memory=80 * 2**30,
                       multi_processor_count=132)


@pytest.fixture
def fake_gpus(torch, monkeypatch):
    """A CUDA 12.8 build looking at two H100s; records the device every torch.cuda.synchronize waits for."""
    synced: list = []
    real_randn = torch.randn
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: H100)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: H100.name)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: (9, 0))
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: synced.append(device))
    monkeypatch.setattr(torch, "randn", lambda *a, device=None, **k: real_randn(*a, **k))
    monkeypatch.setattr(torch._C, "_cuda_getArchFlags", lambda: "sm_80 sm_86 sm_90 compute_90", raising=False)
    monkeypatch.setattr(gpu, "driver_version", lambda: "570.124.06")
    return synced


def test_gpu_present_path_reports_devices_driver_and_arch(torch, fake_gpus):
    report = Report()
    devices = gpu.check_cuda(report, torch, expect_cuda=True)
    status = {c.name: (c.status, c.detail) for c in report.checks}
    assert devices == ["cuda:0", "cuda:1"]
    assert status["driver"] == (PASS, "driver 570.124.06 >= 570.26, the minimum for CUDA 12.8")
    assert status["arch:cuda:1"][0] == PASS and status["cuda"] == (PASS, "2 device(s): NVIDIA H100 80GB HBM3")
    assert report.devices[1] == {"index": 1, "name": "NVIDIA H100 80GB HBM3", "capability": "9.0",
                                 "memory_gib": 80.0, "sm_count": 132}
    assert precision.supported_dtypes(torch, "cuda:0") == (["fp32", "tf32", "fp16", "bf16"], {})
    assert precision.native_dtypes(torch, "cuda:1") == ["fp32", "tf32", "fp16", "bf16"]


def test_timing_cuda_1_synchronizes_cuda_1(torch, fake_gpus):
    result = bench.measure(torch, "cuda:1", "fp32", 64, bench.Settings(min_run_time=0.01, min_repeats=3))
    assert result["repeats"] >= 3 and fake_gpus and set(fake_gpus) == {"cuda:1"}
    fake_gpus.clear()
    bench.tutorial(torch, "cuda:0", quick=True)
    assert fake_gpus and set(fake_gpus) == {"cuda:0"}


def test_a_device_whose_properties_raise_is_a_fail_and_the_run_goes_on(torch, fake_gpus, monkeypatch):
    def ecc(index):
        raise RuntimeError(f"CUDA error: uncorrectable ECC error encountered (device {index})")

    monkeypatch.setattr(torch.cuda, "get_device_properties", ecc)
    report = steps.run_verify(build_parser().parse_args(["verify", "--quick"]))
    checks = {c.name: c for c in report.checks}
    assert checks["arch:cuda:1"].status == FAIL
    assert checks["arch:cuda:1"].detail == "RuntimeError: CUDA error: uncorrectable ECC error encountered (device 1)"
    assert checks["cuda"].status == FAIL and "2 of 2 device(s) unusable" in checks["cuda"].detail
    assert checks["numerics:cpu:fp32"].status == PASS and checks["tutorial"].status in (PASS, WARN)
    assert not report.ok and "arch:cuda:0" in render_text(report)


def test_gpu_figures_are_judged_against_the_datasheet(torch, fake_gpus):
    n = 8192
    healthy = bench.summarize(torch, "cuda:0", "bf16", n, [2 * n**3 / 798e12] * 9, 1, 2)
    assert healthy["status"] == "ok" and healthy["peak_tflops"] == 989.4 and healthy["warnings"] == []
    assert healthy["fraction_of_peak"] == pytest.approx(798 / 989.4)
    # The tutorial's unsynchronized "0.00035 ms" for n=1000 on the same GPU.
    broken = bench.summarize(torch, "cuda:0", "fp32", 1000, [0.35e-6] * 9, 10, 2)
    assert broken["status"] == "broken" and broken["tflops"] is None
    assert "exceeds the datasheet peak of 67 TFLOP/s" in broken["detail"]


def test_noisy_figures_warn_naming_the_iqr(torch, fake_gpus):
    n = 4096
    steady = 2 * n**3 / 700e12
    noisy = bench.summarize(torch, "cuda:0", "bf16", n, [steady, steady * 1.5] * 5, 1, 2)
    assert noisy["status"] == "ok" and "IQR" in noisy["detail"] and "(> 10%)" in noisy["detail"]
    assert bench.verdict([noisy])[0] == WARN
    quiet = bench.summarize(torch, "cuda:0", "bf16", n, [steady * (1 + i / 1000) for i in range(9)], 1, 2)
    assert quiet["warnings"] == [] and bench.verdict([quiet])[0] == PASS


def test_gpu_text_report_names_the_device(torch, fake_gpus):
    report = Report()
    gpu.check_cuda(report, torch, expect_cuda=False)
    report.tutorial = {"device": "cuda", "n": 1000, "median_ms": 0.021, "repeats": 10}
    text = render_text(report)
    assert "device 0: NVIDIA H100 80GB HBM3 sm_90 80.0 GiB, 132 SMs" in text
    assert "Device selected : CUDA" in text and "Time taken to multiply two matrices on a GPU: 0.021 ms" in text


@pytest.mark.parametrize(("name", "fp32"), [
    ("NVIDIA L4", 30.3), ("NVIDIA L40", 90.5), ("NVIDIA L40S", 91.6),
    ("NVIDIA A10", 31.2), ("NVIDIA A10G", None), ("NVIDIA A100-SXM4-80GB", 19.5),
    ("NVIDIA GeForce RTX 3090", 35.6), ("NVIDIA GeForce RTX 3090 Ti", 40.0),
    ("NVIDIA H100 80GB HBM3", 67.0), ("NVIDIA H100 PCIe", 51.0), ("NVIDIA H100 NVL", 60.0), ("NVIDIA H200", 67.0),
    ("  nvidia   h100 pcie ", 51.0), ("NVIDIA GeForce GTX 1080", None),
])
def test_gpu_peaks_match_the_exact_model(name, fp32):
    peaks = facts.gpu_peaks(name)
    assert (peaks or {}).get("fp32") == fp32


def test_colliding_names_get_their_own_rows():
    assert facts.gpu_peaks("NVIDIA L40")["bf16"] == 181.05 and facts.gpu_peaks("NVIDIA L40S")["bf16"] == 362.0
    assert facts.gpu_peaks("NVIDIA H100 PCIe")["bf16"] == 756.0 and facts.gpu_peaks("NVIDIA H200")["bf16"] == 989.0
    assert facts.gpu_peaks("NVIDIA GeForce RTX 3090 Ti").get("bf16") is None  # no published tensor figure


def test_tutorial_claim_is_broken_on_every_gpu():
    # The tutorial's claim: 2*1000^3 FLOP in 0.00035 ms = 5.7 PFLOP/s, above every GPU's peak.
    tutorial_tflops = 2 * 1000**3 / 0.35e-6 / 1e12
    status, detail = bench.judge(tutorial_tflops, 989.4, 989.4)
    assert status == "broken" and "datasheet peak" in detail
    assert bench.judge(tutorial_tflops, None, facts.UNKNOWN_GPU_CEILING_TFLOPS)[0] == "broken"
    assert bench.judge(798.0, 989.4, 989.4)[0] == "ok"


def test_old_driver_fails_naming_the_minimum(torch, monkeypatch):
    monkeypatch.setattr(gpu, "driver_version", lambda: "535.104.05")
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    report = Report()
    gpu.check_cuda(report, torch, expect_cuda=False)
    driver = next(c for c in report.checks if c.name == "driver")
    assert driver.status == FAIL
    assert "535.104.05" in driver.detail and "570.26" in driver.detail and "CUDA 12.8" in driver.detail


def test_driver_judgement_table():
    assert gpu.judge_driver("13.0", "580.95.05", True)[0] == PASS
    assert gpu.judge_driver("11.8", "470.57.02", True)[0] == WARN  # minor-version compatibility
    assert gpu.judge_driver("11.8", "470.57.02", False)[0] == FAIL
    assert gpu.judge_driver("12.4", "510.47.03", True)[0] == FAIL  # below the 12.x floor
    assert gpu.judge_driver("99.1", "999", True)[0] == WARN


def test_arch_judgement():
    archs = ["sm_80", "sm_86", "sm_90", "compute_90"]
    assert judge_arch("9.0", archs)[0] == PASS
    assert judge_arch("8.9", archs) == (PASS, "sm_89 runs sm_86 SASS natively (same major 8, 8.6 <= 8.9)")
    assert judge_arch("7.0", archs)[0] == FAIL
    assert judge_arch("10.0", archs)[0] == WARN  # PTX JIT from compute_90
    assert "no compiled arch runs on sm_70" in judge_arch("7.0", archs)[1]


def test_volta_has_no_tf32_and_emulated_bf16_is_not_native(torch, fake_gpus, monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: (7, 5))
    usable, refused = precision.supported_dtypes(torch, "cuda:0")
    assert usable == ["fp32", "fp16", "bf16"] and refused == {"tf32": "sm_75 has no TF32 tensor cores"}
    assert precision.native_dtypes(torch, "cuda:0") == ["fp32", "fp16"]
