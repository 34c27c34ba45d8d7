"""Attaching and checking provenance, in-process and fast (for mutation testing of ptkit.repro.attest): the cosign
command lines, what is done with cosign's answers, and which images get attested.

cosign is a stand-in here (`sign.run_cosign` and `sign.signed_digests` replaced by recorders), as are the engine's
manifest and the registry's tag list: the real cosign against a real local registry takes seconds a call, too slow to
repeat for each mutant; tests/test_attest.py runs all of it for real. The stand-ins answer as cosign 2.5 does: exit 0
and one DSSE envelope a line on stdout for `verify-attestation`; on failure exit 1, an 'Error: ' line and its
'main.go:NN: error during command execution:' echo on stderr (cosign's cmd/cosign/main.go), with cosign's own
wording: 'none of the attestations matched the predicate type: TYPE, found: TYPE' (cmd/cosign/cli/verify/
verify_attestation.go) and the threshold message attest.py quotes; tests/test_attest.py's real runs reach both
branches. The SBOM is made and validated with the real cyclonedx library."""

from __future__ import annotations

import base64
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from ptkit.errors import PtkitError
from ptkit.repro import attest, sign
from ptkit.repro import images as image_files
from tests.test_attest import MANIFEST, STARTED, subject
from tests.test_attest_steps import DIGEST, KNOWN_LINES, REF, known_statement

# sbom imports these when first used: imported here, so that the first test to attest is as quick as the rest
for module in ("cyclonedx.model.bom", "cyclonedx.output.json", "cyclonedx.validation.json", "packageurl"):
    pytest.importorskip(module)
