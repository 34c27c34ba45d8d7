"""The generated sbatch script run as Slurm runs it on the batch node: executed by its #! line, with Slurm's job
variables set and `scontrol`, `srun` and `docker` as stand-ins on PATH that record what they were given (the real
daemons run in tests/test_slurm.py, 45 s a time: too slow to repeat for each mutant of slurm.render)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ptkit.cluster import slurm
from ptkit.cluster.launch import IMAGE_UID, Job

JOB = Job("cpu", "ptkit:cpu", nodes=2, procs_per_node=3, gpus_per_node=0)

# scontrol: the job's node names, one a line (Slurm's own `show hostnames` output), as many as a large job has
# (more than a pipe takes in one write: whoever reads only the first line must not kill it); srun: its options recorded,
# then the node command run once (one node stands for all); docker: its arguments recorded, then the combined
# report written into the mounted reports folder unless told to fail.
STAND_INS = {
    "scontrol": '[ "$1 $2" = "show hostnames" ] && { echo node-a; seq -f "node-%g" 3000; }',
    "srun": 'opts=(); while [ "${1#--}" != "$1" ]; do opts+=("$1"); shift; done\n'
            'printf "%s\\n" "${opts[@]}" > "$RECORD/srun"; exec "$@"',
    "docker": 'printf "%s\\n" "$@" > "$RECORD/docker"\n'
              '[ -z "${FAIL:-}" ] || exit "$FAIL"\n'
              'while [ "$1" != "-v" ]; do shift; done; echo "{}" > "${2%%:*}/combined.json"',
}


def run_script(tmp_path: Path, text: str, stand_ins: dict[str, str] | None = None,
               **env: str) -> subprocess.CompletedProcess[str]:
    bin_dir, record = tmp_path / "bin", tmp_path / "record"
    bin_dir.mkdir(exist_ok=True)
    record.mkdir(exist_ok=True)
    for name, body in {**STAND_INS, **(stand_ins or {})}.items():
        (bin_dir / name).write_text(f"#!/bin/bash\n{body}\n")
        (bin_dir / name).chmod(0o755)
    script = tmp_path / "job.sh"
    script.write_text(text)
    script.chmod(0o755)
    slurm_env = {"SLURM_JOB_NODELIST": "node-[a-b]", "SLURM_JOB_ID": "42", "SLURM_JOB_NUM_NODES": "2",
                 "SLURM_SUBMIT_DIR": str(tmp_path)}
    return subprocess.run([str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env={"PATH": f"{bin_dir}:{os.environ['PATH']}", "RECORD": str(record), **slurm_env, **env})


def test_the_script_runs_one_task_per_node_in_docker_and_says_where_the_combined_report_is(tmp_path):
    proc = run_script(tmp_path, slurm.render(JOB))  # the default runtime: the node's Docker engine
    reports = tmp_path / "reports" / "slurm-42"
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
    assert proc.stdout.splitlines() == [f"ptkit: combined report: {reports}/combined.json",
                                        "ptkit: verify --distributed exit status 0"]
    assert (tmp_path / "record" / "srun").read_text().split() == ["--nodes=2", "--ntasks-per-node=1",
                                                                  "--kill-on-bad-exit=1"]
    docker = (tmp_path / "record" / "docker").read_text().splitlines()
    # as root (this test's user or not), the container runs as the image's user, and the reports are writable
    user = f"{IMAGE_UID}:{IMAGE_UID}" if os.geteuid() == 0 else f"{os.getuid()}:{os.getgid()}"
    assert docker[:12] == ["run", "--rm", "--network", "host", "--ipc", "host", "--user", user, "-v",
                           f"{reports}:{reports}", "--entrypoint", "torchrun"]
    assert docker[12] == "ptkit:cpu" and "node-a:29500" in docker and "42" in docker
    if os.geteuid() == 0:
        assert reports.stat().st_mode & 0o777 == 0o777


def test_a_failed_node_command_is_the_scripts_exit_status_and_a_missing_report_is_said(tmp_path):
    proc = run_script(tmp_path, slurm.render(JOB), FAIL="3")
    reports = tmp_path / "reports" / "slurm-42"
    assert proc.returncode == 3
    assert proc.stderr == f"ptkit: no combined report in {reports}\n"
    assert proc.stdout == "ptkit: verify --distributed exit status 3\n"


def test_a_node_command_that_passes_without_a_combined_report_fails_the_job(tmp_path):
    proc = run_script(tmp_path, slurm.render(JOB, report_dir=str(tmp_path / "shared")), {"docker": "exit 0"})
    assert proc.returncode == 1 and proc.stderr == f"ptkit: no combined report in {tmp_path / 'shared'}\n"
    assert proc.stdout == "ptkit: verify --distributed exit status 1\n"


def test_a_step_that_fails_before_the_job_stops_the_script(tmp_path):
    """set -euo pipefail: without the node names (scontrol fails) nothing is started."""
    proc = run_script(tmp_path, slurm.render(JOB), {"scontrol": "exit 4"})
    assert proc.returncode == 4 and not (tmp_path / "record" / "srun").exists()
    assert "ptkit:" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(("options", "expected"), [
    ({}, []),
    ({"partition": "gpu,debug", "time_limit": "1-00:00:00"}, ["--partition=gpu,debug"]),
])
def test_the_directives_sbatch_reads(options, expected):
    job = Job("cuda130", "ptkit:cuda130", nodes=4, procs_per_node=8, gpus_per_node=8 if expected else 0)
    text = slurm.render(job, **options)
    lines = text.splitlines()
    assert lines[0] == "#!/bin/bash" and text.endswith('exit "$status"\n')
    directives = [ln.removeprefix("#SBATCH ") for ln in lines if ln.startswith("#SBATCH ")]
    assert directives == ["--job-name=ptkit-verify-cuda130", "--nodes=4", "--ntasks-per-node=1",
                          f"--time={options.get('time_limit', '00:30:00')}", "--output=ptkit-verify-%j.out",
                          *(["--gpus-per-node=8"] if expected else []), *expected]
    assert lines[1] == ("# Generated by `ptkit cluster slurm cuda130`: verify PyTorch on 4 node(s) x 8 rank(s), "
                        "runtime docker, image ptkit:cuda130.")
    with pytest.raises(ValueError, match="runtime 'podman': one of docker, apptainer, enroot, none"):
        slurm.render(job, "podman")
