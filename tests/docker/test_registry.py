"""Tests that build and push: a real registry (Debian's docker-registry on loopback), a team image built
FROM the variant image. They need to build, so they are skipped when --image is given."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.utils import matrix_facts
from tests.utils.docker_helpers import TrackedContainer, children, repository_and_tag
from tests.utils.ptkit_cli import record_evidence, run_ptkit

docker = pytest.importorskip("docker")
pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.builds]


def cosign_keys(folder) -> tuple[str, str, dict[str, str]]:
    """A cosign key pair made here (private key, public key, the environment that unlocks the private one)."""
    env = {"COSIGN_PASSWORD": "correct horse"}
    subprocess.run(["cosign", "generate-key-pair", "--output-key-prefix", str(folder / "team")], check=True,
                   capture_output=True, env={**os.environ, **env}, stdin=subprocess.DEVNULL, timeout=60)
    return str(folder / "team.key"), str(folder / "team.pub"), env


@pytest.mark.skipif(not shutil.which("cosign"), reason="no cosign: run scripts/host-setup.sh")
def test_push_sign_delete_pull_by_digest_and_verify(api, image_under_test, builds, registry, tmp_path,
                                                    created_images):
    """The engine's push, signed and attested (issue 22), then the key checked before the run: the whole path
    tests/test_sign.py and test_attest.py cover with skopeo's digests instead of the engine's."""
    v = image_under_test.variant
    repo = f"{registry.host}/team/pytorch"
    described = f"{repo}:{matrix_facts.content_tag(v)}"
    record = tmp_path / f"{v.name}.json"  # the devel flavor's report (the one ptkit:VARIANT names)
    key, pub, env = cosign_keys(tmp_path)
    proc = run_ptkit("check", v.name, *builds.options(v), "--push", "--tag", f"{repo}:{v.name}",
                     "--reports", str(tmp_path), "--sign", key, env=env)
    record_evidence(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stderr[-3000:]
    pushed = json.loads(record.read_text())["run"]["pushed"]
    assert set(pushed) >= {f"{repo}:{v.name}", described}
    assert any(t.startswith(f"{described}-2") for t in pushed), pushed  # the date-stamped tag too
    digest = pushed[f"{repo}:{v.name}"]
    image_id = api.images.get(f"{repo}:{v.name}").id
    assert api.images.get(image_under_test.tag).id == image_id
    # Delete every local copy (all tags of the image), then pull by digest from the registry. An image built
    # FROM it would keep it here, untagged: each test removes its own (the child_images fixture).
    assert not children(api, image_id), f"images made FROM {image_under_test.tag} outlived their tests"
    local_tags = api.images.get(image_id).tags
    for tag in local_tags:
        api.images.remove(tag)
    with pytest.raises(docker.errors.ImageNotFound):
        api.images.get(image_id)
    pulled = api.images.pull(f"{repo}@{digest}")
    created_images.append(f"{repo}@{digest}")
    assert pulled.id == image_id
    for tag in local_tags:  # the rest of the suite keeps its image and its ptkit tags
        if not tag.startswith(f"{registry.host}/"):
            pulled.tag(*repository_and_tag(tag))
    proc = run_ptkit("verify", "--image", f"{repo}@{digest}", "--quick", "--key", pub)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "correct horse" not in proc.stdout + proc.stderr + record.read_text()
    # the provenance shown names the commit the image was built from (its OCI revision label)
    revision = pulled.labels["org.opencontainers.image.revision"].removesuffix("-dirty")
    assert f"commit {revision}" in proc.stderr, proc.stderr
    (tmp_path / "other").mkdir()
    _, other_pub, _ = cosign_keys(tmp_path / "other")  # someone else's key: refused before anything runs
    refused = run_ptkit("verify", "--image", f"{repo}@{digest}", "--quick", "--key", other_pub)
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr


def test_push_to_a_stopped_registry_is_one_line(image_under_test, builds, registry):
    v = image_under_test.variant
    registry.stop()
    result = run_ptkit("build", v.name, *builds.options(v), "--push", "--tag", f"{registry.host}/team/pytorch:{v.name}")
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ptkit build: error: push of"), last
    assert "refused" in last or "failed" in last, last


def test_team_image_extends_ptkit_without_reinstalling_torch(api, image_under_test, builds, tmp_path,
                                                             child_images):
    v = image_under_test.variant
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("six==1.17.0\n")
    # One wheelhouse serves the variant and the team (hard links: no copy of GBs), plus the team's wheel.
    wheels = tmp_path / "wheelhouse"
    wheels.mkdir()
    for wheel in builds.wheelhouse(v).glob("*.whl"):
        os.link(wheel, wheels / wheel.name)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "six==1.17.0", "-d", str(wheels)],
                   check=True, capture_output=True, timeout=300)
    options = [o.replace(str(builds.wheelhouse(v)), str(wheels)) for o in builds.options(v)]
    tag = f"ptkit-test/team:{v.name}"
    proc = run_ptkit("build", v.name, "--flavor", "devel", *options, "--extra-requirements", str(reqs), "--tag", tag)
    child_images.append(tag)
    record_evidence(proc.stderr)
    assert proc.returncode == 0, proc.stderr[-3000:]
    child, parent = api.images.get(tag), api.images.get(image_under_test.tag)
    assert child.labels["ptkit.parent"] == image_under_test.tag
    assert child.labels["org.opencontainers.image.base.digest"] == parent.id
    assert child.labels["ptkit.variant"] == v.name  # inherited
    added = child.attrs["Size"] - parent.attrs["Size"]
    assert added < 20e6, f"team layer is {added / 1e6:.0f} MB: torch was reinstalled?"
    run = TrackedContainer(api, tag).run(["-c", "import six, torch; print(six.__file__, torch.__version__)"],
                                         entrypoint=["python"])
    six_file, torch_version = run.stdout.split()
    assert six_file.startswith("/opt/team/"), run.stdout
    assert torch_version in matrix_facts.torch_versions(v)
    proc = run_ptkit("verify", "--image", tag, "--quick", "--require", "six")
    assert proc.returncode == 0, proc.stdout + proc.stderr