KEY = sign.Key(Path("keys/cosign.key"), b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nc2VjcmV0\n")
PUB = sign.Key(Path("keys/cosign.pub"), b"-----BEGIN PUBLIC KEY-----\ncHVibGlj\n")
REPO = "localhost:5000/team/pytorch"
TYPE_ERROR = "none of the attestations matched the predicate type: slsaprovenance1, found: https://cyclonedx.org/bom"
THRESHOLD = "no matching attestations: accepted signatures do not match threshold, Found: 0, Expected 1"


def done(stdout: str = "", stderr: str = "", returncode: int = 0) -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess(["cosign"], returncode, stdout, stderr)


def failed(error: str) -> subprocess.CompletedProcess[str]:
    return done(stderr=f"WARNING: Skipping tlog verification is an insecure practice\nError: {error}\n"
                       f"main.go:74: error during command execution: {error}\n", returncode=1)


class Cosign:
    """`sign.run_cosign` recorded: each call's argv, key and (for `attest`) the predicate file's text while cosign
    ran; answers `answer`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, answer: subprocess.CompletedProcess[str] | None = None):
        self.calls: list[tuple[list[str], sign.Key]] = []
        self.predicates: list[tuple[Path, str]] = []
        self.answer = answer or done(stderr="Using payload from: the predicate\n")
        monkeypatch.setattr(attest.sign, "run_cosign", self.run)

    def run(self, args: list[str], key: sign.Key) -> subprocess.CompletedProcess[str]:
        self.calls.append((list(args), key))
        if "--predicate" in args:
            path = Path(args[args.index("--predicate") + 1])
            self.predicates.append((path, path.read_text()))
        return self.answer


@pytest.fixture(autouse=True)
def temp_in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Temporary files under tmp_path, where a leftover shows."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def attest_argv(kind: str, path: Path) -> list[str]:
    return ["attest", "--key", "env://PTKIT_COSIGN_KEY", "--tlog-upload=false", "--yes", "--type", kind,
            "--predicate", str(path), "--replace", REF]


# --- attach -------------------------------------------------------------------------------------------------------

def test_attach_signs_the_predicate_from_a_file_that_is_gone_afterwards(monkeypatch, temp_in_tmp_path, capsys):
    cosign = Cosign(monkeypatch)
    attest.attach(REF, "slsaprovenance1", '{"buildDefinition": {}}', KEY)
    [(path, text)] = cosign.predicates
    assert cosign.calls == [(attest_argv("slsaprovenance1", path), KEY)]
    assert text == '{"buildDefinition": {}}'
    # in a folder of its own, named for what it is, removed with the file
    assert path.name == "slsaprovenance1.json" and path.parent.parent == temp_in_tmp_path
    assert path.parent.name.startswith("ptkit-attest-") and list(temp_in_tmp_path.iterdir()) == []
    assert capsys.readouterr() == ("", f"attested slsaprovenance1 for {REF}\n")


# a tag, a digest cut short or empty, upper-case hex, two digests: none names one image for certain
@pytest.mark.parametrize("ref", [f"{REPO}:v1", f"{REPO}@sha256:", f"{REPO}@sha256:{'a' * 63}",
                                 f"{REPO}@sha256:{'A' * 64}", f"{REPO}@sha256:{'a' * 64}@sha256:{'b' * 64}"])
def test_attach_refuses_anything_but_a_whole_digest(monkeypatch, ref):
    cosign = Cosign(monkeypatch)
    with pytest.raises(PtkitError) as caught:
        attest.attach(ref, "cyclonedx", "{}", KEY)
    assert str(caught.value) == (f"refusing to attest {ref}: attest a digest (REPOSITORY@sha256:...), not a tag "
                                 "that may move")
    assert cosign.calls == []


def test_attach_says_cosigns_error(monkeypatch, temp_in_tmp_path, capsys):
    Cosign(monkeypatch, failed(f"signing {REF}: PUT https://localhost:5000/v2/: UNAUTHORIZED"))
    with pytest.raises(PtkitError) as caught:
        attest.attach(REF, "cyclonedx", "{}", KEY)
    assert str(caught.value) == (f"attesting cyclonedx for {REF} failed: signing {REF}: PUT "
                                 "https://localhost:5000/v2/: UNAUTHORIZED")
    assert capsys.readouterr().err == "" and list(temp_in_tmp_path.iterdir()) == []


# --- attest -------------------------------------------------------------------------------------------------------

def test_attest_attaches_the_provenance_then_a_valid_sbom(monkeypatch, tmp_path):
    cosign = Cosign(monkeypatch)
    doc = attest.attest(subject(REF, tmp_path), KEY, attest.Run("run-1", STARTED))
    [(provenance, predicate), (bom_path, bom_text)] = cosign.predicates
    assert [call for call, _ in cosign.calls] == [attest_argv("slsaprovenance1", provenance),
                                                  attest_argv("cyclonedx", bom_path)]
    assert [key for _, key in cosign.calls] == [KEY, KEY]
    expected = known_statement()
    expected["predicate"]["runDetails"]["metadata"]["finishedOn"] = doc["predicate"]["runDetails"]["metadata"][
        "finishedOn"]  # the clock's: tests/test_attest_steps.py checks it
    assert doc == expected
    assert predicate == json.dumps(expected["predicate"], indent=1)
    bom = json.loads(bom_text)
    assert (bom["bomFormat"], bom["specVersion"]) == ("CycloneDX", "1.6")
    root = bom["metadata"]["component"]
    assert (root["name"], root["version"]) == (REPO, f"sha256:{DIGEST}")
    assert sorted(c["purl"] for c in bom["components"]) == ["pkg:deb/debian/libc6@2.36-9?arch=amd64",
                                                            "pkg:pypi/torch@2.10.0"]


def test_a_statement_with_problems_is_not_signed(monkeypatch, tmp_path):
    cosign = Cosign(monkeypatch)
    bad = known_statement()
    del bad["_type"], bad["predicateType"]
    # ptkit's own mistake, which `attest` is there to catch: made here by a statement that lacks two fields
    monkeypatch.setattr(attest, "statement", lambda subj, run: bad)
    with pytest.raises(PtkitError) as caught:
        attest.attest(subject(REF, tmp_path), KEY, attest.Run())
    assert str(caught.value) == f"the provenance of {REF} is not SLSA v1: _type is missing"
    assert cosign.calls == []


def test_an_sbom_that_does_not_validate_is_not_signed(monkeypatch, tmp_path):
    cosign = Cosign(monkeypatch)
    manifest = {**MANIFEST, "python": {"packages": {"torch": {"version": "2.10.0", "sha256": ["not-hex"]}}}}
    with pytest.raises(PtkitError) as caught:
        attest.attest(subject(REF, tmp_path, manifest), KEY, attest.Run())
    # the CycloneDX 1.6 schema's pattern of a hash's content, in jsonschema's words (the first line of its error)
    assert str(caught.value) == (f"the SBOM of {REF} does not validate: 'not-hex' does not match '^([a-fA-F0-9]{{32}}|"
                                 "[a-fA-F0-9]{40}|[a-fA-F0-9]{64}|[a-fA-F0-9]{96}|[a-fA-F0-9]{128})$'")
    assert [call[6] for call, _ in cosign.calls] == ["slsaprovenance1"]


# --- attest_pushed ------------------------------------------------------------------------------------------------

def attested(monkeypatch: pytest.MonkeyPatch, manifests: dict[str, Any]) -> tuple[list[tuple], list[tuple]]:
    """(manifest reads, attest calls) recorded; the engine's manifest of each image from `manifests`."""
    reads: list[tuple] = []
    calls: list[tuple] = []

    def manifest(api: Any, image: str) -> Any:
        reads.append((api, image))
        return manifests.get(image)

    monkeypatch.setattr(image_files, "manifest", manifest)
    monkeypatch.setattr(attest, "attest", lambda *args: calls.append(args))
    return reads, calls


def test_each_pushed_image_is_attested_once_per_repository(monkeypatch, tmp_path):
    reads, calls = attested(monkeypatch, {"a": MANIFEST, "b": {"build": {}}, "c": MANIFEST})
    a, b = f"sha256:{'a' * 64}", f"sha256:{'b' * 64}"
    pushed = {"a": {"reg/team/a:v1": a, "reg/team/a:latest": a, "reg:5000/mirror/a:v1": a}, "b": {"reg/team/b:v1": b},
              "c": {}}
    run, report = attest.Run(), tmp_path / "a.json"
    built = [("c", "linux/amd64"), ("a", "linux/amd64"), ("d", "linux/amd64"), ("b", "linux/arm64")]
    attest.attest_pushed("api", built, pushed, KEY, {"a": report, "d": report}, run)
    assert reads == [("api", "a"), ("api", "b")]  # c and d were not pushed: skipped, and the rest still attested
    assert calls == [(attest.Subject(f"reg/team/a@{a}", MANIFEST, "linux/amd64", report), KEY, run),
                     (attest.Subject(f"reg:5000/mirror/a@{a}", MANIFEST, "linux/amd64", report), KEY, run),
                     (attest.Subject(f"reg/team/b@{b}", {"build": {}}, "linux/arm64", None), KEY, run)]


def test_an_image_without_manifest_has_nothing_to_attest(monkeypatch):
    _, calls = attested(monkeypatch, {})
    with pytest.raises(PtkitError) as caught:
        attest.attest_pushed(None, [("team:cpu", "linux/amd64")], {"team:cpu": {"r/x:v1": "sha256:" + "a" * 64}},
                             KEY, {}, attest.Run())
    assert str(caught.value) == "team:cpu has no manifest: no provenance to attest"
    assert calls == []


# --- _refusal, _statements, require_provenance ----------------------------------------------------------------------

def registry_attestations(monkeypatch: pytest.MonkeyPatch, digests: set[str]) -> list[tuple[str, str]]:
    """`sign.signed_digests` (the registry's tag list, through skopeo) answering `digests`; its questions."""
    asked: list[tuple[str, str]] = []

    def signed_digests(repo: str, kind: str = "sig") -> set[str]:
        asked.append((repo, kind))
        return digests

    monkeypatch.setattr(attest.sign, "signed_digests", signed_digests)
    return asked


@pytest.mark.parametrize(("error", "in_registry", "cause"), [
    (TYPE_ERROR, set(), f"no provenance: the attestations signed by keys/cosign.pub are of other types ({TYPE_ERROR})"),
    (THRESHOLD, set(), "no provenance: no attestation in the registry for sha256:abababababab…"),
    ("no matching attestations: no attestations found", {f"sha256:{'c' * 64}"},
     "no provenance: no attestation in the registry for sha256:abababababab…"),
    (THRESHOLD, {f"sha256:{DIGEST}"}, "provenance not signed by keys/cosign.pub: the attestations of "
     f"sha256:abababababab… are someone else's (a wrong key, or a statement replaced) ({THRESHOLD})"),
    ("GET https://localhost:5000/v2/: connection refused", {f"sha256:{DIGEST}"},
     "provenance check failed: GET https://localhost:5000/v2/: connection refused")],
    ids=["other-types", "no-attestation", "others-attested", "someone-else", "other"])
def test_a_refusal_names_its_cause(monkeypatch, error, in_registry, cause):
    asked = registry_attestations(monkeypatch, in_registry)
    assert attest._refusal(REF, error, PUB) == cause
    # cosign checked the signatures before the type: attestations of other types need no look at the registry
    assert asked == ([] if error == TYPE_ERROR else [(REPO, "att")])


def envelope(doc: dict[str, Any]) -> str:
    """One line of `cosign verify-attestation`'s stdout: a DSSE envelope, the statement base64 in its payload."""
    payload = base64.b64encode(json.dumps(doc).encode()).decode()
    return json.dumps({"payloadType": "application/vnd.in-toto+json", "payload": payload,
                       "signatures": [{"keyid": "", "sig": "MEUCIQ=="}]})


def test_the_statements_are_the_envelopes_payloads():
    first, second = {"_type": "one"}, {"_type": "two", "n": [1]}
    assert attest._statements(f"{envelope(first)}\n\n   \n{envelope(second)}\n") == [first, second]
    assert attest._statements("") == []


def cosign_statement(digest: str, invocation: str) -> dict[str, Any]:
    """What cosign 2.5 attaches: Statement v0.1, the predicate re-encoded with `invocationID`."""
    doc = known_statement(digest, "invocationID", "https://in-toto.io/Statement/v0.1")
    doc["predicate"]["runDetails"]["metadata"]["invocationID"] = invocation
    return doc


VERIFY_ARGV = ["verify-attestation", "--key", "env://PTKIT_COSIGN_KEY", "--insecure-ignore-tlog=true",
               "--offline=true", "--type", "slsaprovenance1", REF]


def test_the_last_provenance_of_the_digest_is_shown_and_returned(monkeypatch, capsys):
    other_image = cosign_statement("c" * 64, "other-image")
    two_subjects = {**cosign_statement(DIGEST, "earlier"), "subject": [{"name": "x"}, {"digest": {"sha256": DIGEST}}]}
    sbom = {**cosign_statement(DIGEST, "sbom"), "predicateType": "https://cyclonedx.org/bom"}
    latest = cosign_statement(DIGEST, "run-1")
    lines = [envelope(d) for d in (other_image, two_subjects, latest, sbom, {"predicateType": attest.PROVENANCE_TYPE})]
    cosign = Cosign(monkeypatch, done(stdout="\n".join(lines) + "\n", stderr="Verification for ... --\n"))
    assert attest.require_provenance(REF, PUB) == latest
    assert cosign.calls == [(VERIFY_ARGV, PUB)]
    assert capsys.readouterr() == ("", "\n".join(KNOWN_LINES) + "\n")


def test_provenance_of_other_images_only_is_refused(monkeypatch, capsys):
    Cosign(monkeypatch, done(stdout=envelope(cosign_statement("c" * 64, "other")) + "\n"))
    with pytest.raises(PtkitError) as caught:
        attest.require_provenance(REF, PUB)
    assert str(caught.value) == f"image {REF} refused: no provenance: its attestations name other images"
    assert capsys.readouterr().err == ""


def test_cosigns_refusal_is_said_in_one_line(monkeypatch):
    registry_attestations(monkeypatch, {f"sha256:{DIGEST}"})
    cosign = Cosign(monkeypatch, failed(TYPE_ERROR))
    with pytest.raises(PtkitError) as caught:
        attest.require_provenance(REF, PUB)
    assert str(caught.value) == (f"image {REF} refused: no provenance: the attestations signed by keys/cosign.pub are "
                                 f"of other types ({TYPE_ERROR})")
    assert cosign.calls == [(VERIFY_ARGV, PUB)]
