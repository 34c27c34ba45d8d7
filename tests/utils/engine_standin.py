"""An in-memory Docker engine shaped as the docker SDK's DockerClient, for the repro modules' in-process tests.

Why a stand-in: unit tests never start the engine (a build or an export of a CUDA image takes minutes and GBs);
the real engine runs `ptkit reproduce`, `diff --layers` and `fingerprint` in tests/docker/test_reproduce.py and
tests/docker/test_build.py. What this models, and where the shape comes from:
- images.get(unknown) raises docker.errors.ImageNotFound ("No such image: REF", the engine's 404 text); a tag
  without ":" means ":latest"; Image.tags/.labels/.attrs['RootFS']['Layers']/.history() as docker/models/images.py
  reads them (history newest first, as `docker history` lists it).
- api.get_image(id, chunk_size) streams the legacy `docker save` tar (engines before 25): one folder per layer
  (VERSION, json, layer.tar), the config, manifest.json and repositories, in name order (the engine tars a
  folder walk); a layer repeated in one image is a symlink to its first copy (moby image/tarexport/save.go).
  Layer ids are 'sha256:' + the sha256 of layer.tar, as RootFS lists them.
- containers.create(...).get_archive(path) returns (chunks, stat) with a tar of that path; a missing one raises
  docker.errors.NotFound. start()/wait()/logs() RUN THE ENTRYPOINT for real as a host process with the image's
  PATH (the host's python by default), so a module's source really runs; wait(timeout) past its time raises the
  requests ReadTimeout the SDK raises; remove() of a running container without force is the engine's 409.
- A build (another client of the same engine) drops {"id", "tags", ...} JSON files into `inbox`; the engine
  takes them in at its next images call, tags moved onto the new image as a build moves them.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

HOST_PATH = str(Path(sys.executable).parent)  # an image's python: the host's, unless the image says otherwise


def tar_bytes(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def file_info(name: str, mtime: int = 1, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime, info.mode = mtime, mode
    return info


def layer(files: dict[str, bytes], mtime: int = 1) -> bytes:
    """A layer tar of regular files (names relative, as the engine writes them)."""
    return tar_bytes([(file_info(name, mtime), data) for name, data in files.items()])


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Image:
    id: str
    tags: list[str]
    layers: list[bytes] = field(default_factory=list)
    config_labels: dict[str, str] | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)  # `docker history`: newest first
    files: dict[str, bytes] = field(default_factory=dict)  # the filesystem containers of it see
    path: str = HOST_PATH  # PATH of its containers

    @property
    def labels(self) -> dict[str, str]:
        return self.config_labels or {}  # the SDK's Image.labels: {} where the config has none

    @property
    def attrs(self) -> dict[str, Any]:
        return {"Id": self.id, "RepoTags": self.tags, "Config": {"Labels": self.config_labels},
                "RootFS": {"Type": "layers", "Layers": [digest(data) for data in self.layers]}}

    def history(self) -> list[dict[str, Any]]:
        return self.steps


class Engine:
    def __init__(self, inbox: Path | None = None, oci: bool = False) -> None:
        self.oci = oci  # export as engines 25 and later do (save_oci), else as before 25 (save)
        self.stored: dict[str, Image] = {}
        self.inbox, self.start_error = inbox, None
        self.made: list[Container] = []
        self.calls: list[tuple[Any, ...]] = []  # ("tag", ...), ("remove", ...), ("get_image", ...)
        self.built: list[dict[str, Any]] = []  # what builds dropped into the inbox
        self.images, self.containers, self.api = Images(self), Containers(self), LowLevel(self)

    def add(self, *tags: str, image_id: str | None = None, **parts: Any) -> Image:
        layers = parts.get("layers", [])
        made = Image(image_id or digest(json.dumps([tags, [digest(x) for x in layers]]).encode()), [], **parts)
        self.stored[made.id] = made
        for tag in tags:
            self.retag(made.id, tag)
        return made

    def retag(self, image_id: str, name: str) -> None:
        for other in self.stored.values():
            if name in other.tags:
                other.tags.remove(name)
        self.stored[image_id].tags.append(name)

    def find(self, ref: str) -> Image:
        self.take_in()
        name = ref if ":" in ref.rsplit("/", 1)[-1] else ref + ":latest"
        for image in self.stored.values():
            if ref == image.id or name in image.tags:
                return image
        from docker.errors import ImageNotFound  # here, as tests/utils/__init__.py asks of helpers

        raise ImageNotFound(f"No such image: {ref}")

    def take_in(self) -> None:
        for path in sorted(self.inbox.glob("*.json")) if self.inbox else []:
            build = json.loads(path.read_text())
            path.unlink()
            self.built.append(build)
            if build["id"] not in self.stored:
                self.stored[build["id"]] = Image(build["id"], [])
            for tag in build["tags"]:
                self.retag(build["id"], tag)


def snapshot(image: Image) -> Image:
    """The SDK's Image is what the engine said when asked: tagging later does not change its .tags."""
    return replace(image, tags=list(image.tags))


