"""The one report model (JSON schema ptkit.verify/1) and its one text renderer.

The host reads reports back with Report.from_dict, adds where it ran in `run`, and renders them with
render_text, or re-styles summary_parts' rows (rich), so every report field is defined here once.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .facts import SCHEMA

PASS, WARN, FAIL, SKIP = "pass", "warn", "fail", "skip"
STATUSES = (PASS, WARN, FAIL, SKIP)


@dataclass
class Check:
    name: str
    status: str
    detail: str
    seconds: float = 0.0


OPTIONAL_BLOCKS = ("run", "image", "distributed")


@dataclass
class Report:
    environment: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    devices: list[dict[str, Any]] = field(default_factory=list)
    benchmarks: list[dict[str, Any]] = field(default_factory=list)
    tutorial: dict[str, Any] | None = None
    invocation: list[str] = field(default_factory=list)  # the verify arguments as the verifier parsed them
    run: dict[str, Any] | None = None  # where the host ran it (image, variant, image_id, ...); host-side only
    image: dict[str, Any] | None = None  # the image's size and build time, when the host built it
    distributed: dict[str, Any] | None = None  # multi-process runs: world size, ranks, bandwidth table

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

    @contextmanager
    def guarded(self, name: str) -> Iterator[None]:
        """Run a block whose results add themselves; an exception escaping it is a FAIL named `name`."""
        start = time.perf_counter()
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - the run goes on to the end whatever a check raises
            self.add(name, FAIL, describe(exc), time.perf_counter() - start)

    def first_failure(self) -> Check | None:
        return next((c for c in self.checks if c.status == FAIL), None)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"schema": SCHEMA, "ok": self.ok}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in OPTIONAL_BLOCKS and value is None:
                continue  # only reports the host enriched (or a torchrun run) carry these blocks
            data[f.name] = [asdict(c) for c in value] if f.name == "checks" else value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        """The inverse of to_dict; unknown keys (newer verifiers) are dropped, missing ones default."""
        known = {f.name for f in fields(cls)} - {"checks"}
        report = cls(**{k: v for k, v in data.items() if k in known})
        check_keys = {f.name for f in fields(Check)}
        report.checks = [Check(**{k: v for k, v in c.items() if k in check_keys}) for c in data.get("checks", [])]
        return report

    @classmethod
    def failed(cls, name: str, cause: str) -> Report:
        """A report whose only check is a FAIL: for a verifier that could not run or answer."""
        report = cls()
        report.add(name, FAIL, cause)
        return report


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


def report_bytes(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=2) + "\n").encode()


def write_through(payload: bytes, path: str, fifo: bool) -> None:
    """Write into an existing character device or FIFO as it is (never created, truncated or replaced).

    O_NONBLOCK on the open only: a FIFO nobody reads answers ENXIO at once instead of hanging the run."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        if fifo and exc.errno == errno.ENXIO:
            raise OSError(exc.errno, "a FIFO that nobody reads") from None
        raise
    try:
        os.set_blocking(fd, True)
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def replace_atomically(payload: bytes, path: str) -> None:
    """Readers see the old file or the whole new one, never half: a temp file renamed onto path."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".ptkit-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; a report is for everyone to read
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_json_atomic(data: dict[str, Any], path: str) -> None:
    """Write a report to `path` according to what is there (issue 19: never replace a special file).

    A regular file or a new path: replaced atomically. A symlink: the same rule for what it points at
    (the link stays). A character device (/dev/null, a terminal) or a FIFO: written through as it is.
    A directory, a block device or a socket: refused, an OSError whose strerror says why in one line.
    A missing parent folder is made, as for a new path. Serialising comes first: a report that cannot
    be encoded touches nothing.
    """
    payload = report_bytes(data)
    try:
        mode = os.stat(path).st_mode  # follows a symlink: what a write would reach
    except FileNotFoundError:
        mode = None
    except NotADirectoryError:
        raise OSError(errno.ENOTDIR, "a part of the path is not a folder") from None
    if mode is None or stat.S_ISREG(mode):
        replace_atomically(payload, os.path.realpath(path))
    elif stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        write_through(payload, path, stat.S_ISFIFO(mode))
    else:
        what = "a folder" if stat.S_ISDIR(mode) else "a block device" if stat.S_ISBLK(mode) else "a special file"
        raise OSError(errno.EINVAL, f"it is {what}; a report goes to a file, a new path, a character device or a FIFO")


def table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    # zip(strict=) is 3.10+; the verifier also runs on older images' Pythons.
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]  # noqa: B905


def render_benchmarks(benchmarks: list[dict[str, Any]]) -> list[str]:
    rows = [["device", "dtype", "n", "median ms", "iqr ms", "TFLOP/s", "% peak", "note"]]
    for b in benchmarks:
        if b["status"] != "ok":
            rows.append([b["device"], b["dtype"], str(b["n"]), "-", "-", "BROKEN TIMING", "-", b["detail"]])
            continue
        frac = b["fraction_of_peak"]
        rows.append([
            b["device"], b["dtype"], str(b["n"]),
            f"{b['median_s'] * 1e3:.3f}", f"{b['iqr_s'] * 1e3:.3f}", f"{b['tflops']:.3f}",
            "-" if frac is None else f"{frac * 100:.1f}%", b.get("detail", ""),
        ])
    return table(rows)


def tutorial_lines(tutorial: dict[str, Any]) -> list[str]:
    """The tutorial's two familiar lines, with the correctly measured figure behind them."""
    gpu = tutorial["device"] == "cuda"
    threads = f", {tutorial['threads']} thread(s)" if tutorial.get("threads") and not gpu else ""
    return [
        f"Device selected : {'CUDA' if gpu else 'CPU'}",
        f"Time taken to multiply two matrices on a {'GPU' if gpu else 'CPU'}: {tutorial['median_ms']:.3f} ms"
        f" (1000x1000 fp32, median of {tutorial['repeats']}, synchronized{threads})",
    ]


