"""The multi-node run's steps (the order is pipeline.distributed): torchrun across N containers of one image.

One container per node on a user-defined Docker network, as the image's non-root user, each running torchrun
with the c10d rendezvous on node 0. Reports come back from the containers themselves (no bind mount, so no
ownership problems): reports/VARIANT-distributed/node-I/rank-N.json and, from node 0, the combined
reports/VARIANT-distributed.json, judged through the report model. Containers and the network are removed
whatever happens (failure, timeout, Ctrl-C).
"""

from __future__ import annotations

import io
import json
import shutil
import sys
import tarfile
import time
import uuid
from pathlib import Path
from typing import Any

from ..images import ROLE_LABEL
from ..verify.distributed import COMBINED
from ..verify.results import Report
from .launch import REPORTS_IN_CONTAINER, Job, torchrun_args

ROLE = "distributed"
NODE_LABEL = "ptkit.node"


def _gpu_request(job: Job, node: int) -> list[Any]:
    if not job.gpus_per_node:
        return []
    from docker.types import DeviceRequest

    # One host plays every node: give each its own GPUs, or NCCL sees one GPU used by two ranks.
    ids = [str(node * job.gpus_per_node + i) for i in range(job.gpus_per_node)]
    return [DeviceRequest(device_ids=ids, capabilities=[["gpu"]])]


def start_nodes(api: Any, job: Job, run: str, network: str, verify_args: list[str], started: list[Any]) -> None:
    """Start one container per node, each appended to `started` as soon as the engine has it: the caller removes
    them all, also those started before the engine refused a node (or Ctrl-C came)."""
    head = f"{run}-node0"
    args = torchrun_args(job, head, run, REPORTS_IN_CONTAINER) + verify_args
    for node in range(job.nodes):
        name = f"{run}-node{node}"
        started.append(api.containers.run(
            job.image, entrypoint=["torchrun"], command=args, name=name, hostname=name, network=network,
            detach=True, shm_size="1g", labels={ROLE_LABEL: ROLE, NODE_LABEL: str(node), "ptkit.run": run},
            device_requests=_gpu_request(job, node)))


def wait_all(containers: list[Any], deadline: float) -> list[int | None]:
    """Exit codes, None for a node still running at the deadline (the caller removes it)."""
    codes: list[int | None] = [None] * len(containers)
    while time.monotonic() < deadline and None in codes:
        for i, c in enumerate(containers):
            if codes[i] is None:
                c.reload()
                if c.status in ("exited", "dead"):
                    codes[i] = int(c.attrs["State"]["ExitCode"])
        time.sleep(0.5)
    return codes


def collect(container: Any, dest: Path) -> None:
    """The node's reports and log, copied out of the stopped container."""
    from docker.errors import NotFound

    dest.mkdir(parents=True, exist_ok=True)
    (dest / "torchrun.log").write_bytes(container.logs())
    try:
        stream, _ = container.get_archive(REPORTS_IN_CONTAINER)
    except NotFound:
        return  # the node died before any rank wrote a report
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.endswith(".json"):
                (dest / Path(member.name).name).write_bytes(tar.extractfile(member).read())


def run_job(api: Any, job: Job, verify_args: list[str], out: Path, deadline_s: int) -> list[int | None]:
    """Start the nodes, wait for them (at most `deadline_s`), copy each node's reports and log into `out`."""
    run = f"ptkit-dist-{uuid.uuid4().hex[:8]}"
    network = api.networks.create(run, driver="bridge", labels={ROLE_LABEL: ROLE})
    containers: list[Any] = []
    try:
        start_nodes(api, job, run, network.name, verify_args, containers)
        print(f"distributed: {job.nodes} node(s) x {job.procs_per_node} rank(s) of {job.image} on network {run}",
              file=sys.stderr)
        codes = wait_all(containers, time.monotonic() + deadline_s)
        for node, c in enumerate(containers):
            collect(c, out / f"node-{node}")
        return codes
    finally:
        for c in containers:
            c.remove(force=True)
        network.remove()


def combine(out: Path, combined: Path) -> Path | None:
    """Rank 0's combined report, copied to `combined`; c10d's rendezvous decides which node rank 0 is on."""
    combined.unlink(missing_ok=True)
    for found in sorted(out.glob(f"node-*/{COMBINED}"))[:1]:
        shutil.copy(found, combined)
        return combined
    return None


def judge(codes: list[int | None], out: Path, combined: Path | None) -> str | None:
    """None when every node and rank passed, else the one-line reason."""
    bad = [f"node {i} {'did not finish' if c is None else f'exited {c}'}" for i, c in enumerate(codes) if c != 0]
    if combined is None:
        return "; ".join([*bad, f"no combined report (logs: {out}/node-*/torchrun.log)"])
    report = Report.from_dict(json.loads(combined.read_text()))
    failed = report.first_failure()
    if bad or not report.ok:
        return "; ".join(bad + ([f"{failed.name}: {failed.detail}"] if failed else [])) or "a rank failed"
    return None
