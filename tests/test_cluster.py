"""`ptkit cluster k8s|slurm` and `ptkit ci github`: the output checked by the real tools.

Kubernetes objects against the real OpenAPI schemas (kubernetes-validate, strict) of two
Kubernetes releases; the workflow through actionlint; the sbatch script through `bash -n`.
No Kubernetes cluster can run here: what is checked is that the API server would accept them.
"""

from __future__ import annotations

import argparse
import copy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ptkit.cluster import github, yamlout
from ptkit.cluster.commands import register
from ptkit.errors import PtkitError
from tests.utils import matrix_facts

yaml = pytest.importorskip("yaml")
ROOT = Path(__file__).resolve().parents[1]
K8S_VERSIONS = ("1.30.0", "1.37.0")


def ptkit(*argv: str) -> int:
    """The commands as `ptkit` runs them (parser built with `register`, errors as exit codes)."""
    parser = argparse.ArgumentParser(prog="ptkit")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except PtkitError as exc:
        print(f"ptkit {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code


def k8s_docs(tmp_path: Path, *argv: str) -> list[dict]:
    out = tmp_path / "job.yaml"
    assert ptkit("cluster", "k8s", *argv, "-o", str(out)) == 0
    return list(yaml.safe_load_all(out.read_text()))


def validate(doc: dict, version: str) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_indexed_job_and_service_validate_against_the_kubernetes_schemas(tmp_path, version):
    service, job = k8s_docs(tmp_path, "cuda130", "--nodes", "4", "--gpus-per-node", "8")
    validate(service, version)
    validate(job, version)
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"] == {"job-name": job["metadata"]["name"]}
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 4, 4)
    pod = spec["template"]["spec"]
    assert pod["subdomain"] == service["metadata"]["name"]
    assert pod["securityContext"]["runAsUser"] == 1000 and pod["securityContext"]["runAsNonRoot"] is True
    assert pod["volumes"] == [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}}]
    container = pod["containers"][0]
    assert container["resources"]["limits"] == {"nvidia.com/gpu": 8}
    command = container["command"]
    assert command[command.index("--nproc-per-node") + 1] == "8"
    assert command[command.index("--rdzv-endpoint") + 1] == "ptkit-verify-cuda130-0.ptkit-verify-cuda130:29500"


def test_the_schema_check_catches_a_wrong_field(tmp_path):
    """The validation above means something: a misspelt field in the same Job is refused."""
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    _, job = k8s_docs(tmp_path, "cpu", "--nodes", "2")
    broken = copy.deepcopy(job)
    broken["spec"]["template"]["spec"]["containers"][0]["volumeMount"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[0], strict=True)


