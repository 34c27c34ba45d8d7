"""arch:fatbin: does torch's own arch list say what its CUDA library really holds?

`torch.cuda.get_arch_list()` is a string compiled into torch (TORCH_CUDA_ARCH_LIST at build time); the SASS
and PTX inside libtorch_cuda.so are the truth a GPU executes. The host lists them with NVIDIA's cuobjdump
(ptkit/fatbin.py, no GPU needed) and passes each library's listing in as `--fatbin LIB=ARCH:COUNT,...`
(COUNT: how many of the library's fatbin entries hold that arch). This module only compares; stdlib only.
"""

from __future__ import annotations

import argparse
from typing import Any

from .archs import parse_arch
from .imports import compiled_arch_list
from .results import FAIL, PASS, SKIP, Report

CHECK = "arch:fatbin"
TORCH_LIBRARY = "libtorch_cuda.so"
# An arch in at least this share of the most common arch's entries was compiled for every kernel (it is in
# TORCH_CUDA_ARCH_LIST); fewer are a few kernels' extras (libtorch_cuda.so of torch 2.14.1+cu130: sm_75 ...
# sm_120 in 475 entries each, sm_103 and sm_100a in 59, sm_90a in 4, sm_89 in 1).
GENERAL_SHARE = 0.5


def listing(text: str) -> tuple[str, dict[str, int]]:
    """argparse type for 'libtorch_cuda.so=sm_75:475,compute_90:475'."""
    library, sep, entries = text.partition("=")
    counts: dict[str, int] = {}
    for entry in filter(None, entries.split(",")):
        arch, _, count = entry.partition(":")
        if parse_arch(arch) is None or not count.isdigit():
            raise argparse.ArgumentTypeError(f"expected LIB=ARCH:COUNT,... (ARCH sm_XY or compute_XY), got {entry!r}")
        counts[arch] = int(count)
    if not sep or not library or "/" in library:
        raise argparse.ArgumentTypeError(f"expected LIB=ARCH:COUNT,... such as libtorch_cuda.so=sm_80:10, got {text!r}")
    return library, counts


def valid_listing(text: str) -> str:
    """argparse type: the text itself once `listing` reads it, so that to_argv passes it on unchanged."""
    listing(text)
    return text


def to_argument(library: str, counts: dict[str, int]) -> str:
    """The inverse of `listing`: what the host passes for one library."""
    return f"{library}=" + ",".join(f"{arch}:{count}" for arch, count in counts.items())


def general_archs(counts: dict[str, int]) -> list[str]:
    """The archs every kernel was compiled for, in the order given (see GENERAL_SHARE)."""
    most = max(counts.values(), default=0)
    return [arch for arch, count in counts.items() if most and count >= most * GENERAL_SHARE]


def compare(arch_list: list[str], counts: dict[str, int]) -> tuple[str, str]:
    """PASS when the arch list is exactly the library's general archs; FAIL naming both otherwise."""
    general = general_archs(counts)
    most = max(counts.values(), default=0)
    extras = ", ".join(f"{a} ({n} of {most})" for a, n in counts.items() if a not in general)
    extra = f"; kernel-specific extras: {extras}" if extras else ""
    if sorted(arch_list) == sorted(general):
        return PASS, f"torch's arch list ({' '.join(arch_list)}) is what {TORCH_LIBRARY} holds{extra}"
    missing = [a for a in arch_list if a not in counts]
    unlisted = [a for a in general if a not in arch_list]
    why = "; ".join(filter(None, [f"not in the binary: {' '.join(missing)}" if missing else "",
                                  f"in the binary, not in the list: {' '.join(unlisted)}" if unlisted else ""]))
    return FAIL, (f"torch.cuda.get_arch_list() says {' '.join(arch_list) or 'nothing'}, {TORCH_LIBRARY} holds "
                  f"{' '.join(general) or 'nothing'} ({why or 'only as kernel-specific extras'}){extra}")


def check_fatbin(report: Report, torch: Any, arguments: list[str], unread: str | None = None) -> None:
    """Record the listings in environment.build.fatbin and compare torch's arch list with libtorch_cuda.so's;
    `unread`: why the host could not list them (--fatbin-unread), recorded as environment.build.fatbin_unread."""
    if not getattr(torch.version, "cuda", None):
        return
    if unread and not arguments:
        report.environment.setdefault("build", {})["fatbin_unread"] = unread
        report.add(CHECK, SKIP, f"the host could not list the fatbin: {unread}")
        return
    if not arguments:
        report.add(CHECK, SKIP, "no fatbin listing given (the host reads one with cuobjdump: --fatbin LIB=ARCH:N,...)")
        return
    tables = dict(listing(text) for text in arguments)
    report.environment.setdefault("build", {})["fatbin"] = tables
    if TORCH_LIBRARY not in tables:
        report.add(CHECK, FAIL, f"the fatbin listing names {', '.join(tables)} but not {TORCH_LIBRARY}")
        return
    report.add(CHECK, *compare(compiled_arch_list(torch), tables[TORCH_LIBRARY]))
