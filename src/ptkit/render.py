"""Step 2a: render a variant into what a build needs: requirements, build args, labels, tags, conda spec.

Pure functions of the matrix (and the build options): nothing here touches Docker.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .errors import PtkitError
from .matrix import Variant

SOURCE_URL = "https://github.com/ptkit/ptkit"
REPO_ROOT = Path(__file__).resolve().parents[2]
PYTORCH_PACKAGES = ("torch", "torchvision", "torchaudio")


@dataclass(frozen=True)
class BuildPlan:
    """Everything `build` needs for one image, rendered from a variant and the CLI options."""

    variant: Variant
    requirements: list[str]
    expected: dict[str, str]
    base_image: str
    index_url: str
    extra_index_url: str = ""
    tags: list[str] = field(default_factory=list)
    push_tags: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)

    def build_args(self) -> dict[str, str]:
        v = self.variant
        return {
            "BASE_IMAGE": self.base_image,
            "FLAVOR": "cuda" if v.is_cuda else "cpu",
            "INDEX_URL": self.index_url,
            "EXTRA_INDEX_URL": self.extra_index_url,
            "PTKIT_VARIANT": v.name,
            "PTKIT_TORCH": v.torch,
            "PTKIT_CUDA": v.cuda,
            "PTKIT_PYTHON": v.python,
            **{f"OCI_{key.upper()}": self.labels[f"org.opencontainers.image.{key}"]
               for key in ("source", "revision", "created", "version")},
            "OCI_BASE": self.base_image,
        }

    def expected_json(self) -> str:
        return json.dumps({"variant": self.variant.name, "packages": self.expected, "cuda": self.variant.cuda})


def package_name(spec: str) -> str:
    return re.split(r"[<>=!~\[ ;@]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def requirements(variant: Variant, packages: list[str] | None = None) -> tuple[list[str], dict[str, str]]:
    """Requirement lines and the exact versions the install check expects.

    torch/torchvision/torchaudio named without a version get the matrix pin; anything else is
    passed through as written (`numpy`, `numpy==2.1.3`).
    """
    specs = packages if packages is not None else [*variant.pins(), *variant.extra_packages]
    pins = variant.pins()
    lines, expected = [], {}
    for spec in specs:
        name = package_name(spec)
        if name in PYTORCH_PACKAGES and name not in pins:
            raise PtkitError(f"variant {variant.name} has no {name} release (see matrix.toml)")
        if name in pins and spec.strip().lower() == name:
            lines.append(f"{name}=={pins[name]}")
            expected[name] = pins[name]
        else:
            lines.append(spec.strip())
    if "torch" not in expected:
        raise PtkitError("the package set must include torch")
    return lines, expected


def git_revision(root: Path = REPO_ROOT) -> str:
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=10).stdout.strip()
    return out + ("-dirty" if dirty else "")


def labels(variant: Variant, revision: str, created: dt.datetime) -> dict[str, str]:
    return {
        "org.opencontainers.image.source": SOURCE_URL,
        "org.opencontainers.image.revision": revision,
        "org.opencontainers.image.created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "org.opencontainers.image.version": __version__,
        "ptkit.variant": variant.name,
        "ptkit.torch": variant.torch,
        "ptkit.cuda": variant.cuda,
        "ptkit.python": variant.python,
    }


def descriptive_tag(variant: Variant) -> str:
    """'2.13.0-cpu-py3.11': what is inside, readable in `docker images`."""
    return f"{variant.torch_public}-{variant.name}-py{variant.python}"


def stamped_tag(variant: Variant, revision: str, created: dt.datetime) -> str:
    """Immutable reference: the descriptive tag plus build date and source revision."""
    rev = revision[:7] + ("-dirty" if revision.endswith("-dirty") else "") if revision != "unknown" else "norev"
    return f"{descriptive_tag(variant)}-{created:%Y%m%d}-{rev}"


def split_ref(ref: str) -> tuple[str, str]:
    """'localhost:5000/team/pytorch:cpu' -> ('localhost:5000/team/pytorch', 'cpu')."""
    repo, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        return ref, "latest"
    return repo, tag


def tags(variant: Variant, extra: list[str], revision: str, created: dt.datetime,
         latest: bool = False) -> tuple[list[str], list[str]]:
    """(all tags, the tags a push sends). Each --tag repository also gets the descriptive and stamped tags."""
    described = [descriptive_tag(variant), stamped_tag(variant, revision, created)]
    local = [f"ptkit:{variant.name}", *(f"ptkit:{t}" for t in described), *(["ptkit:latest"] if latest else [])]
    pushed: list[str] = []
    for ref in extra:
        repo, _ = split_ref(ref)
        for full in (ref, *(f"{repo}:{t}" for t in described)):
            if full not in pushed:
                pushed.append(full)
    return local + [t for t in pushed if t not in local], pushed


def plan(
    variant: Variant,
    *,
    packages: list[str] | None = None,
    base_image: str | None = None,
    index_url: str | None = None,
    extra_index_url: str = "",
    extra_tags: tuple[str, ...] = (),
    latest: bool = False,
    now: dt.datetime | None = None,
) -> BuildPlan:
    created = now or dt.datetime.now(dt.timezone.utc)
    revision = git_revision()
    lines, expected = requirements(variant, packages)
    all_tags, push_tags = tags(variant, list(extra_tags), revision, created, latest)
    return BuildPlan(
        variant=variant,
        requirements=lines,
        expected=expected,
        base_image=base_image or variant.base_image,
        index_url=index_url or variant.index_url,
        extra_index_url=extra_index_url,
        tags=all_tags,
        push_tags=push_tags,
        labels=labels(variant, revision, created),
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
    if "pypi.org" not in variant.index_url:
        lines.append("      - --extra-index-url https://pypi.org/simple")
    reqs, _ = requirements(variant)
    lines += [f"      - {r}" for r in reqs]
    return "\n".join(lines) + "\n"
