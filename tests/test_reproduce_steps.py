"""`ptkit reproduce`'s rebuild: the base check, the build's command line, and the real build subprocess run from
a real git commit (tests/test_reproduce.py covers the manifest, the checkout and the lock). The commit's ptkit
is a tiny stand-in `python -m ptkit build` that prints what the real one prints (`[{"image", "image_id"}]`) and
drops what it built into the engine stand-in's inbox (tests/utils/engine_standin.py; no engine in unit tests:
tests/docker/test_reproduce.py rebuilds a real image with the real ptkit)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from ptkit.errors import PtkitError
from ptkit.repro import reproduce
from tests.utils.engine_standin import Engine

BASE_ID, OLD, PREVIOUS, NEW = ("sha256:" + c * 64 for c in "bcde")
LOCK = b"torch==2.9.0\n"
BUILD_PY = """import json, os, sys
from pathlib import Path
built = {"id": %r, "tags": %r, "argv": sys.argv[1:], "executable": sys.executable, "cwd": os.getcwd(),
         "pythonpath": os.environ["PYTHONPATH"]}
(Path(os.environ["ENGINE_INBOX"]) / "build.json").write_text(json.dumps(built))
print(json.dumps([{"image": "ptkit:cpu-runtime", "image_id": %r}]))
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          capture_output=True, text=True, check=True).stdout.strip()


def commit(tmp_path: Path, main_py: str) -> tuple[Path, str]:
    """A repository whose one commit holds `main_py` as src/ptkit/__main__.py, and the lock."""
    repo = tmp_path / "repo"
    (repo / "src" / "ptkit").mkdir(parents=True)
    (repo / "locks").mkdir()
    (repo / "locks" / "cpu.txt").write_bytes(LOCK)
    (repo / "src" / "ptkit" / "__init__.py").write_text("")
    (repo / "src" / "ptkit" / "__main__.py").write_text(main_py)
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "one")
    return repo, git(repo, "rev-parse", "HEAD")


def rec(revision: str = "0" * 40, lock: str | None = "cpu.txt") -> reproduce.Recorded:
    return reproduce.Recorded(revision, "cpu", "pytorch", "runtime", "ptkit/base:bookworm", BASE_ID, lock,
                              hashlib.sha256(LOCK).hexdigest())


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """The base, the image reproduced, and a previous rebuild of it; builds drop into the inbox."""
    (tmp_path / "inbox").mkdir()
    monkeypatch.setenv("ENGINE_INBOX", str(tmp_path / "inbox"))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")  # a wrong turn reaches no real engine
    made = Engine(tmp_path / "inbox")
    made.add("ptkit/base:bookworm", image_id=BASE_ID)
    made.add("ptkit:cpu", "ptkit:cpu-runtime", image_id=OLD)
    made.add("ptkit-reproduce/cpu:rebuild-runtime", image_id=PREVIOUS)
    return made


def tags(engine: Engine) -> dict[str, list[str]]:
    return {image.id: sorted(image.tags) for image in engine.stored.values()}


def test_the_rebuild_runs_the_commit_s_build_and_leaves_only_its_own_tag_on_the_rebuild(engine: Engine,
                                                                                        tmp_path: Path) -> None:
    built_tags = ["ptkit:cpu", "ptkit:cpu-runtime", "ptkit-reproduce/cpu:rebuild-runtime", "team/pytorch:cpu"]
    repo, head = commit(tmp_path, BUILD_PY % (NEW, built_tags, NEW))
    assert reproduce.rebuild(engine, rec(head), repo, ["--wheelhouse", "/w"]) == NEW
    [build] = engine.built
    tree = Path(build["cwd"])  # the checkout, in a temporary folder gone since
    assert (tree.name, tree.parent.name[:16], tree.exists()) == ("src", "ptkit-reproduce-", False)
    assert (build["executable"], build["pythonpath"]) == (sys.executable, f"{tree}/src")
    assert build["argv"] == ["build", "cpu", "--source", "pytorch", "--flavor", "runtime", "--base-image",
                             "ptkit/base:bookworm", "--matrix", f"{tree}/matrix.toml", "--no-cache", "--tag",
                             "ptkit-reproduce/cpu:rebuild", "--lock", f"{tree}/locks/cpu.txt", "--wheelhouse", "/w"]
    assert tags(engine) == {BASE_ID: ["ptkit/base:bookworm"], OLD: ["ptkit:cpu", "ptkit:cpu-runtime"],
                            PREVIOUS: [], NEW: ["ptkit-reproduce/cpu:rebuild-runtime"]}
    assert ("remove", "team/pytorch:cpu") in engine.calls
    assert [call for call in engine.calls if call[0] == "tag"] == [("tag", OLD, "ptkit", "cpu"),
                                                                   ("tag", OLD, "ptkit", "cpu-runtime")]


def test_an_identical_rebuild_leaves_the_image_s_tags_where_they_were(engine: Engine, tmp_path: Path) -> None:
    built_tags = ["ptkit:cpu", "ptkit:cpu-runtime", "ptkit-reproduce/cpu:rebuild"]
    repo, head = commit(tmp_path, BUILD_PY % (OLD, built_tags, OLD))
    assert reproduce.rebuild(engine, rec(head, lock=None), repo, []) == OLD
    assert "--lock" not in engine.built[0]["argv"]
    assert tags(engine)[OLD] == ["ptkit-reproduce/cpu:rebuild", "ptkit:cpu", "ptkit:cpu-runtime"]
    assert engine.calls == []


