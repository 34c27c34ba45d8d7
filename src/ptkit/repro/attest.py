"""Signed provenance (issue 22, deliverable 4): for each digest `ptkit build|check --push --sign KEY` pushed, an
in-toto Statement v1 (https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md) with a SLSA
provenance v1 predicate (https://slsa.dev/spec/v1.0/provenance), and the image's CycloneDX SBOM, each signed by
cosign and attached to the digest in the registry; `ptkit verify --image REF --key PUB` shows the provenance before
anything runs and refuses an image without one signed by that key.

Plain dicts, checked against the fields the two specs require (`problems`): the PyPI bindings (in-toto-attestation
0.9.3, December 2023, pre-1.0, generated from protobuf) would add protobuf for a dozen keys.

What the registry holds is cosign 2.5's envelope of the predicate, not the statement built here: cosign wraps the
predicate itself, in a Statement v0.1 `_type` with the same subject (https://github.com/sigstore/cosign/issues/4238,
v1 statements only from cosign 3's `--statement`), and re-encodes the SLSA predicate through in-toto-golang, which
spells `invocationId` as `invocationID`. The facts are the same; `describe` reads both spellings.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PtkitError
from ..images import SOURCE_URL
from . import sign

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PROVENANCE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = f"{SOURCE_URL}/buildtypes/image/v1"  # a ptkit image build: the externalParameters below
PROVENANCE, SBOM = "slsaprovenance1", "cyclonedx"  # cosign's --type names of the two predicates
ROLE = "ptkit.role"  # the annotation that says which dependency is which: source, lock, base image
# The fields the statement and SLSA v1 mark REQUIRED, as key paths
REQUIRED = (("_type",), ("subject",), ("predicateType",), ("predicate", "buildDefinition", "buildType"),
            ("predicate", "buildDefinition", "externalParameters"), ("predicate", "runDetails", "builder", "id"))


@dataclass(frozen=True)
class Run:
    """One ptkit invocation (runDetails.metadata): every image it attests shares the id and the start."""

    invocation: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))

    @classmethod
    def since(cls, epoch: float) -> Run:
        """The invocation that started at `epoch` (time.time())."""
        return cls(started=dt.datetime.fromtimestamp(epoch, dt.timezone.utc))


@dataclass(frozen=True)
class Subject:
    """A pushed image: REPOSITORY@sha256:..., its manifest (/etc/ptkit/manifest.json), platform, verifier report."""

    ref: str
    manifest: dict[str, Any] = field(repr=False)
    platform: str
    report: Path | None = None  # the report `ptkit check` wrote for it; none after `ptkit build`


def _time(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def dependencies(build: dict[str, Any]) -> list[dict[str, Any]]:
    """resolvedDependencies from the manifest's build block: the source commit, the lock, the base image."""
    found = []
    revision = build.get("revision", "unknown")
    if revision != "unknown":
        # The commit of the checkout the matrix lives in, under the image's org.opencontainers.image.source
        commit = revision.removesuffix("-dirty")
        found.append({"uri": f"git+{SOURCE_URL}@{commit}", "digest": {"gitCommit": commit},
                      "annotations": {ROLE: "source", "dirty": revision.endswith("-dirty")}})
    if build.get("lock_sha256"):
        found.append({"name": build.get("lock") or "requirements.lock", "digest": {"sha256": build["lock_sha256"]},
                      "annotations": {ROLE: "lock"}})
    base = build.get("base_image") or {}
    if base.get("id"):
        # The engine's image id (the config's sha256) the build started FROM: what the build pinned
        found.append({"name": base.get("ref"), "uri": f"docker://{base.get('ref')}",
                      "digest": {"sha256": base["id"].removeprefix("sha256:")}, "annotations": {ROLE: "base image"}})
    return found


