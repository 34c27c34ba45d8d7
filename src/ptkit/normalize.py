"""Step 3b: the built image made bit-for-bit reproducible, through the engine's own export and load.

Two `--no-cache` builds of one commit, inputs and lock give the same files (the fingerprint says so) but not
the same image: the classic builder writes build-time mtimes into every layer and the build's time into the
config (docs/evidence/figures/reproducibility.txt). Debian 12's engine embeds BuildKit 0.8: no
SOURCE_DATE_EPOCH handling, no `rewrite-timestamp` (0.13); buildah's `--timestamp` would leave the Docker SDK
path, which stays the default. So the pipeline normalizes what the SDK built:

    docker save  ->  each layer's mtimes clamped to SOURCE_DATE_EPOCH (layers.py, in the stream)
                 ->  the config's times set to the commit's, the build host's fields dropped
                 ->  docker load, the build's tags moved to the result

The base image's layers keep their ids: the engine holds them already and does not read them again. The image
the build made stays in the engine, untagged, as the layer cache of the next build.

What it costs (benchmarks/reproducibility.py, docs/evidence/figures/): the engine's export writes the whole image
to its temporary folder before it streams, and its load unpacks the whole stream to another before it makes the
layers; with the normalized layers themselves, a CUDA row's two flavors peaked 12 GB higher than without.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from . import docker_api, layers
from .docker_api import ChunkStream, split_ref
from .errors import PtkitError
from .images import Provenance
from .layers import BLOCK

CHUNK = 1 << 20
BUILD_HOST_FIELDS = ("container", "container_config")  # the build's intermediate container: another every build


@dataclass(frozen=True)
class Epoch:
    """The times a normalized image carries: file times clamped to `source` (SOURCE_DATE_EPOCH), `created`
    (the image's and each of its own history steps')."""

    source: int
    created: str  # RFC 3339, as the engine writes it

    @classmethod
    def of(cls, prov: Provenance) -> Epoch:
        """The image's: its SOURCE_DATE_EPOCH (HEAD's commit time) and `created` (the commit's, or the build's
        for an uncommitted tree, whose image is not meant to be reproduced)."""
        return cls(int(prov.source_time.timestamp()), prov.created.strftime("%Y-%m-%dT%H:%M:%SZ"))


@dataclass
class Export:
    """What the export stream found, filled in as it is read."""

    config: dict[str, Any] = field(default_factory=dict)
    layers: list[str] = field(default_factory=list)  # layer paths in manifest.json's order
    digests: dict[str, tuple[str, str]] = field(default_factory=dict)  # path: (as built, clamped) sha256


def _member(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mode = size, 0o644
    return info.tobuf(tarfile.USTAR_FORMAT)


def _padding(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)


def rewrite(stream: io.BufferedReader, epoch: int, found: Export) -> Iterator[bytes]:
    """The layer members of a `docker save` stream with their times clamped (an archive for `docker load`,
    without its config and manifest: `finish` adds them); config and layer order recorded in `found`."""
    while (header := layers.read_exact(stream, BLOCK)).strip(b"\0"):
        info = tarfile.TarInfo.frombuf(header, "utf-8", "surrogateescape")
        if info.name.endswith("/layer.tar"):
            built, clamped = hashlib.sha256(), hashlib.sha256()
            yield _member(info.name, info.size)
            for before, after in layers.clamp(stream, info.size, epoch):
                built.update(before)
                clamped.update(after)
                yield after
            found.digests[info.name] = ("sha256:" + built.hexdigest(), "sha256:" + clamped.hexdigest())
        else:
            data = layers.read_exact(stream, info.size)
            if info.name == "manifest.json":
                found.layers = json.loads(data)[0]["Layers"]
            elif "/" not in info.name and info.name.endswith(".json"):
                found.config = json.loads(data)
        layers.read_exact(stream, -info.size % BLOCK)
        if info.name.endswith("/layer.tar"):
            yield _padding(info.size)


def config_bytes(config: dict[str, Any], diff_ids: list[str], epoch: Epoch, kept_history: int) -> bytes:
    """The normalized config: the image's and its own steps' `created` the commit's time, no build container,
    no parent image id (a parent built in another run has another), the layers' new ids."""
    out = {key: value for key, value in config.items() if key not in BUILD_HOST_FIELDS}
    out["created"] = epoch.created
    if isinstance(out.get("config"), dict):
        out["config"] = {**out["config"], "Image": ""}
    history = out.get("history") or []
    out["history"] = history[:kept_history] + [{**step, "created": epoch.created} for step in history[kept_history:]]
    out["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
    return json.dumps(out, separators=(",", ":")).encode()


def diff_ids(found: Export, below: list[str]) -> tuple[list[str], bool]:
    """Each layer's id in the normalized image: the layers of the image below (its base) as they are, the
    image's own as clamped; and whether the image starts with the layers below (else all are clamped)."""
    ids = [found.digests[path] for path in found.layers]
    kept = len(below) if [built for built, _ in ids[:len(below)]] == below else 0
    return [built for built, _ in ids[:kept]] + [clamped for _, clamped in ids[kept:]], kept > 0


def finish(found: Export, epoch: Epoch, below: tuple[list[str], int]) -> tuple[bytes, str]:
    """The archive's config and manifest members and its end; and the normalized image's id."""
    base_layers, base_history = below
    ids, kept = diff_ids(found, base_layers)
    config = config_bytes(found.config, ids, epoch, base_history if kept else 0)
    image_id = "sha256:" + hashlib.sha256(config).hexdigest()
    name = image_id.removeprefix("sha256:") + ".json"
    manifest = json.dumps([{"Config": name, "RepoTags": None, "Layers": found.layers}]).encode()
    tail = _member(name, len(config)) + config + _padding(len(config))
    tail += _member("manifest.json", len(manifest)) + manifest + _padding(len(manifest))
    return tail + b"\0" * (2 * BLOCK), image_id


def below_of(api: Any, ref: str) -> tuple[list[str], int]:
    """The layer ids and history length of the image a build started FROM."""
    image = api.images.get(ref)
    return list(image.attrs["RootFS"].get("Layers") or []), len(image.history())


def normalize(api: Any, image_id: str, epoch: Epoch, below: str) -> str:
    """The built image normalized and loaded, its tags moved onto the result; returns its id."""
    start = time.monotonic()
    tags = api.images.get(image_id).tags
    found, result = Export(), {}

    def archive() -> Iterator[bytes]:
        stream = io.BufferedReader(ChunkStream(api.api.get_image(image_id, chunk_size=CHUNK)), CHUNK)
        yield from rewrite(stream, epoch.source, found)
        tail, result["id"] = finish(found, epoch, below_of(api, below))
        yield tail

    for chunk in api.api.load_image(archive()):
        if error := docker_api.stream_error(chunk):
            raise PtkitError(f"loading the normalized image failed: {error}")
    new_id = result.get("id", "")
    try:
        api.images.get(new_id)
    except Exception:  # noqa: BLE001 - ImageNotFound, or no id at all: either way the load did not happen
        raise PtkitError(f"the engine did not load the normalized image of {image_id[:19]}") from None
    for ref in tags:
        api.api.tag(new_id, *split_ref(ref))
    print(f"normalized {image_id[:19]} -> {new_id[:19]} in {time.monotonic() - start:.1f} s (times clamped to "
          f"SOURCE_DATE_EPOCH={epoch.source}): {', '.join(tags)}", file=sys.stderr)
    return new_id
