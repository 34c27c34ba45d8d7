"""scripts/main.sh's usage errors: one line on stderr and exit 2, before it sets the host up or builds anything.
(What it does with a row, built or refused in one line, is the matrix run's evidence: docs/evidence/matrix/RUN.md.)"""

from __future__ import annotations

import subprocess

import pytest

from tests.utils.ptkit_cli import ROOT


@pytest.mark.parametrize(("args", "says"), [
    (["--no-such-option"], "unknown option --no-such-option"),
    (["cpu", "--source"], "--source needs a NAME"),
    (["cpu", "cuda124"], "one VARIANT only (got cpu and cuda124)"),
    (["cpu", "--source", "pypi", "--platform"], "--platform needs a platform, e.g. linux/arm64"),
])
def test_a_usage_error_is_one_line_and_exit_2_before_any_setup(args, says, tmp_path):
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "main.sh"), *args], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(f"main.sh: {says} (usage: "), proc.stderr
    assert "host-setup" not in proc.stderr and not list(tmp_path.iterdir())
