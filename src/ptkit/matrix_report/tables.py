"""The report's tables as plain rows of strings, shared by the HTML and markdown renderers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .model import DASH, Loaded, min_driver, text

STATUSES = ("pass", "warn", "fail", "skip")


@dataclass(frozen=True)
class Cell:
    status: str  # pass | warn | fail | skip | "" (the check did not run in this variant)
    detail: str


@dataclass(frozen=True)
class CheckMatrix:
    checks: list[str]
    rows: list[tuple[str, dict[str, Cell]]]  # (variant, check name -> cell)


def check_matrix(reports: list[Loaded]) -> CheckMatrix:
    """Variants x checks; the columns are every check any report ran, in the order they first ran."""
    checks: list[str] = []
    rows = []
    for report in reports:
        cells = {}
        for check in report.get("checks") or []:
            if not isinstance(check, dict) or not check.get("name"):
                continue
            name = str(check["name"])
            if name not in checks:
                checks.append(name)
            cells[name] = Cell(str(check.get("status") or ""), text(check.get("detail")))
        rows.append((report.label, cells))
    return CheckMatrix(checks, rows)


def verdict(report: Loaded) -> str:
    ok = report.get("ok")
    return "OK" if ok is True else "FAILED" if ok is False else DASH


VERSION_COLUMNS = ("variant", "flavor", "result", "torch", "CUDA", "cuDNN", "NCCL", "compiled archs",
                   "CUDA extensions", "min driver", "image size", "compressed", "build time")


def cuda_extensions(report: Loaded) -> str:
    """The verifier's compile:cuda-extension status: pass where the devel image built and loaded one."""
    found = [c for c in report.get("checks") or [] if isinstance(c, dict) and c.get("name") == "compile:cuda-extension"]
    return text(found[0].get("status")) if found else "-"


def versions(reports: list[Loaded]) -> list[list[str]]:
    """One row per report, in VERSION_COLUMNS order."""
    rows = []
    for r in reports:
        env = "environment."
        rows.append([
            r.variant, text(r.get("run.flavor")), verdict(r),
            text(r.get(env + "torch")), text(r.get(env + "cuda")), text(r.get(env + "cudnn")),
            text(r.get(env + "nccl")), text(r.get(env + "build.arch_list")), cuda_extensions(r), text(min_driver(r)),
            size(r.get("image.size_bytes")), size(r.get("image.compressed_bytes")),
            duration(r.get("image.build_seconds")),
        ])
    return rows


def size(value: Any) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return DASH
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if value >= scale:
            return f"{value / scale:.2f} {unit}"
    return f"{int(value)} B"


def duration(value: Any) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return DASH
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


def counts(report: Loaded) -> dict[str, int]:
    checks = [c for c in report.get("checks") or [] if isinstance(c, dict)]
    return {s: sum(c.get("status") == s for c in checks) for s in STATUSES}
