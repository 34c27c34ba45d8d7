"""torch.compile checks: inductor's C++ backend on the CPU, Triton on each usable GPU.

Check names (stable; the report and the docs refer to them):
  compile                   a SKIP only: not run with --quick, or the runtime flavor (PTKIT_FLAVOR=runtime)
  compile:cpu               a function and a conv+linear module compiled, fp32 and fp64, against eager;
                            the vector ISA inductor picked and the cold compile time in the detail
  compile:cpu:max-autotune  the module in fp32 with mode="max-autotune" (inductor's GEMM templates)
  compile:cuda:N            the function and the module on GPU N through Triton, fp32 and fp64

A failure is a FAIL whose detail is its cause in one line: the missing piece is probed first (the
C++ compiler inductor calls, torch's C++ headers, Python.h, Triton and its C compiler), so the detail
names it instead of quoting a 40-line InductorError. Inductor's and Triton's caches go to a temp
dir removed afterwards: the check compiles cold and leaves nothing in the user's home.
Standard library and torch only (this module runs inside foreign images too); Python 3.8 syntax.
"""

from __future__ import annotations

import getpass
import os
import shutil
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .results import FAIL, PASS, SKIP, WARN, Report, describe

# dtype -> (rtol, atol) of compiled against eager: fused kernels reorder a few float operations.
TOLERANCE = {"float32": (1e-4, 1e-5), "float64": (1e-10, 1e-12)}
QUICK_SKIP = "not run with --quick (a cold compile takes seconds)"
RUNTIME_SKIP = "runtime flavor: torch.compile needs the devel flavor"
CPP_PREFIX = os.path.join("include", "torch", "csrc", "inductor", "cpp_prefix.h")
# Lines of a compiler's or inductor's output that state the cause, most specific first.
CAUSE_PATTERNS = ("fatal error:", "error:", "InvalidCxxCompiler", "No working C++ compiler", "CalledProcessError")


# --- probes: what a compile needs, each absence as its cause in words ---------------------------

def python_header() -> str:
    """Where inductor and Triton look for Python.h (sysconfig's include path, as they do)."""
    return os.path.join(sysconfig.get_path("include"), "Python.h")


def missing_python_header() -> str | None:
    path = python_header()
    return None if os.path.isfile(path) else f"missing Python headers: no {path} (the python3-dev headers)"


def missing_cxx(torch: Any) -> str | None:
    """Inductor tries each entry of config.cpp.cxx in turn (None means 'a conda-installed one')."""
    from torch._inductor import config

    cxx = config.cpp.cxx
    candidates = [c for c in (cxx if isinstance(cxx, (tuple, list)) else (cxx,)) if c]
    if any(shutil.which(c) for c in candidates):
        return None
    return f"no C++ compiler: none of {', '.join(candidates) or 'g++'} on PATH (inductor's cpp.cxx)"


def missing_torch_headers(torch: Any) -> str | None:
    path = os.path.join(os.path.dirname(torch.__file__), CPP_PREFIX)
    return None if os.path.isfile(path) else f"missing torch C++ headers: no {path} (removed by a slimmed install?)"


def missing_openssl(torch: Any) -> str | None:
    """With cpp_cache_precompile_headers on, inductor hashes its precompiled header with `openssl`."""
    from torch._inductor import config

    if not getattr(config, "cpp_cache_precompile_headers", False) or shutil.which("openssl"):
        return None
    return "no openssl on PATH: inductor hashes its precompiled C++ header with it"


def missing_for_cpu(torch: Any) -> list[str]:
    probes = (missing_cxx(torch), missing_torch_headers(torch), missing_python_header(), missing_openssl(torch))
    return [m for m in probes if m]


def triton_cc() -> str | None:
    """The C compiler Triton builds its launcher with: $CC, else gcc, else clang (triton/runtime/build.py)."""
    cc = os.environ.get("CC")
    return shutil.which(cc) if cc else shutil.which("gcc") or shutil.which("clang")


def missing_for_triton() -> list[str]:
    import importlib.util

    missing = []
    if importlib.util.find_spec("triton") is None:
        missing.append("triton is not installed (inductor's GPU backend)")
    if triton_cc() is None:
        missing.append("no C compiler for Triton's launcher: $CC, gcc and clang all absent")
    header = missing_python_header()
    if header:
        missing.append(header + ", which Triton's launcher includes")
    return missing


