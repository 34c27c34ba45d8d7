"""torch.compile checks: inductor's C++ backend on the CPU, Triton on each usable GPU.

Check names (stable; the report and the docs refer to them):
  compile                   a SKIP only: not run with --quick, or the runtime flavor (PTKIT_FLAVOR=runtime)
  compile:cpu               a function and a conv+linear module compiled, fp32 and fp64, against eager;
                            the vector ISA inductor picked and the cold compile time in the detail
  compile:cpu:max-autotune  the module in fp32 with mode="max-autotune" (inductor's GEMM templates)
  compile:cuda:N            the function and the module on GPU N through Triton, fp32 and fp64

The check judges by doing: it compiles and compares first, and only when that fails does it look for
the missing piece (the C++ compiler inductor calls, torch's C++ headers wherever that torch version
keeps them, Python.h, Triton and its C compiler), so the FAIL names a cause in one line instead of
quoting a 40-line InductorError. A probe never fails a check that compiled: where a piece lives
changes between torch versions (cpp_prefix.h: see compile_probes.CPP_PREFIX_PLACES). What this torch
cannot do (Dynamo on a Python it does not support) is a SKIP with the reason. Inductor's and Triton's
caches go to a temp dir removed afterwards: the check compiles cold and leaves nothing in the user's home.
Standard library and torch only (this module runs inside foreign images too); Python 3.8 syntax.
"""

from __future__ import annotations

import getpass
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .compile_probes import cause_of, missing_cxx, missing_for_cpu, missing_for_triton, missing_torch_headers, probed
from .results import FAIL, PASS, SKIP, WARN, Report

# dtype -> (rtol, atol) of compiled against eager: fused kernels reorder a few float operations.
TOLERANCE = {"float32": (1e-4, 1e-5), "float64": (1e-10, 1e-12)}
QUICK_SKIP = "not run with --quick (a cold compile takes seconds)"
RUNTIME_SKIP = "runtime flavor: torch.compile needs the devel flavor"


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


def user_name() -> str:
    """getpass.getuser(), which raises for a uid without a passwd entry (docker run --user 12345) when
    USER and LOGNAME are unset: inductor then names its default cache dir torchinductor_uid_N
    (default_cache_dir in torch/_inductor/runtime/cache_dir_utils.py: in the 2.13.0 and 2.15.0 wheels; the 2.6.0
    to 2.10.0 wheels have no such fallback)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError, ImportError):
        return f"uid_{os.getuid()}"


@contextmanager
def private_caches() -> Iterator[str]:
    """Inductor's and Triton's caches in a temp dir for the check, removed afterwards."""
    keys = ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR", "TRITON_HOME")
    saved = {k: os.environ.get(k) for k in keys}
    default_dir = os.path.join(tempfile.gettempdir(), "torchinductor_" + user_name())
    leave_default = os.path.isdir(default_dir)
    tmp = tempfile.mkdtemp(prefix="ptkit-compile-")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tmp
    os.environ["TRITON_CACHE_DIR"] = os.path.join(tmp, "triton")
    # Triton's other folders (dumps, overrides) live under TRITON_HOME, else ~: with no HOME and no passwd
    # entry (docker run --user 12345), ~ stays a literal "~" relative to a read-only working directory.
    os.environ["TRITON_HOME"] = tmp
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


def vec_isa(torch: Any) -> str | None:
    """The vector ISA inductor picked ("" for none); None when this torch does not say (the API moved)."""
    try:
        try:
            from torch._inductor.cpu_vec_isa import pick_vec_isa
        except ImportError:  # torch < 2.4
            from torch._inductor.codecache import pick_vec_isa
        isa = pick_vec_isa()
    except Exception:  # noqa: BLE001 - the ISA only describes a compile that worked
        return None
    return str(isa) if isa else ""


def unsupported(torch: Any) -> str | None:
    """Why this torch's Dynamo cannot run here at all (e.g. a Python newer than that torch supports)."""
    try:
        from torch._dynamo.eval_frame import is_dynamo_supported
    except ImportError:
        return None
    if is_dynamo_supported():
        return None
    return f"torch {torch.__version__} does not support torch.compile on this Python or platform"


