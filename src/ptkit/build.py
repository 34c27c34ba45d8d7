"""Step 2b: build images through the Docker SDK for Python, push them, and make what a build needs
offline: a Debian base image from the apt mirror and a wheelhouse from the host's pip.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import shutil
import subprocess
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
from .matrix import Variant
from .render import REPO_ROOT, BuildPlan, split_ref

DOCKER_DIR = REPO_ROOT / "docker"
PACKAGE_DIR = Path(__file__).resolve().parent
LOG_TAIL = 20
STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)")
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_SECURITY = "http://deb.debian.org/debian-security"
# pip matches --platform tags exactly: every manylinux tag a bookworm (glibc 2.36) image can load.
PLATFORMS = (*(f"manylinux_2_{minor}_x86_64" for minor in range(36, 16, -1)), "manylinux2014_x86_64",
             "linux_x86_64")


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


# --- wheelhouse ------------------------------------------------------------------------------

def wheelhouse(
    variant: Variant, requirements: list[str], dest: Path, *, index_url: str | None = None,
    extra_index_url: str | None = None, use_variant_index: bool = False, lock: Path | None = None,
) -> Path:
    """Download every wheel the variant needs with the host's pip configuration; write a hash lock.

    With `lock`, download exactly the lock's files (hashes checked) instead of resolving anew.
    """
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--dest", str(dest),
        "--only-binary=:all:", "--implementation", "cp", "--python-version", variant.python,
        *[f"--platform={p}" for p in PLATFORMS],
    ]
    if index_url:
        cmd += ["--index-url", index_url]
    for extra in filter(None, [extra_index_url, variant.index_url if use_variant_index else None]):
        cmd += ["--extra-index-url", extra]
    wanted = ["--no-deps", "--require-hashes", "-r", str(lock)] if lock else requirements
    print(f"$ pip download {' '.join(wanted)} -> {dest}", file=sys.stderr)
    proc = subprocess.run([*cmd, *wanted], capture_output=True, text=True)
    if proc.returncode != 0:
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("ERROR")]
        lines = [ln for ln in errors if "Could not find" in ln or "No matching" in ln] or errors[-1:] or [
            proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"]
        hint = "" if use_variant_index else f" (try --use-variant-index to add {variant.index_url})"
        raise PtkitError(f"pip download failed: {' '.join(lines)[:300]}{hint}")
    # Lock what pip chose this time, not whatever else an older run left in the folder.
    files = [Path(f) for f in re.findall(r"^\s*(?:Saved|File was already downloaded) (\S+)$", proc.stdout, re.M)]
    out = dest / "requirements.lock"
    what = f"the lock {lock}" if lock else " ".join(requirements)
    out.write_text(lock_text(files, f"variant {variant.name}: {what}, python {variant.python}"))
    return out


def sha256_file(path: Path) -> str:
    """Hash in blocks: CUDA wheels are GBs, no reason to hold one in memory."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def lock_text(wheels: list[Path], what: str) -> str:
    """A hash-pinned, dependency-complete requirements file (`pip install --require-hashes --no-deps`)."""
    lines = [f"# Generated by `ptkit wheelhouse` for {what}.", "# Every wheel, pinned by hash."]
    for wheel in sorted(wheels, key=lambda p: p.name.lower()):
        name, version = wheel.name.split("-")[:2]
        digest = sha256_file(wheel)
        lines.append(f"{name.replace('_', '-').lower()}=={version} --hash=sha256:{digest}")
    return "\n".join(lines) + "\n"


def lock_pins(text: str) -> dict[str, str]:
    """{name: version} of a lock file's lines."""
    found = re.findall(r"^([A-Za-z0-9._-]+)==(\S+)", text, re.M)
    return {name.lower(): version for name, version in found}


def check_lock(lock: Path, expected: dict[str, str]) -> bytes:
    """The lock's bytes, once its pins agree with the matrix's (a stale lock is refused, not built)."""
    try:
        text = lock.read_text()
    except OSError as exc:
        raise PtkitError(f"--lock {lock}: {exc.strerror}") from None
    pins = lock_pins(text)
    for name, version in expected.items():
        if pins.get(name) != version:
            raise PtkitError(f"--lock {lock} pins {name} {pins.get(name) or '(nothing)'}, "
                             f"the matrix pins {version}: regenerate it with `ptkit wheelhouse`")
    return text.encode()


# --- base ------------------------------------------------------------------------------------

def base(api: Any, tag: str, suite: str = "bookworm", mirror: str = DEBIAN_MIRROR) -> str:
    """A minimal Debian image from the apt mirror, for hosts that cannot pull from any registry."""
    tool = shutil.which("mmdebstrap") or shutil.which("debootstrap")
    if tool is None:
        raise PtkitError("neither mmdebstrap nor debootstrap is installed: apt-get install -y mmdebstrap")
    sources = [f"deb {mirror} {suite} main", f"deb {mirror} {suite}-updates main",
               f"deb {DEBIAN_SECURITY} {suite}-security main"]
    with tempfile.TemporaryDirectory(prefix="ptkit-base-") as tmp:
        tarball = Path(tmp) / "rootfs.tar"
        started = time.monotonic()
        if tool.endswith("mmdebstrap"):
            excludes = ["/usr/share/man/*", "/usr/share/doc/*", "/usr/share/locale/*", "/usr/share/info/*"]
            cmd = [tool, "--variant=minbase", "--format=tar", "--aptopt=Acquire::Languages \"none\"",
                   *[f"--dpkgopt=path-exclude={p}" for p in excludes],
                   "--dpkgopt=path-include=/usr/share/doc/*/copyright", suite, str(tarball), *sources]
        else:
            rootfs = Path(tmp) / "rootfs"
            cmd = [tool, "--variant=minbase", suite, str(rootfs), mirror]
        print(f"$ {Path(tool).name} {suite} ({mirror})", file=sys.stderr)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
            raise PtkitError(f"{Path(tool).name} failed: {tail[:300]}")
        if not tool.endswith("mmdebstrap"):
            (rootfs / "etc/apt/sources.list").write_text("\n".join(sources) + "\n")
            subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], check=True)
        repo, tag_name = split_ref(tag)
        changes = ['CMD ["bash"]', "ENV LANG=C.UTF-8",
                   f"LABEL ptkit.base.suite={suite} ptkit.base.mirror={mirror}"]
        out = api.api.import_image_from_file(str(tarball), repository=repo, tag=tag_name, changes=changes)
        result = json.loads(out.strip().splitlines()[-1]) if isinstance(out, str) else out
        if error := docker_api.stream_error(result):
            raise PtkitError(f"docker import failed: {error}")
    image = api.images.get(tag)
    print(f"base {tag}: {image.attrs['Size'] / 1e6:.0f} MB in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return image.id
