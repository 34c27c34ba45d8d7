"""ptkit build's progress: a line per finished step with its time, the Dockerfile's notes under their step."""

from __future__ import annotations

import re

from ptkit.progress import Progress


def test_each_step_prints_when_it_ends_with_its_notes_under_it(capsys):
    with Progress("building x") as progress:
        progress.line("Step 1/2 : RUN install\n\x1b[91mptkit-note: uv installed the wheels in 1234 ms\n\x1b[0m")
        progress.line(" ---> 5f3c\nStep 2/2 : LABEL a=b\n")
        progress.done()
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "building x"
    assert re.fullmatch(r"  \[1/2\] RUN install  \(\d+\.\d s\)", lines[1]), lines
    assert lines[2] == "      uv installed the wheels in 1234 ms"
    assert re.fullmatch(r"  \[2/2\] LABEL a=b  \(\d+\.\d s\)", lines[3]), lines
    assert len(lines) == 4  # other log lines stay in the tail, for a failure's message


def test_a_failure_names_the_builds_own_line_and_keeps_the_tail():
    progress = Progress("building x")
    for text in ("Step 1/1 : RUN check", "ptkit: torch 2.1 installed, the matrix pins 2.2", "exit 1"):
        progress.line(text)
    message = progress.failure("returned a non-zero code: 1")
    assert message.startswith("image build failed: torch 2.1 installed, the matrix pins 2.2 (returned a non-zero")
    assert message.endswith("  | exit 1")
