"""Step 3: build images through the Docker SDK for Python (live progress, log tail on failure,
Ctrl-C cancels) and push them. What an offline build takes in comes from `wheels` and `base`.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from . import docker_api, toolchain
from .context import PACKAGE_DIR, Context, build_context
from .docker_api import split_ref
from .errors import Interrupted, PtkitError
from .inputs import BuildInputs
from .platforms import DEFAULT_PLATFORM, Platform
from .progress import Progress
from .render import BuildPlan

DOCKER_DIR = PACKAGE_DIR / "data" / "docker"  # the repository's docker/, shipped as package data
IN_BUILD_SCRIPTS = ("check_install.py", "slim.py", "manifest.py")


# --- build -----------------------------------------------------------------------------------

def engine_options(plan: BuildPlan) -> dict[str, str]:
    """What the engine's build of a plan takes besides its context, args and tag: the Dockerfile target (the
    flavor), and the image's platform only where it is not the default, so a default build asks exactly what it
    always did. docker-py's APIClient.build(platform='os[/arch[/variant]]'), engine API 1.32 or later:
    https://github.com/docker/docker-py/pull/1856"""
    platform = plan.image.platform
    return {"target": plan.flavor, **({} if platform == DEFAULT_PLATFORM else {"platform": platform.name})}


def run_build(api: Any, context: Context, *, buildargs: dict[str, str], tags: list[str], title: str,
              inputs: BuildInputs, engine: dict[str, str] | None = None) -> str:
    """Build, stream progress, tag; return the image id. Failure: the log's last lines, exit 1.
    The inputs were checked once, before any build (pipeline.preflight). `engine`: engine_options'."""
    with build_context(context, inputs) as tar, Progress(title) as progress:
        stream = api.api.build(
            fileobj=tar, custom_context=True, buildargs=buildargs, tag=tags[0], **(engine or {}),
            rm=True, forcerm=True, nocache=inputs.no_cache, pull=False, decode=True,
        )
        try:
            image_id = _consume(stream, progress)
        except KeyboardInterrupt:
            # Closing the stream cancels the build; forcerm removes its intermediate container.
            _close(stream)
            raise Interrupted("build interrupted; the daemon cancelled it and removed its containers") from None
        seconds = progress.done()
    for ref in tags[1:]:
        repo, tag = split_ref(ref)
        api.api.tag(image_id, repo, tag)
    print(f"built {image_id[:19]} in {seconds:.1f} s: {', '.join(tags)}", file=sys.stderr)
    return image_id


def _close(stream: Any) -> None:
    with contextlib.suppress(Exception):  # best effort: the connection may already be gone
        stream.close()


def _consume(stream: Iterable[dict[str, Any]], progress: Progress) -> str:
    image_id = None
    for chunk in stream:
        if "stream" in chunk:
            progress.line(chunk["stream"])
        if error := docker_api.stream_error(chunk):
            raise PtkitError(progress.failure(error))
        if "aux" in chunk and "ID" in chunk["aux"]:
            image_id = chunk["aux"]["ID"]
    if image_id is None:
        raise PtkitError("image build ended without an image id (daemon stream cut short)")
    return image_id


@dataclass(frozen=True)
class Sources:
    """What the build reads from files, read once and checked before any build (pipeline.preflight)."""

    matrix_text: bytes  # the image's ptkit gets the matrix it was built from
    lock: bytes = b""  # --lock's bytes, its pins agreeing with the matrix
    # flavor: (COMPILER, compiler.lock) where a compiler lock was checked; otherwise toolchain decides (reads nothing)
    compilers: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    wheels: frozenset[tuple[str, str]] | None = None  # the wheelhouse files the build installs (context.locked_wheels)


