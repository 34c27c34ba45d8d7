"""Real engine, real builds, real containers, a real registry (Debian's docker-registry on loopback).

The module builds the cpu image once, through the nox session (`nox -s cpu`), exactly as a user
would, and every test reuses it. Everything created here is removed at the end (containers after
each test; images unless PTKIT_KEEP_IMAGES=1 is set, to keep the build cache warm while developing).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import pytest

from conftest import ROOT, record_evidence, run_ptkit

docker = pytest.importorskip("docker")
pytestmark = [pytest.mark.docker, pytest.mark.slow]

BASE = "ptkit/base:bookworm"
CPU_PACKAGES = "torch numpy"  # the only CPU torch here is 2.13.0+cpu; see scripts/main.sh
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
CPU_LOCK = ROOT / "locks" / "cpu.txt"
NOX = [sys.executable, "-m", "nox"]


@pytest.fixture(scope="session")
def api():
    try:
        client = docker.from_env(timeout=900)
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(f"no Docker engine: run scripts/host-setup.sh first ({exc})")
    yield client
    for cid in container_ids(client, label="ptkit.role"):
        client.api.remove_container(cid, force=True)


@pytest.fixture(scope="session")
def created_images(api):
    """Tags the suite creates; removed at the end so that nothing is left behind."""
    tags: list[str] = []
    yield tags
    if os.environ.get("PTKIT_KEEP_IMAGES") == "1":
        return
    for tag in reversed(tags):
        with contextlib.suppress(docker.errors.ImageNotFound):
            api.images.remove(tag, force=True)
    # Rebuilds leave the previous image untagged, and multi-stage builds leave their stages' cache
    # (GBs for CUDA variants): remove those, and only those (ptkit.stage-labelled).
    api.images.prune(filters={"dangling": True, "label": "ptkit.stage"})


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory):
    dest = ROOT / ".cache" / "wheelhouse" / "cpu-tests"
    proc = run_ptkit("wheelhouse", "cpu", str(dest), "--packages", CPU_PACKAGES, "--lock", str(CPU_LOCK))
    assert proc.returncode == 0, proc.stderr
    return dest


@pytest.fixture(scope="session")
def base_image(api, created_images):
    try:
        api.images.get(BASE)
    except docker.errors.ImageNotFound:
        proc = run_ptkit("base", "--tag", BASE)
        assert proc.returncode == 0, proc.stderr
        created_images.append(BASE)
    return BASE


def build_options(wheelhouse: Path, lock: bool = True) -> list[str]:
    return ["--base-image", BASE, "--wheelhouse", str(wheelhouse), "--packages", CPU_PACKAGES,
            "--ca-bundle", str(HOST_CA), *(["--lock", str(CPU_LOCK)] if lock else [])]


def run_variant_session(api, variant: str, options: list[str], created_images: list[str],
                        timeout: int) -> tuple[subprocess.CompletedProcess, dict]:
    """`nox -s VARIANT -- OPTIONS` as a user runs it; every tag of the image it built is removed at the end."""
    report = ROOT / "reports" / f"{variant}.json"
    report.unlink(missing_ok=True)
    proc = subprocess.run([*NOX, "-s", variant, "--", *options], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
    record_evidence(proc.stdout + proc.stderr)
    data = json.loads(report.read_text()) if report.exists() else {}
    if image_id := data.get("run", {}).get("image_id"):
        created_images.extend(api.images.get(image_id).tags)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc, data


@pytest.fixture(scope="session")
def cpu_image(api, base_image, wheelhouse, created_images):
    """`nox -s cpu`, the main job, run for real; returns its report."""
    _, report = run_variant_session(api, "cpu", build_options(wheelhouse), created_images, timeout=1800)
    return report


def test_nox_session_builds_and_verifies_in_a_container(cpu_image):
    assert cpu_image["schema"] == "ptkit.verify/1" and cpu_image["ok"] is True
    assert cpu_image["run"]["image"] == "ptkit:cpu" and cpu_image["run"]["variant"] == "cpu"
    assert cpu_image["environment"]["torch"] == "2.13.0+cpu"
    assert cpu_image["environment"]["python"].startswith("3.11")  # the image's Python, not the host's
    assert {b["n"] for b in cpu_image["benchmarks"]} == {512, 1024, 2048}
    shm = next(c for c in cpu_image["checks"] if c["name"] == "shm")
    assert shm["status"] == "pass"  # the session gives the container a sane /dev/shm


def test_docker_run_verify_json_as_uid_1000(api, cpu_image):
    # `docker run ptkit verify`: the matrix's `latest` variant is also ptkit:latest.
    out = api.containers.run("ptkit", ["verify", "--json", "--quick"], remove=True, shm_size="1g",
                             labels={"ptkit.role": "test"})
    report = json.loads(out)
    assert report["ok"] is True
    assert api.containers.run("ptkit:cpu", remove=True, entrypoint=["id", "-u"]).decode().strip() == "1000"


def test_image_labels_and_tags(api, cpu_image):
    image = api.images.get("ptkit:cpu")
    labels = image.labels
    assert labels["ptkit.variant"] == "cpu" and labels["ptkit.torch"] == "2.13.0+cpu"
    assert labels["ptkit.python"] == "3.11" and labels["ptkit.cuda"] == ""
    for key in ("source", "revision", "created", "version"):
        assert labels[f"org.opencontainers.image.{key}"] not in ("", "unknown"), key
    assert "ptkit:2.13.0-cpu-py3.11" in image.tags
    assert any(t.startswith("ptkit:2.13.0-cpu-py3.11-2") for t in image.tags)  # date-stamped
    assert image.attrs["Config"]["Entrypoint"] == ["ptkit"] and image.attrs["Config"]["Cmd"] == ["verify"]


def image_files(api, ref: str) -> tarfile.TarFile:
    container = api.containers.create(ref, labels={"ptkit.role": "test"})
    tmp = tempfile.TemporaryFile()  # noqa: SIM115 - the returned TarFile reads it; closed with the test
    try:
        for chunk in container.export():
            tmp.write(chunk)
        tmp.seek(0)
        return tarfile.open(fileobj=tmp)
    finally:
        container.remove(force=True)


def test_no_ca_bundle_wheelhouse_or_pip_cache_in_the_image(api, cpu_image):
    ca_digest = hashlib.sha256(HOST_CA.read_bytes()).hexdigest()
    ca_size = HOST_CA.stat().st_size
    history = json.dumps(api.api.history("ptkit:cpu"))
    assert "ca.pem" not in history and "wheelhouse" not in history.replace("COPY wheelhouse", "")
    tar = image_files(api, "ptkit:cpu")
    names = tar.getnames()
    assert not [n for n in names if "wheelhouse" in n or n.startswith("build/") or "/.cache/pip" in n]
    assert not [n for n in names if n.endswith(".whl")]
    same_size = [m for m in tar.getmembers() if m.isfile() and m.size == ca_size]
    assert all(hashlib.sha256(tar.extractfile(m).read()).hexdigest() != ca_digest for m in same_size)


def test_rebuild_reuses_the_heavy_layers(api, cpu_image, wheelhouse):
    before = api.images.get("ptkit:cpu").attrs["RootFS"]["Layers"]
    proc = run_ptkit("build", "cpu", *build_options(wheelhouse))
    assert proc.returncode == 0, proc.stderr
    after = api.images.get(json.loads(proc.stdout)["image_id"]).attrs["RootFS"]["Layers"]
    # base, python3, venv and user layers are the cached ones; only ptkit's own layers may change.
    assert after[:4] == before[:4] and len(after) == len(before)


def derived_image(api, tag: str, shell: str, changes: list[str], created_images: list[str]) -> str:
    """ptkit:cpu with `shell` run in it as root, committed as `tag` with Dockerfile `changes`."""
    container = api.containers.run("ptkit:cpu", user="0", detach=True, labels={"ptkit.role": "test"},
                                   entrypoint=["sh", "-c", shell])
    try:
        container.wait()
        repo, name = tag.split(":")
        container.commit(repo, name, changes=changes)
    finally:
        container.remove(force=True)
    created_images.append(tag)
    return tag


def test_verify_image_without_python_or_torch_is_a_one_line_fail(api, cpu_image, base_image, created_images):
    proc = run_ptkit("verify", "--image", base_image)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if "error:" in ln]
    assert len(errors) == 1 and f"no Python interpreter in {base_image}" in errors[0]
    # An image with Python but no torch: the verifier is copied in and runs on the image's Python.
    notorch = derived_image(api, "ptkit-test/notorch:latest", "rm -rf /opt/venv/lib/*/site-packages/torch",
                            ["LABEL ptkit.variant="], created_images)
    proc = run_ptkit("verify", "--image", notorch, "--quick")
    assert proc.returncode == 1
    assert "import:torch: torch is not installed (required)" in proc.stderr.strip().splitlines()[-1]


def test_verify_image_brings_the_verifier_to_a_foreign_image(api, cpu_image, tmp_path, created_images):
    vendor = derived_image(api, "ptkit-test/vendor:latest", "rm -rf /opt/ptkit /opt/venv/bin/ptkit",
                           ["LABEL ptkit.variant=", 'ENTRYPOINT ["python3"]'], created_images)
    report = tmp_path / "vendor.json"
    proc = run_ptkit("verify", "--image", vendor, "--quick", "--report", str(report))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(report.read_text())["environment"]["torch"] == "2.13.0+cpu"


def test_no_daemon_is_one_line_with_how_to_start(wheelhouse):
    proc = run_ptkit("build", "cpu", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert proc.returncode == 1 and proc.stderr.strip().count("\n") == 0
    assert "no Docker daemon answers" in proc.stderr and "dockerd" in proc.stderr


def test_unpullable_base_suggests_ptkit_base(api, cpu_image):
    proc = run_ptkit("build", "cpu", "--base-image", "registry.invalid/nothing:1", "--packages", CPU_PACKAGES)
    assert proc.returncode == 1 and proc.stderr.strip().count("\n") == 0
    assert "cannot be pulled" in proc.stderr and "ptkit base" in proc.stderr


def test_build_failure_shows_the_log_tail(api, cpu_image, wheelhouse):
    opts = build_options(wheelhouse, lock=False)
    opts[opts.index("--packages") + 1] = "torch numpy==0.0.1"
    proc = run_ptkit("build", "cpu", *opts)
    assert proc.returncode == 1 and "image build failed" in proc.stderr
    assert "No matching distribution found for numpy==0.0.1" in proc.stderr
    assert 3 <= proc.stderr.count("  | ") <= 20
    assert not container_ids(api, status="exited"), "intermediate container left"


def container_ids(api, **filters: str) -> set[str]:
    """Containers' ids from the list call alone: `containers.list()` inspects each one, which fails
    with 404 when the classic builder removes a step's container in between."""
    return {c["Id"] for c in api.api.containers(all=True, filters=filters)}


