"""Which image is built: one frozen description (`Image`), made once from the matrix and the command line,
and everything derived from it: tags, labels, build args, the lock's path, the base image, the report's path
and its `run` block. No other module derives these again.

The image hierarchy is data here: a variant's flavors (runtime, then devel FROM the same layers), and the team
image FROM devel. A platform is a `Platform` row (ptkit.platforms, the one module that names an architecture); an
image is built for one. A new platform is a row there; a new flavor a row here plus the one build step that differs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .docker_api import split_ref
from .inputs import BuildInputs, Destination
from .matrix import Matrix, Variant
from .platforms import DEFAULT_PLATFORM, GLIBC_MINOR, PLATFORMS, Platform  # noqa: F401 - the host side reads them here

SOURCE_URL = "https://github.com/ptkit/ptkit"
# Build targets of docker/Dockerfile, as the official images name them. `devel` is the one torch.compile
# works in, so it gets the short names (ptkit:cpu, ptkit:latest).
FLAVORS = ("devel", "runtime")
DEFAULT_FLAVOR = "devel"
BUILD_ORDER = ("runtime", "devel")  # devel is the runtime image plus the compiler layers, so it reuses them
DEBIAN_SUITE = "bookworm"  # the base image's Debian (glibc 2.36: platforms.GLIBC_MINOR)
LOCAL_BASE = f"ptkit/base:{DEBIAN_SUITE}"  # what `ptkit base` makes; pass it as --base-image on registry-less hosts
REPORTS = Path("reports")  # where `ptkit check` and the multi-node run write their reports
LOCKS = Path("locks")

# Label names: the Dockerfile sets the ptkit.* ones from the PTKIT_* build args; readers use these names.
VARIANT_LABEL, SOURCE_LABEL, FLAVOR_LABEL, CUDA_LABEL = "ptkit.variant", "ptkit.source", "ptkit.flavor", "ptkit.cuda"
ROLE_LABEL = "ptkit.role"  # on ptkit's own containers (verify, distributed), so leftovers can be found
MANIFEST_LABEL, MANIFEST_PATH = "ptkit.manifest", "/etc/ptkit/manifest.json"  # the label points at the manifest
OCI = "org.opencontainers.image."
REVISION_LABEL, CREATED_LABEL = f"{OCI}revision", f"{OCI}created"


@dataclass(frozen=True)
class Provenance:
    revision: str  # git commit, '-dirty' appended for uncommitted trees, or 'unknown'
    created: dt.datetime  # the commit's time (reproducible builds), the build's for uncommitted trees
    # SOURCE_DATE_EPOCH: HEAD's commit time even for a dirty tree (the clock would make every build cold:
    # it is a build arg of the venv stages), the epoch outside a git checkout.
    source_time: dt.datetime = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class Image:
    """One image to build. `names`: the --tag references (a team image's own names when `team`)."""

    variant: Variant
    provenance: Provenance
    flavor: str = DEFAULT_FLAVOR
    platform: Platform = DEFAULT_PLATFORM
    base_image: str = ""  # '' is the matrix's
    names: tuple[str, ...] = ()
    latest: bool = False  # also ptkit:latest (the matrix's `latest` row, its own source)
    team: bool = False  # a team layer FROM the devel image

    @property
    def base(self) -> str:
        return self.base_image or self.variant.base_image

    @property
    def image_name(self) -> str:
        """The row's name on the image's platform: 'cuda130', 'cuda126-pypi', and the platform's suffix added."""
        return self.platform.named(self.variant.image_name)

    @property
    def descriptive_tag(self) -> str:
        """'2.13.0-cpu-py3.11-devel': what is inside, readable in `docker images`."""
        v = self.variant
        return f"{v.torch_public}-{self.image_name}-py{v.python}-{self.flavor}"

    @property
    def stamped_tag(self) -> str:
        """Immutable reference: the descriptive tag plus build date and source revision."""
        revision = self.provenance.revision
        rev = revision[:7] + ("-dirty" if revision.endswith("-dirty") else "") if revision != "unknown" else "norev"
        return f"{self.descriptive_tag}-{self.provenance.created:%Y%m%d}-{rev}"

    def _short(self, tag: str) -> str:
        """The flavor-less names (ptkit:cpu, team/pytorch:cpu) are devel's; runtime appends its name."""
        return tag if self.flavor == DEFAULT_FLAVOR else f"{tag}-{self.flavor}"

    @property
    def push_tags(self) -> list[str]:
        """What a push sends: each --tag repository also gets the descriptive and stamped tags."""
        if self.team:
            return list(self.names)
        pushed: list[str] = []
        for ref in self.names:
            repo, tag = split_ref(ref)
            for full in (f"{repo}:{self._short(tag)}", *(f"{repo}:{t}" for t in self._described)):
                if full not in pushed:
                    pushed.append(full)
        return pushed

    @property
    def _described(self) -> tuple[str, str]:
        return self.descriptive_tag, self.stamped_tag

    @property
    def tags(self) -> list[str]:
        """Every tag, the first one the image's name (ptkit:cpu, ptkit:cpu-runtime, ptkit:cpu-team)."""
        if self.team:
            return list(self.names) or [f"ptkit:{self.image_name}-team"]
        # ptkit:latest is the default platform's: `docker run ptkit:latest` on this host
        latest = self.latest and self.variant.default_source and self.platform == DEFAULT_PLATFORM
        local = [f"ptkit:{self._short(self.image_name)}", *(f"ptkit:{t}" for t in self._described),
                 *([f"ptkit:{self._short('latest')}"] if latest else [])]
        return local + [t for t in self.push_tags if t not in local]

    @property
    def labels(self) -> dict[str, str]:
        """The OCI labels the build sets from build args (the ptkit.* ones come from the variant directly)."""
        return {
            f"{OCI}source": SOURCE_URL,
            REVISION_LABEL: self.provenance.revision,
            CREATED_LABEL: self.provenance.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            f"{OCI}version": __version__,
        }

    def build_args(self) -> dict[str, str]:
        """The build args the image itself decides (the inputs add the index and installer: render.BuildPlan)."""
        v, labels = self.variant, self.labels
        return {
            "BASE_IMAGE": self.base,
            "ACCEL": "cuda" if v.is_cuda else "cpu",
            "SOURCE_DATE_EPOCH": str(int(self.provenance.source_time.timestamp())),
            "INSTALLER_UV": self.platform.uv_requirement,
            "PTKIT_VARIANT": v.name,
            "PTKIT_TORCH": v.torch,
            "PTKIT_CUDA": v.cuda,
            "PTKIT_PYTHON": v.python,
            "PTKIT_SOURCE": v.source,
            **{f"OCI_{key.upper()}": labels[f"{OCI}{key}"] for key in ("source", "revision", "created", "version")},
            "OCI_BASE": self.base,
        }

    def report_path(self, directory: Path = REPORTS) -> Path:
        """reports/cpu.json for the devel image, reports/cpu-runtime.json, reports/cpu-team.json."""
        suffix = "" if self.flavor == DEFAULT_FLAVOR or self.team else f"-{self.flavor}"
        return directory / f"{self.image_name}{'-team' if self.team else ''}{suffix}.json"


def describe(matrix: Matrix, variant: Variant, inputs: BuildInputs, dest: Destination, provenance: Provenance,
             flavors: tuple[str, ...] = FLAVORS, platform: Platform = DEFAULT_PLATFORM) -> tuple[Image, ...]:
    """The images one build makes, in build order: the flavors asked for, then the team image on devel.
    The --tag names go to the team image when there is one, else to each flavor."""
    team = inputs.team_requirements is not None
    base, latest = inputs.base_image or "", matrix.latest == variant.name
    images = [Image(variant, provenance, flavor, platform, base, () if team else dest.tags, latest)
              for flavor in BUILD_ORDER if flavor in flavors]
    if team:
        images.append(Image(variant, provenance, images[-1].flavor, platform, base, dest.tags, team=True))
    return tuple(images)


def lock_path(variant: Variant, platform: Platform = DEFAULT_PLATFORM) -> Path:
    """The row's default lock on a platform: locks/IMAGE.txt (`ptkit lock`, `--lock`), IMAGE with its suffix."""
    return LOCKS / f"{platform.named(variant.image_name)}.txt"


@dataclass(frozen=True)
class RunBlock:
    """Where a report ran: the report's `run` block, from the image's labels (or the caller's variant)."""

    image: str
    image_id: str | None
    labels: dict[str, str] = field(default_factory=dict)
    variant: str | None = None
    gpu: bool = False
    digests: dict[str, str] = field(default_factory=dict)
    platform: str | None = None  # the image's os/architecture as the engine records it (Docker's name)

    def block(self, host: str) -> dict[str, Any]:
        return {
            "image": self.image,
            "image_id": self.image_id,
            "platform": self.platform,
            "variant": self.variant or self.labels.get(VARIANT_LABEL),
            "source": self.labels.get(SOURCE_LABEL),
            "flavor": self.labels.get(FLAVOR_LABEL),
            "revision": self.labels.get(REVISION_LABEL),
            "gpu_requested": self.gpu,
            "host": host,
            "pushed": self.digests,
        }
