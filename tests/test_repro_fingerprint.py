"""The environment fingerprint on real directory trees: blind to timestamps and creation order,
sensitive to every path, mode, content and symlink target."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ptkit.verify import fingerprint as fp


def make_tree(root: Path, order: list[str]) -> Path:
    """The same tree, its files created in the given order."""
    contents = {"a.py": b"print(1)\n", "pkg/b.so": b"\x7fELF" + bytes(range(256)), "pkg/c.txt": b"c"}
    for name in order:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(contents[name])
    (root / "pkg" / "b.so").chmod(0o755)
    (root / "link").symlink_to("pkg/c.txt")
    return root


def digest(root: Path, **kwargs: object) -> str:
    return str(fp.fingerprint([str(root)], exclude=[], **kwargs)["digest"])  # type: ignore[arg-type]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "env", ["a.py", "pkg/b.so", "pkg/c.txt"])


def test_same_tree_made_in_another_order_at_another_time_has_the_same_fingerprint(tree: Path, tmp_path: Path) -> None:
    other = make_tree(tmp_path / "other", ["pkg/c.txt", "pkg/b.so", "a.py"])
    for path in other.rglob("*"):
        os.utime(path, (1, 1), follow_symlinks=False)
    # Roots are part of each line (the paths), so compare the trees under the same name.
    first = digest(tree)
    shutil.rmtree(tree)
    other.rename(tree)
    assert digest(tree) == first


@pytest.mark.parametrize("change", ["content", "mode", "symlink", "new file", "new empty dir"])
def test_every_change_changes_the_fingerprint(tree: Path, change: str) -> None:
    before = digest(tree)
    if change == "content":
        (tree / "pkg" / "c.txt").write_bytes(b"C")
    elif change == "mode":
        (tree / "a.py").chmod(0o600)
    elif change == "symlink":
        (tree / "link").unlink()
        (tree / "link").symlink_to("a.py")
    elif change == "new file":
        (tree / "pkg" / "d.txt").write_bytes(b"")
    else:
        (tree / "pkg" / "__pycache__").mkdir()
    assert digest(tree) != before


def test_excluded_paths_and_missing_roots_do_not_count(tree: Path) -> None:
    before = fp.fingerprint([str(tree)], exclude=[str(tree / "pkg" / "c.txt")])
    (tree / "pkg" / "c.txt").write_bytes(b"changed")
    after = fp.fingerprint([str(tree), str(tree / "absent")], exclude=[str(tree / "pkg" / "c.txt")])
    assert before["digest"] == after["digest"] and after["roots"] == [str(tree)]


def test_hardlinks_are_content_not_structure(tree: Path) -> None:
    before = digest(tree)
    copy = tree / "pkg" / "c.txt"
    copy.unlink()
    os.link(tree / "pkg" / "b.so", copy)  # same inode as b.so now: content differs from before
    (tree / "pkg" / "b.so").chmod(0o755)
    assert digest(tree) != before
    copy.unlink()
    copy.write_bytes(b"c")
    assert digest(tree) == before


def test_globbed_roots_are_expanded_sorted(tmp_path: Path) -> None:
    for name in ("python3.12", "python3.11"):
        (tmp_path / name).mkdir()
    assert fp.expand_roots([str(tmp_path / "python3*")]) == [str(tmp_path / "python3.11"), str(tmp_path / "python3.12")]


def test_command_line_as_run_in_images(tree: Path) -> None:
    """The module's source through `python -B -c`, as `ptkit fingerprint` runs it in any image."""
    source = Path(fp.__file__).read_text()
    proc = subprocess.run([sys.executable, "-B", "-c", source, str(tree), "--list"],
                          capture_output=True, text=True, check=True)
    *listing, last = proc.stdout.strip().splitlines()
    assert last == digest(tree)
    so = hashlib.sha256((tree / "pkg" / "b.so").read_bytes()).hexdigest()
    assert f"l pkg/c.txt 777 {tree}/link" in listing and f"f {so} 755 {tree}/pkg/b.so" in listing
