"""The matrix report as one self-contained HTML page: inline CSS and inline SVG, no script, no URL."""

from __future__ import annotations

from html import escape

from . import fleet as fleet_view
from . import gpu_verdicts, plots
from .model import Loaded
from .tables import STATUSES, VERSION_COLUMNS, check_matrix, counts, verdict, versions

CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 3px 6px; vertical-align: top; text-align: left; }
th { background: #f0f0f0; }
td.pass { background: #d8f0dc; } td.warn { background: #fff0c2; }
td.fail { background: #f8cdd0; } td.skip { background: #ececec; color: #666; }
td.cell { min-width: 7em; max-width: 16em; overflow-wrap: anywhere; }  /* a commit hash must not spill over */
td small { display: block; color: #444; font-size: 0.8em; }
b.OK { color: #17692b; } b.FAILED { color: #a4161a; }
figure { margin: 1em 0; } figure svg { max-width: 100%; height: auto; }
p.none { color: #666; font-style: italic; }
"""


def _table(head: list[str] | tuple[str, ...], rows: list[list[str]], row_ids: bool = False) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = []
    for row in rows:
        attr = f' id="row-{escape(row[0])}" data-variant="{escape(row[0])}"' if row_ids else ""
        body.append(f"<tr{attr}>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>")
    return f'<div class="scroll"><table><thead><tr>{th}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def checks_section(reports: list[Loaded]) -> str:
    matrix = check_matrix(reports)
    head = "".join(f"<th>{escape(c)}</th>" for c in ["variant", "result", *matrix.checks])
    body = []
    for report, (variant, cells) in zip(reports, matrix.rows, strict=True):
        tds = []
        for name in matrix.checks:
            cell = cells.get(name)
            if cell is None:
                tds.append('<td class="cell">-</td>')
                continue
            status = cell.status if cell.status in STATUSES else ""
            tds.append(f'<td class="cell {status}"><b>{escape(cell.status.upper() or "-")}</b>'
                       f"<small>{escape(cell.detail)}</small></td>")
        tally = ", ".join(f"{n} {s}" for s, n in counts(report).items() if n)
        result = f'<b class="{verdict(report)}">{verdict(report)}</b><small>{escape(tally)}</small>'
        body.append(f'<tr id="variant-{escape(variant)}" data-variant="{escape(variant)}">'
                    f"<th>{escape(variant)}</th><td>{result}</td>{''.join(tds)}</tr>")
    return (f'<h2>Checks</h2><div class="scroll"><table id="checks"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def figure(svg: str | None, figure_id: str, caption: str, missing: str) -> str:
    if svg is None:
        return f'<p class="none" id="{figure_id}-none">{escape(missing)}</p>'
    return f'<figure id="{figure_id}">{svg}<figcaption>{escape(caption)}</figcaption></figure>'


def fleet_section(reports: list[Loaded]) -> str:
    """Only where the reports come from more than one node: one row per node, outliers named."""
    if len({r.host for r in reports}) < 2:
        return ""
    nodes = fleet_view.fleet(reports)
    return "<h2>Nodes</h2>" + _table(fleet_view.FLEET_COLUMNS, fleet_view.rows(nodes))


def gpu_section(reports: list[Loaded]) -> str:
    """The GPU verdict table, its cells coloured as checks are: native pass, PTX JIT warn, no fail."""
    head, rows = gpu_verdicts.table(reports)
    if not rows or len(head) < 3:
        return ""
    status = {gpu_verdicts.NATIVE: "pass", gpu_verdicts.JIT: "warn", gpu_verdicts.NO: "fail"}
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = []
    for row in rows:
        cells = "".join(f'<td class="cell {status[c.split(":")[0]]}">{escape(c)}</td>' for c in row[2:])
        body.append(f"<tr><th>{escape(row[0])}</th><td>{escape(row[1])}</td>{cells}</tr>")
    return (f"<h2>GPUs</h2><p>{escape(gpu_verdicts.LEGEND)}</p>"
            f'<div class="scroll"><table id="gpus"><thead><tr>{th}</tr></thead><tbody>{"".join(body)}</tbody>'
            "</table></div>")


def render(reports: list[Loaded]) -> str:
    sources = ", ".join(escape(str(r.path)) for r in reports)
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        f"<title>ptkit matrix report</title><style>{CSS}</style></head><body>",
        f"<h1>ptkit matrix report</h1><p>{len(reports)} report(s): {sources}</p>",
        checks_section(reports),
        "<h2>Versions</h2>",
        _table(VERSION_COLUMNS, versions(reports), row_ids=True),
        "<h2>Benchmark</h2>",
        figure(plots.benchmark_svg(reports), "benchmark",
               "matmul TFLOP/s against matrix size per dtype; dashed: the datasheet peak where known",
               "No benchmark in these reports."),
        "<h2>Image sizes</h2>",
        figure(plots.sizes_svg(reports), "sizes", "image size on disk and compressed (as pushed)",
               "No image sizes recorded in these reports."),
        # After the plots: the verdict table is a row per catalog GPU (60), the longest part of the page.
        gpu_section(reports),
        fleet_section(reports),
        "</body></html>\n",
    ]
    return "\n".join(p for p in parts if p)