def check_base_platform(base: Any, ref: str, platform: Platform) -> None:
    """Another platform's build FROM a base of another architecture is refused in one line: the engine would try
    to pull the platform's base (no registry answers here) or build on the wrong machine. The default platform's
    build asks nothing new."""
    arch = (base.attrs or {}).get("Architecture")
    if platform != DEFAULT_PLATFORM and arch and arch != platform.arch:
        raise PtkitError(f"the base image {ref} is {arch}, the build is for {platform.name}: make one with "
                         f"`ptkit base --platform {platform.name}` and pass --base-image with the tag it prints")


def build_variant(api: Any, plan: BuildPlan, inputs: BuildInputs, sources: Sources,
                  tags: list[str] | None = None) -> str:
    """One flavor of a variant's image from docker/Dockerfile, tagged as the plan's image says (or `tags`)."""
    from .provenance import provenance_json

    base = docker_api.ensure_image(api, plan.image.base, "make a local base with `ptkit base` and pass "
                                   "--base-image with the tag it prints")
    check_base_platform(base, plan.image.base, plan.image.platform)
    compiler, compiler_lock = sources.compilers.get(plan.flavor) or toolchain.build_files(plan.variant, plan.flavor,
                                                                                          inputs.lock)
    files = {
        "provenance.json": provenance_json(plan, base.id, inputs.lock),
        "requirements.txt": ("\n".join(plan.requirements) + "\n").encode(),
        "expected.json": plan.expected_json().encode(),
        **{name: (DOCKER_DIR / name).read_bytes() for name in IN_BUILD_SCRIPTS},
        "requirements.lock": sources.lock,
        "compiler.lock": compiler_lock,
    }
    return run_build(
        api, Context(DOCKER_DIR / "Dockerfile", files, sources.matrix_text, sources.wheels),
        buildargs={**plan.build_args(), "COMPILER": compiler}, tags=tags or plan.image.tags,
        title=f"building {plan.variant.name} {plan.flavor} ({plan.variant.torch})", inputs=inputs,
        engine=engine_options(plan),
    )


def build_team(api: Any, parent: str, inputs: BuildInputs, tags: list[str]) -> str:
    """A team image FROM a ptkit image: its packages in a layer of their own, torch untouched.

    It takes the same inputs as the variant build: the wheelhouse (air-gapped hosts), the CA bundle,
    and its own index (`team_index_url`), never the variant's torch index.
    """
    requirements_file = inputs.team_requirements
    if requirements_file is None:
        raise PtkitError("a team image needs --extra-requirements FILE")
    parent_id = docker_api.ensure_image(api, parent, "build it first (`ptkit build VARIANT`)").id
    buildargs = {"PARENT": parent, "PARENT_DIGEST": parent_id, "INDEX_URL": inputs.team_index_url}
    files = {"requirements.txt": requirements_file.read_bytes()}
    return run_build(
        api, Context(DOCKER_DIR / "Dockerfile.team", files), buildargs=buildargs, tags=tags,
        title=f"building team image on {parent}", inputs=inputs,
    )


# --- push ------------------------------------------------------------------------------------

def push(api: Any, refs: list[str]) -> dict[str, str]:
    """Push each tag; return {tag: digest}. A refused push is one line, exit 1."""
    digests: dict[str, str] = {}
    for ref in refs:
        repo, tag = split_ref(ref)
        try:
            for chunk in api.api.push(repo, tag=tag, stream=True, decode=True):
                if error := docker_api.stream_error(chunk):
                    raise PtkitError(f"push of {ref} refused: {error}")
                if digest := (chunk.get("aux") or {}).get("Digest"):
                    digests[ref] = digest
        except PtkitError:
            raise
        except Exception as exc:  # noqa: BLE001 - requests/urllib3 errors from a dead registry
            raise PtkitError(f"push of {ref} failed: {docker_api.short(exc)}") from None
        if ref not in digests:
            raise PtkitError(f"push of {ref} ended without a digest from the registry")
        print(f"pushed {ref}@{digests[ref]}", file=sys.stderr)
    return digests
