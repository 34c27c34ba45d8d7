"""`ptkit reproduce IMAGE`: rebuild an image from what its manifest records, and compare the two.

The manifest (/etc/ptkit/manifest.json) names the commit, the matrix row and source, the flavor, the base
image (reference and id) and the lock (name and sha256). The rebuild takes a checkout of that commit (a shared
clone of `--repo`, this checkout by default) and runs that commit's own ptkit (`python -m ptkit build
--no-cache`), so the code that builds is the code that built. Identical means the same image id (the digest
of its config, which names every layer's digest); otherwise the first differing layer and its files
(layerdiff.py, shared with `ptkit diff --layers`).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..docker_api import split_ref
from ..errors import PtkitError

REBUILD_REPO = "ptkit-reproduce"  # the rebuild's own tag: ptkit-reproduce/VARIANT:rebuild[-FLAVOR]


@dataclass(frozen=True)
class Recorded:
    """What the image's manifest says it was built from."""

    revision: str
    variant: str
    source: str
    flavor: str
    base_ref: str
    base_id: str
    lock: str | None
    lock_sha256: str | None


def recorded(manifest: dict[str, Any] | None, ref: str) -> Recorded:
    """The build block's facts; a one-line refusal where they cannot be reproduced from."""
    build = (manifest or {}).get("build")
    if not isinstance(build, dict):
        raise PtkitError(f"{ref} has no ptkit manifest: nothing records what it was built from")
    revision = str(build.get("revision") or "unknown")
    if revision == "unknown" or revision.endswith("-dirty"):
        raise PtkitError(f"{ref} was built from {'an uncommitted tree' if revision != 'unknown' else 'no git checkout'}"
                         f" ({revision}): no commit to rebuild it from")
    base = build.get("base_image") or {}
    return Recorded(revision, str(build.get("variant")), str(build.get("source")), str(build.get("flavor")),
                    str(base.get("ref")), str(base.get("id")), build.get("lock"), build.get("lock_sha256"))


def checkout(repo: Path, revision: str, into: Path) -> Path:
    """A shared clone of `repo` at `revision` (no copy of its objects)."""
    def git(*args: str) -> None:
        proc = subprocess.run(["git", *args], capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise PtkitError(f"commit {revision[:12]} is not in {repo} (git: {' '.join(proc.stderr.split())[:120]}):"
                             " fetch it, or pass --repo with a clone that has it")

    git("clone", "--quiet", "--no-checkout", "--shared", str(repo), str(into))
    git("-C", str(into), "checkout", "--quiet", "--detach", revision)
    return into


def lock_file(rec: Recorded, tree: Path) -> Path | None:
    """The commit's lock the image was built with, its bytes checked against the manifest's digest."""
    if not rec.lock:
        return None
    path = tree / "locks" / rec.lock
    if not path.is_file():
        raise PtkitError(f"the image was built with lock {rec.lock}, which commit {rec.revision[:12]} does not have")
    if rec.lock_sha256 and hashlib.sha256(path.read_bytes()).hexdigest() != rec.lock_sha256:
        raise PtkitError(f"locks/{rec.lock} at commit {rec.revision[:12]} is not the lock the image was built with "
                         "(its sha256 differs)")
    return path


def check_base(api: Any, rec: Recorded) -> None:
    """The base must be the very image the original was built FROM: its reference here must name that id."""
    from docker.errors import ImageNotFound

    try:
        here = api.images.get(rec.base_ref).id
    except ImageNotFound:
        here = None
    if here != rec.base_id:
        found = f"is {here}" if here else "is not here"
        raise PtkitError(f"the base image {rec.base_ref} {found}; the image was built FROM {rec.base_id}: make or "
                         "pull that base first")


def rebuild_command(rec: Recorded, tree: Path, options: list[str]) -> list[str]:
    lock = lock_file(rec, tree)
    return [sys.executable, "-m", "ptkit", "build", rec.variant, "--source", rec.source, "--flavor", rec.flavor,
            "--base-image", rec.base_ref, "--matrix", str(tree / "matrix.toml"), "--no-cache",
            "--tag", f"{REBUILD_REPO}/{rec.variant}:rebuild", *(["--lock", str(lock)] if lock else []), *options]


def rebuild(api: Any, rec: Recorded, repo: Path, options: list[str]) -> str:
    """Build the recorded image anew from its commit; return the rebuild's id. The tags the build moves onto
    the rebuild (ptkit:VARIANT and the like) are moved back to the images they named before, and the names it
    adds removed, but ptkit-reproduce/VARIANT:rebuild[-FLAVOR]."""
    check_base(api, rec)
    before = {tag: image.id for image in api.images.list() for tag in image.tags}
    with tempfile.TemporaryDirectory(prefix="ptkit-reproduce-") as tmp:
        tree = checkout(repo, rec.revision, Path(tmp) / "src")
        env = {**os.environ, "PYTHONPATH": str(tree / "src")}
        proc = subprocess.run(rebuild_command(rec, tree, options), cwd=tree, env=env, stdout=subprocess.PIPE,
                              stderr=sys.stderr, text=True, timeout=7200)
    if proc.returncode != 0:
        raise PtkitError(f"the rebuild from commit {rec.revision[:12]} failed (exit {proc.returncode}; its log above)")
    try:  # `ptkit build` prints what it built as JSON: [{"image": ..., "image_id": ...}]
        rebuilt = str(json.loads(proc.stdout)[0]["image_id"])
    except (ValueError, LookupError, TypeError):
        raise PtkitError(f"the rebuild from commit {rec.revision[:12]} printed no image id") from None
    keep = f"{REBUILD_REPO}/{rec.variant}:rebuild"
    for tag in api.images.get(rebuilt).tags:
        if tag.startswith(keep):
            continue  # the rebuild's own tag names this rebuild, not the one a previous reproduce left
        if tag in before and before[tag] != rebuilt:
            api.api.tag(before[tag], *split_ref(tag))  # moved back to the image it named
        elif tag not in before:
            api.images.remove(tag)  # a name the rebuild added: only the rebuild's own tag is left
    return rebuilt
