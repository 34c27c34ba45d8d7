"""The multi-node run's Docker steps against an engine stand-in that keeps what it was asked (the real engine runs
them in tests/docker/test_multinode.py, minutes a time): one container per node on the run's network, named and
labelled by node, each with its own GPUs; exit codes gathered until the deadline; each node's JSON reports and
log copied out; containers and network removed whatever happens."""

from __future__ import annotations

import tarfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from ptkit.cluster import multinode
from ptkit.cluster.launch import REPORTS_IN_CONTAINER, Job, torchrun_args
from ptkit.images import ROLE_LABEL
from tests.utils.engine_standin import file_info, tar_bytes

docker_errors = pytest.importorskip("docker.errors")


def archive(files: dict[str, bytes]) -> list[bytes]:
    """What the engine's get_archive streams: a tar of the folder, in chunks."""
    folder = tarfile.TarInfo(Path(REPORTS_IN_CONTAINER).name)
    folder.type = tarfile.DIRTYPE
    data = tar_bytes([(folder, None), *((file_info(f"{folder.name}/{name}"), body) for name, body in files.items())])
    return [data[:700], data[700:]]


class Node:
    """A container: it exits with `code` after `polls` reloads (None: never), holding `files` in the reports folder."""

    def __init__(self, engine: Engine, kwargs: dict, code: int | None, polls: int, files: dict[str, bytes] | None):
        self.engine, self.kwargs, self.code, self.polls, self.files = engine, kwargs, code, polls, files
        self.status, self.attrs = "running", {"State": {"ExitCode": None}}

    def reload(self) -> None:
        self.polls -= 1
        if self.code is not None and self.polls <= 0:
            self.status, self.attrs = "exited", {"State": {"ExitCode": self.code}}

    def logs(self) -> bytes:
        return f"log of {self.kwargs['name']}\n".encode()

    def get_archive(self, path: str):
        assert path == REPORTS_IN_CONTAINER
        if self.files is None:
            raise docker_errors.NotFound("no such folder")
        return archive(self.files), {}

    def remove(self, force: bool = False) -> None:
        assert force  # a node still running at the deadline goes too
        self.engine.removed.append(self.kwargs["name"])


class Engine:
    """api.containers.run and api.networks.create, as the Docker SDK names them."""

    def __init__(self, outcomes: list[tuple[int | None, int, dict[str, bytes] | None]], fail_at: int | None = None):
        self.outcomes, self.fail_at, self.started, self.removed, self.made = outcomes, fail_at, [], [], []
        self.containers = SimpleNamespace(run=self._run)
        self.networks = SimpleNamespace(create=self._network)

    def _run(self, image: str, **kwargs):
        if self.fail_at == len(self.started):
            raise docker_errors.APIError("no room for another container")
        node = Node(self, {"image": image, **kwargs}, *self.outcomes[len(self.started)])
        self.started.append(node)
        return node

    def _network(self, name: str, **kwargs):
        net = SimpleNamespace(name=name, kwargs=kwargs, remove=lambda: self.removed.append(f"network {name}"))
        self.made.append(net)
        return net


JOB = Job("cuda130", "ptkit:cuda130", nodes=3, procs_per_node=2, gpus_per_node=2)


def test_each_node_is_a_container_of_the_run_with_its_own_gpus_and_the_rendezvous_on_node_0(tmp_path):
    api = Engine([(0, 1, {"rank-0.json": b"{}"})] * 3)
    codes = multinode.run_job(api, JOB, ["--quick"], tmp_path, 60)
    assert codes == [0, 0, 0]
    net = api.made[0]
    assert net.name.startswith("ptkit-dist-")
    assert net.kwargs == {"driver": "bridge", "labels": {ROLE_LABEL: "distributed"}}
    for node, started in enumerate(api.started):
        k = started.kwargs
        name = f"{net.name}-node{node}"
        assert (k["image"], k["name"], k["hostname"], k["network"]) == ("ptkit:cuda130", name, name, net.name)
        assert k["entrypoint"] == ["torchrun"] and k["detach"] is True and k["shm_size"] == "1g"
        assert k["command"] == [*torchrun_args(JOB, f"{net.name}-node0", net.name, REPORTS_IN_CONTAINER), "--quick"]
        assert k["labels"] == {ROLE_LABEL: "distributed", multinode.NODE_LABEL: str(node), "ptkit.run": net.name}
        (request,) = k["device_requests"]
        assert request["DeviceIDs"] == [str(2 * node), str(2 * node + 1)] and request["Capabilities"] == [["gpu"]]
    assert api.removed == [f"{net.name}-node{i}" for i in range(3)] + [f"network {net.name}"]


def test_a_cpu_job_asks_for_no_gpu():
    assert multinode._gpu_request(Job("cpu", "ptkit:cpu", nodes=2, procs_per_node=1, gpus_per_node=0), 1) == []


def test_reports_and_logs_come_back_per_node_json_only(tmp_path):
    files = {"rank-0.json": b'{"r": 0}', "rank-1.json": b'{"r": 1}', "notes.txt": b"not a report"}
    api = Engine([(0, 1, files), (1, 2, None)])
    job = Job("cpu", "ptkit:cpu", nodes=2, procs_per_node=2, gpus_per_node=0)
    assert multinode.run_job(api, job, [], tmp_path / "out", 60) == [0, 1]
    node0, node1 = tmp_path / "out" / "node-0", tmp_path / "out" / "node-1"
    assert sorted(p.name for p in node0.iterdir()) == ["rank-0.json", "rank-1.json", "torchrun.log"]
    assert (node0 / "rank-1.json").read_bytes() == b'{"r": 1}'
    assert (node0 / "torchrun.log").read_text() == f"log of {api.made[0].name}-node0\n"
    # a node that died before any rank wrote a report: its log alone
    assert [p.name for p in node1.iterdir()] == ["torchrun.log"]


def test_a_node_still_running_at_the_deadline_is_none_and_removed(tmp_path):
    api = Engine([(0, 1, {}), (None, 0, {})])
    job = Job("cpu", "ptkit:cpu", nodes=2, procs_per_node=1, gpus_per_node=0)
    start = time.monotonic()
    assert multinode.run_job(api, job, [], tmp_path, 2) == [0, None]
    assert time.monotonic() - start < 30
    assert len(api.removed) == 3


def test_wait_all_polls_until_every_node_has_exited():
    api = Engine([(0, 3, {}), (7, 5, {})])
    nodes = [api.containers.run("img", name=f"n{i}") for i in range(2)]
    assert multinode.wait_all(nodes, time.monotonic() + 30) == [0, 7]
    assert multinode.wait_all([], time.monotonic() + 30) == []


def test_a_node_that_cannot_start_leaves_no_container_and_no_network(tmp_path):
    api = Engine([(0, 1, {})] * 3, fail_at=2)
    with pytest.raises(docker_errors.APIError):
        multinode.run_job(api, JOB, [], tmp_path, 60)
    net = api.made[0].name
    # the two started before the failure are removed too, then the network
    assert api.removed == [f"{net}-node0", f"{net}-node1", f"network {net}"]