def statement(subject: Subject, run: Run) -> dict[str, Any]:
    """The in-toto Statement v1 of a pushed image, its predicate SLSA provenance v1."""
    build = subject.manifest["build"]
    repo, digest = subject.ref.split("@", 1)
    report = subject.report
    byproducts = [] if report is None else [{"name": report.name, "mediaType": "application/json",
                                              "digest": {"sha256": hashlib.sha256(report.read_bytes()).hexdigest()},
                                              "annotations": {ROLE: "verifier report"}}]
    version = build.get("ptkit_version", "unknown")
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": repo, "digest": {"sha256": digest.removeprefix("sha256:")}}],
        "predicateType": PROVENANCE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {"variant": build.get("variant"), "flavor": build.get("flavor"),
                                       "platform": subject.platform, "source": build.get("source"),
                                       "matrix": build.get("matrix")},
                "resolvedDependencies": dependencies(build),
            },
            "runDetails": {
                "builder": {"id": f"{SOURCE_URL}@{version}", "version": {"ptkit": version}},
                "metadata": {"invocationId": run.invocation, "startedOn": _time(run.started),
                             "finishedOn": _time(dt.datetime.now(dt.timezone.utc))},
                "byproducts": byproducts,
            },
        },
    }


def problems(doc: dict[str, Any]) -> list[str]:
    """What the specs require and `doc` lacks: the REQUIRED fields; a subject with a digest; every
    ResourceDescriptor with one of uri, digest, content. [] when none."""
    found = []
    for path in REQUIRED:
        value: Any = doc
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value in (None, "", []):
            found.append(f"{'.'.join(path)} is missing")
    predicate = doc.get("predicate") or {}
    descriptors = [*(doc.get("subject") or []),
                   *((predicate.get("buildDefinition") or {}).get("resolvedDependencies") or []),
                   *((predicate.get("runDetails") or {}).get("byproducts") or [])]
    found += [f"resource {d.get('name')} has no uri, digest or content" for d in descriptors
              if not any(d.get(k) for k in ("uri", "digest", "content"))]
    found += [f"subject {s.get('name')} has no digest" for s in doc.get("subject") or [] if not s.get("digest")]
    return found


def attach(ref: str, kind: str, predicate: str, key: sign.Key) -> None:
    """`cosign attest`: the predicate signed by `key` in a DSSE envelope, attached to the digest `ref` names, in
    place of an earlier one of the same type (a rebuild of the same digest does not pile them up)."""
    sign.require_pinned(ref, "attest")
    with tempfile.TemporaryDirectory(prefix="ptkit-attest-") as tmp:
        path = Path(tmp) / f"{kind}.json"
        path.write_text(predicate)
        proc = sign.run_cosign(["attest", *sign.SIGN_FLAGS, "--type", kind, "--predicate", str(path), "--replace",
                                ref], key)
    if proc.returncode != 0:
        raise PtkitError(f"attesting {kind} for {ref} failed: {sign.cosign_error(proc)}")
    print(f"attested {kind} for {ref}", file=sys.stderr)


def attest(subject: Subject, key: sign.Key, run: Run) -> dict[str, Any]:
    """Attach the image's signed provenance and SBOM; the statement."""
    from . import sbom

    doc = statement(subject, run)
    if found := problems(doc):  # ptkit's own mistake, caught before anything is signed
        raise PtkitError(f"the provenance of {subject.ref} is not SLSA v1: {found[0]}")
    attach(subject.ref, PROVENANCE, json.dumps(doc["predicate"], indent=1), key)
    repo, digest = subject.ref.split("@", 1)
    bom = sbom.to_json(sbom.build(repo, digest, subject.manifest))
    if errors := sbom.validate(bom):
        raise PtkitError(f"the SBOM of {subject.ref} does not validate: {errors[0].splitlines()[0]}")
    attach(subject.ref, SBOM, bom, key)
    return doc


def attest_pushed(api: Any, built: list[tuple[str, str]], pushed: dict[str, dict[str, str]], key: sign.Key,
                  reports: dict[str, Path], run: Run) -> None:
    """Attest each digest `pipeline.push` reported ({image: {tag: digest}}), once per repository, from the image's
    manifest (read through the engine) and its report in `reports` ({image: path}) when it has one. `built`: (image,
    platform name) of each image built (plain values: this module sits below the pipeline that calls it)."""
    from . import images as image_files

    for image, platform in built:
        if not (tags := pushed.get(image)):
            continue
        manifest = image_files.manifest(api, image)
        if manifest is None:
            raise PtkitError(f"{image} has no manifest: no provenance to attest")
        for ref in sign.pinned_refs(tags):
            attest(Subject(ref, manifest, platform, reports.get(image)), key, run)


