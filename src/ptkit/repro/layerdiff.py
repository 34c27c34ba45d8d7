"""Where two images first differ, layer by layer and file by file: `ptkit diff --layers` and `ptkit reproduce`.

Both images are read through the engine's export as a stream (no copy on disk: a CUDA image is 6 GB), each
layer's entries listed with their type, mode, owner, link, mtime and content digest. Two layers with one id
are one content, so only the first pair whose ids differ is listed.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from dataclasses import dataclass
from typing import IO, Any, cast

from ..docker_api import ChunkStream
from ..errors import PtkitError

CHUNK = 1 << 20
Entry = tuple[str, int, int, int, str, int, str]  # type, mode, uid, gid, link, mtime, content sha256
FIELDS = ("type", "mode", "uid", "gid", "link", "mtime", "content")


class Hashing(io.RawIOBase):
    """A reader that hashes what passes through it (a layer's id is the digest of its tar)."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner, self.sha = inner, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.inner.read(len(buffer))
        self.sha.update(data)
        buffer[:len(data)] = data
        return len(data)


def entries(layer: IO[bytes]) -> dict[str, Entry]:
    """Each entry of a layer tar read as a stream: {path: Entry}."""
    out = {}
    with tarfile.open(fileobj=layer, mode="r|") as tar:
        for member in tar:
            digest = ""
            if member.isfile() and (handle := tar.extractfile(member)) is not None:
                sha = hashlib.sha256()
                for block in iter(lambda: handle.read(CHUNK), b""):
                    sha.update(block)
                digest = sha.hexdigest()
            out[member.name] = (member.type.decode(), member.mode, member.uid, member.gid, member.linkname,
                                member.mtime, digest)
    return out


def layer_entries(api: Any, ref: str, wanted: str) -> dict[str, Entry]:
    """The entries of the layer whose id is `wanted` in the image `ref` (every layer is read to find it).

    Engines before 25 export a folder per layer holding layer.tar; 25 and later the OCI layout, where a layer is
    the uncompressed blob named by its id (moby#44598). A layer the legacy export holds twice is a symlink to its
    first copy (moby's tarexport), which a stream cannot open: the first copy is read where it stands."""
    image_id = api.images.get(ref).id
    blob = "blobs/sha256/" + wanted.removeprefix("sha256:")
    stream = io.BufferedReader(ChunkStream(api.api.get_image(image_id, chunk_size=CHUNK)), CHUNK)
    with tarfile.open(fileobj=stream, mode="r|") as outer:
        for member in outer:
            if not (member.isfile() and (member.name.endswith("/layer.tar") or member.name == blob)):
                continue
            hashing = Hashing(cast(IO[bytes], outer.extractfile(member)))  # a regular file: never None
            found = entries(io.BufferedReader(hashing, CHUNK))
            hashing.read()  # the tar's end blocks: part of its digest
            if "sha256:" + hashing.sha.hexdigest() == wanted:
                return found
    # e.g. the containerd image store's export, whose blobs are compressed and named by another digest
    raise PtkitError(f"layer {wanted[:19]}… of {ref} is not in the engine's export as an uncompressed tar: a "
                     "save format ptkit does not read (it reads the export of the engine's own image store, not "
                     "containerd's)")


@dataclass(frozen=True)
class Difference:
    index: int  # the first layer (from the bottom) whose ids differ
    step: str  # the build step that made it, from the image's history
    paths: list[tuple[str, str]]  # (path, what differs), in path order


def differing(a: dict[str, Entry], b: dict[str, Entry], names: tuple[str, str]) -> list[tuple[str, str]]:
    """(path, what differs) for each path of either layer: `only in NAME`, or the fields that differ."""
    out = []
    for path in sorted(set(a) | set(b)):
        if path not in b or path not in a:
            out.append((path, f"only in {names[0] if path in a else names[1]}"))
        elif a[path] != b[path]:
            out.append((path, ", ".join(f for f, x, y in zip(FIELDS, a[path], b[path], strict=True) if x != y)))
    return out


def steps(image: Any) -> list[str]:
    """The build step of each layer, bottom first (history entries that made a layer)."""
    history = [h for h in image.history()[::-1] if h.get("Size", 0) or "#(nop)" not in h.get("CreatedBy", "")]
    return [" ".join(h.get("CreatedBy", "").split())[:100] for h in history]


def first_difference(api: Any, a: str, b: str, names: tuple[str, str]) -> Difference | None:
    """None when the images `a` and `b` (ids; `names` the user's words for them) have the same layers; else
    the first pair of layers that differs, file by file."""
    ia, ib = api.images.get(a), api.images.get(b)
    la, lb = ia.attrs["RootFS"].get("Layers") or [], ib.attrs["RootFS"].get("Layers") or []
    index = next((i for i, (x, y) in enumerate(zip(la, lb, strict=False)) if x != y), min(len(la), len(lb)))
    if index == len(la) == len(lb):
        return None
    ea = layer_entries(api, a, la[index]) if index < len(la) else {}
    eb = layer_entries(api, b, lb[index]) if index < len(lb) else {}
    made = steps(ia if index < len(la) else ib)
    return Difference(index, made[index] if index < len(made) else "?", differing(ea, eb, names))


def render(diff: Difference | None, names: tuple[str, str], limit: int = 20) -> list[str]:
    if diff is None:
        return [f"layers: {names[0]} and {names[1]} have the same layers"]
    lines = [f"layers: first difference at layer {diff.index} ({diff.step}): {len(diff.paths)} path(s)"]
    lines += [f"  {path}: {what}" for path, what in diff.paths[:limit]]
    return lines + ([f"  ... and {len(diff.paths) - limit} more"] if len(diff.paths) > limit else [])
