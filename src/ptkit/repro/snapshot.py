"""One comparable view of an environment, from an image, a manifest file or a verify report.

An image is read live (its inventory run in a throwaway container: a team image's own packages
count, and so does anything installed after the build); its manifest adds the build record and
fingerprint. A manifest file is the record alone; a report carries torch's build facts only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..commands import UsageError
from ..verify import inventory
from ..verify.facts import SCHEMA as REPORT_SCHEMA
from . import images

MANIFEST_SCHEMA = "ptkit.manifest/1"
FACTS = ("torch", "cuda", "cudnn", "nccl", "arch_list")


@dataclass
class Snapshot:
    label: str
    python: dict[str, str] | None  # {name: version}; None: the source does not say (a report)
    debian: dict[str, str] | None
    facts: dict[str, Any] = field(default_factory=dict)
    fingerprint: str | None = None
    build: dict[str, Any] = field(default_factory=dict)


def _versions(table: dict[str, dict[str, Any]] | None) -> dict[str, str] | None:
    return None if table is None else {name: str(info["version"]) for name, info in table.items()}


def _facts(torch: dict[str, Any] | None) -> dict[str, Any]:
    return {key: (torch or {}).get(key) for key in FACTS}


def from_manifest(label: str, data: dict[str, Any]) -> Snapshot:
    return Snapshot(label, _versions(data.get("python", {}).get("packages")),
                    _versions(data.get("debian", {}).get("packages")), _facts(data.get("torch")),
                    (data.get("fingerprint") or {}).get("digest"), data.get("build") or {})


def from_report(label: str, data: dict[str, Any]) -> Snapshot:
    env = data.get("environment") or {}
    return Snapshot(label, None, None, _facts(env), env.get("built_fingerprint"))


def from_image(api: Any, ref: str) -> Snapshot:
    live = json.loads(images.run_module(api, ref, Path(inventory.__file__), []))
    recorded = images.manifest(api, ref) or {}
    return Snapshot(ref, _versions(live["python"]), _versions(live["debian"]), _facts(live["torch"]),
                    (recorded.get("fingerprint") or {}).get("digest"), recorded.get("build") or {})


def from_file(path: Path) -> Snapshot:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a readable JSON file ({exc})") from None
    schema = data.get("schema") if isinstance(data, dict) else None
    if schema == MANIFEST_SCHEMA:
        return from_manifest(str(path), data)
    if schema == REPORT_SCHEMA:
        return from_report(str(path), data)
    raise UsageError(f"{path}: neither a ptkit manifest ({MANIFEST_SCHEMA}) nor a report ({REPORT_SCHEMA})")


def load(ref: str, api_factory: Any) -> Snapshot:
    """A file when `ref` is one (manifest or report), else a local image."""
    path = Path(ref)
    if path.is_file():
        return from_file(path)
    if ref.endswith(".json"):
        raise UsageError(f"{ref}: no such file")
    return from_image(api_factory(), ref)
