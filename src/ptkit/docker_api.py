"""The Docker SDK connection and Docker references, with the daemon's failures turned into one-line errors."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import Any

from .errors import PtkitError

NO_DAEMON = (
    "no Docker daemon answers at {where}: start one (`dockerd &`, `systemctl start docker`, "
    "or `bash scripts/host-setup.sh`, which installs and starts Debian's docker.io)"
)
NO_PERMISSION = (
    "permission denied on the Docker socket {where}: run as root or join the `docker` group "
    "(`usermod -aG docker $USER`, then log in again)"
)


def client(timeout: int = 900) -> Any:
    try:
        import docker
        from docker.errors import DockerException
    except ImportError:
        raise PtkitError("the Docker SDK for Python is missing: pip install 'ptkit[host]'") from None
    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        api = docker.from_env(timeout=timeout)
        api.ping()
    except DockerException as exc:
        if "PermissionError" in str(exc) or "Permission denied" in str(exc):
            raise PtkitError(NO_PERMISSION.format(where=where)) from None
        raise PtkitError(NO_DAEMON.format(where=where) + f" ({short(exc)})") from None
    return api


def short(exc: BaseException | str, limit: int = 160) -> str:
    """One line, cut to `limit` characters: for causes quoted inside a longer message."""
    text = " ".join(str(exc).split())
    return text if len(text) < limit else text[: limit - 3] + "..."


def split_ref(ref: str) -> tuple[str, str]:
    """'localhost:5000/team/pytorch:cpu' -> ('localhost:5000/team/pytorch', 'cpu')."""
    repo, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        return ref, "latest"
    return repo, tag


def has_nvidia_runtime(api: Any) -> bool:
    """Whether containers on this host can be given GPUs (NVIDIA container toolkit installed)."""
    info = api.info()
    return "nvidia" in (info.get("Runtimes") or {}) or any(
        "nvidia" in str(v).lower() for v in (info.get("CDISpecDirs") or [])
    )


def ensure_image(api: Any, ref: str, hint: str, platform: str | None = None) -> Any:
    """The local image, pulled once if missing; a one-line error with `hint` when neither works. With
    `platform` (a Docker platform name, platforms.Platform.name), that platform's image: the local one when it
    is of that architecture, else pulled for it (a multi-platform tag's image index names one per platform)."""
    from docker.errors import APIError, ImageNotFound

    try:
        image = api.images.get(ref)
        if platform is None or image.attrs.get("Architecture") == platform.split("/")[1]:
            return image
    except ImageNotFound:
        pass
    except APIError as exc:  # e.g. 400 for a reference the engine cannot parse
        raise PtkitError(f"image {ref}: {short(exc.explanation or exc)}") from None
    repo, tag = (ref, None) if "@" in ref else split_ref(ref)
    try:
        image = api.images.pull(repo, tag=tag, **({"platform": platform} if platform else {}))
    except APIError as exc:
        raise PtkitError(f"image {ref} is not here and cannot be pulled ({short(exc)}); {hint}") from None
    if platform and image.attrs.get("Architecture") != platform.split("/")[1]:
        raise PtkitError(f"image {ref} has no {platform} image (the registry gave {image.attrs.get('Architecture')})")
    return image


def platform_of(attrs: dict[str, Any]) -> str | None:
    """An image's platform as the engine records it ('linux/' and its architecture), None where it says nothing."""
    os_name, arch = attrs.get("Os"), attrs.get("Architecture")
    return f"{os_name}/{arch}" if os_name and arch else None


def stream_error(chunk: dict[str, Any]) -> str | None:
    """The error in one chunk of a build/push/pull stream, if it is one."""
    if "error" in chunk:
        return " ".join(str(chunk["error"]).split())
    detail = chunk.get("errorDetail")
    if detail:
        return " ".join(str(detail.get("message", detail)).split())
    return None


class ChunkStream(io.RawIOBase):
    """A read-only stream over an iterator of byte chunks (the engine's export stream)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks, self.pending = chunks, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self.pending:
            self.pending = next(self.chunks, b"")
            if not self.pending:
                return 0
        n = min(len(buffer), len(self.pending))
        buffer[:n], self.pending = self.pending[:n], self.pending[n:]
        return n
