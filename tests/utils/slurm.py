"""A real single-node Slurm for the tests (Debian's slurm-wlm and munge), started and stopped by the test that uses
it: a private munged socket and key, a generated slurm.conf with free ports, state and spool in a temporary
directory; nothing of a system Slurm is touched."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .net import free_port

ROOT = Path(__file__).resolve().parents[2]
TORCHRUN = Path(sys.executable).parent / "torchrun"

CONF = """\
ClusterName=ptkittest
SlurmctldHost={host}
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/munge
AuthInfo=socket={d}/munge.sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
ProctrackType=proctrack/pgid
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName={host} CPUs={cpus} State=UNKNOWN
PartitionName=ptkit Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def _start(cmd: list[str], log: Path, procs: list[subprocess.Popen]) -> None:
    with log.open("w") as fh:
        procs.append(subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))


def _wait_idle(env: dict[str, str], d: Path, timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        state = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True).stdout.strip()
        if state == "idle":
            return
        time.sleep(0.5)
    logs = "".join(p.read_text()[-800:] for p in sorted(d.glob("*.log")))
    pytest.fail(f"the test's Slurm node never became idle (state {state!r}):\n{logs}")


@contextlib.contextmanager
def slurm_cluster(d: Path) -> Iterator[dict[str, str]]:
    """munged, slurmctld and slurmd for this machine as one node; yields the environment for sbatch."""
    if os.geteuid() != 0:
        pytest.skip("needs root: starts its own munged, slurmctld and slurmd")
    subprocess.run(["bash", str(ROOT / "scripts" / "slurm-setup.sh")], check=True, timeout=900)
    (d / "state").mkdir(parents=True)
    (d / "spool").mkdir()
    subprocess.run(["mungekey", "--create", "--keyfile", str(d / "munge.key")], check=True)
    host = socket.gethostname().split(".")[0]
    conf = d / "slurm.conf"
    conf.write_text(CONF.format(host=host, d=d, cpus=os.cpu_count(), ctld_port=free_port(), slurmd_port=free_port()))
    env = {**os.environ, "SLURM_CONF": str(conf)}
    procs: list[subprocess.Popen] = []
    try:
        _start(["munged", "--foreground", "--force", f"--socket={d}/munge.sock", f"--key-file={d}/munge.key",
                f"--pid-file={d}/munged.pid", f"--seed-file={d}/munge.seed"], d / "munged.log", procs)
        time.sleep(0.5)
        _start(["slurmctld", "-D", "-i", "-f", str(conf)], d / "slurmctld.log", procs)
        _start(["slurmd", "-D", "-f", str(conf)], d / "slurmd.log", procs)
        _wait_idle(env, d)
        yield env
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def submit(env: dict[str, str], script: Path, workdir: Path, timeout: int = 120) -> tuple[int, str]:
    """sbatch --wait: returns the job's exit status and its output file."""
    proc = subprocess.run(["sbatch", "--parsable", "--wait", "--chdir", str(workdir), str(script)], env=env,
                          capture_output=True, text=True, timeout=timeout)
    job_id = proc.stdout.strip().split(";")[0]
    output = workdir / f"ptkit-verify-{job_id}.out"
    return proc.returncode, output.read_text() if output.exists() else proc.stderr
