"""Step 1: the variant matrix (matrix.toml), loaded and validated.

Every error names the file and the key, so a typo in the data never surfaces as a traceback or,
worse, after an image build. The minimum driver of a CUDA release is not data of the matrix: it is
read from the verifier's table (verify/facts.py), the one place that fact lives.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import PtkitError
from .platforms import DEFAULT_PLATFORM, PLATFORMS, Platform
from .userfiles import read_bytes
from .verify.facts import MIN_DRIVER, version_tuple

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib

SCHEMA = 1
REQUIRED = ("torch", "torchvision", "torchaudio", "cuda", "index_url")
OPTIONAL = ("description", "python", "base_image", "extra_packages", "source", "platforms")
# An alternative source of a row (`[variants.NAME.sources.SOURCE]`) replaces only these keys.
SOURCE_KEYS = ("torch", "torchvision", "torchaudio", "index_url", "description", "platforms")
# PEP 440 release with an optional local tag (2.13.0+cpu); pre/post releases are not pinned here.
# Every pattern is matched whole (fullmatch: `$` alone would let a trailing newline through).
VERSION = re.compile(r"\d+(\.\d+)*(\+[a-z0-9]+(\.[a-z0-9]+)*)?")
CUDA = re.compile(r"\d+\.\d+")
NAME = re.compile(r"[a-z][a-z0-9_]*")
URL = re.compile(r"(https?|file)://[^\s\x00-\x1f\x7f\\\"'`]+")  # one word: no pip option can ride along
IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]*")
# A PEP 508 name, extras and version specifiers: `numpy`, `numpy==2.1.3`, `pkg[extra]>=1,<2`; never a pip
# option (`--index-url ...`) or a second line, which requirements.txt and the conda spec would obey.
REQUIREMENT = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?(\[[A-Za-z0-9._, -]*\])? *"
                         r"((===?|[<>!~]=|[<>]) *[A-Za-z0-9.*+!_-]+( *, *(===?|[<>!~]=|[<>]) *[A-Za-z0-9.*+!_-]+)*)?")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
PACKAGED = Path(__file__).resolve().parent / "data" / "matrix.toml"


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
    python: str
    base_image: str
    extra_packages: tuple[str, ...] = field(default_factory=tuple)
    description: str = ""
    source: str = "pytorch"  # where these pins come from, in labels, tags (torch version) and reports
    default_source: bool = True  # False for a `--source` other than the row's own
    platforms: tuple[str, ...] = (DEFAULT_PLATFORM.name,)  # ptkit.platforms rows it is built for
    alternatives: dict[str, dict[str, str]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_cuda(self) -> bool:
        return bool(self.cuda)

    @property
    def min_driver(self) -> str:
        """The minimum Linux driver of the variant's CUDA release ('' for CPU variants)."""
        return MIN_DRIVER[self.cuda] if self.cuda else ""

    @property
    def torch_public(self) -> str:
        """Version without the local tag: '2.13.0+cpu' -> '2.13.0' (used in image tags)."""
        return self.torch.split("+")[0]

    def pins(self) -> dict[str, str]:
        """The PyTorch packages this variant installs, with their exact versions."""
        pins = {"torch": self.torch, "torchvision": self.torchvision, "torchaudio": self.torchaudio}
        return {name: version for name, version in pins.items() if version}

    @property
    def sources(self) -> list[str]:
        return [self.source, *self.alternatives]

    def from_source(self, source: str | None) -> Variant:
        """This row with another source's pins; never a silent fallback to the default."""
        if source is None or source == self.source:
            return self
        if source not in self.alternatives:
            raise MatrixError(f"variant {self.name} has no source {source!r}; its sources: {', '.join(self.sources)}")
        pins = {**self.alternatives[source]}
        if "platforms" in pins:
            pins["platforms"] = tuple(pins["platforms"])
        return replace(self, source=source, default_source=False, alternatives={}, **pins)

    def on(self, platform: str) -> Platform:
        """The platform row to build this row and source for, once the matrix says it is built for it."""
        if platform not in self.platforms:
            raise MatrixError(f"{self.image_name} is built for {', '.join(self.platforms)} only (its matrix key "
                              f"'platforms'), not {platform}")
        return PLATFORMS[platform]

    @property
    def image_name(self) -> str:
        """'cuda126' for the row's own source, 'cuda126-pypi' for another: in image tags and report names."""
        return self.name if self.default_source else f"{self.name}-{self.source}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["extra_packages"] = list(self.extra_packages)
        data["platforms"] = list(self.platforms)
        data["min_driver"] = self.min_driver
        data["sources"] = data.pop("alternatives")
        return data


