"""The build context `build` sends the engine: a tar of the Dockerfile, generated files, the ptkit package,
the wheelhouse and the CA bundle, streamed as it is written.

Why a stream: a CUDA row's wheelhouse is about 3 GB. Written to a temp file first, it cost 3 GB of disk at the
build's peak, beside the engine's own copy of the context and the layers (measured on a cuda130 build, whose
peak is the free disk a CI machine must have). A pipe fed by a writer thread sends the same bytes (the same
tar, so the same layer cache) with no copy on disk; the SDK sends an iterable body with chunked transfer
encoding, as the docker CLI does."""

from __future__ import annotations

import io
import os
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from .inputs import UV_VERSION, BuildInputs
from .locks import lock_pins

PACKAGE_DIR = Path(__file__).resolve().parent
CHUNK = 1 << 20  # bytes per read from the pipe: large enough to keep the engine's socket busy


@dataclass(frozen=True)
class Context:
    """What a build context holds besides the inputs' wheelhouse and CA bundle."""

    dockerfile: Path
    files: dict[str, bytes]
    matrix_text: bytes = b""  # the image's ptkit gets the matrix it was built from (`ptkit matrix` inside it)
    wheels: frozenset[tuple[str, str]] | None = None  # (name, version) of the wheelhouse files sent; None: all


def file_pin(name: str) -> tuple[str, str] | None:
    """(normalized name, version) of a wheel or sdist file name; None for anything else."""
    try:
        if name.endswith(".whl"):
            dist, version, *_ = parse_wheel_filename(name)
        else:
            dist, version = parse_sdist_filename(name)
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    return canonicalize_name(dist), str(version)


def locked_wheels(row_lock: bytes, compiler_lock: bytes | None = None) -> frozenset[tuple[str, str]] | None:
    """The wheelhouse files an image build installs: what the row lock pins, the compiler lock's pins
    (`compiler_lock` None: the row has no compiler) and the builder's uv; None (every file) where a lock is
    missing, so the installer resolves. Both flavors of a row get the same files (one shared builder stage).
    Why select: a wheelhouse folder may hold more (a team's own packages, an older pin); the files sent are the
    COPY layer's content, so the row's layers stay cached whatever else the folder holds (a team build beside
    the row's own build re-used every row layer instead of installing 5 GB again), and the context carries
    nothing the build does not install."""
    locks = [row_lock, *([] if compiler_lock is None else [compiler_lock])]
    if not all(locks):
        return None
    pins = {(canonicalize_name(name), _version(version)) for lock in locks
            for name, version in lock_pins(lock.decode()).items()}
    return frozenset(pins | {("uv", UV_VERSION)})


def _version(text: str) -> str:
    try:
        return str(Version(text))
    except InvalidVersion:
        return text


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0  # stable context: unchanged files keep the layer cache
    tar.addfile(info, io.BytesIO(data))


def _package_filter(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    if "__pycache__" in info.name or info.name.endswith(".pyc") or info.name.startswith("ptkit/data"):
        return None  # data/ is links into the checkout: the matrix is added as a file below
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _dir_entry(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    tar.addfile(info)


def write_context(tar: tarfile.TarFile, context: Context, inputs: BuildInputs) -> None:
    """Every member of the context, in a fixed order with fixed owners and times."""
    _add_bytes(tar, "Dockerfile", context.dockerfile.read_bytes())
    for name, data in context.files.items():
        _add_bytes(tar, name, data)
    tar.add(PACKAGE_DIR, arcname="ptkit", filter=_package_filter)
    if context.matrix_text:
        _add_bytes(tar, "ptkit/data/matrix.toml", context.matrix_text)
    _dir_entry(tar, "wheelhouse")
    wheelhouse = inputs.wheelhouse
    for wheel in sorted(wheelhouse.iterdir()) if wheelhouse else []:
        wanted = context.wheels is None or file_pin(wheel.name) in context.wheels
        if wanted and wheel.is_file() and wheel.suffix in (".whl", ".gz", ".zip"):
            tar.add(wheel, arcname=f"wheelhouse/{wheel.name}", filter=_package_filter)
    _dir_entry(tar, "ca")
    if inputs.ca_bundle:
        _add_bytes(tar, "ca/ca.pem", inputs.ca_bundle.read_bytes())


@contextmanager
def build_context(context: Context, inputs: BuildInputs) -> Iterator[Iterator[bytes]]:
    """The context as an iterator of tar chunks, written by a thread into a pipe while the engine reads it.
    Leaving the block closes the pipe (a writer the engine stopped reading gets EPIPE and ends) and joins the
    writer; an error of the writer's own (a wheel it could not read) is raised then, as the cause of the
    truncated context the engine saw."""
    read_fd, write_fd = os.pipe()
    failures: list[BaseException] = []

    def write() -> None:
        try:
            with os.fdopen(write_fd, "wb") as pipe, tarfile.open(fileobj=pipe, mode="w|") as tar:
                write_context(tar, context, inputs)
        except BrokenPipeError:
            pass  # the reader is gone: the build failed or was cancelled, and says so itself
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread below
            failures.append(exc)

    writer = threading.Thread(target=write, name="ptkit-context", daemon=True)
    reader = os.fdopen(read_fd, "rb")
    writer.start()
    try:
        yield iter(lambda: reader.read(CHUNK), b"")
    finally:
        reader.close()
        writer.join()
        if failures:
            raise failures[0]
