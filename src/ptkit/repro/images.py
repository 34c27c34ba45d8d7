"""Reading an image through the Docker SDK: a file out of it (no container started), and a standard-library
Python module run in it (no network, nothing written: `python -B`). Failures are one-line PtkitErrors.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

from ..docker_api import short
from ..errors import PtkitError
from ..images import MANIFEST_LABEL, MANIFEST_PATH

# The image's own Python: a ptkit image's venv is first on PATH; any other image's python3 otherwise.
PYTHON = "command -v python >/dev/null && exec python -B -c \"$0\" \"$@\" || exec python3 -B -c \"$0\" \"$@\""


def image(api: Any, ref: str) -> Any:
    from docker.errors import ImageNotFound

    try:
        return api.images.get(ref)
    except ImageNotFound:
        raise PtkitError(f"no image {ref} here (build or pull it first)") from None


def read_file(api: Any, ref: str, path: str) -> bytes | None:
    """The bytes of `path` in the image, None when it has no such file."""
    from docker.errors import NotFound

    container = api.containers.create(image(api, ref).id, entrypoint=["true"], network_disabled=True)
    try:
        stream, _ = container.get_archive(path)
        archive = io.BytesIO(b"".join(stream))
    except NotFound:
        return None
    finally:
        container.remove(force=True)
    with tarfile.open(fileobj=archive) as tar:
        member = tar.next()
        handle = tar.extractfile(member) if member is not None else None
        return handle.read() if handle is not None else None


def run_module(api: Any, ref: str, module: Path, args: list[str], timeout: int = 600) -> str:
    """Run a self-contained module's source in a throwaway container of the image; its stdout."""
    container = api.containers.create(
        image(api, ref).id, entrypoint=["sh", "-c", PYTHON, module.read_text(), *args],
        network_disabled=True, user="0",
    )
    try:
        container.start()
        status = container.wait(timeout=timeout)
        out = container.logs(stdout=True, stderr=False).decode()
        err = container.logs(stdout=False, stderr=True).decode().strip().splitlines()
    except Exception as exc:  # noqa: BLE001 - requests timeouts and daemon errors alike
        raise PtkitError(f"running {module.name} in {ref} failed: {short(exc)}") from None
    finally:
        container.remove(force=True)
    if status.get("StatusCode") != 0:
        raise PtkitError(f"{module.name} in {ref} exited {status.get('StatusCode')}: "
                         f"{short(err[-1] if err else 'no output (no python3 in the image?)')}")
    return out


def manifest(api: Any, ref: str) -> dict[str, Any] | None:
    """The manifest the image's label points at (default /etc/ptkit/manifest.json); None without one."""
    labels = image(api, ref).labels or {}
    data = read_file(api, ref, labels.get(MANIFEST_LABEL, MANIFEST_PATH))
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError as exc:
        raise PtkitError(f"{ref}: its manifest is not JSON ({exc})") from None
