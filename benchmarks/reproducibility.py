"""Two --no-cache builds of one variant from the same commit, inputs and lock, the way `ptkit build` builds (both
flavors, normalized, SOURCE_DATE_EPOCH the commit's time): equal image ids, and equal digests once pushed?

  python benchmarks/reproducibility.py [--variant cpu] [--wheelhouse DIR --lock FILE]
  python benchmarks/reproducibility.py --compare IMAGE_A IMAGE_B     # two images built already

Run A builds both flavors and pushes each to a throwaway local registry (tests/utils/registry.py); its images
are then removed from the engine, so run B's layers are made again from B's own bytes; run B builds and pushes
to another repository. Printed per flavor: both image ids and both pushed digests, EQUAL or DIFFER. --compare
prints both fingerprints and, for different ids, the first differing layer file by file (`ptkit diff --layers`'s
differ). The output's first line names the command and the commit. Exit 0 when every pair is equal.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))  # tests.utils.registry: the throwaway registry the Docker tests use too

from ptkit import docker_api, images, matrix, pipeline, provenance  # noqa: E402
from ptkit.cli import OneLineParser  # noqa: E402
from ptkit.inputs import BuildInputs, Destination  # noqa: E402
from ptkit.repro import fingerprint, layerdiff  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from matrix_run import DiskPeak, prune_stages  # noqa: E402


def build_run(api: Any, args: argparse.Namespace, registry: str, run: str) -> dict[str, tuple[str, str]]:
    """One --no-cache build of both flavors through the pipeline, each pushed: {flavor: (image id, digest)}."""
    m = matrix.load(ROOT / "matrix.toml")
    inputs = BuildInputs(base_image=args.base_image, wheelhouse=args.wheelhouse, lock=args.lock, no_cache=True,
                         ca_bundle=args.ca_bundle)
    req = pipeline.request(m, m.get(args.variant), inputs, Destination())
    start = time.monotonic()
    with DiskPeak(Path("/var/lib/docker")) as disk:  # the disk a build and its normalization take at their peak
        built = pipeline.build_images(api, req, pipeline.preflight(req))
    print(f"run {run}: both flavors built and normalized in {time.monotonic() - start:.0f} s; disk peak "
          f"{(disk.peak - disk.start) / 1e9:.1f} GB above the run's start")
    out = {}
    for b in built:
        ref = f"{registry}/repro/{args.variant}:{b.desc.flavor}-{run}"
        api.images.get(b.image_id).tag(ref)
        out[b.desc.flavor] = (b.image_id, pipeline.build.push(api, [ref])[ref])
    return out


def forget(api: Any, ids: list[str]) -> None:
    """Remove run A's images (every tag), so that run B's normalized layers are the engine's from B's bytes, and
    the build stages they came from (run B builds with --no-cache: a CUDA row's stages are 20 GB of disk)."""
    for image_id in ids:
        api.images.remove(image_id, force=True)
    prune_stages()


def build_twice(api: Any, args: argparse.Namespace) -> bool:
    from tests.utils.registry import LocalRegistry

    revision = provenance.git_revision(ROOT)
    if revision.endswith(("-dirty", "unknown")):
        raise SystemExit("reproducibility: commit first: an uncommitted tree's image takes the build's time")
    with LocalRegistry(api) as reg:
        a = build_run(api, args, reg.host, "a")
        forget(api, [image_id for image_id, _ in a.values()])
        b = build_run(api, args, reg.host, "b")
    if provenance.git_revision(ROOT) != revision:  # the builds send this checkout's files: both must see the same
        print(f"the checkout changed during the run ({revision} -> {provenance.git_revision(ROOT)}): not a "
              "comparison of one commit's builds; run it from a clone nobody edits")
        return False
    equal = True
    for flavor in a:
        for what, i in (("image ids", 0), ("pushed digests", 1)):
            same = a[flavor][i] == b[flavor][i]
            equal &= same
            print(f"{args.variant} {flavor} {what} {'EQUAL' if same else 'DIFFER'}: {a[flavor][i]} {b[flavor][i]}")
    return equal


def compare_fingerprints(api: Any, a: str, b: str) -> bool:
    fa, fb = (fingerprint.compute(api, ref, listing=True) for ref in (a, b))
    for fp in (fa, fb):
        print(f"fingerprint {fp.image}: {fingerprint.describe(fp)}")
    lines_a, lines_b = set(fa.listing), set(fb.listing)
    differing = sorted({line.split(" ", 3)[3] for line in lines_a ^ lines_b})
    pyc = [p for p in differing if p.endswith(".pyc")]
    print(f"fingerprints {'EQUAL' if fa.digest == fb.digest else 'DIFFER'}; {len(differing)} path(s) differ "
          f"({len(pyc)} .pyc)")
    for path in [p for p in differing if not p.endswith(".pyc")][:40] + pyc[:5]:
        print(f"  {path}")
    return fa.digest == fb.digest


def main() -> int:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="cpu")
    parser.add_argument("--base-image", default=images.LOCAL_BASE)
    parser.add_argument("--wheelhouse", type=Path, default=ROOT / ".cache" / "wheelhouse" / "cpu")
    parser.add_argument("--lock", type=Path, default=ROOT / "locks" / "cpu.txt")
    parser.add_argument("--ca-bundle", type=Path, default=None)
    parser.add_argument("--compare", nargs=2, metavar="IMAGE", help="compare two images built already")
    args = parser.parse_args()
    print(f"$ python benchmarks/reproducibility.py {shlex.join(sys.argv[1:])}   (commit "
          f"{provenance.git_revision(ROOT)})")
    api = docker_api.client()
    if not args.compare:
        return 0 if build_twice(api, args) else 1
    a, b = args.compare
    equal = compare_fingerprints(api, a, b)
    ida, idb = api.images.get(a).id, api.images.get(b).id
    print(f"image ids {'EQUAL' if ida == idb else 'DIFFER'}: {ida} {idb}")
    if ida != idb:  # where they first differ, file by file: ptkit diff --layers's differ (streamed, no disk copy)
        names = (a, b)
        print("\n".join(layerdiff.render(layerdiff.first_difference(api, ida, idb, names), names)))
    return 0 if equal and ida == idb else 1


if __name__ == "__main__":
    sys.exit(main())
