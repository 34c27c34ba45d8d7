"""Tests that build: the nox session's own report, layer reuse, build failures, Ctrl-C during a build.
Those marked `builds` are skipped when --image is given (they need to build the variant under test)."""

from __future__ import annotations

import dataclasses
import json
import signal

import pytest
from benchmarks import installers

from ptkit.verify.bench import DEFAULT_SIZES
from tests.utils import matrix_facts
from tests.utils.docker_helpers import container_ids, wait_for
from tests.utils.ptkit_cli import run_ptkit, start_ptkit

pytest.importorskip("docker")
pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.mark.builds
def test_nox_session_builds_and_verifies_in_a_container(image_under_test):
    v, report = image_under_test.variant, image_under_test.report
    assert report["schema"] == "ptkit.verify/1"
    assert report["ok"] is True, report["checks"]
    assert report["run"]["image"] == f"ptkit:{v.name}"
    assert report["run"]["variant"] == v.name
    assert report["environment"]["torch"] in matrix_facts.torch_versions(v)
    assert report["environment"]["python"].startswith(f"{v.python}.")  # the image's Python, not the host's
    kinds = {b["device"].split(":")[0] for b in report["benchmarks"]}
    assert kinds, "no benchmark ran"
    for kind in kinds:
        assert {b["n"] for b in report["benchmarks"] if b["device"].startswith(kind)} == set(DEFAULT_SIZES[kind])
    shm = next(c for c in report["checks"] if c["name"] == "shm")
    assert shm["status"] == "pass"  # the session gives the container a sane /dev/shm


@pytest.mark.builds
def test_rebuild_reuses_the_heavy_layers(api, image_under_test, builds):
    v = image_under_test.variant
    before = api.images.get(image_under_test.tag).attrs["RootFS"]["Layers"]
    proc = run_ptkit("build", v.name, *builds.options(v))
    assert proc.returncode == 0, proc.stderr
    devel = json.loads(proc.stdout)[0]  # the flavor ptkit:VARIANT names comes first
    assert devel["flavor"] == "devel"
    after = api.images.get(devel["image_id"]).attrs["RootFS"]["Layers"]
    # base, python3, venv and user layers are the cached ones; only ptkit's own layers may change.
    assert after[:4] == before[:4]
    assert len(after) == len(before)


@pytest.mark.builds
def test_build_failure_shows_the_log_tail(api, image_under_test, builds, tmp_path):
    v = image_under_test.variant
    # The variant as it is, but asking for a numpy that does not exist: pip fails inside the build.
    broken = tmp_path / "matrix.toml"
    broken.write_text(matrix_facts.matrix_toml([dataclasses.replace(v, extra_packages=("numpy==0.0.1",))]))
    proc = run_ptkit("build", v.name, "--matrix", str(broken), *builds.options(v, lock=False))
    assert proc.returncode == 1, proc.stderr
    assert "image build failed" in proc.stderr
    # pip: "No matching distribution found for numpy==0.0.1"; uv (the default installer): "there is no
    # version of numpy==0.0.1". Either way the cause is in the log tail, not only the failed command.
    tail = proc.stderr.split("last ", 1)[-1]
    assert "numpy==0.0.1" in tail, proc.stderr
    assert "No matching distribution" in tail or "no version of numpy" in tail, proc.stderr
    assert 3 <= proc.stderr.count("  | ") <= 20, proc.stderr
    assert not container_ids(api, status="exited"), "intermediate container left"


# A file:// index is not probed before the build (nothing to reach): these two get as far as the daemon.
OFFLINE_INDEX = ("--index-url", "file:///nonexistent/simple")


def test_no_daemon_is_one_line_with_how_to_start(variant_under_test):
    proc = run_ptkit("build", variant_under_test.name, *OFFLINE_INDEX,
                     env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "no Docker daemon answers" in proc.stderr
    assert "dockerd" in proc.stderr


def test_unpullable_base_suggests_ptkit_base(api, variant_under_test):
    proc = run_ptkit("build", variant_under_test.name, *OFFLINE_INDEX, "--base-image", "registry.invalid/nothing:1")
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "cannot be pulled" in proc.stderr
    assert "ptkit base" in proc.stderr


# Last in the session (the runs_last marker): the classic builder takes the newest matching layer as cache,
# so the layers this interrupted --no-cache build committed would send every later build of the same steps
# down a dead end (a full rebuild).
@pytest.mark.builds
@pytest.mark.runs_last
@pytest.mark.parametrize(("signum", "code", "says"), [(signal.SIGINT, 130, "interrupted"),
                                                     (signal.SIGTERM, 143, "terminated (SIGTERM)")])
def test_a_signal_during_a_build_leaves_no_container(api, image_under_test, builds, signum, code, says):
    v = image_under_test.variant
    before = container_ids(api)
    proc = start_ptkit("build", v.name, "--no-cache", "--flavor", "runtime", *builds.options(v))
    try:
        # Interrupt while a RUN step's container exists.
        assert wait_for(lambda: container_ids(api) - before, 180)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
    finally:  # never leave a build running to retag the image under later tests
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, err
    last = err.strip().splitlines()[-1]
    assert says in last, last
    assert "build interrupted" in last, last
    assert "Traceback" not in err
    assert wait_for(lambda: not (container_ids(api) - before), 60)


def _built_ids(stderr: str) -> dict[str, str]:
    """{flavor: image id} from `ptkit build`'s "built sha256:ID in S s: TAGS" lines (runtime is built first)."""
    built = [line.split()[1] for line in stderr.splitlines() if line.startswith("built sha256:")]
    return dict(zip(("runtime", "devel"), built, strict=True))


# Last in the session: the rebuilt images take the tags of the image under test.
@pytest.mark.builds
@pytest.mark.runs_last
def test_no_cache_builds_the_shared_layers_once(api, image_under_test, builds):
    """--no-cache builds runtime anew, then devel on the layers just made: the venv (gigabytes for CUDA)
    is installed and committed once, not once per flavor."""
    v = image_under_test.variant
    before = {image.id for image in api.images.list(all=True)}
    proc = run_ptkit("build", v.name, "--no-cache", *builds.options(v), timeout=3600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ids = _built_ids(proc.stderr)
    history = {flavor: api.api.history(image_id) for flavor, image_id in ids.items()}
    venv = max(history["runtime"], key=lambda entry: entry["Size"])  # the layer that holds the venv
    assert venv["Id"] not in before, "runtime's venv layer came from the cache despite --no-cache"
    devel_venv = max(history["devel"], key=lambda entry: entry["Size"])
    assert devel_venv["Size"] == venv["Size"]
    assert devel_venv["Id"] == venv["Id"], "devel installed the venv a second time"
    # What benchmarks/installers.py reads: the installer's own time, once, and the steps that differ by installer.
    assert [who for who, _ in installers.NOTE.findall(proc.stderr)] == ["uv"]
    assert set(installers.installer_steps()) <= {name for name, _ in installers.build_steps(proc.stderr)}

