"""Static facts the verifier judges against: CUDA driver minimums, datasheet peaks, noise limits.

Kept as plain dicts in this self-contained package (no data files) so that the verifier can be
copied into any image as-is. Each table cites its sources next to its rows.
"""

from __future__ import annotations

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

_SXM_H = {"fp32": 67.0, "tf32": 494.7, "fp16": 989.4, "bf16": 989.4}
_A100 = {"fp32": 19.5, "tf32": 156.0, "fp16": 312.0, "bf16": 312.0}
_V100_SXM2 = {"fp32": 15.7, "fp16": 125.0}
_V100_PCIE = {"fp32": 14.0, "fp16": 112.0}

# Dense peak TFLOP/s (no sparsity) per dtype, keyed by the EXACT name torch.cuda.get_device_name()
# reports (compared after normalize_gpu_name). No substring matching: "NVIDIA L40" is not an
# "NVIDIA L4", and an unlisted model gets no datasheet figure (the physical ceiling still guards).
GPU_PEAKS: dict[str, dict[str, float]] = {
    # NVIDIA H100 Tensor Core GPU datasheet (SXM5 and PCIe columns).
    "NVIDIA H100 80GB HBM3": _SXM_H,
    "NVIDIA H100 PCIe": {"fp32": 51.0, "tf32": 378.0, "fp16": 756.0, "bf16": 756.0},
    # NVIDIA H200 Tensor Core GPU datasheet (SXM column; FP16/BF16 1979 with sparsity).
    "NVIDIA H200": {"fp32": 67.0, "tf32": 494.7, "fp16": 989.0, "bf16": 989.0},
    # NVIDIA DGX B200 / HGX B200 datasheet, per GPU (TF32 approximate).
    "NVIDIA B200": {"fp32": 75.0, "tf32": 1100.0, "fp16": 2250.0, "bf16": 2250.0},
    # NVIDIA A100 Tensor Core GPU datasheet (same dense figures for the 40/80 GB, SXM and PCIe).
    "NVIDIA A100-SXM4-80GB": _A100,
    "NVIDIA A100-SXM4-40GB": _A100,
    "NVIDIA A100-PCIE-40GB": _A100,
    "NVIDIA A100 80GB PCIe": _A100,
    # NVIDIA L40S datasheet (TF32 366 and FP16/BF16 733 with sparsity).
    "NVIDIA L40S": {"fp32": 91.6, "tf32": 183.0, "fp16": 362.0, "bf16": 362.0},
    # NVIDIA L40 datasheet: FP32 90.5, TF32 90.5 (181 sparse), FP16/BF16 181.05 (362.1 sparse).
    "NVIDIA L40": {"fp32": 90.5, "tf32": 90.5, "fp16": 181.05, "bf16": 181.05},
    # NVIDIA L4 Tensor Core GPU datasheet (TF32 120, FP16/BF16 242 with sparsity).
    "NVIDIA L4": {"fp32": 30.3, "tf32": 60.0, "fp16": 121.0, "bf16": 121.0},
    # NVIDIA A10 Tensor Core GPU datasheet (TF32 125, FP16/BF16 250 with sparsity).
    # The A10G (AWS) has no public NVIDIA datasheet: deliberately not listed.
    "NVIDIA A10": {"fp32": 31.2, "tf32": 62.5, "fp16": 125.0, "bf16": 125.0},
    # Ada (AD102) and Ampere (GA102) architecture whitepapers: FP16 tensor with FP32 accumulate, dense.
    "NVIDIA GeForce RTX 4090": {"fp32": 82.6, "tf32": 82.6, "fp16": 165.2, "bf16": 165.2},
    "NVIDIA GeForce RTX 3090": {"fp32": 35.6, "tf32": 35.6, "fp16": 71.0, "bf16": 71.0},
    # NVIDIA's RTX 3090 Ti specifications: 40 shader TFLOPS; no tensor figure published there.
    "NVIDIA GeForce RTX 3090 Ti": {"fp32": 40.0},
    # NVIDIA V100 datasheet (SXM2: 15.7 / 125 tensor; PCIe: 14 / 112 tensor).
    "Tesla V100-SXM2-16GB": _V100_SXM2,
    "Tesla V100-SXM2-32GB": _V100_SXM2,
    "Tesla V100-PCIE-16GB": _V100_PCIE,
    "Tesla V100-PCIE-32GB": _V100_PCIE,
    # NVIDIA T4 datasheet (FP16/FP32 mixed precision 65).
    "Tesla T4": {"fp32": 8.1, "fp16": 65.0},
}

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
    return " ".join(name.split()).casefold()


_PEAKS_BY_NAME = {normalize_gpu_name(name): peaks for name, peaks in GPU_PEAKS.items()}


def gpu_peaks(device_name: str) -> dict[str, float] | None:
    """The datasheet row of exactly this model, or None for a model the table does not list."""
    return _PEAKS_BY_NAME.get(normalize_gpu_name(device_name))


def cpu_ceiling_tflops(cores: int, dtype: str) -> float:
    return cores * CPU_MAX_HZ * CPU_FLOP_PER_CYCLE.get(dtype, 64) / 1e12