def test_cpu_job_asks_for_no_gpu(tmp_path):
    _, job = k8s_docs(tmp_path, "cpu", "--nodes", "2")
    assert "resources" not in job["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_pytorchjob_pod_templates_validate(tmp_path, version):
    """A PyTorchJob is a CRD (no schema in Kubernetes itself): its pod templates are checked as PodTemplates."""
    (job,) = k8s_docs(tmp_path, "cuda130", "--nodes", "3", "--gpus-per-node", "2", "--operator", "kubeflow")
    assert (job["apiVersion"], job["kind"]) == ("kubeflow.org/v1", "PyTorchJob")
    specs = job["spec"]["pytorchReplicaSpecs"]
    assert (specs["Master"]["replicas"], specs["Worker"]["replicas"]) == (1, 2)
    assert job["spec"]["nprocPerNode"] == "2"
    for replica in specs.values():
        validate({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"},
                  "template": replica["template"]}, version)


def test_bad_job_shape_is_one_line(tmp_path, capsys):
    assert ptkit("cluster", "k8s", "cuda130", "--gpus-per-node", "2", "--procs-per-node", "4") == 1
    assert ptkit("cluster", "slurm", "nope") == 1
    err = capsys.readouterr().err.splitlines()
    assert err == ["ptkit cluster: error: --procs-per-node 4 exceeds --gpus-per-node 2: NCCL needs one GPU per rank",
                   f"ptkit cluster: error: unknown variant 'nope'; valid variants: {', '.join(matrix_facts.names())}"]


@pytest.mark.parametrize("runtime", ["docker", "apptainer", "enroot", "none"])
def test_sbatch_script_is_valid_bash_for_every_runtime(tmp_path, runtime):
    out = tmp_path / "job.sbatch"
    assert ptkit("cluster", "slurm", "cuda130", "--nodes", "4", "--gpus-per-node", "8", "--runtime", runtime,
                 "-o", str(out)) == 0
    text = out.read_text()
    subprocess.run(["bash", "-n", str(out)], check=True)
    assert "#SBATCH --nodes=4" in text and "#SBATCH --gpus-per-node=8" in text
    assert '--rdzv-endpoint "$head:29500"' in text and "--nproc-per-node 8" in text
    if runtime == "docker":
        assert "--gpus all" in text and "--user \"$user\"" in text and "user=1000:1000" in text


def test_yaml_writer_round_trips_awkward_values():
    doc = {"a": ["on", "yes", "2.0", "x: y", "${{ matrix.v }}", "", None, True, 3, {"k": []}],
           "b": {"nested": {"list": [[1, 2], {"c": {}}]}}, "run": "line 1\nline 2\n", "key with space": "-v"}
    assert yaml.safe_load(yamlout.dump(doc)) == doc


def test_committed_workflow_is_the_generated_one_and_passes_actionlint(tmp_path):
    actionlint = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which("actionlint")
    if not actionlint:
        pytest.fail("actionlint is missing: pip install -e '.[dev]'")
    workflows = tmp_path / ".github" / "workflows"
    assert ptkit("ci", "github", "-o", str(workflows / "images.yml")) == 0
    assert (workflows / "images.yml").read_text() == (ROOT / github.OUTPUT).read_text()
    assert ptkit("ci", "github", "--check", "-o", str(ROOT / github.OUTPUT)) == 0
    config = tmp_path / ".github" / github.LINT_CONFIG  # written beside workflows/, with the GPU runner's label
    proc = subprocess.run([actionlint, "-no-color", "-config-file", str(config), "images.yml"], cwd=workflows,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    subprocess.run([actionlint, str(ROOT / github.OUTPUT)], cwd=ROOT, check=True)


def test_workflow_jobs_follow_the_matrix():
    flow = yaml.safe_load((ROOT / github.OUTPUT).read_text())
    jobs = flow["jobs"]
    assert jobs["cpu"]["runs-on"] == "ubuntu-latest"
    assert jobs["cuda130"]["runs-on"] == ["self-hosted", "linux", "gpu"]
    steps = {s.get("id") or s.get("name"): s for s in jobs["cuda130"]["steps"]}
    assert steps["verify"]["run"] == "nox -s cuda130"
    assert steps["upload the report"]["if"] == "always()"
    push = steps["push ptkit:cuda130 (verified)"]
    assert push["if"].startswith("steps.verify.outcome == 'success'") and "reports/cuda130.json" in push["run"]
    assert jobs["distributed"]["steps"][-2]["run"] == "nox -s distributed -- cpu --nodes 2"


def test_an_actionlint_error_is_caught(tmp_path):
    """actionlint really reads the file: a step with both `uses` and `run` is refused."""
    actionlint = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which("actionlint")
    if not actionlint:
        pytest.fail("actionlint is missing: pip install -e '.[dev]'")
    flow = github.workflow({"cpu": {"torch": "2.13.0", "cuda": ""}})
    flow["jobs"]["cpu"]["steps"][0]["run"] = "echo both"
    bad = tmp_path / "bad.yml"
    bad.write_text(yamlout.dump(flow))
    proc = subprocess.run([actionlint, "-no-color", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 1 and "uses" in proc.stdout


def _script_value(tmp_path: Path, script: str, name: str) -> str:
    """Run the script's `name=...` line in bash (cwd tmp_path, Slurm's variables set) and print the value."""
    line = next(ln for ln in script.splitlines() if ln.startswith(f"{name}="))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SLURM_JOB_ID": "7", "SLURM_SUBMIT_DIR": str(tmp_path)}
    proc = subprocess.run(["bash", "-c", f'{line}\nprintf %s "${name}"'], cwd=tmp_path, env=env,
                          capture_output=True, text=True, check=True)
    return proc.stdout


@pytest.mark.parametrize("hostile", ["$(touch PWNED)", "`touch PWNED`", '"; touch PWNED; "', "a$(touch PWNED)$HOME"])
def test_slurm_report_dir_runs_no_command_and_keeps_its_characters(tmp_path, hostile):
    out = tmp_path / "job.sbatch"
    assert ptkit("cluster", "slurm", "cpu", "--report-dir", hostile, "-o", str(out)) == 0
    value = _script_value(tmp_path, out.read_text(), "reports")
    assert not (tmp_path / "PWNED").exists()
    assert value == hostile.replace("$HOME", str(tmp_path))  # $NAME is the one thing the job's shell expands


def test_slurm_report_dir_default_and_variables_expand_in_the_job(tmp_path):
    out = tmp_path / "job.sbatch"
    assert ptkit("cluster", "slurm", "cpu", "-o", str(out)) == 0
    assert _script_value(tmp_path, out.read_text(), "reports") == f"{tmp_path}/reports/slurm-7"
    assert ptkit("cluster", "slurm", "cpu", "--report-dir", "${HOME}/r x", "-o", str(out)) == 0
    assert _script_value(tmp_path, out.read_text(), "reports") == f"{tmp_path}/r x"


@pytest.mark.parametrize(("option", "value", "says"), [
    ("--partition", "gpu\n#SBATCH --wrap=id", "--partition"),
    ("--partition", "", "--partition"),
    ("--time", "garbage", "--time 'garbage'"),
    ("--time", "1:00:00\n", "--time"),
    ("--report-dir", "r\nid", "--report-dir"),
    ("--torchrun", "", "--torchrun"),
    ("--image", "ptkit:cpu\nid", "--image"),
    ("--image", "a b", "--image"),
])
def test_slurm_values_that_would_break_the_script_are_usage_errors(tmp_path, capsys, option, value, says):
    out = tmp_path / "job.sbatch"
    assert ptkit("cluster", "slurm", "cpu", option, value, "-o", str(out)) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and says in err[0], err
    assert not out.exists()


def test_slurm_accepts_sbatch_time_forms_and_partition_lists(tmp_path):
    out = tmp_path / "job.sbatch"
    for time_limit in ("30", "30:00", "1:30:00", "2-0", "2-12:30", "1-00:00:00", "UNLIMITED"):
        assert ptkit("cluster", "slurm", "cpu", "--time", time_limit, "--partition", "gpu,debug.a-1",
                     "-o", str(out)) == 0
        assert f"#SBATCH --time={time_limit}\n" in out.read_text()


@pytest.mark.parametrize("argv", [
    ("cluster", "slurm", "cpu", "--port", "99999"), ("cluster", "k8s", "cpu", "--port", "0"),
    ("cluster", "k8s", "cpu", "--port", "-1"), ("cluster", "slurm", "cpu", "--collective-timeout", "nan"),
    ("cluster", "slurm", "cpu", "--collective-timeout", "inf"), ("cluster", "k8s", "cpu", "--collective-timeout", "0"),
    ("cluster", "slurm", "cpu", "--procs-per-node", "0"), ("cluster", "slurm", "cpu", "--nodes", "0"),
    ("cluster", "k8s", "cpu", "--join-timeout", "-5"),
])
def test_job_figures_out_of_range_are_usage_errors(capsys, argv):
    with pytest.raises(SystemExit) as exit_:
        ptkit(*argv)
    assert exit_.value.code == 2
    assert f"argument {argv[3]}: expected" in capsys.readouterr().err


def test_ci_github_writes_only_inside_the_folder_it_is_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    assert ptkit("ci", "github", "-o", "out/flow.yml") == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["actionlint.yaml", "flow.yml"]


@pytest.mark.parametrize("label", ["", " ", "gpu\nx", "a b", "$(id)"])
def test_ci_github_refuses_a_runner_label_that_is_not_one_word(tmp_path, capsys, label):
    out = tmp_path / "flow.yml"
    assert ptkit("ci", "github", "--gpu-runner", label, "-o", str(out)) == 2
    assert "--gpu-runner" in capsys.readouterr().err
    assert not out.exists()


# What each runtime needs to start one torchrun per node, as its own documentation states it: Docker, host network
# (the rendezvous address is the node's) and host IPC (NCCL's shared memory), the reports folder mounted, GPUs only
# when asked for; Apptainer, --nv for GPUs and the folder bound; pyxis/enroot, srun's --container-* options.
SRUN = ["srun", "--nodes=$SLURM_JOB_NUM_NODES", "--ntasks-per-node=1", "--kill-on-bad-exit=1"]
DOCKER = ["docker", "run", "--rm", "--network", "host", "--ipc", "host", "--user", "$user", "-v", "$reports:$reports"]
PYXIS = ["--container-image=dockerd://{image}", "--container-mounts=$reports:$reports", "--no-container-mount-home",
         "--container-workdir=/tmp"]


@pytest.mark.parametrize(("runtime", "gpus", "expected"), [
    ("docker", 8, [*SRUN, *DOCKER, "--gpus", "all", "--entrypoint", "torchrun", "{image}"]),
    ("docker", 0, [*SRUN, *DOCKER, "--entrypoint", "torchrun", "{image}"]),
    ("apptainer", 8, [*SRUN, "apptainer", "exec", "--nv", "--bind", "$reports", "docker-daemon://{image}", "torchrun"]),
    ("apptainer", 0, [*SRUN, "apptainer", "exec", "--bind", "$reports", "docker-daemon://{image}", "torchrun"]),
    ("enroot", 8, [*SRUN, *PYXIS, "torchrun"]),
    ("none", 8, [*SRUN, "torchrun"]),
])
def test_each_runtime_starts_one_torchrun_per_node_as_its_documentation_says(tmp_path, runtime, gpus, expected):
    import shlex

    variant = "cuda130" if gpus else "cpu"
    out = tmp_path / "job.sbatch"
    assert ptkit("cluster", "slurm", variant, "--nodes", "3", "--gpus-per-node", str(gpus), "--runtime", runtime,
                 "-o", str(out)) == 0
    (line,) = [line for line in out.read_text().splitlines() if line.startswith("srun ")]
    words = shlex.split(line.removesuffix(" || status=$?"))
    start = [w.format(image=f"ptkit:{variant}") for w in expected]
    assert words[:len(start)] == start
    torchrun = words[len(start):]
    procs = str(gpus or 1)
    assert torchrun[:4] == ["--nnodes", "3", "--nproc-per-node", procs]
    assert " ".join(torchrun[4:]).startswith("--rdzv-backend c10d --rdzv-endpoint $head:29500 --rdzv-id $SLURM_JOB_ID")
    assert torchrun[-6:] == ["verify", "--distributed", "--collective-timeout", "60", "--report-dir", "$reports"]


def test_a_pytorchjob_runs_once_and_a_single_node_has_no_worker(tmp_path):
    """Kubeflow's PyTorchJob API (kubeflow.org/v1): a replica's restartPolicy and the job's runPolicy.backoffLimit
    decide retries; a verification that failed must stay failed, so neither restarts nor retries."""
    (job,) = k8s_docs(tmp_path, "cpu", "--nodes", "1", "--operator", "kubeflow", "--collective-timeout", "90")
    assert job["metadata"]["name"].startswith("ptkit-verify-cpu")
    assert job["spec"]["runPolicy"] == {"backoffLimit": 0, "cleanPodPolicy": "None"}  # pods kept for their logs
    assert list(job["spec"]["pytorchReplicaSpecs"]) == ["Master"]
    master = job["spec"]["pytorchReplicaSpecs"]["Master"]
    assert (master["replicas"], master["restartPolicy"]) == (1, "Never")
    command = master["template"]["spec"]["containers"][0]["command"]
    assert command[0] == "torchrun" and command[-4:] == ["--collective-timeout", "90", "--report-dir",
                                                         "/tmp/ptkit-reports"]
    assert "--distributed" in command


@pytest.mark.parametrize(("text", "port"), [("1", 1), ("29500", 29500), ("65535", 65535)])
def test_a_rendezvous_port_is_any_tcp_port_from_1(text, port):
    from ptkit.cluster.launch import port as parse_port

    assert parse_port(text) == port


@pytest.mark.parametrize("text", ["0", "65536", "-1", "+80", "80.0", "", "0x50"])
def test_anything_else_is_no_rendezvous_port(text):
    from ptkit.cluster.launch import port as parse_port

    with pytest.raises(argparse.ArgumentTypeError) as error:
        parse_port(text)
    assert str(error.value) == f"expected a TCP port from 1 to 65535, got {text!r}"


def test_the_indexed_job_finds_its_head_through_a_headless_service_and_runs_restricted(tmp_path):
    """Kubernetes' own rules: an Indexed Job's pod k is `NAME-k` and, with `subdomain` set to a headless Service
    (clusterIP None) that publishes not-ready addresses, resolves as `NAME-0.NAME`; the Pod Security 'restricted'
    profile asks for no privilege escalation, all capabilities dropped, a non-root user and RuntimeDefault seccomp.
    The container is named pytorch, as Kubeflow's operator requires, and /dev/shm is a memory volume."""
    service, job = k8s_docs(tmp_path, "cuda130", "--nodes", "2", "--gpus-per-node", "4", "--port", "29400")
    name = job["metadata"]["name"]
    assert service["metadata"] == {"name": name, "labels": job["metadata"]["labels"]}
    assert job["metadata"]["labels"]["app.kubernetes.io/name"] == "ptkit-verify"
    assert service["spec"]["clusterIP"] == "None" and service["spec"]["publishNotReadyAddresses"] is True
    assert service["spec"]["selector"] == {"job-name": name}
    assert service["spec"]["ports"] == [{"name": "rdzv", "port": 29400, "targetPort": 29400}]
    pod = job["spec"]["template"]["spec"]
    assert pod["subdomain"] == name
    (box,) = pod["containers"]
    assert box["name"] == "pytorch" and box["ports"] == [{"name": "rdzv", "containerPort": 29400}]
    assert box["command"][0] == "torchrun" and f"{name}-0.{name}:29400" in box["command"]
    assert box["command"][-2:] == ["--report-dir", "/tmp/ptkit-reports"]
    assert box["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert box["volumeMounts"] == [{"name": "dshm", "mountPath": "/dev/shm"}]
    assert pod["volumes"][0]["name"] == "dshm" and pod["volumes"][0]["emptyDir"]["medium"] == "Memory"
    assert box["resources"] == {"limits": {"nvidia.com/gpu": 4}}


def test_ci_github_check_and_a_second_runner_label_for_an_existing_actionlint_config(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    flow = tmp_path / "flow.yml"
    assert ptkit("ci", "github", "--check", "-o", str(flow)) == 1  # nothing there yet: out of date
    assert f"{flow} is out of date with the matrix: run `ptkit ci github`" in capsys.readouterr().err
    assert ptkit("ci", "github", "--gpu-runner", "gpu-a100", "-o", str(flow)) == 0
    assert "gpu-a100" in flow.read_text() and "gpu-a100" in (tmp_path / "actionlint.yaml").read_text()
    assert ptkit("ci", "github", "--gpu-runner", "gpu-a100", "--check", "-o", str(flow)) == 0
    assert ptkit("ci", "github", "--check", "-o", str(flow)) == 1  # another label: another workflow
    capsys.readouterr()
    assert ptkit("ci", "github", "--gpu-runner", "gpu-h100", "-o", str(flow)) == 0
    assert capsys.readouterr().err.splitlines() == [f"wrote {flow}", f"ptkit ci github: add the runner label "
                                                   f"'gpu-h100' to {tmp_path / 'actionlint.yaml'} for actionlint"]
    assert "gpu-h100" not in (tmp_path / "actionlint.yaml").read_text()  # the user's config is theirs to edit
