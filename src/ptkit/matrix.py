"""Step 1: the variant matrix (matrix.toml), loaded and validated.

Every error names the file and the key, so a typo in the data never surfaces as a traceback.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import PtkitError

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib

SCHEMA = 1
REQUIRED = ("torch", "torchvision", "torchaudio", "cuda", "index_url", "min_driver")
OPTIONAL = ("description", "python", "base_image", "extra_packages")
VERSION = re.compile(r"^\d+(\.\d+)*(\+[a-z0-9]+)?$")
NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class MatrixError(PtkitError):
    """A matrix file that cannot be used; the message names the file and key."""


class UnknownVariant(MatrixError):
    pass


@dataclass(frozen=True)
class Variant:
    name: str
    torch: str
    torchvision: str
    torchaudio: str
    cuda: str
    index_url: str
    min_driver: str
    python: str
    base_image: str
    extra_packages: tuple[str, ...] = field(default_factory=tuple)
    description: str = ""

    @property
    def is_cuda(self) -> bool:
        return bool(self.cuda)

    @property
    def torch_public(self) -> str:
        """Version without the local tag: '2.13.0+cpu' -> '2.13.0' (used in image tags)."""
        return self.torch.split("+")[0]

    def pins(self) -> dict[str, str]:
        """The PyTorch packages this variant installs, with their exact versions."""
        pins = {"torch": self.torch, "torchvision": self.torchvision, "torchaudio": self.torchaudio}
        return {name: version for name, version in pins.items() if version}

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["extra_packages"] = list(self.extra_packages)
        return data


@dataclass(frozen=True)
class Matrix:
    path: Path
    variants: dict[str, Variant]
    latest: str | None = None  # the variant also tagged ptkit:latest (`docker run ptkit verify`)

    def get(self, name: str) -> Variant:
        if name not in self.variants:
            raise UnknownVariant(f"unknown variant {name!r}; valid variants: {', '.join(self.variants)}")
        return self.variants[name]


def default_path() -> Path:
    """$PTKIT_MATRIX, else matrix.toml at the root of the checkout this package lives in."""
    if env := os.environ.get("PTKIT_MATRIX"):
        return Path(env)
    return Path(__file__).resolve().parents[2] / "matrix.toml"


def load(path: Path | None = None) -> Matrix:
    path = Path(path) if path else default_path()
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise MatrixError(f"{path}: matrix file not found (set PTKIT_MATRIX or run from a checkout)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MatrixError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise MatrixError(f"{path}: not valid TOML: {exc}") from None
    variants = parse(data, str(path))
    latest = data.get("latest")
    if latest is not None and latest not in variants:
        raise MatrixError(f"{path}: key 'latest' names no variant: {latest!r}")
    return Matrix(path, variants, latest)


def parse(data: dict[str, Any], where: str) -> dict[str, Variant]:
    if data.get("schema") != SCHEMA:
        raise MatrixError(f"{where}: key 'schema' must be {SCHEMA}, got {data.get('schema')!r}")
    defaults = _table(data, "defaults", where, required=False)
    _check_keys(defaults, OPTIONAL, f"{where}: [defaults]")
    variants = _table(data, "variants", where, required=True)
    if not variants:
        raise MatrixError(f"{where}: [variants] is empty")
    return {name: _variant(name, _table(variants, name, f"{where}: [variants]", True), defaults, where)
            for name in variants}


def _table(data: dict[str, Any], key: str, where: str, required: bool) -> dict[str, Any]:
    value = data.get(key, None if required else {})
    if not isinstance(value, dict):
        raise MatrixError(f"{where}: key {key!r} must be a table")
    return value


def _check_keys(table: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in table:
        if key not in allowed:
            raise MatrixError(f"{where}: unknown key {key!r} (allowed: {', '.join(allowed)})")


def _variant(name: str, table: dict[str, Any], defaults: dict[str, Any], where: str) -> Variant:
    here = f"{where}: [variants.{name}]"
    if not NAME.match(name):
        raise MatrixError(f"{here}: variant names are lower-case identifiers")
    _check_keys(table, REQUIRED + OPTIONAL, here)
    merged = {**defaults, **table}
    for key in (*REQUIRED, "python", "base_image"):
        if key not in merged:
            raise MatrixError(f"{here}: missing key {key!r}")
        if not isinstance(merged[key], str):
            raise MatrixError(f"{here}: key {key!r} must be a string")
    for key in ("torch", "python"):
        if not VERSION.match(merged[key]):
            raise MatrixError(f"{here}: key {key!r} is not a version: {merged[key]!r}")
    for key in ("torchvision", "torchaudio", "cuda", "min_driver"):
        if merged[key] and not VERSION.match(merged[key]):
            raise MatrixError(f"{here}: key {key!r} is not a version: {merged[key]!r}")
    if bool(merged["cuda"]) != bool(merged["min_driver"]):
        raise MatrixError(f"{here}: keys 'cuda' and 'min_driver' must be set together")
    if not merged["index_url"].startswith(("https://", "http://", "file://")):
        raise MatrixError(f"{here}: key 'index_url' must be a URL")
    extra = merged.get("extra_packages", [])
    if not isinstance(extra, list) or not all(isinstance(p, str) for p in extra):
        raise MatrixError(f"{here}: key 'extra_packages' must be a list of strings")
    return Variant(
        name=name,
        **{k: merged[k] for k in (*REQUIRED, "python", "base_image")},
        extra_packages=tuple(extra),
        description=str(merged.get("description", "")),
    )
