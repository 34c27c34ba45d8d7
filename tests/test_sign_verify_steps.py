"""ptkit.repro.sign's verification in-process: each cosign `verify` answer's verdict, the signed digests a
repository lists, and the one line a refused image gets.

cosign is a recorder of run_cosign here, answering what the test sets; skopeo a stand-in script first on PATH
(tests/utils/cosign_stand_ins.py). The real cosign 2.5 and skopeo check real signatures in a loopback registry in
tests/test_sign.py (seconds per case: too slow to repeat for each mutant of sign.py). The answers are modelled on
the real tools: cosign's exit codes of `verify` (cmd/cosign/errors/exit_codes.go: 10 no signature, 11 no such
tag, 12 no matching signature), its JSON on stdout (an array of simple-signing payloads) and its error messages
(pkg/cosign/verify.go: "invalid or missing digest in claim: ..."), and `skopeo list-tags`'
{"Repository": ..., "Tags": [...]}; cosign tags a digest's signature `sha256-<hex>.sig`, its attestation `.att`.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ptkit.errors import PtkitError
from ptkit.repro import sign
from tests.utils.cosign_stand_ins import (  # noqa: F401 - fixtures no_tools, typed_stdin
    D1,
    D2,
    D3,
    D4,
    REPO,
    VERIFY_ARGS,
    StandIn,
    cosign_stderr,
    message,
    no_tools_fixture,
    typed_stdin_fixture,
)

KEY = sign.Key(Path("/keys/team.pub"), b"-----BEGIN PUBLIC KEY-----\n")
WRONG_KEY = "no matching signatures: invalid signature when validating ASN.1 encoded signature"


class Cosign:
    """run_cosign answering `code`, `stdout` and an error line; the calls kept."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, code: int, stdout: str = "", error: str | None = None):
        self.calls: list[tuple[list[str], sign.Key]] = []
        stderr = cosign_stderr(error) if error else ""

        def run_cosign(args: list[str], key: sign.Key) -> subprocess.CompletedProcess[str]:
            self.calls.append((args, key))
            return subprocess.CompletedProcess(["cosign", *args], code, stdout, stderr)

        monkeypatch.setattr(sign, "run_cosign", run_cosign)


def signed_payload(digest: str) -> str:
    """What `cosign verify` prints for one good signature (a simple-signing payload per signature)."""
    critical = {"identity": {"docker-reference": REPO}, "image": {"docker-manifest-digest": digest},
                "type": "cosign container image signature"}
    return json.dumps([{"critical": critical, "optional": None}])


def signed_elsewhere(monkeypatch: pytest.MonkeyPatch, digests: set[str]) -> list[str]:
    """signed_digests answering `digests`; the repositories asked for are kept."""
    asked: list[str] = []
    monkeypatch.setattr(sign, "signed_digests", lambda repo: asked.append(repo) or digests)
    return asked


def test_verdict_is_ok_when_pinned():
    assert sign.Verdict("r:v1", "r@" + D1, "signed", "by k").ok
    assert not sign.Verdict("r:v1", None, "unsigned", "no").ok


def test_a_good_signature_pins_the_ref_to_the_signed_digest(monkeypatch):
    cosign = Cosign(monkeypatch, 0, signed_payload(D1))
    assert sign.verify_signature(f"{REPO}:v1", KEY) == sign.Verdict(f"{REPO}:v1", f"{REPO}@{D1}", "signed",
                                                                     "by /keys/team.pub")
    assert cosign.calls == [([*VERIFY_ARGS, f"{REPO}:v1"], KEY)]


@pytest.mark.parametrize("code, error, cause, detail", [
    (12, f"no matching signatures: invalid or missing digest in claim: {D2}", "moved signature",
     f"its signature was made for another digest (copied onto this image): no matching signatures: invalid or "
     f"missing digest in claim: {D2}"),
    (12, WRONG_KEY, "wrong key", f"signed, but not by the key /keys/team.pub ({WRONG_KEY})"),
    (11, "image tag not found", "not found", "the registry has no such image (image tag not found)"),
    (1, 'Get "https://localhost:5000/v2/": connection refused', "error",
     'cosign verify failed: Get "https://localhost:5000/v2/": connection refused'),
    (2, None, "error", "cosign verify failed: exit 2"),
])
def test_each_refusal_names_its_cause(monkeypatch, code, error, cause, detail):
    Cosign(monkeypatch, code, error=error)
    asked = signed_elsewhere(monkeypatch, {D3})
    assert sign.verify_signature(f"{REPO}:v1", KEY) == sign.Verdict(f"{REPO}:v1", None, cause, detail)
    assert asked == []  # only an unsigned image asks for the others


NOT_THAT_IMAGE = "are signed ({}): not the image that was signed"


