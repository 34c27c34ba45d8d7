"""ptkit.repro.sign in-process, step by step: key files, the cosign command line, and what signing prints.

cosign is a stand-in here (tests/utils/cosign_stand_ins.py): a shell script first on PATH that records its
arguments, the key it finds in its environment and what it reads on stdin, then prints what the test chose and
exits with the chosen code. The real cosign 2.5 signs against a loopback registry in tests/test_sign.py (seconds
per case: too slow to repeat for each mutant of sign.py). The stand-in's stderr is modelled on cosign 2.5's (a
warning, `Error: MSG`, then `error during command execution: MSG`). Verification: tests/test_sign_verify_steps.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ptkit.errors import PtkitError, UsageError
from ptkit.repro import sign
from tests.utils.cosign_stand_ins import (  # noqa: F401 - fixtures no_tools, typed_stdin
    D1,
    D2,
    PRIVATE_PEM,
    PUBLIC_PEM,
    REPO,
    SIGN_ARGS,
    StandIn,
    cosign_stderr,
    message,
    no_tools_fixture,
    pem_file,
    typed_stdin_fixture,
)

# --- read_key, signing_key, _cosign ----------------------------------------------------------------------------

@pytest.mark.parametrize("text, private", [(PRIVATE_PEM, True), (PUBLIC_PEM, False), ("\n  \t" + PUBLIC_PEM, False)])
def test_read_key_accepts_the_kind_asked_for(tmp_path, text, private):
    path = pem_file(tmp_path, text)
    key = sign.read_key(path, private=private)
    assert key == sign.Key(path, text.encode())
    assert repr(key) == f"Key(path={path!r})"  # the PEM is never shown


def wrong(kind: str, got: str) -> str:
    return f"expected a cosign {kind} (`cosign generate-key-pair` writes cosign.key and cosign.pub), got {got}"


@pytest.mark.parametrize("text, private, says", [
    (PUBLIC_PEM, True, wrong("private key", "a public key")),
    (PRIVATE_PEM, False, wrong("public key", "a private key")),
    ("just text\n", False, wrong("public key", "no PEM key")),
    ("", True, wrong("private key", "no PEM key")),
    ("PUBLIC KEY\n", False, wrong("public key", "a public key")),  # the kind named, but no PEM header
    (PUBLIC_PEM + PRIVATE_PEM, True, wrong("private key", "a public key")),  # only the first line counts
    ("note\n" + PUBLIC_PEM, False, wrong("public key", "no PEM key")),
])
def test_read_key_refuses_the_wrong_kind(tmp_path, text, private, says):
    path = pem_file(tmp_path, text)
    with pytest.raises(UsageError) as exc:
        sign.read_key(path, private=private)
    assert message(exc) == f"{'--sign' if private else '--key'} {path}: {says}"


@pytest.mark.parametrize("private, option", [(True, "--sign"), (False, "--key")])
def test_read_key_refuses_a_missing_file_a_folder_and_a_huge_one(tmp_path, private, option):
    huge = tmp_path / "huge"
    huge.write_bytes(b"-----BEGIN PUBLIC KEY-----\n" + b"A" * (1 << 20))  # over 1 MiB: no key is that big
    for path, says in ((tmp_path / "none.pub", "No such file or directory"), (tmp_path, "is a folder, not a file"),
                       (huge, "larger than 1 MiB: not a file ptkit reads")):
        with pytest.raises(UsageError) as exc:
            sign.read_key(path, private=private)
        assert message(exc) == f"{option} {path}: {says}"


@pytest.mark.skipif(not shutil.which("cosign"), reason="cosign is not installed (scripts/host-setup.sh)")
def test_the_hand_written_pems_start_as_real_cosign_keys(tmp_path):
    subprocess.run(["cosign", "generate-key-pair", "--output-key-prefix", str(tmp_path / "real")], check=True,
                   env={**os.environ, "COSIGN_PASSWORD": ""}, capture_output=True, stdin=subprocess.DEVNULL)
    for suffix, pem, private in (("key", PRIVATE_PEM, True), ("pub", PUBLIC_PEM, False)):
        path = tmp_path / f"real.{suffix}"
        assert path.read_text().split("\n", 1)[0] == pem.split("\n", 1)[0]
        assert sign.read_key(path, private=private).pem == path.read_bytes()


@pytest.mark.parametrize("password", ["correct horse", ""])  # empty: a key made without a password
def test_signing_key_needs_cosign_and_the_password_in_the_environment(tmp_path, monkeypatch, password):
    StandIn(tmp_path, monkeypatch, "cosign")
    path = pem_file(tmp_path, PRIVATE_PEM)
    monkeypatch.setenv("COSIGN_PASSWORD", password)
    assert sign.signing_key(path) == sign.Key(path, PRIVATE_PEM.encode())
    monkeypatch.delenv("COSIGN_PASSWORD")
    with pytest.raises(UsageError) as exc:
        sign.signing_key(path)
    assert message(exc) == (f"--sign {path}: set COSIGN_PASSWORD to the key's password (empty for a key made without"
                            " one); ptkit takes it from the environment only")


def test_signing_key_checks_the_key_file_first(tmp_path, monkeypatch, no_tools):
    monkeypatch.setenv("COSIGN_PASSWORD", "x")
    with pytest.raises(UsageError, match="got a public key"):
        sign.signing_key(pem_file(tmp_path, PUBLIC_PEM))


COSIGN_MISSING = "cosign is not installed (scripts/host-setup.sh installs cosign 2.5 from Debian trixie)"


def test_without_cosign_signing_is_refused_before_a_build(tmp_path, monkeypatch, no_tools):
    monkeypatch.setenv("COSIGN_PASSWORD", "x")
    for call in (lambda: sign.signing_key(pem_file(tmp_path, PRIVATE_PEM)), sign._cosign):
        with pytest.raises(PtkitError) as exc:
            call()
        assert message(exc) == COSIGN_MISSING


def test_cosign_is_found_on_path(tmp_path, monkeypatch):
    StandIn(tmp_path, monkeypatch, "cosign")
    assert sign._cosign() == str(tmp_path / "cosign-stand-in" / "cosign")


# --- run_cosign, cosign_error ------------------------------------------------------------------------------------

def test_run_cosign_gives_the_key_only_in_the_environment_and_closes_stdin(tmp_path, monkeypatch, typed_stdin):
    cosign = StandIn(tmp_path, monkeypatch, "cosign", out="[]\n", err="Error: no\n", code=3)
    monkeypatch.setenv("COSIGN_PASSWORD", "correct horse")
    proc = sign.run_cosign(["verify", REPO], sign.Key(tmp_path / "k.pub", PUBLIC_PEM.encode()))
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, "[]\n", "Error: no\n")
    assert cosign.argv() == ["verify", REPO]
    assert cosign.saw("key") == PUBLIC_PEM and cosign.saw("password") == "correct horse"
    assert cosign.saw("stdin") == ""  # no password prompt can read anything


def test_run_cosign_gives_up_after_its_timeout(tmp_path, monkeypatch):
    StandIn(tmp_path, monkeypatch, "cosign", sleep=True)
    monkeypatch.setattr(sign, "TIMEOUT", 0.2)
    with pytest.raises(PtkitError) as exc:
        sign.run_cosign(["verify", REPO], sign.Key(tmp_path / "k.pub", b""))
    assert message(exc) == "cosign verify did not finish in 0.2 s (registry unreachable?)"


@pytest.mark.parametrize("stderr, code, says", [
    (cosign_stderr("first") + "Error: second\nlater\n", 1, "second"),  # the last one
    ("WARNING: Error: not at the start\n", 7, "exit 7"),
    ("", 1, "exit 1"),
    (cosign_stderr("Error: doubled"), 1, "Error: doubled"),  # the prefix removed once
])
def test_cosign_error_is_its_last_error_line(stderr, code, says):
    assert sign.cosign_error(subprocess.CompletedProcess(["cosign"], code, "", stderr)) == says


# --- repository, sign, pinned_refs, sign_pushed ------------------------------------------------------------------

@pytest.mark.parametrize("ref, repo", [
    (f"{REPO}:v1", REPO), (f"{REPO}@{D1}", REPO), (f"{REPO}:v1@{D1}", REPO), (REPO, REPO),
    ("localhost:5000/img", "localhost:5000/img"),  # a registry's port is no tag
    ("ghcr.io/team/img:v1", "ghcr.io/team/img"), ("img:v1", "img"), ("img", "img"),
])
def test_repository_drops_the_tag_and_the_digest(ref, repo):
    assert sign.repository(ref) == repo


def test_sign_runs_cosign_offline_with_the_key_from_the_environment(tmp_path, monkeypatch, capsys):
    cosign = StandIn(tmp_path, monkeypatch, "cosign", err="Pushing signature to: localhost:5000/team/img\n")
    key = sign.Key(pem_file(tmp_path, PRIVATE_PEM), PRIVATE_PEM.encode())
    sign.sign(f"{REPO}@{D1}", key)
    assert cosign.argv() == [*SIGN_ARGS, f"{REPO}@{D1}"]
    assert cosign.saw("key") == PRIVATE_PEM
    assert capsys.readouterr() == ("", f"signed {REPO}@{D1} with {key.path}\n")


def test_a_failed_signature_is_an_error_naming_cosigns_reason(tmp_path, monkeypatch, capsys):
    reason = "signing [localhost:5000/team/img@sha256:aaaa]: UNAUTHORIZED: authentication required"
    StandIn(tmp_path, monkeypatch, "cosign", err=cosign_stderr(reason), code=1)
    with pytest.raises(PtkitError) as exc:
        sign.sign(f"{REPO}@{D1}", sign.Key(tmp_path / "k.key", PRIVATE_PEM.encode()))
    assert message(exc) == f"signing {REPO}@{D1} failed: {reason}"
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("ref", [f"{REPO}:v1", f"{REPO}@sha256:", f"{REPO}@sha256:{'0' * 63}", f"@sha256:{'0' * 64}"])
def test_only_a_whole_digest_is_ever_signed(tmp_path, monkeypatch, ref):
    cosign = StandIn(tmp_path, monkeypatch, "cosign")
    with pytest.raises(PtkitError) as exc:
        sign.sign(ref, sign.Key(tmp_path / "k.key", PRIVATE_PEM.encode()))
    assert message(exc) == f"refusing to sign {ref}: sign a digest (REPOSITORY@sha256:...), not a tag that may move"
    assert not cosign.ran()


def test_pinned_refs_name_each_repository_and_digest_once_sorted():
    tags = {f"{REPO}:v1": D2, f"{REPO}:latest": D2, f"{REPO}:old": D1, "ghcr.io/a/b:v1": D1, "ghcr.io/a/b:v2": D2,
            "ghcr.io/a/c:v1": D1, "docker.io/z/z:v1": D1}
    assert sign.pinned_refs(tags) == ["docker.io/z/z@" + D1, "ghcr.io/a/b@" + D1, "ghcr.io/a/b@" + D2,
                                      "ghcr.io/a/c@" + D1, f"{REPO}@{D1}", f"{REPO}@{D2}"]


def test_sign_pushed_signs_each_pushed_digest_once(monkeypatch):
    signed: list[tuple[str, sign.Key]] = []
    monkeypatch.setattr(sign, "sign", lambda ref, key: signed.append((ref, key)))
    key = sign.Key(Path("k.key"), b"pem")
    sign.sign_pushed({"ptkit:cpu": {f"{REPO}:v1": D1, f"{REPO}:v1-2026": D1},
                      "ptkit:cuda": {f"{REPO}:cuda": D2, f"{REPO}:cuda-2026": D2}}, key)
    assert signed == [(f"{REPO}@{D1}", key), (f"{REPO}@{D2}", key)]
