"""Step 2: render a variant into what a build needs: requirements, build args, labels, tags, conda spec.

Pure functions of the matrix, the build inputs and the provenance (revision, time) handed in:
nothing here touches Docker, git or the clock.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field

from . import __version__
from .docker_api import split_ref
from .errors import PtkitError
from .inputs import PYPI_SIMPLE, UV_REQUIREMENT, BuildInputs
from .matrix import Variant, check_requirement

SOURCE_URL = "https://github.com/ptkit/ptkit"
PYTORCH_PACKAGES = ("torch", "torchvision", "torchaudio")
# Build targets of docker/Dockerfile, as the official images name them. `devel` is the one
# torch.compile works in, so it gets the short names (ptkit:cpu, ptkit:latest).
FLAVORS = ("devel", "runtime")
DEFAULT_FLAVOR = "devel"


@dataclass(frozen=True)
class Provenance:
    revision: str  # git commit, '-dirty' appended for uncommitted trees, or 'unknown'
    created: dt.datetime  # the commit's time (reproducible builds), the build's for uncommitted trees
    # SOURCE_DATE_EPOCH: HEAD's commit time even for a dirty tree (the clock would make every build cold:
    # it is a build arg of the venv stages), the epoch outside a git checkout.
    source_time: dt.datetime = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class BuildPlan:
    """Everything `build` needs for one image of one flavor, rendered from a variant and the inputs."""

    variant: Variant
    flavor: str
    requirements: list[str]
    expected: dict[str, str]
    base_image: str
    index_url: str
    extra_index_url: str = ""
    installer: str = "uv"
    tags: list[str] = field(default_factory=list)
    push_tags: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    source_time: dt.datetime = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)  # SOURCE_DATE_EPOCH

    def build_args(self) -> dict[str, str]:
        v = self.variant
        return {
            "BASE_IMAGE": self.base_image,
            "ACCEL": "cuda" if v.is_cuda else "cpu",
            "SOURCE_DATE_EPOCH": str(int(self.source_time.timestamp())),
            "INDEX_URL": self.index_url,
            "EXTRA_INDEX_URL": self.extra_index_url,
            "INSTALLER": self.installer,
            "INSTALLER_UV": UV_REQUIREMENT,  # uv itself comes from the wheelhouse, the indexes or PyPI
            "PYPI_URL": PYPI_SIMPLE,
            "PTKIT_VARIANT": v.name,
            "PTKIT_TORCH": v.torch,
            "PTKIT_CUDA": v.cuda,
            "PTKIT_PYTHON": v.python,
            "PTKIT_SOURCE": v.source,
            **{f"OCI_{key.upper()}": self.labels[f"org.opencontainers.image.{key}"]
               for key in ("source", "revision", "created", "version")},
            "OCI_BASE": self.base_image,
        }

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


def labels(variant: Variant, provenance: Provenance) -> dict[str, str]:
    """The OCI labels the build sets from build args (the ptkit.* ones come from the variant directly)."""
    return {
        "org.opencontainers.image.source": SOURCE_URL,
        "org.opencontainers.image.revision": provenance.revision,
        "org.opencontainers.image.created": provenance.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "org.opencontainers.image.version": __version__,
    }


def descriptive_tag(variant: Variant, flavor: str = DEFAULT_FLAVOR) -> str:
    """'2.13.0-cpu-py3.11-devel': what is inside, readable in `docker images`."""
    return f"{variant.torch_public}-{variant.image_name}-py{variant.python}-{flavor}"


def stamped_tag(variant: Variant, provenance: Provenance, flavor: str = DEFAULT_FLAVOR) -> str:
    """Immutable reference: the descriptive tag plus build date and source revision."""
    revision = provenance.revision
    rev = revision[:7] + ("-dirty" if revision.endswith("-dirty") else "") if revision != "unknown" else "norev"
    return f"{descriptive_tag(variant, flavor)}-{provenance.created:%Y%m%d}-{rev}"


def _short_tag(tag: str, flavor: str) -> str:
    """The flavor-less names (ptkit:cpu, team/pytorch:cpu) are devel's; runtime appends its name."""
    return tag if flavor == DEFAULT_FLAVOR else f"{tag}-{flavor}"


def tags(variant: Variant, extra: tuple[str, ...] | list[str], provenance: Provenance,
         latest: bool = False, flavor: str = DEFAULT_FLAVOR) -> tuple[list[str], list[str]]:
    """(all tags, the tags a push sends). Each --tag repository also gets the descriptive and stamped tags."""
    described = [descriptive_tag(variant, flavor), stamped_tag(variant, provenance, flavor)]
    local = [f"ptkit:{_short_tag(variant.image_name, flavor)}", *(f"ptkit:{t}" for t in described),
             *([f"ptkit:{_short_tag('latest', flavor)}"] if latest and variant.default_source else [])]
    pushed: list[str] = []
    for ref in extra:
        repo, tag = split_ref(ref)
        for full in (f"{repo}:{_short_tag(tag, flavor)}", *(f"{repo}:{t}" for t in described)):
            if full not in pushed:
                pushed.append(full)
    return local + [t for t in pushed if t not in local], pushed


def plan(variant: Variant, inputs: BuildInputs, provenance: Provenance, *, flavor: str = DEFAULT_FLAVOR,
         extra_tags: tuple[str, ...] = (), latest: bool = False) -> BuildPlan:
    lines, expected = requirements(variant, inputs.packages)
    all_tags, push_tags = tags(variant, extra_tags, provenance, latest, flavor)
    return BuildPlan(
        variant=variant,
        flavor=flavor,
        requirements=lines,
        expected=expected,
        base_image=inputs.base_image or variant.base_image,
        index_url=inputs.index_url or variant.index_url,
        extra_index_url=inputs.extra_index_url,
        installer=inputs.installer,
        tags=all_tags,
        push_tags=push_tags,
        labels=labels(variant, provenance),
        source_time=provenance.source_time,
    )


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