@pytest.mark.parametrize("ref, others, cause, detail", [
    (f"{REPO}:v1", set(), "unsigned", "no signature in the registry for the image it names"),
    (f"{REPO}@{D1}", set(), "unsigned", "no signature in the registry for the image it names"),
    (f"{REPO}:v1", {D4, D2, D1, D3}, "retagged", "no signature for the image the tag names now, while 4 other "
     "digest(s) of the repository " + NOT_THAT_IMAGE.format("sha256:aaaaaaaaaaaa…, sha256:bbbbbbbbbbbb…, "
                                                            "sha256:cccccccccccc…")),
    (f"{REPO}@{D2}", {D1}, "changed", "no signature for this digest, while 1 other digest(s) of the repository "
     + NOT_THAT_IMAGE.format("sha256:aaaaaaaaaaaa…")),
])
def test_an_unsigned_image_is_told_apart_from_a_retagged_or_changed_one(monkeypatch, ref, others, cause, detail):
    Cosign(monkeypatch, 10, error="no signatures found")
    asked = signed_elsewhere(monkeypatch, others)
    assert sign.verify_signature(ref, KEY) == sign.Verdict(ref, None, cause, detail)
    assert asked == [REPO]


def test_require_signed_returns_the_pinned_ref_and_says_so(monkeypatch, capsys):
    cosign = Cosign(monkeypatch, 0, signed_payload(D1))
    assert sign.require_signed(f"{REPO}:v1", KEY) == f"{REPO}@{D1}"
    assert capsys.readouterr() == ("", f"signature: {REPO}:v1 is {REPO}@{D1}, signed by /keys/team.pub\n")
    assert cosign.calls == [([*VERIFY_ARGS, f"{REPO}:v1"], KEY)]


def test_require_signed_refuses_in_one_line(monkeypatch, capsys):
    Cosign(monkeypatch, 12, error=WRONG_KEY)
    with pytest.raises(PtkitError) as exc:
        sign.require_signed(f"{REPO}:v1", KEY)
    assert message(exc) == (f"image {REPO}:v1 refused: wrong key: signed, but not by the key /keys/team.pub "
                            f"({WRONG_KEY})")
    assert capsys.readouterr() == ("", "")


# --- signed_digests: skopeo list-tags ------------------------------------------------------------------------------

def tag_list(repo: str, tags: list[str] | None) -> str:
    """`skopeo list-tags`' answer (indented JSON)."""
    return json.dumps({"Repository": repo, "Tags": tags}, indent=4) + "\n"


ARTIFACTS = ["v1", f"sha256-{'a' * 64}.sig", f"sha256-{'b' * 64}.att", f"sha256-{'c' * 64}.sig.bak",
             f"xsha256-{'d' * 64}.sig", f"sha256-{'e' * 63}.sig", f"sha256-{'F' * 64}.sig", "latest"]


@pytest.mark.parametrize("kind, found", [("sig", {D1}), ("att", {D2})])
def test_signed_digests_are_read_from_the_artifact_tags(tmp_path, monkeypatch, typed_stdin, kind, found):
    skopeo = StandIn(tmp_path, monkeypatch, "skopeo", out=tag_list(REPO, ARTIFACTS))
    assert sign.signed_digests(REPO, kind) == found
    assert skopeo.argv() == ["list-tags", "--tls-verify=false", f"docker://{REPO}"]
    assert skopeo.saw("stdin") == ""


def test_signatures_are_the_default_kind(tmp_path, monkeypatch):
    StandIn(tmp_path, monkeypatch, "skopeo", out=tag_list(REPO, ARTIFACTS))
    assert sign.signed_digests(REPO) == {D1}


@pytest.mark.parametrize("repo, loopback", [
    ("localhost:5000/team/img", True), ("localhost/team/img", True), ("127.0.0.1:5000/img", True),
    ("127.0.0.1/img", True), ("[::1]:5000/img", True), ("[::1]/img", True),
    ("registry.example:5000/team/img", False), ("ghcr.io/team/img", False), ("localhost.example/img", False),
    ("my-localhost:5000/img", False),
])
def test_tls_is_only_skipped_for_a_loopback_registry(tmp_path, monkeypatch, repo, loopback):
    skopeo = StandIn(tmp_path, monkeypatch, "skopeo", out=tag_list(repo, []))
    assert sign.signed_digests(repo) == set()
    assert skopeo.argv() == ["list-tags", *(["--tls-verify=false"] if loopback else []), f"docker://{repo}"]


@pytest.mark.parametrize("out, code", [
    (tag_list(REPO, ARTIFACTS), 1),  # skopeo failed: whatever it printed is not the list
    ("time=... level=fatal msg=\"Error listing repository tags\"\n", 0),
    (tag_list(REPO, None), 0),  # a repository without tags
])
def test_signed_digests_are_none_when_skopeo_cannot_tell(tmp_path, monkeypatch, out, code):
    StandIn(tmp_path, monkeypatch, "skopeo", out=out, code=code)
    assert sign.signed_digests(REPO) == set()


def test_signed_digests_are_none_after_the_timeout(tmp_path, monkeypatch):
    StandIn(tmp_path, monkeypatch, "skopeo", out=tag_list(REPO, ARTIFACTS), sleep=True)
    monkeypatch.setattr(sign, "TIMEOUT", 0.2)
    assert sign.signed_digests(REPO) == set()


def test_signed_digests_are_none_without_skopeo(no_tools):
    assert sign.signed_digests(REPO) == set()