def cause_of(exc: BaseException) -> str:
    """The line of a compile failure that says why (compiler output is buried in InductorError)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    for pattern in CAUSE_PATTERNS:
        for line in lines:
            if pattern in line:
                return f"{type(exc).__name__}: {line}"
    return describe(exc)


# --- compiling -------------------------------------------------------------------------------

@contextmanager
def precompiled_headers_in(tmp: str) -> Iterator[None]:
    """Inductor's precompiled header (about 150 MB) goes to a dir fixed at import under /tmp,
    ignoring TORCHINDUCTOR_CACHE_DIR: point it into tmp for the check, then back."""
    from torch._inductor import codecache

    names = ("_HEADER_DIR", "_HEADER_LOCK_DIR")
    saved = {n: getattr(codecache, n) for n in names if hasattr(codecache, n)}
    if len(saved) == len(names):  # torch versions without precompiled headers have nothing to move
        codecache._HEADER_DIR = os.path.join(tmp, "precompiled_headers")
        codecache._HEADER_LOCK_DIR = os.path.join(tmp, "precompiled_headers", "locks")
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(codecache, name, value)


@contextmanager
def private_caches() -> Iterator[str]:
    """Inductor's and Triton's caches in a temp dir for the check, removed afterwards."""
    keys = ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR")
    saved = {k: os.environ.get(k) for k in keys}
    default_dir = os.path.join(tempfile.gettempdir(), "torchinductor_" + getpass.getuser())
    leave_default = os.path.isdir(default_dir)
    tmp = tempfile.mkdtemp(prefix="ptkit-compile-")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tmp
    os.environ["TRITON_CACHE_DIR"] = os.path.join(tmp, "triton")
    try:
        with precompiled_headers_in(tmp):
            yield tmp
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(tmp, ignore_errors=True)
        if not leave_default and os.path.isdir(default_dir) and not os.listdir(default_dir):
            os.rmdir(default_dir)  # inductor makes its default cache dir even when told to use another


def sin_cos(x: Any) -> Any:
    return x.sin() + x.cos()


def small_module(torch: Any) -> Any:
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 10))


def compiled_error(torch: Any, fn: Callable[[Any], Any], x: Any, mode: str | None) -> float:
    """Compile fn (fullgraph: no silent fallback to eager), run it on x; its max error against eager,
    relative to the dtype's tolerance (<= 1 is a match)."""
    torch._dynamo.reset()
    with torch.no_grad():
        eager = fn(x)
        compiled = torch.compile(fn, fullgraph=True, mode=mode)(x)
    rtol, atol = TOLERANCE[str(x.dtype).replace("torch.", "")]
    allowed = atol + rtol * eager.abs()
    return float(((compiled - eager).abs() / allowed).max())


def compare_cases(torch: Any, device: str, dtypes: tuple[str, ...], mode: str | None = None) -> str | None:
    """Compile the function and the module per dtype; the first mismatch in words, None when all match."""
    gen = torch.Generator().manual_seed(0)
    for dtype in dtypes:
        dt = getattr(torch, dtype)
        module = small_module(torch).to(device=device, dtype=dt).eval()
        cases = (("function", sin_cos, torch.rand(64, generator=gen, dtype=dt).to(device)),
                 ("module", module, torch.rand(2, 3, 8, 8, generator=gen, dtype=dt).to(device)))
        for what, fn, x in cases:
            ratio = compiled_error(torch, fn, x, mode)
            if not ratio <= 1.0:  # also catches NaN
                return f"compiled {what} differs from eager in {dtype}: {ratio:.3g}x the tolerance {TOLERANCE[dtype]}"
    return None


def vec_isa(torch: Any) -> str:
    try:
        from torch._inductor.cpu_vec_isa import pick_vec_isa
    except ImportError:  # torch < 2.4
        from torch._inductor.codecache import pick_vec_isa
    isa = pick_vec_isa()
    return str(isa) if isa else ""


# --- the checks ------------------------------------------------------------------------------

def run_compile(report: Report, name: str, missing: list[str], body: Callable[[], tuple[str, str]]) -> bool:
    """One compile check: FAIL on a missing piece without compiling; else run body; True on PASS/WARN."""
    if missing:
        report.add(name, FAIL, "; ".join(missing))
        return False
    start = time.perf_counter()
    try:
        status, detail = body()
    except Exception as exc:  # noqa: BLE001 - a failing compile can raise anything
        status, detail = FAIL, f"torch.compile failed: {cause_of(exc)}"
    seconds = time.perf_counter() - start
    report.add(name, status, f"{detail}; {seconds:.1f} s" if status != FAIL else detail, seconds)
    return status != FAIL


def cpu_body(torch: Any) -> tuple[str, str]:
    mismatch = compare_cases(torch, "cpu", ("float32", "float64"))
    if mismatch:
        return FAIL, mismatch
    isa = vec_isa(torch)
    if not isa:
        return WARN, "compiled = eager (fp32, fp64), but inductor found no vector ISA: scalar kernels"
    return PASS, f"function + conv/linear module compiled = eager (fp32, fp64); vector ISA {isa}; cold compile"


def autotune_body(torch: Any) -> tuple[str, str]:
    mismatch = compare_cases(torch, "cpu", ("float32",), mode="max-autotune")
    return (FAIL, mismatch) if mismatch else (PASS, "module with mode=max-autotune compiled = eager (fp32)")


def gpu_body(torch: Any, device: str) -> tuple[str, str]:
    mismatch = compare_cases(torch, device, ("float32", "float64"))
    return (FAIL, mismatch) if mismatch else (PASS, "function + conv/linear module through Triton = eager (fp32, fp64)")


def check_compile(report: Report, torch: Any, devices: list[str], quick: bool) -> None:
    """torch.compile on the CPU and on each usable GPU (devices: 'cpu', 'cuda:0', ...)."""
    flavor = os.environ.get("PTKIT_FLAVOR", "")
    if quick:
        report.add("compile", SKIP, QUICK_SKIP)
        return
    if flavor == "runtime":
        report.add("compile", SKIP, RUNTIME_SKIP)
        return
    with private_caches():  # first: importing inductor's config makes its default cache dir
        missing = missing_for_cpu(torch)
        if flavor != "devel" and missing_cxx(torch) and missing_torch_headers(torch):
            # A foreign image with none of the pieces is a runtime image by another name: say so, do not fail it.
            report.add("compile:cpu", WARN, "torch.compile cannot work here (a runtime image?): " + "; ".join(missing))
            return
        if run_compile(report, "compile:cpu", missing, lambda: cpu_body(torch)):
            run_compile(report, "compile:cpu:max-autotune", [], lambda: autotune_body(torch))
        else:
            report.add("compile:cpu:max-autotune", SKIP, "compile:cpu failed")
        for device in devices:
            if device != "cpu":
                run_compile(report, f"compile:{device}", missing_for_triton(), lambda d=device: gpu_body(torch, d))
