"""compile:cpp-extension and compile:cuda-extension: a real C++ extension built against the host's torch and
g++, the CUDA check's SKIP and FAIL paths with a stand-in nvcc (a script printing nvcc's version line), and
the real CUDA build where this host has a CUDA torch with nvcc (CUDA_HOME)."""

from __future__ import annotations

import os
import stat
import tempfile
import types

import pytest

from ptkit.verify import extension
from ptkit.verify.results import FAIL, PASS, SKIP, Report

torch = pytest.importorskip("torch")


def checks(report: Report) -> dict[str, tuple[str, str]]:
    return {c.name: (c.status, c.detail) for c in report.checks}


def stand_in_nvcc(tmp_path, release: str) -> str:
    """A CUDA_HOME whose bin/nvcc prints what nvcc --version prints (its last two lines)."""
    (tmp_path / "bin").mkdir()
    nvcc = tmp_path / "bin" / "nvcc"
    nvcc.write_text(f"#!/bin/sh\necho 'Cuda compilation tools, release {release}, V{release}.88'\n"
                    f"echo 'Build cuda_{release}.r{release}/compiler.0'\n")
    nvcc.chmod(nvcc.stat().st_mode | stat.S_IXUSR)
    return str(tmp_path)


def test_arch_list_is_torchs_flags_in_torch_cuda_arch_list_form():
    flags = ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"]  # torch 2.14.1+cu130's _cuda_getArchFlags()
    assert extension.arch_list(flags) == ["7.5", "8.0", "8.6", "9.0", "10.0", "12.0"]
    assert extension.arch_list(["sm_90a", "sm_90", "compute_90", "compute_120"]) == ["9.0a", "9.0+PTX", "12.0+PTX"]
    assert extension.build_archs(flags) == ["7.5", "12.0"]  # the oldest and the newest, not all six
    assert extension.build_archs(["sm_90a", "sm_120", "sm_80", "compute_120"]) == ["8.0", "12.0"]
    assert extension.build_archs(["sm_90"]) == ["9.0"]


def test_nvcc_release_reads_the_version_line(tmp_path):
    home = stand_in_nvcc(tmp_path, "13.0")
    assert extension.nvcc_release(os.path.join(home, "bin", "nvcc")) == "13.0"
    assert extension.nvcc_release(str(tmp_path / "missing")) is None


def test_runtime_flavor_and_quick_skip_both_with_the_reason(monkeypatch):
    monkeypatch.setenv("PTKIT_FLAVOR", "runtime")
    report = Report()
    extension.check_extensions(report, torch, ["cpu"], quick=False)
    skipped = (SKIP, extension.RUNTIME_SKIP)
    assert checks(report) == {extension.CPP: skipped, extension.CUDA: skipped}
    monkeypatch.setenv("PTKIT_FLAVOR", "devel")
    report = Report()
    extension.check_extensions(report, torch, ["cpu"], quick=True)
    assert {s for s, _ in checks(report).values()} == {SKIP}
    assert "--quick" in checks(report)[extension.CUDA][1]


def cuda_torch(release: str) -> types.SimpleNamespace:
    return types.SimpleNamespace(version=types.SimpleNamespace(cuda=release), _C=torch._C)


def test_an_nvcc_of_another_cuda_release_fails_naming_both(tmp_path, monkeypatch):
    from torch.utils import cpp_extension

    monkeypatch.setattr(cpp_extension, "CUDA_HOME", stand_in_nvcc(tmp_path, "12.8"))
    status, detail = extension.cuda_skip(cuda_torch("13.0"))
    assert status == FAIL
    assert "CUDA 12.8" in detail and "CUDA 13.0" in detail


def test_no_nvcc_or_a_cpu_torch_is_a_skip_naming_why(tmp_path, monkeypatch):
    from torch.utils import cpp_extension

    monkeypatch.setattr(cpp_extension, "CUDA_HOME", None)
    assert extension.cuda_skip(cuda_torch("12.6")) == (SKIP, extension.NO_NVCC)
    monkeypatch.setattr(cpp_extension, "CUDA_HOME", str(tmp_path))  # a CUDA_HOME without bin/nvcc
    assert extension.cuda_skip(cuda_torch("12.6")) == (SKIP, extension.NO_NVCC)
    assert extension.cuda_skip(cuda_torch(None))[0] == SKIP
    assert "CPU torch" in extension.cuda_skip(cuda_torch(None))[1]


def test_a_cpp_extension_builds_loads_and_matches_eager(monkeypatch, tmp_path):
    monkeypatch.setenv("PTKIT_FLAVOR", "devel")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the check's build dir goes here; removed after
    report = Report()
    extension.timed_build(report, extension.CPP, lambda tmp: extension.cpp_body(torch, tmp))
    status, detail = checks(report)[extension.CPP]
    assert status == PASS, detail
    assert "built in" in detail and "= eager on cpu" in detail
    assert os.listdir(tmp_path) == []  # the check's build dir is gone
    module, _ = extension.build(torch, str(tmp_path), "cpp", "ptkit_again", {"op.cpp": extension.CPP_OP},
                                dict(os.environ))  # built and loaded again in the same process: no clash
    assert module.axpb(torch.tensor([1.0, 2.0]), 3.0, 1.0).tolist() == [4.0, 7.0]


def test_a_failing_build_is_a_fail_with_the_compilers_line(tmp_path):
    report = Report()
    broken = {"op.cpp": "#include <torch/library.h>\nint f() { return undeclared_name; }\n"}
    extension.timed_build(report, extension.CPP,
                          lambda tmp: extension.build(torch, tmp, "cpp", "ptkit_broken_ext", broken, dict(os.environ)))
    status, detail = checks(report)[extension.CPP]
    assert status == FAIL
    assert "undeclared_name" in detail, detail


@pytest.mark.skipif(not (torch.version.cuda and os.environ.get("CUDA_HOME")),
                    reason="needs a CUDA torch and CUDA_HOME with nvcc (the devel image of a CUDA 13 row)")
def test_the_cuda_extension_is_built_by_nvcc_for_two_archs():
    report = Report()
    extension.check_extensions(report, torch, ["cpu"], quick=False)
    status, detail = checks(report)[extension.CUDA]
    assert status == PASS, detail
    assert f"nvcc {torch.version.cuda}" in detail and "launch SKIP: no usable GPU" in detail


def test_main_says_its_usage():
    assert extension.main(["nonsense"]) == 2


def test_a_foreign_image_without_a_compiler_skips_saying_so(monkeypatch, tmp_path):
    monkeypatch.delenv("PTKIT_FLAVOR", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no c++, no g++
    report = Report()
    extension.check_extensions(report, torch, ["cpu"], quick=False)
    assert {name: status for name, (status, _) in checks(report).items()} == {extension.CPP: SKIP, extension.CUDA: SKIP}
    assert "no C++ compiler" in checks(report)[extension.CPP][1]
