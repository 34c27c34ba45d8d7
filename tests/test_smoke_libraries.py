"""The smoke checks a CPU-only torch never reaches here, on stand-ins: cuDNN and NCCL against the pip packages
(real dist-info folders on sys.path), the device-side assert probe run for real in a subprocess whose `torch` is a
stand-in module, and the numpy and conv2d verdicts."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from ptkit.verify import smoke
from ptkit.verify.results import FAIL, PASS, SKIP, WARN, Report
from tests.utils.stand_ins import installed


def library_torch(compiled=(9, 10, 2), loaded=(9, 10, 2), cudnn=True, nccl=(2, 27, 3)) -> SimpleNamespace:
    c = SimpleNamespace(_cudnn=SimpleNamespace(getCompileVersion=lambda: compiled, getRuntimeVersion=lambda: loaded))
    if nccl is not None:
        c._nccl_version = lambda: nccl
    return SimpleNamespace(version=SimpleNamespace(cuda="12.8"), _C=c,
                           backends=SimpleNamespace(cudnn=SimpleNamespace(is_available=lambda: cudnn)),
                           cuda=SimpleNamespace(nccl=SimpleNamespace(version=lambda: nccl)))


def only(report: Report) -> tuple[str, str, str]:
    (check,) = report.checks
    return check.name, check.status, check.detail


def beside_pip(site: Path, check, torch: SimpleNamespace, pip: tuple[str, str] | None) -> tuple[str, str, str]:
    """Run a library check with `pip` = (name, version) installed in `site`, or no such package."""
    if pip:
        installed(site, *pip)
    report = Report()
    check(report, torch)
    return only(report)


@pytest.fixture
def site(tmp_path, monkeypatch) -> Path:
    """A folder on sys.path where the test installs pip packages (importlib.metadata finds them there)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


@pytest.mark.parametrize(("torch", "pip", "expected"), [
    (library_torch(), ("NVIDIA_cudnn_cu12", "9.10.2.21"),
     (PASS, "cuDNN 9.10.2 loaded = pip nvidia-cudnn-cu12 9.10.2.21")),
    (library_torch(), ("nvidia-cudnn-cu12", "9.10.2"), (PASS, "cuDNN 9.10.2 loaded = pip nvidia-cudnn-cu12 9.10.2")),
    (library_torch(), None, (PASS, "cuDNN 9.10.2 (from the system, no nvidia-cudnn* pip package)")),
    (library_torch(), ("nvidia-cudnn-cu12", "9.1.0.70"),
     (FAIL, "torch loaded cuDNN 9.10.2, but pip has nvidia-cudnn-cu12 9.1.0.70: reinstall the pinned one")),
    (library_torch(compiled=(9, 1, 0), loaded=(9, 10, 2)), None,
     (WARN, "cuDNN 9.10.2 loaded, torch was compiled with 9.1.0")),
    (library_torch(compiled=(9, 1, 0), loaded=(8, 9, 7)), None,
     (FAIL, "cuDNN 8.9.7 loaded, torch was compiled with 9.1.0")),
    (library_torch(cudnn=False), None, (FAIL, "torch cannot load cuDNN")),
])
def test_cudnn_loaded_compiled_and_pip(site, torch, pip, expected):
    assert beside_pip(site, smoke.check_cudnn, torch, pip) == ("smoke:cudnn", *expected)


def test_a_version_prefix_is_not_a_match(site):
    installed(site, "nvidia-cudnn-cu12", "9.10.20")  # 9.10.2 loaded: 9.10.20 is another release
    assert smoke.judge_pip("cuDNN", "9.10.2", "nvidia-cudnn")[0] == FAIL


@pytest.mark.parametrize(("torch", "pip", "expected"), [
    (library_torch(), ("nvidia-nccl-cu12", "2.27.3"), (PASS, "NCCL 2.27.3 loaded = pip nvidia-nccl-cu12 2.27.3")),
    (library_torch(nccl=2708), None, (PASS, "NCCL 2708 (from the system, no nvidia-nccl* pip package)")),
    (library_torch(), ("nvidia-nccl-cu13", "2.28.9"),
     (FAIL, "torch loaded NCCL 2.27.3, but pip has nvidia-nccl-cu13 2.28.9: reinstall the pinned one")),
    (library_torch(nccl=None), None, (SKIP, "torch was built without NCCL")),
])
def test_nccl_loaded_and_pip(site, torch, pip, expected):
    assert beside_pip(site, smoke.check_nccl, torch, pip) == ("smoke:nccl", *expected)


