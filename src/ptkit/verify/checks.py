"""The checks `ptkit verify` runs. Standard library and torch only: this file may run in any image."""

from __future__ import annotations

import ctypes
import glob
import importlib
import importlib.metadata
import os
import platform
import re
import subprocess
import time
from typing import Any

from .facts import MIN_DRIVER, MINOR_COMPAT_FLOOR, cuda_key, version_tuple
from .results import FAIL, PASS, SKIP, WARN, Report, describe

OPTIONAL_PACKAGES = ("torchvision", "torchaudio", "numpy")
# dtype -> tolerance on the normwise relative error of an n x n matmul against float64;
# a few units of each format's rounding error times sqrt(n) headroom.
TOLERANCE = {"fp32": 1e-5, "tf32": 5e-3, "fp16": 5e-3, "bf16": 3e-2}
SHM_WARN_BYTES = 1 << 30


# --- imports ---------------------------------------------------------------------------------

def installed_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_import(report: Report, module: str, required: bool) -> Any:
    """Import one package; its version and import time are the detail, its real cause a FAIL."""
    version = installed_version(module)
    if version is None and not required:
        report.add(f"import:{module}", SKIP, "not installed")
        return None
    start = time.perf_counter()
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - a broken install can raise anything
        if isinstance(exc, ModuleNotFoundError) and exc.name == module:
            detail = f"{module} is not installed" + (" (required)" if required else "")
        else:
            detail = f"{module} {version or ''} fails to import: {describe(exc)}"
        report.add(f"import:{module}", FAIL, detail, time.perf_counter() - start)
        return None
    seconds = time.perf_counter() - start
    version = getattr(mod, "__version__", version)
    report.add(f"import:{module}", PASS, f"{module} {version} imported in {seconds:.2f} s", seconds)
    return mod


# --- build information -----------------------------------------------------------------------

def compiled_arch_list(torch: Any) -> list[str]:
    """Arch flags torch was compiled with; readable without a GPU (get_arch_list() is not)."""
    flags = getattr(torch._C, "_cuda_getArchFlags", lambda: "")() or ""
    return flags.split() if flags else []


def blas_backend(torch: Any) -> str:
    config = torch.__config__.show()
    found = re.search(r"BLAS_INFO=(\w+)", config)
    return found.group(1) if found else "unknown"


def cudnn_version(torch: Any) -> str | None:
    try:
        version = torch.backends.cudnn.version()
    except Exception:  # noqa: BLE001 - a missing libcudnn is reported as None
        return None
    if not version:
        return None
    major, rest = divmod(version, 10000) if version >= 10000 else divmod(version, 1000)
    minor, patch = divmod(rest, 100)
    return f"{major}.{minor}.{patch}"


def nccl_version(torch: Any) -> str | None:
    try:
        version = torch.cuda.nccl.version()
    except Exception:  # noqa: BLE001 - CPU builds have no NCCL
        return None
    return ".".join(map(str, version)) if isinstance(version, tuple) else str(version)


def build_info(torch: Any) -> dict[str, Any]:
    cpu_capability = getattr(torch.backends.cpu, "get_cpu_capability", lambda: "unknown")()
    return {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "hip": getattr(torch.version, "hip", None),
        "cudnn": cudnn_version(torch) if torch.version.cuda else None,
        "nccl": nccl_version(torch) if torch.version.cuda else None,
        "arch_list": compiled_arch_list(torch),
        "blas": blas_backend(torch),
        "cpu_capability": cpu_capability,
    }


def check_build(report: Report, torch: Any) -> tuple[str, str]:
    """Record what torch was built with; the result is informational unless reading it fails."""
    info = build_info(torch)
    report.environment.update({k: info[k] for k in ("torch", "cuda", "cudnn", "nccl")})
    report.environment["build"] = info
    kind = f"CUDA {info['cuda']}" if info["cuda"] else (f"HIP {info['hip']}" if info["hip"] else "CPU-only")
    return PASS, (
        f"torch {info['torch']} ({kind}), cuDNN {info['cudnn'] or '-'}, NCCL {info['nccl'] or '-'}, "
        f"BLAS {info['blas']}, CPU {info['cpu_capability']}, archs {' '.join(info['arch_list']) or '-'}"
    )


def check_cuda_version(report: Report, torch: Any, expected: str) -> None:
    built = torch.version.cuda
    if built and cuda_key(built) == cuda_key(expected):
        report.add("expect-cuda-version", PASS, f"torch built for CUDA {built}")
    else:
        got = f"CUDA {built}" if built else "a CPU-only build"
        report.add("expect-cuda-version", FAIL,
                   f"expected torch built for CUDA {expected}, got {got} (torch {torch.__version__})")


# --- driver and GPU --------------------------------------------------------------------------

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
    """Compare a driver with the minimum for the CUDA release torch was built with."""
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
            f"minor-version compatibility (>= {floor}) but PTX JIT and newer APIs may fail"
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


def judge_arch(capability: str, arch_list: list[str]) -> tuple[str, str]:
    major, minor = capability.split(".")
    sm = f"sm_{major}{minor}"
    if sm in arch_list or f"{sm}a" in arch_list:
        return PASS, f"{sm} is in torch's compiled arch list"
    ptx = [a for a in arch_list if a.startswith("compute_")
           and int(a[8:].rstrip("af")) <= int(major + minor)]
    if ptx:
        return WARN, f"{sm} not compiled; runs by JIT from {ptx[-1]} PTX (slow first launch)"
    return FAIL, f"{sm} is not in torch's compiled arch list ({' '.join(arch_list) or 'empty'})"


