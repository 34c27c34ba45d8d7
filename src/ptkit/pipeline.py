"""The host's orders, in one place: each host command is one function here, from typed values to typed values.

    build:           preflight -> build -> normalize (bit for bit) -> push -> sign each pushed digest (--sign)
                     -> attest its provenance, SBOM
    index:           each platform's pushed image, as the registry has it -> one tag for them all (image_index)
    check:           preflight -> build -> normalize -> push -> sign -> verify each image in a container
                     -> write the reports -> attest (the provenance names the report)
    verify --image:  check its signature and provenance (--key) -> verify in a container -> write the report
    multi-node run:  preflight -> build (or reuse the current image) -> N containers -> collect -> judge

`images.describe` says once which images a build makes; `preflight` checks each input once, before the Docker
daemon is asked anything; the steps (build.py, container.py, cluster/multinode.py) trust what they are given.
`commands.py` only turns arguments into these values. A new step is a function here between two others.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import build, container, docker_api, emulator, fatbin_image, image_index, images, normalize, render, report
from .errors import PtkitError
from .images import CUDA_LABEL, REPORTS, VARIANT_LABEL, Image
from .inputs import BuildInputs, Destination, check_inputs, index_answers
from .matrix import Matrix, Variant
from .platforms import DEFAULT_PLATFORM, Platform, native
from .verify.options import VerifyOptions, to_argv
from .verify.results import Report

if TYPE_CHECKING:
    from .cluster.launch import Job
    from .repro.sign import Key


@dataclass(frozen=True)
class Request:
    """One build: the matrix row, its inputs, the images it makes (in build order) and whether to push them."""

    matrix: Matrix
    variant: Variant
    inputs: BuildInputs
    images: tuple[Image, ...]
    push: bool = False
    signer: Key | None = None  # --sign: the private key each pushed digest is signed with


def request(matrix: Matrix, variant: Variant, inputs: BuildInputs, dest: Destination | None = None,
            flavors: tuple[str, ...] = images.FLAVORS, platform: Platform = DEFAULT_PLATFORM) -> Request:
    """The build's description, made once: the checkout's provenance is read here (git), nowhere else."""
    from .provenance import of_checkout

    prov, dest = of_checkout(matrix.path.resolve().parent), dest or Destination()
    desc = images.describe(matrix, variant, inputs, dest, prov, flavors, platform)
    return Request(matrix, variant, inputs, desc, dest.push)


@dataclass(frozen=True)
class Built:
    desc: Image
    image_id: str
    build_seconds: float = 0.0  # this image's build step alone (devel reuses runtime's layers)

    @property
    def image(self) -> str:
        """The tag to verify (ptkit:cpu, ptkit:cpu-runtime, the team image's first name)."""
        return self.desc.tags[0]


@dataclass(frozen=True)
class Verification:
    """How the verifier runs in a container: the verifier's own options, and what the host adds."""

    options: VerifyOptions = field(default_factory=VerifyOptions)
    variant: Variant | None = None  # its CUDA release is expected
    gpu: str = "auto"  # yes, no, auto (when the host has the NVIDIA runtime)
    timeout: int = container.DEFAULT_TIMEOUT
    verifier: Path = container.VERIFY_DIR  # the verifier injected into images that are not ptkit's
    digests: dict[str, str] = field(default_factory=dict)  # the pushed tags, for the report's run block
    platform: Platform | None = None  # --image of this platform (pulled for it), not the engine's default


def preflight(req: Request) -> build.Sources:
    """Refuse what would fail minutes into a build: unusable inputs, a stale lock or compiler lock, an index that
    does not answer. Each input is checked and read here once, before the daemon is asked anything."""
    from . import toolchain
    from .context import locked_wheels
    from .locks import check_lock

    variant, inputs = req.variant, req.inputs
    check_inputs(inputs)
    _, expected = render.requirements(variant, inputs.packages)
    lock = check_lock(inputs.lock, expected) if inputs.lock else b""
    # A compiler lock beside --lock is read and checked here; without one the build says so when it gets there.
    locked = inputs.lock is not None and toolchain.compiler_lock_path(inputs.lock).is_file()
    compilers = {i.flavor: toolchain.build_files(variant, i.flavor, inputs.lock) for i in req.images
                 if locked and not i.team}
    url = inputs.index_url or variant.index_url  # a wheelhouse or a file:// index has nothing to reach
    if inputs.wheelhouse is None and not url.startswith("file://") and (why := index_answers(url, inputs.ca_bundle)):
        others = [s for s in variant.sources if s != variant.source]
        instead = f"; or build --source {others[0]}" if others else ""
        raise PtkitError(f"the package index {url} does not answer ({why}): make a wheelhouse where it is reachable "
                         f"(`ptkit wheelhouse {variant.name} DIR --use-variant-index`) and pass --wheelhouse DIR"
                         f"{instead}")
    compiler_lock = toolchain.compiler_lock_path(inputs.lock).read_bytes() if locked else b""
    wheels = locked_wheels(lock, compiler_lock if toolchain.has_compiler(variant) else None)
    return build.Sources(req.matrix.path.read_bytes(), lock, compilers, wheels)


def build_images(api: Any, req: Request, sources: build.Sources) -> list[Built]:
    """Build the request's images in order (the team image FROM devel); devel (or team) first in the result."""
    built, inputs = [], req.inputs
    for desc in req.images:
        start = time.monotonic()
        if desc.team:
            # Not normalized: a team layer holds what its own build compiled (not reproducible as it stands), and
            # the engine's export and load would each take a temporary copy of the whole image below it.
            image_id = build.build_team(api, built[0].image, req.inputs, desc.tags)
        else:
            image_id = build.build_variant(api, render.plan(desc, req.inputs), inputs, sources)
            image_id = normalize.normalize(api, image_id, normalize.Epoch.of(desc.provenance), desc.base)
            # --no-cache means "no layer from before this build": the next flavor reuses the shared layers
            # just made (installing 5 GB of wheels twice doubled a cold CUDA build, to no purpose).
            inputs = dataclasses.replace(req.inputs, no_cache=False)
        built.insert(0, Built(desc, image_id, time.monotonic() - start))
    return built


def push(api: Any, built: list[Built]) -> dict[str, dict[str, str]]:
    """{image: {pushed tag: digest}} for every image that has tags to push."""
    return {b.image: build.push(api, b.desc.push_tags) for b in built if b.desc.push_tags}


def publish(api: Any, req: Request, built: list[Built]) -> dict[str, dict[str, str]]:
    """Push the images when asked, and sign each pushed digest when asked (push's {image: {tag: digest}})."""
    if not req.push:
        return {}
    pushed = push(api, built)
    if req.signer is not None:
        from .repro import sign

        sign.sign_pushed(pushed, req.signer)
    return pushed


def attest_published(api: Any, req: Request, built: list[Built], pushed: dict[str, dict[str, str]],
                     reports: dict[str, Path], started: float) -> None:
    """--sign: attach each pushed digest's signed SLSA provenance (naming its report in `reports`, {image: path},
    when it has one; `started`: the command's start, time.time()) and SBOM."""
    if req.signer is not None and pushed:
        from .repro import attest as attestations

        images = [(b.image, b.desc.platform.name) for b in built]
        attestations.attest_pushed(api, images, pushed, req.signer, reports, attestations.Run.since(started))


def build_and_push(req: Request) -> tuple[list[Built], dict[str, dict[str, str]]]:
    """`ptkit build`: the images, and the digests of what was pushed."""
    started = time.time()  # the provenance's startedOn
    sources = preflight(req)  # before the daemon: bad input fails in a second, not a build later
    api = docker_api.client()
    built = build_images(api, req, sources)
    pushed = publish(api, req, built)
    attest_published(api, req, built, pushed, {}, started)
    return built, pushed


def publish_index(ref: str, refs: list[str], plain_http: bool) -> image_index.Index:
    """`ptkit index`: REF names each platform's pushed image (by the digest the registry gives, read back)."""
    return image_index.publish(ref, image_index.entries(docker_api.client(), refs), plain_http)


def image_block(attrs: dict[str, Any], build_seconds: float) -> dict[str, Any]:
    """The report's `image` block from the engine's image attributes: the unpacked size on this host and the
    build time; the compressed size needs a registry (benchmarks/image_figures.py --compressed)."""
    return {"size_bytes": int(attrs["Size"]), "compressed_bytes": None, "build_seconds": round(build_seconds, 1)}


def verify_in_container(api: Any, image: str, how: Verification) -> Report:
    """Run the verifier in a throwaway container of `image`; the report gets its `run` block."""
    img = docker_api.ensure_image(api, image, "build it (`ptkit build`) or check the name",
                                  how.platform.name if how.platform else None)
    labels = img.labels or {}
    gpu = gpu_for(how.platform, how.gpu) if how.platform else how.gpu
    use_gpu = gpu == "yes" or (gpu == "auto" and docker_api.has_nvidia_runtime(api))
    if gpu == "auto" and not use_gpu and labels.get(CUDA_LABEL) != "":  # CUDA or unknown image
        print("ptkit: this host has no NVIDIA container runtime: verifying without a GPU", file=sys.stderr)
    argv = to_argv(how.options.expecting(how.variant.cuda if how.variant else "", use_gpu))
    inject = not labels.get(VARIANT_LABEL)  # not a ptkit image: bring the verifier in
    result = container.run_verifier(api, img.id if how.platform else image, argv, inject=inject, gpu=use_gpu,
                                    timeout=how.timeout, verifier=how.verifier,
                                    environment=emulator.environment(how.platform) if how.platform else {})
    run = images.RunBlock(image, img.id, labels, how.variant.name if how.variant else None, use_gpu, how.digests,
                          docker_api.platform_of(img.attrs))
    return report.with_run(result, run)


def verify_image(image: str, how: Verification, report_path: Path | None = None,
                 signed_by: Key | None = None) -> Report:
    """`ptkit verify --image`: the report, also written to `report_path` when one is given. With `signed_by`, an
    image not signed by that key is refused before the engine is asked anything, and the signed digest is what runs
    (a tag moved after the check cannot slip another image in)."""
    if signed_by is not None:
        from .repro import attest, sign

        image = sign.require_signed(image, signed_by)
        attest.require_provenance(image, signed_by)
    result = verify_in_container(docker_api.client(), image, how)
    if report_path is not None:
        report.write(result, report_path)
    return result


def gpu_for(platform: Platform, gpu: str) -> str:
    """--gpu for an image of `platform`: none for another machine's (it runs emulated, issue 21: this host's
    driver libraries are not its machine's), as asked for this host's."""
    return gpu if native(platform) else "no"


def check(req: Request, gpu: str = "auto", reports: Path = REPORTS) -> list[tuple[Path, Report]]:
    """Build, push, verify each image built (the team image alone when there is one), write the reports
    (each with its image's size and build time)."""
    started = time.time()
    sources = preflight(req)
    api = docker_api.client()
    built = build_images(api, req, sources)
    digests = publish(api, req, built)
    targets = [b for b in built if b.desc.team] or built
    results = []
    for b in targets:
        # fatbin_image: the SASS/PTX torch's CUDA libraries hold (cuobjdump), checked by the verifier's arch:fatbin
        facts = fatbin_image.verify_options(api, b.image)
        how = Verification(facts, req.variant, gpu, digests=digests.get(b.image, {}), platform=b.desc.platform)
        result = verify_in_container(api, b.image, how)
        result.image = image_block(api.images.get(b.image_id).attrs, b.build_seconds)
        path = b.desc.report_path(reports)
        report.write(result, path)
        results.append((path, result))
    attest_published(api, req, built, digests, {b.image: b.desc.report_path(reports) for b in targets}, started)
    return results


def current_image(api: Any, desc: Image) -> str | None:
    """The image's tag when the engine holds it built from this very commit (variant, source and revision as its
    labels say), else None. An uncommitted tree is never current: its sources may have changed since."""
    from docker.errors import ImageNotFound

    ref, revision = desc.tags[0], desc.provenance.revision
    try:
        labels = api.images.get(ref).labels or {}
    except ImageNotFound:
        return None
    if revision == "unknown" or revision.endswith("-dirty"):
        return None
    same = (labels.get(VARIANT_LABEL), labels.get(images.SOURCE_LABEL), labels.get(images.REVISION_LABEL))
    return ref if same == (desc.variant.name, desc.variant.source, revision) else None


@dataclass(frozen=True)
class MultiNode:
    """A multi-node run: the job (its image is replaced by the build's), and what the verifier gets."""

    job: Job
    verify_args: tuple[str, ...] = ()
    deadline: int = 900  # the whole run's limit, in seconds
    reports: Path = REPORTS


def distributed(req: Request | None, run: MultiNode, rebuild: bool = True) -> tuple[Path, str | None]:
    """The multi-node run: the devel image (see `_devel_image`; `req` None: the job's image as it is), N nodes,
    their reports collected, judged. Returns the combined report's path and the reason of a failure, if any."""
    import shutil

    from .cluster import multinode

    # Build options were given: checked before the daemon is asked anything, and the image is built with them.
    sources = preflight(req) if req is not None and rebuild else None
    api = docker_api.client()
    job = run.job if req is None else dataclasses.replace(run.job, image=_devel_image(api, req, sources))
    docker_api.ensure_image(api, job.image, f"build it: ptkit build {job.variant}")
    out, combined = run.reports / f"{job.variant}-distributed", run.reports / f"{job.variant}-distributed.json"
    shutil.rmtree(out, ignore_errors=True)
    codes = multinode.run_job(api, job, list(run.verify_args), out, run.deadline)
    return combined, multinode.judge(codes, out, multinode.combine(out, combined))


def _devel_image(api: Any, req: Request, sources: build.Sources | None) -> str:
    """Built from `sources` (the preflight's); without them (no build option given), the engine's image when it was
    built from this very commit (as `bash scripts/main.sh` left it, whatever inputs it took), else built."""
    if sources is None:
        if current := current_image(api, req.images[-1]):
            print(f"distributed: {current} was built from this commit: used as it is", file=sys.stderr)
            return current
        sources = preflight(req)
    return build_images(api, req, sources)[0].image
