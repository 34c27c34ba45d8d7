"""The verify and bench commands in-process (report files, exit codes, device specs, arch and precision
judgements), real torch on the CPU, real files; first written for what the mutation run found untested.

`nox -s mutation` runs only in-process tests (a `python -m ptkit` subprocess imports the unmutated package), so the
commands are driven here through cli.main with pytest's capture of the real stdout and stderr.
"""

from __future__ import annotations

import glob
import json
import os
import stat
import time
from pathlib import Path

import pytest

from ptkit.verify import cli, output, precision
from ptkit.verify.archs import judge_arch
from tests.utils.stand_ins import FakeCuda

# At collection, so that mutmut's fork server (which collects once) forks each mutant's run with torch loaded.
pytest.importorskip("torch")
from ptkit.verify.results import (
    FAIL,
    PASS,
    WARN,
    Report,
    describe,
    run_line,
    write_json_atomic,
)


def test_the_report_file_is_indented_json_for_everyone_to_read(tmp_path):
    path = tmp_path / "new" / "dir" / "r.json"
    write_json_atomic({"b": [1, 2], "a": {"c": None}}, str(path))
    assert path.read_text() == json.dumps({"b": [1, 2], "a": {"c": None}}, indent=2) + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_half_written_report_is_hidden_and_renamed_in_place(tmp_path, monkeypatch):
    """Readers globbing reports/*.json never see the temporary file, and the rename stays on one file system."""
    seen: list[tuple[Path, list[str]]] = []
    real_replace = os.replace

    def watching_replace(src, dst):
        seen.append((Path(src), glob.glob(str(tmp_path / "*.json"))))  # as a shell glob: no dotfiles
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", watching_replace)
    write_json_atomic({"a": 1}, str(tmp_path / "r.json"))
    (tmp_src, visible), = seen
    assert tmp_src.parent == tmp_path and tmp_src.name.startswith(".") and visible == []


def test_a_run_without_image_facts_says_so_with_dashes():
    assert run_line({}) == "ran in image - (variant -, image id -)"
    assert run_line({"image": "ptkit:cpu", "variant": "cpu"}) == "ran in image ptkit:cpu (variant cpu, image id -)"


def test_unknown_check_fields_are_dropped_and_known_ones_kept():
    loaded = Report.from_dict({"checks": [{"name": "n", "status": PASS, "detail": "d", "seconds": 1.5, "x": 1}]})
    assert [(c.name, c.status, c.detail, c.seconds) for c in loaded.checks] == [("n", PASS, "d", 1.5)]


@pytest.mark.parametrize(("arch_list", "status"), [
    (["sm_90a"], PASS),                 # the arch-specific build of sm_90 runs on sm_90
    (["sm_86"], FAIL),                  # SASS never crosses a major version
    (["sm_89a"], FAIL),                 # nor does arch-specific SASS of another device
    (["compute_89"], WARN),             # PTX of a lower arch JIT-compiles
    (["compute_90"], WARN),             # PTX of the same arch too
    (["compute_91"], FAIL),             # PTX of a higher arch cannot
    (["compute_90a"], WARN),            # arch-specific PTX JIT-compiles on exactly its own device
    (["compute_89a"], FAIL),            # and on no other
    (["compute_90f"], WARN),
])
def test_arch_judgement(arch_list, status):
    assert judge_arch("9.0", arch_list)[0] == status


def test_arch_fail_names_the_compiled_list_or_empty_and_what_to_use():
    status, detail = judge_arch("7.0", ["sm_80", "sm_90"])
    assert status == FAIL and detail.startswith("no compiled arch runs on sm_70 (sm_80 sm_90)")
    assert detail.endswith("use an image compiled for sm_70 (`ptkit select --capability 7.0` names one)")
    assert "(empty)" in judge_arch("7.0", [])[1]
    assert judge_arch("7.0", [], supported_by="cuda128")[1].endswith("; use cuda128")


@pytest.mark.parametrize(("capability", "bf16", "refused"), [
    ((7, 5), False, {"tf32": "sm_75 has no TF32 tensor cores", "bf16": "no bf16 matmul for sm_75 in torch 2.13"}),
    ((8, 0), True, {}),
    ((8, 6), None, {"bf16": "no bf16 matmul for sm_86 in torch 2.13"}),
])
def test_cuda_refusals_name_the_reason(torch, monkeypatch, capability, bf16, refused):
    fake = FakeCuda(capability, bf16)
    monkeypatch.setattr(torch, "cuda", fake)
    monkeypatch.setattr(torch, "__version__", "2.13")
    assert precision._cuda_refusals(torch, "cuda:1") == refused and fake.asked == ["cuda:1"]


def test_cuda_refusals_of_a_torch_that_cannot_switch_tf32(torch, monkeypatch):
    monkeypatch.setattr(torch, "cuda", FakeCuda((9, 0), True))
    monkeypatch.setattr(torch, "__version__", "1.6")
    monkeypatch.setattr(precision, "_tf32_switchable", lambda t: False)
    assert precision._cuda_refusals(torch, "cuda:0") == {"tf32": "torch 1.6 cannot switch TF32 on"}


def test_complain_is_one_prefixed_line_on_stderr(capsys):
    output.complain("verify", "FAIL: numerics:\n  matmul\twrong ")
    assert capsys.readouterr() == ("", "ptkit verify: FAIL: numerics: matmul wrong\n")


BENCH_64 = ["bench", "--device", "cpu", "--size", "64", "--dtype", "fp32", "--min-time", "0.01"]


