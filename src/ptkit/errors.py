"""Errors that end a ptkit command with one line and a non-zero exit (never a traceback)."""


class PtkitError(Exception):
    """A failure the user can act on; the message is the whole story, in one line."""

    exit_code = 1
