"""Shared fixtures. Docker-backed fixtures follow jupyter/docker-stacks: a real engine through the
Docker SDK, containers removed after each use, images the suite built removed at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PTKIT = [sys.executable, "-m", "ptkit"]
# Lines that prove what the Docker tests really did (built images, verifier runs in containers);
# printed in pytest's terminal summary so that a CI log shows them, not only dots.
EVIDENCE: list[str] = []


def record_evidence(output: str) -> None:
    def telling(line: str) -> bool:
        return line.startswith(("built sha256:", "report: ", "pushed ")) or " - torch " in line

    EVIDENCE.extend(line.strip() for line in output.splitlines() if telling(line))


def pytest_terminal_summary(terminalreporter) -> None:
    if EVIDENCE:
        terminalreporter.section("ptkit: images built and verified in containers during this run")
        for line in EVIDENCE:
            terminalreporter.write_line(line)


def run_ptkit(*args: str, env: dict[str, str] | None = None, timeout: int = 900,
              check_json: bool = False) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*PTKIT, *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout,
                          env={**os.environ, **(env or {})})
    if check_json:
        proc.json = json.loads(proc.stdout)  # type: ignore[attr-defined]
    return proc


@pytest.fixture(scope="session")
def torch():
    return pytest.importorskip("torch")
