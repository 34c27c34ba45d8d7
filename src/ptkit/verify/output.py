"""Where results go: stdout (only the JSON document under --json), the --report file, one line on stderr.

Under --json, anything an imported package prints while the checks run (Python print, or a C library
writing to file descriptor 1) would corrupt the document the host parses with a plain json.loads. So
fd 1 is duplicated to a private descriptor, fd 1 (and with it sys.stdout) points at stderr while the
checks run, and the JSON is written to the private descriptor at the end. fd 1 is not given back:
a package that prints at exit (an atexit handler, a C library's buffer flushed by exit()) would
append to the document, so for the rest of the process fd 1 stays on stderr (issue 19.7).
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
        with suppress(OSError):  # a closed stdout: emit has said so
            stream.close()  # the document is complete; fd 1 stays on stderr until the process ends


def silence(stream: TextIO) -> None:
    """After a broken pipe, point the stream's descriptor at the null device, as the Python docs advise
    (https://docs.python.org/3/library/signal.html#note-on-sigpipe): the flush at exit finds nothing to write."""
    with suppress(OSError, ValueError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, stream.fileno())
        os.close(null)


def emit(data: dict[str, Any], text: str, args: argparse.Namespace, stream: TextIO) -> str | None:
    """Print the results, then write --report; return what went wrong with either, if anything."""
    problems = []
    try:
        stream.write((json.dumps(data, indent=2) if args.json else text) + "\n")
        stream.flush()
    except OSError as exc:  # stdout closed or its reader gone (| head -0): the --report file is still written
        silence(stream)
        problems.append(f"could not print the results: {exc.strerror or exc}")
    if args.report:
        try:
            write_json_atomic(data, args.report)
        except OSError as exc:
            problems.append(f"could not write the report to {args.report}: {exc.strerror or exc}")
    return "; ".join(problems) or None
