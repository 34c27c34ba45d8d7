"""`ptkit reproduce`'s steps that need no engine: what a manifest must record, the commit's checkout and lock,
and the layer differ's file-by-file comparison (real git, real tar files)."""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from ptkit.errors import PtkitError
from ptkit.repro import layerdiff, reproduce

BUILD = {"revision": "0" * 40, "variant": "cpu", "source": "pytorch", "flavor": "runtime",
         "base_image": {"ref": "ptkit/base:bookworm", "id": "sha256:" + "b" * 64}, "lock": "cpu.txt",
         "lock_sha256": hashlib.sha256(b"torch==1\n").hexdigest()}


def test_the_manifest_names_what_the_rebuild_takes():
    rec = reproduce.recorded({"build": BUILD}, "img")
    assert (rec.revision, rec.variant, rec.source, rec.flavor, rec.base_ref, rec.base_id, rec.lock) == (
        "0" * 40, "cpu", "pytorch", "runtime", "ptkit/base:bookworm", "sha256:" + "b" * 64, "cpu.txt")


@pytest.mark.parametrize(("manifest", "why"), [
    (None, "img has no ptkit manifest"),
    ({"build": "x"}, "img has no ptkit manifest"),
    ({"build": {**BUILD, "revision": "abc-dirty"}}, "img was built from an uncommitted tree (abc-dirty)"),
    ({"build": {**BUILD, "revision": "unknown"}}, "img was built from no git checkout (unknown)"),
])
def test_an_image_that_records_no_commit_is_refused(manifest, why):
    with pytest.raises(PtkitError, match=f"^{why.replace('(', '[(]').replace(')', '[)]')}"):
        reproduce.recorded(manifest, "img")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "locks").mkdir(parents=True)
    (repo / "locks" / "cpu.txt").write_bytes(b"torch==1\n")
    git(repo, "init", "-q")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    return repo


def test_the_checkout_is_the_recorded_commit_and_its_lock_is_checked(repo, tmp_path):
    head = git(repo, "rev-parse", "HEAD").strip()
    (repo / "locks" / "cpu.txt").write_bytes(b"torch==2\n")  # the working tree moved on: the commit did not
    tree = reproduce.checkout(repo, head, tmp_path / "co")
    rec = reproduce.recorded({"build": {**BUILD, "revision": head}}, "img")
    assert reproduce.lock_file(rec, tree) == tree / "locks" / "cpu.txt"
    other = reproduce.recorded({"build": {**BUILD, "revision": head, "lock_sha256": "0" * 64}}, "img")
    with pytest.raises(PtkitError, match="is not the lock the image was built with"):
        reproduce.lock_file(other, tree)
    missing = reproduce.recorded({"build": {**BUILD, "revision": head, "lock": "cuda130.txt"}}, "img")
    with pytest.raises(PtkitError, match="does not have"):
        reproduce.lock_file(missing, tree)


def test_a_commit_the_repository_lacks_is_one_line(repo, tmp_path):
    with pytest.raises(PtkitError, match=f"commit {'1' * 12} is not in {repo}"):
        reproduce.checkout(repo, "1" * 40, tmp_path / "co")


def tar_of(files: dict[str, tuple[bytes, int]]) -> io.BytesIO:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, (data, mtime) in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), mtime
            tar.addfile(info, io.BytesIO(data))
    out.seek(0)
    return out


def test_the_differ_names_each_path_and_what_differs():
    a = layerdiff.entries(tar_of({"same": (b"x", 1), "content": (b"a", 1), "time": (b"t", 1), "gone": (b"", 1)}))
    b = layerdiff.entries(tar_of({"same": (b"x", 1), "content": (b"b", 1), "time": (b"t", 2), "new": (b"", 1)}))
    assert layerdiff.differing(a, b, ("IMG", "REBUILD")) == [
        ("content", "content"), ("gone", "only in IMG"), ("new", "only in REBUILD"), ("time", "mtime")]
    assert layerdiff.render(layerdiff.Difference(3, "RUN x", layerdiff.differing(a, b, ("A", "B"))), ("A", "B"),
                            limit=2) == ["layers: first difference at layer 3 (RUN x): 4 path(s)",
                                         "  content: content", "  gone: only in A", "  ... and 2 more"]
