"""Options, markers and fixtures for every test; helpers live in tests/utils (tests import those,
never a conftest). The Docker fixtures are in tests/docker/conftest.py.

    pytest tests/docker --image ptkit:cuda130     # container tests against an image built elsewhere
    pytest tests/docker --variant cuda130         # build that variant here, then test it
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ptkit.matrix import UnknownVariant
from tests.utils import matrix_facts
from tests.utils.ptkit_cli import EVIDENCE, ROOT


def pytest_addoption(parser: pytest.Parser) -> None:
    # Here, in the root conftest, so that every invocation (`pytest`, `pytest tests/docker`) knows them.
    group = parser.getgroup("ptkit", "ptkit Docker tests")
    group.addoption("--image", metavar="IMAGE",
                    help="run the container tests against IMAGE (built elsewhere, e.g. ptkit:cuda130) without "
                         "building; the tests that must build are skipped")
    group.addoption("--variant", metavar="NAME",
                    help="the matrix variant under test: the one built (default: the matrix's `latest`), or the "
                         "one --image holds (default: its ptkit.variant label)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "builds: builds an image here; skipped when --image is given")
    config.addinivalue_line("markers", "runs_last: runs after every other test of the session")
    if name := config.getoption("variant"):
        try:
            matrix_facts.variant(name)
        except UnknownVariant as exc:
            raise pytest.UsageError(f"--variant: {exc}") from None


def free_disk(when: str) -> str:
    """Free disk where the checkout and the engine's layers live: a CUDA row's build needs a lot at its peak
    (tests/utils/builds.CUDA_ROW_PEAK_GB: context, wheelhouse and venv layers, the engine's export and load),
    so a machine's own shortage reads here, not only as 'no space left on device' minutes into a build."""
    places = {"checkout": ROOT, "docker data": Path("/var/lib/docker")}
    found = [f"{what} {shutil.disk_usage(path).free / 1e9:.1f} GB" for what, path in places.items() if path.exists()]
    return f"ptkit: free disk {when}: " + ", ".join(found)


def pytest_report_header(config: pytest.Config) -> str:
    return free_disk("at start")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.write_line(free_disk("at the end"))
    if EVIDENCE:
        terminalreporter.section("ptkit: images built and verified in containers during this run")
        for line in EVIDENCE:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def torch():
    return pytest.importorskip("torch")


# ptkit as a user installs it: a wheel built from this checkout, in fresh venvs outside the repository.
@pytest.fixture(scope="session")
def ptkit_wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(ROOT),
                    "-w", str(out)], check=True, capture_output=True, timeout=300)
    return next(out.glob("ptkit-*.whl"))


@pytest.fixture(scope="session")
def installed(ptkit_wheel, tmp_path_factory) -> Path:
    """A venv with nothing but the wheel (the matrix and render steps need only the standard library)."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run([venv / "bin" / "pip", "install", "-q", "--no-deps", str(ptkit_wheel)], check=True,
                   capture_output=True, timeout=300)
    return venv


@pytest.fixture(scope="session")
def installed_with_deps(ptkit_wheel, tmp_path_factory) -> Path:
    """A venv with the wheel and its host dependencies (the Docker SDK, rich, ...) from the package index."""
    venv = tmp_path_factory.mktemp("venv-host")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run([venv / "bin" / "pip", "install", "-q", f"ptkit[host] @ {ptkit_wheel.as_uri()}"], check=True,
                   capture_output=True, timeout=900)
    return venv
