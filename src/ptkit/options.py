"""Command-line conventions every `ptkit` subcommand shares, defined once: the help formatter that shows each
option's default, how a subcommand is added, and the `--matrix` option. Lower than every command module (cli.py,
repro/, cluster/, report_commands.py), so all of them can use it."""

from __future__ import annotations

import argparse
from typing import Any

from .userfiles import path_arg


class Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default only where it has one worth reading."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, [], argparse.SUPPRESS) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def subcommand(sub: Any, name: str, help_text: str, description: str | None = None) -> argparse.ArgumentParser:
    """A subcommand whose help shows every option's default."""
    return sub.add_parser(name, help=help_text, description=description or help_text, formatter_class=Formatter)


def add_matrix(parser: argparse.ArgumentParser) -> None:
    """`--matrix FILE`, the same for every subcommand that reads the matrix (matrix.load(None) is the default)."""
    parser.add_argument("--matrix", type=path_arg, metavar="FILE",
                        help="matrix file (default: $PTKIT_MATRIX, else the matrix shipped with ptkit)")


def add_platform(parser: argparse.ArgumentParser) -> None:
    """`--platform NAME`: one of ptkit.platforms' rows (Docker's names), the default platform unless given."""
    from .platforms import DEFAULT_PLATFORM, PLATFORMS

    parser.add_argument("--platform", choices=tuple(PLATFORMS), default=DEFAULT_PLATFORM.name,
                        help="the platform to build or lock for (the row's matrix key 'platforms' must name it)")
