"""Step 5: the host-side report: the verifier's JSON plus where it ran, written atomically, summarized."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

from .verify.results import FAIL, render_benchmarks, tutorial_lines, write_json_atomic


def enrich(report: dict[str, Any], *, image: str, image_id: str | None, variant: str | None,
           gpu: bool, digests: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        **report,
        "run": {
            "image": image,
            "image_id": image_id,
            "variant": variant,
            "gpu_requested": gpu,
            "host": platform.node(),
            "pushed": digests or {},
        },
    }


def write(report: dict[str, Any], path: Path) -> Path:
    write_json_atomic(report, str(path))
    return path


def first_failure(report: dict[str, Any]) -> str | None:
    for check in report.get("checks", []):
        if check["status"] == FAIL:
            return f"{check['name']}: {check['detail']}"
    return None


def summary(report: dict[str, Any]) -> str:
    """A few lines for a terminal or a CI log (rich table when rich is installed)."""
    checks = report.get("checks", [])
    counts = {s: sum(c["status"] == s for c in checks) for s in ("pass", "warn", "fail", "skip")}
    env = report.get("environment", {})
    head = (f"{report.get('run', {}).get('image', '?')}: {'OK' if report.get('ok') else 'FAILED'} - "
            f"torch {env.get('torch') or '-'}, CUDA {env.get('cuda') or '-'}, "
            + ", ".join(f"{n} {s}" for s, n in counts.items()))
    tail = render_benchmarks(report["benchmarks"]) if report.get("benchmarks") else []
    if report.get("tutorial"):
        tail += ["", *tutorial_lines(report["tutorial"])]
    tail = ["", *tail] if tail else []
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        lines = [head] + [f"  {c['status'].upper():5} {c['name']}: {c['detail']}" for c in checks]
        return "\n".join(lines + tail)
    table = Table(title=head, show_lines=False)
    for col in ("status", "check", "detail"):
        table.add_column(col, overflow="fold")
    style = {"pass": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}
    for c in checks:
        table.add_row(f"[{style[c['status']]}]{c['status'].upper()}[/]", c["name"], c["detail"])
    console = Console(width=140, record=True, force_terminal=False)
    with console.capture() as cap:
        console.print(table)
    return "\n".join([cap.get().rstrip(), *tail])