def test_bench_json_is_the_only_stdout_and_the_report_file_holds_it(torch, capfd, tmp_path):
    report = tmp_path / "bench.json"
    assert cli.main([*BENCH_64, "--json", "--report", str(report)]) == 0
    out, err = capfd.readouterr()
    data = json.loads(out)
    assert data == json.loads(report.read_text()) and data["schema"] == "ptkit.bench/1" and "naive" not in data
    (case,) = data["benchmarks"]
    assert (case["device"], case["dtype"], case["n"], case["status"]) == ("cpu", "fp32", 64, "ok")
    assert data["environment"]["torch"] == torch.__version__ and err == ""


def test_bench_text_compares_the_naive_tutorial(torch, capfd):
    assert cli.main([*BENCH_64, "--compare-naive"]) == 0
    lines = capfd.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["device", "dtype", "n"] and lines[1].split()[:3] == ["cpu", "fp32", "64"]
    tail = lines[lines.index("tutorial 1000x1000 fp32 on cpu:"):]
    assert lines[-len(tail) - 1] == ""  # a blank line between the table and the comparison
    assert [line.split(":")[0] for line in tail[1:]] == [
        "  correct (warm-up, synchronized, median)", "  tutorial as written (CPU tensor, no sync)",
        "  on the device but unsynchronized"]
    assert all(float(line.split(":")[1].split()[0]) > 0 for line in tail[1:])


def test_bench_on_a_gpu_this_machine_lacks_is_one_line_and_exit_1(torch, capfd):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert cli.main(["bench", "--device", "cuda:1", "--json"]) == 1
    out, err = capfd.readouterr()
    assert out == "" and err.startswith("ptkit bench: --device cuda:1: no usable GPU (") and err.count("\n") == 1


def test_bench_fails_when_a_timing_is_broken(torch, capfd, monkeypatch):
    slow_clock = lambda: time.perf_counter() / 1e6  # noqa: E731 - a clock a million times too slow
    monkeypatch.setattr(cli.bench, "device_timer", lambda torch, device: slow_clock)
    assert cli.main(BENCH_64) == 1
    err = capfd.readouterr().err
    assert err.startswith("ptkit bench: FAIL: 1 case(s) with broken timing: cpu fp32 n=64: ")


class FakeTorchCuda:
    def __init__(self, cuda: str | None, count: int):
        self.version = type("version", (), {"cuda": cuda})
        self.cuda = type("cuda", (), {"is_available": staticmethod(lambda: count > 0),
                                      "device_count": staticmethod(lambda: count)})


@pytest.mark.parametrize(("spec", "devices"), [
    ("auto", ["cuda:0"]), ("all", ["cpu", "cuda:0", "cuda:1"]), ("cpu", ["cpu"]), ("cuda", ["cuda:0"]),
    ("cuda:1", ["cuda:1"]),
])
def test_device_specs_resolve_against_two_gpus(spec, devices):
    assert cli.resolve_devices(FakeTorchCuda("12.8", 2), spec) == devices


def test_device_specs_without_gpus():
    cpu_only = FakeTorchCuda(None, 0)
    assert cli.resolve_devices(cpu_only, "auto") == ["cpu"] and cli.resolve_devices(cpu_only, "all") == ["cpu"]
    with pytest.raises(output.Failure, match=r"^--device cuda:2: this environment has 2 GPU\(s\), cuda:0 to cuda:1$"):
        cli.resolve_devices(FakeTorchCuda("12.8", 2), "cuda:2")


def test_verify_json_and_report_agree_and_the_run_passes(torch, capfd, tmp_path):
    report = tmp_path / "verify.json"
    assert cli.main(["verify", "--quick", "--json", "--report", str(report)]) == 0
    out, err = capfd.readouterr()
    data = json.loads(out)
    assert data == json.loads(report.read_text()) and data["ok"] is True and err == ""
    assert data["invocation"] == ["verify", "--quick", "--json", "--report", str(report)]


def test_an_unwritable_report_is_exit_1_with_the_reason(torch, capfd, tmp_path):
    assert cli.main(["verify", "--quick", "--report", str(tmp_path)]) == 1
    out, err = capfd.readouterr()
    assert "verify: PASS" in out and err == (
        f"ptkit verify: could not write the report to {tmp_path}: it is a folder; a report goes to a file, "
        "a new path, a character device or a FIFO\n")


def test_interrupt_is_exit_130_with_one_line(capfd, monkeypatch):
    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.steps, "run_verify", interrupted)
    assert cli.main(["verify", "--quick"]) == 130
    assert capfd.readouterr().err == "ptkit verify: interrupted\n"


@pytest.mark.parametrize("argv", [["bench", "--size", "0"], ["bench", "--min-time", "nan"], ["bench", "--size", "x"],
                                  ["bench", "--device", "gpu"], ["verify", "--expect-cuda-version", "12"]])
def test_bad_arguments_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2 and "error: argument" in capsys.readouterr().err


def test_positive_arguments_keep_their_value():
    assert cli.positive_int("3") == 3 and cli.positive_seconds("0.25") == 0.25 and cli.device_spec("cuda:12")


def test_an_image_block_is_kept_when_there_is_no_run_block():
    data = Report(image={"size_mb": 900}).to_dict()
    assert data["image"] == {"size_mb": 900} and "run" not in data and "distributed" not in data


def test_a_report_without_checks_loads_empty():
    assert Report.from_dict({}) == Report()


def test_an_exception_without_a_message_is_its_type():
    assert describe(RuntimeError()) == "RuntimeError" and describe(OSError("\n  \n")) == "OSError"
