"""Stand-ins for cosign and skopeo (tests/test_sign_steps.py, tests/test_sign_verify_steps.py): a shell script
first on PATH that records its arguments, the key and password it finds in its environment and what it reads on
stdin, then prints what the test chose and exits with the chosen code. The real tools run in tests/test_sign.py.

    from tests.utils.cosign_stand_ins import (  # noqa: F401 - fixtures no_tools, typed_stdin
        StandIn, no_tools_fixture, typed_stdin_fixture)
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PRIVATE_PEM = ("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nAAAA\n"  # as `cosign generate-key-pair` writes
               "-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
PUBLIC_PEM = "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"
REPO = "localhost:5000/team/img"
D1, D2, D3, D4 = (f"sha256:{c * 64}" for c in "abcd")
SIGN_ARGS = ["sign", "--key", "env://PTKIT_COSIGN_KEY", "--tlog-upload=false", "--yes"]
VERIFY_ARGS = ["verify", "--key", "env://PTKIT_COSIGN_KEY", "--insecure-ignore-tlog=true", "--offline=true"]


def cosign_stderr(message: str) -> str:
    """cosign 2.5's stderr for a failing command: a warning, the error, the error again with its prefix."""
    return ("WARNING: Skipping tlog verification is an insecure practice that lacks transparency and auditability "
            f"verification for the signature.\nError: {message}\nerror during command execution: {message}\n")


class StandIn:
    """An executable `name` in its own folder first on PATH; what it saw is kept in files beside it."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, out: str = "", err: str = "",
                 code: int = 0, sleep: bool = False):
        """`sleep`: a tool that hangs after printing its answer (a registry that never closes the connection)."""
        self.folder = tmp_path / f"{name}-stand-in"
        self.folder.mkdir()
        (self.folder / "out").write_text(out)
        (self.folder / "err").write_text(err)
        log = self.folder
        script = self.folder / name
        script.write_text(f"""#!/bin/sh
printf '%s\\n' "$@" > '{log}/argv'
printf '%s' "${{PTKIT_COSIGN_KEY-unset}}" > '{log}/key'
printf '%s' "${{COSIGN_PASSWORD-unset}}" > '{log}/password'
cat > '{log}/stdin'
cat '{log}/out'
cat '{log}/err' >&2
{"exec sleep 3" if sleep else ""}
exit {code}
""")
        script.chmod(0o755)
        monkeypatch.setenv("PATH", f"{self.folder}{os.pathsep}{os.environ['PATH']}")

    def saw(self, what: str) -> str:
        return (self.folder / what).read_text()

    def argv(self) -> list[str]:
        return self.saw("argv").splitlines()

    def ran(self) -> bool:
        return (self.folder / "argv").exists()


@pytest.fixture(name="typed_stdin")
def typed_stdin_fixture():
    """fd 0 holds text a password prompt would read: a child given stdin=DEVNULL never sees it."""
    read, write = os.pipe()
    os.write(write, b"typed at the terminal\n")
    os.close(write)
    saved = os.dup(0)
    os.dup2(read, 0)
    os.close(read)
    try:
        yield
    finally:
        os.dup2(saved, 0)
        os.close(saved)


@pytest.fixture(name="no_tools")
def no_tools_fixture(tmp_path, monkeypatch) -> None:
    """A PATH of one empty folder: neither cosign nor skopeo is installed."""
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))


def pem_file(tmp_path: Path, text: str, name: str = "k.pem") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def message(exc: pytest.ExceptionInfo) -> str:
    return str(exc.value)
