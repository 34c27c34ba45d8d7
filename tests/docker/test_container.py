"""Tests that need only an image: they run against the image under test, built here or given with
--image (`pytest tests/docker --image ptkit:cuda130`), and compare it with its variant's matrix facts."""

from __future__ import annotations

import hashlib
import json
import signal
import time

import pytest

from tests.utils import matrix_facts
from tests.utils.builds import HOST_CA
from tests.utils.docker_helpers import (
    container_ids,
    derived_image,
    has_gpus,
    image_files,
    repository_and_tag,
    wait_for,
)
from tests.utils.ptkit_cli import run_ptkit, start_ptkit

pytest.importorskip("docker")
pytestmark = [pytest.mark.docker, pytest.mark.slow]


def checks_by_name(report: dict) -> dict[str, dict]:
    return {c["name"]: c for c in report["checks"]}


def test_docker_run_verify_json_as_uid_1000(api, container, image_under_test):
    v = image_under_test.variant
    run = container.run(["verify", "--json", "--quick"])
    report = json.loads(run.stdout)
    assert report["ok"] is True, run.stdout + run.stderr
    assert report["environment"]["torch"] in matrix_facts.torch_versions(v)
    cuda = checks_by_name(report)["cuda"]
    if v.is_cuda and has_gpus(api):
        assert cuda["status"] == "pass", cuda
    else:  # no GPU here (or a CPU image): the GPU checks skip and say why, they do not fail
        assert cuda["status"] == "skip", cuda
        assert cuda["detail"].startswith("no GPU visible: "), cuda
    assert container.run(entrypoint=["id", "-u"]).stdout.strip() == "1000"


def test_image_labels_and_entrypoint(api, image_under_test):
    v = image_under_test.variant
    image = api.images.get(image_under_test.tag)
    expected = {"ptkit.variant": v.name, "ptkit.torch": v.torch, "ptkit.python": v.python, "ptkit.cuda": v.cuda}
    assert {key: image.labels.get(key) for key in expected} == expected
    for key in ("source", "revision", "created", "version"):
        assert image.labels[f"org.opencontainers.image.{key}"] not in ("", "unknown"), key
    assert image.attrs["Config"]["Entrypoint"] == ["ptkit"]
    assert image.attrs["Config"]["Cmd"] == ["verify"]


def test_image_tags_say_what_is_inside(api, image_under_test):
    v = image_under_test.variant
    image = api.images.get(image_under_test.tag)
    repo, tag = repository_and_tag(image_under_test.tag)
    if tag is None:
        pytest.skip(f"{image_under_test.tag} is referenced by digest: its tags are the registry's, not checked")
    described = f"{repo}:{matrix_facts.content_tag(v)}"
    assert described in image.tags
    assert any(t.startswith(f"{described}-2") for t in image.tags), image.tags  # date-stamped
    if repo == "ptkit" and v.name == matrix_facts.MATRIX.latest:
        assert "ptkit:latest" in image.tags  # `docker run ptkit verify` runs this variant


def test_no_ca_bundle_wheelhouse_or_pip_cache_in_the_image(api, image_under_test):
    ca_digest = hashlib.sha256(HOST_CA.read_bytes()).hexdigest()
    ca_size = HOST_CA.stat().st_size
    history = json.dumps(api.api.history(image_under_test.tag))
    assert "ca.pem" not in history
    assert "wheelhouse" not in history.replace("COPY wheelhouse", "")
    names, ca_copies = [], []
    with image_files(api, image_under_test.tag) as tar:
        for member in tar:
            names.append(member.name)
            same_size = member.isfile() and member.size == ca_size
            if same_size and hashlib.sha256(tar.extractfile(member).read()).hexdigest() == ca_digest:
                ca_copies.append(member.name)
    assert names, "the image has no files?"
    assert not [n for n in names if "wheelhouse" in n or n.startswith("build/") or "/.cache/pip" in n]
    assert not [n for n in names if n.endswith(".whl")]
    assert not ca_copies, f"the host's CA bundle is in the image: {ca_copies}"


