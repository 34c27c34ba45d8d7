"""The compile check with real torch and the host's g++: a real cold compile, real failures (a missing
and a failing compiler, in a subprocess so inductor's compiler choice starts fresh), the SKIPs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import pytest

from ptkit.verify import compile_check
from ptkit.verify.results import FAIL, PASS, SKIP, WARN, Report

RUN_CHECK = """
import json, torch
from ptkit.verify.results import Report
from ptkit.verify.compile_check import check_compile
report = Report()
check_compile(report, torch, ["cpu"], quick=False)
print(json.dumps([[c.name, c.status, c.detail] for c in report.checks]))
"""


def run_check(env: dict[str, str]) -> dict[str, tuple[str, str]]:
    proc = subprocess.run([sys.executable, "-c", RUN_CHECK], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PTKIT_FLAVOR": "devel", **env})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {name: (status, detail) for name, status, detail in json.loads(proc.stdout.splitlines()[-1])}


def checks(report: Report) -> dict[str, tuple[str, str]]:
    return {c.name: (c.status, c.detail) for c in report.checks}


def test_compiles_a_function_and_a_module_like_eager_and_leaves_no_cache(torch, tmp_path, monkeypatch):
    if compile_check.missing_for_cpu(torch):
        pytest.skip(f"this host cannot compile: {compile_check.missing_for_cpu(torch)}")
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


def test_missing_compiler_is_a_one_line_fail_without_compiling(torch):
    got = run_check({"CXX": "/nonexistent/g++"})
    status, detail = got["compile:cpu"]
    assert status == FAIL
    assert detail == "no C++ compiler: none of /nonexistent/g++ on PATH (inductor's cpp.cxx)"
    assert got["compile:cpu:max-autotune"] == (SKIP, "compile:cpu failed")


def test_a_failing_compiler_gives_its_error_line(torch, tmp_path):
    fake = tmp_path / "g++"
    fake.write_text('#!/bin/sh\ncase "$*" in *--version*) echo "g++ (Debian 12.2.0-14) 12.2.0"; exit 0;; esac\n'
                    'echo "kernel.cpp:1:10: fatal error: ptkit_absent.h: No such file or directory" >&2\nexit 1\n')
    fake.chmod(0o755)
    status, detail = run_check({"CXX": str(fake)})["compile:cpu"]
    assert status == FAIL
    assert detail.startswith("torch.compile failed: ") and "fatal error: ptkit_absent.h" in detail


def test_foreign_image_without_compiler_or_headers_warns(torch, tmp_path, monkeypatch):
    from torch._inductor import config

    monkeypatch.delenv("PTKIT_FLAVOR", raising=False)
    monkeypatch.setattr(config.cpp, "cxx", (None, "/nonexistent/g++"))
    slim_torch = types.SimpleNamespace(__file__=str(tmp_path / "torch" / "__init__.py"))
    report = Report()
    compile_check.check_compile(report, slim_torch, ["cpu"], quick=False)
    status, detail = checks(report)["compile:cpu"]
    assert status == WARN
    assert "no C++ compiler" in detail and "missing torch C++ headers" in detail


def test_devel_flavor_without_headers_fails_naming_them(torch, tmp_path, monkeypatch):
    monkeypatch.setenv("PTKIT_FLAVOR", "devel")
    slim_torch = types.SimpleNamespace(__file__=str(tmp_path / "torch" / "__init__.py"))
    assert compile_check.missing_torch_headers(slim_torch) == (
        f"missing torch C++ headers: no {tmp_path}/torch/include/torch/csrc/inductor/cpp_prefix.h "
        "(removed by a slimmed install?)")
    assert compile_check.missing_torch_headers(torch) is None


def test_python_header_probe_follows_sysconfig(monkeypatch, tmp_path):
    assert compile_check.missing_python_header() is None  # the host's Python has its headers
    monkeypatch.setattr(compile_check.sysconfig, "get_path", lambda name: str(tmp_path))
    assert compile_check.missing_python_header() == (
        f"missing Python headers: no {tmp_path}/Python.h (the python3-dev headers)")


def test_cause_of_picks_the_compiler_line():
    exc = RuntimeError("InductorError: CppCompileError: C++ compile error\n\nCommand:\ng++ a.cpp\n\n"
                       "Output:\na.cpp:2:10: fatal error: torch/csrc/inductor/cpp_prefix.h: No such file\n")
    assert compile_check.cause_of(exc) == (
        "RuntimeError: a.cpp:2:10: fatal error: torch/csrc/inductor/cpp_prefix.h: No such file")
    assert compile_check.cause_of(ValueError("plain")) == "ValueError: plain"


def test_private_caches_restore_the_environment(monkeypatch):
    monkeypatch.setenv("TRITON_CACHE_DIR", "/keep/me")
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    with compile_check.private_caches() as tmp:
        assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == tmp and Path(tmp).is_dir()
    assert os.environ["TRITON_CACHE_DIR"] == "/keep/me" and "TORCHINDUCTOR_CACHE_DIR" not in os.environ
    assert not Path(tmp).exists()
