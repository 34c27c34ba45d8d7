"""The pipeline, in one place: matrix -> render -> build -> container -> verify -> report.

Each function takes typed values and returns typed values; `cli.py` only parses arguments into
them. A new step (a scan, a manifest, an SBOM) is a function here between two existing ones.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import build, container, docker_api, fatbin_image, render, report
from .errors import PtkitError
from .inputs import BuildInputs, Destination
from .matrix import Matrix, Variant
from .verify.results import Report

REPORTS = Path("reports")
# Built in this order: devel is the runtime image plus the compiler layers, so it reuses them.
BUILD_ORDER = ("runtime", "devel")


@dataclass(frozen=True)
class Built:
    variant: Variant
    flavor: str
    image: str  # the tag to verify
    image_id: str
    tags: list[str]
    push_tags: list[str] = field(default_factory=list)
    team: bool = False
    build_seconds: float = 0.0  # this image's build step alone (devel reuses runtime's layers)


def git_revision(directory: Path) -> str:
    """The commit of the sources the build comes from ('-dirty' for uncommitted changes), or 'unknown'."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(directory), *args], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()

    try:
        head = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def provenance(matrix: Matrix) -> render.Provenance:
    """Revision of the checkout the matrix lives in (ptkit's own, or a team's) and its commit time, so that two
    builds of one commit label and byte-compile alike; an uncommitted tree gets the build time."""
    from .provenance import commit_time

    where = matrix.path.resolve().parent
    revision = git_revision(where)
    committed = commit_time(where)
    created = committed if committed and not revision.endswith("-dirty") else dt.datetime.now(dt.timezone.utc)
    if committed is None:
        return render.Provenance(revision, created)
    return render.Provenance(revision, created, source_time=committed)


def index_answers(url: str, ca_bundle: Path | None, timeout: float = 15) -> str | None:
    """None when the package index answers (any HTTP status), else why not, in a few words."""
    import ssl
    import urllib.error
    import urllib.request

    context = ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)
    request = urllib.request.Request(f"{url.rstrip('/')}/torch/", method="HEAD")
    try:
        urllib.request.urlopen(request, timeout=timeout, context=context).close()
    except urllib.error.HTTPError:
        return None  # it answered: a 404 for torch is pip's to report, with the index's own words
    except (OSError, ValueError) as exc:
        return docker_api.short(getattr(exc, "reason", exc), 120)
    return None


def preflight(variant: Variant, inputs: BuildInputs) -> None:
    """Refuse what would fail minutes into a build: unusable inputs, a stale lock, an index that does not answer."""
    from .locks import check_lock

    build.check_inputs(inputs)
    _, expected = render.requirements(variant, inputs.packages)
    if inputs.lock:
        check_lock(inputs.lock, expected)
    if inputs.team_requirements is not None and not inputs.team_requirements.is_file():
        raise PtkitError(f"--extra-requirements {inputs.team_requirements}: no such file")
    url = inputs.index_url or variant.index_url
    if inputs.wheelhouse is not None or url.startswith("file://"):
        return  # nothing to reach: the build installs from files
    if why := index_answers(url, inputs.ca_bundle):
        others = [s for s in variant.sources if s != variant.source]
        instead = f"; or build --source {others[0]}" if others else ""
        raise PtkitError(f"the package index {url} does not answer ({why}): make a wheelhouse where it is reachable "
                         f"(`ptkit wheelhouse {variant.name} DIR --use-variant-index`) and pass --wheelhouse DIR"
                         f"{instead}")


def build_image(api: Any, matrix: Matrix, variant: Variant, inputs: BuildInputs, dest: Destination,
                flavors: tuple[str, ...] = render.FLAVORS) -> list[Built]:
    """Build the variant's flavors (and the team image on devel, when asked), then push; devel first in the result."""
    prov, matrix_text = provenance(matrix), matrix.path.read_bytes()
    team = inputs.team_requirements is not None
    built, flavor_inputs = [], inputs
    for flavor in (f for f in BUILD_ORDER if f in flavors):
        plan = render.plan(variant, inputs, prov, flavor=flavor, extra_tags=() if team else dest.tags,
                           latest=matrix.latest == variant.name)
        start = time.monotonic()
        image_id = build.build_variant(api, plan, flavor_inputs, matrix_text)
        # --no-cache means "no layer from before this build": the next flavor reuses the shared layers
        # just made (installing 5 GB of wheels twice doubled a cold CUDA build, to no purpose).
        flavor_inputs = dataclasses.replace(inputs, no_cache=False)
        built.insert(0, Built(variant, flavor, plan.tags[0], image_id, plan.tags, plan.push_tags,
                              build_seconds=time.monotonic() - start))
    if team:
        tags, start = list(dest.tags) or [f"ptkit:{variant.image_name}-team"], time.monotonic()
        image_id = build.build_team(api, built[0].image, inputs, tags)
        built.insert(0, Built(variant, built[0].flavor, tags[0], image_id, tags, list(dest.tags), team=True,
                              build_seconds=time.monotonic() - start))
    return built