@dataclass(frozen=True)
class Matrix:
    path: Path
    variants: dict[str, Variant]
    latest: str | None = None  # the variant also tagged ptkit:latest (`docker run ptkit verify`)

    def every_source(self) -> list[Variant]:
        """Each row with each of its sources, the row's own first (cuda126, then cuda126 --source pypi)."""
        return [v for row in self.variants.values() for v in map(row.from_source, row.sources)]

    def get(self, name: str, source: str | None = None) -> Variant:
        if name not in self.variants:
            raise UnknownVariant(f"unknown variant {name!r}; valid variants: {', '.join(self.variants)}")
        return self.variants[name].from_source(source)


def default_path() -> Path:
    """$PTKIT_MATRIX, else the matrix shipped with ptkit (in a checkout: the repository's matrix.toml)."""
    env = os.environ.get("PTKIT_MATRIX")
    return Path(env) if env else PACKAGED


def load(path: Path | None = None) -> Matrix:
    path = Path(path) if path else default_path()
    try:
        data = tomllib.loads(read_bytes(path).decode())  # a FIFO or an endless device: no hang
    except FileNotFoundError:
        raise MatrixError(f"{path}: matrix file not found") from None
    except IsADirectoryError:
        raise MatrixError(f"{path}: is a directory, not a matrix file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MatrixError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise MatrixError(f"{path}: not valid TOML: {exc}") from None
    variants = parse(data, str(path))
    latest = data.get("latest")
    if latest is not None and (not isinstance(latest, str) or latest not in variants):
        raise MatrixError(f"{path}: key 'latest' must name one variant, got {latest!r}")
    return Matrix(path, variants, latest)


def parse(data: dict[str, Any], where: str) -> dict[str, Variant]:
    if data.get("schema") != SCHEMA:
        raise MatrixError(f"{where}: key 'schema' must be {SCHEMA}, got {data.get('schema')!r}")
    _check_keys(data, ("schema", "latest", "defaults", "variants"), where)
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


def _check_values(merged: dict[str, Any], here: str) -> None:
    for key in (*REQUIRED, "python", "base_image"):
        if key not in merged:
            raise MatrixError(f"{here}: missing key {key!r}")
        if not isinstance(merged[key], str):
            raise MatrixError(f"{here}: key {key!r} must be a string")
    if not isinstance(merged.get("source", ""), str) or not NAME.fullmatch(merged.get("source", "pytorch")):
        raise MatrixError(f"{here}: key 'source' must be a lower-case name such as 'pytorch' or 'pypi'")
    for key in ("torch", "python", "base_image", "index_url"):
        if not merged[key].strip():
            raise MatrixError(f"{here}: key {key!r} must not be empty")
    for key in ("torch", "torchvision", "torchaudio", "python"):
        if merged[key] and not VERSION.fullmatch(merged[key]):
            raise MatrixError(f"{here}: key {key!r} is not a version: {merged[key]!r}")
    cuda = merged["cuda"]
    if cuda and not CUDA.fullmatch(cuda):
        raise MatrixError(f"{here}: key 'cuda' must be MAJOR.MINOR (e.g. '13.0'), got {cuda!r}")
    if cuda and cuda not in MIN_DRIVER:
        raise MatrixError(f"{here}: CUDA {cuda} has no minimum driver in src/ptkit/verify/facts.py "
                          f"(known: {', '.join(MIN_DRIVER)}): add it there with its source")
    if not URL.fullmatch(merged["index_url"]):
        raise MatrixError(f"{here}: key 'index_url' must be one http(s):// or file:// URL, got {merged['index_url']!r}")
    if not IMAGE.fullmatch(merged["base_image"]):
        raise MatrixError(f"{here}: key 'base_image' must be an image reference, got {merged['base_image']!r}")
    if not isinstance(merged.get("description", ""), str) or CONTROL.search(merged.get("description", "")):
        raise MatrixError(f"{here}: key 'description' must be a string on one line")
    _check_platforms(merged.get("platforms", [DEFAULT_PLATFORM.name]), cuda, here)


def _check_platforms(names: Any, cuda: str, here: str) -> None:
    """A non-empty list of ptkit.platforms rows, each able to have the row's CUDA release (Platform.min_cuda)."""
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise MatrixError(f"{here}: key 'platforms' must be a non-empty list such as [\"{DEFAULT_PLATFORM.name}\"]")
    for name in names:
        if name not in PLATFORMS:
            raise MatrixError(f"{here}: key 'platforms': unknown platform {name!r} (known: {', '.join(PLATFORMS)})")
        floor = PLATFORMS[name].min_cuda
        if cuda and floor and version_tuple(cuda) < version_tuple(floor):
            raise MatrixError(f"{here}: key 'platforms': no CUDA {cuda} torch wheels exist for {name} "
                              f"(PyPI's start at CUDA {floor}): drop {name} or use a newer CUDA release")
    if len(set(names)) != len(names):
        raise MatrixError(f"{here}: key 'platforms' names a platform twice")


def check_requirement(spec: str, where: str) -> str:
    """`spec` when it is one requirement (REQUIREMENT), else a MatrixError naming `where`."""
    if not REQUIREMENT.fullmatch(spec.strip()):
        raise MatrixError(f"{where}: {spec!r} is not a requirement such as numpy or numpy==2.1.3 "
                          "(no pip options, one line)")
    return spec


def _variant(name: str, table: dict[str, Any], defaults: dict[str, Any], where: str) -> Variant:
    here = f"{where}: [variants.{name}]"
    if not NAME.fullmatch(name):
        raise MatrixError(f"{here}: variant names are lower-case identifiers")
    alternatives = _table(table, "sources", here, required=False)
    _check_keys(table, (*REQUIRED, *OPTIONAL, "sources"), here)
    merged = {**defaults, **{k: v for k, v in table.items() if k != "sources"}}
    _check_values(merged, here)
    merged.setdefault("source", "pytorch")
    for source, pins in alternatives.items():
        where_source = f"{where}: [variants.{name}.sources.{source}]"
        _check_keys(_table(alternatives, source, f"{here}: sources", True), SOURCE_KEYS, where_source)
        if source == merged["source"]:
            raise MatrixError(f"{where_source}: is the row's own source already")
        _check_values({**merged, **pins}, where_source)
    extra = merged.get("extra_packages", [])
    if not isinstance(extra, list) or not all(isinstance(p, str) for p in extra):
        raise MatrixError(f"{here}: key 'extra_packages' must be a list of package names")
    for spec in extra:
        check_requirement(spec, f"{here}: key 'extra_packages'")
    return Variant(
        name=name,
        **{k: merged[k] for k in (*REQUIRED, "python", "base_image")},
        extra_packages=tuple(extra),
        description=str(merged.get("description", "")),
        source=merged["source"],
        platforms=tuple(merged.get("platforms", (DEFAULT_PLATFORM.name,))),
        alternatives={k: dict(v) for k, v in alternatives.items()},
    )
