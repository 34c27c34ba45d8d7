"""Session fixtures of the Docker tests, after jupyter/docker-stacks: a real engine through the Docker SDK,
the image under test as an input (`--image`) or built here once (`nox -s VARIANT`, as a user runs it),
containers removed after each use, images the suite created removed at the end (unless
PTKIT_KEEP_IMAGES=1, to keep the build cache warm while developing).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ptkit.matrix import Variant
from tests.utils import matrix_facts
from tests.utils.builds import Builds, ImageUnderTest
from tests.utils.docker_helpers import (
    BASE_IMAGE,
    ROLE,
    STAMP,
    TrackedContainer,
    container_ids,
    has_gpus,
    remove_images,
)
from tests.utils.ptkit_cli import run_ptkit
from tests.utils.registry import LocalRegistry

BUILD_SKIP = "--image given: build tests need to build"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("image"):
        for item in items:
            if item.get_closest_marker("builds"):
                item.add_marker(pytest.mark.skip(reason=BUILD_SKIP))
    # A stable sort: everything else keeps its order.
    items.sort(key=lambda item: item.get_closest_marker("runs_last") is not None)


@pytest.fixture(scope="session")
def api() -> Iterator[Any]:
    docker = pytest.importorskip("docker")
    try:
        client = docker.from_env(timeout=900)
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(f"no Docker engine: run scripts/host-setup.sh first ({exc})")
    yield client
    for cid in container_ids(client, label=ROLE):
        client.api.remove_container(cid, force=True)


@pytest.fixture(scope="session")
def created_images(api: Any) -> Iterator[list[str]]:
    """Tags the suite creates; removed at the end so that nothing is left behind."""
    tags: list[str] = []
    before = {tag for image in api.images.list() for tag in image.tags}
    yield tags
    # A rebuild that the cache answers re-tags the same image with its dated tag (images.Image.stamped_tag), and
    # once the suite's own files make the checkout dirty that tag is a new one: remove those too.
    stamped = [tag for image in api.images.list() for tag in image.tags if tag not in before and STAMP.search(tag)]
    # Rebuilds leave the previous image untagged, and multi-stage builds leave their stages' cache: remove
    # those, and only those (ptkit.stage-labelled).
    remove_images(api, [*reversed(tags), *stamped], "ptkit.stage")


@pytest.fixture
def child_images(api: Any) -> Iterator[list[str]]:
    """Tags of the images a test makes FROM the image under test, removed when that test ends (not at the
    session's end): the engine keeps an image that has children when its last tag goes, and test_registry
    deletes the image under test and pulls it back by digest."""
    tags: list[str] = []
    yield tags
    # A team build's builder stage (docker/Dockerfile.team) is a child too, left as an untagged cache image.
    remove_images(api, list(reversed(tags)), "ptkit.stage=team-builder")


@pytest.fixture(scope="session")
def base_image(api: Any, created_images: list[str]) -> str:
    """The local Debian base of the builds here, made by `ptkit base` when the engine lacks it."""
    from docker.errors import ImageNotFound

    try:
        api.images.get(BASE_IMAGE)
    except ImageNotFound:
        proc = run_ptkit("base", "--tag", BASE_IMAGE)
        assert proc.returncode == 0, proc.stderr
        created_images.append(BASE_IMAGE)
    return BASE_IMAGE


@pytest.fixture(scope="session")
def builds(api: Any, base_image: str, created_images: list[str]) -> Builds:
    return Builds(api, created_images, base_image)


@pytest.fixture(scope="session")
def variant_under_test(request: pytest.FixtureRequest, api: Any) -> Variant:
    """--variant; else the --image's ptkit.variant label; else the matrix's `latest`."""
    from docker.errors import ImageNotFound

    if name := request.config.getoption("variant"):
        return matrix_facts.variant(name)
    if image := request.config.getoption("image"):
        try:
            label = api.images.get(image).labels.get("ptkit.variant")
        except ImageNotFound:
            pytest.fail(f"--image {image}: no such image on this engine (pull or load it first)")
        if not label:
            pytest.fail(f"--image {image} has no ptkit.variant label: name its variant with --variant")
        return matrix_facts.variant(label)
    return matrix_facts.default_variant()


@pytest.fixture(scope="session")
def image_under_test(request: pytest.FixtureRequest, variant_under_test: Variant) -> ImageUnderTest:
    """The --image as given (never built), or the variant under test built here by its nox session."""
    if image := request.config.getoption("image"):
        return ImageUnderTest(image, variant_under_test)
    return request.getfixturevalue("builds").image(variant_under_test)


@pytest.fixture
def container(api: Any, image_under_test: ImageUnderTest) -> TrackedContainer:
    """Throwaway containers of the image under test, with the host's GPUs where the engine has them."""
    gpus = {}
    if has_gpus(api):
        from docker.types import DeviceRequest

        gpus = {"device_requests": [DeviceRequest(count=-1, capabilities=[["gpu"]])]}
    return TrackedContainer(api, image_under_test.tag, shm_size="1g", **gpus)


@pytest.fixture
def registry(api: Any) -> Iterator[LocalRegistry]:
    """Debian's docker-registry on loopback; stopped afterwards, and every local tag naming it removed
    (whatever the test's outcome)."""
    with LocalRegistry(api) as running:
        yield running