class Images:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, ref: str) -> Image:
        return snapshot(self.engine.find(ref))

    def list(self) -> list[Image]:
        self.engine.take_in()
        return [snapshot(image) for image in self.engine.stored.values()]

    def remove(self, image: str, force: bool = False) -> None:
        """By tag: untagged, and deleted with its last tag (`docker rmi`)."""
        found = self.engine.find(image)
        self.engine.calls.append(("remove", image))
        if image in found.tags:
            found.tags.remove(image)
        if not found.tags or image == found.id:
            del self.engine.stored[found.id]


class LowLevel:
    """The APIClient under DockerClient.api."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def tag(self, image: str, repository: str, tag: str | None = None) -> bool:
        self.engine.calls.append(("tag", image, repository, tag))
        self.engine.retag(self.engine.find(image).id, f"{repository}:{tag or 'latest'}")
        return True

    def get_image(self, image: str, chunk_size: int | None = 2 << 20) -> Iterator[bytes]:
        self.engine.calls.append(("get_image", image, chunk_size))
        data = (save_oci if self.engine.oci else save)(self.engine.find(image))
        step = chunk_size or len(data)
        return (data[i:i + step] for i in range(0, len(data), step))


def save_oci(image: Image) -> bytes:
    """`docker save` of engines 25 and later (moby#44598): an OCI layout, each layer an uncompressed blob named by
    its digest (a layer held twice is one blob), config and manifests as blobs too, manifest.json pointing at them."""
    config = json.dumps({"rootfs": image.attrs["RootFS"]}).encode()
    blobs = {digest(data): data for data in [*image.layers, config]}
    files = [(file_info("blobs/sha256/" + d.removeprefix("sha256:")), data) for d, data in sorted(blobs.items())]
    legacy = [{"Config": "blobs/sha256/" + digest(config)[7:], "RepoTags": image.tags,
               "Layers": ["blobs/sha256/" + digest(data)[7:] for data in image.layers]}]
    files += [(file_info("index.json"), b'{"schemaVersion": 2}'),
              (file_info("manifest.json"), json.dumps(legacy).encode()),
              (file_info("oci-layout"), b'{"imageLayoutVersion": "1.0.0"}')]
    return tar_bytes(files)


def save(image: Image) -> bytes:
    """The legacy `docker save` tar of one image."""
    config = json.dumps({"rootfs": image.attrs["RootFS"], "config": {"Labels": image.config_labels}}).encode()
    files: dict[str, tuple[tarfile.TarInfo, bytes | None]] = {}
    parent, first_path, paths = "", {}, []
    for data in image.layers:
        v1 = hashlib.sha256(f"{parent}\n{digest(data)}".encode()).hexdigest()  # the engine's v1 ids: a chain
        folder = tarfile.TarInfo(v1)
        folder.type, folder.mode = tarfile.DIRTYPE, 0o755
        files[v1] = (folder, None)
        files[f"{v1}/VERSION"] = (file_info(f"{v1}/VERSION"), b"1.0")
        files[f"{v1}/json"] = (file_info(f"{v1}/json"), json.dumps({"id": v1, "parent": parent}).encode())
        entry = file_info(f"{v1}/layer.tar")
        if digest(data) in first_path:  # a repeated layer: a link to its first copy
            entry.type, entry.linkname = tarfile.SYMTYPE, f"../{first_path[digest(data)]}"
        files[entry.name] = (entry, None if entry.issym() else data)
        first_path.setdefault(digest(data), entry.name)
        parent = v1
        paths.append(entry.name)
    name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = [{"Config": name, "RepoTags": image.tags, "Layers": paths}]
    files[name] = (file_info(name), config)
    files["manifest.json"] = (file_info("manifest.json"), json.dumps(manifest).encode())
    files["repositories"] = (file_info("repositories"), b"{}")
    return tar_bytes([files[key] for key in sorted(files)])


class Containers:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, image: str, command: Any = None, **options: Any) -> Container:
        made = Container(self.engine.find(image), options, self.engine.start_error)
        self.engine.made.append(made)
        return made


class Container:
    def __init__(self, image: Image, options: dict[str, Any], start_error: Exception | None) -> None:
        self.image, self.options, self.start_error = image, options, start_error
        self.id = hashlib.sha256(repr((image.id, options)).encode()).hexdigest()
        self.proc: subprocess.Popen[bytes] | None = None
        self.out = {"stdout": b"", "stderr": b""}
        self.removals: list[bool] = []  # the force= of each remove()

    def get_archive(self, path: str, chunk_size: int = 2 << 20) -> tuple[Iterator[bytes], dict[str, Any]]:
        files = self.image.files
        base = path.rstrip("/").rsplit("/", 1)[-1]
        if path in files:
            data = tar_bytes([(file_info(base), files[path])])
        elif under := {name: data for name, data in files.items() if name.startswith(path.rstrip("/") + "/")}:
            folder = tarfile.TarInfo(base)
            folder.type = tarfile.DIRTYPE
            inner = [(file_info(base + name[len(path.rstrip("/")):]), data) for name, data in sorted(under.items())]
            data = tar_bytes([(folder, None), *inner])
        else:
            from docker.errors import NotFound

            raise NotFound(f"Could not find the file {path} in container {self.id}")
        chunks = (data[i:i + 100] for i in range(0, len(data), 100))  # small chunks: the reader must join them
        return chunks, {"name": base, "size": len(data)}

    def start(self) -> None:
        if self.start_error is not None:
            raise self.start_error
        argv = self.options["entrypoint"]
        self.proc = subprocess.Popen([shutil.which(argv[0]) or argv[0], *argv[1:]], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env={"PATH": self.image.path})

    def wait(self, timeout: float | None = None) -> dict[str, Any]:
        assert self.proc is not None, "wait() on a container never started"
        try:
            self.out["stdout"], self.out["stderr"] = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            from requests.exceptions import ReadTimeout  # what the SDK's HTTP call raises

            raise ReadTimeout(f"UnixHTTPConnectionPool(host='localhost', port=None): Read timed out. "
                              f"(read timeout={timeout})") from None
        return {"Error": None, "StatusCode": self.proc.returncode}

    def logs(self, stdout: bool = True, stderr: bool = True) -> bytes:
        return (self.out["stdout"] if stdout else b"") + (self.out["stderr"] if stderr else b"")

    def remove(self, force: bool = False) -> None:
        self.removals.append(force)
        if self.proc is not None and self.proc.poll() is None:
            if not force:
                from docker.errors import APIError

                raise APIError(f"You cannot remove a running container {self.id}. Stop the container before "
                               "attempting removal or force remove")
            self.proc.kill()
            self.proc.communicate()
