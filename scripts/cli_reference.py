"""docs/reference/cli.md: every ptkit command's --help as a user sees it (100 columns), written from the parsers.

`python scripts/cli_reference.py` rewrites it; `--check` exits 1 naming the file when it is out of date
(tests/test_cli_reference.py runs the check, so a changed option, default or help text shows up in review).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reference" / "cli.md"
WIDTH = "100"  # argparse wraps at the terminal's width: fixed, so the file is the same on every machine
HEAD = """# ptkit's command-line reference

Every command's `--help`, at 100 columns. Written by `python scripts/cli_reference.py` from the parsers; a test
fails when it is out of date. `ptkit COMMAND --help` prints the same.
"""


def commands(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    """(command line, help) of `parser` and of each of its subcommands, depth first, in the order they were added."""
    yield " ".join(("ptkit", *words)), parser.format_help()
    for action in parser._actions:  # argparse has no public API for its subparsers
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, (*words, name))


def markdown() -> str:
    from ptkit.cli import build_parser

    os.environ["COLUMNS"] = WIDTH
    sections = [f"## `{line}`\n\n```\n$ {line} --help\n{text}```\n" for line, text in commands(build_parser())]
    return "\n".join([HEAD, *sections])


def main(argv: list[str]) -> int:
    text = markdown()
    if argv == ["--check"]:
        if not DOC.is_file() or DOC.read_text() != text:
            print(f"{DOC.relative_to(ROOT)} is out of date: run `python scripts/cli_reference.py`", file=sys.stderr)
            return 1
        return 0
    if argv:
        print("usage: python scripts/cli_reference.py [--check]", file=sys.stderr)
        return 2
    DOC.write_text(text)
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