def wait_for(predicate, timeout: float = 120) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_ctrl_c_during_verify_leaves_no_container(api, cpu_image):
    proc = subprocess.Popen([sys.executable, "-m", "ptkit", "verify", "--image", "ptkit:cpu"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    running = lambda: container_ids(api, label="ptkit.role=verify", status="running")  # noqa: E731
    assert wait_for(running, 60)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert not container_ids(api, label="ptkit.role=verify")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def registry(api, tmp_path):
    """Debian's docker-registry on loopback, storage in a temp dir; stopped afterwards, and every
    local tag naming it removed (whatever the test's outcome)."""
    binary = shutil.which("docker-registry")
    assert binary, "docker-registry is not installed (scripts/host-setup.sh installs it)"
    port = free_port()
    config = tmp_path / "config.yml"
    config.write_text(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {tmp_path / 'data'}\n"
                      f"http:\n  addr: 127.0.0.1:{port}\nlog:\n  level: error\n")
    proc = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def up() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            return False

    assert wait_for(up, 20), "registry did not start"
    host = f"localhost:{port}"
    yield host, proc
    proc.terminate()
    proc.wait(timeout=20)
    for image in api.images.list():
        for tag in image.tags:
            if tag.startswith(f"{host}/"):
                api.images.remove(tag)


def test_push_delete_pull_by_digest_and_verify(api, cpu_image, wheelhouse, registry, tmp_path, created_images):
    host, _ = registry
    repo = f"{host}/team/pytorch"
    record = tmp_path / "cpu.json"
    proc = run_ptkit("check", "cpu", *build_options(wheelhouse), "--push", "--tag", f"{repo}:cpu",
                     "--report", str(record))
    record_evidence(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stderr[-3000:]
    pushed = json.loads(record.read_text())["run"]["pushed"]
    assert set(pushed) >= {f"{repo}:cpu", f"{repo}:2.13.0-cpu-py3.11"}
    assert any(t.startswith(f"{repo}:2.13.0-cpu-py3.11-2") for t in pushed)  # the date-stamped tag too
    digest = pushed[f"{repo}:cpu"]
    image_id = api.images.get(f"{repo}:cpu").id
    assert api.images.get("ptkit:cpu").id == image_id
    # Delete every local copy (all tags of the image), then pull by digest from the registry.
    for tag in api.images.get(image_id).tags:
        api.images.remove(tag)
    with pytest.raises(docker.errors.ImageNotFound):
        api.images.get(image_id)
    pulled = api.images.pull(f"{repo}@{digest}")
    created_images.append(f"{repo}@{digest}")
    assert pulled.id == image_id
    pulled.tag("ptkit", "cpu")  # the rest of the suite keeps its image
    proc = run_ptkit("verify", "--image", f"{repo}@{digest}", "--quick")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_push_to_a_stopped_registry_is_one_line(api, cpu_image, wheelhouse, registry):
    host, proc = registry
    proc.terminate()
    proc.wait(timeout=20)
    result = run_ptkit("build", "cpu", *build_options(wheelhouse), "--push", "--tag", f"{host}/team/pytorch:cpu")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ptkit build: error: push of") and ("refused" in last or "failed" in last)


def test_team_image_extends_ptkit_without_reinstalling_torch(api, cpu_image, wheelhouse, tmp_path, created_images):
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("six==1.17.0\n")
    tag = "ptkit-test/team:cpu"
    proc = run_ptkit("build", "cpu", *build_options(wheelhouse), "--extra-requirements", str(reqs), "--tag", tag)
    created_images.append(tag)
    record_evidence(proc.stderr)
    assert proc.returncode == 0, proc.stderr[-3000:]
    child, parent = api.images.get(tag), api.images.get("ptkit:cpu")
    assert child.labels["ptkit.parent"] == "ptkit:cpu"
    assert child.labels["org.opencontainers.image.base.digest"] == parent.id
    assert child.labels["ptkit.variant"] == "cpu"  # inherited
    added = child.attrs["Size"] - parent.attrs["Size"]
    assert added < 20e6, f"team layer is {added / 1e6:.0f} MB: torch was reinstalled?"
    out = api.containers.run(tag, ["-c", "import six, torch; print(six.__file__, torch.__version__)"],
                             entrypoint=["python"], remove=True).decode()
    assert out.startswith("/opt/team/") and "2.13.0+cpu" in out
    proc = run_ptkit("verify", "--image", tag, "--quick", "--require", "six")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cuda130_built_from_real_cuda13_wheels_and_verified(api, base_image, created_images):
    """The cuda130 variant for real: torch 2.14.1 + CUDA 13 wheels (about 3 GB), no GPU on this host."""
    wheels = ROOT / ".cache" / "wheelhouse" / "cuda130"
    lock = ROOT / "locks" / "cuda130.txt"
    proc = run_ptkit("wheelhouse", "cuda130", str(wheels), "--lock", str(lock))
    assert proc.returncode == 0, proc.stderr
    options = ["--base-image", BASE, "--wheelhouse", str(wheels), "--lock", str(lock)]
    proc, data = run_variant_session(api, "cuda130", options, created_images, timeout=3600)
    assert "this host has no NVIDIA container runtime: verifying without a GPU" in proc.stdout + proc.stderr
    env = data["environment"]
    assert data["ok"] is True and env["torch"].startswith("2.14.1") and env["cuda"] == "13.0"
    assert env["cudnn"] and env["nccl"], "cuDNN and NCCL versions must be readable without a GPU"
    checks = {c["name"]: c for c in data["checks"]}
    assert checks["expect-cuda-version"]["status"] == "pass"
    assert checks["cuda"]["status"] == "skip" and checks["cuda"]["detail"].startswith("no GPU visible: ")
    assert "sm_90" in env["build"]["arch_list"]


# Last in the module: the classic builder takes the newest matching layer as cache, so the layers this
# interrupted --no-cache build committed would send every later cpu build down a dead end (a full rebuild).
def test_ctrl_c_during_build_leaves_no_container(api, cpu_image, wheelhouse):
    before = container_ids(api)
    proc = subprocess.Popen([sys.executable, "-m", "ptkit", "build", "cpu", "--no-cache", *build_options(wheelhouse)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Interrupt while a RUN step's container exists.
        assert wait_for(lambda: container_ids(api) - before, 180)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:  # never leave a build running to retag ptkit:cpu under later tests
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130 and "build interrupted" in err and "Traceback" not in err
    assert wait_for(lambda: not (container_ids(api) - before), 60)
