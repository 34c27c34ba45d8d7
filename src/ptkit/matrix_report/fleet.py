"""The fleet view: one row per node report, with the nodes whose matmul or all-reduce figure lies far
below the median of their peers (same GPU model, same dtype or world size) named as outliers.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from .model import DASH, Loaded, text

DEFAULT_RATIO = 0.8  # "far below": under 80% of the peers' median
MIN_PEERS = 2  # with a single peer there is no telling which of the two is the odd one


@dataclass
class Node:
    host: str
    variant: str
    gpu: str
    driver: str
    ok: bool | None
    status: str
    matmul: float | None = None  # best TFLOP/s of the node's benchmark
    matmul_dtype: str = ""
    busbw: float | None = None  # all-reduce bus bandwidth, GB/s, at the largest message
    world_size: int | None = None
    outliers: list[str] = field(default_factory=list)


def records(report: Loaded, key: str) -> list[dict[str, Any]]:
    """The report's list at `key`, its mappings only: a report of another shape gives nothing, not a traceback."""
    value = report.get(key)
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def figure(value: Any) -> float | None:
    """A measured rate: a finite number above zero (no bool, no string, no NaN); anything else is no figure."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        return None
    return float(value)


def gpu_name(report: Loaded) -> str:
    devices = records(report, "devices")
    names = sorted({str(d.get("name")) for d in devices if d.get("name")})
    if not names:
        return "cpu" if report.get("benchmarks") else DASH
    return f"{len(devices)} x {names[0]}" if len(names) == 1 else ", ".join(names)


def status(report: Loaded) -> str:
    failed = [c for c in records(report, "checks") if c.get("status") == "fail"]
    ranks = [r for r in records(report, "distributed.ranks") if r.get("ok") is False]
    parts = [f"{c.get('name')}: {text(c.get('detail'))}" for c in failed[:1]]
    parts += [f"rank {r.get('rank')} on {r.get('host') or '?'} failed: {text(r.get('failed'))}" for r in ranks]
    if parts:
        return "FAILED " + "; ".join(parts)
    return "ok" if report.get("ok") is True else DASH


def best_matmul(report: Loaded) -> tuple[float | None, str]:
    """The best trustworthy TFLOP/s; GPU figures win over CPU ones when a node has both."""
    ok = [b for b in records(report, "benchmarks") if b.get("status") == "ok" and figure(b.get("tflops"))]
    gpu = [b for b in ok if str(b.get("device", "")).startswith("cuda")]
    best = max(gpu or ok, key=lambda b: b["tflops"], default=None)
    return (float(best["tflops"]), str(best.get("dtype") or "")) if best else (None, "")


def bus_bandwidth(report: Loaded) -> float | None:
    rows = [b for b in records(report, "distributed.bandwidth") if figure(b.get("busbw_gbps"))]
    largest = max(rows, key=lambda b: (figure(b.get("bytes")) or 0, b["busbw_gbps"]), default=None)
    return float(largest["busbw_gbps"]) if largest else None


def node(report: Loaded) -> Node:
    matmul, dtype = best_matmul(report)
    world = report.get("distributed.world_size")
    ok = report.get("ok")
    return Node(host=report.host, variant=report.variant, gpu=gpu_name(report),
                driver=text(report.get("environment.driver")), ok=ok if isinstance(ok, bool) else None,
                status=status(report), matmul=matmul, matmul_dtype=dtype, busbw=bus_bandwidth(report),
                world_size=world if isinstance(world, int) and not isinstance(world, bool) else None)


def _flag(nodes: list[Node], value: str, group: str, what: str, unit: str, ratio: float) -> None:
    groups: dict[object, list[Node]] = {}
    for n in nodes:
        if getattr(n, value) is not None:
            groups.setdefault((n.gpu, getattr(n, group)), []).append(n)
    for members in groups.values():
        for n in members:
            peers = [getattr(p, value) for p in members if p is not n]
            if len(peers) < MIN_PEERS:
                continue
            median = statistics.median(peers)
            mine = getattr(n, value)
            if mine < ratio * median:
                n.outliers.append(f"{what} {mine:.3g} {unit} is {mine / median:.0%} of the peers' median "
                                  f"{median:.3g} {unit}")


def fleet(reports: list[Loaded], ratio: float = DEFAULT_RATIO) -> list[Node]:
    nodes = [node(r) for r in reports]
    _flag(nodes, "matmul", "matmul_dtype", "matmul", "TFLOP/s", ratio)
    _flag(nodes, "busbw", "world_size", "all-reduce", "GB/s", ratio)
    return nodes


FLEET_COLUMNS = ("node", "variant", "GPU", "driver", "status", "matmul TFLOP/s", "all-reduce busbw GB/s",
                 "outlier")


def rows(nodes: list[Node]) -> list[list[str]]:
    return [[n.host, n.variant, n.gpu, n.driver, n.status,
             DASH if n.matmul is None else f"{n.matmul:.3g} ({n.matmul_dtype})",
             DASH if n.busbw is None else f"{n.busbw:.3g}",
             "; ".join(n.outliers) or DASH] for n in nodes]


def healthy(nodes: list[Node]) -> bool:
    return all(n.ok is not False and not n.outliers and not n.status.startswith("FAILED") for n in nodes)
