"""`ptkit select` knows the CPU side (issue 21.6): the host's platform comes from --platform, else the CPU the GPU
catalog gives the model, else this machine's; only rows built for it are offered, judged by that platform's
reports. The repository's matrix (cuda130, cuda132 and cpu --source pypi on arm64) with the fixture reports (x86)."""

from __future__ import annotations

import json

import pytest

from ptkit import cli
from ptkit.compat import gpus, select
from ptkit.errors import UsageError
from ptkit.platforms import PLATFORMS
from tests.utils import matrix_facts
from tests.utils.ptkit_cli import ROOT, run_ptkit
from tests.utils.report_samples import REPORTS

REPO = ["--matrix", str(ROOT / "matrix.toml"), "--reports", str(REPORTS)]
ARM_ROWS = {v.name for v in matrix_facts.every_source() if "linux/arm64" in v.platforms}


def run(capsys, *args: str) -> tuple[int, dict]:
    code = cli.main(["select", "--driver", "595.45.04", *args, *REPO, "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("gpu", ["NVIDIA GH200 480GB", "NVIDIA GB200", "NVIDIA GB10", "NVIDIA Thor"])
def test_an_arm64_gpu_is_offered_only_the_rows_built_for_arm64(capsys, gpu):
    _, result = run(capsys, "--gpu", gpu)
    assert result["platform"] == "linux/arm64"
    verdicts = {v["variant"]: v for v in result["variants"]}
    refused = {name for name, v in verdicts.items() if "built for linux/amd64 only" in " ".join(v["reasons"])}
    assert refused == set(verdicts) - ARM_ROWS and all(verdicts[n]["tier"] == "no" for n in refused)
    # The fixture reports are x86_64 builds: their arch lists are not the arm64 images', so those are unknown
    assert all(verdicts[n]["tier"] == "unknown" for n in ARM_ROWS - {"cpu"})
    assert verdicts["cuda130"]["check"] == "ptkit check cuda130 --platform linux/arm64"
    cpu = verdicts["cpu"]  # the row's arm64 build is its PyPI source
    assert (cpu["tier"], cpu["source"], cpu["check"]) == ("cpu-only", "pypi",
                                                          "ptkit check cpu --source pypi --platform linux/arm64")


def test_an_x86_node_gets_only_amd64_rows_and_its_reports(capsys):
    code, result = run(capsys, "--gpu", "NVIDIA H100 80GB HBM3", "--platform", "linux/amd64")
    verdicts = {v["variant"]: v for v in result["variants"]}
    assert code == 0 and result["platform"] == "linux/amd64" and set(verdicts) == set(matrix_facts.names())
    assert not any("built for" in " ".join(v["reasons"]) for v in verdicts.values())
    assert verdicts["cpu"]["source"] == "pytorch" and verdicts["cuda130"]["check"] == "ptkit check cuda130"


def test_a_platform_the_catalog_contradicts_is_a_usage_error():
    proc = run_ptkit("select", "--driver", "595.45.04", "--gpu", "NVIDIA GH200 480GB", "--platform", "linux/amd64",
                     *REPO)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "the GPU catalog gives NVIDIA GH200 480GB a linux/arm64 host" in proc.stderr


def test_the_host_platform_is_this_machines_where_the_catalog_says_nothing():
    a100 = gpus.Gpu("580.65.06", "8.0", "NVIDIA A100-SXM4-80GB")  # PCIe/SXM cards sit in x86 and Arm servers
    assert select.host_platform(a100, None, "aarch64") is PLATFORMS["linux/arm64"]
    assert select.host_platform(a100, None, "x86_64") is PLATFORMS["linux/amd64"]
    assert select.host_platform(a100, "linux/arm64", "x86_64") is PLATFORMS["linux/arm64"]  # planning elsewhere
    assert select.host_platform(gpus.Gpu("580.65.06", "9.0", "NVIDIA GH200 480GB"), None, "x86_64").arch == "arm64"
    with pytest.raises(UsageError, match="no image is built for this host's machine 'riscv64'"):
        select.host_platform(a100, None, "riscv64")


def test_the_last_matrix_runs_arm64_reports_judge_a_grace_hopper_and_its_x86_reports_an_h100(capsys):
    """docs/evidence/matrix holds both builds of cuda130 and cuda132 (issue 21.7): each host is judged by its own
    platform's report. aarch64's torch 2.14.1 is built for sm_80 and up (no sm_75), x86_64's from sm_75."""
    last_run = ["--matrix", str(ROOT / "matrix.toml"), "--reports", str(ROOT / "docs" / "evidence" / "matrix")]
    for gpu, host in (("NVIDIA GH200 480GB", "linux/arm64"), ("NVIDIA H100 80GB HBM3", "linux/amd64")):
        code = cli.main(["select", "--driver", "595.45.04", "--gpu", gpu, *last_run, "--json"])
        result = json.loads(capsys.readouterr().out)
        verdicts = {v["variant"]: v for v in result["variants"]}
        assert code == 0 and result["platform"] == host, result
        assert verdicts["cuda130"]["tier"] == verdicts["cuda132"]["tier"] == "native", (gpu, verdicts)
    code = cli.main(["select", "--driver", "595.45.04", "--capability", "7.5", "--platform", "linux/arm64",
                     *last_run, "--json"])
    verdicts = {v["variant"]: v for v in json.loads(capsys.readouterr().out)["variants"]}
    assert verdicts["cuda130"]["tier"] == "no" and "sm_80" in " ".join(verdicts["cuda130"]["reasons"])
    code = cli.main(["select", "--driver", "595.45.04", "--capability", "7.5", *last_run, "--json"])
    verdicts = {v["variant"]: v for v in json.loads(capsys.readouterr().out)["variants"]}
    assert verdicts["cuda130"]["tier"] == "native"  # a T4 in an x86 host: the x86_64 build's sm_75
