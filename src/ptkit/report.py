"""Step 6: the host side of a report: the verifier's report plus where it ran (`run`), written
atomically, shown with the verifier's own renderer (rich only restyles its rows on a terminal)."""

from __future__ import annotations

import platform
from pathlib import Path

from .errors import PtkitError
from .images import RunBlock
from .verify.results import FAIL, Report, render_text, summary_parts, write_json_atomic


def with_run(report: Report, run: RunBlock) -> Report:
    """The report plus where it ran (images.RunBlock: variant, source and flavor as the image's labels say)."""
    report.run = run.block(platform.node())
    return report


def write(report: Report, path: Path) -> None:
    try:
        write_json_atomic(report.to_dict(), str(path))
    except OSError as exc:
        raise PtkitError(f"cannot write the report {path}: {exc.strerror or exc}") from None


def first_failure(report: Report) -> str | None:
    failed = next((c for c in report.checks if c.status == FAIL), None)
    return f"{failed.name}: {failed.detail}" if failed else None


def summary(report: Report) -> str:
    """The verifier's text, its check table drawn by rich when rich is installed."""
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        return render_text(report)
    head, rows, tail = summary_parts(report)
    table = Table(title=head, show_lines=False)
    for col in rows[0]:
        table.add_column(col, overflow="fold")
    style = {"PASS": "green", "WARN": "yellow", "FAIL": "bold red", "SKIP": "dim"}
    for row in rows[1:]:
        table.add_row(f"[{style.get(row[0], '')}]{row[0]}[/]", *row[1:])
    console = Console(width=140, record=True, force_terminal=False)
    with console.capture() as cap:
        console.print(table)
    return "\n".join([cap.get().rstrip(), *tail])
