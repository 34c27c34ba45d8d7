"""`ptkit cluster slurm`: an sbatch script that runs `verify --distributed` on every node of the job.

One task per node (srun); each runs torchrun with the c10d rendezvous on the job's first node,
inside the variant's image (Apptainer, enroot/pyxis or plain `docker run`) or, with `--runtime
none`, as plain processes of a Python environment that has ptkit and torch. Every rank writes
REPORTS/rank-N.json (REPORTS on a shared filesystem gathers them all); rank 0 gathers every rank's
result over the process group itself and writes REPORTS/combined.json on the first node, which is
where the batch script runs, so the combined report needs no shared filesystem.
"""

from __future__ import annotations

import re
import shlex

from ..errors import UsageError
from .launch import IMAGE_UID, Job, torchrun_args

RUNTIMES = ("docker", "apptainer", "enroot", "none")
# Images taken from the node's local Docker engine when no --image is given: push to a registry
# and pass --image (docker://REGISTRY/IMAGE for Apptainer, REGISTRY#IMAGE for pyxis) on real sites.
LOCAL_IMAGE = {"apptainer": "docker-daemon://{image}", "enroot": "dockerd://{image}", "docker": "{image}"}


# `$NAME` and `${NAME}` are expanded by the batch shell; nothing else is (no `$(...)`, no backquotes).
VARIABLE = re.compile(r"(\$(?:[A-Za-z_][A-Za-z0-9_]*|\{[A-Za-z_][A-Za-z0-9_]*\}))")
# sbatch's --time forms: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS (and no limit)
TIME = re.compile(r"\d+(:\d{1,2}){0,2}|\d+-\d{1,2}(:\d{1,2}){0,2}|UNLIMITED|INFINITE")
PARTITION = re.compile(r"[A-Za-z0-9_.-]+(,[A-Za-z0-9_.-]+)*")  # one partition or a comma list
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _word(arg: str) -> str:
    """One shell word: its $NAME / ${NAME} parts expanded by the batch shell, every other character literal."""
    parts = VARIABLE.split(arg)  # literal, variable, literal, ...
    if len(parts) > 1 and not any(c in '"\\`$' for literal in parts[0::2] for c in literal):
        return f'"{arg}"'  # the common case, "$head:29500", kept readable
    return "".join(f'"{part}"' if VARIABLE.fullmatch(part) else shlex.quote(part) for part in parts if part) or "''"


def check_options(partition: str | None, time_limit: str, report_dir: str | None, torchrun: str) -> None:
    """Refuse what would break the script: a directive is one line, and sbatch rejects what it cannot parse."""
    if partition is not None and not PARTITION.fullmatch(partition):
        raise UsageError(f"--partition {partition!r}: expected a partition name (letters, digits, _ . -) "
                         "or a comma-separated list of them")
    if not TIME.fullmatch(time_limit):
        raise UsageError(f"--time {time_limit!r}: expected MM, HH:MM:SS or D-HH:MM:SS")
    for option, value in (("--report-dir", report_dir), ("--torchrun", torchrun)):
        if value is not None and (not value.strip() or CONTROL.search(value)):
            raise UsageError(f"{option} {value!r}: expected a path on one line")


def _user_setup() -> list[str]:
    # The image runs as uid 1000; a root-submitted job must not run the container as root.
    return [
        'if [ "$(id -u)" = 0 ]; then user=' + f"{IMAGE_UID}:{IMAGE_UID}" + '; chmod 0777 "$reports"',
        'else user="$(id -u):$(id -g)"; fi',
    ]


def node_command(job: Job, runtime: str, image: str, torchrun: str) -> tuple[list[str], list[str]]:
    """(srun options, the command srun starts once per node) for one runtime."""
    args = torchrun_args(job, "$head", "$SLURM_JOB_ID", "$reports")
    gpu = job.gpus_per_node > 0
    if runtime == "none":
        return [], [torchrun, *args]
    if runtime == "docker":
        # --network host: the rendezvous address is the node's own; sig-proxy (default) passes
        # Slurm's SIGTERM on to torchrun, and --rm removes the container afterwards.
        return [], ["docker", "run", "--rm", "--network", "host", "--ipc", "host", "--user", "$user",
                    "-v", "$reports:$reports", *(["--gpus", "all"] if gpu else []),
                    "--entrypoint", "torchrun", image, *args]
    if runtime == "apptainer":
        return [], ["apptainer", "exec", *(["--nv"] if gpu else []), "--bind", "$reports", image, "torchrun", *args]
    # enroot through the pyxis srun plugin: runs as the job's user, image imported once per node
    return ["--container-image=" + image, "--container-mounts=$reports:$reports", "--no-container-mount-home",
            "--container-workdir=/tmp"], ["torchrun", *args]


def render(job: Job, runtime: str = "docker", *, image: str | None = None, torchrun: str = "torchrun",
           partition: str | None = None, time_limit: str = "00:30:00", report_dir: str | None = None) -> str:
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime {runtime!r}: one of {', '.join(RUNTIMES)}")
    check_options(partition, time_limit, report_dir, torchrun)
    image = image or LOCAL_IMAGE.get(runtime, "{image}").format(image=job.image)
    srun_opts, command = node_command(job, runtime, image, torchrun)
    directives = [f"--job-name=ptkit-verify-{job.variant}", f"--nodes={job.nodes}", "--ntasks-per-node=1",
                  f"--time={time_limit}", "--output=ptkit-verify-%j.out"]
    directives += [f"--gpus-per-node={job.gpus_per_node}"] if job.gpus_per_node else []
    directives += [f"--partition={partition}"] if partition else []
    reports = _word(report_dir) if report_dir else '"${PTKIT_REPORTS:-$SLURM_SUBMIT_DIR/reports/slurm-$SLURM_JOB_ID}"'
    srun = ["srun", "--nodes=$SLURM_JOB_NUM_NODES", "--ntasks-per-node=1", "--kill-on-bad-exit=1", *srun_opts]
    lines = [
        "#!/bin/bash",
        f"# Generated by `ptkit cluster slurm {job.variant}`: verify PyTorch on {job.nodes} node(s) x "
        f"{job.procs_per_node} rank(s), runtime {runtime}, image {image if runtime != 'none' else '-'}.",
        *(f"#SBATCH {d}" for d in directives),
        "set -euo pipefail",
        # sed reads every line: `| head -n 1` exits after the first, and under pipefail a scontrol still writing
        # (a node list over its 4 KiB output buffer, some 400 nodes) then dies of SIGPIPE and takes the job down
        'head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | sed -n 1p)',
        f"reports={reports}",
        'mkdir -p "$reports"',
        *(_user_setup() if runtime == "docker" else []),
        "status=0",
        " ".join(_word(w) for w in [*srun, *command]) + " || status=$?",
        'if [ -s "$reports/combined.json" ]; then echo "ptkit: combined report: $reports/combined.json"',
        'else echo "ptkit: no combined report in $reports" >&2; [ "$status" != 0 ] || status=1; fi',
        'echo "ptkit: verify --distributed exit status $status"',
        'exit "$status"',
    ]
    return "\n".join(lines) + "\n"
