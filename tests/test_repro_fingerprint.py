"""The environment fingerprint on real directory trees: blind to timestamps and creation order,
sensitive to every path, mode, content and symlink target."""

from __future__ import annotations

import hashlib
import json
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


def test_the_digest_is_the_documented_algorithm_over_every_kind_of_entry(tmp_path: Path) -> None:
    """Recomputed here from the module's description: a header line, then per entry, depth first and sorted
    bytewise, `path NUL kind NUL octal-mode NUL payload` and a newline."""
    root = tmp_path / "env"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "Z.py").write_bytes(b"z" * ((1 << 20) + 5))  # more than one read block
    (root / "a.txt").write_text("a")
    (root / "link").symlink_to("a.txt")
    os.mkfifo(root / "pipe")
    (root / "skip.json").write_text("the manifest")
    for path, mode in ((root, 0o755), (root / "sub", 0o750), (root / "sub" / "Z.py", 0o644), (root / "a.txt", 0o600)):
        path.chmod(mode)
    (root / "pipe").chmod(0o640)
    sha = {name: hashlib.sha256((root / name).read_bytes()).hexdigest() for name in ("a.txt", "sub/Z.py")}
    entries = [(root, "d", 0o755, ""), (root / "a.txt", "f", 0o600, sha["a.txt"]),
               (root / "link", "l", os.lstat(root / "link").st_mode & 0o7777, "a.txt"), (root / "pipe", "o", 0o640, ""),
               (root / "sub", "d", 0o750, ""), (root / "sub" / "Z.py", "f", 0o644, sha["sub/Z.py"])]
    expected = hashlib.sha256(b"ptkit.fingerprint/1\n")
    for path, kind, mode, payload in entries:
        expected.update(b"\0".join([os.fsencode(path), kind.encode(), b"%o" % mode, payload.encode()]) + b"\n")
    listing: list[str] = []
    result = fp.fingerprint([str(root)], exclude=[str(root / "skip.json")], listing=listing)
    assert result == {"algorithm": "ptkit.fingerprint/1", "digest": "sha256:" + expected.hexdigest(),
                      "roots": [str(root)], "exclude": [str(root / "skip.json")], "files": 6}
    assert listing == [f"{kind} {payload or '-'} {mode:o} {path}" for path, kind, mode, payload in entries]


def test_the_manifest_is_excluded_by_default_and_only_by_default(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    assert fp.fingerprint([str(tmp_path)])["exclude"] == [fp.MANIFEST]
    assert fp.fingerprint([str(tmp_path)], exclude=[])["exclude"] == []


def test_an_excluded_path_skips_only_itself(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        (tmp_path / name).write_text(name)
    walked = [e.path for e in fp.walk([str(tmp_path)], [str(tmp_path / "a")])]
    assert walked == [str(tmp_path), str(tmp_path / "b"), str(tmp_path / "c")]


def test_names_sort_by_their_bytes_whatever_their_encoding(tmp_path: Path) -> None:
    # b"\xff" (not UTF-8: listed as "\udcff") sorts after U+E000 (b"\xee\x80\x80") as bytes, before it as text
    for name in (b"\xff", "\ue000".encode(), b"B", b"a"):
        with open(os.fsencode(tmp_path) + b"/" + name, "wb"):
            pass
    names = [os.fsencode(Path(e.path).name) for e in fp.walk([str(tmp_path)])][1:]
    assert names == [b"B", b"a", "\ue000".encode(), b"\xff"]


def test_the_command_prints_the_digest_the_listing_or_the_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]):


    (tmp_path / "a").write_text("a")
    (tmp_path / "b").write_text("b")
    result = fp.fingerprint([str(tmp_path)], exclude=[str(tmp_path / "b")])
    assert fp.main([str(tmp_path), "--exclude", str(tmp_path / "b")]) == 0
    assert capsys.readouterr().out == result["digest"] + "\n"
    assert fp.main([str(tmp_path), "--exclude", str(tmp_path / "b"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == result
    listing: list[str] = []
    fp.fingerprint([str(tmp_path)], listing=listing)
    assert fp.main([str(tmp_path), "--list"]) == 0
    assert capsys.readouterr().out.splitlines() == [*listing, fp.fingerprint([str(tmp_path)])["digest"]]


def test_the_command_names_a_file_it_cannot_read_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert fp.main(["/proc/self/mem"]) == 1  # a regular file whose read fails (EIO), even for root
    out, err = capsys.readouterr()
    assert out == "" and err == "ptkit fingerprint: /proc/self/mem: Input/output error\n"
