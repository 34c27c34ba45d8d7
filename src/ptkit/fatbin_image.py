"""Pipeline step after build: the fatbin listing of a built image's CUDA libraries, for its verifier run.

build -> (this step: copy torch's and torchvision's CUDA libraries out of the image, list them with cuobjdump
on the host) -> container verify (`--fatbin LIB=ARCH:N,...`: the verifier's arch:fatbin check compares torch's
arch list with it and records it in the report's environment.build.fatbin) -> report. No container is started:
the files come out of a created, never-started container through the Docker SDK's get_archive (as repro.images reads
the manifest), streamed to a temporary folder that is removed afterwards.

The same step also passes the image rows the last matrix run recorded (`--arch-row`), newest CUDA first, so a
device no compiled arch runs on is told which image does.
"""

from __future__ import annotations

import json
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from . import fatbin
from .platforms import by_arch, reported_on
from .repro import images
from .verify.facts import version_tuple
from .verify.fatbin_check import to_argument
from .verify.options import VerifyOptions, to_argv

# The last matrix run's committed reports (benchmarks/matrix_run.py), relative to the checkout as
# report_commands.LAST_MATRIX_RUN is (not imported: the host commands import the pipeline, not the reverse).
EVIDENCE = Path("docs", "evidence", "matrix")


def _site_packages(manifest: dict[str, Any] | None) -> str | None:
    """/opt/venv/lib/python3.11/site-packages from the manifest's venv and Python version; None without one."""
    python = (manifest or {}).get("python", {})
    version = ".".join(str(python.get("version") or "").split(".")[:2])
    return f"{python['venv']}/lib/python{version}/site-packages" if python.get("venv") and version else None


def _copy_out(api: Any, ref: str, path: str, into: Path) -> Path | None:
    """`path` of the image, streamed into the folder `into`; None when the image has no such file."""
    from docker.errors import NotFound

    container = api.containers.create(images.image(api, ref).id, entrypoint=["true"], network_disabled=True)
    archive = into / "archive.tar"
    try:
        stream, _ = container.get_archive(path)
        with archive.open("wb") as fh:
            for chunk in stream:  # libtorch_cuda.so is about 1 GB: never all of it in memory
                fh.write(chunk)
    except NotFound:
        return None
    finally:
        container.remove(force=True)
    with tarfile.open(archive) as tar:
        member = tar.next()
        if member is None or not member.isfile():
            return None
        if hasattr(tarfile, "data_filter"):  # Python 3.12+ and late 3.10/3.11 releases: refuse odd members
            tar.extract(member, into, filter="data")
        else:
            tar.extract(member, into)
    archive.unlink()
    return into / member.name


def image_listing(api: Any, ref: str, cuobjdump: Path | None = None) -> dict[str, dict[str, int]]:
    """{library file name: {arch: entries}} for the CUDA libraries the image's venv holds ({} for a CPU image)."""
    site = _site_packages(images.manifest(api, ref))
    if site is None:
        return {}
    listings = {}
    for rel in fatbin.LIBRARIES:
        with tempfile.TemporaryDirectory(prefix="ptkit-fatbin-") as folder:
            library = _copy_out(api, ref, f"{site}/{rel}", Path(folder))
            if library is not None:
                listings[Path(rel).name] = fatbin.list_library(library, cuobjdump)
    return listings


def arch_rows(evidence: Path = EVIDENCE, machine: str | None = None) -> list[str]:
    """'IMAGE (torch VERSION)=arch,...' for each committed CUDA report of the last matrix run, newest CUDA first;
    with `machine` (platforms.Platform.machine), of images of that machine only: a row's build for another machine
    holds other archs, and an image of this one is never swapped for it."""
    rows = []
    for path in sorted(evidence.glob("*.json")):
        try:
            data = json.loads(path.read_text())
            env = data["environment"]
            archs, cuda, image = env["build"]["arch_list"], env.get("cuda"), data["run"]["image"]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a verifier report (the evidence folder also holds figures and notes)
        if machine and not reported_on(env.get("platform"), machine):
            continue
        if cuda and archs and image:
            rows.append((version_tuple(str(cuda)), f"{image} (torch {env.get('torch')})=" + ",".join(archs)))
    return [row for _, row in sorted(rows, key=lambda r: r[0], reverse=True)]


def verify_options(api: Any, ref: str) -> VerifyOptions:
    """The verifier options this step adds for the image: its fatbin listings and the known image rows. Without
    cuobjdump on the host the listing is left out (one line on stderr; arch:fatbin then SKIPs)."""
    unread = None
    try:
        listings = image_listing(api, ref)
    except fatbin.FatbinError as exc:
        print(f"ptkit: no fatbin listing for {ref}: {exc}", file=sys.stderr)
        listings, unread = {}, str(exc)
    platform = by_arch((getattr(api.images.get(ref), "attrs", None) or {}).get("Architecture"))
    return VerifyOptions(fatbin=tuple(to_argument(lib, counts) for lib, counts in listings.items()),
                         fatbin_unread=unread,
                         arch_row=tuple(arch_rows(machine=platform.machine if platform else None)))


def verify_args(api: Any, ref: str) -> list[str]:
    """The same as the verifier's command line."""
    return to_argv(verify_options(api, ref))
