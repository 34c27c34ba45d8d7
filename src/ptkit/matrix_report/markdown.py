"""The matrix report as GitHub-flavoured markdown; the figures go to SVG files beside it, when it has a place."""

from __future__ import annotations

from pathlib import Path

from . import fleet as fleet_view
from . import gpu_verdicts, plots
from .model import Loaded
from .tables import VERSION_COLUMNS, check_matrix, counts, verdict, versions


def cell(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def table(head: list[str] | tuple[str, ...], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(cell(h) for h in head) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]


def checks_table(reports: list[Loaded]) -> list[str]:
    matrix = check_matrix(reports)
    rows = []
    for report, (variant, cells) in zip(reports, matrix.rows, strict=True):
        tally = ", ".join(f"{n} {s}" for s, n in counts(report).items() if n)
        row = [variant, f"**{verdict(report)}** {tally}"]
        for name in matrix.checks:
            c = cells.get(name)
            row.append(f"**{c.status.upper()}** {c.detail}" if c else "-")
        rows.append(row)
    return table(["variant", "result", *matrix.checks], rows)


def figures(reports: list[Loaded], out: Path | None) -> dict[Path, str]:
    """SVG files named after the markdown file; none when the markdown goes to standard output."""
    if out is None:
        return {}
    svgs = {"benchmark": plots.benchmark_svg(reports), "sizes": plots.sizes_svg(reports)}
    return {out.with_name(f"{out.stem}-{name}.svg"): svg for name, svg in svgs.items() if svg is not None}


def render(reports: list[Loaded], out: Path | None = None) -> tuple[str, dict[Path, str]]:
    """The markdown, and the figure files it links to (path -> SVG text) for the caller to write."""
    lines = ["# ptkit matrix report", "", f"{len(reports)} report(s): " + ", ".join(str(r.path) for r in reports),
             "", "## Checks", "", *checks_table(reports), "", "## Versions", "",
             *table(VERSION_COLUMNS, versions(reports)), ""]
    head, rows = gpu_verdicts.table(reports)
    if rows and len(head) > 2:
        lines += ["## GPUs", "", gpu_verdicts.LEGEND, "", *table(head, rows), ""]
    files = figures(reports, out)
    if files:
        lines += ["## Figures", ""] + [f"![{p.stem}]({p.name})\n" for p in files]
    if len({r.host for r in reports}) > 1:
        nodes = fleet_view.fleet(reports)
        lines += ["## Nodes", "", *table(fleet_view.FLEET_COLUMNS, fleet_view.rows(nodes)), ""]
    return "\n".join(lines), files
