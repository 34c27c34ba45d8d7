"""Static facts the verifier judges against: CUDA driver minimums and datasheet peaks.

Kept as plain dicts in this self-contained package (no data files) so that the verifier can be
copied into any image as-is. Sources: CUDA toolkit release notes (driver table) and vendor
datasheets (dense peaks, no sparsity); see shared/reference/torch-cuda.md and the README.
"""

from __future__ import annotations

SCHEMA = "ptkit.verify/1"

# Minimum Linux driver for each CUDA toolkit release (release notes, "CUDA Toolkit and
# Corresponding Driver Versions").
MIN_DRIVER: dict[str, str] = {
    "11.8": "520.61.05",
    "12.1": "530.30.02",
    "12.4": "550.54.14",
    "12.6": "560.28.03",
    "12.8": "570.26",
    "12.9": "575.51.03",
    "13.0": "580.65.06",
    "13.2": "595.45.04",  # CUDA 13.2 GA, Table 3 of docs.nvidia.com/cuda/archive/13.2.0/cuda-toolkit-release-notes
}

# Floor under which even CUDA minor-version compatibility cannot run a given major release.
MINOR_COMPAT_FLOOR: dict[str, str] = {"11": "450.80.02", "12": "525.60.13", "13": "580"}

# Dense peak TFLOP/s per dtype, keyed by a substring of torch.cuda.get_device_name().
# More specific names first: matching takes the first key contained in the device name.
GPU_PEAKS: dict[str, dict[str, float]] = {
    "H100 PCIe": {"fp32": 51.0, "tf32": 378.0, "fp16": 756.0, "bf16": 756.0},
    "H100": {"fp32": 67.0, "tf32": 494.7, "fp16": 989.4, "bf16": 989.4},
    "H200": {"fp32": 67.0, "tf32": 494.7, "fp16": 989.0, "bf16": 989.0},
    "B200": {"fp32": 75.0, "tf32": 1100.0, "fp16": 2250.0, "bf16": 2250.0},
    "A100": {"fp32": 19.5, "tf32": 156.0, "fp16": 312.0, "bf16": 312.0},
    "L40S": {"fp32": 91.6, "tf32": 183.0, "fp16": 362.0, "bf16": 362.0},
    "L4": {"fp32": 30.3, "tf32": 60.0, "fp16": 121.0, "bf16": 121.0},
    "A10": {"fp32": 31.2, "tf32": 62.5, "fp16": 125.0, "bf16": 125.0},
    "RTX 4090": {"fp32": 82.6, "tf32": 82.6, "fp16": 165.2, "bf16": 165.2},
    "RTX 3090": {"fp32": 35.6, "tf32": 35.6, "fp16": 71.0, "bf16": 71.0},
    "V100": {"fp32": 15.7, "fp16": 125.0},
    "T4": {"fp32": 8.1, "fp16": 65.0},
}

# A result this far above the datasheet peak can only come from a broken timer.
BROKEN_FACTOR = 1.05

# CPUs have no single datasheet figure, but a physical ceiling still exists: no core retires
# more than 64 fp32 FLOP/cycle (2x AVX-512 FMA) or 1024 bf16/fp16 FLOP/cycle (AMX) at 6 GHz.
CPU_FLOP_PER_CYCLE: dict[str, int] = {"fp32": 64, "tf32": 64, "fp16": 1024, "bf16": 1024}
CPU_MAX_HZ = 6.0e9


def version_tuple(version: str) -> tuple[int, ...]:
    """'570.26' -> (570, 26); non-numeric parts are ignored."""
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def cuda_key(cuda_version: str) -> str:
    """'12.8.1' -> '12.8': drivers are specified per major.minor release."""
    return ".".join(cuda_version.split(".")[:2])


def gpu_peaks(device_name: str) -> dict[str, float] | None:
    for key, peaks in GPU_PEAKS.items():
        if key in device_name:
            return peaks
    return None


def cpu_ceiling_tflops(cores: int, dtype: str) -> float:
    return cores * CPU_MAX_HZ * CPU_FLOP_PER_CYCLE.get(dtype, 64) / 1e12
