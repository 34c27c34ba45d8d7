"""Where a build comes from: the checkout's revision and commit time (`of_checkout`, the source time that
makes two builds of the same commit the same), and what the host tells an image build about itself
(provenance.json in the build context).

docker/manifest.py copies provenance.json into the image's manifest as its `build` block.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

from . import __version__
from .images import CREATED_LABEL, REVISION_LABEL, Provenance
from .render import BuildPlan


def git_revision(directory: Path) -> str:
    """The commit of the sources the build comes from ('-dirty' for uncommitted changes), or 'unknown'."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(directory), *args], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()

    try:
        head = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def commit_time(directory: Path) -> dt.datetime | None:
    """The committer time of HEAD (SOURCE_DATE_EPOCH, the image's `created`), None outside a git checkout."""
    try:
        out = subprocess.run(["git", "-C", str(directory), "log", "-1", "--format=%ct"], capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return dt.datetime.fromtimestamp(int(out), dt.timezone.utc) if out.isdigit() else None


def of_checkout(directory: Path) -> Provenance:
    """Revision of the checkout a matrix lives in (ptkit's own, or a team's) and its commit time, so that two
    builds of one commit label and byte-compile alike; an uncommitted tree gets the build time."""
    revision = git_revision(directory)
    committed = commit_time(directory)
    created = committed if committed and not revision.endswith("-dirty") else dt.datetime.now(dt.timezone.utc)
    if committed is None:
        return Provenance(revision, created)
    return Provenance(revision, created, source_time=committed)


def provenance_json(plan: BuildPlan, base_image_id: str | None, lock: Path | None) -> bytes:
    """provenance.json: one JSON object, keys sorted, so equal inputs give equal bytes (and equal layers).

    It holds nothing flavor-specific, so both flavors' builds send the same bytes and share the cache."""
    data = {
        "variant": plan.variant.name,
        "source": plan.variant.source,
        "matrix": plan.variant.to_dict(),
        "revision": plan.image.labels.get(REVISION_LABEL, "unknown"),
        "created": plan.image.labels.get(CREATED_LABEL, "unknown"),
        "ptkit_version": __version__,
        "base_image": {"ref": plan.image.base, "id": base_image_id},
        "index_url": plan.index_url,
        "lock": lock.name if lock else None,
    }
    return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode()
