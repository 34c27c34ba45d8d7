"""`ptkit index` (issue 21): one tag for several platforms, pushed to a real registry (Debian's docker-registry on
loopback) and read back through the engine, as a node of each machine pulls it. The images are tiny ones of each
platform, loaded the way `ptkit base` loads another machine's (a config naming its architecture), so this runs in
seconds; tests/docker/test_arm64.py does the same with the cpu row's images of both machines, verified."""

from __future__ import annotations

import contextlib
import json
import tarfile
from pathlib import Path

import pytest

from ptkit.base import write_image_archive
from ptkit.platforms import PLATFORMS
from tests.utils.ptkit_cli import run_ptkit

docker = pytest.importorskip("docker")
pytestmark = [pytest.mark.docker]


def tiny_image(api, tmp_path: Path, tag: str, platform: str, row: str) -> str:
    """An image of `platform` holding one file, labelled as ptkit labels a matrix row's image; its id."""
    rootfs = tmp_path / f"{platform.replace('/', '-')}-{row}.tar"
    payload = tmp_path / "hello"
    payload.write_text(f"{platform} {row}\n")
    with tarfile.open(rootfs, "w") as tar:
        tar.add(payload, arcname="hello")
    archive = rootfs.with_suffix(".image.tar")
    write_image_archive(rootfs, archive, tag, PLATFORMS[platform], {"Labels": {"ptkit.variant": row}})
    with archive.open("rb") as fh:
        list(api.api.load_image(fh))
    return api.images.get(tag).id


@pytest.fixture
def pushed(api, registry, tmp_path):
    """{(platform, row): (reference, digest, image id)}: a tiny cpu image per platform pushed, and a cuda130 one."""
    out = {}
    for platform, row in (("linux/amd64", "cpu"), ("linux/arm64", "cpu"), ("linux/arm64", "cuda130")):
        ref = f"{registry.host}/team/pytorch:{row}-{PLATFORMS[platform].arch}"
        image_id = tiny_image(api, tmp_path, ref, platform, row)
        digest = next(c["aux"]["Digest"] for c in api.images.push(ref, stream=True, decode=True) if "aux" in c)
        out[(platform, row)] = (ref, digest, image_id)
    yield out
    for ref, *_ in out.values():
        with contextlib.suppress(docker.errors.ImageNotFound):  # the first test removes some itself
            api.images.remove(ref, force=True)


def leftover_lists() -> list[str]:
    """The Docker CLI's local manifest lists (~/.docker/manifests): ptkit index leaves none."""
    folder = Path.home() / ".docker" / "manifests"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_one_tag_resolves_to_each_platforms_image_by_its_digest(api, registry, pushed):
    before = leftover_lists()
    ref = f"{registry.host}/team/pytorch:cpu"
    images = [pushed[("linux/amd64", "cpu")], pushed[("linux/arm64", "cpu")]]
    proc = run_ptkit("index", "--json", ref, *(r for r, *_ in images))
    assert proc.returncode == 0, proc.stderr
    index = json.loads(proc.stdout)
    assert index["platforms"] == {"linux/amd64": images[0][1], "linux/arm64": images[1][1]}
    # the engine's view of the registry: one index of two platforms, under the digest ptkit printed
    found = api.api.inspect_distribution(ref)
    assert found["Descriptor"]["digest"] == index["digest"]
    assert "manifest.list" in found["Descriptor"]["mediaType"]
    assert sorted(p["architecture"] for p in found["Platforms"]) == ["amd64", "arm64"]
    # each machine's node pulls the tag and gets its own image; by the digest the index names, the same one
    for platform, (pushed_ref, digest, image_id) in zip(("linux/amd64", "linux/arm64"), images, strict=True):
        api.images.remove(pushed_ref, force=True)
        pulled = api.images.pull(f"{registry.host}/team/pytorch", tag="cpu", platform=platform)
        assert (pulled.id, pulled.attrs["Architecture"]) == (image_id, PLATFORMS[platform].arch)
        assert f"{registry.host}/team/pytorch@{index['digest']}" in pulled.attrs["RepoDigests"]
        api.images.remove(pulled.id, force=True)
        assert api.images.pull(f"{registry.host}/team/pytorch@{digest}").id == image_id
        api.images.remove(image_id, force=True)
    assert leftover_lists() == before


@pytest.mark.parametrize("which, says", [
    ((("linux/arm64", "cpu"), ("linux/arm64", "cuda130")), "are both linux/arm64"),
    ((("linux/amd64", "cpu"), ("linux/arm64", "cuda130")), "different matrix rows (cpu, cuda130)"),
])
def test_two_images_of_one_platform_or_of_two_rows_are_refused(registry, pushed, which, says):
    ref = f"{registry.host}/team/pytorch:mixed"
    proc = run_ptkit("index", ref, *(pushed[w][0] for w in which))
    assert proc.returncode == 2, proc.stderr
    assert says in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stdout == ""
    with pytest.raises(docker.errors.APIError):  # nothing was pushed under the tag
        docker.from_env().api.inspect_distribution(ref)


def test_an_image_the_registry_lacks_or_an_index_itself_is_refused_in_one_line(registry, pushed):
    amd, arm = pushed[("linux/amd64", "cpu")][0], pushed[("linux/arm64", "cpu")][0]
    missing = f"{registry.host}/team/pytorch:never-pushed"
    proc = run_ptkit("index", f"{registry.host}/team/pytorch:x", amd, missing)
    assert proc.returncode == 1 and "no manifest for it" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert run_ptkit("index", f"{registry.host}/team/pytorch:both", amd, arm).returncode == 0
    proc = run_ptkit("index", f"{registry.host}/team/pytorch:y", f"{registry.host}/team/pytorch:both", arm)
    assert proc.returncode == 2 and "is an image index already" in proc.stderr, proc.stderr
