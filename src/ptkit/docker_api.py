"""The Docker SDK connection, with the daemon's failures turned into one-line errors."""

from __future__ import annotations

from typing import Any

from .errors import PtkitError

NO_DAEMON = (
    "no Docker daemon answers at {where}: start one (`dockerd &`, `systemctl start docker`, "
    "or `bash scripts/host-setup.sh`, which installs and starts Debian's docker.io)"
)


def client(timeout: int = 900) -> Any:
    try:
        import docker
        from docker.errors import DockerException
    except ImportError:
        raise PtkitError("the Docker SDK for Python is missing: pip install 'ptkit[host]'") from None
    try:
        api = docker.from_env(timeout=timeout)
        api.ping()
    except DockerException as exc:
        import os

        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise PtkitError(NO_DAEMON.format(where=where) + f" ({_short(exc)})") from None
    return api


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) < 160 else text[:157] + "..."


def has_nvidia_runtime(api: Any) -> bool:
    """Whether containers on this host can be given GPUs (NVIDIA container toolkit installed)."""
    info = api.info()
    return "nvidia" in (info.get("Runtimes") or {}) or any(
        "nvidia" in str(v).lower() for v in (info.get("CDISpecDirs") or [])
    )


def ensure_image(api: Any, ref: str, hint: str) -> Any:
    """The local image, pulled once if missing; a one-line error with `hint` when neither works."""
    from docker.errors import APIError, ImageNotFound

    try:
        return api.images.get(ref)
    except ImageNotFound:
        pass
    from .render import split_ref

    repo, tag = (ref, None) if "@" in ref else split_ref(ref)
    try:
        return api.images.pull(repo, tag=tag)
    except APIError as exc:
        raise PtkitError(f"image {ref} is not here and cannot be pulled ({_short(exc)}); {hint}") from None


def stream_error(chunk: dict[str, Any]) -> str | None:
    """The error in one chunk of a build/push/pull stream, if it is one."""
    if "error" in chunk:
        return " ".join(str(chunk["error"]).split())
    detail = chunk.get("errorDetail")
    if detail:
        return " ".join(str(detail.get("message", detail)).split())
    return None
