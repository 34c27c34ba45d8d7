"""Where results go: stdout (only the JSON document under --json), the --report file, one line on stderr.

Under --json, anything an imported package prints while the checks run (Python print, or a C library
writing to file descriptor 1) would corrupt the document the host parses with a plain json.loads. So
fd 1 is duplicated to a private descriptor, fd 1 (and with it sys.stdout) points at stderr while the
checks run, and the JSON is written to the private descriptor at the end.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, TextIO

from .results import write_json_atomic


class Failure(Exception):
    """A runtime failure of the command itself (no such GPU, out of memory): one line, exit 1."""


def complain(command: str, message: str) -> None:
    print(f"ptkit {command}: {' '.join(message.split())}", file=sys.stderr, flush=True)


def _flush_c_stdio() -> None:
    """C libraries buffer their own stdout; flush it while fd 1 still points at stderr."""
    with suppress(OSError, AttributeError, TypeError):
        ctypes.CDLL(None).fflush(None)


@contextmanager
def stdout_reserved(reserve: bool) -> Iterator[TextIO]:
    """Yield the stream results go to; when `reserve`, it is the only thing that reaches stdout."""
    if not reserve:
        yield sys.stdout
        return
    sys.stdout.flush()
    try:
        private = os.dup(1)
    except OSError:  # no stdout at all: nothing to protect
        yield sys.stdout
        return
    os.dup2(2, 1)
    stream = os.fdopen(private, "w")
    try:
        yield stream
    finally:
        sys.stdout.flush()
        _flush_c_stdio()
        stream.flush()
        os.dup2(private, 1)
        stream.close()


def emit(data: dict[str, Any], text: str, args: argparse.Namespace, stream: TextIO) -> str | None:
    """Print the results, then write --report; return why the report could not be written, if so."""
    stream.write((json.dumps(data, indent=2) if args.json else text) + "\n")
    stream.flush()
    if not args.report:
        return None
    try:
        write_json_atomic(data, args.report)
    except OSError as exc:
        return f"could not write the report to {args.report}: {exc.strerror or exc}"
    return None
