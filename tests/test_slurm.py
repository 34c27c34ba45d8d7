"""A real single-node Slurm (Debian's slurm-wlm and munge) started and stopped by the test: the
generated sbatch script is submitted with sbatch, runs `verify --distributed` with 2 ranks as plain
processes (`--runtime none`, this environment's torchrun), and its combined report must pass.

The daemons are this test's own: a private munged socket and key, a generated slurm.conf with
free ports, state and spool in a temporary directory; nothing of a system Slurm is touched.
"""

from __future__ import annotations

import json

from tests.utils.slurm import TORCHRUN, slurm_cluster, submit


def test_generated_sbatch_script_passes_on_a_real_slurmctld(tmp_path):
    from ptkit.cluster.launch import Job
    from ptkit.cluster.slurm import render

    reports = tmp_path / "reports"
    job = Job("cpu", "-", nodes=1, procs_per_node=2, gpus_per_node=0, collective_timeout=30, join_timeout=60)
    script = tmp_path / "verify.sbatch"
    script.write_text(render(job, "none", torchrun=str(TORCHRUN), report_dir=str(reports)))
    with slurm_cluster(tmp_path / "slurm") as env:
        status, output = submit(env, script, tmp_path)
    assert status == 0, output[-3000:]
    assert f"ptkit: combined report: {reports}/combined.json" in output
    combined = json.loads((reports / "combined.json").read_text())
    assert combined["ok"] is True
    block = combined["distributed"]
    assert block["world_size"] == 2 and [r["ok"] for r in block["ranks"]] == [True, True]
    assert block["bandwidth"] and all(b["busbw_gbps"] > 0 for b in block["bandwidth"])
    assert sorted(p.name for p in reports.glob("rank-*.json")) == ["rank-0.json", "rank-1.json"]
