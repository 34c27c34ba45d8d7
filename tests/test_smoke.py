"""PyTorch's binary smoke checks on the real CPU torch: what passes here, what a CPU build skips,
and the judgements (pip versus loaded library, error limits) on real inputs."""

from __future__ import annotations

import importlib.metadata
import math

from ptkit.verify import smoke
from ptkit.verify.results import FAIL, PASS, SKIP, WARN, Report


def test_cpu_smoke_checks_pass_and_gpu_ones_skip(torch):
    report = Report()
    smoke.check_smoke(report, torch, ["cpu"])
    got = {c.name: (c.status, c.detail) for c in report.checks}
    assert list(got) == ["smoke:openmp", "smoke:cpu-capability", "smoke:numpy", "smoke:conv2d:cpu", "smoke:svd:cpu",
                         "smoke:cudnn", "smoke:nccl", "smoke:cuda-error"]
    for name in ("smoke:openmp", "smoke:conv2d:cpu", "smoke:svd:cpu"):
        assert got[name][0] == PASS, got[name]
    assert got["smoke:cpu-capability"][1].endswith(torch.backends.cpu.get_cpu_capability())
    assert got["smoke:cudnn"] == (SKIP, "CPU-only torch build")
    assert got["smoke:nccl"] == (SKIP, "CPU-only torch build")
    assert got["smoke:cuda-error"] == (SKIP, "no usable GPU")


def test_quick_keeps_the_free_checks_and_says_it_left_conv2d_and_svd_out(torch):
    report = Report()
    smoke.check_smoke(report, torch, ["cpu"], quick=True)
    got = {c.name: c.status for c in report.checks}
    assert got["smoke:openmp"] == PASS
    assert got["smoke:conv2d-svd"] == SKIP
    assert "smoke:conv2d:cpu" not in got


def test_conv2d_and_svd_errors_are_small_on_the_cpu(torch):
    assert smoke.conv2d_error(torch, "cpu", torch.float64) < 1e-12
    assert 0 < smoke.conv2d_error(torch, "cpu", torch.float32) < 1e-5
    assert smoke.svd_error(torch, "cpu", torch.float64) < 1e-13


def test_error_verdict_names_each_dtype_over_its_limit_and_nan():
    limits = {"float32": 1e-5, "float64": 1e-12}
    status, detail = smoke.error_verdict({"float32": 2e-5, "float64": math.nan}, limits, "conv2d differs", "ok")
    assert status == FAIL
    assert detail == "conv2d differs: float32 error 2.0e-05 > 1e-05; float64 error nan > 1e-12"
    assert smoke.error_verdict({"float32": 1e-7, "float64": 0.0}, limits, "bad", "ok") == (
        PASS, "ok (relative error float32 1.0e-07, float64 0.0e+00)")


def test_judge_pip_compares_with_the_installed_distribution():
    version = importlib.metadata.version("numpy")
    status, detail = smoke.judge_pip("numpy-lib", version, "numpy")
    assert status == PASS and f"= pip numpy {version}" in detail
    assert smoke.judge_pip("numpy-lib", "0.0.1", "numpy")[0] == FAIL
    assert smoke.judge_pip("NCCL", "2.27.5", "ptkit-no-such-dist") == (
        PASS, "NCCL 2.27.5 (from the system, no ptkit-no-such-dist* pip package)")


def test_svd_check_passes_naming_both_errors_and_fails_a_wrong_decomposition(torch, monkeypatch):
    report = Report()
    smoke.check_svd(report, torch, "cpu")
    check = report.checks[0]
    errors = {name: smoke.svd_error(torch, "cpu", getattr(torch, name)) for name in ("float32", "float64")}
    assert (check.name, check.status) == ("smoke:svd:cpu", PASS)
    assert check.detail == ("linalg.svd reconstructs its input (relative error "
                            f"float32 {errors['float32']:.1e}, float64 {errors['float64']:.1e})")
    assert 0 < errors["float64"] < errors["float32"]  # a real 16x9 decomposition, not an exact toy
    svd = torch.linalg.svd

    def off_by_1e_4(a, full_matrices=True):  # a wrong library: singular values 1e-4 too large
        u, s, vh = svd(a, full_matrices=full_matrices)
        return u, s * (1 + 1e-4), vh

    monkeypatch.setattr(torch.linalg, "svd", off_by_1e_4)
    report = Report()
    smoke.check_svd(report, torch, "cpu")
    assert report.checks[0].status == FAIL
    assert report.checks[0].detail.startswith("U diag(S) Vh != A: float32 error 1.0e-04 > 1e-05; float64 error 1.0e-04")


def test_a_torch_without_the_private_cudnn_module_is_a_skip_not_a_fail():
    """torch._C._cudnn is private (issue 23: a check that cannot tell is a SKIP): a CUDA torch whose
    cuDNN loads but that no longer exposes it must not FAIL the environment."""
    from types import SimpleNamespace

    cudnn_loads = SimpleNamespace(is_available=lambda: True)
    stand_in = SimpleNamespace(__version__="2.99.0", version=SimpleNamespace(cuda="13.0"),
                               backends=SimpleNamespace(cudnn=cudnn_loads), _C=SimpleNamespace())
    report = Report()
    smoke.check_cudnn(report, stand_in)
    assert [(c.status, c.detail) for c in report.checks] == [
        (SKIP, "torch 2.99.0 does not expose cuDNN's compile-time version (torch._C._cudnn)")]


def test_a_cuda_error_probe_that_does_not_finish_in_time_is_a_warning_not_a_fail(monkeypatch):
    """A check that cannot finish under a CPU quota is a WARN that says why (issue 19), not a time-out FAIL:
    the real probe process, given less time than starting Python takes."""
    monkeypatch.setattr(smoke, "CUDA_ERROR_TIMEOUT_S", 0.001)
    report = Report()
    smoke.check_cuda_error(report, ["cpu", "cuda:0"])
    assert [(c.status, c.detail) for c in report.checks] == [
        (WARN, "the probe process did not finish within 0.001 s (a CPU quota or a busy GPU?): not judged")]
