"""Drift: what was installed, removed or changed in a ptkit image after its build.

The image's manifest (/etc/ptkit/manifest.json, written by docker/manifest.py) records every Python
distribution of the venv with its version and the sha256 of its RECORD file. Comparing that with what
the running interpreter sees takes a few milliseconds, so it runs in `verify --quick` too. A full
file-level comparison is `ptkit fingerprint IMAGE` (seconds: it reads every byte).

Standard library only, Python 3.8+: this module runs in every image the verifier does.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from .fingerprint import MANIFEST
from .inventory import installed_distributions
from .results import FAIL, PASS, SKIP, WARN

MANIFEST_ENV = "PTKIT_MANIFEST"  # another manifest path (tests, images that keep it beside the venv)
CHECK = "drift"


def compare(recorded: dict[str, dict[str, Any]], installed: dict[str, dict[str, str]]) -> list[str]:
    """One phrase per drifted distribution, sorted by name: added, removed, other version, other files."""
    changes = []
    for name in sorted(set(recorded) | set(installed)):
        before, after = recorded.get(name), installed.get(name)
        if before is None and after is not None:
            changes.append(f"{name} {after['version']} installed after the build")
        elif after is None and before is not None:
            changes.append(f"{name} {before['version']} removed after the build")
        elif before is not None and after is not None and before["version"] != after["version"]:
            changes.append(f"{name} changed {before['version']} -> {after['version']}")
        elif before is not None and after is not None and before.get("record") not in (None, after["record"]):
            changes.append(f"{name} {after['version']} reinstalled with other files")
    return changes


def manifest_path() -> str:
    return os.environ.get(MANIFEST_ENV) or MANIFEST


def load_manifest(path: str) -> dict[str, Any] | None:
    """The manifest, or None when there is none (not a ptkit image); a broken one raises ValueError."""
    try:
        with open(path) as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ValueError(f"manifest {path} is unreadable: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("python"), dict) or \
            not isinstance(data["python"].get("packages"), dict):
        raise ValueError(f"manifest {path} has no python.packages table")
    # A malformed manifest is judged as a truncated one is (WARN, FAIL with --strict), never a crash of the check.
    packages = data["python"]["packages"].values()
    if not all(isinstance(p, dict) and isinstance(p.get("version"), str) for p in packages):
        raise ValueError(f"manifest {path} is malformed: a python package without a version")
    if not all(isinstance(data.get(key, {}), dict) for key in ("fingerprint", "build")) or \
            not isinstance(data["python"].get("venv", ""), str):
        raise ValueError(f"manifest {path} is malformed: fingerprint, build or python.venv of the wrong type")
    return data


def _in_venv(manifest: dict[str, Any]) -> str | None:
    """Why the running interpreter is not the one the manifest describes, or None when it is."""
    venv = manifest["python"].get("venv")
    if venv and os.path.realpath(sys.prefix) != os.path.realpath(venv):
        return f"the manifest describes {venv}, this interpreter runs in {sys.prefix}"
    return None


def check_drift(report: Any, strict: bool) -> None:
    """WARN (FAIL when strict) naming each distribution that drifted from the manifest; SKIP without one."""
    path = manifest_path()
    try:
        manifest = load_manifest(path)
    except ValueError as exc:
        report.add(CHECK, FAIL if strict else WARN, str(exc))
        return
    if manifest is None:
        report.add(CHECK, SKIP, f"no manifest at {path}: not a ptkit image")
        return
    report.environment["built_fingerprint"] = manifest.get("fingerprint", {}).get("digest")
    elsewhere = _in_venv(manifest)
    if elsewhere:
        report.add(CHECK, SKIP, elsewhere)
        return
    changes = compare(manifest["python"]["packages"], installed_distributions())
    if changes:
        report.add(CHECK, FAIL if strict else WARN, f"{len(changes)} change(s) since the build: {'; '.join(changes)}")
    else:
        count = len(manifest["python"]["packages"])
        report.add(CHECK, PASS, f"{count} distributions as built ({manifest.get('build', {}).get('revision', '?')})")


def add_drift_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--strict", action="store_true",
                        help="FAIL (not WARN) when the environment drifted from the image's manifest")
