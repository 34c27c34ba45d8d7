"""The multi-node run's collect and judge steps on real files (the containers are tests/docker/test_multinode.py's):
rank 0's combined report is the one copied out, and a run passes only when every node exited 0 and the report,
read through the report model, has no failed check."""

from __future__ import annotations

import json

from ptkit.cluster import multinode
from ptkit.verify.distributed import COMBINED


def report(*checks: tuple[str, str, str]) -> str:
    return json.dumps({"schema": "ptkit.verify/1", "ok": all(c[1] != "fail" for c in checks),
                       "checks": [{"name": n, "status": s, "detail": d, "seconds": 0.0} for n, s, d in checks]})


def test_rank_0s_combined_report_is_copied_out_and_a_clean_run_passes(tmp_path):
    out = tmp_path / "cpu-distributed"
    (out / "node-0").mkdir(parents=True)
    (out / "node-1").mkdir()
    (out / "node-1" / COMBINED).write_text(report(("collectives", "pass", "all-reduce exact")))
    combined = multinode.combine(out, tmp_path / "cpu-distributed.json")
    assert combined == tmp_path / "cpu-distributed.json"
    assert json.loads(combined.read_text())["checks"][0]["detail"] == "all-reduce exact"
    assert multinode.judge([0, 0], out, combined) is None


def test_a_node_that_died_and_the_first_failed_check_are_the_reason(tmp_path):
    out = tmp_path / "out"
    (out / "node-0").mkdir(parents=True)
    checks = [("barrier", "pass", ""), ("collectives", "fail", "lost peer(s): rank 1"), ("bandwidth", "fail", "-")]
    (out / "node-0" / COMBINED).write_text(report(*checks))
    combined = multinode.combine(out, tmp_path / "c.json")
    assert multinode.judge([0, 137], out, combined) == "node 1 exited 137; collectives: lost peer(s): rank 1"
    assert multinode.judge([0, 0], out, combined) == "collectives: lost peer(s): rank 1"


def test_without_a_combined_report_the_reason_points_at_the_logs(tmp_path):
    out = tmp_path / "out"
    (out / "node-0").mkdir(parents=True)
    stale = tmp_path / "c.json"
    stale.write_text(report())  # an earlier run's: never judged as this one's
    assert multinode.combine(out, stale) is None and not stale.exists()
    assert multinode.judge([None, 1], out, None) == (f"node 0 did not finish; node 1 exited 1; no combined report "
                                                     f"(logs: {out}/node-*/torchrun.log)")


def test_on_one_host_each_node_gets_its_own_gpus_and_a_cpu_job_asks_for_none():
    """One host plays every node: two ranks on one GPU would make NCCL fail, so node k gets GPUs k*n .. k*n+n-1,
    as Docker's device requests (`--gpus '"device=2,3"'`) name them."""
    from ptkit.cluster.launch import Job

    job = Job("cuda130", "ptkit:cuda130", nodes=3, procs_per_node=2, gpus_per_node=2)
    requests = [multinode._gpu_request(job, node) for node in range(3)]
    assert [[r["DeviceIDs"] for r in node] for node in requests] == [[["0", "1"]], [["2", "3"]], [["4", "5"]]]
    assert all(r["Capabilities"] == [["gpu"]] and r["Driver"] == "" for node in requests for r in node)
    assert multinode._gpu_request(Job("cpu", "ptkit:cpu", nodes=2, procs_per_node=1, gpus_per_node=0), 1) == []
