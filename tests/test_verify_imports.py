"""Imports and build facts in this process: real packages written to a folder on sys.path (with and without pip's
dist-info), a module that shadows its installed distribution, and a stand-in torch built for CUDA or HIP."""

from __future__ import annotations

import importlib.metadata
import platform
import re
import sys
from pathlib import Path

import pytest

from ptkit.verify import imports
from ptkit.verify.results import FAIL, PASS, SKIP, Report
from tests.utils.stand_ins import cuda_torch, installed


@pytest.fixture
def site(tmp_path, monkeypatch) -> Path:
    """A folder on sys.path for the test's packages; the modules they import are forgotten afterwards."""
    before = set(sys.modules)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    (tmp_path / "site").mkdir()
    yield tmp_path / "site"
    for name in set(sys.modules) - before:
        del sys.modules[name]


def package(site: Path, name: str, body: str = "", version: str | None = None) -> Path:
    """A package `name` in `site`, pip-installed (dist-info) when `version` is given."""
    (site / name).mkdir()
    init = site / name / "__init__.py"
    init.write_text(body)
    if version:
        installed(site, name, version)
    return init


def checked(report: Report) -> tuple[str, str, str]:
    check = report.checks[-1]
    return check.name, check.status, check.detail


def test_an_installed_package_passes_with_its_own_version_and_origin(site):
    init = package(site, "ptk_ok", "__version__ = '1.2.3+local'\n", version="1.2.3")
    report = Report()
    module = imports.check_import(report, "ptk_ok", required=False)
    assert module.__version__ == "1.2.3+local"
    name, status, detail = checked(report)
    assert (name, status) == ("import:ptk_ok", PASS)
    assert re.fullmatch(r"ptk_ok 1\.2\.3\+local imported in \d+\.\d\d s", detail)
    assert report.checks[-1].seconds >= 0
    assert report.environment["origin"] == {
        "ptk_ok": {"file": str(init), "distribution": str(init), "distribution_version": "1.2.3"}}


def test_a_package_without_a_version_attribute_says_so(site):
    package(site, "ptk_bare", version="0.1")
    report = Report()
    imports.check_import(report, "ptk_bare", required=True)
    assert checked(report)[1] == PASS and checked(report)[2].startswith("ptk_bare (no __version__) imported in ")


def test_a_module_that_shadows_the_installed_package_fails_naming_both(site, tmp_path, monkeypatch):
    init = package(site, "ptk_shadow", "__version__ = '2.0'\n", version="2.0")
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "ptk_shadow.py").write_text("__version__ = '2.0'\n")
    monkeypatch.syspath_prepend(str(workdir))  # as a script's folder or the working directory comes first
    report = Report()
    assert imports.check_import(report, "ptk_shadow", required=True) is None
    assert checked(report) == ("import:ptk_shadow", FAIL,
                               f"ptk_shadow imported from {workdir / 'ptk_shadow.py'}, which shadows the installed "
                               f"ptk_shadow 2.0 ({init})")


@pytest.mark.parametrize(("required", "expected"), [
    (False, (SKIP, "not installed")),
    (True, (FAIL, "ptk_absent is not installed (required)")),
])
def test_a_missing_package(site, required, expected):
    report = Report()
    assert imports.check_import(report, "ptk_absent", required=required) is None
    assert checked(report) == ("import:ptk_absent", *expected)


@pytest.mark.parametrize(("body", "version", "detail"), [
    ("raise RuntimeError('operator ptk::nms does not exist')\n", "0.28.0",
     "ptk_broken 0.28.0 fails to import: RuntimeError: operator ptk::nms does not exist"),
    ("import ptk_dependency_gone\n", "1.0",
     "ptk_broken 1.0 fails to import: ModuleNotFoundError: No module named 'ptk_dependency_gone'"),
    ("raise SystemExit(3)\n", "1.0", "ptk_broken 1.0 fails to import: SystemExit: 3"),
    ("raise ImportError('libcudart.so.12: cannot open shared object file')\n", None,
     "ptk_broken fails to import: ImportError: libcudart.so.12: cannot open shared object file"),
])
def test_a_package_that_fails_to_import_is_a_fail_with_its_cause(site, body, version, detail):
    package(site, "ptk_broken", body, version=version)
    report = Report()
    assert imports.check_import(report, "ptk_broken", required=True) is None
    name, status, got = checked(report)
    assert (name, status, got) == ("import:ptk_broken", FAIL, detail)
    assert report.checks[-1].seconds >= 0


