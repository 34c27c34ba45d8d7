"""Extension checks: a C++ and a CUDA extension built with torch.utils.cpp_extension, loaded and run.

Check names (stable; the report and the docs refer to them):
  compile:cpp-extension   a C++ op (torch/library.h) built, loaded (torch.ops), run against eager;
                          every devel image, cpu included; the build time in the detail
  compile:cuda-extension  a CUDA kernel built by nvcc for two archs (the oldest and the newest SASS arch
                          this torch was compiled for) and loaded; on a usable GPU it is also launched
                          and compared with eager, else that part is a SKIP said in the detail
A runtime flavor, --quick, a CPU torch or an image without nvcc is a SKIP naming why; an nvcc whose
release differs from torch.version.cuda is a FAIL naming both (its objects would not match torch's runtime).

Both build through setuptools with BuildExtension (use_ninja=False), the path `pip install` of a source
package takes: load_inline needs ninja, which no ptkit image holds. torch.utils.cpp_extension finds nvcc
only through CUDA_HOME, `which nvcc` or /usr/local/cuda (_find_cuda_home never looks in site-packages,
where NVIDIA's nvcc wheels put it): ptkit's devel images set CUDA_HOME. The build runs in a temp dir
that is removed afterwards. Standard library and torch only; Python 3.8 syntax.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

from .results import FAIL, PASS, SKIP, Report

CPP = "compile:cpp-extension"
COMPILER_EXTRAS = "nvcc,cccl"  # of NVIDIA's cuda-toolkit meta package: nvcc, crt, nvvm, runtime headers, CCCL
CUDA = "compile:cuda-extension"
BUILD_TIMEOUT = 900  # seconds: nvcc and g++ on torch's headers, two archs, on a small machine
QUICK_SKIP = "not run with --quick (building an extension takes seconds)"
RUNTIME_SKIP = "runtime flavor: no compiler (the devel flavor builds extensions)"
NO_NVCC = ("no nvcc: CUDA_HOME unset and none on PATH or in /usr/local/cuda (ptkit's devel images have nvcc "
           "on the CUDA 13 rows only: see the README, 'CUDA extensions')")

# y = a * x + b, registered as a torch op (torch.ops.NAME.axpb) from torch/library.h: torch/extension.h
# (pybind11 and all of torch's C++ API) takes g++ about 29 s to parse on a 2-core host, torch/library.h
# about 6 s (measured). The CUDA op is a kernel that includes no torch header (nvcc stays quick) and a
# binding that checks its input and launches it.
CPP_OP = """#include <ATen/core/Tensor.h>
#include <torch/library.h>
at::Tensor axpb(const at::Tensor& x, double a, double b) { return x.mul(a).add(b); }
TORCH_LIBRARY(NAMESPACE, m) { m.def("axpb", axpb); }
"""
CUDA_KERNEL = """#include <cuda_runtime.h>
__global__ void axpb_kernel(const float* x, float* y, float a, float b, long n) {
  long i = blockIdx.x * (long)blockDim.x + threadIdx.x;
  if (i < n) y[i] = a * x[i] + b;
}
const char* axpb_launch(const float* x, float* y, float a, float b, long n) {
  axpb_kernel<<<(unsigned)((n + 255) / 256), 256>>>(x, y, a, b, n);
  cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}
"""
CUDA_BINDING = """#include <ATen/core/Tensor.h>
#include <torch/library.h>
const char* axpb_launch(const float* x, float* y, float a, float b, long n);
at::Tensor axpb(const at::Tensor& x, double a, double b) {
  TORCH_CHECK(x.is_cuda() && x.is_contiguous() && x.scalar_type() == at::kFloat, "contiguous float32 CUDA x");
  at::Tensor y = x.new_empty(x.sizes());
  const char* err = axpb_launch(x.data_ptr<float>(), y.data_ptr<float>(), (float)a, (float)b, x.numel());
  TORCH_CHECK(err == nullptr, err);
  return y;
}
TORCH_LIBRARY(NAMESPACE, m) { m.def("axpb", axpb); }
"""
SETUP = """import sys
from setuptools import setup
from torch.utils import cpp_extension as ce
kind, name, sources = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
ext = (ce.CUDAExtension if kind == "cuda" else ce.CppExtension)(name, sources)
setup(name=name, ext_modules=[ext], cmdclass={"build_ext": ce.BuildExtension.with_options(use_ninja=False)},
      script_args=["build_ext", "--inplace"])