def _refusal(pinned: str, error: str, key: sign.Key) -> str:
    """Why `cosign verify-attestation` found no provenance signed by `key`: 'CAUSE: detail'."""
    digest = pinned.split("@", 1)[1]
    if "matched the predicate type" in error:  # cosign checks the signatures first, then the type
        return f"no provenance: the attestations signed by {key.path} are of other types ({error})"
    if digest not in sign.signed_digests(sign.repository(pinned), "att"):
        return f"no provenance: no attestation in the registry for {digest[:19]}…"
    if "threshold" in error:  # cosign: 'accepted signatures do not match threshold, Found: 0, Expected 1'
        return (f"provenance not signed by {key.path}: the attestations of {digest[:19]}… are someone else's (a "
                f"wrong key, or a statement replaced) ({error})")
    return f"provenance check failed: {error}"


def _statements(stdout: str) -> list[dict[str, Any]]:
    """The statements in cosign verify-attestation's output: one DSSE envelope a line, base64 payload."""
    return [json.loads(base64.b64decode(json.loads(line)["payload"])) for line in stdout.splitlines() if line.strip()]


def require_provenance(pinned: str, key: sign.Key) -> dict[str, Any]:
    """The SLSA provenance of `pinned` (REPOSITORY@DIGEST) signed by `key`, shown on stderr; otherwise one line
    naming the cause."""
    proc = sign.run_cosign(["verify-attestation", *sign.CHECK_FLAGS, "--type", PROVENANCE, pinned], key)
    if proc.returncode != 0:
        raise PtkitError(f"image {pinned} refused: {_refusal(pinned, sign.cosign_error(proc), key)}")
    digest = pinned.split("@", 1)[1].removeprefix("sha256:")
    # cosign checks that the subject names the digest (--check-claims); checked again: it is what is shown
    ours = [s for s in _statements(proc.stdout) if s.get("predicateType") == PROVENANCE_TYPE
            and any((d.get("digest") or {}).get("sha256") == digest for d in s.get("subject") or [])]
    if not ours:
        raise PtkitError(f"image {pinned} refused: no provenance: its attestations name other images")
    for line in describe(ours[-1]):
        print(line, file=sys.stderr)
    return ours[-1]


def describe(doc: dict[str, Any]) -> list[str]:
    """A statement in a few lines: builder, commit, variant, lock, base image, verifier report."""
    predicate = doc.get("predicate") or {}
    definition, details = predicate.get("buildDefinition") or {}, predicate.get("runDetails") or {}
    params, meta = definition.get("externalParameters") or {}, details.get("metadata") or {}
    resources = [*(definition.get("resolvedDependencies") or []), *(details.get("byproducts") or [])]
    role = {(r.get("annotations") or {}).get(ROLE): r for r in resources}

    def digest(what: str) -> str:
        if (found := role.get(what)) is None:
            return "none"
        algorithm, value = next(iter((found.get("digest") or {"?": "?"}).items()))
        return f"{found.get('name') or found.get('uri')} {algorithm}:{value}"

    subject = (doc.get("subject") or [{}])[0]
    source = role.get("source") or {}
    commit = (source.get("digest") or {}).get("gitCommit", "unknown")
    invocation = meta.get("invocationId") or meta.get("invocationID")  # cosign 2.5 writes the second
    dirty = " (uncommitted changes)" if (source.get("annotations") or {}).get("dirty") else ""
    return [f"provenance: {subject.get('name')}@sha256:{(subject.get('digest') or {}).get('sha256')}",
            f"  builder {(details.get('builder') or {}).get('id')}, invocation {invocation} "
            f"({meta.get('startedOn')} to {meta.get('finishedOn')})",
            f"  commit {commit}{dirty}",
            f"  variant {params.get('variant')} ({params.get('flavor')}, {params.get('platform')}, "
            f"source {params.get('source')})",
            f"  lock {digest('lock')}", f"  base image {digest('base image')}",
            f"  verifier report {digest('verifier report')}"]
