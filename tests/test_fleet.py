"""`ptkit fleet`: many nodes' reports in one table, the slow nodes named (synthetic node reports)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ptkit import cli
from ptkit.matrix_report import fleet, model
from tests.utils.report_samples import REPORTS, gpu_report, real, write


def nodes_dir(tmp_path: Path, fractions: dict[str, float], busbw: dict[str, float] | None = None) -> Path:
    for host, fraction in fractions.items():
        write(tmp_path, host, gpu_report(host, fraction, busbw=(busbw or {}).get(host)))
    return tmp_path


def by_host(tmp_path: Path, *args: str) -> tuple[int, dict[str, dict]]:
    proc = subprocess.run([sys.executable, "-m", "ptkit", "fleet", str(tmp_path), "--json", *args],
                          capture_output=True, text=True, timeout=60)
    return proc.returncode, {n["host"]: n for n in json.loads(proc.stdout)}


def test_a_node_far_below_its_peers_median_is_named(tmp_path):
    code, nodes = by_host(nodes_dir(tmp_path, {"n1": 0.80, "n2": 0.81, "n3": 0.79, "n4": 0.40}))
    assert code == 1
    assert [h for h, n in nodes.items() if n["outliers"]] == ["n4"]
    assert nodes["n4"]["outliers"][0].startswith("matmul ") and "50% of the peers' median" in nodes["n4"]["outliers"][0]
    assert nodes["n1"]["gpu"] == "1 x NVIDIA H100 80GB HBM3" and nodes["n1"]["driver"] == "580.65.06"


def test_an_even_fleet_is_healthy(tmp_path):
    code, nodes = by_host(nodes_dir(tmp_path, {"n1": 0.80, "n2": 0.78, "n3": 0.82}))
    assert code == 0 and not any(n["outliers"] for n in nodes.values())


def test_the_ratio_sets_how_far_below_is_far(tmp_path):
    nodes_dir(tmp_path, {"n1": 0.80, "n2": 0.80, "n3": 0.70})
    assert by_host(tmp_path)[0] == 0  # 0.70 / 0.80 = 88% of the median
    code, nodes = by_host(tmp_path, "--ratio", "0.9")
    assert code == 1 and nodes["n3"]["outliers"]


def test_two_nodes_are_too_few_to_tell_which_is_slow(tmp_path):
    code, nodes = by_host(nodes_dir(tmp_path, {"n1": 0.80, "n2": 0.20}))
    assert code == 0 and not any(n["outliers"] for n in nodes.values())


def test_nodes_are_compared_with_the_same_gpu_model_only(tmp_path):
    nodes_dir(tmp_path, {"n1": 0.8, "n2": 0.8, "n3": 0.8})
    write(tmp_path, "a100", gpu_report("a100", 0.8, device="NVIDIA A100-SXM4-80GB"))  # lower peak, not slow
    code, nodes = by_host(tmp_path)
    assert code == 0 and nodes["a100"]["matmul"] < nodes["n1"]["matmul"]


def test_a_slow_all_reduce_is_named(tmp_path):
    nodes_dir(tmp_path, {"n1": 0.8, "n2": 0.8, "n3": 0.8, "n4": 0.8},
              busbw={"n1": 360.0, "n2": 355.0, "n3": 362.0, "n4": 90.0})
    code, nodes = by_host(tmp_path)
    assert code == 1 and nodes["n4"]["busbw"] == 90.0
    assert [o.split()[0] for o in nodes["n4"]["outliers"]] == ["all-reduce"]


def test_failed_checks_and_ranks_are_the_status(tmp_path):
    data = gpu_report("n1", busbw=300.0)
    data["ok"] = False
    data["checks"].append({"name": "nccl", "status": "fail", "detail": "all-reduce timed out", "seconds": 60.0})
    data["distributed"]["ranks"].append({"rank": 7, "local_rank": 7, "host": "n2", "ok": False, "failed": ["nccl"]})
    [node] = fleet.fleet(model.load_all([write(tmp_path, "n1", data)]))
    assert node.status == "FAILED nccl: all-reduce timed out; rank 7 on n2 failed: nccl"
    assert not fleet.healthy([node])


def test_the_text_table_has_one_row_per_node(tmp_path, capsys):
    nodes_dir(tmp_path, {"n1": 0.8, "n2": 0.8, "n3": 0.3})
    assert cli.main(["fleet", str(tmp_path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["node", "variant", "GPU"] and len(lines) == 4
    assert "peers' median" in next(ln for ln in lines if ln.startswith("n3 "))


def test_the_matrix_report_has_the_node_table_when_hosts_differ(tmp_path):
    nodes_dir(tmp_path / "in", {"n1": 0.8, "n2": 0.8, "n3": 0.3})
    out = tmp_path / "r.html"
    assert cli.main(["report", str(tmp_path / "in"), "-o", str(out)]) == 0
    html = out.read_text()
    assert "<h2>Nodes</h2>" in html and "peers&#x27; median" in html
    single = tmp_path / "one.html"
    assert cli.main(["report", str(REPORTS / "cpu.json"), "-o", str(single)]) == 0
    assert "<h2>Nodes</h2>" not in single.read_text()


def test_cpu_reports_count_their_cpu_benchmark(tmp_path):
    [node] = fleet.fleet(model.load_all([REPORTS / "cpu.json"]))
    best = max(b["tflops"] for b in real("cpu")["benchmarks"] if b["status"] == "ok")
    assert node.gpu == "cpu" and node.matmul == best and node.busbw is None


def test_a_bad_ratio_is_a_usage_error(tmp_path, capsys):
    assert cli.main(["fleet", str(REPORTS / "cpu.json"), "--ratio", "3"]) == 2
    assert capsys.readouterr().err == "ptkit fleet: error: --ratio 3.0 must be in (0, 1]\n"


ODD_FIGURES = {"zero": 0, "negative": -3.5, "nan": float("nan"), "inf": float("inf"), "text": "12", "bool": True,
               "null": None, "list": [1]}


def test_reports_with_odd_figures_and_shapes_give_a_table_not_a_traceback(tmp_path):
    """Zero, negative, non-finite and mistyped figures are no measurement (shown "-"), whatever their peers."""
    nodes_dir(tmp_path, {"n1": 0.8, "n2": 0.8, "n3": 0.8}, busbw={"n1": 0.0, "n2": 0.0, "n3": -1.0})
    for name, value in ODD_FIGURES.items():
        data = gpu_report(name)
        for bench in data["benchmarks"]:
            bench["tflops"] = value
        data["distributed"] = {"world_size": True, "bandwidth": [{"bytes": "1M", "busbw_gbps": value},
                                                                 {"bytes": 2.0, "busbw_gbps": 1.0}]}
        write(tmp_path, name, data)
    shapes = gpu_report("shapes")
    shapes.update(checks=5, devices="H100", benchmarks={"tflops": 1}, distributed={"ranks": 7, "bandwidth": "x"})
    write(tmp_path, "shapes", shapes)
    for args in ((), ("--format", "md")):
        proc = subprocess.run([sys.executable, "-m", "ptkit", "fleet", str(tmp_path), *args], capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr  # n1-n3 agree; no odd figure makes anyone an outlier
        assert proc.stderr == ""
    _, nodes = by_host(tmp_path)
    for name in (*ODD_FIGURES, "shapes"):
        assert nodes[name]["matmul"] is None and nodes[name]["outliers"] == [], name
    assert nodes["zero"]["busbw"] == 1.0  # the one real figure of its rows
    assert nodes["n1"]["busbw"] is None and nodes["n1"]["matmul"] > 0
