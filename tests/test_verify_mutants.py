"""Behaviour the mutation run (nox -s mutation) found untested: in-process, real torch on the CPU, real files.

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
from types import SimpleNamespace

import pytest

from ptkit.verify import cli, cpus, facts, gpu, numerics, output, precision, runtime, steps

# At collection, so that mutmut's fork server (which collects once) forks each mutant's run with torch loaded.
pytest.importorskip("torch")
from ptkit.verify.results import (
    FAIL,
    PASS,
    WARN,
    Report,
    describe,
    render_text,
    run_line,
    tutorial_lines,
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
    (["compute_89"], WARN),             # PTX of a lower arch JIT-compiles
    (["compute_90"], WARN),             # PTX of the same arch too
    (["compute_91"], FAIL),             # PTX of a higher arch cannot
    (["compute_90a"], WARN),            # the suffixes of arch-specific PTX are not part of the number
    (["compute_90f"], WARN),
])
def test_arch_judgement(arch_list, status):
    assert gpu.judge_arch("9.0", arch_list)[0] == status


def test_arch_fail_names_the_compiled_list_or_empty():
    assert gpu.judge_arch("7.0", ["sm_80", "sm_90"]) == (FAIL, "sm_70 is not in torch's compiled arch list "
                                                                "(sm_80 sm_90)")
    assert gpu.judge_arch("7.0", [])[1] == "sm_70 is not in torch's compiled arch list (empty)"


class FakeCuda:
    """torch.cuda as seen by precision: one device of the given capability."""

    def __init__(self, capability: tuple[int, int], bf16: bool | None):
        self.capability, self.asked = capability, []
        if bf16 is not None:
            self.is_bf16_supported = lambda: bf16

    def get_device_capability(self, device):
        self.asked.append(device)
        return self.capability


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
    assert "verify: PASS" in out and err == f"ptkit verify: could not write the report to {tmp_path}: Is a directory\n"


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


def test_the_cpu_tutorial_line_names_its_threads():
    assert tutorial_lines({"device": "cpu", "median_ms": 12.5, "repeats": 7, "threads": 4}) == [
        "Device selected : CPU",
        "Time taken to multiply two matrices on a CPU: 12.500 ms (1000x1000 fp32, median of 7, synchronized, "
        "4 thread(s))"]
    gpu_line = tutorial_lines({"device": "cuda", "median_ms": 0.5, "repeats": 9, "threads": 4})[1]
    assert gpu_line.endswith("GPU: 0.500 ms (1000x1000 fp32, median of 9, synchronized)")
    assert tutorial_lines({"device": "cpu", "median_ms": 1, "repeats": 2})[1].endswith("median of 2, synchronized)")


def test_drivers_are_looked_up_by_cuda_major_minor():
    assert [facts.cuda_key(v) for v in ("12.8.1", "13.0", "11.8.0.1")] == ["12.8", "13.0", "11.8"]


@pytest.mark.parametrize(("bf16_native", "native"), [(True, ["fp32", "bf16"]), (False, ["fp32"])])
def test_cpu_native_dtypes_follow_the_cpu_bf16_support(torch, monkeypatch, bf16_native, native):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: bf16_native)
    assert precision.native_dtypes(torch, "cpu") == native


@pytest.mark.parametrize(("capability", "native"), [((7, 5), ["fp32", "fp16"]),
                                                    ((8, 0), ["fp32", "tf32", "fp16", "bf16"])])
def test_gpu_native_dtypes_follow_the_capability(torch, monkeypatch, capability, native):
    fake = FakeCuda(capability, capability >= (8, 0))
    monkeypatch.setattr(torch, "cuda", fake)
    assert precision.native_dtypes(torch, "cuda:1") == native and set(fake.asked) == {"cuda:1"}


def test_tf32_is_switchable_through_either_api():
    matmul = SimpleNamespace(allow_tf32=False)
    old = SimpleNamespace(backends=SimpleNamespace(cuda=SimpleNamespace(matmul=matmul)))
    assert precision._tf32_switchable(old)
    assert precision._tf32_switchable(SimpleNamespace(backends=SimpleNamespace(), set_float32_matmul_precision=print))
    assert not precision._tf32_switchable(SimpleNamespace(backends=SimpleNamespace(cuda=SimpleNamespace())))


@pytest.fixture
def threads(torch):
    """Sets torch's thread count for one test and restores it."""
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


def test_threads_against_the_usable_cpus(torch, threads, monkeypatch):
    usable = cpus.read_cpus().usable
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    threads(usable + 1)
    report = Report()
    assert runtime.check_threads(report, torch) == usable + 1
    (check,) = report.checks
    assert check.status == WARN and check.detail.startswith(f"torch uses {usable + 1} threads (torch's default")
    assert check.detail.endswith(f"oversubscribed, set OMP_NUM_THREADS={usable}")
    assert report.environment["cpus"]["torch_threads"] == usable + 1 and report.environment["cpus"]["usable"] == usable
    threads(usable)
    monkeypatch.setenv("OMP_NUM_THREADS", str(usable))
    report = Report()
    runtime.check_threads(report, torch)
    assert (report.checks[0].status, report.checks[0].detail) == (
        PASS, f"torch uses {usable} thread(s) on {cpus.read_cpus().describe()}")
    assert report.environment["cpus"]["OMP_NUM_THREADS"] == str(usable)


