"""`ptkit fingerprint IMAGE`: the environment fingerprint computed in a throwaway container of the image,
checked against the one its manifest recorded at build time (the algorithm: ptkit.verify.fingerprint).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..verify import fingerprint as algorithm
from . import images


@dataclass(frozen=True)
class Fingerprint:
    image: str
    digest: str
    files: int
    recorded: str | None  # the manifest's digest; None in an image without a manifest
    listing: list[str]

    @property
    def matches(self) -> bool | None:
        return None if self.recorded is None else self.recorded == self.digest


def compute(api: Any, ref: str, listing: bool = False) -> Fingerprint:
    """The image's fingerprint over the roots its manifest names (the default roots without one)."""
    recorded = (images.manifest(api, ref) or {}).get("fingerprint") or {}
    args = [*recorded.get("roots", []), *(f"--exclude={p}" for p in recorded.get("exclude", [])), "--json"]
    out = images.run_module(api, ref, Path(algorithm.__file__), [*args, *(["--list"] if listing else [])])
    *lines, last = out.strip().splitlines()
    result = json.loads(last)
    return Fingerprint(ref, result["digest"], result["files"], recorded.get("digest"), lines)


def describe(fp: Fingerprint) -> str:
    if fp.matches is None:
        return f"{fp.digest} ({fp.files} files; {fp.image} has no manifest to compare with)"
    if fp.matches:
        return f"{fp.digest} ({fp.files} files; as built: the manifest records the same)"
    return f"{fp.digest} ({fp.files} files; the manifest recorded {fp.recorded}: changed since the build)"
