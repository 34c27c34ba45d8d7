"""The emulator an image of another machine runs under here (qemu user mode through binfmt_misc, issue 21), and
the CPU model it is asked to present: a container's QEMU_CPU, which qemu-user reads from the environment of the
program it runs. A platform names its model (platforms.Platform.qemu_cpu: a CPU like the nodes it targets); the
host's qemu must know it (bookworm's 7.2 has no neoverse-n2, trixie's 10.0 has), else qemu's default is left and
stderr says so.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .platforms import Platform, native

BINFMT = Path("/proc/sys/fs/binfmt_misc")


def models(machine: str, binfmt: Path = BINFMT) -> set[str]:
    """The CPU models of the qemu binfmt_misc runs for `machine` (its `-cpu help`); empty where none answers."""
    try:
        lines = (binfmt / f"qemu-{machine}").read_text().splitlines()
    except OSError:
        return set()
    interpreter = next((line.split(maxsplit=1)[1] for line in lines if line.startswith("interpreter ")), "")
    if not interpreter:
        return set()
    try:  # Debian's binfmt-P names are links to the static binary, which refuses to run under that name
        out = subprocess.run([os.path.realpath(interpreter), "-cpu", "help"], capture_output=True, text=True,
                             timeout=30, stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.TimeoutExpired):
        return set()
    return {line.split()[0] for line in out.splitlines() if line.startswith("  ") and line.strip()}


def environment(platform: Platform, binfmt: Path = BINFMT) -> dict[str, str]:
    """A container's environment for an image of `platform`: QEMU_CPU where this host emulates it and its qemu has
    the platform's model; {} natively, or (said on stderr) where the host's qemu lacks the model."""
    if native(platform) or not platform.qemu_cpu:
        return {}
    if platform.qemu_cpu not in models(platform.machine, binfmt):
        print(f"ptkit: this host's qemu-{platform.machine} has no CPU model {platform.qemu_cpu}: the image runs on "
              f"qemu's default CPU (scripts/qemu-trixie.sh {platform.machine} registers qemu 10, which has it)",
              file=sys.stderr)
        return {}
    return {"QEMU_CPU": platform.qemu_cpu}
