"""CUDA's binary-compatibility rule (verify/archs.py) against NVIDIA's own statements, and the verifier's arch
checks on stand-in devices: real torch told it sees one GPU of a given capability (no GPU figure comes from it)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from ptkit.verify import fatbin_check, gpu
from ptkit.verify.archs import first_supporting, judge_arch, parse_arch
from ptkit.verify.cli import build_parser
from ptkit.verify.results import FAIL, PASS, SKIP, WARN, Report

EVIDENCE = Path(__file__).resolve().parents[1] / "docs" / "evidence" / "matrix"


def evidence_archs(stem: str) -> list[str]:
    """The arch list torch reported in a committed matrix report (torch's own words, not ptkit's)."""
    return json.loads((EVIDENCE / f"{stem}.json").read_text())["environment"]["build"]["arch_list"]


# Each case is a sentence of NVIDIA's documents (see verify/archs.py for the sources), not of the code.
@pytest.mark.parametrize(("capability", "archs", "status"), [
    ("8.9", ["sm_86"], PASS),         # a cubin for 8.6 runs on 8.9: same major, later minor
    ("8.6", ["sm_89"], FAIL),         # ... never on an earlier minor
    ("9.0", ["sm_89"], FAIL),         # ... never across a major
    ("12.1", ["sm_120"], PASS),       # DGX Spark's GB10 runs sm_120 SASS
    ("10.3", ["sm_100"], PASS),       # B300 runs B200's SASS
    ("10.0", ["sm_100a"], PASS),      # arch-specific code runs on exactly its device
    ("10.3", ["sm_100a"], FAIL),      # ... and on no later one of its major
    ("10.3", ["sm_100f"], PASS),      # family-specific sm_100f runs on 10.0 and 10.3
    ("10.0", ["sm_103f"], FAIL),      # sm_103f only on 10.3
    ("11.0", ["sm_100f"], FAIL),      # Thor (11.0) is not in the 10.x family
    ("12.0", ["compute_90"], WARN),   # PTX JIT-compiles on any later capability, across majors
    ("8.9", ["compute_90"], FAIL),    # ... never on an earlier one
    ("10.3", ["compute_100a"], FAIL),  # arch-specific PTX is not forward compatible
    ("12.1", ["compute_120f"], WARN),  # family PTX within the family
    ("12.0", ["sm_90", "compute_90", "sm_120"], PASS),  # SASS wins over PTX
    # torch's DEVICE_REQUIREMENT: integrated GPUs and discrete ones do not share SASS.
    ("8.7", ["sm_80", "sm_86"], FAIL),  # Jetson Orin
    ("8.7", ["sm_87"], PASS),
    ("8.9", ["sm_87"], FAIL),
    ("11.0", ["sm_101"], PASS),       # Thor's arch before CUDA 13 renamed it sm_110
    ("10.1", ["sm_100"], FAIL),
])
def test_rule_as_nvidia_states_it(capability, archs, status):
    assert judge_arch(capability, archs)[0] == status


def test_ptx_jit_warns_of_the_first_launch_and_the_driver_it_needs():
    status, detail = judge_arch("12.0", ["sm_80", "sm_90", "compute_90"], cuda="12.4")
    assert status == WARN and "compute_90 PTX" in detail and "first launch compiles" in detail
    assert "only a driver that supports CUDA 12.4 or newer can" in detail


def test_parse_arch_reads_suffixes_and_three_digit_archs():
    assert parse_arch("sm_121a") == parse_arch(" sm_121a ")
    arch = parse_arch("compute_103f")
    assert (arch.ptx, arch.major, arch.minor, arch.suffix) == (True, 10, 3, "f")
    assert parse_arch("sm_9.0") is None and parse_arch("gfx90a") is None


def test_first_supporting_prefers_sass_then_ptx_in_the_order_given():
    rows = ["new=sm_90", "ptx=compute_80", "old=sm_80"]
    assert first_supporting("8.6", rows) == "old"
    assert first_supporting("9.0", rows) == "new"
    assert first_supporting("10.0", rows) == "ptx (by PTX JIT)"
    assert first_supporting("7.0", rows) == ""


def test_the_rule_is_stricter_than_torchs_major_only_test():
    # torch warns only when no compiled sm_ arch shares the device's major (tests/test_gpu_verdicts.py); sm_75
    # shares V100's major 7, yet no SASS runs on an earlier minor.
    assert "sm_75" in evidence_archs("cuda130-runtime") and "sm_70" not in evidence_archs("cuda130-runtime")
    assert judge_arch("7.0", evidence_archs("cuda130-runtime"))[0] == FAIL
    assert judge_arch("7.0", evidence_archs("cuda128-pypi-runtime"))[0] == PASS


@pytest.fixture
def one_gpu(torch, monkeypatch):
    """Real torch told it is a CUDA `cuda` build with `arch_list`, seeing one device of `capability`."""
    def stand_in(capability: str, arch_list: list[str], cuda: str, name: str = "stand-in GPU") -> None:
        major, minor = (int(p) for p in capability.split("."))
        props = SimpleNamespace(name=name, major=major, minor=minor, total_memory=2**30, multi_processor_count=1)
        monkeypatch.setattr(torch.version, "cuda", cuda)
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
        monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: props)
        monkeypatch.setattr(torch._C, "_cuda_getArchFlags", lambda: " ".join(arch_list), raising=False)
        monkeypatch.setattr(gpu, "driver_version", lambda: "580.95.05")
    return stand_in


def arch_check(torch, argv: list[str]) -> tuple[str, str]:
    args = build_parser().parse_args(["verify", *argv])
    report = Report()
    gpu.check_cuda(report, torch, True, args.arch_row)
    check = next(c for c in report.checks if c.name == "arch:cuda:0")
    return check.status, check.detail


def test_an_ada_device_passes_with_the_cu124_arch_list(torch, one_gpu):
    one_gpu("8.9", evidence_archs("cuda124-runtime"), "12.4", "NVIDIA L4")
    assert arch_check(torch, []) == (PASS, "sm_89 runs sm_86 SASS natively (same major 8, 8.6 <= 8.9)")


def test_a_volta_device_fails_with_cu130_naming_a_row_that_runs_it(torch, one_gpu):
    one_gpu("7.0", evidence_archs("cuda130-runtime"), "13.0", "Tesla V100-SXM2-32GB")
    rows = ["--arch-row", "cuda132=" + ",".join(evidence_archs("cuda132-runtime")),
            "--arch-row", "cuda128=" + ",".join(evidence_archs("cuda128-pypi-runtime"))]
    status, detail = arch_check(torch, rows)
    assert status == FAIL and "no compiled arch runs on sm_70" in detail and detail.endswith("; use cuda128")
    assert arch_check(torch, [])[1].endswith("use an image compiled for sm_70 (`ptkit select --capability 7.0` "
                                             "names one)")


@pytest.mark.parametrize("bad", ["cuda128", "=sm_70", "cuda128=", "cuda128=sm70"])
def test_a_bad_arch_row_is_a_usage_error(bad, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["verify", "--arch-row", bad])
    assert exit_info.value.code == 2 and "NAME=ARCH" in capsys.readouterr().err


# libtorch_cuda.so of the torch 2.14.1+cu130 wheel as cuobjdump 13.5 lists it (tests/test_fatbin.py reads the
# real file where the wheel is on disk): the fatbin entries holding each arch.
CU130 = {"sm_75": 475, "sm_80": 475, "sm_86": 475, "sm_89": 1, "sm_90": 475, "sm_90a": 4, "sm_100": 475,
         "sm_100a": 59, "sm_103": 59, "sm_120": 475, "sm_120a": 1, "sm_121a": 1}


def fatbin_report(torch, arch_list: list[str], listing: str | None) -> Report:
    report = Report()
    torch_stand_in = SimpleNamespace(version=SimpleNamespace(cuda="13.0"),
                                     _C=SimpleNamespace(_cuda_getArchFlags=lambda: " ".join(arch_list)))
    args = build_parser().parse_args(["verify", *(["--fatbin", listing] if listing else [])])
    fatbin_check.check_fatbin(report, torch_stand_in, args.fatbin)
    return report


def test_the_cu130_arch_list_agrees_with_its_library(torch):
    listing = fatbin_check.to_argument("libtorch_cuda.so", CU130)
    report = fatbin_report(torch, evidence_archs("cuda130-runtime"), listing)
    check = report.checks[0]
    assert check.status == PASS and "sm_89 (1 of 475)" in check.detail and "sm_103 (59 of 475)" in check.detail
    assert report.environment["build"]["fatbin"] == {"libtorch_cuda.so": CU130}


def test_a_disagreement_fails_naming_both(torch):
    listing = fatbin_check.to_argument("libtorch_cuda.so", CU130)
    check = fatbin_report(torch, evidence_archs("cuda128-pypi-runtime"), listing).checks[0]
    assert check.status == FAIL
    assert check.detail.startswith("torch.cuda.get_arch_list() says sm_70 sm_75 sm_80 sm_86 sm_90 sm_100 sm_120, "
                                   "libtorch_cuda.so holds sm_75 sm_80 sm_86 sm_90 sm_100 sm_120 "
                                   "(not in the binary: sm_70)")


def test_without_a_listing_the_check_skips_and_a_cpu_build_has_none(torch):
    assert fatbin_report(torch, ["sm_80"], None).checks[0].status == SKIP
    other = fatbin_report(torch, ["sm_80"], "libc10_cuda.so=sm_80:3").checks[0]
    assert other.status == FAIL and "not libtorch_cuda.so" in other.detail


def test_a_listing_the_host_could_not_read_is_a_skip_naming_why(torch):
    # what cuobjdump 13.5 (NVIDIA's only PyPI cuobjdump) says of torch 2.4.1+cu121's libtorch_cuda.so
    why = "cuobjdump could not read libtorch_cuda.so: cuobjdump fatal : Invalid ELF in 'libtorch_cuda.so'"
    args = build_parser().parse_args(["verify", "--fatbin-unread", why])
    report = Report()
    torch_stand_in = SimpleNamespace(version=SimpleNamespace(cuda="12.1"),
                                     _C=SimpleNamespace(_cuda_getArchFlags=lambda: "sm_80"))
    fatbin_check.check_fatbin(report, torch_stand_in, args.fatbin, args.fatbin_unread)
    (check,) = report.checks
    assert check.status == SKIP and check.detail == f"the host could not list the fatbin: {why}"
    assert report.environment["build"]["fatbin_unread"] == why


@pytest.mark.parametrize("bad", ["libtorch_cuda.so", "libtorch_cuda.so=sm_80", "x=sm80:1", "=sm_80:1",
                                 "a/b.so=sm_80:1"])
def test_a_bad_listing_is_a_usage_error(bad, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["verify", "--fatbin", bad])
    assert exit_info.value.code == 2 and "LIB=ARCH:COUNT" in capsys.readouterr().err
