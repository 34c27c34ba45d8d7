"""The GPU catalog (gpus.toml): loaded, validated, and written out as the verifier's copy.

gpus.toml is the one statement of which GPUs exist, their compute capability, memory, datasheet peaks and CPU.
The verifier must stay stdlib-only and self-contained in any image, so it cannot read TOML (Python 3.8 images)
or the repository: it gets src/ptkit/verify/catalog.py, generated here. tests/test_gpu_catalog.py fails when
the two drift; `python -m ptkit.compat.catalog --write` regenerates it, `--check` says whether it is current.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from ..errors import PtkitError
from ..verify.facts import normalize_gpu_name
from ..verify.precision import DTYPES

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib

SCHEMA = 1
PACKAGED = Path(__file__).resolve().parents[1] / "data" / "gpus.toml"
GENERATED = Path(__file__).resolve().parents[1] / "verify" / "catalog.py"
KINDS = ("data-center", "workstation", "consumer", "embedded", "superchip")
CPUS = ("arm64",)
REQUIRED = ("model", "names", "capability", "kind")
OPTIONAL = ("memory_gb", "peaks", "cpu", "pre_volta", "source", "peaks_source", "capability_source")
URL = re.compile(r"https://[^\s\"'<>]+")
CAPABILITY = re.compile(r"\d{1,2}\.\d")
KEY = re.compile(r"[a-z0-9][a-z0-9-]*")


class CatalogError(PtkitError):
    """A catalog that cannot be used; the message names the file and the key."""


def _fail(path: Path, key: str, why: str) -> CatalogError:
    return CatalogError(f"{path}: gpus.{key}: {why}")


def _check_sources(path: Path, key: str, entry: dict[str, Any], default_capability_source: str) -> None:
    """Every figure has a source: memory and peaks `source` (or `peaks_source`), the capability its own."""
    for field in ("source", "peaks_source", "capability_source"):
        if field in entry and not URL.fullmatch(str(entry[field])):
            raise _fail(path, key, f"{field} {entry[field]!r} is not an https URL")
    if "memory_gb" in entry and "source" not in entry:
        raise _fail(path, key, "memory_gb without a source")
    if "peaks" in entry and not ({"source", "peaks_source"} & set(entry)):
        raise _fail(path, key, "peaks without a source")
    if not (entry.get("capability_source") or default_capability_source):
        raise _fail(path, key, "capability without a source")


def _check_entry(path: Path, key: str, entry: Any, default_capability_source: str) -> dict[str, Any]:
    if not KEY.fullmatch(key) or not isinstance(entry, dict):
        raise _fail(path, key, "a model is a table under a lower-case key such as [gpus.h100-sxm]")
    unknown = set(entry) - set(REQUIRED) - set(OPTIONAL)
    missing = [f for f in REQUIRED if f not in entry]
    if unknown or missing:
        raise _fail(path, key, f"unknown {sorted(unknown)}, missing {missing}")
    if not CAPABILITY.fullmatch(str(entry["capability"])):
        raise _fail(path, key, f"capability {entry['capability']!r} is not X.Y")
    if entry["kind"] not in KINDS or entry.get("cpu", "arm64") not in CPUS:
        raise _fail(path, key, f"kind must be one of {', '.join(KINDS)}; cpu, where given, {', '.join(CPUS)}")
    if not isinstance(entry["names"], list) or not all(isinstance(n, str) and n.strip() for n in entry["names"]):
        raise _fail(path, key, "names is a list of the names nvidia-smi prints")
    peaks = entry.get("peaks", {})
    if not isinstance(peaks, dict) or any(d not in DTYPES or not isinstance(v, (int, float)) or v <= 0
                                          for d, v in peaks.items()):
        raise _fail(path, key, f"peaks maps {', '.join(DTYPES)} to positive TFLOP/s")
    _check_sources(path, key, entry, default_capability_source)
    return entry


def load(path: Path = PACKAGED) -> dict[str, dict[str, Any]]:
    """{key: entry} in file order; a CatalogError names the file and key of anything unusable."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogError(f"{path}: {exc}") from None
    if data.get("schema") != SCHEMA or not isinstance(data.get("gpus"), dict):
        raise CatalogError(f"{path}: expected schema = {SCHEMA} and [gpus.KEY] tables")
    default = str(data.get("capability_source", ""))
    gpus = {key: _check_entry(path, key, entry, default) for key, entry in data["gpus"].items()}
    seen: dict[str, str] = {}
    for key, entry in gpus.items():
        for name in [key, entry["model"], *entry["names"]]:
            other = seen.setdefault(normalize_gpu_name(name), key)
            if other != key:
                raise _fail(path, key, f"name {name!r} is also {other}'s: a name must say which model it is")
        entry.setdefault("capability_source", default)
    return gpus


def verifier_copy(gpus: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """What the verifier needs of each model (its sources stay in gpus.toml)."""
    fields = ("model", "names", "capability", "kind", "memory_gb", "peaks", "cpu", "pre_volta")
    return {key: {f: entry[f] for f in fields if f in entry} for key, entry in gpus.items()}


def render_module(gpus: dict[str, dict[str, Any]]) -> str:
    """One model a line (a generated table: E501 is off for this file alone)."""
    rows = "".join(f"    {key!r}: {entry!r},\n" for key, entry in verifier_copy(gpus).items())
    return ('"""GENERATED from gpus.toml by `python -m ptkit.compat.catalog --write`: do not edit.\n\n'
            "The verifier's copy of the GPU catalog (it cannot read TOML or the repository in an image);\n"
            'tests/test_gpu_catalog.py fails when it drifts from gpus.toml. Sources: gpus.toml."""\n'
            "# ruff: noqa: E501\n\n"
            "from __future__ import annotations\n\n"
            f"GPUS: dict = {{\n{rows}}}\n")


def drift(path: Path = PACKAGED, generated: Path | None = None) -> str | None:
    """None when the verifier's copy is current (GENERATED unless given), else what to run."""
    generated = generated or GENERATED
    current = generated.read_text() if generated.is_file() else ""
    if current != render_module(load(path)):
        return f"{generated} is not what {path} generates: run `python -m ptkit.compat.catalog --write`"
    return None


def main(argv: list[str]) -> int:
    if argv not in (["--write"], ["--check"]):
        print("usage: python -m ptkit.compat.catalog --write|--check", file=sys.stderr)
        return 2
    try:
        if argv == ["--write"]:
            GENERATED.write_text(render_module(load()))
            return 0
        problem = drift()
    except CatalogError as exc:
        print(f"ptkit: {exc}", file=sys.stderr)
        return 1
    if problem:
        print(f"ptkit: {problem}", file=sys.stderr)
    return 1 if problem else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
