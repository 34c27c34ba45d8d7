"""`ptkit select` against the fixture matrix and reports (tests/data/README.md says where their facts come from)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ptkit import cli
from ptkit.compat import gpus
from ptkit.matrix import load
from ptkit.verify.catalog import GPUS
from ptkit.verify.facts import MIN_DRIVER, MINOR_COMPAT_FLOOR
from tests.utils.report_samples import DATA, REPORTS, real, write

MATRIX = DATA / "matrix.toml"
SNAPSHOT = ["--matrix", str(MATRIX), "--reports", str(REPORTS)]


def select(capsys, *args: str) -> tuple[int, dict]:
    code = cli.main(["select", *args, *SNAPSHOT, "--json"])
    return code, json.loads(capsys.readouterr().out)


def tiers(result: dict) -> dict[str, str]:
    return {v["variant"]: v["tier"] for v in result["variants"]}


# (driver, GPU option, best variant, variants that must not run, variants that run only by minor compat, and
# only with the forward-compatibility package: NVIDIA offers it for data-center GPUs, never for GeForce)
CASES = [
    ("580.65.06", ["--gpu", "Tesla V100-SXM2-16GB"], "cuda126", {"cuda130", "cuda128"}, set(), set()),
    ("535.104.05", ["--gpu", "NVIDIA A100-SXM4-80GB"], "cuda121", set(), {"cuda124", "cuda126", "cuda128"},
     {"cuda130"}),
    ("550.54.15", ["--gpu", "NVIDIA H100 80GB HBM3"], "cuda124", set(), {"cuda126", "cuda128"}, {"cuda130"}),
    ("570.124.06", ["--gpu", "NVIDIA GeForce RTX 5090"], "cuda128",
     {"cuda130", "cuda126", "cuda124", "cuda121", "cuda118"}, set(), set()),
    ("418.67", ["--capability", "7.0"], None,
     {"cuda130", "cuda128", "cuda126", "cuda124", "cuda121", "cuda118"}, set(), set()),
]


@pytest.mark.parametrize(("driver", "gpu", "best", "refused", "minor", "forward"), CASES,
                         ids=["V100+580", "A100+535", "H100+550", "RTX5090+570", "driver-older-than-all"])
def test_the_best_variant_and_why_the_others_do_not_run(capsys, driver, gpu, best, refused, minor, forward):
    code, result = select(capsys, "--driver", driver, *gpu)
    assert result["best"] == best
    assert code == (0 if best else 1)
    got = tiers(result)
    assert {v for v, t in got.items() if t == "no"} == refused
    assert {v for v, t in got.items() if t == "minor-compat"} == minor
    assert {v for v, t in got.items() if t == "forward-compat"} == forward
    assert got["cpu"] == "cpu-only"
    ranked = [v["variant"] for v in result["variants"]]
    assert ranked[0] == (best or "cpu") and set(ranked) == set(load(MATRIX).variants)


def test_forward_compatibility_is_named_only_where_it_is_the_way(capsys):
    _, result = select(capsys, "--driver", "535.104.05", "--gpu", "NVIDIA H100 PCIe")
    why = {v["variant"]: " ".join(v["reasons"]) for v in result["variants"]}
    assert "forward-compatibility package cuda-compat-13-0" in why["cuda130"]
    assert "cuda-compat" not in why["cuda124"]  # minor-version compatibility serves it
    _, result = select(capsys, "--driver", "535.104.05", "--gpu", "NVIDIA GeForce RTX 4090")
    assert tiers(result)["cuda130"] == "no"


def test_an_arm64_superchip_is_refused_every_x86_64_image(capsys):
    code, result = select(capsys, "--driver", "580.65.06", "--gpu", "NVIDIA GH200 480GB")  # an amd64-only matrix
    assert code == 1 and result["best"] is None and set(tiers(result).values()) == {"no"}
    assert result["platform"] == "linux/arm64"
    assert all("built for linux/amd64 only" in v["reasons"][0] for v in result["variants"])


def test_an_l4_gets_every_cuda_row_its_driver_serves(capsys):
    code, result = select(capsys, "--driver", "550.54.15", "--gpu", "NVIDIA L4")
    got = tiers(result)
    assert code == 0 and result["best"] == "cuda124" and got["cuda124"] == "native"
    assert {got[v] for v in ("cuda126", "cuda128")} == {"minor-compat"}  # sm_86 SASS runs on 8.9


def test_the_acceptance_command_names_a_variant_and_says_why_newer_ones_do_not(capsys):
    assert cli.main(["select", "--driver", "535.104.05", "--capability", "8.0", *SNAPSHOT]) == 0
    out = capsys.readouterr().out
    assert "best: cuda121 (torch 2.5.1+cu121, CUDA 12.1)" in out
    line = next(ln for ln in out.splitlines() if ln.split()[1:2] == ["cuda130"])
    assert f"too old for torch built with CUDA 13.0: minimum is {MIN_DRIVER['13.0']}" in line
    line = next(ln for ln in out.splitlines() if ln.split()[1:2] == ["cuda128"])
    assert "minor-compat" in line and f"minor-version compatibility (>= {MINOR_COMPAT_FLOOR['12']})" in line


def test_volta_is_refused_by_the_arch_list_the_report_recorded(capsys):
    _, result = select(capsys, "--driver", "580.65.06", "--capability", "sm_70")
    why = {v["variant"]: " ".join(v["reasons"]) for v in result["variants"]}
    archs = " ".join(real("cuda130")["environment"]["build"]["arch_list"])
    assert f"no compiled arch runs on sm_70 ({archs})" in why["cuda130"]
    # The newest variant whose recorded archs run on 7.0 (the fixture cuda128 report has no sm_70).
    assert why["cuda130"].endswith("; use cuda126")


def test_a_variant_without_a_report_is_unknown_not_guessed(tmp_path, capsys):
    for name in ("cpu", "cuda121"):
        write(tmp_path, name, real(name))
    code = cli.main(["select", "--driver", "580.65.06", "--capability", "8.0", "--matrix", str(MATRIX),
                                 "--reports", str(tmp_path), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["best"] == "cuda121"
    unknown = [v for v in result["variants"] if v["tier"] == "unknown"]
    assert {v["variant"] for v in unknown} == set(load(MATRIX).variants) - {"cpu", "cuda121"}
    assert all("no report: arch list unknown, build and check it first" in v["reasons"][-1] for v in unknown)


def ptx_reports(tmp_path: Path, arch_list: list[str]) -> Path:
    data = real("cuda128")
    data["environment"]["build"]["arch_list"] = arch_list
    write(tmp_path, "cuda128", data)
    write(tmp_path, "cuda126", real("cuda126"))
    return tmp_path


def test_ptx_only_ranks_below_native_and_needs_the_full_driver(tmp_path, capsys):
    reports = ptx_reports(tmp_path, ["sm_80", "sm_90", "compute_90"])
    base = ["select", "--matrix", str(MATRIX), "--reports", str(reports), "--json", "--capability", "10.0"]
    cli.main([*base, "--driver", "575.51.03"])
    assert tiers(json.loads(capsys.readouterr().out))["cuda128"] == "jit-from-ptx"
    cli.main([*base, "--driver", "535.104.05"])  # minor compat cannot JIT newer PTX
    verdict = next(v for v in json.loads(capsys.readouterr().out)["variants"] if v["variant"] == "cuda128")
    assert verdict["tier"] == "no" and "minor-version compatibility does not cover PTX" in verdict["reasons"][-1]


def test_native_beats_ptx_even_from_an_older_cuda(tmp_path, capsys):
    reports = ptx_reports(tmp_path, ["sm_80", "compute_80"])  # sm_80 SASS does not run on 9.0, its PTX does
    cli.main(["select", "--matrix", str(MATRIX), "--reports", str(reports), "--json",
                          "--capability", "9.0", "--driver", "580.65.06"])
    ranked = [(v["variant"], v["tier"]) for v in json.loads(capsys.readouterr().out)["variants"]]
    assert ranked[:2] == [("cuda126", "native"), ("cuda128", "jit-from-ptx")]


@pytest.mark.parametrize(("name", "capability"), [
    ("Tesla V100-SXM2-16GB", "7.0"), ("Tesla T4", "7.5"), ("NVIDIA A100-SXM4-80GB", "8.0"), ("NVIDIA A10G", "8.6"),
    ("NVIDIA A10", "8.6"), ("NVIDIA L4", "8.9"), ("NVIDIA L40S", "8.9"), ("NVIDIA H100 PCIe", "9.0"),
    ("NVIDIA H200", "9.0"), ("NVIDIA B200", "10.0"), ("NVIDIA GeForce RTX 5090", "12.0")])
def test_gpu_model_names(name, capability):
    assert gpus.capability_of(name) == capability


@pytest.mark.parametrize("args", [["--driver", "latest", "--capability", "8.0"],
                                  ["--driver", "535.104.05", "--capability", "eight"],
                                  ["--driver", "535.104.05", "--gpu", "Voodoo 5"]])
def test_bad_options_are_one_line_and_exit_2(capsys, args):
    assert cli.main(["select", *args, *SNAPSHOT]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ptkit select: error: ") and err.count("\n") == 1


# No GPU has compute capability 9.9 or 0.0 (NVIDIA's list: https://developer.nvidia.com/cuda-gpus); 99 and sm_99
# are 9.9 written as an arch number, the way 120 and sm_120 are 12.0.
@pytest.mark.parametrize("typed", ["99", "sm_99", "9.9", "0.0"])
def test_a_capability_of_no_gpu_is_refused_in_one_line(capsys, typed):
    assert cli.main(["select", "--driver", "535.104.05", "--capability", typed, *SNAPSHOT]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith(f"ptkit select: error: --capability {typed!r}")
    assert "no GPU in the catalog" in captured.err


@pytest.mark.parametrize(("typed", "capability"), [("12.1", "12.1"), ("sm_120", "12.0"), ("75", "7.5")])
def test_a_capability_of_a_catalog_gpu_is_taken_in_each_form(capsys, typed, capability):
    # 12.1: the DGX Spark's GB10, 12.0: the RTX 5090, 7.5: the T4 (https://developer.nvidia.com/cuda-gpus)
    code, result = select(capsys, "--driver", "580.65.06", "--capability", typed)
    assert code == 0 and result["gpu"]["capability"] == capability


def run_select(tmp_path: Path, *args: str, path: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": path}
    return subprocess.run([sys.executable, "-m", "ptkit", "select", *args], env=env,
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)


def test_without_nvidia_smi_the_host_cannot_be_read(tmp_path):
    proc = run_select(tmp_path, *SNAPSHOT, path=str(tmp_path))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == ("ptkit select: error: no nvidia-smi on this host: give --driver VERSION and "
                           "--capability X.Y (or --gpu MODEL)\n")


def test_the_host_is_read_through_nvidia_smi(tmp_path):
    # A stand-in nvidia-smi (this host has no GPU) printing what a mixed A100/V100 node prints.
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\n[ \"$1\" = --query-gpu=driver_version,compute_cap,name ] || exit 9\n"
                   "echo '535.104.05, 8.0, NVIDIA A100-SXM4-80GB'\necho '535.104.05, 7.0, Tesla V100-SXM2-16GB'\n")
    smi.chmod(0o755)
    proc = run_select(tmp_path, *SNAPSHOT, "--json", path=f"{tmp_path}:{os.environ['PATH']}")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["gpu"] == {"driver": "535.104.05", "capability": "7.0", "name": "Tesla V100-SXM2-16GB"}
    assert result["best"] == "cuda121"


def test_a_malformed_report_is_one_line_and_exit_1(tmp_path):
    write(tmp_path, "cpu", real("cpu"))
    (tmp_path / "cuda121.json").write_text('{"schema": "ptkit.verify/1", "ok": tru')
    proc = run_select(tmp_path, "--driver", "535.104.05", "--capability", "8.0", "--matrix", str(MATRIX),
                      "--reports", str(tmp_path), path=os.environ["PATH"])
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith(f"ptkit select: error: {tmp_path / 'cuda121.json'}: not valid JSON")
    assert proc.stderr.count("\n") == 1


def test_a_reports_folder_that_does_not_exist_is_an_error(tmp_path, capsys):
    assert cli.main(["select", "--driver", "580.65.06", "--capability", "8.0", "--matrix", str(MATRIX),
                                 "--reports", str(tmp_path / "nowhere")]) == 1
    assert capsys.readouterr().err == f"ptkit select: error: {tmp_path / 'nowhere'}: no such report file\n"


def test_without_reports_every_gpu_variant_is_unknown(tmp_path, capsys, monkeypatch):
    matrix = tmp_path / "matrix.toml"
    matrix.write_text(MATRIX.read_text())
    monkeypatch.chdir(tmp_path)  # the default is ./reports: none here (the suite's own runs write some)
    assert cli.main(["select", "--driver", "580.65.06", "--capability", "8.0", "--matrix", str(matrix),
                                 "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert set(tiers(result).values()) == {"unknown", "cpu-only"} and result["best"] is None
    unknown = [v for v in result["variants"] if v["tier"] == "unknown"]
    full = [v["full_driver"] for v in unknown]
    assert full == sorted(full, reverse=True) and any(full)  # a driver that suffices ranks above minor compat


def test_the_last_matrix_run_fills_in_the_variants_reports_lacks(tmp_path, capsys, monkeypatch):
    matrix = tmp_path / "matrix.toml"
    matrix.write_text(MATRIX.read_text())
    last_run = tmp_path / "docs" / "evidence" / "matrix"
    pypi = real("cuda121")
    pypi["run"]["source"] = "pypi"  # the last run checked the row's other source: the answer says how to get it
    write(last_run, "cuda121", pypi)
    monkeypatch.chdir(tmp_path)  # no ./reports here
    args = ["select", "--driver", "535.104.05", "--capability", "8.0", "--matrix", str(matrix), "--json"]
    assert cli.main(args) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["best"] == "cuda121"
    assert json.loads(captured.out)["variants"][0]["check"] == "ptkit check cuda121 --source pypi"
    said = f"ptkit select: no report in reports/ for cuda121: arch lists from the last matrix run, {last_run}\n"
    assert captured.err == said
    # A cpu check of one's own (what scripts/main.sh leaves) does not hide the GPU rows' recorded arch lists.
    write(tmp_path / "reports", "cpu", real("cpu"))
    assert cli.main(args) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["best"] == "cuda121" and captured.err == said
    # A variant's own report wins over the last run's: here one whose torch has no sm_80 and another version.
    own = real("cuda121")
    own["environment"]["build"]["arch_list"] = ["sm_90"]
    own["environment"]["torch"] = "9.9.9+cu121"
    write(tmp_path / "reports", "cuda121", own)
    assert cli.main(args) == 1
    captured = capsys.readouterr()
    cuda121 = next(v for v in json.loads(captured.out)["variants"] if v["variant"] == "cuda121")
    assert (cuda121["tier"], cuda121["torch"], captured.err) == ("no", "9.9.9+cu121", "")


def test_a_fresh_checkout_selects_from_the_committed_matrix_run(tmp_path):
    """The README's example, run where no reports/ exists, against the repository's matrix and last run."""
    proc = run_select(tmp_path, "--driver", "535.104.05", "--capability", "8.0", "--json", path=os.environ["PATH"])
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["best"] is not None and tiers(result)[result["best"]] == "native"
    assert {v["variant"]: v["tier"] for v in result["variants"]}["cuda130"] == "no"  # driver 535 < 580


def test_the_text_answer_is_a_best_line_and_a_numbered_table_of_what_runs():
    from ptkit.compat.select import Verdict, render_text

    gpu = gpus.Gpu(driver="550.54", capability="8.9", name="NVIDIA L4")
    verdicts = [Verdict("cuda124", "2.5.1", "12.4", "native", check="ptkit check cuda124", reasons=["sm_89 built"],
                        cuda_extensions=True),
                Verdict("cpu", "2.5.1", "", "cpu-only", reasons=["CPU-only build"]),
                Verdict("cuda130", "2.9.0", "13.0", "no", reasons=["driver too old", "needs 580"])]
    lines = render_text(verdicts, gpu).splitlines()
    assert lines[0] == "ptkit select: driver 550.54, compute capability 8.9 (NVIDIA L4), a linux/amd64 host"
    assert lines[1] == ("best: cuda124 (torch 2.5.1, CUDA 12.4): `ptkit check cuda124` builds it; its devel image "
                        "builds CUDA extensions (nvcc)")
    assert lines[2] == ""
    assert lines[3].split() == ["#", "variant", "torch", "CUDA", "runs", "why"]
    rows = [line.split(None, 5) for line in lines[4:] if set(line.strip()) - {"-", " "}]  # past the rule, if any
    assert rows[0] == ["1", "cuda124", "2.5.1", "12.4", "yes", "sm_89 built"]
    assert rows[1] == ["2", "cpu", "2.5.1", "-", "cpu-only", "CPU-only build"]  # runs, on the CPU: ranked
    assert rows[2] == ["-", "cuda130", "2.9.0", "13.0", "no", "driver too old; needs 580"]  # never ranked


def test_without_a_gpu_verdict_the_best_line_says_which_to_check_or_that_none_can():
    from ptkit.compat.select import Verdict, render_text

    gpu = gpus.Gpu(driver="550.54", capability="9.0")
    unknown = [Verdict("cuda126", "2.7.0", "12.6", "unknown"), Verdict("cuda128", "2.8.0", "12.8", "unknown"),
               Verdict("cuda130", "2.9.0", "13.0", "no")]
    text = render_text(unknown, gpu)
    assert text.splitlines()[0] == "ptkit select: driver 550.54, compute capability 9.0, a linux/amd64 host"
    assert text.splitlines()[1] == "best: none known; check these first: cuda126, cuda128"
    assert render_text(unknown[2:], gpu).splitlines()[1] == "best: none of the variants can use this GPU"
    plain = Verdict("cuda124", "2.5.1", "12.4", "jit-from-ptx", check="ptkit check cuda124")
    assert render_text([plain], gpu).splitlines()[1] == ("best: cuda124 (torch 2.5.1, CUDA 12.4): `ptkit check "
                                                         "cuda124` builds it")


NO_DRIVER = ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the "
             "latest NVIDIA driver is installed and running.")


@pytest.mark.parametrize(("script", "expected"), [
    # what a mixed node prints: the lowest capability is the one every image must serve
    ("echo ' 535.104.05 , 8.0, NVIDIA A100-SXM4-80GB'; echo '535.104.05, 7.0, Tesla V100-SXM2-16GB'",
     gpus.Gpu("535.104.05", "7.0", "Tesla V100-SXM2-16GB")),
    ("echo '570.86.15, 9.0, NVIDIA H100 80GB HBM3, with a comma'", gpus.Gpu("570.86.15", "9.0",
                                                                           "NVIDIA H100 80GB HBM3, with a comma")),
    (f'echo "{NO_DRIVER}" >&2; exit 9', f"nvidia-smi failed ({NO_DRIVER}): give --driver and --capability"),
    (f'echo "{NO_DRIVER}"; exit 9', f"nvidia-smi failed ({NO_DRIVER}): give --driver and --capability"),
    ("exit 6", "nvidia-smi failed (exit code 6): give --driver and --capability"),
    ("echo 'No devices were found'", "nvidia-smi gave no GPU ('No devices were found'): give --driver and "
                                     "--capability"),
    ("exec sleep 5", "nvidia-smi failed (Command '['nvidia-smi', "),
])
def test_the_host_gpu_as_nvidia_smi_reports_it_or_why_not(tmp_path, monkeypatch, script, expected):
    smi = tmp_path / "nvidia-smi"  # a stand-in: this host has no GPU
    smi.write_text(f"#!/bin/sh\n[ \"$1 $2\" = '--query-gpu=driver_version,compute_cap,name --format=csv,noheader' ]"
                   f" || exit 99\n{script}\n")
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    if isinstance(expected, gpus.Gpu):
        assert gpus.read_host(timeout=5) == expected
        return
    with pytest.raises(gpus.UsageError) as error:
        gpus.read_host(timeout=0.5)
    assert str(error.value).startswith(expected)


def test_without_nvidia_smi_on_the_path_the_answer_says_what_to_give(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(gpus.UsageError, match=r"^no nvidia-smi on this host: give --driver VERSION and "
                                               r"--capability X\.Y \(or --gpu MODEL\)$"):
        gpus.read_host()


def test_a_typed_capability_must_be_one_a_catalog_gpu_has_and_says_how_it_was_read():
    assert gpus.typed_capability(" sm_89 ") == "8.9" and gpus.typed_capability("120") == "12.0"
    with pytest.raises(gpus.UsageError) as error:
        gpus.typed_capability("99")
    known = sorted({g["capability"] for g in GPUS.values()}, key=lambda c: tuple(map(int, c.split("."))))
    assert str(error.value) == (f"--capability '99' (read as 9.9) is the compute capability of no GPU in the catalog "
                                f"gpus.toml ({', '.join(known)}): give the X.Y nvidia-smi prints, or --gpu MODEL")
    with pytest.raises(gpus.UsageError, match=r"^--capability '9\.9' is the compute capability of no GPU"):
        gpus.typed_capability("9.9")  # typed as read: nothing to add


def test_an_unknown_model_is_refused_with_the_closest_catalog_names():
    assert gpus.capability_of("nvidia h100 80gb hbm3") == "9.0"
    with pytest.raises(gpus.UsageError) as error:
        gpus.capability_of("H10")
    message = str(error.value)
    assert message.startswith("unknown GPU model 'H10' (closest: ") and message.endswith(
        "): give --capability X.Y, or the name nvidia-smi prints")
    assert "h100" in message.split("closest")[1].lower()  # longer names it starts
    with pytest.raises(gpus.UsageError, match=r"^unknown GPU model 'zzzz': give --capability X\.Y"):
        gpus.capability_of("zzzz")  # nothing close: no hint
