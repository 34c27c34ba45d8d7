"""Image signatures (issue 22): `ptkit build --push --sign KEY` signs each pushed digest, `ptkit verify --image REF
--key PUB` refuses an image that is not signed by that key before anything runs.

The cosign CLI does the cryptography and the registry work (no signing code here): a signature is an artifact in
the image's repository, tagged `sha256-<digest>.sig`, whose payload names the digest it signs. Offline: no
transparency log (`--tlog-upload=false` to sign, `--insecure-ignore-tlog` and `--offline` to verify), so a key
pair is all there is to trust. The private key reaches cosign only in its environment (`--key env://VAR`, read
once here, so a FIFO or `<(...)` works too) and its password only as COSIGN_PASSWORD: neither is put in an
argument, a log line, an image or a report.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PtkitError, UsageError
from ..userfiles import read_bytes

COSIGN = "cosign"
KEY_VAR = "PTKIT_COSIGN_KEY"  # the key's PEM, in cosign's environment only
PASSWORD_VAR = "COSIGN_PASSWORD"  # cosign's own variable for the private key's password
TIMEOUT = 300
# Offline (no transparency log), the key from the environment: `cosign sign`/`attest`, `verify`/`verify-attestation`
SIGN_FLAGS = ("--key", f"env://{KEY_VAR}", "--tlog-upload=false", "--yes")
CHECK_FLAGS = ("--key", f"env://{KEY_VAR}", "--insecure-ignore-tlog=true", "--offline=true")
# cosign's documented exit codes of `verify`:
# https://github.com/sigstore/cosign/blob/main/cmd/cosign/errors/exit_codes.go
NO_SIGNATURE, NO_SUCH_TAG, NO_MATCHING_SIGNATURE = 10, 11, 12
# A loopback registry host, with or without a port ("[::1]" has colons of its own: no rsplit on ":")
LOOPBACK = re.compile(r"(localhost|127\.0\.0\.1|\[::1\])(:[0-9]+)?")
# What is signed or attested: one repository and a whole sha256 digest (`r@sha256:` would pass a substring test)
PINNED = re.compile(r"[^@\s]+@sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class Key:
    """A key file's PEM, read once; `repr` never shows it (a Request holding it may be printed)."""

    path: Path
    pem: bytes = field(repr=False)


def read_key(path: Path, private: bool) -> Key:
    """The key `path` holds, checked to be the kind asked for; a missing, unreadable or wrong file is a usage error."""
    option, kind = ("--sign", "PRIVATE KEY") if private else ("--key", "PUBLIC KEY")
    try:
        pem = read_bytes(path, 1 << 20)
    except OSError as exc:
        raise UsageError(f"{option} {path}: {exc.strerror or exc}") from None
    header = pem.lstrip().split(b"\n", 1)[0]
    if not (header.startswith(b"-----BEGIN ") and kind.encode() in header):
        got = next((f"a {k.lower()}" for k in ("PUBLIC KEY", "PRIVATE KEY") if k.encode() in header), "no PEM key")
        raise UsageError(f"{option} {path}: expected a cosign {kind.lower()} (`cosign generate-key-pair` writes "
                         f"cosign.key and cosign.pub), got {got}")
    return Key(path, pem)


def signing_key(path: Path) -> Key:
    """--sign's key, with everything signing needs checked before a build starts: cosign and the password."""
    key = read_key(path, private=True)
    if PASSWORD_VAR not in os.environ:
        raise UsageError(f"--sign {path}: set {PASSWORD_VAR} to the key's password (empty for a key made without one);"
                         " ptkit takes it from the environment only")
    _cosign()
    return key


def _cosign() -> str:
    if binary := shutil.which(COSIGN):
        return binary
    raise PtkitError("cosign is not installed (scripts/host-setup.sh installs cosign 2.5 from Debian trixie)")


