"""Step 4: run the verifier inside a container and bring its report back.

A ptkit image runs its own baked-in verifier (`ptkit verify --json`). Any other image gets the
verifier copied in (it is stdlib + torch only) and run with the image's own Python. The container
is removed whatever happens: normal exit, failure, time-out or Ctrl-C.
"""

from __future__ import annotations

import io
import json
import sys
import tarfile
import uuid
from pathlib import Path
from typing import Any

from . import docker_api
from .errors import Interrupted, PtkitError
from .images import ROLE_LABEL
from .verify.results import Report

VERIFY_DIR = Path(__file__).resolve().parent / "verify"
INJECT_ROOT = "/tmp/ptkit-verifier"
DEFAULT_TIMEOUT = 900
SHM_SIZE = "2g"  # DataLoader workers share tensors through /dev/shm; Docker's 64 MB default fails them
# Find an interpreter the way a user would; 127 tells the host there was none.
FIND_PYTHON = (
    'for p in python3 python; do command -v "$p" >/dev/null 2>&1 && exec "$p" -m ptkit_verify "$@"; done; '
    'echo "no python3 or python on PATH" >&2; exit 127'
)


def verifier_archive(source: Path = VERIFY_DIR) -> bytes:
    """The verify package as a tar, renamed ptkit_verify so it imports on its own."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path in sorted(source.glob("*.py")):
            info = tar.gettarinfo(str(path), arcname=f"{INJECT_ROOT.lstrip('/')}/ptkit_verify/{path.name}")
            info.uid = info.gid = 0
            info.mode = 0o644
            with path.open("rb") as fh:
                tar.addfile(info, fh)
    return buf.getvalue()


def _options(image: str, name: str, args: list[str], inject: bool, gpu: bool,
             environment: dict[str, str] | None = None) -> dict[str, Any]:
    options: dict[str, Any] = {
        "image": image, "name": name, "detach": True, "shm_size": SHM_SIZE, "labels": {ROLE_LABEL: "verify"},
        "environment": dict(environment or {}),
    }
    if gpu:
        from docker.types import DeviceRequest

        options["device_requests"] = [DeviceRequest(count=-1, capabilities=[["gpu"]])]
    if inject:
        options.update(entrypoint=["/bin/sh", "-c", FIND_PYTHON, "sh", *args], command=None)
        options["environment"]["PYTHONPATH"] = INJECT_ROOT
    else:
        options.update(entrypoint=["ptkit"], command=args)
    return options


def run_verifier(api: Any, image: str, verify_argv: list[str], *, inject: bool, gpu: bool = False,
                 timeout: int = DEFAULT_TIMEOUT, verifier: Path = VERIFY_DIR,
                 environment: dict[str, str] | None = None) -> Report:
    """Run `verify --json VERIFY_ARGV` in a throwaway container (`environment` added); always remove it."""
    from docker.errors import APIError, ImageNotFound
    from requests.exceptions import ConnectionError as RequestsConnectionError
    from requests.exceptions import ReadTimeout

    # Named up front, so that a Ctrl-C between the daemon creating it and us getting its id still
    # finds it to remove.
    name = f"ptkit-verify-{uuid.uuid4().hex[:12]}"
    try:
        container = api.containers.create(**_options(image, name, ["verify", "--json", *verify_argv],
                                                     inject, gpu, environment))
        if inject:
            container.put_archive("/", verifier_archive(verifier))
        container.start()
        code = int(container.wait(timeout=timeout).get("StatusCode", 1))
        stdout = container.logs(stdout=True, stderr=False).decode(errors="replace")
        stderr = container.logs(stdout=False, stderr=True).decode(errors="replace")
    except (ReadTimeout, RequestsConnectionError) as exc:
        if "timed out" not in str(exc).lower():
            raise
        return Report.failed("verifier", f"timed out after {timeout} s in {image} (raise --timeout); "
                                         "the container was removed")
    except ImageNotFound:
        raise PtkitError(f"image {image} is not here: build it (`ptkit build`) or pull it") from None
    except APIError as exc:
        raise PtkitError(f"cannot run {image}: {docker_api.short(exc)}") from None
    except KeyboardInterrupt:
        raise Interrupted("interrupted; the verifier container was removed") from None
    finally:
        _remove(api, name)
    return parse_report(stdout, stderr, code, image)


def _remove(api: Any, name: str) -> None:
    from docker.errors import NotFound

    try:
        api.api.remove_container(name, force=True)
    except NotFound:  # never created
        pass
    except Exception as exc:  # noqa: BLE001 - report, but never mask the run's own outcome
        print(f"ptkit: warning: could not remove container {name}: {exc}", file=sys.stderr)


def parse_report(stdout: str, stderr: str, code: int, image: str) -> Report:
    """The verifier's report (stdout carries only its JSON), or a FAIL report saying why there is none."""
    try:
        return Report.from_dict(json.loads(stdout))
    except (ValueError, TypeError, KeyError, AttributeError):
        pass
    last = (stderr.strip().splitlines() or [f"exit code {code}, no report on stdout"])[-1]
    cause = f"no Python interpreter in {image}" if code == 127 else f"verifier did not run in {image}: {last}"
    return Report.failed("verifier", cause)