def test_verify_image_without_python_or_torch_is_a_one_line_fail(api, image_under_test, child_images):
    # No interpreter on PATH: the injected verifier cannot start, and the error says so in one line.
    nopython = derived_image(api, image_under_test.tag, "ptkit-test/nopython:latest",
                             'IFS=:; for d in $PATH; do rm -f "$d"/python "$d"/python3 "$d"/python3.*; done',
                             ["LABEL ptkit.variant="], child_images)
    proc = run_ptkit("verify", "--image", nopython)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if "error:" in ln]
    assert len(errors) == 1, proc.stderr
    assert f"no Python interpreter in {nopython}" in errors[0]
    # An image with Python but no torch: the verifier is copied in and runs on the image's Python.
    notorch = derived_image(api, image_under_test.tag, "ptkit-test/notorch:latest",
                            "rm -rf /opt/venv/lib/*/site-packages/torch", ["LABEL ptkit.variant="], child_images)
    proc = run_ptkit("verify", "--image", notorch, "--quick")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "import:torch: torch is not installed (required)" in proc.stderr.strip().splitlines()[-1]


def test_verify_image_brings_the_verifier_to_a_foreign_image(api, image_under_test, tmp_path, child_images):
    vendor = derived_image(api, image_under_test.tag, "ptkit-test/vendor:latest",
                           "rm -rf /opt/ptkit /opt/venv/bin/ptkit",
                           ["LABEL ptkit.variant=", 'ENTRYPOINT ["python3"]'], child_images)
    report = tmp_path / "vendor.json"
    proc = run_ptkit("verify", "--image", vendor, "--quick", "--report", str(report))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    torch = json.loads(report.read_text())["environment"]["torch"]
    assert torch in matrix_facts.torch_versions(image_under_test.variant)


@pytest.mark.parametrize(("signum", "code", "says"), [(signal.SIGINT, 130, "interrupted"),
                                                     (signal.SIGTERM, 143, "terminated (SIGTERM)")])
def test_a_signal_during_verify_image_leaves_no_container(api, image_under_test, signum, code, says):
    proc = start_ptkit("verify", "--image", image_under_test.tag)
    running = lambda: container_ids(api, label="ptkit.role=verify", status="running")  # noqa: E731
    assert wait_for(running, 60)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert says in err.strip().splitlines()[-1], err
    assert "Traceback" not in err
    assert not container_ids(api, label="ptkit.role=verify")


# As platforms run containers (issue 19): a read-only root file system, a uid with no passwd entry (OpenShift,
# Kubernetes runAsUser), a CPU quota, a small /dev/shm and no network. Each restriction gets a verdict that names
# its cause and fix, quickly, with no traceback; what cannot run there is a WARN or SKIP, not a time-out.
RESTRICTED = {"read_only": True, "user": "12345:12345", "shm_size": "1m", "network_mode": "none",
              "nano_cpus": 500_000_000, "environment": {"HOME": "/nonexistent"}}


def test_a_restricted_platform_gets_verdicts_that_name_each_fix(container):
    start = time.monotonic()
    run = container.run(["verify", "--json", "--quick"], **RESTRICTED)
    seconds = time.monotonic() - start
    assert "Traceback" not in run.stderr, run.stderr
    report = json.loads(run.stdout)
    got = checks_by_name(report)
    assert run.exit_code == 0 and report["ok"] is True, run.stdout + run.stderr
    assert got["tmp"]["status"] == "warn" and "docker run --tmpfs /tmp" in got["tmp"]["detail"]
    assert got["dataloader"] == {**got["dataloader"], "status": "skip",
                                 "detail": "not run: no writable temporary folder (see the tmp check)"}
    assert got["shm"]["status"] == "warn" and got["shm"]["detail"].startswith("/dev/shm is 1 MiB (< 1 GiB)")
    assert report["environment"]["cpus"]["quota"] == 0.5
    assert seconds < 180


def test_a_restricted_platform_with_a_tmpfs_on_tmp_passes(container):
    """The fix the tmp warning names: compile (devel flavor) and a DataLoader worker work as uid 12345."""
    run = container.run(["verify", "--json"], tmpfs={"/tmp": "rw,exec,size=512m,mode=1777"}, **RESTRICTED)
    assert "Traceback" not in run.stderr, run.stderr
    report = json.loads(run.stdout)
    got = checks_by_name(report)
    assert run.exit_code == 0 and report["ok"] is True, run.stdout + run.stderr
    assert got["tmp"]["status"] == "pass" and got["dataloader"]["status"] == "pass"
    if "compile:cpu" in got:  # the devel flavor; the runtime flavor's compile is a SKIP that says so
        assert got["compile:cpu"]["status"] == "pass", got["compile:cpu"]
    else:
        assert got["compile"]["status"] == "skip", got["compile"]
