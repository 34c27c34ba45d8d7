"""Live progress of an image build: a line per Dockerfile step (rich on a terminal, plain lines
otherwise), and the log's last lines kept for the one-line failure message."""

from __future__ import annotations

import re
import sys
import time
from collections import deque
from typing import Any

LOG_TAIL = 20
STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)")
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # the classic builder wraps a step's stderr in colour codes
NOTE = "ptkit-note: "  # a line the Dockerfile means users to see (the installer's time), shown under its step


class Progress:
    def __init__(self, title: str) -> None:
        self.title = title
        self.tail: deque[str] = deque(maxlen=LOG_TAIL)
        self.start = self.step_start = time.monotonic()
        self.step = ""
        self.notes: list[str] = []
        try:
            from rich.console import Console

            self.console: Any = Console(stderr=True, highlight=False)
        except ImportError:
            self.console = None
        self.status: Any = None

    def __enter__(self) -> Progress:
        if self.console is not None and self.console.is_terminal:
            self.status = self.console.status(self.title)
            self.status.start()
        else:
            self._print(self.title)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.status is not None:
            self.status.stop()

    def _print(self, text: str) -> None:
        if self.console is not None:  # through rich, so finished steps print above the live line
            self.console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            print(text, file=sys.stderr, flush=True)

    def line(self, text: str) -> None:
        for raw in text.splitlines():
            line = ANSI.sub("", raw).rstrip()
            if not line.strip():
                continue
            self.tail.append(line)
            if line.startswith(NOTE):
                self.notes.append(line.removeprefix(NOTE))
            match = STEP.match(line)
            if match:
                self._finish_step()
                self.step = f"[{match.group(1)}/{match.group(2)}] {match.group(3)[:100]}"
                self.step_start = time.monotonic()
                if self.status is not None:
                    self.status.update(f"{self.title}: {self.step}")

    def _finish_step(self) -> None:
        if self.step:
            self._print(f"  {self.step}  ({time.monotonic() - self.step_start:.1f} s)")
        for note in self.notes:
            self._print(f"      {note}")
        self.notes.clear()

    def done(self) -> float:
        self._finish_step()
        self.step = ""
        return time.monotonic() - self.start

    def failure(self, error: str) -> str:
        """The build's error and the log's last lines, as one message; a `ptkit: ` line of the build's own
        (the install check, a missing installer) heads it, as it says what to fix."""
        self.done()
        ours = next((line for line in reversed(self.tail) if line.startswith("ptkit: ")), None)
        headline = f"{ours.removeprefix('ptkit: ')} ({error})" if ours else error
        tail = "\n".join(f"  | {line}" for line in self.tail)
        return f"image build failed: {headline}\n  last {len(self.tail)} log lines:\n{tail}"
