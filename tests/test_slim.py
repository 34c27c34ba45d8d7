"""docker/slim.py on the file lists of real torch wheels (every one this host has: the wheelhouses scripts/main.sh
makes, /opt/wheels, the local index): what it moves is exactly torch/include, listed with each file's hash; the
devel flavor, which copies it back, has every listed file (`--check present`) and the runtime flavor none
(`--check absent`); whatever the torch keeps elsewhere (cpp_prefix.h of torch 2.4-2.7) stays in both."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.utils.ptkit_cli import ROOT

SLIM = ROOT / "docker" / "slim.py"
WHEELS = sorted({p.name: p for pattern in (".cache/wheelhouse/*/torch-*.whl", "/opt/wheels/torch-*.whl",
                                           "/opt/pypi*/files/torch-*.whl")
                 for p in (Path(pattern).parent.glob(Path(pattern).name) if pattern.startswith("/")
                           else ROOT.glob(pattern))}.items())


def slim(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SLIM), *map(str, args)], capture_output=True, text=True, timeout=300)


def venv_from(wheel: Path, venv: Path) -> tuple[Path, list[str]]:
    """A venv holding the wheel's torch files (empty: slim's rules read paths, and hash whatever is there)."""
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    names = [n for n in zipfile.ZipFile(wheel).namelist() if n.startswith("torch/") and not n.endswith("/")]
    for name in names:
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).touch()
    return site, names


@pytest.mark.skipif(not WHEELS, reason="no torch wheel on this host (scripts/main.sh makes wheelhouses)")
@pytest.mark.parametrize("wheel", [w for _, w in WHEELS], ids=[n for n, _ in WHEELS])
def test_slim_moves_exactly_torch_include_and_the_devel_flavor_gets_every_file_back(wheel, tmp_path):
    venv, devel = tmp_path / "venv", tmp_path / "devel"
    site, names = venv_from(wheel, venv)
    proc = slim(venv, devel)
    assert proc.returncode == 0, proc.stderr
    listing = devel / "etc" / "ptkit" / "slim-moved.sha256"
    moved = [line.split("  ", 1)[1] for line in listing.read_text().splitlines()]
    assert sorted(moved) == sorted(str(site / n) for n in names if n.startswith("torch/include/"))
    kept = {str(p.relative_to(site)) for p in site.rglob("*") if p.is_file()}
    build_only = ("torch/include/", "torch/share/cmake/", "torch/test/")
    assert kept == {n for n in names if not n.startswith(build_only) and not n.endswith(".a")}
    prefix = [n for n in names if n.endswith("/cpp_prefix.h")]  # inductor's C++ prelude, where this torch keeps it
    assert len(prefix) == 1 and (prefix[0] in kept) == (not prefix[0].startswith("torch/include/"))
    # runtime: none of the moved files; devel: all, once its build copies DEVEL_ROOT back over /
    assert slim("--check", "absent", listing).returncode == 0
    missing = slim("--check", "present", listing)
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1
    assert f"{len(moved)} of the {len(moved)} files slim moved are missing" in missing.stderr
    shutil.copytree(devel / str(site).lstrip("/"), site, dirs_exist_ok=True)
    assert slim("--check", "present", listing).returncode == 0
    assert (site / prefix[0]).is_file()
    present = slim("--check", "absent", listing)
    assert present.returncode == 1 and f"{len(moved)} of the {len(moved)} files slim moved are still" in present.stderr


def test_the_checks_see_one_changed_or_one_leftover_file(tmp_path):
    kept = tmp_path / "venv" / "torch" / "include" / "a.h"
    kept.parent.mkdir(parents=True)
    kept.write_text("int a;\n")
    listing = tmp_path / "list"
    digest = subprocess.run(["sha256sum", str(kept)], capture_output=True, text=True, check=True).stdout
    listing.write_text(digest + f"{'0' * 64}  {tmp_path / 'gone.h'}\n")  # sha256sum's own format is read
    assert "1 of the 2 files slim moved are missing or changed" in slim("--check", "present", listing).stderr
    assert f"still in this image (the runtime flavor must have none), e.g. {kept}" in slim(
        "--check", "absent", listing).stderr
    kept.write_text("int b;\n")
    assert f"e.g. {kept}" in slim("--check", "present", listing).stderr  # changed bytes count as missing


def test_a_bad_check_mode_is_one_line_and_exit_2(tmp_path):
    proc = slim("--check", "sometimes", tmp_path / "list")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "usage: slim.py --check" in proc.stderr
