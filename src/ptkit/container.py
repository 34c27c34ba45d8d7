"""Step 3: run the verifier inside a container and bring its JSON report back.

A ptkit image runs its own baked-in verifier (`ptkit verify --json`). Any other image gets the
verifier copied in (it is stdlib + torch only) and run with the image's own Python. The container
is removed whatever happens: normal exit, failure or Ctrl-C.
"""

from __future__ import annotations

import io
import json
import sys
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import docker_api
from .errors import Interrupted, PtkitError
from .verify.facts import SCHEMA
from .verify.results import FAIL

VERIFY_DIR = Path(__file__).resolve().parent / "verify"
INJECT_ROOT = "/tmp/ptkit-verifier"
ROLE_LABEL = "ptkit.role"
# Find an interpreter the way a user would; 127 tells the host there was none.
FIND_PYTHON = (
    'for p in python3 python; do command -v "$p" >/dev/null 2>&1 && exec "$p" -m ptkit_verify "$@"; done; '
    'echo "no python3 or python on PATH" >&2; exit 127'
)


@dataclass
class RunResult:
    exit_code: int
    report: dict[str, Any]
    stderr: str


def verifier_archive() -> bytes:
    """The verify package as a tar, renamed ptkit_verify so it imports on its own."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path in sorted(VERIFY_DIR.glob("*.py")):
            info = tar.gettarinfo(str(path), arcname=f"{INJECT_ROOT.lstrip('/')}/ptkit_verify/{path.name}")
            info.uid = info.gid = 0
            info.mode = 0o644
            with path.open("rb") as fh:
                tar.addfile(info, fh)
    return buf.getvalue()


def gpu_requests(api: Any, want_gpu: bool) -> list[Any]:
    if not want_gpu:
        return []
    from docker.types import DeviceRequest

    return [DeviceRequest(count=-1, capabilities=[["gpu"]])]


def run_verifier(
    api: Any,
    image: str,
    verify_args: list[str],
    *,
    inject: bool,
    gpu: bool = False,
    shm_size: str = "2g",
    timeout: int = 900,
) -> RunResult:
    """Run `verify --json` in a throwaway container; always remove it."""
    from docker.errors import APIError, ImageNotFound

    args = ["verify", "--json", *verify_args]
    # Named up front, so that a Ctrl-C between the daemon creating it and us getting its id still
    # finds it to remove.
    name = f"ptkit-verify-{uuid.uuid4().hex[:12]}"
    options: dict[str, Any] = {
        "image": image, "name": name, "detach": True, "shm_size": shm_size, "labels": {ROLE_LABEL: "verify"},
        "device_requests": gpu_requests(api, gpu),
    }
    if inject:
        options.update(entrypoint=["/bin/sh", "-c", FIND_PYTHON, "sh", *args],
                       command=None, environment={"PYTHONPATH": INJECT_ROOT})
    else:
        options.update(entrypoint=["ptkit"], command=args)
    try:
        container = api.containers.create(**options)
        if inject:
            container.put_archive("/", verifier_archive())
        container.start()
        status = container.wait(timeout=timeout)
        stdout = container.logs(stdout=True, stderr=False).decode(errors="replace")
        stderr = container.logs(stdout=False, stderr=True).decode(errors="replace")
    except ImageNotFound:
        raise PtkitError(f"image {image} is not here: build it (`ptkit build`) or pull it") from None
    except APIError as exc:
        raise PtkitError(f"cannot run {image}: {docker_api._short(exc)}") from None
    except KeyboardInterrupt:
        raise Interrupted("interrupted; the verifier container was removed") from None
    finally:
        _remove(api, name)
    code = int(status.get("StatusCode", 1))
    return RunResult(code, parse_report(stdout, stderr, code, image), stderr)


def _remove(api: Any, name: str) -> None:
    from docker.errors import NotFound

    try:
        api.api.remove_container(name, force=True)
    except NotFound:  # never created
        pass
    except Exception as exc:  # noqa: BLE001 - report, but never mask the run's own outcome
        print(f"ptkit: warning: could not remove container {name}: {exc}", file=sys.stderr)


def parse_report(stdout: str, stderr: str, code: int, image: str) -> dict[str, Any]:
    """The verifier's JSON, or a FAIL report that says in one line why there is none."""
    start = stdout.find("{")
    if start >= 0:
        try:
            return json.loads(stdout[start:])
        except json.JSONDecodeError:
            pass
    last = (stderr.strip().splitlines() or [f"exit code {code}, no output"])[-1]
    cause = f"no Python interpreter in {image}" if code == 127 else f"verifier did not run in {image}: {last}"
    return {
        "schema": SCHEMA, "ok": False, "environment": {},
        "checks": [{"name": "verifier", "status": FAIL, "detail": " ".join(cause.split())[:300], "seconds": 0.0}],
        "devices": [], "benchmarks": [], "tutorial": None,
    }
