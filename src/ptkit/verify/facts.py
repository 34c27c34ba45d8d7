"""Static facts the verifier judges against: CUDA driver minimums, datasheet peaks, noise limits.

Kept as plain dicts in this self-contained package (no data files) so that the verifier can be
copied into any image as-is. Each table cites its sources next to its rows; the GPU models and their
datasheet peaks are the catalog (gpus.toml, with a source for every figure), copied into catalog.py.
"""

from __future__ import annotations

from .catalog import GPUS

SCHEMA = "ptkit.verify/1"

# Minimum Linux driver for each CUDA toolkit release (CUDA toolkit release notes, table
# "CUDA Toolkit and Corresponding Driver Versions").
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

# A result this far above the datasheet peak can only come from a broken timer.
BROKEN_FACTOR = 1.05
# Nothing made reaches 5 PFLOP/s dense: the ceiling for a GPU without a datasheet row.
UNKNOWN_GPU_CEILING_TFLOPS = 5000.0

# A measurement whose interquartile range exceeds this fraction of its median is noise-dominated
# (torch.utils.benchmark's Measurement warns at the same 10%).
NOISE_IQR_FRACTION = 0.1

# CPUs have no single datasheet figure, but a physical ceiling still exists: no core retires
# more than 64 fp32 FLOP/cycle (2x AVX-512 FMA) or 1024 bf16/fp16 FLOP/cycle (AMX) at 6 GHz. A tf32
# request lets oneDNN run fp32 through AMX in reduced precision, so it gets the AMX ceiling.
CPU_FLOP_PER_CYCLE: dict[str, int] = {"fp32": 64, "tf32": 1024, "fp16": 1024, "bf16": 1024}
CPU_MAX_HZ = 6.0e9


def version_tuple(version: str) -> tuple[int, ...]:
    """'570.26' -> (570, 26); non-numeric parts are ignored."""
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def cuda_key(cuda_version: str) -> str:
    """'12.8.1' -> '12.8': drivers are specified per major.minor release."""
    return ".".join(cuda_version.split(".")[:2])


def normalize_gpu_name(name: str) -> str:
    """'  NVIDIA  GeForce RTX 4090 ' -> 'geforce rtx 4090': older drivers print names without "NVIDIA "."""
    folded = " ".join(name.split()).casefold()
    return folded[len("nvidia "):] if folded.startswith("nvidia ") else folded


# The catalog's models by every name that says which model it is: the names nvidia-smi and torch print, the
# catalog key and the model name. Whole names only: "NVIDIA L40" is not an "NVIDIA L4".
_BY_NAME = {normalize_gpu_name(name): key for key, gpu in GPUS.items()
            for name in (key, gpu["model"], *gpu["names"])}


def gpu_key(name: str) -> str | None:
    """The catalog key of the model `name` names, or None for a model the catalog does not list."""
    return _BY_NAME.get(normalize_gpu_name(name))


def gpu_peaks(device_name: str) -> dict[str, float] | None:
    """The datasheet's dense peaks of exactly this model, or None when it has none (or is unknown)."""
    key = gpu_key(device_name)
    return dict(GPUS[key]["peaks"]) if key and GPUS[key].get("peaks") else None


def cpu_ceiling_tflops(cores: int, dtype: str) -> float:
    return cores * CPU_MAX_HZ * CPU_FLOP_PER_CYCLE.get(dtype, 64) / 1e12