def test_origin_of_a_module_without_a_distribution_or_with_an_editable_one(site):
    init = package(site, "ptk_loose")
    import ptk_loose

    assert imports.origin(ptk_loose, None) == {"file": str(init), "distribution": None, "distribution_version": None}
    elsewhere = installed(site.parent / "elsewhere", "ptk_loose", "3.1")  # an editable install's metadata
    dist = importlib.metadata.Distribution.at(elsewhere)
    assert imports.origin(ptk_loose, dist) == {"file": str(init), "distribution": None, "distribution_version": "3.1"}
    assert imports.distribution("ptk_nowhere") is None


def test_torch_is_imported_first_then_the_optional_and_required_packages_once(site, torch):
    package(site, "ptk_req", "__version__ = '1'\n", version="1")
    report = Report()
    assert imports.import_packages(report, ["ptk_req", "torch", "numpy", "ptk_req"]) is torch
    assert [c.name for c in report.checks] == ["import:torch", "import:torchvision", "import:torchaudio",
                                               "import:numpy", "import:ptk_req"]
    assert report.checks[-1].status == PASS


def test_the_environment_names_the_interpreter_and_leaves_the_torch_facts_unset():
    assert imports.environment() == {"python": platform.python_version(), "platform": platform.platform(),
                                     "torch": None, "cuda": None, "cudnn": None, "nccl": None, "driver": None}


def test_build_facts_of_a_cuda_build():
    report = Report(environment=imports.environment())
    imports.check_build(report, cuda_torch("12.8"))
    assert checked(report) == ("build", PASS, "torch 2.14.1 (CUDA 12.8), cuDNN 9.10.2, NCCL 2.27.3, BLAS mkl, "
                                              "CPU AVX512, archs sm_80 sm_90")
    build = {"torch": "2.14.1", "cuda": "12.8", "hip": None, "cudnn": "9.10.2", "nccl": "2.27.3",
             "arch_list": ["sm_80", "sm_90"], "blas": "mkl", "cpu_capability": "AVX512"}
    assert report.environment["build"] == build
    assert {k: report.environment[k] for k in ("torch", "cuda", "cudnn", "nccl")} == {
        "torch": "2.14.1", "cuda": "12.8", "cudnn": "9.10.2", "nccl": "2.27.3"}


def test_build_facts_of_a_rocm_build_without_a_blas_line_or_cpu_capability():
    torch = cuda_torch(None, hip="6.2.4", arch_flags="", config="  - CPU capability usage: AVX2\n")
    del torch.backends.cpu  # torch before 2.0 has no torch.backends.cpu
    report = Report()
    imports.check_build(report, torch)
    assert checked(report) == ("build", PASS, "torch 2.14.1 (HIP 6.2.4), cuDNN -, NCCL -, BLAS unknown, CPU unknown, "
                                              "archs -")
    assert report.environment["build"]["cudnn"] is None and report.environment["build"]["nccl"] is None


def test_build_facts_of_a_cpu_build_ignore_the_cuda_libraries():
    report = Report()
    imports.check_build(report, cuda_torch(None, capability="AVX2", config="BLAS_INFO=open\n"))
    assert checked(report) == ("build", PASS, "torch 2.14.1 (CPU-only), cuDNN -, NCCL -, BLAS open, CPU AVX2, "
                                              "archs sm_80 sm_90")


def test_a_torch_without_the_version_module_fields():
    torch = cuda_torch(None)
    torch.version = object()  # neither .cuda nor .hip
    info = imports.build_info(torch)
    assert (info["cuda"], info["hip"], info["cudnn"]) == (None, None, None)
