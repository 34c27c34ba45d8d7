"""Step 2: render an image description (`images.Image`) and the build inputs into what a build needs: the
requirements, the expected versions, the build args; and a variant into its conda spec.

Pure functions of the values handed in: nothing here touches Docker, git or the clock.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import PtkitError
from .images import Image
from .inputs import PYPI_SIMPLE, BuildInputs
from .matrix import Variant, check_requirement
from .verify.facts import MIN_DRIVER, MINOR_COMPAT_FLOOR

PYTORCH_PACKAGES = ("torch", "torchvision", "torchaudio")


@dataclass(frozen=True)
class BuildPlan:
    """Everything `build` needs for one image: which image (`images.Image`), and what the inputs add."""

    image: Image
    requirements: list[str]
    expected: dict[str, str]
    index_url: str
    extra_index_url: str = ""
    installer: str = "uv"

    @property
    def variant(self) -> Variant:
        return self.image.variant

    @property
    def flavor(self) -> str:
        return self.image.flavor

    def build_args(self) -> dict[str, str]:
        return {**self.image.build_args(), "INDEX_URL": self.index_url, "EXTRA_INDEX_URL": self.extra_index_url,
                "INSTALLER": self.installer, "PYPI_URL": PYPI_SIMPLE}

    def expected_json(self) -> str:
        return json.dumps({"variant": self.variant.name, "packages": self.expected, "cuda": self.variant.cuda})


def package_name(spec: str) -> str:
    return re.split(r"[<>=!~\[ ;@]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def requirements(variant: Variant, packages: tuple[str, ...] | list[str] | None = None
                 ) -> tuple[list[str], dict[str, str]]:
    """Requirement lines and the exact versions the install check expects.

    torch/torchvision/torchaudio named without a version get the matrix pin; anything else is
    passed through as written (`numpy`, `numpy==2.1.3`).
    """
    specs = packages if packages is not None else [*variant.pins(), *variant.extra_packages]
    pins = variant.pins()
    lines, expected = [], {}
    for spec in specs:
        name = package_name(check_requirement(spec, "--packages" if packages is not None else variant.name))
        if name in PYTORCH_PACKAGES and name not in pins:
            raise PtkitError(f"variant {variant.name} has no {name} release (see the matrix)")
        if name in pins and spec.strip().lower() == name:
            lines.append(f"{name}=={pins[name]}")
            expected[name] = pins[name]
        else:
            lines.append(spec.strip())
    if "torch" not in expected:
        raise PtkitError("the package set must include torch")
    return lines, expected


def plan(image: Image, inputs: BuildInputs) -> BuildPlan:
    lines, expected = requirements(image.variant, inputs.packages)
    return BuildPlan(image=image, requirements=lines, expected=expected,
                     index_url=inputs.index_url or image.variant.index_url,
                     extra_index_url=inputs.extra_index_url, installer=inputs.installer)


def conda_env(variant: Variant) -> str:
    """A conda environment spec with the same pins as the image: conda's Python, pip's wheels.

    The wheels come from the variant's index exactly as in the Dockerfile, so a conda user and an
    image user get byte-identical torch builds (the pytorch conda channel stopped at 2.5).
    """
    lines = [
        f"# Rendered from matrix.toml by `ptkit render`; do not edit. Variant: {variant.name}",
        f"name: ptkit-{variant.name}",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        f"  - python={variant.python}",
        "  - pip",
        "  - pip:",
        f"      - --index-url {variant.index_url}",
    ]
    if variant.index_url != PYPI_SIMPLE:
        lines.append(f"      - --extra-index-url {PYPI_SIMPLE}")
    reqs, _ = requirements(variant)
    lines += [f"      - {r}" for r in reqs]
    return "\n".join(lines) + "\n"


DRIVER_DOC = Path("docs", "reference", "torch-cuda.md")  # beside the matrix, in a checkout
DRIVER_BEGIN = "<!-- driver table: written by `ptkit render` from verify/facts.py, checked by `nox -s lint` -->"
DRIVER_END = "<!-- end of the driver table -->"


def driver_table() -> str:
    """The minimum driver of each CUDA release and the minor-version compatibility floors, as the doc shows them."""
    rows = " | ".join(f"{cuda} >={driver}" for cuda, driver in MIN_DRIVER.items())
    floors = "; ".join(f"{major}.x >={driver}" for major, driver in MINOR_COMPAT_FLOOR.items())
    return f"{rows}.\nMinor-version compatibility: {floors}.\n"


def with_driver_table(doc: str) -> str:
    """`doc` with the text between its driver-table markers replaced by `driver_table()`."""
    head, begin, rest = doc.partition(DRIVER_BEGIN)
    _, end, tail = rest.partition(DRIVER_END)
    if not begin or not end:
        raise PtkitError(f"{DRIVER_DOC}: no driver-table markers ({DRIVER_BEGIN} ... {DRIVER_END})")
    return f"{head}{DRIVER_BEGIN}\n{driver_table()}{DRIVER_END}{tail}"