def run_cosign(args: list[str], key: Key) -> subprocess.CompletedProcess[str]:
    """cosign with the key in its environment; stdin closed, so a missing password is never prompted for."""
    try:
        return subprocess.run([_cosign(), *args], env={**os.environ, KEY_VAR: key.pem.decode()},
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise PtkitError(f"cosign {args[0]} did not finish in {TIMEOUT} s (registry unreachable?)") from None


def cosign_error(proc: subprocess.CompletedProcess[str]) -> str:
    """cosign's own error line, without its 'Error: ' prefix (its warnings are not the story)."""
    lines = [line for line in proc.stderr.splitlines() if line.startswith("Error: ")]
    return lines[-1].removeprefix("Error: ") if lines else f"exit {proc.returncode}"


def repository(ref: str) -> str:
    """The repository of a reference: host/path without its :tag or @digest."""
    name = ref.split("@", 1)[0]
    return name[:name.rindex(":")] if ":" in name.rsplit("/", 1)[-1] else name


def require_pinned(ref: str, verb: str) -> None:
    """Refuse anything but REPOSITORY@sha256:<64 hex>: a tag may move, and a cut digest names nothing."""
    if not PINNED.fullmatch(ref):
        raise PtkitError(f"refusing to {verb} {ref}: {verb} a digest (REPOSITORY@sha256:...), not a tag that may move")


def sign(ref: str, key: Key) -> None:
    """Sign `ref` (REPOSITORY@DIGEST: a digest, never a tag that may move) with `key`; the signature goes to the
    repository beside the image."""
    require_pinned(ref, "sign")
    proc = run_cosign(["sign", *SIGN_FLAGS, ref], key)
    if proc.returncode != 0:
        raise PtkitError(f"signing {ref} failed: {cosign_error(proc)}")
    print(f"signed {ref} with {key.path}", file=sys.stderr)


def pinned_refs(tags: dict[str, str]) -> list[str]:
    """REPOSITORY@DIGEST of each repository in push's {tag: digest}, once each (what is signed and attested)."""
    return sorted({f"{repository(tag)}@{digest}" for tag, digest in tags.items()})


def sign_pushed(pushed: dict[str, dict[str, str]], key: Key) -> None:
    """Sign each digest `pipeline.push` reports ({image: {tag: digest}}), once per repository."""
    for ref in pinned_refs({tag: digest for tags in pushed.values() for tag, digest in tags.items()}):
        sign(ref, key)


@dataclass(frozen=True)
class Verdict:
    """What verification found: `pinned` (REPOSITORY@DIGEST) when a signature by the key holds, else why not."""

    ref: str
    pinned: str | None
    cause: str  # signed, unsigned, retagged, changed, moved signature, wrong key, not found, error
    detail: str

    @property
    def ok(self) -> bool:
        return self.pinned is not None


def verify_signature(ref: str, key: Key) -> Verdict:
    """Whether `ref` (a tag or a digest) is signed by `key`, from the registry's signatures alone."""
    proc = run_cosign(["verify", *CHECK_FLAGS, ref], key)
    error = cosign_error(proc)
    if proc.returncode == 0:
        digest = json.loads(proc.stdout)[0]["critical"]["image"]["docker-manifest-digest"]
        return Verdict(ref, f"{repository(ref)}@{digest}", "signed", f"by {key.path}")
    if proc.returncode == NO_SIGNATURE:
        return _unsigned(ref)
    if proc.returncode == NO_MATCHING_SIGNATURE and "digest in claim" in error:
        return Verdict(ref, None, "moved signature", "its signature was made for another digest (copied onto this "
                       f"image): {error}")
    if proc.returncode == NO_MATCHING_SIGNATURE:
        return Verdict(ref, None, "wrong key", f"signed, but not by the key {key.path} ({error})")
    if proc.returncode == NO_SUCH_TAG:
        return Verdict(ref, None, "not found", f"the registry has no such image ({error})")
    return Verdict(ref, None, "error", f"cosign verify failed: {error}")


def _unsigned(ref: str) -> Verdict:
    """No signature for the digest `ref` names: retagged when other digests of its repository are signed."""
    others = signed_digests(repository(ref))
    if not others:
        return Verdict(ref, None, "unsigned", "no signature in the registry for the image it names")
    listed = ", ".join(f"{d[:19]}…" for d in sorted(others)[:3])
    # A tag names another image than the one signed; a digest is another image (a changed layer is a new digest).
    cause, what = ("changed", "this digest") if "@" in ref else ("retagged", "the image the tag names now")
    return Verdict(ref, None, cause, f"no signature for {what}, while {len(others)} other digest(s) of the "
                   f"repository are signed ({listed}): not the image that was signed")


def signed_digests(repo: str, kind: str = "sig") -> set[str]:
    """The digests with a cosign signature (`kind` "sig"; "att": an attestation) in `repo`: cosign tags them
    `sha256-<digest>.<kind>` (its tag list, through skopeo); empty when it cannot tell."""
    # cosign talks plain HTTP to a loopback registry by itself (go-containerregistry's rule); skopeo is told to.
    loopback = LOOPBACK.fullmatch(repo.split("/", 1)[0]) is not None
    if not (skopeo := shutil.which("skopeo")):
        return set()
    try:
        proc = subprocess.run([skopeo, "list-tags", *(["--tls-verify=false"] if loopback else []), f"docker://{repo}"],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT)
        tags = (json.loads(proc.stdout).get("Tags") or []) if proc.returncode == 0 else []
    except (subprocess.TimeoutExpired, ValueError):
        return set()
    artifact = re.compile(rf"sha256-([0-9a-f]{{64}})\.{re.escape(kind)}")
    return {f"sha256:{m.group(1)}" for tag in tags if (m := artifact.fullmatch(tag))}


def require_signed(ref: str, key: Key) -> str:
    """`ref` pinned to the digest whose signature by `key` holds (what then runs is what was checked); otherwise
    one line naming the cause."""
    verdict = verify_signature(ref, key)
    if verdict.pinned is None:
        raise PtkitError(f"image {ref} refused: {verdict.cause}: {verdict.detail}")
    print(f"signature: {ref} is {verdict.pinned}, signed by {key.path}", file=sys.stderr)
    return verdict.pinned