def image_block(attrs: dict[str, Any], build_seconds: float) -> dict[str, Any]:
    """The report's `image` block from the engine's image attributes: the unpacked size on this host and the
    build time; the compressed size needs a registry (benchmarks/image_figures.py --compressed)."""
    return {"size_bytes": int(attrs["Size"]), "compressed_bytes": None, "build_seconds": round(build_seconds, 1)}


def push(api: Any, built: list[Built]) -> dict[str, dict[str, str]]:
    """{image: {pushed tag: digest}} for every image that has tags to push."""
    return {b.image: build.push(api, b.push_tags) for b in built if b.push_tags}


def with_expectations(verify_argv: list[str], variant: Variant | None, gpu: bool) -> list[str]:
    """The verifier's flags plus what the variant implies: its CUDA release, and a usable GPU when one is given."""
    argv = list(verify_argv)
    if variant is not None and variant.cuda and "--expect-cuda-version" not in argv:
        argv += ["--expect-cuda-version", variant.cuda]
    if gpu and "--expect-cuda-version" in argv and "--expect-cuda" not in argv:
        argv.append("--expect-cuda")
    return argv


def verify_in_container(api: Any, image: str, verify_argv: list[str], *, variant: Variant | None = None,
                        gpu: str = "auto", timeout: int = container.DEFAULT_TIMEOUT,
                        digests: dict[str, str] | None = None, verifier: Path = container.VERIFY_DIR) -> Report:
    """Run the verifier in a throwaway container of `image`; the report gets its `run` block."""
    img = docker_api.ensure_image(api, image, "build it (`ptkit build`) or check the name")
    labels = img.labels or {}
    use_gpu = gpu == "yes" or (gpu == "auto" and docker_api.has_nvidia_runtime(api))
    if gpu == "auto" and not use_gpu and labels.get("ptkit.cuda") != "":  # CUDA or unknown image
        print("ptkit: this host has no NVIDIA container runtime: verifying without a GPU", file=sys.stderr)
    argv = with_expectations(verify_argv, variant, use_gpu)
    inject = not labels.get("ptkit.variant")  # not a ptkit image: bring the verifier in
    result = container.run_verifier(api, image, argv, inject=inject, gpu=use_gpu, timeout=timeout,
                                    verifier=verifier)
    return report.with_run(result, image=image, image_id=img.id, labels=labels,
                           variant=variant.name if variant else None, gpu=use_gpu, digests=digests)


def report_path(directory: Path, built: Built) -> Path:
    """reports/cpu.json for the devel image, reports/cpu-runtime.json for the runtime one."""
    suffix = "" if built.flavor == render.DEFAULT_FLAVOR or built.team else f"-{built.flavor}"
    return directory / f"{built.variant.image_name}{'-team' if built.team else ''}{suffix}.json"


def check(api: Any, matrix: Matrix, variant: Variant, inputs: BuildInputs, dest: Destination, *,
          flavors: tuple[str, ...] = render.FLAVORS, gpu: str = "auto",
          reports: Path = REPORTS) -> list[tuple[Path, Report]]:
    """Build, push, verify each image built (the team image alone when there is one), write the reports
    (each with its image's size and build time)."""
    built = build_image(api, matrix, variant, inputs, dest, flavors)
    digests = push(api, built) if dest.push else {}
    targets = [b for b in built if b.team] or built
    results = []
    for b in targets:
        # fatbin_image: the SASS/PTX torch's CUDA libraries hold (cuobjdump), checked by the verifier's arch:fatbin
        facts = fatbin_image.verify_args(api, b.image)
        result = verify_in_container(api, b.image, facts, variant=variant, gpu=gpu, digests=digests.get(b.image))
        result.image = image_block(api.images.get(b.image_id).attrs, b.build_seconds)
        path = report_path(reports, b)
        report.write(result, path)
        results.append((path, result))
    return results
