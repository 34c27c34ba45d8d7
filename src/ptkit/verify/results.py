"""Check results, the JSON report (schema ptkit.verify/1) and its human rendering."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from .facts import SCHEMA

PASS, WARN, FAIL, SKIP = "pass", "warn", "fail", "skip"


@dataclass
class Check:
    name: str
    status: str
    detail: str
    seconds: float = 0.0


@dataclass
class Report:
    environment: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    devices: list[dict[str, Any]] = field(default_factory=list)
    benchmarks: list[dict[str, Any]] = field(default_factory=list)
    tutorial: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return all(c.status != FAIL for c in self.checks)

    def add(self, name: str, status: str, detail: str, seconds: float = 0.0) -> Check:
        check = Check(name, status, one_line(detail), round(seconds, 4))
        self.checks.append(check)
        return check

    @contextmanager
    def timed(self, name: str) -> Iterator[Callable[[str, str], None]]:
        """Time a block that reports its outcome through the yielded setter.

        An exception escaping the block becomes a FAIL with its one-line cause: a check
        must never take the whole verifier down with a traceback.
        """
        outcome: list[tuple[str, str]] = []
        start = time.perf_counter()
        try:
            yield lambda status, detail: outcome.append((status, detail))
        except Exception as exc:  # noqa: BLE001 - any failure of the checked stack is a result
            outcome.append((FAIL, describe(exc)))
        status, detail = outcome[-1] if outcome else (FAIL, "check produced no result")
        self.add(name, status, detail, time.perf_counter() - start)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "ok": self.ok,
            "environment": self.environment,
            "checks": [asdict(c) for c in self.checks],
            "devices": self.devices,
            "benchmarks": self.benchmarks,
            "tutorial": self.tutorial,
        }


def one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def describe(exc: BaseException) -> str:
    """The cause of an exception in one line: its type and the line of its message that says why.

    Some libraries lead with a banner (numpy: "IMPORTANT: PLEASE READ THIS...") and put the cause
    last ("Original error was: ..."); prefer that line when it is there.
    """
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    if not lines:
        return type(exc).__name__
    cause = next((ln for ln in lines if ln.startswith("Original error was:")), lines[0])
    return f"{type(exc).__name__}: {cause}"


def write_json_atomic(data: dict[str, Any], path: str) -> None:
    """Write a report so that readers see the old file or the whole new one, never half."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".ptkit-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; a report is for everyone to read
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    # zip(strict=) is 3.10+; the verifier also runs on older images' Pythons.
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]  # noqa: B905


def render_benchmarks(benchmarks: list[dict[str, Any]]) -> list[str]:
    rows = [["device", "dtype", "n", "median ms", "iqr ms", "TFLOP/s", "% peak"]]
    for b in benchmarks:
        if b["status"] != "ok":
            rows.append([b["device"], b["dtype"], str(b["n"]), "-", "-", "BROKEN TIMING", b["detail"]])
            continue
        frac = b["fraction_of_peak"]
        rows.append([
            b["device"], b["dtype"], str(b["n"]),
            f"{b['median_s'] * 1e3:.3f}", f"{b['iqr_s'] * 1e3:.3f}", f"{b['tflops']:.3f}",
            "-" if frac is None else f"{frac * 100:.1f}%",
        ])
    return table(rows)


def tutorial_lines(tutorial: dict[str, Any]) -> list[str]:
    """The tutorial's two familiar lines, with the correctly measured figure behind them."""
    gpu = tutorial["device"] == "cuda"
    return [
        f"Device selected : {'CUDA' if gpu else 'CPU'}",
        f"Time taken to multiply two matrices on a {'GPU' if gpu else 'CPU'}: {tutorial['median_ms']:.3f} ms"
        f" (1000x1000 fp32, median of {tutorial['repeats']}, synchronized)",
    ]


def render_text(report: Report) -> str:
    env = report.environment
    lines = [
        f"ptkit verify: python {env.get('python')} | torch {env.get('torch') or '-'} | "
        f"cuda {env.get('cuda') or '-'} | driver {env.get('driver') or '-'}",
        "",
    ]
    rows = [["status", "check", "detail", "s"]]
    rows += [[c.status.upper(), c.name, c.detail, f"{c.seconds:.2f}"] for c in report.checks]
    lines += table(rows)
    for dev in report.devices:
        lines.append(
            f"device {dev['index']}: {dev['name']} sm_{dev['capability'].replace('.', '')} "
            f"{dev['memory_gib']:.1f} GiB, {dev['sm_count']} SMs"
        )
    if report.benchmarks:
        lines += ["", *render_benchmarks(report.benchmarks)]
    if report.tutorial:
        lines += ["", *tutorial_lines(report.tutorial)]
    counts = {s: sum(c.status == s for c in report.checks) for s in (PASS, WARN, FAIL, SKIP)}
    verdict = "PASS" if report.ok else "FAIL"
    lines += ["", f"verify: {verdict} ({', '.join(f'{n} {s}' for s, n in counts.items())})"]
    return "\n".join(lines)