def test_fewer_threads_than_cpus_warns_naming_the_setting(torch, threads, monkeypatch):
    if cpus.read_cpus().usable < 2:
        pytest.skip("needs 2 usable CPUs")
    threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    report = Report()
    runtime.check_threads(report, torch)
    assert report.checks[0].status == WARN and report.checks[0].detail.startswith("torch uses 1 thread(s) "
                                                                                  "(OMP_NUM_THREADS=1) of ")


def test_dataloader_workers_pass_every_sample(torch):
    report = Report()
    runtime.check_dataloader(report)
    assert [(c.name, c.status, c.detail) for c in report.checks] == [
        ("dataloader", PASS, "1 worker process(es) iterated 8 samples (checksum 140, expected 140)")]


def test_shm_size_is_reported_in_its_unit():
    report = Report()
    runtime.check_shm(report)
    size = os.statvfs("/dev/shm").f_frsize * os.statvfs("/dev/shm").f_blocks
    expected = (PASS, f"/dev/shm is {size / 2**30:.1f} GiB") if size >= 2**30 else (
        WARN, f"/dev/shm is {size / 2**20:.0f} MiB (< 1 GiB): DataLoader workers may die with bus errors; "
              "use docker run --shm-size=8g or --ipc=host")
    assert (report.checks[0].status, report.checks[0].detail) == expected


def test_matmul_error_is_small_but_real_and_grows_with_a_narrower_dtype(torch):
    fp32, bf16 = (numerics.matmul_error(torch, "cpu", d) for d in ("fp32", "bf16"))
    assert 0 < fp32 < numerics.TOLERANCE["fp32"] and fp32 < bf16 < numerics.TOLERANCE["bf16"]
    assert numerics.matmul_error(torch, "cpu", "fp32") == fp32  # seeded: the same inputs every run


def test_a_matmul_error_above_the_tolerance_fails_naming_both(torch, monkeypatch):
    monkeypatch.setitem(numerics.TOLERANCE, "fp32", 1e-12)
    report = Report()
    numerics.check_matmul(report, torch, "cpu", "fp32")
    err = numerics.matmul_error(torch, "cpu", "fp32")
    assert [(c.name, c.status, c.detail) for c in report.checks] == [
        ("numerics:cpu:fp32", FAIL, f"matmul relative error {err:.2e} (> 1e-12)")]


def test_autograd_matches_the_analytic_gradient(torch):
    report = Report()
    numerics.check_autograd(report, torch, "cpu")
    (check,) = report.checks
    assert (check.name, check.status) == ("autograd:cpu", PASS)
    assert check.detail.startswith("backward matches analytic gradient (max rel err ")


def test_quick_verify_runs_every_step_in_order_and_times_the_tutorial(torch):
    report = steps.run_verify(cli.build_parser().parse_args(["verify", "--quick"]), ["verify", "--quick"])
    names = [c.name for c in report.checks]
    order = ["drift", "import:torch", "build", "cuda", "numerics:cpu:fp32", "autograd:cpu", "shm", "dataloader",
             "threads", "smoke:openmp", "compile", "tutorial"]
    assert [n for n in names if n in order] == order and names[-1] == "tutorial" and report.benchmarks == []
    tutorial = report.checks[-1]
    assert tutorial.detail.startswith(f"1000x1000 fp32 on cpu: {report.tutorial['median_ms']:.3f} ms (median of "
                                      f"{report.tutorial['repeats']}, {report.tutorial['threads']} thread(s))")
    assert tutorial.status == (WARN if report.tutorial["detail"] else PASS)
    assert report.invocation == ["verify", "--quick"]


def test_a_bare_failed_report_renders_dashes_and_the_verdict_only():
    report = Report()
    report.add("cuda", FAIL, "no GPU")
    assert render_text(report).splitlines() == [
        "ptkit verify: python - | torch - | cuda - | driver -", "",
        "status  check  detail  s", "FAIL    cuda   no GPU  0.00", "",
        "verify: FAIL (0 pass, 0 warn, 1 fail, 0 skip)"]


def test_benchmarks_render_between_the_checks_and_the_verdict():
    report = Report(benchmarks=[{"device": "cpu", "dtype": "fp32", "n": 64, "status": "broken", "detail": "too fast"}])
    lines = render_text(report).splitlines()
    assert lines[-5:] == ["", "device  dtype  n   median ms  iqr ms  TFLOP/s        % peak  note",
                          "cpu     fp32   64  -          -       BROKEN TIMING  -       too fast", "",
                          "verify: PASS (0 pass, 0 warn, 0 fail, 0 skip)"]


def test_to_argv_passes_on_every_kind_of_option(monkeypatch):
    original = cli.add_verify_args

    def with_more(parser):
        original(parser)
        parser.add_argument("-l", "--level", action="count", default=0)
        parser.add_argument("--mode-fast", dest="mode", action="store_const", const="fast")
        parser.add_argument("--pair", nargs=2, type=int)
        parser.add_argument("--maybe", nargs="?", const="c")

    monkeypatch.setattr(cli, "add_verify_args", with_more)
    parser = cli.build_parser()
    args = parser.parse_args(["verify", "-ll", "--mode-fast", "--pair", "1", "2", "--maybe", "m", "--quick"])
    assert cli.to_argv(args) == ["--quick", "--level", "--level", "--mode-fast", "--pair", "1", "2", "--maybe", "m"]
    assert cli.to_argv(parser.parse_args(["verify"])) == []