def device_line(dev: dict[str, Any]) -> str:
    return (f"device {dev['index']}: {dev['name']} sm_{dev['capability'].replace('.', '')} "
            f"{dev['memory_gib']:.1f} GiB, {dev['sm_count']} SMs")


def run_line(run: dict[str, Any]) -> str:
    image_id = run.get("image_id") or "-"
    return (f"ran in image {run.get('image') or '-'} (variant {run.get('variant') or '-'}, "
            f"image id {image_id[:19]})")


def verdict_line(report: Report) -> str:
    counts = {s: sum(c.status == s for c in report.checks) for s in STATUSES}
    return f"verify: {'PASS' if report.ok else 'FAIL'} ({', '.join(f'{n} {s}' for s, n in counts.items())})"


def summary_parts(report: Report) -> tuple[str, list[list[str]], list[str]]:
    """(head line, check rows with the header row first, tail lines): render_text's pieces, for re-styling."""
    env = report.environment
    head = (f"ptkit verify: python {env.get('python') or '-'} | torch {env.get('torch') or '-'} | "
            f"cuda {env.get('cuda') or '-'} | driver {env.get('driver') or '-'}"
            + (f" | {env.get('machine') or '-'} emulated" if env.get("emulated") else ""))
    rows = [["status", "check", "detail", "s"]]
    rows += [[c.status.upper(), c.name, c.detail, f"{c.seconds:.2f}"] for c in report.checks]
    tail = [device_line(dev) for dev in report.devices]
    for block in (render_benchmarks(report.benchmarks) if report.benchmarks else [],
                  tutorial_lines(report.tutorial) if report.tutorial else [],
                  [run_line(report.run)] if report.run else [],
                  [verdict_line(report)]):
        tail += ["", *block] if block else []
    return head, rows, tail


def render_text(report: Report) -> str:
    head, rows, tail = summary_parts(report)
    return "\n".join([head, "", *table(rows), *tail])
