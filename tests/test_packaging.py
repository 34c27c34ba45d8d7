"""ptkit installed as a tool: a wheel of it, in a fresh venv outside the repository, finds its
Dockerfiles and default matrix as package data and takes a team's own matrix file."""

from __future__ import annotations

import os
import subprocess
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_tool(venv: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PTKIT_MATRIX", "PYTHONPATH")}
    return subprocess.run([str(venv / "bin" / "ptkit"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env=env)


def test_the_wheel_ships_the_dockerfiles_and_the_matrix(ptkit_wheel):
    names = set(zipfile.ZipFile(ptkit_wheel).namelist())
    for path in ("docker/Dockerfile", "docker/Dockerfile.team", "docker/check_install.py", "docker/slim.py"):
        assert f"ptkit/data/{path}" in names, path
        shipped = zipfile.ZipFile(ptkit_wheel).read(f"ptkit/data/{path}")
        assert shipped == (ROOT / path).read_bytes(), f"{path} in the wheel differs from the repository's"
    assert zipfile.ZipFile(ptkit_wheel).read("ptkit/data/matrix.toml") == (ROOT / "matrix.toml").read_bytes()


def test_installed_tool_lists_and_renders_the_default_matrix_in_an_empty_dir(installed, tmp_path):
    proc = run_tool(installed, tmp_path, "matrix")
    assert proc.returncode == 0, proc.stderr
    from ptkit import matrix

    for name in matrix.load().variants:
        assert f"\n{name} " in proc.stdout, name
    proc = run_tool(installed, tmp_path, "render")
    assert proc.returncode == 0, proc.stderr
    rendered = sorted(p.name for p in (tmp_path / "conda").iterdir())
    assert rendered == sorted(p.name for p in (ROOT / "conda").glob("*.yml"))
    assert (tmp_path / "conda" / "cpu.yml").read_text() == (ROOT / "conda" / "cpu.yml").read_text()


def test_installed_tool_takes_a_team_matrix(installed, tmp_path):
    from ptkit import matrix

    cpu = matrix.load().get("cpu")
    team = tmp_path / "team.toml"
    team.write_text(f'schema = 1\n[variants.teamcpu]\ntorch = "{cpu.torch}"\ntorchvision = ""\ntorchaudio = ""\n'
                    f'cuda = ""\nindex_url = "{cpu.index_url}"\npython = "{cpu.python}"\n'
                    f'base_image = "{cpu.base_image}"\n')
    proc = run_tool(installed, tmp_path, "matrix", "--matrix", str(team), "--json")
    assert proc.returncode == 0, proc.stderr
    assert '"teamcpu"' in proc.stdout
    proc = run_tool(installed, tmp_path, "render", "--matrix", str(team), "--out", "envs")
    assert proc.returncode == 0, proc.stderr
    assert f"torch=={cpu.torch}" in (tmp_path / "envs" / "teamcpu.yml").read_text()
