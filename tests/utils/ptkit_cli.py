"""The ptkit command as a user runs it (a real subprocess), and the evidence its output leaves in the log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PTKIT = [sys.executable, "-m", "ptkit"]
# Lines that prove what the Docker tests really did (built images, verifier runs in containers);
# printed in pytest's terminal summary (tests/conftest.py) so that a CI log shows them, not only dots.
EVIDENCE: list[str] = []


def record_evidence(output: str) -> None:
    def telling(line: str) -> bool:
        return line.startswith(("built sha256:", "report: ", "pushed ")) or " - torch " in line

    EVIDENCE.extend(line.strip() for line in output.splitlines() if telling(line))


def run_ptkit(*args: str, env: dict[str, str] | None = None, timeout: int = 900,
              cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """`python -m ptkit ARGS` with this interpreter; `env` is added to the current environment."""
    return subprocess.run([*PTKIT, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          env={**os.environ, **(env or {})})


def as_in_a_terminal() -> None:
    """Ctrl-C's default, as a terminal gives it: a test run started in the background by a non-interactive shell
    (`cmd &`, nohup, some CI runners) inherits SIGINT ignored, and Python then never raises KeyboardInterrupt."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_ptkit(*args: str) -> subprocess.Popen[str]:
    """The same command started in the background, for tests that interrupt it."""
    return subprocess.Popen([*PTKIT, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=as_in_a_terminal)
