"""Signed provenance against a real registry (issue 22.4), without the Docker engine: the SLSA v1 statement of a
known manifest, stated here field by field; attested with cosign onto tiny umoci images pushed by skopeo and shown
by `ptkit verify --image --key`; an image signed but without provenance, a wrong key and a replaced statement are
each refused in one line with the cause."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from ptkit import cli, docker_api, pipeline
from ptkit.errors import PtkitError
from ptkit.images import Image, Provenance
from ptkit.repro import attest, sign
from ptkit.repro import images as image_files
from tests.utils import cosign_images, matrix_facts
from tests.utils.cosign_images import keys_fixture, needs_tools, registry_fixture, signer_fixture  # noqa: F401 - fixtures

COMMIT = "0123456789abcdef0123456789abcdef01234567"
LOCK_SHA = "9" * 64
BASE_ID = "1" * 64
REPORT = b'{"ok": true, "checks": []}\n'
STARTED = dt.datetime(2026, 12, 1, 8, 30, 0, tzinfo=dt.timezone.utc)
# A manifest as docker/manifest.py writes it (its build block from ptkit.provenance), cut to what the statement and the
# SBOM read
MANIFEST = {
    "build": {"variant": "cpu", "source": "pypi", "flavor": "runtime", "revision": COMMIT, "ptkit_version": "0.1.0",
              "matrix": {"name": "cpu", "torch": "2.10.0"}, "lock": "cpu.txt", "lock_sha256": LOCK_SHA,
              "base_image": {"ref": "debian:bookworm-slim", "id": f"sha256:{BASE_ID}"}},
    "python": {"packages": {"torch": {"version": "2.10.0", "sha256": ["2" * 64]}}},
    "debian": {"packages": {"libc6:amd64": {"version": "2.36-9", "arch": "amd64"}}},
}


def subject(ref: str, tmp_path: Path, manifest: dict | None = None) -> attest.Subject:
    report = tmp_path / "cpu-runtime.json"
    report.write_bytes(REPORT)
    return attest.Subject(ref, manifest or MANIFEST, "linux/amd64", report)


def test_the_statement_of_a_known_build(tmp_path):
    digest = "ab" * 32
    doc = attest.statement(subject(f"localhost:5000/team/pytorch@sha256:{digest}", tmp_path),
                           attest.Run("run-1", STARTED))
    assert doc["_type"] == "https://in-toto.io/Statement/v1"
    assert doc["predicateType"] == "https://slsa.dev/provenance/v1"
    assert doc["subject"] == [{"name": "localhost:5000/team/pytorch", "digest": {"sha256": digest}}]
    definition, details = doc["predicate"]["buildDefinition"], doc["predicate"]["runDetails"]
    assert definition["buildType"].startswith("https://github.com/ptkit/ptkit/")
    params = definition["externalParameters"]
    assert (params["variant"], params["flavor"], params["platform"]) == ("cpu", "runtime", "linux/amd64")
    assert params["matrix"] == {"name": "cpu", "torch": "2.10.0"}
    deps = {tuple(sorted(d["digest"].items())): d for d in definition["resolvedDependencies"]}
    assert deps[(("gitCommit", COMMIT),)]["uri"] == f"git+https://github.com/ptkit/ptkit@{COMMIT}"
    assert deps[(("sha256", LOCK_SHA),)]["name"] == "cpu.txt"
    assert deps[(("sha256", BASE_ID),)]["name"] == "debian:bookworm-slim"
    assert details["builder"]["id"] == "https://github.com/ptkit/ptkit@0.1.0"
    assert details["metadata"]["invocationId"] == "run-1"
    assert details["metadata"]["startedOn"] == "2026-12-01T08:30:00Z"
    assert details["metadata"]["finishedOn"] >= "2026-12-01T08:30:00Z"
    [report] = details["byproducts"]
    assert (report["name"], report["digest"]) == ("cpu-runtime.json", {"sha256": hashlib.sha256(REPORT).hexdigest()})
    assert attest.problems(doc) == []


def test_a_dirty_tree_is_said_and_an_image_built_by_ptkit_build_has_no_report(tmp_path):
    manifest = {**MANIFEST, "build": {**MANIFEST["build"], "revision": f"{COMMIT}-dirty"}}
    doc = attest.statement(attest.Subject("r/x@sha256:" + "c" * 64, manifest, "linux/arm64"), attest.Run())
    [source] = [d for d in doc["predicate"]["buildDefinition"]["resolvedDependencies"] if "gitCommit" in d["digest"]]
    assert source["digest"]["gitCommit"] == COMMIT and source["annotations"]["dirty"] is True
    assert doc["predicate"]["runDetails"]["byproducts"] == []
    assert "  verifier report none" in attest.describe(doc)


def test_problems_names_what_the_specs_require(tmp_path):
    doc = attest.statement(subject("r/x@sha256:" + "d" * 64, tmp_path), attest.Run())
    del doc["predicate"]["buildDefinition"]["buildType"]
    doc["predicate"]["runDetails"]["byproducts"].append({"name": "loose"})
    doc["subject"][0].pop("digest")
    found = attest.problems(doc)
    assert "predicate.buildDefinition.buildType is missing" in found
    assert "resource loose has no uri, digest or content" in found
    assert any(p.startswith("subject r/x has no digest") for p in found)


# --- against the registry -----------------------------------------------------------------------------------------

def pushed(registry, tmp_path: Path, name: str, signer: sign.Key | None = None) -> str:
    """A tiny image pushed as REPOSITORY:v1, signed when `signer` is given; REPOSITORY@DIGEST."""
    repo = f"{registry.host}/team/{name}"
    ref = f"{repo}@{cosign_images.image(tmp_path, name).push(f'{repo}:v1')}"
    if signer is not None:
        sign.sign(ref, signer)
    return ref


def public(keys, which: str = "pub") -> sign.Key:
    return sign.read_key(keys[which], private=False)


@needs_tools
def test_attested_provenance_and_sbom_verify_and_show_the_build(registry, keys, signer, tmp_path, capfd):
    ref = pushed(registry, tmp_path, "attested", signer)
    attest.attest(subject(ref, tmp_path), signer, attest.Run("run-2", STARTED))
    capfd.readouterr()
    found = attest.require_provenance(ref, public(keys))
    err = capfd.readouterr().err
    assert found["subject"][0]["digest"]["sha256"] == ref.split("@sha256:")[1]
    for fact in (f"commit {COMMIT}", "variant cpu (runtime, linux/amd64, source pypi)", f"cpu.txt sha256:{LOCK_SHA}",
                 f"debian:bookworm-slim sha256:{BASE_ID}", f"sha256:{hashlib.sha256(REPORT).hexdigest()}",
                 "https://github.com/ptkit/ptkit@0.1.0", "invocation run-2"):
        assert fact in err, (fact, err)
    # The SBOM beside it, checked with cosign by hand as the README says
    out = cosign_images.run("cosign", "verify-attestation", "--key", str(keys["pub"]), "--type", "cyclonedx",
              "--insecure-ignore-tlog=true", "--offline=true", ref)
    bom = json.loads(base64.b64decode(json.loads(out.splitlines()[0])["payload"]))["predicate"]
    assert {c["name"] for c in bom["components"]} == {"torch", "libc6"}
    secret = keys["key"].read_text().splitlines()[1]
    assert cosign_images.PASSWORD not in err and secret not in err


@needs_tools
def test_a_wrong_key_is_refused(registry, keys, signer, tmp_path):
    ref = pushed(registry, tmp_path, "provwrongkey", signer)
    attest.attest(subject(ref, tmp_path), signer, attest.Run())
    with pytest.raises(PtkitError, match=f"refused: provenance not signed by {keys['other_pub']}"):
        attest.require_provenance(ref, public(keys, "other_pub"))


@needs_tools
def test_a_signed_image_without_provenance_is_refused_in_one_line_before_anything_runs(registry, keys, signer,
                                                                                         tmp_path, monkeypatch, capsys):
    ref = pushed(registry, tmp_path, "noprov", signer)
    tag = ref.split("@")[0] + ":v1"

    def no_engine():
        raise AssertionError("the Docker engine was asked for before the provenance was checked")

    monkeypatch.setattr(docker_api, "client", no_engine)
    capsys.readouterr()
    assert cli.main(["verify", "--image", tag, "--key", str(keys["pub"])]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("signature: ")  # the signature holds: the refusal is the provenance's
    assert len(err) == 2 and err[1].startswith(f"ptkit verify: error: image {ref} refused: no provenance: "), err


@needs_tools
def test_an_sbom_alone_is_no_provenance(registry, keys, signer, tmp_path):
    ref = pushed(registry, tmp_path, "sbomonly", signer)
    attest.attach(ref, attest.SBOM, json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6"}), signer)
    with pytest.raises(PtkitError, match=r"refused: no provenance: the attestations signed by .* are of other types"):
        attest.require_provenance(ref, public(keys))


@needs_tools
def test_a_statement_replaced_by_someone_else_is_refused(registry, keys, signer, tmp_path, capfd):
    ref = pushed(registry, tmp_path, "replaced", signer)
    attest.attest(subject(ref, tmp_path), signer, attest.Run())
    forged = {**MANIFEST, "build": {**MANIFEST["build"], "variant": "forged-variant", "revision": "f" * 40}}
    other = sign.signing_key(keys["other_key"])  # the same password (cosign_images makes both pairs with it)
    attest.attest(subject(ref, tmp_path, forged), other, attest.Run())
    capfd.readouterr()
    with pytest.raises(PtkitError, match="refused: provenance not signed by"):
        attest.require_provenance(ref, public(keys))
    assert "forged-variant" not in capfd.readouterr().err


@needs_tools
def test_only_digests_are_attested(signer, registry, tmp_path):
    with pytest.raises(PtkitError, match="attest a digest"):
        attest.attach(f"{registry.host}/team/x:v1", attest.PROVENANCE, "{}", signer)


@needs_tools
def test_the_pipeline_attests_what_it_pushed_and_verify_runs_the_attested_digest(registry, keys, signer, tmp_path,
                                                                                   monkeypatch, capsys):
    ref = pushed(registry, tmp_path, "pipeline")
    repo, digest = ref.split("@")
    built = [pipeline.Built(Image(matrix_facts.default_variant(), Provenance(COMMIT, STARTED)), "sha256:" + "e" * 64)]
    # The steps this test cannot run (the Docker tests own the engine): push reports the digest the registry gave
    # skopeo, as build.push reports the engine's; the manifest is read from the engine's image; the container
    # records the image it was given.
    monkeypatch.setattr(pipeline, "push", lambda api, b: {built[0].image: {f"{repo}:v1": digest}})
    monkeypatch.setattr(image_files, "manifest", lambda api, ref: MANIFEST)
    monkeypatch.setattr(docker_api, "client", lambda: None)
    ran: list[str] = []
    monkeypatch.setattr(pipeline, "verify_in_container", lambda api, ref, how: ran.append(ref))
    pub = public(keys)
    with pytest.raises(PtkitError, match="unsigned"):
        pipeline.verify_image(f"{repo}:v1", pipeline.Verification(), signed_by=pub)
    req = pipeline.Request(None, None, None, (), push=True, signer=signer)  # type: ignore[arg-type]
    pipeline.attest_published(None, req, built, pipeline.publish(None, req, built), {}, STARTED.timestamp())
    capsys.readouterr()
    pipeline.verify_image(f"{repo}:v1", pipeline.Verification(), signed_by=pub)
    assert ran == [ref]
    err = capsys.readouterr().err
    assert f"commit {COMMIT}" in err and "verifier report none" in err and "2026-12-01T08:30:00Z" in err
