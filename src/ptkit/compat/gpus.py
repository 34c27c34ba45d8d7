"""GPUs: model name -> compute capability, and what the host's nvidia-smi says.

Capabilities from NVIDIA's "CUDA GPU Compute Capability" page (https://developer.nvidia.com/cuda-gpus),
which the CUDA Programming Guide (appendix "Compute Capabilities") names as the mapping of record.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

from ..matrix_report.model import UsageError

# Matching takes the first key contained in the (upper-cased) name: more specific names first.
GPU_CAPABILITY: dict[str, str] = {
    "GB200": "10.0", "B200": "10.0", "B100": "10.0", "GB300": "10.3", "B300": "10.3",
    "H100": "9.0", "H200": "9.0", "H800": "9.0", "GH200": "9.0",
    "L40S": "8.9", "L40": "8.9", "L4": "8.9", "RTX 6000 ADA": "8.9", "RTX 4090": "8.9", "RTX 4080": "8.9",
    "A100": "8.0", "A800": "8.0", "A30": "8.0",
    "A10G": "8.6", "A10": "8.6", "A40": "8.6", "A16": "8.6", "A2": "8.6", "RTX A6000": "8.6",
    "RTX 3090": "8.6", "RTX 3080": "8.6",
    "RTX PRO 6000": "12.0", "RTX 5090": "12.0", "RTX 5080": "12.0",
    "T4": "7.5", "RTX 2080": "7.5", "QUADRO RTX": "7.5",
    "V100": "7.0", "TITAN V": "7.0",
    "P100": "6.0", "P40": "6.1", "P4": "6.1",
}
CAPABILITY = re.compile(r"^(?:sm_|compute_)?(\d{1,2})\.?(\d)$")
DRIVER = re.compile(r"^\d+(\.\d+){0,3}$")


@dataclass(frozen=True)
class Gpu:
    driver: str
    capability: str  # "8.0"
    name: str = ""


def capability_of(name: str) -> str:
    """'NVIDIA A100-SXM4-80GB' -> '8.0'; a usage error names the known models otherwise."""
    upper = name.upper()
    for key, capability in GPU_CAPABILITY.items():
        if key in upper:
            return capability
    raise UsageError(f"unknown GPU model {name!r}: give --capability X.Y (known: {', '.join(GPU_CAPABILITY)})")


def parse_capability(value: str) -> str:
    """'8.0', '80', 'sm_80' -> '8.0'; '12.0', '120', 'sm_120' -> '12.0'."""
    found = CAPABILITY.match(value.strip().lower())
    if not found:
        raise UsageError(f"--capability {value!r} is not a compute capability such as 8.0 or sm_80")
    return f"{int(found.group(1))}.{found.group(2)}"


def parse_driver(value: str) -> str:
    if not DRIVER.match(value.strip()):
        raise UsageError(f"--driver {value!r} is not a driver version such as 535.104.05")
    return value.strip()


def from_nvidia_smi(output: str) -> Gpu:
    """Lines of 'driver, capability, name'; with mixed GPUs the lowest capability must be served."""
    gpus = []
    for line in output.strip().splitlines():
        parts = [p.strip() for p in line.split(",", 2)]
        if len(parts) == 3:
            gpus.append(Gpu(parse_driver(parts[0]), parse_capability(parts[1]), parts[2]))
    if not gpus:
        raise UsageError(f"nvidia-smi gave no GPU ({output.strip()[:80]!r}): give --driver and --capability")
    return min(gpus, key=lambda g: tuple(int(x) for x in g.capability.split(".")))


def read_host(timeout: float = 20.0) -> Gpu:
    command = ["nvidia-smi", "--query-gpu=driver_version,compute_cap,name", "--format=csv,noheader"]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise UsageError("no nvidia-smi on this host: give --driver VERSION and --capability X.Y "
                         "(or --gpu MODEL)") from None
    except (OSError, subprocess.SubprocessError) as exc:
        raise UsageError(f"nvidia-smi failed ({exc}): give --driver and --capability") from None
    if proc.returncode != 0:
        cause = (proc.stderr or proc.stdout).strip().splitlines()[:1] or [f"exit code {proc.returncode}"]
        raise UsageError(f"nvidia-smi failed ({cause[0]}): give --driver and --capability")
    return from_nvidia_smi(proc.stdout)