@pytest.mark.parametrize(("main_py", "message"), [
    ("import sys\nprint('[]')\nsys.exit(3)", "the rebuild from commit {} failed (exit 3; its log above)"),
    ("print('built it')", "the rebuild from commit {} printed no image id"),
    ("print('[]')", "the rebuild from commit {} printed no image id"),
    ("print('{\"image_id\": \"x\"}')", "the rebuild from commit {} printed no image id"),
    ("print('7')", "the rebuild from commit {} printed no image id"),
])
def test_a_failed_build_or_one_that_names_no_image_is_one_line(engine: Engine, tmp_path: Path, main_py: str,
                                                               message: str) -> None:
    repo, head = commit(tmp_path, main_py)
    with pytest.raises(PtkitError) as caught:
        reproduce.rebuild(engine, rec(head), repo, [])
    assert str(caught.value) == message.format(head[:12])


@pytest.mark.parametrize(("base", "found"), [(None, "is not here"), ("sha256:" + "f" * 64, "is sha256:" + "f" * 64)])
def test_the_base_must_be_the_very_image_built_from(tmp_path: Path, base: str | None, found: str) -> None:
    engine = Engine()
    if base:
        engine.add("ptkit/base:bookworm", image_id=base)
    with pytest.raises(PtkitError) as caught:
        reproduce.rebuild(engine, rec(), tmp_path / "no-repo", [])  # refused before any checkout
    assert str(caught.value) == (f"the base image ptkit/base:bookworm {found}; the image was built FROM {BASE_ID}: "
                                 "make or pull that base first")


def test_the_base_named_by_its_reference_passes(engine: Engine) -> None:
    assert reproduce.check_base(engine, rec()) is None


@pytest.mark.parametrize("lock", ["cpu.txt", None])
def test_the_build_command_line(tmp_path: Path, lock: str | None) -> None:
    (tmp_path / "locks").mkdir()
    (tmp_path / "locks" / "cpu.txt").write_bytes(LOCK)
    assert reproduce.rebuild_command(rec(lock=lock), tmp_path, ["--ca-bundle", "/ca.pem"]) == [
        sys.executable, "-m", "ptkit", "build", "cpu", "--source", "pytorch", "--flavor", "runtime", "--base-image",
        "ptkit/base:bookworm", "--matrix", f"{tmp_path}/matrix.toml", "--no-cache", "--tag",
        "ptkit-reproduce/cpu:rebuild", *(["--lock", f"{tmp_path}/locks/cpu.txt"] if lock else []),
        "--ca-bundle", "/ca.pem"]


def test_the_refusals_name_the_commit_and_the_lock(tmp_path: Path) -> None:
    with pytest.raises(PtkitError) as caught:
        reproduce.recorded({"build": {"variant": "cpu"}}, "img")  # no revision recorded at all
    assert str(caught.value) == "img was built from no git checkout (unknown): no commit to rebuild it from"
    tree = tmp_path / "tree"
    (tree / "locks").mkdir(parents=True)
    (tree / "locks" / "cpu.txt").write_bytes(b"torch==1.0\n")
    for recorded, message in ((rec("a" * 40, "cuda.txt"), f"the image was built with lock cuda.txt, which commit "
                               f"{'a' * 12} does not have"),
                              (rec("a" * 40), f"locks/cpu.txt at commit {'a' * 12} is not the lock the image was "
                               "built with (its sha256 differs)")):
        with pytest.raises(PtkitError) as caught:
            reproduce.lock_file(recorded, tree)
        assert str(caught.value) == message


def test_the_checkout_shares_the_repository_s_objects_and_a_missing_commit_quotes_git(tmp_path: Path) -> None:
    repo, head = commit(tmp_path, "")
    tree = reproduce.checkout(repo, head, tmp_path / "co")
    assert git(tree, "rev-parse", "HEAD") == head
    assert (tree / ".git" / "objects" / "info" / "alternates").read_text().strip() == str(repo / ".git" / "objects")
    gone = tmp_path / ("a-repository-moved-elsewhere-" * 4)  # git's words about it: more than 120 characters
    for where, revision, words in (
            (repo, "1" * 40, ["-C", str(tree), "checkout", "--quiet", "--detach", "1" * 40]),
            (gone, head, ["clone", "--quiet", "--no-checkout", "--shared", str(gone), str(tmp_path / "co3")])):
        real = subprocess.run(["git", *words], capture_output=True, text=True)  # what git itself says
        with pytest.raises(PtkitError) as caught:
            reproduce.checkout(where, revision, tmp_path / "co2")
        assert str(caught.value) == (f"commit {revision[:12]} is not in {where} (git: "
                                     f"{' '.join(real.stderr.split())[:120]}): fetch it, or pass --repo with a clone "
                                     "that has it")
    assert len(" ".join(real.stderr.split())) > 120
