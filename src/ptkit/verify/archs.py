"""CUDA's binary-compatibility rule: will code compiled for these archs run on a device of compute capability X.Y?

The one statement of the rule in ptkit: the verifier's arch:cuda:N check, `ptkit select` and the matrix
report's verdict table all call `judge_arch`. Stdlib only (the verifier runs in every image).

NVIDIA's rules, as the CUDA C++ Programming Guide states them ("Compute Capability and Streaming
Multiprocessor Versions", "Binary Compatibility", "PTX Compatibility",
https://docs.nvidia.com/cuda/cuda-programming-guide/01-introduction/cuda-platform.html) and the CUDA
Compatibility guide (https://docs.nvidia.com/deploy/cuda-compatibility/):
- SASS (a cubin) for sm_XY runs on every device of compute capability X.z with z >= y: binary
  compatibility holds from one minor revision to the next, never backwards, never across majors.
- Arch-specific code, sm_XYa / compute_XYa (sm_90a on), runs only on exactly X.Y: it is neither forward
  nor family compatible.
- Family-specific code, sm_XYf / compute_XYf (CUDA 12.9 on, Blackwell on), runs on the devices of X.Y's
  family: the same major with a minor >= y (sm_100f: 10.0 and 10.3; sm_103f: 10.3 only; sm_120f: 12.0
  and 12.1). NVIDIA's blog "NVIDIA Blackwell and NVIDIA CUDA 12.9 Introduce Family-Specific Architecture
  Features" (https://developer.nvidia.com/blog/nvidia-blackwell-and-nvidia-cuda-12-9-introduce-family-specific-architecture-features).
- PTX for compute_XY is JIT-compiled by the driver for any device of capability >= X.Y (any later major
  too), but only by a driver that knows that PTX's ISA version, i.e. supports the CUDA release that
  wrote it: minor-version compatibility does not cover PTX from a newer toolkit (CUDA Compatibility
  guide, "Minor Version Compatibility" limitations). Each kernel is compiled on its first launch.
- Integrated (Tegra) GPUs are the exception torch encodes (DEVICE_REQUIREMENT in torch/cuda/__init__.py, 2.13:
  "accounting for incompatibility of iGPU and dGPU"): Jetson Nano 5.3, TX2 6.2, Xavier 7.2 and Orin 8.7 run
  only SASS built for themselves, and no discrete GPU runs theirs; Thor's sm_101 was renamed sm_110 in CUDA 13
  (CUDA 13.0 release notes), so an 11.0 device runs sm_101 SASS too.
torch's warning at its first CUDA call (torch.cuda._check_cubins) only asks for a compiled sm_ arch of the
device's major; when no compiled arch has the device's major;
tests/test_gpu_verdicts.py holds this rule against that one and lists where they differ.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .results import FAIL, PASS, WARN

ARCH = re.compile(r"^(sm|compute)_(\d+)([af]?)$")
CAPABILITY = re.compile(r"^(\d{1,2})\.(\d)$")


@dataclass(frozen=True)
class Arch:
    text: str  # as torch or cuobjdump wrote it: "sm_90a", "compute_120"
    ptx: bool
    major: int
    minor: int
    suffix: str  # "", "a" (arch-specific) or "f" (family-specific)

    @property
    def capability(self) -> tuple[int, int]:
        return self.major, self.minor


def parse_arch(text: str) -> Arch | None:
    """'sm_86' -> SASS 8.6; 'compute_90' -> PTX 9.0; 'sm_120f' -> family SASS 12.0; None when not an arch."""
    found = ARCH.match(text.strip())
    if not found:
        return None
    number = int(found.group(2))
    return Arch(found.group(0), found.group(1) == "compute", number // 10, number % 10, found.group(3))


def parse_capability(text: str) -> tuple[int, int]:
    """'8.9' -> (8, 9); a ValueError names what a capability looks like."""
    found = CAPABILITY.match(text.strip())
    if not found:
        raise ValueError(f"{text!r} is not a compute capability X.Y such as 8.9")
    return int(found.group(1)), int(found.group(2))


def sm_name(capability: tuple[int, int]) -> str:
    return f"sm_{capability[0]}{capability[1]}"


INTEGRATED = frozenset({(5, 3), (6, 2), (7, 2), (8, 7), (10, 1)})
RENAMED = {(10, 1): (11, 0)}  # Thor: sm_101 up to CUDA 12.9, sm_110 from CUDA 13.0


def runs_natively(arch: Arch, capability: tuple[int, int]) -> bool:
    """SASS that this device executes as it is (no compilation)."""
    if arch.ptx:
        return False
    if RENAMED.get(arch.capability) == capability:
        return True
    if arch.suffix == "a" or capability in INTEGRATED or arch.capability in INTEGRATED:
        return capability == arch.capability
    return capability[0] == arch.major and capability[1] >= arch.minor  # plain and family-specific alike


def jit_compiles(arch: Arch, capability: tuple[int, int]) -> bool:
    """PTX that this device's driver can JIT-compile (given a driver of the PTX's CUDA release)."""
    if not arch.ptx:
        return False
    if arch.suffix == "a":
        return capability == arch.capability
    if arch.suffix == "f":
        return capability[0] == arch.major and capability[1] >= arch.minor
    return capability >= arch.capability


def _by_capability(archs: list[Arch]) -> list[Arch]:
    return sorted(archs, key=lambda a: (a.capability, a.suffix))


def classify(capability: str, arch_list: list[str]) -> tuple[str, Arch | None]:
    """(PASS, the newest SASS that runs natively) or (WARN, the newest PTX the driver JIT-compiles) or (FAIL, None)."""
    cap = parse_capability(capability)
    archs = [a for a in (parse_arch(t) for t in arch_list) if a is not None]
    native = _by_capability([a for a in archs if runs_natively(a, cap)])
    if native:
        return PASS, native[-1]
    ptx = _by_capability([a for a in archs if jit_compiles(a, cap)])
    return (WARN, ptx[-1]) if ptx else (FAIL, None)


def judge_arch(capability: str, arch_list: list[str], cuda: str = "", supported_by: str = "") -> tuple[str, str]:
    """PASS when SASS runs natively, WARN when only PTX JIT serves the device, FAIL otherwise.

    `cuda` is the release that compiled the PTX (said in the WARN); `supported_by` names an image that runs
    on this device (the host knows the matrix, the verifier may be told it).
    """
    cap = parse_capability(capability)
    sm = sm_name(cap)
    status, best = classify(capability, arch_list)
    if status == PASS and best is not None:
        if best.capability == cap:
            return PASS, f"{sm} runs its own SASS ({best.text}) natively"
        return PASS, (f"{sm} runs {best.text} SASS natively "
                      f"(same major {cap[0]}, {best.major}.{best.minor} <= {capability})")
    if status == WARN and best is not None:
        release = f"CUDA {cuda} or newer" if cuda else "the CUDA release torch was built with"
        return WARN, (f"no SASS runs on {sm}: the driver JIT-compiles {best.text} PTX, so each kernel's first "
                      f"launch compiles (slow), and only a driver that supports {release} can")
    listed = " ".join(arch_list) or "empty"
    instead = supported_by or f"an image compiled for {sm} (`ptkit select --capability {capability}` names one)"
    return FAIL, f"no compiled arch runs on {sm} ({listed}): {why_not(capability, arch_list)}; use {instead}"


def why_not(capability: str, arch_list: list[str]) -> str:
    """Why no arch of the list runs on the device, in a few words (for a FAIL)."""
    cap = parse_capability(capability)
    archs = [a for a in (parse_arch(t) for t in arch_list) if a is not None]
    sass = _by_capability([a for a in archs if not a.ptx])
    same_major = [a for a in sass if a.major == cap[0]]
    if same_major and (cap in INTEGRATED or any(a.capability in INTEGRATED for a in same_major)):
        return "integrated (Tegra) and discrete GPUs do not share SASS"
    if same_major and all(a.suffix == "a" for a in same_major if a.capability <= cap):
        lower = [a for a in same_major if a.capability <= cap]
        if lower:
            return f"{' '.join(a.text for a in lower)} is arch-specific: it runs on exactly its own device"
    if same_major:
        return f"its major's SASS ({' '.join(a.text for a in same_major)}) is for a later minor"
    if archs and all(a.capability > cap for a in archs):
        return f"below the lowest compiled arch {min(archs, key=lambda a: a.capability).text}"
    return f"no {cap[0]}.x SASS and no PTX at or below {capability}"


def read_arch_row(text: str) -> tuple[str, list[str]]:
    """'cuda128=sm_70,sm_75' (how the host names an image and its archs) -> ('cuda128', ['sm_70', 'sm_75'])."""
    name, sep, archs = text.partition("=")
    arch_list = [a for a in archs.split(",") if a]
    if not sep or not name or not arch_list or any(parse_arch(a) is None for a in arch_list):
        raise ValueError(f"expected NAME=ARCH,... such as cuda128=sm_70,sm_80, got {text!r}")
    return name, arch_list


def first_supporting(capability: str, rows: list[str]) -> str:
    """The first of `rows` ('name=arch,...'), given newest first, whose SASS runs on the device, else its PTX."""
    for wanted in (PASS, WARN):
        for name, arch_list in map(read_arch_row, rows):
            if judge_arch(capability, arch_list)[0] == wanted:
                return name + ("" if wanted == PASS else " (by PTX JIT)")
    return ""
