"""The repository's matrix.toml, loaded once: tests compare with these facts, never with copied literals
(a version bump in the matrix must not need an edit in the tests)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ptkit import matrix
from ptkit.matrix import Variant

from .ptkit_cli import ROOT

MATRIX = matrix.load(ROOT / "matrix.toml")


def names() -> list[str]:
    """Variant names in matrix order."""
    return list(MATRIX.variants)


def variant(name: str) -> Variant:
    """The named variant (matrix.UnknownVariant, listing the valid names, for any other)."""
    return MATRIX.get(name)


def default_variant() -> Variant:
    """The variant the Docker tests build when none is named: the matrix's `latest` (ptkit:latest)."""
    return MATRIX.get(MATRIX.latest or names()[0])


def cuda_variants() -> list[Variant]:
    return [v for v in MATRIX.variants.values() if v.is_cuda]


def cuda_under_test() -> list[Variant]:
    """The CUDA rows the Docker tests build for real: $PTKIT_TEST_CUDA (comma-separated), by default cuda130
    only, as CI builds it (each CUDA image is 5 to 6 GB; `nox -s matrix` builds every PyPI-served row)."""
    return [variant(name) for name in os.environ.get("PTKIT_TEST_CUDA", "cuda130").split(",")]


def every_source() -> list[Variant]:
    """Every row of the matrix with each of its sources (cuda126 and cuda126 --source pypi, ...)."""
    return [v for row in MATRIX.variants.values() for v in (row, *map(row.from_source, row.alternatives))]


def lock_path(v: Variant) -> Path:
    """The committed hash-pinned lock of a variant and source (it may not exist)."""
    return ROOT / "locks" / f"{v.image_name}.txt"


def locked_variants() -> list[Variant]:
    """Variants (with their source) that have a committed lock: those a build here installs exactly."""
    return [v for v in every_source() if lock_path(v).is_file()]


def cuda_tag(v: Variant) -> str:
    """The local-version tag of the variant's torch builds: 'cpu' or 'cu130' for CUDA 13.0."""
    return "cu" + v.cuda.replace(".", "") if v.cuda else "cpu"


def content_tag(v: Variant, flavor: str = "devel") -> str:
    """The image tag that says what is inside: '<torch without local tag>-<variant>-py<python>-<flavor>'."""
    return f"{v.torch_public}-{v.image_name}-py{v.python}-{flavor}"


def torch_versions(v: Variant) -> set[str]:
    """What `torch.__version__` may say for the variant's pin: a pin without a local tag (a PyPI wheel)
    reports the tag of its build, e.g. pin '2.14.1' -> '2.14.1' or '2.14.1+cu130'."""
    if "+" in v.torch:
        return {v.torch}
    return {v.torch, f"{v.torch}+{cuda_tag(v)}"}


def matrix_toml(variants: list[Variant], latest: str | None = None) -> str:
    """A matrix file holding exactly these variants (JSON strings and lists are valid TOML values)."""
    lines = [f"schema = {matrix.SCHEMA}", *([f"latest = {json.dumps(latest)}"] if latest else [])]
    for v in variants:
        keys = (*matrix.REQUIRED, *matrix.OPTIONAL)
        lines += ["", f"[variants.{v.name}]", *(f"{k} = {json.dumps(getattr(v, k))}" for k in keys)]
        for source, pins in v.alternatives.items():
            lines += ["", f"[variants.{v.name}.sources.{source}]", *(f"{k} = {json.dumps(x)}" for k, x in pins.items())]
    return "\n".join(lines) + "\n"
