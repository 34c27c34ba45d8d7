"""`ptkit select`, `ptkit report` and `ptkit fleet`: host-side views of the verifier's reports.

cli.py adds them with `register(subparsers)`.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import UsageError
from .options import add_matrix, subcommand
from .platforms import PLATFORMS, Platform
from .userfiles import path_arg

if TYPE_CHECKING:
    from .compat.gpus import Gpu
    from .matrix_report.model import Loaded

LAST_MATRIX_RUN = Path("docs", "evidence", "matrix")  # its reports, beside matrix.toml (benchmarks/matrix_run.py)


def register(subparsers: argparse._SubParsersAction) -> None:
    select = subcommand(
        subparsers, "select", "which variants run on a GPU and driver, best first, and why the others do not",
        description="Rank the matrix's variants for a driver and GPU (given, or read with nvidia-smi). "
                    "Exit 0 when a variant can use the GPU, 1 when none can.")
    select.add_argument("--driver", metavar="VERSION", help="NVIDIA driver version, e.g. 535.104.05")
    gpu = select.add_mutually_exclusive_group()
    gpu.add_argument("--capability", metavar="X.Y", help="compute capability, e.g. 8.0 or sm_80")
    gpu.add_argument("--gpu", metavar="MODEL", help="GPU model name, e.g. A100, 'RTX 5090'")
    select.add_argument("--reports", type=path_arg, nargs="+", metavar="PATH",
                        help="report files or directories (default: reports/, and for the variants it lacks "
                             "the last matrix run's, docs/evidence/matrix/ in a checkout)")
    select.add_argument("--platform", choices=tuple(PLATFORMS), help="the host's platform (default: the CPU the GPU "
                        "catalog gives the model, else this machine's); rows not built for it are refused")
    add_matrix(select)
    select.add_argument("--json", action="store_true")
    select.set_defaults(func=cmd_select)

    report = subcommand(subparsers, "report", "one HTML or markdown page from many reports")
    report.add_argument("reports", type=path_arg, nargs="+", metavar="REPORT", help="report files or directories")
    report.add_argument("-o", "--output", type=path_arg, metavar="FILE", help="default: standard output")
    report.add_argument("--format", choices=("html", "md"), help="default: from the -o suffix, else html")
    report.set_defaults(func=cmd_report)

    fleet = subcommand(
        subparsers, "fleet", "the reports of many nodes as one table, outliers named",
        description="One row per node report. Exit 1 when a node failed or is an outlier.")
    fleet.add_argument("reports", type=path_arg, nargs="+", metavar="REPORT", help="report files or directories")
    fleet.add_argument("--ratio", type=float, default=None, metavar="R",
                       help="an outlier is below R x the median of its peers (default 0.8)")
    fleet.add_argument("--json", action="store_true")
    fleet.add_argument("--format", choices=("text", "md"), default="text", help="how the table is printed")
    fleet.set_defaults(func=cmd_fleet)


def cmd_select(args: argparse.Namespace) -> int:
    from . import matrix
    from .compat import select
    from .matrix_report import model

    gpu = _gpu(args)
    host = select.host_platform(gpu, args.platform, platform.machine())
    m = matrix.load(args.matrix)
    reports = (select.by_variant(model.load_all(args.reports), host) if args.reports
               else _default_reports(m.path, host))
    verdicts = select.rank(m.variants, reports, gpu, host)
    print(json.dumps(select.to_json(verdicts, gpu, host), indent=2) if args.json else
          select.render_text(verdicts, gpu, host))
    return 0 if any(v.tier in select.USES_GPU for v in verdicts) else 1


def _default_reports(matrix_path: Path, host: Platform) -> dict[str, Loaded]:
    """reports/'s, and for each variant it lacks the last matrix run's, committed beside the matrix in a
    checkout (said on stderr): a cpu check of one's own must not hide the arch lists the GPU rows recorded.
    Only reports of images of the host's platform count."""
    from .compat.select import by_variant
    from .images import REPORTS
    from .matrix_report.model import load_all

    own = by_variant(load_all(sorted(REPORTS.glob("*.json"))), host)
    last_run = matrix_path.resolve().parent / LAST_MATRIX_RUN
    borrowed = {name: r for name, r in by_variant(load_all(sorted(last_run.glob("*.json"))), host).items()
                if name not in own}
    if borrowed:
        print(f"ptkit select: no report in reports/ for {', '.join(sorted(borrowed))}: "
              f"arch lists from the last matrix run, {last_run}", file=sys.stderr)
    return {**borrowed, **own}


def _gpu(args: argparse.Namespace) -> Gpu:
    """The GPU and driver from the options; what they leave out comes from the host's nvidia-smi."""
    from .compat import gpus

    capability = gpus.typed_capability(args.capability) if args.capability else (
        gpus.capability_of(args.gpu) if args.gpu else None)
    driver = gpus.parse_driver(args.driver) if args.driver else None
    if driver and capability:
        return gpus.Gpu(driver, capability, args.gpu or "")
    host = gpus.read_host()
    return gpus.Gpu(driver or host.driver, capability or host.capability, args.gpu or host.name)


def cmd_report(args: argparse.Namespace) -> int:
    from .matrix_report import html, markdown, model

    reports = model.load_all(args.reports)
    fmt = args.format or ("md" if args.output and args.output.suffix == ".md" else "html")
    if fmt == "html":
        _write(html.render(reports), args.output)
        return 0
    page, figures = markdown.render(reports, args.output)
    for path, svg in figures.items():
        _write(svg, path)
    _write(page, args.output)
    return 0


def cmd_fleet(args: argparse.Namespace) -> int:
    from .matrix_report import fleet, markdown, model
    from .verify.results import table

    if args.ratio is not None and not 0 < args.ratio <= 1:
        raise UsageError(f"--ratio {args.ratio} must be in (0, 1]")
    nodes = fleet.fleet(model.load_all(args.reports), args.ratio or fleet.DEFAULT_RATIO)
    if args.json:
        print(json.dumps([vars(n) for n in nodes], indent=2))
    else:
        render = markdown.table if args.format == "md" else lambda h, r: table([list(h), *r])
        print("\n".join(render(fleet.FLEET_COLUMNS, fleet.rows(nodes))))
    return 0 if fleet.healthy(nodes) else 1


def _write(content: str, output: Path | None) -> None:
    if output is None or output == Path("-"):  # `-o -`: standard output
        sys.stdout.write(content)
        return
    from .userfiles import write_text

    write_text(output, content, "cannot write")
    print(f"wrote {output}", file=sys.stderr)
