"""The build context as the engine receives it: a tar streamed through a pipe while it is written, never copied
to a temp file (a CUDA row's 3 GB wheelhouse would be, at the build's disk peak)."""

from __future__ import annotations

import io
import tarfile
import tempfile
import threading
import time
from pathlib import Path

import pytest

from ptkit.context import CHUNK, Context, build_context, locked_wheels
from ptkit.inputs import UV_VERSION, BuildInputs


def make_inputs(tmp_path: Path, wheel_bytes: int = 3 * CHUNK) -> tuple[Context, BuildInputs]:
    wheels = tmp_path / "wheelhouse"
    wheels.mkdir()
    (wheels / "big-1.0-py3-none-any.whl").write_bytes(bytes(range(256)) * (wheel_bytes // 256))
    (wheels / "notes.txt").write_text("not a wheel: left out")
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    return (Context(tmp_path / "Dockerfile", {"requirements.txt": b"torch==2.14.1\n"}, b"[variants]\n"),
            BuildInputs(wheelhouse=wheels))


def streamed(context: Context, inputs: BuildInputs) -> bytes:
    with build_context(context, inputs) as chunks:
        return b"".join(chunks)


def test_the_stream_is_a_tar_of_the_dockerfile_files_package_wheels_and_matrix(tmp_path):
    context, inputs = make_inputs(tmp_path)
    data = streamed(context, inputs)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
        wheel = tar.extractfile("wheelhouse/big-1.0-py3-none-any.whl").read()
        matrix = tar.extractfile("ptkit/data/matrix.toml").read()
        owners = {(m.uid, m.gid, m.mtime) for m in tar.getmembers() if m.name.startswith(("ptkit/", "wheelhouse/"))}
    assert names[0] == "Dockerfile" and "requirements.txt" in names and "ptkit/build.py" in names
    assert wheel == (tmp_path / "wheelhouse" / "big-1.0-py3-none-any.whl").read_bytes()
    assert matrix == b"[variants]\n" and "wheelhouse/notes.txt" not in names and "ca" in names
    assert not any(n.endswith(".pyc") for n in names)
    assert owners == {(0, 0, 0)}  # no owner or time of this checkout: the engine's layer cache sees the same bytes


def test_two_streams_of_the_same_inputs_are_byte_identical(tmp_path):
    context, inputs = make_inputs(tmp_path)
    assert streamed(context, inputs) == streamed(context, inputs)


def test_no_temp_file_holds_the_context(tmp_path, monkeypatch):
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))  # where a TemporaryFile would land
    context, inputs = make_inputs(tmp_path)
    seen: list[int] = []
    with build_context(context, inputs) as chunks:
        for chunk in chunks:
            seen.append(sum(f.stat().st_size for f in spool.iterdir()))
            assert len(chunk) <= CHUNK
    assert len(seen) > 3 and set(seen) == {0}


def test_a_reader_that_stops_early_ends_the_writer_at_once(tmp_path):
    context, inputs = make_inputs(tmp_path, wheel_bytes=64 * CHUNK)  # far more than a pipe buffers
    before = threading.active_count()
    start = time.monotonic()
    with build_context(context, inputs) as chunks:
        next(chunks)  # the engine failed after one read
    assert time.monotonic() - start < 10
    assert threading.active_count() == before  # the writer thread is gone, not blocked on a full pipe


def test_a_writer_error_reaches_the_caller(tmp_path):
    context, inputs = make_inputs(tmp_path)
    missing = Context(tmp_path / "gone" / "Dockerfile", context.files)
    with pytest.raises(FileNotFoundError), build_context(missing, inputs) as chunks:
        assert b"".join(chunks) == b""  # nothing written: the engine would see an empty context


def wheelhouse_names(tmp_path: Path, wheels: frozenset[tuple[str, str]] | None) -> set[str]:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    context = Context(tmp_path / "Dockerfile", {}, wheels=wheels)
    with tarfile.open(fileobj=io.BytesIO(streamed(context, BuildInputs(wheelhouse=tmp_path / "wh")))) as tar:
        return {n.removeprefix("wheelhouse/") for n in tar.getnames() if n.startswith("wheelhouse/")}


ROW_LOCK = (b"# a row lock\ntorch==2.14.1 --hash=sha256:aa\ntyping-extensions==4.16.0 --hash=sha256:bb\n"
            b"Jinja2==3.1.6 --hash=sha256:cc\n")
FILES = ["torch-2.14.1-cp311-cp311-manylinux_2_28_x86_64.whl", "typing_extensions-4.16.0-py3-none-any.whl",
         "jinja2-3.1.6-py3-none-any.whl", f"uv-{UV_VERSION}-py3-none-manylinux_2_17_x86_64.whl",
         "torch-2.13.0-cp311-cp311-manylinux_2_28_x86_64.whl", "ptkit_team_cuda-1.0.tar.gz",
         "nvidia_cuda_nvcc-13.0.88-py3-none-manylinux2014_x86_64.whl"]


@pytest.fixture
def shared_wheelhouse(tmp_path: Path) -> Path:
    """One folder for a row's wheels, an older torch, the compiler's wheel and a team's own sdist."""
    (tmp_path / "wh").mkdir()
    for name in FILES:
        (tmp_path / "wh" / name).write_bytes(name.encode())
    return tmp_path


def test_a_locked_build_sends_the_locked_wheels_and_uv_whatever_else_the_folder_holds(shared_wheelhouse):
    sent = wheelhouse_names(shared_wheelhouse, locked_wheels(ROW_LOCK))
    # names as pip normalizes them (PEP 503 / wheel file names): typing_extensions is typing-extensions, Jinja2 jinja2
    assert sent == {FILES[0], FILES[1], FILES[2], FILES[3]}


def test_a_compiler_lock_adds_its_wheels_and_a_missing_lock_sends_everything(shared_wheelhouse):
    compiler = b"nvidia-cuda-nvcc==13.0.88 --hash=sha256:dd\n"
    assert FILES[6] in wheelhouse_names(shared_wheelhouse, locked_wheels(ROW_LOCK, compiler))
    for unlocked in (locked_wheels(b""), locked_wheels(ROW_LOCK, b"")):  # the installer resolves: it may need any
        assert unlocked is None
        assert wheelhouse_names(shared_wheelhouse, unlocked) == set(FILES)
