"""One comparable view of an environment, from an image, a manifest file or a verify report.

An image is read live (its inventory run in a throwaway container: a team image's own packages
count, and so does anything installed after the build); its manifest adds the build record and
fingerprint. A manifest file is the record alone; a report carries torch's build facts only.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PtkitError, UsageError
from ..userfiles import read_text
from ..verify import inventory
from ..verify.facts import SCHEMA as REPORT_SCHEMA
from . import images

MANIFEST_SCHEMA = "ptkit.manifest/1"
FACTS = ("torch", "cuda", "cudnn", "nccl", "arch_list")
# Docker's reference grammar (distribution/reference): [host[:port]/]name[/name...][:tag][@digest]
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
REFERENCE = re.compile(rf"(?:{_DOMAIN}(?:\.{_DOMAIN})*(?::\d+)?/)?{_COMPONENT}(?:/{_COMPONENT})*(?::\w[\w.-]{{0,127}})?"
                       r"(?:@sha256:[a-f0-9]{64})?")


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


def _cudnn(value: Any) -> Any:
    """cuDNN as reports write it, 9.24.0: a manifest keeps torch.backends.cudnn.version()'s integer (92400;
    8902 for 8.9.2 before cuDNN 9), the verifier turns it into text (verify/imports.py, cudnn_version)."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return value
    major, rest = divmod(value, 10000) if value >= 10000 else divmod(value, 1000)
    return f"{major}.{rest // 100}.{rest % 100}"


def _facts(torch: dict[str, Any], arch_list: Any) -> dict[str, Any]:
    """The facts as one comparable form: cuDNN as text, the arch list sorted (a manifest sorts it as text)."""
    facts = {key: torch.get(key) for key in FACTS}
    facts["cudnn"] = _cudnn(facts["cudnn"])
    facts["arch_list"] = sorted(map(str, arch_list)) if isinstance(arch_list, list) else arch_list
    return facts


def _tables(label: str, data: dict[str, Any], *keys: str) -> list[dict[str, Any]]:
    """data[key] for each key, each a table ({} when absent); anything else is a malformed file, one line."""
    found = []
    for key in keys:
        value = data.get(key.split(".")[0], {})
        for part in key.split(".")[1:]:
            value = value.get(part) if isinstance(value, dict) else value
        if not isinstance(value, dict) and value is not None:
            raise UsageError(f"{label}: malformed: {key!r} is not a table")
        found.append(value)
    return found


def _package_versions(label: str, table: dict[str, Any] | None, section: str) -> dict[str, str] | None:
    if table is not None and not all(isinstance(i, dict) and isinstance(i.get("version"), str) for i in table.values()):
        raise UsageError(f"{label}: malformed: a {section} package without a version")
    return _versions(table)


def from_manifest(label: str, data: dict[str, Any]) -> Snapshot:
    python, debian, torch, fingerprint, build = _tables(
        label, data, "python", "debian", "torch", "fingerprint", "build")
    packages = _tables(label, {"python": python, "debian": debian}, "python.packages", "debian.packages")
    torch = torch or {}
    return Snapshot(label, _package_versions(label, packages[0], "python"),
                    _package_versions(label, packages[1], "debian"), _facts(torch, torch.get("arch_list")),
                    (fingerprint or {}).get("digest"), build or {})


def from_report(label: str, data: dict[str, Any]) -> Snapshot:
    (env,) = _tables(label, data, "environment")
    env = env or {}
    build = env.get("build") if isinstance(env.get("build"), dict) else {}
    return Snapshot(label, None, None, _facts(env, build.get("arch_list", env.get("arch_list"))),
                    env.get("built_fingerprint"))


def from_image(api: Any, ref: str) -> Snapshot:
    live = json.loads(images.run_module(api, ref, Path(inventory.__file__), []))
    recorded = images.manifest(api, ref) or {}
    return Snapshot(ref, _versions(live["python"]), _versions(live["debian"]),
                    _facts(live["torch"], live["torch"].get("arch_list")),
                    (recorded.get("fingerprint") or {}).get("digest"), recorded.get("build") or {})


def from_file(path: Path) -> Snapshot:
    try:
        data = json.loads(read_text(path, "diff:"))
    except ValueError as exc:
        raise UsageError(f"{path}: not a readable JSON file ({exc})") from None
    except PtkitError as exc:
        raise UsageError(str(exc)) from None
    schema = data.get("schema") if isinstance(data, dict) else None
    if schema == MANIFEST_SCHEMA:
        return from_manifest(str(path), data)
    if schema == REPORT_SCHEMA:
        return from_report(str(path), data)
    raise UsageError(f"{path}: neither a ptkit manifest ({MANIFEST_SCHEMA}) nor a report ({REPORT_SCHEMA})")


def load(ref: str, api_factory: Any) -> Snapshot:
    """A file when `ref` is one (manifest or report), else a local image."""
    if not ref.strip():
        raise UsageError("an empty argument is neither a file nor an image")
    path = Path(ref)
    if path.exists():  # a file, a pipe (<(...)) or a FIFO; a folder is refused by from_file
        return from_file(path)
    if ref.endswith(".json") or ref.startswith(("/", ".", "~")) or (path.parent != Path() and path.parent.is_dir()):
        raise UsageError(f"{ref}: no such file")  # a path with a typo in it, not an image to ask Docker about
    if not REFERENCE.fullmatch(ref):
        raise UsageError(f"{ref!r}: no such file, and not an image reference")
    return from_image(api_factory(), ref)
