"""The platforms images are built for: one `Platform` row each, the only place in ptkit that names an
architecture. The matrix's `platforms` key names these rows (checked at load), the image description
(ptkit.images) builds for one of them, and every name, tag, lock path and resolver target derives from the row.

A module of its own, below both: the matrix validates against the rows and images imports the matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

from .inputs import UV_VERSION

GLIBC_MINOR = 36  # Debian bookworm's glibc (images.DEBIAN_SUITE): the newest manylinux tag its images load


@dataclass(frozen=True)
class Platform:
    """One platform images are built for: Docker's name and what pip, uv and conda call it."""

    name: str  # Docker's --platform
    machine: str  # the wheel tags' machine (manylinux_2_36_<machine>), as platform.machine() says it on Linux
    conda_subdir: str  # conda's platform subdirectory
    debian_arch: str  # Debian's architecture (dpkg --print-architecture, mmdebstrap --architectures)
    uv_sha256: str  # the hash of the pinned uv's wheel for this machine (inputs.UV_VERSION)
    suffix: str = ""  # appended to a row's image, lock, report and nox session names ('' for the default)
    min_cuda: str = ""  # the oldest CUDA release with torch wheels for this machine on PyPI ('' any)
    qemu_cpu: str = ""  # the CPU model qemu presents where this machine is emulated ('' qemu's default)

    def wheel_tags(self) -> tuple[str, ...]:
        """Every manylinux tag a bookworm (glibc 2.36) image can load: pip matches --platform tags exactly."""
        m = self.machine
        return (*(f"manylinux_2_{minor}_{m}" for minor in range(GLIBC_MINOR, 4, -1)), f"manylinux2014_{m}",
                f"manylinux2010_{m}", f"manylinux1_{m}", f"linux_{m}")

    @property
    def uv_requirement(self) -> str:
        """The builder stage's uv, pinned by hash: what `ptkit wheelhouse` adds and the build installs."""
        return f"uv=={UV_VERSION} --hash=sha256:{self.uv_sha256}"

    @property
    def uv_target(self) -> str:
        """uv's --python-platform for the image: it resolves environment markers for it, not for this host."""
        return f"{self.machine}-manylinux_2_{GLIBC_MINOR}"

    @property
    def arch(self) -> str:
        """'arm64' of 'linux/arm64': the nox tag of the platform's sessions."""
        return self.name.partition("/")[2]

    def named(self, name: str) -> str:
        """A row's image name on this platform: 'cuda130' on the default, 'cuda130-arm64' on arm64."""
        return f"{name}{self.suffix}"


# uv's hashes: its manylinux wheels as https://pypi.org/project/uv/0.13.9/#files lists them (x86_64: 2026-11-27;
# aarch64: 2026-12-02, the manylinux_2_28 wheel, the one pip prefers on glibc 2.36 over the manylinux_2_17 one).
# arm64's min_cuda: PyPI's aarch64 torch wheels are CPU-only through 2.10.0, CUDA 13.0 builds from 2.11.0 and
# CUDA 13.2 in 2.15.0; there is no CUDA 12 aarch64 torch on PyPI (https://pypi.org/project/torch/#files, issue 21).
# arm64's qemu_cpu: the nodes ptkit targets (GH200, GB200 and GB300's Grace: Neoverse V2; GB10's Cortex-X925) have
# SVE2 with 128-bit vectors; qemu 10's closest model is neoverse-n2 (Armv9.0, SVE2, 128-bit). qemu's default, `max`,
# is no shipping CPU (every feature, SVE up to 2048 bits), and under it Debian 12's gcc crashes compiling torch
# 2.14's SVE code for torch.compile, as under neoverse-v1 (Graviton3's 256-bit SVE): docs/evidence/arm64/README.md.
PLATFORMS = {
    "linux/amd64": Platform("linux/amd64", "x86_64", "linux-64", "amd64",
                            "d7f459fe4fd247d830351c75686d3996ace3c6f3f728eb0e85a30b7ada0cef19"),
    "linux/arm64": Platform("linux/arm64", "aarch64", "linux-aarch64", "arm64",
                            "ecb6028d79dc96fbeafffe5c8af62a7099487ebc05a701e76714eebcffd06375", "-arm64", "13.0",
                            "neoverse-n2"),
}
DEFAULT_PLATFORM = PLATFORMS["linux/amd64"]


def by_machine(machine: str) -> Platform | None:
    """The platform of a machine as platform.machine() names it ('x86_64', 'aarch64'), None when none is built."""
    return next((p for p in PLATFORMS.values() if p.machine == machine), None)


def by_arch(arch: str | None) -> Platform | None:
    """The platform of an architecture as Docker records an image's ('arm64'), None when none is built."""
    return next((p for p in PLATFORMS.values() if p.arch == arch), None)


def reported_on(python_platform: object, machine: str) -> bool:
    """Whether a report's `environment.platform` (Python's platform string, 'Linux-...-aarch64-with-glibc2.36')
    names `machine` (Platform.machine); a report that does not say is taken for any machine."""
    return machine in str(python_platform or machine)


def native(platform: Platform) -> bool:
    """Whether this host's own CPU runs the platform's binaries (else qemu emulates them, issue 21)."""
    import platform as host

    return by_machine(host.machine()) == platform

