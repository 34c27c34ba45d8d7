"""The NVIDIA driver, CUDA availability, and each device's facts and compiled arch."""

from __future__ import annotations

import ctypes
import glob
import subprocess
from collections.abc import Sequence
from typing import Any

from .archs import first_supporting, judge_arch
from .facts import MIN_DRIVER, MINOR_COMPAT_FLOOR, cuda_key, version_tuple
from .imports import compiled_arch_list
from .results import FAIL, PASS, SKIP, WARN, Report, describe


def driver_version() -> str | None:
    """The NVIDIA driver version through NVML (ctypes), else nvidia-smi; None without a driver."""
    try:
        nvml = ctypes.CDLL("libnvidia-ml.so.1")
        if nvml.nvmlInit_v2() == 0:
            buf = ctypes.create_string_buffer(96)
            ok = nvml.nvmlSystemGetDriverVersion(buf, 96) == 0
            nvml.nvmlShutdown()
            if ok:
                return buf.value.decode()
    except (OSError, AttributeError):
        pass
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20, check=True,
        ).stdout.split()
        return out[0] if out else None
    except (OSError, subprocess.SubprocessError):
        return None


def judge_driver(cuda: str, driver: str, cuda_usable: bool) -> tuple[str, str]:
    """Compare a driver with the minimum for the CUDA release torch was built with. Minor-version compatibility
    and its limits: https://docs.nvidia.com/deploy/cuda-compatibility/ ("Minor Version Compatibility")."""
    key = cuda_key(cuda)
    minimum = MIN_DRIVER.get(key)
    if minimum is None:
        return WARN, f"no minimum driver known for CUDA {cuda}; driver {driver}"
    if version_tuple(driver) >= version_tuple(minimum):
        return PASS, f"driver {driver} >= {minimum}, the minimum for CUDA {key}"
    floor = MINOR_COMPAT_FLOOR.get(key.split(".")[0])
    if cuda_usable and floor and version_tuple(driver) >= version_tuple(floor):
        return WARN, (
            f"driver {driver} is older than {minimum}, the minimum for CUDA {key}; it runs under "
            f"minor-version compatibility (>= {floor}), without what needs the newer driver: JIT of PTX built by "
            f"CUDA {key} (a GPU with no SASS in this build fails) and newer APIs (cudaErrorCallRequiresNewerDriver)"
        )
    return FAIL, f"driver {driver} is too old for torch built with CUDA {key}: minimum is {minimum}"


def cuda_unusable_reason(torch: Any) -> str:
    """Say which of the usual causes keeps the GPU away."""
    if not torch.version.cuda:
        return f"torch {torch.__version__} is a CPU-only build"
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return ("no NVIDIA driver library (libcuda.so.1) in this environment: "
                "in Docker, run with --gpus all and the NVIDIA container toolkit")
    if not glob.glob("/dev/nvidia[0-9]*"):
        return "driver library present but no GPU device nodes (/dev/nvidia*)"
    try:
        torch.cuda.init()
    except Exception as exc:  # noqa: BLE001 - the driver's own words are the best cause
        return f"CUDA initialisation failed: {describe(exc)}"
    return "torch.cuda.is_available() is False"


def device_facts(torch: Any, index: int) -> dict[str, Any]:
    props = torch.cuda.get_device_properties(index)
    return {
        "index": index,
        "name": props.name,
        "capability": f"{props.major}.{props.minor}",
        "memory_gib": props.total_memory / 2**30,
        "sm_count": props.multi_processor_count,
    }


def check_devices(report: Report, torch: Any, rows: Sequence[str] = ()) -> list[str]:
    """One arch:cuda:N result per device; a device whose queries raise (ECC error, MIG) is that FAIL.
    `rows` ('name=arch,...'), newest first, are the images the host knows of: a FAIL names one that runs."""
    arch_list = compiled_arch_list(torch)
    usable = []
    for index in range(torch.cuda.device_count()):
        with report.timed(f"arch:cuda:{index}") as result:
            facts = device_facts(torch, index)
            report.devices.append(facts)
            capability = facts["capability"]
            status, detail = judge_arch(capability, arch_list, torch.version.cuda or "",
                                        first_supporting(capability, list(rows)))
            result(status, detail)
            if status != FAIL:
                usable.append(f"cuda:{index}")
    return usable


def check_cuda(report: Report, torch: Any, expect_cuda: bool, rows: Sequence[str] = ()) -> list[str]:
    """Driver, availability, devices and arch list; returns the CUDA devices the later checks may use."""
    driver = driver_version()
    report.environment["driver"] = driver
    built = torch.version.cuda
    available = bool(built) and torch.cuda.is_available()
    if built and driver:
        report.add("driver", *judge_driver(built, driver, available))
    if not available:
        report.add("cuda", FAIL if expect_cuda else SKIP, f"no GPU visible: {cuda_unusable_reason(torch)}")
        return []
    with report.timed("cuda") as result:
        count = torch.cuda.device_count()
        devices = check_devices(report, torch, rows)
        names = ", ".join(sorted({d["name"] for d in report.devices})) or "none answered"
        if len(devices) == count:
            result(PASS, f"{count} device(s): {names}")
        else:
            result(FAIL, f"{count - len(devices)} of {count} device(s) unusable (see arch:cuda:N); answered: {names}")
    return devices
