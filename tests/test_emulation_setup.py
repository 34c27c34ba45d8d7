"""scripts/emulation-setup.sh (issue 21): what it does on each kind of host, with every system command it calls
stubbed in a private folder (nothing is installed, mounted or registered here); each refusal is one line, exit 1."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.utils.ptkit_cli import ROOT

SCRIPT = ROOT / "scripts" / "emulation-setup.sh"
MACHINE = "ptkit-test-machine"  # no /usr/bin/qemu-<it>-static exists: qemu-user-static counts as missing


def run(tmp_path: Path, arch_test: str, uid: int = 0, mounted: bool = True, mount_ok: bool = True,
        ) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """The script with stubs: arch-test runs `arch_test` (a shell snippet), the others log their arguments."""
    stubs, calls = tmp_path / "stubs", tmp_path / "calls"
    stubs.mkdir()
    bodies = {"arch-test": arch_test, "id": f"echo {uid}", "mountpoint": "exit 0" if mounted else "exit 1",
              "mount": "exit 0" if mount_ok else "exit 32", "apt-get": "exit 0", "update-binfmts": "exit 0"}
    for name, body in bodies.items():
        path = stubs / name
        path.write_text(f'#!/bin/sh\necho "{name} $*" >> "{calls}"\n{body}\n')
        path.chmod(0o755)
    env = {**os.environ, "PATH": f"{stubs}:/usr/bin:/bin"}
    proc = subprocess.run(["bash", str(SCRIPT), "arm64", MACHINE], capture_output=True, text=True, env=env)
    return proc, calls.read_text().splitlines() if calls.exists() else []


def test_a_host_that_runs_the_binaries_is_left_as_it_is(tmp_path):
    proc, calls = run(tmp_path, "exit 0")
    assert proc.returncode == 0 and proc.stderr == "emulation-setup: arm64 binaries run here\n"
    assert calls == ["arch-test arm64"]


def test_it_installs_mounts_and_registers_then_checks_again(tmp_path):
    flag = tmp_path / "registered"
    proc, calls = run(tmp_path, f'[ -e "{flag}" ] || {{ touch "{flag}"; exit 1; }}', mounted=False)
    assert proc.returncode == 0, proc.stderr
    assert "apt-get install -y -qq --no-install-recommends qemu-user-static" in calls
    assert "mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc" in calls
    assert calls.index(f"update-binfmts --enable qemu-{MACHINE}") < len(calls) - 1  # arch-test runs after it


@pytest.mark.parametrize(("uid", "mount_ok", "arch_test", "why"), [
    (1000, True, "exit 1", "run as root to install qemu-user-static"),
    (0, False, "exit 1", "binfmt_misc cannot be mounted at /proc/sys/fs/binfmt_misc"),
    (0, True, "exit 1", f"arch-test arm64 still fails with qemu-{MACHINE} registered"),
])
def test_a_host_that_cannot_says_why_in_one_line(tmp_path, uid, mount_ok, arch_test, why):
    proc, calls = run(tmp_path, arch_test, uid=uid, mounted=False, mount_ok=mount_ok)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(f"emulation-setup: this host cannot run arm64 binaries: {why}")
    assert uid == 0 or not [c for c in calls if c.startswith("apt-get")]  # nothing installed without root