PROBE_TORCH = """\
import sys
class cuda:
    @staticmethod
    def synchronize():
        pass
def tensor(value, device=None):
    return value
def _assert_async(value):
{body}
"""


@pytest.mark.parametrize(("body", "expected"), [
    ("    raise RuntimeError('CUDA error: device-side assert triggered\\n'\n"
     "                       'Compile with `TORCH_USE_CUDA_DSA` to enable device-side assertions.')",
     (PASS, "a device-side assert raised RuntimeError (CUDA error: device-side assert triggered Compile with "
            "`TORCH_USE_CUDA_DS...)")),
    ("    pass", (FAIL, "a device-side assert was not raised as a CUDA RuntimeError (exit 0: no output)")),
    ("    raise RuntimeError('an assert raised on the host')",
     (FAIL, "a device-side assert was not raised as a CUDA RuntimeError (exit 0: no output)")),
    ("    sys.stderr.write('loading\\nSegmentation fault in libcuda\\n'); sys.exit(139)",
     (FAIL, "a device-side assert was not raised as a CUDA RuntimeError (exit 139: Segmentation fault in libcuda)")),
])
def test_the_device_side_assert_probe_runs_for_real(tmp_path, monkeypatch, body, expected):
    (tmp_path / "torch.py").write_text(PROBE_TORCH.format(body=body))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # the probe's `import torch` finds the stand-in first
    report = Report()
    smoke.check_cuda_error(report, ["cpu", "cuda:0"])
    assert only(report) == ("smoke:cuda-error", *expected)


def test_the_probe_is_skipped_without_a_gpu_whatever_the_list_holds():
    report = Report()
    smoke.check_cuda_error(report, ["cpu", "mps"])
    assert only(report) == ("smoke:cuda-error", SKIP, "no usable GPU")


def test_numpy_round_trip_names_numpy_and_fails_a_copy(torch, monkeypatch):
    import numpy as np

    report = Report()
    smoke.check_numpy(report, torch)
    assert only(report) == ("smoke:numpy", PASS, f"numpy {np.__version__} <-> torch round trip shares memory")
    from_numpy = torch.from_numpy
    monkeypatch.setattr(torch, "from_numpy", lambda array: from_numpy(array.copy()))  # a build that copies
    report = Report()
    smoke.check_numpy(report, torch)
    assert only(report) == ("smoke:numpy", FAIL,
                            "torch <-> numpy round trip is wrong: [[0.0, 2.0, 4.0], [6.0, 8.0, 10.0]]")


def test_numpy_missing_is_a_skip(torch, monkeypatch):
    monkeypatch.setitem(sys.modules, "numpy", None)  # `import numpy` raises ImportError
    report = Report()
    smoke.check_numpy(report, torch)
    assert only(report) == ("smoke:numpy", SKIP, "numpy not installed")


@pytest.mark.parametrize(("device", "errors", "expected"), [
    ("cpu", {"float32": 2e-5, "float64": 1e-13},
     (FAIL, "conv2d differs from the reference: float32 error 2.0e-05 > 1e-05")),
    ("cpu", {"float32": 1e-6, "float64": 2e-12},
     (FAIL, "conv2d differs from the reference: float64 error 2.0e-12 > 1e-12")),
    ("cuda:0", {"float32": 2e-5, "float64": 1e-13},  # TF32 convolutions: the GPU's fp32 limit is 5e-3
     (PASS, "strided, dilated conv2d = reference (relative error float32 2.0e-05, float64 1.0e-13)")),
    ("cuda:0", {"float32": 6e-3, "float64": 1e-13},
     (FAIL, "conv2d differs from the reference: float32 error 6.0e-03 > 5e-03")),
])
def test_conv2d_limits_per_device(torch, monkeypatch, device, errors, expected):
    monkeypatch.setattr(smoke, "conv2d_error", lambda _torch, _device, dtype: errors[str(dtype).split(".")[-1]])
    report = Report()
    smoke.check_conv2d(report, torch, device)
    assert only(report) == (f"smoke:conv2d:{device}", *expected)


def test_conv2d_error_compares_with_a_reference_that_can_disagree(torch, monkeypatch):
    conv2d = torch.nn.functional.conv2d
    monkeypatch.setattr(torch.nn.functional, "conv2d", lambda x, w, **opts: conv2d(x, w, **opts) * 1.001)
    assert smoke.conv2d_error(torch, "cpu", torch.float64) == pytest.approx(1e-3, rel=1e-6)
