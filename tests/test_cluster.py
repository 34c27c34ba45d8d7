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
