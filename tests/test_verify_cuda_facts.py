"""The CUDA-only facts a CPU torch never reaches here: version decoding on stand-in torch objects, the driver
read through a real `nvidia-smi` program on PATH (a script), and the causes that keep a GPU away."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from types import SimpleNamespace

import pytest

from ptkit.verify import gpu, imports
from ptkit.verify.results import FAIL, PASS, Report
from tests.utils.stand_ins import cuda_torch, raiser


def fake_torch(cuda: str | None = "13.0", cudnn=None, nccl=None, init=None) -> SimpleNamespace:
    """The shared stand-in, without cuDNN or NCCL unless given."""
    return cuda_torch(cuda, cudnn_version=cudnn, nccl=nccl, init=init)


@pytest.mark.parametrize(("raw", "text"), [(91002, "9.10.2"), (90100, "9.1.0"), (8907, "8.9.7"), (7605, "7.6.5"),
                                           (10000, "1.0.0"), (0, None), (None, None)])
def test_cudnn_versions_decode_both_numbering_schemes(raw, text):
    assert imports.cudnn_version(fake_torch(cudnn=raw)) == text


def test_a_cudnn_that_cannot_load_is_none():
    broken = raiser(OSError("libcudnn.so.9: cannot open shared object file"))
    assert imports.cudnn_version(fake_torch(cudnn=broken)) is None


@pytest.mark.parametrize(("raw", "text"), [((2, 27, 3), "2.27.3"), (2708, "2708")])
def test_nccl_versions(raw, text):
    assert imports.nccl_version(fake_torch(nccl=raw)) == text


def test_a_build_without_nccl_is_none():
    assert imports.nccl_version(fake_torch(nccl=raiser(AttributeError("no nccl")))) is None


@pytest.mark.parametrize(("built", "expected", "status", "detail"), [
    ("13.0", "13.0", PASS, "torch built for CUDA 13.0"),
    ("12.8.1", "12.8", PASS, "torch built for CUDA 12.8.1"),
    ("12.8", "12.6", FAIL, "expected torch built for CUDA 12.6, got CUDA 12.8 (torch 2.14.1)"),
    (None, "13.0", FAIL, "expected torch built for CUDA 13.0, got a CPU-only build (torch 2.14.1)"),
])
def test_expected_cuda_version(built, expected, status, detail):
    report = Report()
    imports.check_cuda_version(report, fake_torch(cuda=built), expected)
    assert [(c.name, c.status, c.detail) for c in report.checks] == [("expect-cuda-version", status, detail)]


def loads(library: str) -> bool:
    try:
        gpu.ctypes.CDLL(library)
    except OSError:
        return False
    return True


def fake_nvidia_smi(folder: Path, monkeypatch: pytest.MonkeyPatch, out: str, code: int = 0) -> None:
    """An `nvidia-smi` that answers only the query the verifier makes (any other arguments: exit 9)."""
    script = folder / "nvidia-smi"
    script.write_text("#!/bin/sh\n"
                      '[ "$*" = "--query-gpu=driver_version --format=csv,noheader" ] || exit 9\n'
                      f"printf '{out}'\nexit {code}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


@pytest.mark.parametrize(("out", "code", "version"), [
    ("550.54.15\\n550.54.15\\n", 0, "550.54.15"),  # one line per GPU: the first
    ("", 0, None),
    ("550.54.15\\n", 3, None),  # a failing nvidia-smi's output is not believed
])
def test_driver_version_from_nvidia_smi(tmp_path, monkeypatch, out, code, version):
    if loads("libnvidia-ml.so.1"):
        pytest.skip("this host has an NVIDIA driver: NVML answers first")
    fake_nvidia_smi(tmp_path, monkeypatch, out, code)
    assert gpu.driver_version() == version


def test_no_driver_and_no_nvidia_smi_is_none(tmp_path, monkeypatch):
    if loads("libnvidia-ml.so.1"):
        pytest.skip("this host has an NVIDIA driver: NVML answers first")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert gpu.driver_version() is None


def test_a_cpu_only_build_is_named_as_the_cause():
    assert gpu.cuda_unusable_reason(fake_torch(cuda=None)) == "torch 2.14.1 is a CPU-only build"


def test_a_missing_driver_library_is_named_with_the_docker_fix():
    if loads("libcuda.so.1"):
        pytest.skip("this host has the NVIDIA driver library")
    assert gpu.cuda_unusable_reason(fake_torch()) == (
        "no NVIDIA driver library (libcuda.so.1) in this environment: in Docker, run with --gpus all and the "
        "NVIDIA container toolkit")


@pytest.mark.parametrize(("nodes", "reason"), [
    ([], "driver library present but no GPU device nodes (/dev/nvidia*)"),
    (["/dev/nvidia0"], "CUDA initialisation failed: RuntimeError: CUDA driver initialization failed"),
])
def test_a_driver_without_devices_or_an_init_failure_is_named(monkeypatch, nodes, reason):
    # No GPU here: the driver library and the device nodes are what this host cannot provide.
    monkeypatch.setattr(gpu.ctypes, "CDLL", lambda name: SimpleNamespace())
    monkeypatch.setattr(gpu.glob, "glob", lambda pattern: nodes if pattern == "/dev/nvidia[0-9]*" else [])
    assert gpu.cuda_unusable_reason(fake_torch()) == reason


def test_a_gpu_that_initialises_but_is_unavailable_says_so(monkeypatch):
    monkeypatch.setattr(gpu.ctypes, "CDLL", lambda name: SimpleNamespace())
    monkeypatch.setattr(gpu.glob, "glob", lambda pattern: ["/dev/nvidia0"])
    assert gpu.cuda_unusable_reason(fake_torch(init=lambda: None)) == "torch.cuda.is_available() is False"
