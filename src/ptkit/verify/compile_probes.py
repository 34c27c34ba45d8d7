"""Why a torch.compile failed: probes for each piece a compile needs, each absence as its cause in words.

compile_check runs these only after a compile failed, to name the cause; they never fail a check by
themselves (see probed), because where a piece lives changes between torch versions.
Standard library and torch only (this module runs inside foreign images too); Python 3.8 syntax.
"""

from __future__ import annotations

import os
import shutil
import sysconfig
from collections.abc import Callable
from typing import Any

from .results import describe

# Where torch keeps inductor's C++ prelude, relative to torch/. In the wheels checked (`unzip -l`), 2.4.1, 2.6.0
# and 2.7.1 keep it beside inductor's Python code (_inductor/codegen/); 2.10.0, 2.13.0, 2.14.1 and 2.15.0 with the
# C++ headers (include/torch/csrc/inductor/, https://github.com/pytorch/pytorch/pull/144293); 2.8 and 2.9 unchecked.
CPP_PREFIX_PLACES = (os.path.join("include", "torch", "csrc", "inductor", "cpp_prefix.h"),
                     os.path.join("_inductor", "codegen", "cpp_prefix.h"))
# What every torch's generated C++ includes from torch/include (torch.utils.cpp_extension.include_paths).
TORCH_HEADERS = (os.path.join("include", "ATen"), os.path.join("include", "c10"))
# Lines of a compiler's or inductor's output that state the cause, most specific first.
CAUSE_PATTERNS = ("fatal error:", "error:", "InvalidCxxCompiler", "No working C++ compiler", "CalledProcessError")


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
    """torch's C++ headers: ATen and c10 under torch/include, and cpp_prefix.h wherever this torch keeps it."""
    root = os.path.dirname(torch.__file__)
    absent = [os.path.join(root, d) for d in TORCH_HEADERS if not os.path.isdir(os.path.join(root, d))]
    if not any(os.path.isfile(os.path.join(root, place)) for place in CPP_PREFIX_PLACES):
        absent.append(" or ".join(os.path.join(root, place) for place in CPP_PREFIX_PLACES))
    return f"missing torch C++ headers: no {', no '.join(absent)} (removed by a slimmed install?)" if absent else None


def missing_openssl(torch: Any) -> str | None:
    """With cpp_cache_precompile_headers on, inductor hashes its precompiled header with `openssl`."""
    from torch._inductor import config

    if not getattr(config, "cpp_cache_precompile_headers", False) or shutil.which("openssl"):
        return None
    return "no openssl on PATH: inductor hashes its precompiled C++ header with it"


def probed(*probes: Callable[[], str | None]) -> list[str]:
    """The causes the probes find; a probe that raises (an API this torch lacks) cannot tell, and says nothing."""
    found = []
    for probe in probes:
        try:
            cause = probe()
        except Exception:  # noqa: BLE001 - a probe only explains a failure; it never makes one
            continue
        if cause:
            found.append(cause)
    return found


def missing_for_cpu(torch: Any) -> list[str]:
    return probed(lambda: missing_cxx(torch), lambda: missing_torch_headers(torch), missing_python_header,
                  lambda: missing_openssl(torch))


def triton_cc() -> str | None:
    """The C compiler Triton builds its launcher with: $CC, else gcc, else clang (triton/runtime/build.py)."""
    cc = os.environ.get("CC")
    return shutil.which(cc) if cc else shutil.which("gcc") or shutil.which("clang")


def missing_triton() -> str | None:
    import importlib.util

    return None if importlib.util.find_spec("triton") else "triton is not installed (inductor's GPU backend)"


def missing_triton_cc() -> str | None:
    return None if triton_cc() else "no C compiler for Triton's launcher: $CC, gcc and clang all absent"


def missing_launcher_header() -> str | None:
    header = missing_python_header()
    return header and header + ", which Triton's launcher includes"


def missing_for_triton() -> list[str]:
    return probed(missing_triton, missing_triton_cc, missing_launcher_header)


def cause_of(exc: BaseException) -> str:
    """The line of a compile failure that says why (compiler output is buried in InductorError)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    for pattern in CAUSE_PATTERNS:
        for line in lines:
            if pattern in line:
                return f"{type(exc).__name__}: {line}"
    return describe(exc)