def check_cuda(report: Report, torch: Any, expect_cuda: bool) -> list[str]:
    """Availability, driver, devices and arch list; returns the usable CUDA devices."""
    driver = driver_version()
    report.environment["driver"] = driver
    usable = bool(torch.version.cuda) and torch.cuda.is_available()
    if torch.version.cuda and driver:
        report.add("driver", *judge_driver(torch.version.cuda, driver, usable))
    if not usable:
        reason = cuda_unusable_reason(torch)
        report.add("cuda", FAIL if expect_cuda else SKIP, f"no GPU visible: {reason}")
        return []
    arch_list = compiled_arch_list(torch)
    devices = []
    for index in range(torch.cuda.device_count()):
        facts = device_facts(torch, index)
        report.devices.append(facts)
        report.add(f"arch:cuda:{index}", *judge_arch(facts["capability"], arch_list))
        devices.append(f"cuda:{index}")
    names = ", ".join(sorted({d["name"] for d in report.devices}))
    report.add("cuda", PASS, f"{len(devices)} device(s): {names}")
    return devices


# --- numerics --------------------------------------------------------------------------------

def numerics_dtypes(torch: Any, device: str) -> list[str]:
    if device == "cpu":
        return ["fp32", "bf16", "fp16"]
    major, _ = torch.cuda.get_device_capability(device)
    return ["fp32"] + (["tf32"] if major >= 8 else []) + ["fp16"] + (
        ["bf16"] if torch.cuda.is_bf16_supported() else [])


def matmul_error(torch: Any, device: str, dtype: str, n: int = 256) -> float:
    """Normwise relative error of a matmul against a float64 reference on the same (rounded) inputs."""
    from .bench import matmul_precision, torch_dtype

    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(torch_dtype(torch, dtype))
    b = torch.randn(n, n, generator=gen).to(torch_dtype(torch, dtype))
    with matmul_precision(torch, dtype):
        got = torch.matmul(a.to(device), b.to(device)).cpu().double()
    ref = torch.matmul(a.double(), b.double())
    return float(torch.linalg.norm(got - ref) / torch.linalg.norm(ref))


def check_numerics(report: Report, torch: Any, devices: list[str]) -> None:
    for device in devices:
        for dtype in numerics_dtypes(torch, device):
            with report.timed(f"numerics:{device}:{dtype}") as result:
                err = matmul_error(torch, device, dtype)
                tol = TOLERANCE[dtype]
                status = PASS if err <= tol else FAIL
                result(status, f"matmul relative error {err:.2e} ({'<=' if status == PASS else '>'} {tol:.0e})")


def check_autograd(report: Report, torch: Any, device: str) -> None:
    """d/dx sum((A x)^2) = 2 A^T A x, computed by backward and by hand."""
    with report.timed(f"autograd:{device}") as result:
        gen = torch.Generator().manual_seed(1)
        a = torch.randn(64, 64, generator=gen, dtype=torch.float64).to(device)
        x = torch.randn(64, generator=gen, dtype=torch.float64).to(device).requires_grad_()
        (a @ x).pow(2).sum().backward()
        expected = 2 * a.t() @ (a @ x.detach())
        err = float((x.grad - expected).abs().max() / expected.abs().max())
        result(PASS if err < 1e-10 else FAIL, f"backward matches analytic gradient (max rel err {err:.1e})")


# --- runtime ---------------------------------------------------------------------------------

def usable_cpus() -> int:
    """CPUs this process may use: affinity mask, capped by a cgroup CPU quota (v2 or v1)."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = None
    try:
        with open("/sys/fs/cgroup/cpu.max") as fh:
            limit, period = fh.read().split()
            if limit != "max":
                quota = int(limit) / int(period)
    except (OSError, ValueError):
        try:
            with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as q, open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as p:
                limit_us, period_us = int(q.read()), int(p.read())
                if limit_us > 0:
                    quota = limit_us / period_us
        except (OSError, ValueError):
            pass
    if quota is not None:
        count = min(count, max(1, int(quota)))
    return count


def check_shm(report: Report) -> None:
    try:
        st = os.statvfs("/dev/shm")
    except OSError:
        report.add("shm", WARN, "/dev/shm is missing: DataLoader workers cannot share tensors")
        return
    size = st.f_frsize * st.f_blocks
    if size < SHM_WARN_BYTES:
        report.add("shm", WARN, f"/dev/shm is {size / 2**20:.0f} MiB (< 1 GiB): DataLoader workers may "
                   "die with bus errors; use docker run --shm-size=8g or --ipc=host")
    else:
        report.add("shm", PASS, f"/dev/shm is {size / 2**30:.1f} GiB")


class SquaresDataset:
    """Module-level so worker processes can unpickle it under any start method."""

    def __len__(self) -> int:
        return 64

    def __getitem__(self, i: int) -> Any:
        import torch

        return torch.full((16,), float(i * i))


def check_dataloader(report: Report, torch: Any) -> None:
    with report.timed("dataloader") as result:
        from torch.utils.data import DataLoader

        loader = DataLoader(SquaresDataset(), batch_size=8, num_workers=2, timeout=60)
        total = sum(float(batch[:, 0].sum()) for batch in loader)
        expected = float(sum(i * i for i in range(64)))
        status = PASS if total == expected else FAIL
        result(status, f"2 worker processes iterated 64 samples (checksum {total:.0f}, expected {expected:.0f})")


def check_threads(report: Report, torch: Any) -> int:
    cpus = usable_cpus()
    threads = torch.get_num_threads()
    if threads > cpus:
        report.add("threads", WARN, f"torch uses {threads} threads but only {cpus} CPU(s) are usable "
                   "(cgroup quota or affinity): set OMP_NUM_THREADS")
    else:
        report.add("threads", PASS, f"{cpus} usable CPU(s), torch uses {threads} thread(s)")
    return cpus


def environment() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": None, "cuda": None, "cudnn": None, "nccl": None, "driver": None,
    }
