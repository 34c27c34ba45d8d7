"""Step 2b: build images through the Docker SDK for Python (live progress, log tail on failure,
Ctrl-C cancels) and push them. What an offline build needs comes from `wheels` and `base`.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
import tarfile
import tempfile
import time
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import docker_api
from .errors import Interrupted, PtkitError
from .render import REPO_ROOT, BuildPlan, split_ref
from .wheels import check_lock

DOCKER_DIR = REPO_ROOT / "docker"
PACKAGE_DIR = Path(__file__).resolve().parent
LOG_TAIL = 20
STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)")


# --- progress --------------------------------------------------------------------------------

class Progress:
    """A live line per build step (rich when present and on a terminal), plain lines otherwise."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.tail: deque[str] = deque(maxlen=LOG_TAIL)
        self.start = self.step_start = time.monotonic()
        self.step = ""
        try:
            from rich.console import Console

            self.console: Any = Console(stderr=True, highlight=False)
        except ImportError:
            self.console = None
        self.status: Any = None

    def __enter__(self) -> Progress:
        if self.console is not None and self.console.is_terminal:
            self.status = self.console.status(self.title)
            self.status.start()
        else:
            self._print(self.title)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.status is not None:
            self.status.stop()

    def _print(self, text: str) -> None:
        if self.console is not None:  # through rich, so finished steps print above the live line
            self.console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            print(text, file=sys.stderr, flush=True)

    def line(self, text: str) -> None:
        for raw in text.splitlines():
            line = raw.rstrip()
            if not line:
                continue
            self.tail.append(line)
            match = STEP.match(line)
            if match:
                self._finish_step()
                self.step = f"[{match.group(1)}/{match.group(2)}] {match.group(3)[:100]}"
                self.step_start = time.monotonic()
                if self.status is not None:
                    self.status.update(f"{self.title}: {self.step}")

    def _finish_step(self) -> None:
        if self.step:
            self._print(f"  {self.step}  ({time.monotonic() - self.step_start:.1f} s)")

    def done(self) -> float:
        self._finish_step()
        self.step = ""
        return time.monotonic() - self.start


# --- build context ---------------------------------------------------------------------------

def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0  # stable context: unchanged files keep the layer cache
    tar.addfile(info, io.BytesIO(data))


