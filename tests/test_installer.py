"""uv or pip in the builder stage: the option's plumbing into the build args, the refusal of a wheelhouse
without uv, and docker/Dockerfile's install steps themselves, run here by /bin/sh with their paths moved
under a temporary folder (real pip, real uv, real hash checks; no Docker)."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ptkit import render, wheels
from ptkit.build import DOCKER_DIR
from ptkit.errors import PtkitError
from ptkit.images import DEFAULT_PLATFORM, Image, Provenance
from ptkit.inputs import INSTALLERS, PYPI_SIMPLE, UV_VERSION, BuildInputs, check_inputs
from tests.utils import matrix_facts
from tests.utils.ptkit_cli import run_ptkit

CPU = matrix_facts.default_variant()
PROV = Provenance("0123456789abcdef", dt.datetime(2026, 11, 27, tzinfo=dt.timezone.utc))
UV_REQUIREMENT = DEFAULT_PLATFORM.uv_requirement
NOWHERE = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
SMALL = "typing-extensions==4.16.0"  # a small pure-Python wheel: the install steps in seconds


@pytest.mark.parametrize("installer", INSTALLERS)
def test_the_installer_reaches_the_build_args_with_uv_pinned_once(installer):
    args = render.plan(Image(CPU, PROV), BuildInputs(installer=installer)).build_args()
    assert args["INSTALLER"] == installer
    assert args["INSTALLER_UV"] == UV_REQUIREMENT == f"uv=={UV_VERSION} --hash=sha256:{UV_REQUIREMENT[-64:]}"
    assert args["PYPI_URL"] == PYPI_SIMPLE


def test_uv_is_the_default_and_every_build_arg_is_declared_in_the_dockerfile():
    args = render.plan(Image(CPU, PROV), BuildInputs()).build_args()
    assert args["INSTALLER"] == "uv"
    declared = set(re.findall(r"^ARG (\w+)", (DOCKER_DIR / "Dockerfile").read_text(), re.M))
    assert {"INSTALLER", "INSTALLER_UV", "PYPI_URL"} <= declared


def test_a_wheelhouse_without_uv_is_refused_for_uv_and_fine_for_pip(tmp_path):
    (tmp_path / "torch-1-py3-none-any.whl").write_text("")
    with pytest.raises(PtkitError, match=f"no uv {UV_VERSION} wheel for --installer uv.*--installer pip"):
        check_inputs(BuildInputs(wheelhouse=tmp_path))
    check_inputs(BuildInputs(wheelhouse=tmp_path, installer="pip"))
    (tmp_path / f"uv-{UV_VERSION}-py3-none-manylinux_2_17_x86_64.whl").write_text("")
    check_inputs(BuildInputs(wheelhouse=tmp_path))
    with pytest.raises(PtkitError, match="--installer conda: not one of uv, pip"):
        check_inputs(BuildInputs(installer="conda"))


def test_the_cli_option_is_parsed_and_checked_before_any_docker_call(tmp_path):
    (tmp_path / "torch-1-py3-none-any.whl").write_text("")
    uv = run_ptkit("build", CPU.name, "--wheelhouse", str(tmp_path), env=NOWHERE)
    assert uv.returncode == 1 and "--installer pip" in uv.stderr and len(uv.stderr.splitlines()) == 1
    pip = run_ptkit("build", CPU.name, "--wheelhouse", str(tmp_path), "--installer", "pip", env=NOWHERE)
    assert pip.returncode == 1 and "no Docker daemon answers" in pip.stderr  # past the inputs, at the daemon
    bad = run_ptkit("check", CPU.name, "--installer", "conda")
    assert bad.returncode == 2 and "invalid choice: 'conda'" in bad.stderr


# --- the Dockerfile's install steps, run natively --------------------------------------------------

def install_steps() -> list[str]:
    """The builder stage's RUN lines that read INSTALLER (getting uv, installing the wheels), joined as the
    builder joins continuation lines."""
    text = (DOCKER_DIR / "Dockerfile").read_text()
    runs = [r.replace("\\\n", "") for r in re.findall(r"^RUN (.*?[^\\])\n", text, re.S | re.M)]
    return [r for r in runs if "INSTALLER" in r]


def run_steps(root: Path, wheelhouse: Path, lock: str, installer: str) -> subprocess.CompletedProcess[str]:
    """/build and /opt under `root`; a fresh venv as the builder makes it; no host pip configuration."""
    (root / "build" / "ca").mkdir(parents=True)
    (root / "build" / "wheelhouse").symlink_to(wheelhouse)
    (root / "build" / "requirements.lock").write_text(lock)
    subprocess.run([sys.executable, "-m", "venv", str(root / "opt" / "venv")], check=True)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}, "PIP_CONFIG_FILE": os.devnull,
           "INSTALLER": installer, "INSTALLER_UV": UV_REQUIREMENT, "PYPI_URL": PYPI_SIMPLE, "INDEX_URL": PYPI_SIMPLE}
    steps = install_steps()
    assert len(steps) == 2, "expected the uv step and the install step"
    for step in steps:
        script = step.replace("/build/", f"{root}/build/").replace("/opt/", f"{root}/opt/")
        proc = subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, text=True, timeout=300)
        if proc.returncode:
            break
    return proc


@pytest.fixture(scope="module")
def small_wheelhouse(tmp_path_factory) -> tuple[Path, str]:
    """A wheelhouse made by ptkit's own functions: one wheel, its lock, and the pinned uv wheel."""
    dest = tmp_path_factory.mktemp("wheelhouse")
    try:
        lock = wheels.wheelhouse(CPU, [SMALL], dest)
    except PtkitError as exc:
        pytest.skip(f"no package index reachable from this host: {exc}")
    assert wheels.add_uv(CPU, dest), "the pinned uv wheel could not be downloaded"
    assert "uv==" not in lock.read_text()  # uv stays outside the lock: it never reaches an image
    return dest, lock.read_text()