"""


# --- archs and the compiler ------------------------------------------------------------------

def arch_list(flags: list[str]) -> list[str]:
    """torch's compiled arch flags as TORCH_CUDA_ARCH_LIST entries: sm_90 -> 9.0, sm_90a -> 9.0a,
    compute_120 -> 12.0+PTX (merged into 12.0 when that SASS arch is there too)."""
    out: list[str] = []
    for flag in flags:
        found = re.match(r"^(sm|compute)_(\d+)(\d)([af]?)$", flag)
        if not found:
            continue
        entry = f"{found.group(2)}.{found.group(3)}{found.group(4)}"
        if found.group(1) == "sm":
            out.append(entry)
        elif entry in out:
            out[out.index(entry)] = entry + "+PTX"
        else:
            out.append(entry + "+PTX")
    return out


def build_archs(flags: list[str]) -> list[str]:
    """The oldest and the newest plain SASS arch of torch's list (['7.5', '12.0']): two archs, the newest
    the row supports, without building for all six."""
    found = sorted({(int(m.group(1)), int(m.group(2))) for m in map(re.compile(r"^sm_(\d+)(\d)$").match, flags) if m})
    plain = [f"{major}.{minor}" for major, minor in found]
    return plain[:1] + plain[-1:] if len(plain) > 1 else plain


def default_arch_list(torch: Any) -> str:
    """TORCH_CUDA_ARCH_LIST for this torch: the archs it was compiled for (the devel image's default)."""
    flags = getattr(torch._C, "_cuda_getArchFlags", lambda: "")() or ""
    return ";".join(arch_list(flags.split()))


def nvcc_release(nvcc: str) -> str | None:
    """'13.0' from `nvcc --version` ("Cuda compilation tools, release 13.0, V13.0.88"); None if unreadable."""
    try:
        out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"release (\d+\.\d+)", out)
    return found.group(1) if found else None


def find_nvcc(torch: Any) -> str | None:
    """nvcc where torch.utils.cpp_extension will look for it (CUDA_HOME/bin), None when it finds none."""
    from torch.utils import cpp_extension

    home = cpp_extension.CUDA_HOME
    nvcc = os.path.join(home, "bin", "nvcc") if home else ""
    return nvcc if nvcc and os.access(nvcc, os.X_OK) else None


# --- building --------------------------------------------------------------------------------

