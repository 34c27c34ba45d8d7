"""The report's figures, drawn with matplotlib and returned as inline SVG text (the page stays offline)."""

from __future__ import annotations

import io
from collections import defaultdict
from typing import Any

from ..errors import PtkitError
from .model import Loaded

DTYPE_ORDER = ("fp32", "tf32", "fp16", "bf16")
NO_METADATA = dict.fromkeys(("Creator", "Date", "Format", "Type"))  # no date (stable output), no URLs
Series = dict[str, list[tuple[int, float]]]  # label -> [(n, TFLOP/s)]


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise PtkitError("drawing the report's figures needs matplotlib: pip install matplotlib") from None

    matplotlib.use("Agg")  # no display on CI hosts; must precede the pyplot import
    import matplotlib.pyplot as plt

    return plt


def _svg(fig: Any, salt: str) -> str:
    """The figure as an <svg> element to inline in a page."""
    plt = _pyplot()
    buf = io.StringIO()
    # Text stays text (small, searchable; drawn with local fonts), and the salt keeps ids unique per figure.
    with plt.rc_context({"svg.hashsalt": salt, "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata=NO_METADATA)
    plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]


def benchmark_data(reports: list[Loaded]) -> tuple[dict[str, Series], dict[str, dict[str, float]]]:
    """dtype -> series of each (variant, device), and dtype -> datasheet peak per device name."""
    series: dict[str, Series] = defaultdict(lambda: defaultdict(list))
    peaks: dict[str, dict[str, float]] = defaultdict(dict)
    for report in reports:
        for b in report.get("benchmarks") or []:
            if not isinstance(b, dict) or b.get("status") != "ok":
                continue
            n, tflops, dtype = b.get("n"), b.get("tflops"), str(b.get("dtype") or "?")
            if not isinstance(n, int | float) or not isinstance(tflops, int | float):
                continue
            device = str(b.get("device_name") or b.get("device") or "?")
            series[dtype][f"{report.label} ({device})"].append((int(n), float(tflops)))
            if isinstance(b.get("peak_tflops"), int | float):
                peaks[dtype][device] = float(b["peak_tflops"])
    return series, peaks


def benchmark_svg(reports: list[Loaded]) -> str | None:
    """TFLOP/s against matrix size, one panel per dtype, the datasheet peak dashed where known."""
    series, peaks = benchmark_data(reports)
    if not series:
        return None
    dtypes = sorted(series, key=lambda d: (DTYPE_ORDER.index(d) if d in DTYPE_ORDER else 99, d))
    cols = min(2, len(dtypes))
    rows = -(-len(dtypes) // cols)
    plt = _pyplot()
    fig, axes = plt.subplots(rows, cols, figsize=(6.0 * cols, 3.6 * rows), squeeze=False)
    for ax, dtype in zip(axes.flat, dtypes, strict=False):
        for label, points in sorted(series[dtype].items()):
            ns, values = zip(*sorted(points), strict=True)
            ax.plot(ns, values, marker="o", label=label)
        for device, peak in sorted(peaks[dtype].items()):
            ax.axhline(peak, linestyle="--", color="0.4", linewidth=1)
            ax.annotate(f"{device} peak {peak:g}", (0.01, peak), xycoords=("axes fraction", "data"),
                        fontsize=7, va="bottom", color="0.3")
        ax.set_xscale("log", base=2)
        values = [t for points in series[dtype].values() for _, t in points] + list(peaks[dtype].values())
        if max(values) > 100 * min(values) > 0:  # a CPU beside a GPU: keep both readable
            ax.set_yscale("log")
        ax.set(title=f"matmul {dtype}", xlabel="n (n x n x n)", ylabel="TFLOP/s")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(dtypes):]:
        ax.set_visible(False)
    fig.tight_layout()
    return _svg(fig, "benchmark")


def sizes_svg(reports: list[Loaded]) -> str | None:
    """Image size and compressed size per variant, as horizontal bars (GB)."""
    rows = [(r.label, r.get("image.size_bytes"), r.get("image.compressed_bytes")) for r in reports]
    rows = [(v, s, c) for v, s, c in rows if isinstance(s, int | float) or isinstance(c, int | float)]
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8.0, 0.5 * len(rows) + 1.2))
    ys = range(len(rows))
    for offset, index, label in ((-0.2, 1, "image size"), (0.2, 2, "compressed (pushed)")):
        values = [row[index] / 1e9 if isinstance(row[index], int | float) else 0.0 for row in rows]
        ax.barh([y + offset for y in ys], values, height=0.4, label=label)
    ax.set_yticks(list(ys), [row[0] for row in rows])
    ax.invert_yaxis()
    ax.set(xlabel="GB", title="image sizes")
    ax.legend(fontsize=8)
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    return _svg(fig, "sizes")
