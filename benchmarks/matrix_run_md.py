"""docs/evidence/matrix/RUN.md from the matrix run's rows (benchmarks/matrix_run.py) and the reports it copied.

A row: image, command, exit (main.sh's), seconds, last_line (main.sh's last stderr line), and per flavor
(devel, runtime) None (no report this run) or the report's file name (report), ok and `image` block (size_bytes,
build_seconds).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ptkit.images import DEFAULT_FLAVOR, FLAVORS
from ptkit.matrix_report.model import DASH, Loaded, load, text
from ptkit.matrix_report.tables import duration, size

UNREACHABLE = 3  # scripts/main.sh's exit when this host's pip cannot get the row's wheels (nothing built)


def flavor_cell(built: object) -> str:
    """'ok, 2 min 45 s, 5.77 GB' for a report of this run; '-' where none was written."""
    if not isinstance(built, dict):
        return DASH
    result = "ok" if built.get("ok") is True else "FAILED"
    return f"{result}, {duration(built.get('build_seconds'))}, {size(built.get('size_bytes'))}"


def versions_row(row: dict[str, object], reports: Path) -> str | None:
    """The README's row: what the devel report read inside the container, and both flavors' build and size."""
    devel = row.get(DEFAULT_FLAVOR)
    if not isinstance(devel, dict) or not (reports / str(devel["report"])).is_file():
        return None
    r: Loaded = load(reports / str(devel["report"]))
    facts = [text(r.get(f"environment.{key}")) for key in ("torch", "cuda", "cudnn", "nccl", "build.arch_list")]
    return "| " + " | ".join([str(row["image"]), *facts, *(flavor_cell(row.get(f)) for f in FLAVORS)]) + " |"


def header(command: str, commit: str, started: dt.datetime, total_s: float, disk: str) -> list[str]:
    return ["# The matrix on one host: each row and source as `bash scripts/main.sh ROW [--source S]` runs it", "",
            f"Command: `{command}`  ", f"Commit: {commit}  ", f"Date: {started:%Y-%m-%d %H:%M} UTC  ",
            f"Total time: {total_s / 60:.1f} min  ", f"Peak disk use {disk}", ""]


def run_md(head: list[str], rows: list[dict[str, object]], reports: Path) -> str:
    """RUN.md: per image main.sh's command, exit, wall time and both flavors; the rows this host cannot build
    with main.sh's one line; the README's table (versions read in the devel image, both flavors)."""
    built = [r for r in rows if r["exit"] != UNREACHABLE]
    lines = [*head, "| image | command | exit | wall time (wheelhouse, both builds and verifications, prune) | "
             + " | ".join(f"{f}: result, build time, size" for f in FLAVORS) + " |", "| --- " * 6 + "|"]
    lines += [f"| {r['image']} | `{r['command']}` | {r['exit']} | {r['seconds']} s | "
              + " | ".join(flavor_cell(r.get(f)) for f in FLAVORS) + " |" for r in built]
    if cannot := [r for r in rows if r["exit"] == UNREACHABLE]:
        lines += ["", f"Rows this host cannot build (main.sh exit {UNREACHABLE}, nothing built), with main.sh's "
                  "one line:", "", "| image | command | exit | wall time | main.sh says |", "| --- " * 5 + "|"]
        lines += [f"| {r['image']} | `{r['command']}` | {r['exit']} | {r['seconds']} s | {r['last_line']} |"
                  for r in cannot]
    table = [line for r in built if (line := versions_row(r, reports))]
    lines += ["", "## The README's table", "", "| image | torch | CUDA | cuDNN | NCCL | compiled archs | "
              + " | ".join(f"{f}: result, build, size" for f in FLAVORS) + " |", "| --- " * 8 + "|", *table]
    lines += ["", "Reports: `<image>.json` (devel) and `<image>-runtime.json` here (their `image` block: size and "
              "build time)."]
    return "\n".join(lines) + "\n"
