"""What the host tells an image build about itself (provenance.json in the build context), and the
source time that makes two builds of the same commit the same.

docker/manifest.py copies provenance.json into the image's manifest as its `build` block.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

from . import __version__
from .render import BuildPlan

REVISION_LABEL = "org.opencontainers.image.revision"
CREATED_LABEL = "org.opencontainers.image.created"


def commit_time(directory: Path) -> dt.datetime | None:
    """The committer time of HEAD (SOURCE_DATE_EPOCH, the image's `created`), None outside a git checkout."""
    try:
        out = subprocess.run(["git", "-C", str(directory), "log", "-1", "--format=%ct"], capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return dt.datetime.fromtimestamp(int(out), dt.timezone.utc) if out.isdigit() else None


def provenance_json(plan: BuildPlan, base_image_id: str | None, lock: Path | None) -> bytes:
    """provenance.json: one JSON object, keys sorted, so equal inputs give equal bytes (and equal layers).

    It holds nothing flavor-specific, so both flavors' builds send the same bytes and share the cache."""
    data = {
        "variant": plan.variant.name,
        "source": plan.variant.source,
        "matrix": plan.variant.to_dict(),
        "revision": plan.labels.get(REVISION_LABEL, "unknown"),
        "created": plan.labels.get(CREATED_LABEL, "unknown"),
        "ptkit_version": __version__,
        "base_image": {"ref": plan.base_image, "id": base_image_id},
        "index_url": plan.index_url,
        "lock": lock.name if lock else None,
    }
    return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode()
