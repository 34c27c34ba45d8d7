"""ptkit.emulator (issue 21): the CPU model an arm64 image is run on here. Against the real qemu binaries this
host has (bookworm's qemu-user-static 7.2, trixie's 10.0 from scripts/qemu-trixie.sh), each registered in a private
binfmt_misc folder written here (the kernel's own is never touched)."""

from __future__ import annotations

import platform as host
from pathlib import Path

import pytest

from ptkit import emulator
from ptkit.platforms import PLATFORMS

ARM = PLATFORMS["linux/arm64"]
BOOKWORM = Path("/usr/bin/qemu-aarch64-static")  # Debian 12's qemu-user-static
TRIXIE = Path("/usr/local/lib/ptkit-qemu/qemu-aarch64")  # scripts/qemu-trixie.sh's
pytestmark = pytest.mark.skipif(host.machine() == ARM.machine, reason="an arm64 host runs arm64 images natively")


def registered(tmp_path: Path, interpreter: Path) -> Path:
    """A binfmt_misc folder whose qemu-aarch64 entry names `interpreter`, as the kernel lists one."""
    if not interpreter.exists():
        pytest.skip(f"{interpreter} is not installed (scripts/emulation-setup.sh, scripts/qemu-trixie.sh)")
    folder = tmp_path / "binfmt_misc"
    folder.mkdir()
    (folder / "qemu-aarch64").write_text(f"enabled\ninterpreter {interpreter}\nflags: F\noffset 0\n")
    return folder


def test_qemu_10_runs_an_arm64_image_on_a_grace_like_cpu(tmp_path, capsys):
    folder = registered(tmp_path, TRIXIE)
    assert {"neoverse-n2", "neoverse-v1", "max"} <= emulator.models("aarch64", folder)
    assert emulator.environment(ARM, folder) == {"QEMU_CPU": "neoverse-n2"}
    assert capsys.readouterr().err == ""


def test_qemu_7_2_lacks_the_model_so_its_default_is_kept_and_said(tmp_path, capsys):
    folder = registered(tmp_path, BOOKWORM)
    found = emulator.models("aarch64", folder)
    assert {"max", "neoverse-n1"} <= found and "neoverse-n2" not in found
    assert emulator.environment(ARM, folder) == {}
    assert "has no CPU model neoverse-n2: the image runs on qemu's default CPU" in capsys.readouterr().err


def test_no_emulator_registered_and_a_native_image_get_nothing(tmp_path, capsys):
    assert emulator.models("aarch64", tmp_path) == set()
    native = next(p for p in PLATFORMS.values() if p.machine == host.machine())
    assert emulator.environment(native, tmp_path) == {} and capsys.readouterr().err == ""
