"""The test helpers that other code relies on (benchmarks/image_figures.py imports LocalRegistry),
checked here without a Docker engine."""

from __future__ import annotations

import dataclasses
import io
import os
import shutil
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ptkit import matrix
from ptkit.docker_api import ChunkStream
from tests.utils import matrix_facts
from tests.utils.docker_helpers import repository_and_tag
from tests.utils.registry import LocalRegistry, listening


@pytest.mark.skipif(not shutil.which("docker-registry"), reason="docker-registry is not installed")
def test_local_registry_serves_on_loopback_and_leaves_nothing():
    with LocalRegistry() as registry:
        host, port, storage = registry.host, registry.port, registry.storage
        assert host == f"localhost:{port}"
        with urllib.request.urlopen(f"http://{host}/v2/", timeout=10) as resp:  # the registry API answers
            assert resp.status == 200
        registry.stop()
        registry.stop()  # idempotent: a test that stopped it still exits cleanly
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(f"http://{host}/v2/", timeout=2)
    assert not listening(port)
    assert not Path(storage).exists(), "storage left behind"


def test_matrix_toml_writes_what_the_loader_reads(tmp_path):
    variants = [dataclasses.replace(v, extra_packages=("numpy==0.0.1",)) if v.is_cuda else v
                for v in matrix_facts.MATRIX.variants.values()]
    path = tmp_path / "matrix.toml"
    path.write_text(matrix_facts.matrix_toml(variants, latest=matrix_facts.MATRIX.latest))
    loaded = matrix.load(path)
    assert list(loaded.variants.values()) == variants
    assert loaded.latest == matrix_facts.MATRIX.latest


@pytest.mark.parametrize(("ref", "expected"), [
    ("ptkit:cuda130", ("ptkit", "cuda130")),
    ("localhost:5000/team/pytorch:cpu", ("localhost:5000/team/pytorch", "cpu")),
    ("localhost:5000/team/pytorch", ("localhost:5000/team/pytorch", None)),
    ("localhost:5000/team/pytorch@sha256:" + "a" * 64, ("localhost:5000/team/pytorch", None)),
])
def test_repository_and_tag_handles_ports_and_digests(ref, expected):
    assert repository_and_tag(ref) == expected


def test_chunk_stream_reads_a_tar_split_at_any_boundary():
    # The image's files arrive as the engine's export stream: chunks that cut through tar headers.
    files = {"a/big": os.urandom(70_000), "b/small": b"hello", "c/empty.whl": b""}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    chunks = (raw[i:i + 777] for i in range(0, len(raw), 777))
    with tarfile.open(fileobj=io.BufferedReader(ChunkStream(chunks)), mode="r|") as tar:
        read = {m.name: tar.extractfile(m).read() for m in tar}
    assert read == files


def test_made_folders_are_only_those_this_call_made_and_only_they_go(tmp_path):
    from ptkit.userfiles import MadeFolders

    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "keep.txt").write_text("mine")
    made = MadeFolders(tmp_path / "old" / "a" / "b")
    assert [m[0] for m in made.made] == [tmp_path / "old" / "a", tmp_path / "old" / "a" / "b"]
    (tmp_path / "old" / "a" / "b" / "partial.whl").write_text("")
    made.remove()
    assert sorted(p.name for p in (tmp_path / "old").iterdir()) == ["keep.txt"]  # what was there stays


def test_nothing_made_means_nothing_removed_even_when_the_folder_is_full(tmp_path):
    from ptkit.userfiles import MadeFolders

    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "data").write_text("x")
    made = MadeFolders(tmp_path / "full")
    assert made.made == []
    made.remove()
    assert (tmp_path / "full" / "data").read_text() == "x"


def test_a_folder_replaced_since_it_was_made_is_not_removed(tmp_path):
    from ptkit.userfiles import MadeFolders

    made = MadeFolders(tmp_path / "new")
    (tmp_path / "other").mkdir()  # made while "new" still exists: another inode
    (tmp_path / "other" / "data").write_text("x")
    (tmp_path / "new").rmdir()
    (tmp_path / "other").rename(tmp_path / "new")  # same path, another folder
    made.remove()
    assert (tmp_path / "new" / "data").read_text() == "x"


def test_when_a_folder_cannot_be_made_the_ones_made_before_it_go_again(tmp_path):
    from ptkit.userfiles import MadeFolders

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "file").write_text("")
    with pytest.raises(OSError, match="File name too long"):
        MadeFolders(tmp_path / "a" / "new" / "deeper" / ("n" * 300))  # new/ and deeper/ are made first
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["file"]
