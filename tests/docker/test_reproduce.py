"""Bit-for-bit rebuilds (issue 22) on the real engine: normalize.py on two --no-cache builds, and
`ptkit reproduce` on the cpu row's image as a user runs it, pulled from a registry, and its rebuild against a
tampered copy."""

from __future__ import annotations

import io
import tarfile
from typing import Any

import pytest

from ptkit import normalize
from tests.utils import matrix_facts
from tests.utils.builds import HOST_CA, Builds
from tests.utils.docker_helpers import TEST_LABELS, derived_image
from tests.utils.ptkit_cli import run_ptkit
from tests.utils.registry import LocalRegistry

pytestmark = pytest.mark.docker

EPOCH = normalize.Epoch(1_700_000_000, "2023-11-14T22:13:20Z")
DOCKERFILE = b"""FROM %s
RUN mkdir -p /opt/app && echo hello > /opt/app/greeting && useradd --no-create-home app
COPY note.txt /opt/app/note.txt
LABEL test=normalize
"""


def build_no_cache(api: Any, base: str) -> str:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in (("Dockerfile", DOCKERFILE % base.encode()), ("note.txt", b"a note\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    out.seek(0)
    image, _ = api.images.build(fileobj=out, custom_context=True, nocache=True, rm=True, forcerm=True,
                                labels=TEST_LABELS)
    return image.id


def test_two_no_cache_builds_differ_and_normalized_are_one_image(api: Any, base_image: str) -> None:
    first, second = build_no_cache(api, base_image), build_no_cache(api, base_image)
    made = []
    try:
        assert first != second  # the classic builder's times: the problem normalize.py solves is real here
        made = [normalize.normalize(api, image_id, EPOCH, base_image) for image_id in (first, second)]
        assert made[0] == made[1]
        normalized = api.images.get(made[0])
        base_layers = api.images.get(base_image).attrs["RootFS"]["Layers"]
        assert normalized.attrs["RootFS"]["Layers"][:len(base_layers)] == base_layers  # the base, as it was
        assert normalized.attrs["Created"].startswith("2023-11-14T22:13:20")
        out = api.containers.run(made[0], ["cat", "/opt/app/greeting", "/opt/app/note.txt"], remove=True,
                                 labels=TEST_LABELS)
        assert out == b"hello\na note\n"
    finally:
        for image_id in {*made, first, second}:
            api.images.remove(image_id, force=True)


@pytest.fixture(scope="module")
def cpu_runtime(builds: Builds) -> tuple[str, list[str]]:
    """The cpu row's runtime image (built by `nox -s cpu`) and the reproduce options of this host."""
    cpu = matrix_facts.variant("cpu")
    builds.image(cpu)
    return "ptkit:cpu-runtime", ["--wheelhouse", str(builds.wheelhouse(cpu)), "--ca-bundle", str(HOST_CA)]


def test_reproduce_rebuilds_a_pushed_image_identically_and_names_a_changed_file(
        api: Any, cpu_runtime: tuple[str, list[str]], registry: LocalRegistry, child_images: list[str]) -> None:
    image, options = cpu_runtime
    ref = f"{registry.host}/team/pytorch:cpu-runtime"
    api.images.get(image).tag(ref)
    for line in api.images.push(ref, stream=True, decode=True):
        assert "error" not in line, line
    api.images.remove(ref)  # the registry's copy is what reproduce pulls
    child_images.append("ptkit-reproduce/cpu:rebuild-runtime")  # the rebuild's own tag
    proc = run_ptkit("reproduce", ref, *options, timeout=1800)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert proc.stdout.startswith(f"identical: {ref} and its rebuild from commit"), proc.stdout
    assert api.images.get(image).id == api.images.get(ref).id  # the rebuild moved no tag of the user's

    tampered = derived_image(api, ref, "ptkit-test/tampered:cpu-runtime",
                             "echo changed >> /opt/venv/pyvenv.cfg", [], child_images)
    # What `reproduce` of the tampered image prints after its rebuild (the same rebuild as above: a second
    # --no-cache build would take minutes of CI and show nothing more) is this differ's answer against it.
    rebuild = "ptkit-reproduce/cpu:rebuild-runtime"
    proc = run_ptkit("diff", "--layers", rebuild, tampered, timeout=900)
    assert proc.returncode == 1, proc.stdout + proc.stderr[-3000:]
    assert f"  opt/venv/pyvenv.cfg: only in {tampered}" in proc.stdout.splitlines(), proc.stdout


def test_reproduce_refuses_an_image_without_a_manifest_in_one_line(api: Any, base_image: str) -> None:
    proc = run_ptkit("reproduce", base_image)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [f"ptkit reproduce: error: {base_image} has no ptkit manifest: nothing "
                                                "records what it was built from"]
