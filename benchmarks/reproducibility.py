"""Two --no-cache builds of one variant from the same inputs: are their fingerprints equal, and their image ids?

  python benchmarks/reproducibility.py [--variant cpu] [--flavor devel] [--wheelhouse DIR --lock FILE]
  python benchmarks/reproducibility.py --compare IMAGE_A IMAGE_B     # two images built already

Prints both fingerprints (and the paths whose entries differ), both image ids, and where the ids differ:
the config fields (created, history) and, layer by layer, whether the layer tars differ in content or only
in the timestamps the classic builder writes into them. Exit 0 when the fingerprints are equal.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ptkit import build, docker_api, images, matrix, provenance, render, toolchain  # noqa: E402
from ptkit.cli import OneLineParser  # noqa: E402
from ptkit.inputs import BuildInputs  # noqa: E402
from ptkit.repro import fingerprint  # noqa: E402


def build_twice(api: Any, args: argparse.Namespace) -> tuple[str, str]:
    m = matrix.load(ROOT / "matrix.toml")
    variant = m.get(args.variant)
    inputs = BuildInputs(base_image=args.base_image, wheelhouse=args.wheelhouse, lock=args.lock, no_cache=True)
    created = provenance.commit_time(ROOT)
    if created is None:
        raise SystemExit("reproducibility: not a git checkout: no commit time to build from")
    prov = images.Provenance("benchmark", created, source_time=created)  # SOURCE_DATE_EPOCH as `ptkit build` sets it
    image = images.Image(variant, prov, args.flavor, base_image=args.base_image or "")
    plan = render.plan(image, inputs)
    lock = args.lock.read_bytes() if args.lock else b""
    compiler = toolchain.build_files(variant, args.flavor, args.lock)
    sources = build.Sources(m.path.read_bytes(), lock, {args.flavor: compiler})
    refs = []
    for run in ("a", "b"):
        ref = f"ptkit-repro/{variant.name}:{run}"
        build.build_variant(api, plan, inputs, sources, tags=[ref])
        refs.append(ref)
    return refs[0], refs[1]


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


def layer_entries(path: Path) -> dict[str, tuple[Any, ...]]:
    """{name: (type, mode, uid, gid, link, sha256, mtime)} of a layer tar."""
    entries = {}
    with tarfile.open(path) as tar:
        for member in tar:
            digest = ""
            if member.isfile():
                handle = tar.extractfile(member)
                digest = hashlib.sha256(handle.read() if handle else b"").hexdigest()
            entries[member.name] = (member.type, member.mode, member.uid, member.gid, member.linkname, digest,
                                    member.mtime)
    return entries


def saved_layers(api: Any, ref: str, directory: Path) -> list[Path]:
    """The image's layer tars, in order (docker save's manifest.json)."""
    import json

    directory.mkdir(parents=True)
    archive = directory / "image.tar"
    with archive.open("wb") as fh:
        for chunk in api.images.get(ref).save(named=False):
            fh.write(chunk)
    with tarfile.open(archive) as tar:
        tar.extractall(directory, filter="data")
    return [directory / layer for layer in json.loads((directory / "manifest.json").read_text())[0]["Layers"]]


def compare_layers(api: Any, a: str, b: str) -> None:
    ia, ib = api.images.get(a), api.images.get(b)
    layers_a, layers_b = ia.attrs["RootFS"]["Layers"], ib.attrs["RootFS"]["Layers"]
    print(f"created: {ia.attrs['Created']} vs {ib.attrs['Created']}")
    differing = [i for i, (x, y) in enumerate(zip(layers_a, layers_b, strict=True)) if x != y]
    print(f"layers: {len(layers_a)}, differing: {differing}")
    if not differing:
        return
    history = [h for h in ia.history() if h.get("Size", 0) or "(nop)" not in h.get("CreatedBy", "")][::-1]
    with tempfile.TemporaryDirectory(prefix="ptkit-repro-") as tmp:
        tars = [saved_layers(api, ref, Path(tmp, name)) for ref, name in ((a, "a"), (b, "b"))]
        for i in differing:
            ea, eb = layer_entries(tars[0][i]), layer_entries(tars[1][i])
            content = sorted(n for n in set(ea) | set(eb) if ea.get(n, ())[:6] != eb.get(n, ())[:6])
            mtime_only = sum(1 for n in set(ea) & set(eb) if ea[n][:6] == eb[n][:6] and ea[n][6] != eb[n][6])
            step = history[i]["CreatedBy"][:90] if i < len(history) else "?"
            print(f"  layer {i} ({step}): {len(content)} path(s) differ in content/mode/owner, "
                  f"{mtime_only} in mtime only")
            for name in content[:15]:
                print(f"    {name}")


def main() -> int:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="cpu")
    parser.add_argument("--flavor", default=images.DEFAULT_FLAVOR)
    parser.add_argument("--base-image", default=images.LOCAL_BASE)
    parser.add_argument("--wheelhouse", type=Path, default=ROOT / ".cache" / "wheelhouse" / "cpu")
    parser.add_argument("--lock", type=Path, default=ROOT / "locks" / "cpu.txt")
    parser.add_argument("--compare", nargs=2, metavar="IMAGE", help="compare two images built already")
    args = parser.parse_args()
    api = docker_api.client()
    a, b = args.compare or build_twice(api, args)
    equal = compare_fingerprints(api, a, b)
    ida, idb = api.images.get(a).id, api.images.get(b).id
    print(f"image ids {'EQUAL' if ida == idb else 'DIFFER'}: {ida} {idb}")
    if ida != idb:
        compare_layers(api, a, b)
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main())