def build(torch: Any, tmp: str, kind: str, name: str, files: dict[str, str], env: dict[str, str]) -> tuple[Any, str]:
    """Write the sources, build them in a subprocess with setuptools, load the library: (torch.ops.NAME_x, log)."""
    name = f"{name}_{uuid.uuid4().hex[:12]}"  # a namespace registered twice aborts the process: one per build
    for file, text in files.items():
        with open(os.path.join(tmp, file), "w") as fh:
            fh.write(text.replace("NAMESPACE", name))
    with open(os.path.join(tmp, "setup.py"), "w") as fh:
        fh.write(SETUP)
    proc = subprocess.run([sys.executable, "setup.py", kind, name, ",".join(files)], cwd=tmp, env=env,
                          capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        errors = [ln for ln in log.splitlines() if "error" in ln.lower()] or log.splitlines() or ["no output"]
        raise RuntimeError(f"build failed (exit {proc.returncode}): {errors[0].strip()[:300]}")
    built = [f for f in os.listdir(tmp) if f.startswith(name) and f.endswith(".so")]
    if not built:
        raise RuntimeError(f"the build left no {name}*.so")
    torch.ops.load_library(os.path.join(tmp, built[0]))
    return getattr(torch.ops, name), log


def built_archs(log: str) -> list[str]:
    """The SASS archs nvcc was asked for in the build log (-gencode=arch=compute_75,code=sm_75)."""
    found = re.findall(r"code=sm_(\d+)(\d)\b", log)
    return sorted({f"{a}.{b}" for a, b in found}, key=lambda a: tuple(int(p) for p in a.split(".")))


def compared(torch: Any, module: Any, device: str) -> str | None:
    """The op against eager on device; the mismatch in words, None when they agree."""
    x = torch.rand(4099, generator=torch.Generator().manual_seed(0)).to(device)
    got, want = module.axpb(x, 2.0, 0.5), x * 2.0 + 0.5
    if not torch.allclose(got, want, rtol=1e-6, atol=1e-6):
        return f"differs from eager on {device}: max abs diff {float((got - want).abs().max()):.3g}"
    return None


# --- the checks ------------------------------------------------------------------------------

def timed_build(report: Report, name: str, body: Any) -> None:
    """Run body(tmp) -> (status, detail) in a fresh temp dir, removed afterwards; a raise is a FAIL."""
    tmp = tempfile.mkdtemp(prefix="ptkit-extension-")
    start = time.perf_counter()
    try:
        status, detail = body(tmp)
    except Exception as exc:  # noqa: BLE001 - a failing build or import can raise anything
        status, detail = FAIL, f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report.add(name, status, detail, time.perf_counter() - start)


def cpp_body(torch: Any, tmp: str) -> tuple[str, str]:
    start = time.perf_counter()
    module, _ = build(torch, tmp, "cpp", "ptkit_cpp_ext", {"op.cpp": CPP_OP}, dict(os.environ))
    seconds = time.perf_counter() - start
    mismatch = compared(torch, module, "cpu")
    said = f"C++ op (torch/library.h) built in {seconds:.1f} s, loaded, = eager on cpu"
    return (FAIL, mismatch) if mismatch else (PASS, said)


def cuda_body(torch: Any, nvcc: str, devices: list[str], tmp: str) -> tuple[str, str]:
    flags = (getattr(torch._C, "_cuda_getArchFlags", lambda: "")() or "").split()
    archs = build_archs(flags)
    if len(archs) < 2:
        return FAIL, f"torch lists fewer than two SASS archs to build for: {' '.join(flags) or '(none)'}"
    env = {**os.environ, "TORCH_CUDA_ARCH_LIST": ";".join(archs)}
    start = time.perf_counter()
    module, log = build(torch, tmp, "cuda", "ptkit_cuda_ext", {"op.cpp": CUDA_BINDING, "kernel.cu": CUDA_KERNEL}, env)
    seconds = time.perf_counter() - start
    made = built_archs(log)
    if made != archs:
        return FAIL, f"nvcc was asked for sm {' '.join(made) or '(none)'} instead of {' '.join(archs)}"
    detail = f"nvcc {nvcc} built sm {' + '.join(archs)} in {seconds:.1f} s, loaded"
    gpus = [d for d in devices if d != "cpu"]
    if not gpus:
        return PASS, detail + "; launch SKIP: no usable GPU"
    mismatch = compared(torch, module, gpus[0])
    return (FAIL, mismatch) if mismatch else (PASS, f"{detail}; launched on {gpus[0]}, = eager")


def cuda_skip(torch: Any) -> tuple[str, str] | tuple[None, str]:
    """(SKIP or FAIL, why) when the CUDA extension cannot or must not be built; (None, nvcc) otherwise."""
    if not getattr(torch.version, "cuda", None):
        return SKIP, "CPU torch: no CUDA extension to build"
    nvcc = find_nvcc(torch)
    if nvcc is None:
        return SKIP, NO_NVCC
    release = nvcc_release(nvcc)
    if release != torch.version.cuda:
        return FAIL, (f"nvcc {nvcc} is CUDA {release or '(unreadable release)'}, torch is built with CUDA "
                      f"{torch.version.cuda}: extensions must be compiled by the same CUDA release")
    return None, f"{release} ({nvcc})"


def check_extensions(report: Report, torch: Any, devices: list[str], quick: bool) -> None:
    """compile:cpp-extension, then compile:cuda-extension (devices: 'cpu', 'cuda:0', ...)."""
    flavor = os.environ.get("PTKIT_FLAVOR")
    skip = QUICK_SKIP if quick else RUNTIME_SKIP if flavor == "runtime" else None
    if not skip and flavor != "devel" and not (shutil.which("c++") or shutil.which("g++")):
        skip = "no C++ compiler (c++, g++) on PATH: this image cannot build extensions (a runtime image?)"
    if skip:
        report.add(CPP, SKIP, skip)
        report.add(CUDA, SKIP, skip)
        return
    timed_build(report, CPP, lambda tmp: cpp_body(torch, tmp))
    status, said = cuda_skip(torch)
    if status is not None:
        report.add(CUDA, status, said)
        return
    timed_build(report, CUDA, lambda tmp: cuda_body(torch, said, devices, tmp))


def compiler_requirement(requires: list[str]) -> str | None:
    """cuda-toolkit[nvcc,cccl]==V from torch's Requires-Dist lines (or a lock's pin) that require cuda-toolkit V:
    nvcc, crt, nvvm and CCCL of torch's own CUDA release; None when torch requires no cuda-toolkit (CUDA < 13)."""
    for line in requires:
        found = re.match(r"^\s*cuda[-_]toolkit\s*(?:\[[^]]*\])?\s*==\s*([0-9][0-9.]*)\s*(?:;|$)", line, re.I)
        if found:
            return f"cuda-toolkit[{COMPILER_EXTRAS}]=={found.group(1)}"
    return None


def main(argv: list[str]) -> int:
    """The Dockerfile's compiler stage asks: `arch-list` (the default TORCH_CUDA_ARCH_LIST: torch's compiled
    archs) and `requirement` (the compiler for the venv's torch, from its Requires-Dist)."""
    if argv == ["requirement"]:
        from importlib.metadata import requires

        found = compiler_requirement(requires("torch") or [])
        print(found or "")
        return 0 if found else 1
    if argv == ["arch-list"]:
        import torch

        print(default_arch_list(torch))
        return 0
    print("usage: python -m ptkit.verify.extension arch-list|requirement", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