def test_uv_installs_the_lock_from_the_wheelhouse_and_stays_out_of_the_venv(small_wheelhouse, tmp_path):
    wheelhouse, lock = small_wheelhouse
    proc = run_steps(tmp_path, wheelhouse, lock, "uv")
    assert proc.returncode == 0, proc.stderr
    site = next((tmp_path / "opt" / "venv" / "lib").glob("python3*/site-packages"))
    info = next(site.glob("typing_extensions-4.16.0.dist-info"))
    assert (info / "INSTALLER").read_text().strip() == "uv"
    assert (tmp_path / "opt" / "uv" / "bin" / "uv").is_file()  # the builder's own, outside /opt/venv
    assert not list((tmp_path / "opt" / "venv").rglob("uv")) and not (tmp_path / "opt" / "venv" / ".lock").exists()


def test_uv_refuses_a_wheel_whose_hash_differs_from_the_lock(small_wheelhouse, tmp_path):
    wheelhouse, lock = small_wheelhouse
    digest = re.search(r"typing-extensions==\S+ --hash=sha256:(\w+)", lock).group(1)
    tampered = lock.replace(digest, ("0" if digest[0] != "0" else "1") + digest[1:])
    proc = run_steps(tmp_path, wheelhouse, tampered, "uv")
    assert proc.returncode != 0 and "Hash mismatch" in proc.stderr


def test_without_uv_in_the_wheelhouse_the_build_step_fails_naming_the_fix(small_wheelhouse, tmp_path):
    wheelhouse, lock = small_wheelhouse
    without = tmp_path / "wheelhouse"
    without.mkdir()
    for wheel in wheelhouse.glob("*.whl"):
        if not wheel.name.startswith("uv-"):
            (without / wheel.name).symlink_to(wheel)
    proc = run_steps(tmp_path / "root", without, lock, "uv")
    assert proc.returncode == 1
    assert f"ptkit: cannot install uv=={UV_VERSION} for --installer uv: build with --installer pip" in proc.stdout
    assert not list((tmp_path / "root" / "opt" / "venv").rglob("typing_extensions-*.dist-info"))  # not installed


def test_pip_stays_the_fallback_and_needs_no_uv(small_wheelhouse, tmp_path):
    wheelhouse, lock = small_wheelhouse
    proc = run_steps(tmp_path, wheelhouse, lock, "pip")
    assert proc.returncode == 0, proc.stderr
    info = next((tmp_path / "opt" / "venv").rglob("typing_extensions-4.16.0.dist-info"))
    assert (info / "INSTALLER").read_text().strip() == "pip" and not (tmp_path / "opt" / "uv").exists()
