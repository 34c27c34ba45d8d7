"""Options, markers and fixtures for every test; helpers live in tests/utils (tests import those,
never a conftest). The Docker fixtures are in tests/docker/conftest.py.

    pytest tests/docker --image ptkit:cuda130     # container tests against an image built elsewhere
    pytest tests/docker --variant cuda130         # build that variant here, then test it
"""

from __future__ import annotations

import pytest

from ptkit.matrix import UnknownVariant
from tests.utils import matrix_facts
from tests.utils.ptkit_cli import EVIDENCE


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


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if EVIDENCE:
        terminalreporter.section("ptkit: images built and verified in containers during this run")
        for line in EVIDENCE:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def torch():
    return pytest.importorskip("torch")