# --- the checks ------------------------------------------------------------------------------

def run_compile(report: Report, name: str, body: Callable[[], tuple[str, str]],
                failure: Callable[[BaseException], tuple[str, str]]) -> str:
    """One compile check: run body; when it raises, `failure` judges the exception (status, detail).
    Returns the status."""
    start = time.perf_counter()
    try:
        status, detail = body()
        seconds = time.perf_counter() - start
        detail = f"{detail}; {seconds:.1f} s" if status != FAIL else detail
    except Exception as exc:  # noqa: BLE001 - a failing compile can raise anything
        status, detail = failure(exc)
        seconds = time.perf_counter() - start
    report.add(name, status, detail, seconds)
    return status


def explained(exc: BaseException, causes: list[str]) -> str:
    """A failed compile in one line: the missing pieces the probes found first, then the compiler's own line."""
    detail = f"torch.compile failed: {cause_of(exc)}"
    return f"{'; '.join(causes)} ({detail})" if causes else detail


def cpu_failure(torch: Any, flavor: str, exc: BaseException) -> tuple[str, str]:
    causes = missing_for_cpu(torch)
    if flavor != "devel" and probed(lambda: missing_cxx(torch)) and probed(lambda: missing_torch_headers(torch)):
        # A foreign image with neither a compiler nor torch's headers is a runtime image by another name.
        return WARN, "torch.compile cannot work here (a runtime image?): " + "; ".join(causes)
    return FAIL, explained(exc, causes)


def cpu_body(torch: Any) -> tuple[str, str]:
    mismatch = compare_cases(torch, "cpu", ("float32", "float64"))
    if mismatch:
        return FAIL, mismatch
    isa = vec_isa(torch)
    if isa == "":
        return WARN, "compiled = eager (fp32, fp64), but inductor found no vector ISA: scalar kernels"
    said = f"vector ISA {isa}" if isa else "vector ISA not reported by this torch"
    return PASS, f"function + conv/linear module compiled = eager (fp32, fp64); {said}; cold compile"


def autotune_body(torch: Any) -> tuple[str, str]:
    mismatch = compare_cases(torch, "cpu", ("float32",), mode="max-autotune")
    return (FAIL, mismatch) if mismatch else (PASS, "module with mode=max-autotune compiled = eager (fp32)")


def gpu_body(torch: Any, device: str) -> tuple[str, str]:
    mismatch = compare_cases(torch, device, ("float32", "float64"))
    return (FAIL, mismatch) if mismatch else (PASS, "function + conv/linear module through Triton = eager (fp32, fp64)")


def check_compile(report: Report, torch: Any, devices: list[str], quick: bool) -> None:
    """torch.compile on the CPU and on each usable GPU (devices: 'cpu', 'cuda:0', ...)."""
    flavor = os.environ.get("PTKIT_FLAVOR", "")
    skip = QUICK_SKIP if quick else RUNTIME_SKIP if flavor == "runtime" else unsupported(torch)
    if skip:
        report.add("compile", SKIP, skip)
        return
    with private_caches():  # first: importing inductor's config makes its default cache dir
        status = run_compile(report, "compile:cpu", lambda: cpu_body(torch), lambda e: cpu_failure(torch, flavor, e))
        if status != FAIL:
            run_compile(report, "compile:cpu:max-autotune", lambda: autotune_body(torch),
                        lambda e: (FAIL, explained(e, [])))
        else:
            report.add("compile:cpu:max-autotune", SKIP, "compile:cpu failed")
        for device in devices:
            if device != "cpu":
                run_compile(report, f"compile:{device}", lambda d=device: gpu_body(torch, d),
                            lambda e: (FAIL, explained(e, missing_for_triton())))
