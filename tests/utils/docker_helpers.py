"""Docker helpers in the jupyter/docker-stacks spirit: the image under test is an input, every container a
test starts is labelled and removed, and the engine is asked in ways that do not race with it.

The Docker SDK is never imported here: callers pass their client (`api`, a docker.DockerClient).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ptkit.docker_api import ChunkStream
from ptkit.images import LOCAL_BASE, ROLE_LABEL

ROLE = ROLE_LABEL  # every container ptkit or a test starts carries it; the session teardown removes them all
STAMP = re.compile(r"-\d{8}-(norev|[0-9a-f]{7}(-dirty)?)$")  # the end of images.Image.stamped_tag's tags
TEST_LABELS = {ROLE: "test"}
BASE_IMAGE = LOCAL_BASE  # what `ptkit base` makes by default: the base of the images built here


def container_ids(api: Any, **filters: str) -> set[str]:
    """Containers' ids from the list call alone: `containers.list()` inspects each one, which fails
    with 404 when the classic builder removes a step's container in between."""
    return {c["Id"] for c in api.api.containers(all=True, filters=filters)}


def wait_for(predicate: Callable[[], object], timeout: float = 120) -> bool:
    """Poll `predicate` every 0.2 s until it is true (True) or `timeout` seconds pass (False)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def has_gpus(api: Any) -> bool:
    """Whether this engine can give containers GPUs (the NVIDIA runtime is installed)."""
    return "nvidia" in (api.info().get("Runtimes") or {})


@dataclass(frozen=True)
class ContainerRun:
    exit_code: int
    stdout: str
    stderr: str


class TrackedContainer:
    """Runs commands in one image, each in a new container labelled ptkit.role=test that is removed
    whatever happens (docker-stacks' TrackedContainer, run-and-wait only). `defaults` are
    `containers.create` options for every run; a run's own options override them."""

    def __init__(self, api: Any, image: str, **defaults: Any) -> None:
        self.api, self.image, self.defaults = api, image, defaults

    def run(self, command: list[str] | None = None, *, timeout: int = 900, **options: Any) -> ContainerRun:
        container = self.api.containers.create(self.image, command, labels=TEST_LABELS,
                                               **{**self.defaults, **options})
        try:
            container.start()
            status = container.wait(timeout=timeout)
            stdout = container.logs(stdout=True, stderr=False).decode(errors="replace")
            stderr = container.logs(stdout=False, stderr=True).decode(errors="replace")
        finally:
            container.remove(force=True)
        return ContainerRun(int(status["StatusCode"]), stdout, stderr)


def derived_image(api: Any, source: str, tag: str, shell: str, changes: list[str], child_images: list[str]) -> str:
    """`source` with `shell` run in it as root, committed as `tag` with Dockerfile `changes`; the container
    is removed even if the commit fails, and `tag` is registered for removal when the test ends."""
    container = api.containers.run(source, user="0", detach=True, labels=TEST_LABELS, entrypoint=["sh", "-c", shell])
    try:
        container.wait()
        repo, name = tag.rsplit(":", 1)
        container.commit(repo, name, changes=changes)
    finally:
        container.remove(force=True)
    child_images.append(tag)
    return tag


@contextlib.contextmanager
def image_files(api: Any, ref: str) -> Iterator[tarfile.TarFile]:
    """Every file of the image, as a tar read in one streaming pass (iterate it once; `extractfile` the
    current member only) from an exported, never started container: a CUDA image's GBs never touch disk."""
    container = api.containers.create(ref, labels=TEST_LABELS)
    try:
        with tarfile.open(fileobj=io.BufferedReader(ChunkStream(iter(container.export()))), mode="r|") as tar:
            yield tar
    finally:
        container.remove(force=True)


def repository_and_tag(ref: str) -> tuple[str, str | None]:
    """'localhost:5000/team/pytorch:cpu' -> ('localhost:5000/team/pytorch', 'cpu'); no tag for a digest
    or bare reference ('repo@sha256:...' -> ('repo', None))."""
    if "@" in ref:
        return ref.split("@", 1)[0], None
    repo, sep, tag = ref.rpartition(":")
    return (repo, tag) if sep and "/" not in tag else (ref, None)


def children(api: Any, image_id: str) -> list[str]:
    """The images whose parent is `image_id`, each by a tag, else its short id, the step that made it and its
    stage label: while one exists, removing the image's last tag leaves the image in place, untagged."""
    found = []
    for img in api.images.list(all=True):
        if img.attrs.get("Parent") == image_id:
            step = ((img.attrs.get("ContainerConfig") or {}).get("Cmd") or [""])[-1]
            stage = (img.labels or {}).get("ptkit.stage", "")
            found.append(img.tags[0] if img.tags else f"{img.short_id} ({step.strip()}; ptkit.stage={stage})")
    return found


def remove_images(api: Any, tags: list[str], stages: str) -> None:
    """Remove `tags` (a tag already gone is no error), then the dangling images labelled `stages` (`key` or
    `key=value`): build stages' cache, GBs for CUDA variants. Nothing when PTKIT_KEEP_IMAGES=1."""
    from docker.errors import ImageNotFound

    if os.environ.get("PTKIT_KEEP_IMAGES") == "1":
        return
    for tag in tags:
        with contextlib.suppress(ImageNotFound):
            api.images.remove(tag, force=True)
    api.images.prune(filters={"dangling": True, "label": stages})


def skip_without_disk(api: Any, gigabytes: float, what: str) -> None:
    """Skip, saying so, when the engine's disk (its data root) has less free space than `what` needs at its
    peak: the check cannot run on this machine, and 'no space left on device' minutes into a build says
    nothing about ptkit. Peaks measured here with df every 10 s (the figures where this is called)."""
    import shutil

    import pytest

    root = api.info().get("DockerRootDir") or "/var/lib/docker"
    free = shutil.disk_usage(root).free / 1e9
    if free < gigabytes:
        pytest.skip(f"{what} needs about {gigabytes:.0f} GB free on the engine's disk ({root}); it has {free:.1f} GB")
