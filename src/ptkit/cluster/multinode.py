"""`nox -s distributed -- VARIANT [--nodes N] [--procs-per-node P]`: torchrun across N containers.

Builds ptkit:VARIANT (cached layers: seconds when nothing changed; build options such as
--base-image or --wheelhouse go through to `ptkit build`), then starts one container per node on a
user-defined Docker network, as the image's non-root user, each running torchrun with the c10d
rendezvous on node 0. Reports come back from the containers themselves (no bind mount, so no
ownership problems): reports/VARIANT-distributed/node-I/rank-N.json and, from node 0, the combined
reports/VARIANT-distributed.json. Fails when any node or rank failed. Containers and the network
are removed whatever happens (failure, timeout, Ctrl-C).
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path
from typing import Any

from ..errors import PtkitError
from ..verify.distributed import COMBINED
from .launch import REPORTS_IN_CONTAINER, Job, add_job_args, job_from_args, torchrun_args

ROLE_LABEL, ROLE = "ptkit.role", "distributed"
NODE_LABEL = "ptkit.node"


def distributed_session(session: Any) -> None:
    """The nox session body: `nox.session(name="distributed")(distributed_session)`."""
    session.install("-e", ".[host]")
    session.run("python", "-m", "ptkit.cluster.multinode", *session.posargs)


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="nox -s distributed --", description=__doc__.split("\n")[0])
    add_job_args(parser)
    parser.add_argument("--deadline", type=int, default=900, metavar="S", help="whole run's limit (default 900)")
    parser.add_argument("--no-build", action="store_true", help="use the existing image as it is")
    parser.add_argument("--verify-arg", action="append", default=[], metavar="ARG",
                        help="extra verifier argument, e.g. --verify-arg=--bandwidth-iters=50 (repeatable)")
    parser.add_argument("--reports", type=Path, default=Path("reports"), metavar="DIR")
    return parser.parse_known_args(argv)  # the rest are `ptkit build` options


def _gpu_request(job: Job, node: int) -> list[Any]:
    if not job.gpus_per_node:
        return []
    from docker.types import DeviceRequest

    # One host plays every node: give each its own GPUs, or NCCL sees one GPU used by two ranks.
    ids = [str(node * job.gpus_per_node + i) for i in range(job.gpus_per_node)]
    return [DeviceRequest(device_ids=ids, capabilities=[["gpu"]])]


def start_nodes(api: Any, job: Job, run: str, network: str, verify_args: list[str]) -> list[Any]:
    head = f"{run}-node0"
    args = torchrun_args(job, head, run, REPORTS_IN_CONTAINER) + verify_args
    containers = []
    for node in range(job.nodes):
        name = f"{run}-node{node}"
        containers.append(api.containers.run(
            job.image, entrypoint=["torchrun"], command=args, name=name, hostname=name, network=network,
            detach=True, shm_size="1g", labels={ROLE_LABEL: ROLE, NODE_LABEL: str(node), "ptkit.run": run},
            device_requests=_gpu_request(job, node)))
    return containers


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


def run_job(job: Job, verify_args: list[str], out: Path, deadline_s: int) -> list[int | None]:
    from .. import docker_api

    api = docker_api.client()
    docker_api.ensure_image(api, job.image, f"build it: ptkit build {job.variant}")
    run = f"ptkit-dist-{uuid.uuid4().hex[:8]}"
    network = api.networks.create(run, driver="bridge", labels={ROLE_LABEL: ROLE})
    containers: list[Any] = []
    try:
        containers = start_nodes(api, job, run, network.name, verify_args)
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


def verdict(codes: list[int | None], out: Path, combined: Path) -> str | None:
    """None when every node and rank passed, else the one-line reason."""
    report = json.loads(combined.read_text()) if combined.exists() else None
    bad = [f"node {i} {'did not finish' if c is None else f'exited {c}'}" for i, c in enumerate(codes) if c != 0]
    if report is None:
        return "; ".join([*bad, f"no combined report (logs: {out}/node-*/torchrun.log)"])
    fails = [f"{c['name']}: {c['detail']}" for c in report["checks"] if c["status"] == "fail"]
    if bad or fails or not report["ok"]:
        return "; ".join(bad + fails[:1]) or "a rank failed (see the report)"
    return None


def main(argv: list[str] | None = None) -> int:
    args, build_options = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        job = job_from_args(args)
        if not args.no_build:
            subprocess.run([sys.executable, "-m", "ptkit", "build", job.variant, *build_options], check=True)
        out = args.reports / f"{job.variant}-distributed"
        shutil.rmtree(out, ignore_errors=True)
        codes = run_job(job, args.verify_arg, out, args.deadline)
        combined = args.reports / f"{job.variant}-distributed.json"
        combined.unlink(missing_ok=True)
        # Rank 0 writes it; c10d's rendezvous decides which node rank 0 is on.
        for found in sorted(out.glob(f"node-*/{COMBINED}"))[:1]:
            shutil.copy(found, combined)
        reason = verdict(codes, out, combined)
    except PtkitError as exc:
        print(f"distributed: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except subprocess.CalledProcessError as exc:
        print(f"distributed: `ptkit build` failed (exit {exc.returncode})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("distributed: interrupted (containers and network removed)", file=sys.stderr)
        return 130
    if reason:
        print(f"distributed: FAIL: {reason}", file=sys.stderr)
        return 1
    print(f"distributed: PASS: {job.nodes * job.procs_per_node} ranks on {job.nodes} containers; report {combined}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
