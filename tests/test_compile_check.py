"""The compile check with real torch and the host's g++: a real cold compile, real failures (a missing
and a failing compiler, in a subprocess so inductor's compiler choice starts fresh), the SKIPs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import pytest

from ptkit.verify import compile_check, compile_probes
from ptkit.verify.results import FAIL, PASS, SKIP, WARN, Report
from tests.utils.ptkit_cli import ROOT
from tests.utils.torch_layouts import Relocated, torch_tree

# TORCH_ROOT, when set, is where the check is told torch's files are (a torch laid out otherwise).
RUN_CHECK = """
import json, os, sys, torch
sys.path.insert(0, os.getcwd())
from tests.utils.torch_layouts import Relocated
from ptkit.verify.results import Report
from ptkit.verify.compile_check import check_compile
report = Report()
root = os.environ.get("TORCH_ROOT")
check_compile(report, Relocated(torch, root) if root else torch, ["cpu"], quick=False)
print(json.dumps([[c.name, c.status, c.detail] for c in report.checks]))
"""


def run_check(env: dict[str, str]) -> dict[str, tuple[str, str]]:
    proc = subprocess.run([sys.executable, "-c", RUN_CHECK], capture_output=True, text=True, timeout=600,
                          cwd=ROOT, env={**os.environ, "PTKIT_FLAVOR": "devel", **env})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {name: (status, detail) for name, status, detail in json.loads(proc.stdout.splitlines()[-1])}


def checks(report: Report) -> dict[str, tuple[str, str]]:
    return {c.name: (c.status, c.detail) for c in report.checks}


def test_compiles_a_function_and_a_module_like_eager_and_leaves_no_cache(torch, tmp_path, monkeypatch):
    if compile_probes.missing_for_cpu(torch):
        pytest.skip(f"this host cannot compile: {compile_probes.missing_for_cpu(torch)}")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.delenv("PTKIT_FLAVOR", raising=False)
    report = Report()
    compile_check.check_compile(report, torch, ["cpu"], quick=False)
    got = checks(report)
    status, detail = got["compile:cpu"]
    assert status == PASS, detail
    assert "fp32, fp64" in detail and "vector ISA" in detail and detail.endswith(" s")
    assert got["compile:cpu:max-autotune"][0] == PASS
    assert list(tmp_path.iterdir()) == []  # inductor's cache and precompiled header went with the check


def test_quick_and_runtime_flavor_are_skips_with_their_reason(torch, monkeypatch):
    report = Report()
    compile_check.check_compile(report, torch, ["cpu"], quick=True)
    monkeypatch.setenv("PTKIT_FLAVOR", "runtime")
    compile_check.check_compile(report, torch, ["cpu"], quick=False)
    assert [(c.name, c.status, c.detail) for c in report.checks] == [
        ("compile", SKIP, "not run with --quick (a cold compile takes seconds)"),
        ("compile", SKIP, "runtime flavor: torch.compile needs the devel flavor"),
    ]


def test_a_compile_that_works_passes_wherever_torch_keeps_its_headers(torch, tmp_path, monkeypatch):
    """Judged by doing (issue 23): torch 2.6 keeps cpp_prefix.h under torch/_inductor/codegen/, and a torch
    whose files the probes cannot find at all still PASSes when the compile works."""
    if compile_probes.missing_for_cpu(torch):
        pytest.skip(f"this host cannot compile: {compile_probes.missing_for_cpu(torch)}")
    monkeypatch.setenv("PTKIT_FLAVOR", "devel")
    report = Report()
    compile_check.check_compile(report, Relocated(torch, str(tmp_path / "torch")), ["cpu"], quick=False)
    status, detail = checks(report)["compile:cpu"]
    assert status == PASS, detail


def test_missing_compiler_is_a_one_line_fail_naming_it(torch):
    got = run_check({"CXX": "/nonexistent/g++"})
    status, detail = got["compile:cpu"]
    assert status == FAIL
    assert detail.startswith("no C++ compiler: none of /nonexistent/g++ on PATH (inductor's cpp.cxx) "
                             "(torch.compile failed: "), detail
    assert got["compile:cpu:max-autotune"] == (SKIP, "compile:cpu failed")


def test_a_failing_compiler_gives_its_error_line(torch, tmp_path):
    fake = tmp_path / "g++"
    fake.write_text('#!/bin/sh\ncase "$*" in *--version*) echo "g++ (Debian 12.2.0-14) 12.2.0"; exit 0;; esac\n'
                    'echo "kernel.cpp:1:10: fatal error: ptkit_absent.h: No such file or directory" >&2\nexit 1\n')
    fake.chmod(0o755)
    status, detail = run_check({"CXX": str(fake)})["compile:cpu"]
    assert status == FAIL
    assert detail.startswith("torch.compile failed: ") and "fatal error: ptkit_absent.h" in detail


def test_foreign_image_without_compiler_or_headers_warns(torch, tmp_path):
    got = run_check({"CXX": "/nonexistent/g++", "PTKIT_FLAVOR": "", "TORCH_ROOT": str(tmp_path / "torch")})
    status, detail = got["compile:cpu"]
    assert status == WARN, detail
    assert detail.startswith("torch.compile cannot work here (a runtime image?): no C++ compiler")
    assert "missing torch C++ headers" in detail


@pytest.mark.parametrize("layout", [
    ("include/ATen/ATen.h", "include/c10/macros/Macros.h", "include/torch/csrc/inductor/cpp_prefix.h"),
    ("include/ATen/ATen.h", "include/c10/macros/Macros.h", "_inductor/codegen/cpp_prefix.h"),
], ids=["torch-2.10-and-later-wheels", "torch-2.4.1-to-2.7.1-wheels"])  # as compile_probes.CPP_PREFIX_PLACES says
def test_torch_headers_are_found_where_each_torch_keeps_them(tmp_path, layout):
    root = torch_tree(tmp_path / "torch", *layout)
    assert compile_probes.missing_torch_headers(types.SimpleNamespace(__file__=str(root / "__init__.py"))) is None


def test_a_slimmed_torch_is_missing_its_headers_by_name(torch, tmp_path):
    root = torch_tree(tmp_path / "torch", "_inductor/codegen/utils.py")  # torch/include removed
    detail = compile_probes.missing_torch_headers(types.SimpleNamespace(__file__=str(root / "__init__.py")))
    assert detail == (f"missing torch C++ headers: no {root}/include/ATen, no {root}/include/c10, "
                      f"no {root}/include/torch/csrc/inductor/cpp_prefix.h or {root}/_inductor/codegen/cpp_prefix.h "
                      "(removed by a slimmed install?)")
    assert compile_probes.missing_torch_headers(torch) is None


def test_a_probe_that_raises_cannot_tell_and_says_nothing():
    def gone() -> str:
        raise AttributeError("module 'torch._inductor.config' has no attribute 'cpp'")

    assert compile_probes.probed(gone, lambda: "no C++ compiler", lambda: None) == ["no C++ compiler"]


def test_python_header_probe_follows_sysconfig(monkeypatch, tmp_path):
    assert compile_probes.missing_python_header() is None  # the host's Python has its headers
    monkeypatch.setattr(compile_probes.sysconfig, "get_path", lambda name: str(tmp_path))
    assert compile_probes.missing_python_header() == (
        f"missing Python headers: no {tmp_path}/Python.h (the python3-dev headers)")


def test_cause_of_picks_the_compiler_line():
    exc = RuntimeError("InductorError: CppCompileError: C++ compile error\n\nCommand:\ng++ a.cpp\n\n"
                       "Output:\na.cpp:2:10: fatal error: torch/csrc/inductor/cpp_prefix.h: No such file\n")
    assert compile_probes.cause_of(exc) == (
        "RuntimeError: a.cpp:2:10: fatal error: torch/csrc/inductor/cpp_prefix.h: No such file")
    assert compile_probes.cause_of(ValueError("plain")) == "ValueError: plain"


def test_private_caches_restore_the_environment(monkeypatch):
    monkeypatch.setenv("TRITON_CACHE_DIR", "/keep/me")
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    monkeypatch.delenv("TRITON_HOME", raising=False)
    with compile_check.private_caches() as tmp:
        assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == tmp and Path(tmp).is_dir()
        assert os.environ["TRITON_HOME"] == tmp  # not ~: a uid without HOME or passwd entry has none
    assert os.environ["TRITON_CACHE_DIR"] == "/keep/me" and "TORCHINDUCTOR_CACHE_DIR" not in os.environ
    assert "TRITON_HOME" not in os.environ
    assert not Path(tmp).exists()


def test_a_torch_without_dynamo_here_is_a_skip_with_the_reason(torch, monkeypatch):
    from torch._dynamo import eval_frame

    monkeypatch.setattr(eval_frame, "is_dynamo_supported", lambda: False)  # as torch 2.4 on Python 3.13
    monkeypatch.setenv("PTKIT_FLAVOR", "devel")
    report = Report()
    compile_check.check_compile(report, torch, ["cpu"], quick=False)
    assert [(c.name, c.status, c.detail) for c in report.checks] == [
        ("compile", SKIP, f"torch {torch.__version__} does not support torch.compile on this Python or platform")]


PRIVATE_CACHES = """
import os
from ptkit.verify.compile_check import private_caches
with private_caches() as tmp:
    assert os.path.isdir(tmp)
print("uid", os.getuid())
"""


@pytest.mark.skipif(not shutil.which("setpriv") or os.getuid() != 0, reason="needs root and setpriv")
def test_private_caches_work_for_a_uid_without_a_passwd_entry(tmp_path):
    """docker run --user 12345 (issue 19): no passwd entry, no USER or LOGNAME."""
    env = {k: v for k, v in os.environ.items() if k not in ("USER", "LOGNAME")}
    proc = subprocess.run(["setpriv", "--reuid=54321", "--regid=54321", "--clear-groups", sys.executable, "-c",
                           PRIVATE_CACHES], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**env, "HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["uid", "54321"]