def _package_filter(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    if "__pycache__" in info.name or info.name.endswith(".pyc"):
        return None
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _dir_entry(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    tar.addfile(info)


@contextmanager
def build_context(
    dockerfile: Path, files: dict[str, bytes], wheelhouse: Path | None, ca_bundle: Path | None
) -> Iterator[Any]:
    """A tar build context in a temp file (wheelhouses can be GBs), deleted whatever happens."""
    with tempfile.TemporaryFile(prefix="ptkit-context-") as fh:
        with tarfile.open(fileobj=fh, mode="w") as tar:
            _add_bytes(tar, "Dockerfile", dockerfile.read_bytes())
            for name, data in files.items():
                _add_bytes(tar, name, data)
            tar.add(PACKAGE_DIR, arcname="ptkit", filter=_package_filter)
            _dir_entry(tar, "wheelhouse")
            for wheel in sorted(wheelhouse.iterdir()) if wheelhouse else []:
                if wheel.is_file() and wheel.suffix in (".whl", ".gz", ".zip"):
                    tar.add(wheel, arcname=f"wheelhouse/{wheel.name}", filter=_package_filter)
            _dir_entry(tar, "ca")
            if ca_bundle:
                _add_bytes(tar, "ca/ca.pem", ca_bundle.read_bytes())
        fh.seek(0)
        yield fh


# --- build -----------------------------------------------------------------------------------

def _check_inputs(wheelhouse: Path | None, ca_bundle: Path | None) -> None:
    if wheelhouse is not None and not any(p.suffix == ".whl" for p in wheelhouse.glob("*")):
        raise PtkitError(f"--wheelhouse {wheelhouse}: no wheels there (make them with `ptkit wheelhouse`)")
    if ca_bundle is not None and (not ca_bundle.is_file() or b"BEGIN CERTIFICATE" not in ca_bundle.read_bytes()):
        raise PtkitError(f"--ca-bundle {ca_bundle}: not a PEM certificate bundle")


def run_build(
    api: Any,
    *,
    dockerfile: Path,
    files: dict[str, bytes],
    buildargs: dict[str, str],
    tags: list[str],
    title: str,
    wheelhouse: Path | None = None,
    ca_bundle: Path | None = None,
    no_cache: bool = False,
) -> str:
    """Build, stream progress, tag; return the image id. Failure: the log's last lines, exit 1."""
    _check_inputs(wheelhouse, ca_bundle)
    image_id = None
    with build_context(dockerfile, files, wheelhouse, ca_bundle) as context, Progress(title) as progress:
        stream = api.api.build(
            fileobj=context, custom_context=True, buildargs=buildargs, tag=tags[0],
            rm=True, forcerm=True, nocache=no_cache, pull=False, decode=True,
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
            progress.done()
            tail = "\n".join(f"  | {line}" for line in progress.tail)
            raise PtkitError(f"image build failed: {error}\n  last {len(progress.tail)} log lines:\n{tail}")
        if "aux" in chunk and "ID" in chunk["aux"]:
            image_id = chunk["aux"]["ID"]
    if image_id is None:
        raise PtkitError("image build ended without an image id (daemon stream cut short)")
    return image_id


def build_variant(
    api: Any,
    plan: BuildPlan,
    *,
    wheelhouse: Path | None = None,
    ca_bundle: Path | None = None,
    no_cache: bool = False,
    lock: Path | None = None,
) -> str:
    docker_api.ensure_image(api, plan.base_image, "make a local base with `ptkit base` and pass "
                            "--base-image ptkit/base:bookworm")
    files = {
        "requirements.txt": ("\n".join(plan.requirements) + "\n").encode(),
        "expected.json": plan.expected_json().encode(),
        "check_install.py": (DOCKER_DIR / "check_install.py").read_bytes(),
        "slim.py": (DOCKER_DIR / "slim.py").read_bytes(),
        "requirements.lock": check_lock(lock, plan.expected) if lock else b"",
    }
    return run_build(
        api, dockerfile=DOCKER_DIR / "Dockerfile", files=files, buildargs=plan.build_args(),
        tags=plan.tags, title=f"building {plan.variant.name} ({plan.variant.torch})",
        wheelhouse=wheelhouse, ca_bundle=ca_bundle, no_cache=no_cache,
    )


def build_team(
    api: Any,
    parent: str,
    requirements_file: Path,
    tags: list[str],
    *,
    ca_bundle: Path | None = None,
    wheelhouse: Path | None = None,
    index_url: str = "https://pypi.org/simple",
) -> str:
    """A team image FROM a ptkit image: its packages in a layer of their own, torch untouched."""
    if not requirements_file.is_file():
        raise PtkitError(f"--extra-requirements {requirements_file}: no such file")
    from docker.errors import ImageNotFound

    try:
        parent_id = api.images.get(parent).id
    except ImageNotFound:
        raise PtkitError(f"parent image {parent} is not here: build it first (`ptkit build VARIANT`)") from None
    buildargs = {"PARENT": parent, "PARENT_DIGEST": parent_id, "INDEX_URL": index_url}
    files = {"requirements.txt": requirements_file.read_bytes()}
    return run_build(
        api, dockerfile=DOCKER_DIR / "Dockerfile.team", files=files, buildargs=buildargs, tags=tags,
        title=f"building team image on {parent}", wheelhouse=wheelhouse, ca_bundle=ca_bundle,
    )


# --- push ------------------------------------------------------------------------------------

def push(api: Any, refs: list[str]) -> dict[str, str]:
    """Push each tag; return {tag: digest}. A refused push is one line, exit 1."""
    digests: dict[str, str] = {}
    for ref in refs:
        repo, tag = split_ref(ref)
        try:
            stream = api.api.push(repo, tag=tag, stream=True, decode=True)
            for chunk in stream:
                if error := docker_api.stream_error(chunk):
                    raise PtkitError(f"push of {ref} refused: {error}")
                digest = (chunk.get("aux") or {}).get("Digest")
                if digest:
                    digests[ref] = digest
        except PtkitError:
            raise
        except Exception as exc:  # noqa: BLE001 - requests/urllib3 errors from a dead registry
            raise PtkitError(f"push of {ref} failed: {docker_api._short(exc)}") from None
        if ref not in digests:
            raise PtkitError(f"push of {ref} ended without a digest from the registry")
        print(f"pushed {ref}@{digests[ref]}", file=sys.stderr)
    return digests
