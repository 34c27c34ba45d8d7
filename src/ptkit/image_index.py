"""Step 4b, after push: one tag for several platforms, as an image index (Docker's manifest list) in the registry.

`ptkit build VARIANT --platform P --push --tag REF-P` pushes one platform's images; `ptkit index REF IMAGE...` then
makes REF resolve to each IMAGE on its own platform: an engine pulls its machine's image, `ptkit verify --image REF
--platform P` any other. The registry's word is taken for each image (its manifest digest and platform, asked
through the engine), the list names those digests (a tag moved meanwhile cannot slip another image in), and the
Docker CLI's own `docker manifest` writes and pushes it: Debian's docker.io 20.10 has it, and there is no buildx
here (issue 21).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

from .docker_api import short, split_ref
from .errors import PtkitError, UsageError
from .images import VARIANT_LABEL

LIST_TYPES = ("manifest.list", "image.index")  # media types of an index: Docker's list and OCI's index
LOCAL_REGISTRIES = ("localhost", "127.0.0.1", "[::1]")  # plain HTTP, as the engine itself allows them
CLI_TIMEOUT = 600


@dataclass(frozen=True)
class Entry:
    """One image of the index: its reference as given, its manifest's digest and its platform (os/arch)."""

    ref: str
    digest: str
    platform: str

    @property
    def pinned(self) -> str:
        """The image by digest in its repository: what the list names."""
        return f"{repository(self.ref)}@{self.digest}"


def repository(ref: str) -> str:
    """'host:5000/team/pytorch:cpu' or '...@sha256:...' -> 'host:5000/team/pytorch'."""
    return ref.partition("@")[0] if "@" in ref else split_ref(ref)[0]


def entry(api: Any, ref: str) -> Entry:
    """The registry's manifest of one pushed image; one line when it has none or is an index itself."""
    from docker.errors import APIError

    try:
        found = api.api.inspect_distribution(ref)
    except APIError as exc:
        raise PtkitError(f"{ref}: the registry gives no manifest for it ({short(exc.explanation or exc)}): push it "
                         f"first (`ptkit build VARIANT --platform P --push --tag {ref}`)") from None
    descriptor, platforms = found.get("Descriptor") or {}, found.get("Platforms") or []
    if any(kind in descriptor.get("mediaType", "") for kind in LIST_TYPES) or len(platforms) != 1:
        raise UsageError(f"{ref} is an image index already ({len(platforms)} platforms): name one image per platform")
    p = platforms[0]
    return Entry(ref, descriptor["digest"], f"{p.get('os')}/{p.get('architecture')}")


def entries(api: Any, refs: list[str]) -> list[Entry]:
    """Each image's entry; refused in one line: one platform named twice, or ptkit images of different rows."""
    found = [entry(api, ref) for ref in refs]
    for i, e in enumerate(found):
        if twin := next((o for o in found[:i] if o.platform == e.platform), None):
            raise UsageError(f"{twin.ref} and {e.ref} are both {e.platform}: an index holds one image per platform")
    rows = {r for r in (_local_variant(api, e) for e in found) if r}
    if len(rows) > 1:
        raise UsageError(f"the images are of different matrix rows ({', '.join(sorted(rows))}): one tag is one row")
    return found


def _local_variant(api: Any, e: Entry) -> str:
    """The image's ptkit.variant label where the engine holds that very image ('' otherwise: not checked)."""
    from docker.errors import APIError, ImageNotFound

    try:
        image = api.images.get(e.pinned)
    except (ImageNotFound, APIError):
        return ""
    return (image.labels or {}).get(VARIANT_LABEL, "")


def loopback(ref: str) -> bool:
    """Whether REF's registry is on this machine: spoken to in plain HTTP, as the engine allows without asking."""
    host = _registry(ref)
    return host.rpartition(":")[0] in LOCAL_REGISTRIES or host in LOCAL_REGISTRIES


def push_index(ref: str, images: list[Entry], plain_http: bool) -> str:
    """Write REF's list of `images` and push it; returns its digest. The CLI's local copy is removed either way."""
    docker = shutil.which("docker")
    if docker is None:
        raise PtkitError("the Docker CLI (`docker`) is not installed: scripts/host-setup.sh installs docker.io")
    flags = ["--insecure"] if plain_http else []
    _cli(docker, "manifest", "rm", ref, check=False)  # a list an interrupted run left would be amended, not replaced
    try:
        _cli(docker, "manifest", "create", *flags, ref, *(e.pinned for e in images))
        out = _cli(docker, "manifest", "push", "--purge", *flags, ref)
    finally:
        _cli(docker, "manifest", "rm", ref, check=False)
    digest = out.strip().splitlines()[-1] if out.strip() else ""
    if not digest.startswith("sha256:"):
        raise PtkitError(f"docker manifest push {ref} printed no digest ({short(out) or 'nothing'})")
    return digest


def _cli(*argv: str, check: bool = True) -> str:
    """The Docker CLI's stdout; its last stderr line as the one-line error."""
    env = {**os.environ, "DOCKER_CLI_EXPERIMENTAL": "enabled"}  # 19.03 needs it; 20.10 has `manifest` on anyway
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=CLI_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise PtkitError(f"`{' '.join(argv[1:3])}` did not finish in {CLI_TIMEOUT} s (the registry hangs?)") from None
    if check and proc.returncode != 0:
        why = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        raise PtkitError(f"`{' '.join(argv[1:3])}` failed: {short(why, 300)}")
    return proc.stdout


def listed(ref: str, plain_http: bool) -> dict[str, str]:
    """{platform: digest} of REF's index as the registry now serves it (the CLI reads it back)."""
    import json

    docker = shutil.which("docker") or "docker"
    data = json.loads(_cli(docker, "manifest", "inspect", *(["--insecure"] if plain_http else []), ref))
    return {f"{m['platform']['os']}/{m['platform']['architecture']}": m["digest"] for m in data.get("manifests", [])}


@dataclass(frozen=True)
class Index:
    ref: str
    digest: str
    platforms: dict[str, str]  # platform: the digest of its image


def publish(ref: str, images: list[Entry], plain_http: bool) -> Index:
    """Push REF's index of `images` and read it back: what the registry serves must be what was asked."""
    if other := next((e for e in images if _registry(e.ref) != _registry(ref)), None):
        raise UsageError(f"{other.ref} is not in {ref}'s registry ({_registry(ref)}): push it there first")
    digest = push_index(ref, images, plain_http)
    served, asked = listed(f"{repository(ref)}@{digest}", plain_http), {e.platform: e.digest for e in images}
    if served != asked:
        raise PtkitError(f"the registry serves {ref}@{digest} as {served}, not the images asked ({asked})")
    return Index(ref, digest, served)


def _registry(ref: str) -> str:
    return repository(ref).split("/")[0]
