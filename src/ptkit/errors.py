"""Errors that end a ptkit command with one line and a non-zero exit (never a traceback)."""


class PtkitError(Exception):
    """A failure the user can act on; the message is the whole story, in one line."""

    exit_code = 1


class UsageError(PtkitError):
    """A command line that cannot work; exit 2 like argparse's own errors."""

    exit_code = 2


class Interrupted(PtkitError):
    """Ctrl-C, after the command has cleaned up after itself; 130 as shells report SIGINT."""

    exit_code = 130
