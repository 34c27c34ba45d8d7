"""Whether this process runs on an emulated CPU (qemu user mode through binfmt_misc, issue 21): then its
timings are the emulator's, not the hardware's, and the timing checks WARN instead of judging.

qemu-user answers the guest's uname with the guest's machine (platform.machine() says aarch64) and fakes some
of /proc/self (exe, auxv, maps: qemu's linux-user/syscall.c, is_proc_myself), but the kernel's own files are
the host's. Measured here (issue 21; qemu 7.2, Debian bookworm, an arm64 root file system made with mmdebstrap,
`chroot ROOT python3`), emulated versus native:
- platform.machine(), `uname -m`: aarch64 versus x86_64 (faked: the guest's);
- /proc/sys/kernel/arch (the kernel's uname machine, Linux 6.x): x86_64 in both: the kernel's, a tell;
- /proc/cpuinfo: the host CPU's x86 lines (vendor_id GenuineIntel) in both: a tell while qemu passes it
  through (gnulib's is_running_under_qemu_user reads it alike; docker/for-mac#5245 shows it under Docker);
- readlink of /proc/self/exe: the guest's /usr/bin/python3.11 (faked), but readlink of `exe` relative to
  an open /proc/self names the emulator, /usr/bin/qemu-aarch64-static (qemu matches paths only): a tell;
- /proc/self/auxv: the guest's (AT_HWCAP with aarch64 bits): no tell; /proc/sys/fs/binfmt_misc: not mounted
  in a chroot or container: no tell.
Any one tell is enough; each says what it saw. The host may also say it, for an emulator none of these tells
catches: PTKIT_EMULATED=NAME in the container's environment (an environment variable, as PTKIT_MANIFEST: for the
host's container run, not the user's command line; ptkit's own run does not set it yet, the tells above find
qemu). Standard library only.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass

EMULATED_ENV = "PTKIT_EMULATED"  # the host's word: the emulator's name (qemu-aarch64)
FAMILIES = {"x86_64": "x86", "amd64": "x86", "i386": "x86", "i686": "x86",
            "aarch64": "arm", "arm64": "arm", "armv7l": "arm", "armv8l": "arm"}
# The first field of a line of /proc/cpuinfo that only one family's kernel writes.
CPUINFO_FAMILY = {"vendor_id": "x86", "CPU implementer": "arm"}


@dataclass(frozen=True)
class Emulation:
    machine: str  # as this process sees it (platform.machine()): the guest's under emulation
    tells: tuple[str, ...] = ()  # what showed the CPU emulated, each in a few words; () natively
    emulator: str | None = None  # its name, where a tell or the host named it

    @property
    def emulated(self) -> bool:
        return bool(self.tells)

    @property
    def label(self) -> str:
        """'emulated CPU (qemu-aarch64-static)': the few words a timing check's detail carries."""
        return f"emulated CPU{f' ({self.emulator})' if self.emulator else ''}"

    def environment(self) -> dict[str, object]:
        """The report's environment fields: the machine, and whether and how the CPU was found emulated."""
        return {"machine": self.machine, "emulated": self.emulated,
                "emulation": f"{self.label}: {'; '.join(self.tells)}" if self.emulated else None}


def family(machine: str) -> str:
    return FAMILIES.get(machine.lower(), machine.lower())


def read(path: str) -> str:
    try:
        with open(path, errors="replace") as fh:
            return fh.read()
    except OSError:
        return ""


def cpuinfo_family(text: str) -> str | None:
    """The family whose kernel wrote this /proc/cpuinfo, None when no line says."""
    keys = {line.partition(":")[0].strip() for line in text.splitlines()}
    return next((fam for key, fam in CPUINFO_FAMILY.items() if key in keys), None)


def interpreter(proc: str) -> str | None:
    """The executable the kernel runs for this process, read past qemu's faked /proc/self/exe (see above)."""
    try:
        fd = os.open(os.path.join(proc, "self"), os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return None
    try:
        real = os.readlink("exe", dir_fd=fd)
    except (OSError, NotImplementedError):
        return None
    finally:
        os.close(fd)
    try:
        faked = os.readlink(os.path.join(proc, "self", "exe"))
    except OSError:
        faked = real
    return real if real != faked else None


def detect(explicit: str | None = None, machine: str | None = None, proc: str = "/proc") -> Emulation:
    """This process's machine and what shows its CPU emulated; `explicit`: the host's word (an emulator name),
    by default PTKIT_EMULATED's."""
    explicit = explicit or os.environ.get(EMULATED_ENV, "").strip() or None
    machine = machine or platform.machine()
    tells = [f"the host says so ({EMULATED_ENV}={explicit})"] if explicit else []
    kernel = read(os.path.join(proc, "sys/kernel/arch")).strip()
    if kernel and family(kernel) != family(machine):
        tells.append(f"kernel {kernel} ({proc}/sys/kernel/arch)")
    cpu = cpuinfo_family(read(os.path.join(proc, "cpuinfo")))
    if cpu and cpu != family(machine):
        tells.append(f"{proc}/cpuinfo: an {cpu} CPU")
    runs = interpreter(proc)
    if runs:
        tells.append(f"the process runs {runs}")
    if tells and (model := os.environ.get("QEMU_CPU", "").strip()):  # qemu-user's CPU model, where one was asked
        tells.append(f"the emulated CPU is {model} (QEMU_CPU)")
    emulator = explicit or (os.path.basename(runs) if runs else None)
    return Emulation(machine, tuple(tells), emulator)
