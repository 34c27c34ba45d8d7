"""The reproducibility commands: `ptkit manifest|diff|reproduce|fingerprint|sbom|conda-lock`. cli.py adds them with
`repro.commands.register(sub)`. Exit codes: 0 ok (diff: identical), 1 failure (diff: different), 2 usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import PtkitError, UsageError
from ..images import DEFAULT_PLATFORM, LOCKS
from ..options import add_matrix, subcommand
from ..userfiles import path_arg, write_text
from . import images

CHECKOUT = Path(__file__).resolve().parents[3]  # src/ptkit/repro/ -> the checkout ptkit runs from


def _client() -> Any:
    from .. import docker_api

    return docker_api.client()


def cmd_manifest(args: argparse.Namespace) -> int:
    data = images.manifest(_client(), args.image)
    if data is None:
        raise PtkitError(f"{args.image} has no manifest (not a ptkit image, or built before manifests)")
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=True))
        return 0
    build, torch = data.get("build", {}), data.get("torch", {})
    print(f"{args.image}: variant {build.get('variant')} ({build.get('source')}, {build.get('flavor')}), "
          f"ptkit {build.get('revision')}, created {build.get('created')}")
    print(f"base {build.get('base_image', {}).get('ref')} ({build.get('base_image', {}).get('id')}), "
          f"lock {build.get('lock')} (sha256 {build.get('lock_sha256')})")
    print(f"torch {torch.get('torch')} cuda {torch.get('cuda')} cudnn {torch.get('cudnn')} nccl {torch.get('nccl')} "
          f"arch {' '.join(torch.get('arch_list') or []) or '-'}")
    print(f"fingerprint {data.get('fingerprint', {}).get('digest')}")
    for section in ("python", "debian"):
        for name, info in sorted((data.get(section, {}).get("packages") or {}).items()):
            hashes = f"  sha256:{info['sha256'][0]}" if info.get("sha256") else ""
            print(f"{section}  {name} {info['version']}{hashes}")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from . import diff, snapshot

    if args.layers:
        return cmd_layers(args)

    a, b = snapshot.load(args.a, _client), snapshot.load(args.b, _client)
    if not diff.compared(a, b):  # two reports without facts, say: "identical" would claim what nobody checked
        raise UsageError(f"{a.label} and {b.label} have nothing diff can compare (no packages, facts or fingerprint "
                         "on both sides)")
    changes, unknown = diff.diff(a, b)
    print("\n".join(diff.render(a, b, changes, unknown)))
    return 1 if changes else 0


def cmd_layers(args: argparse.Namespace) -> int:
    """`ptkit diff --layers A B`: two images' first differing layer, file by file."""
    from . import layerdiff

    api = _client()
    names = (args.a, args.b)
    first = layerdiff.first_difference(api, images.image(api, args.a).id, images.image(api, args.b).id, names)
    print("\n".join(layerdiff.render(first, names)))
    return 0 if first is None else 1


def cmd_reproduce(args: argparse.Namespace) -> int:
    from .. import docker_api
    from . import layerdiff, reproduce

    api = _client()
    original = docker_api.ensure_image(api, args.image, "pull it or check the name").id
    rec = reproduce.recorded(images.manifest(api, args.image), args.image)
    options = [*(["--wheelhouse", str(args.wheelhouse)] if args.wheelhouse else []),
               *(["--ca-bundle", str(args.ca_bundle)] if args.ca_bundle else [])]
    rebuilt = reproduce.rebuild(api, rec, args.repo, options)
    if rebuilt == original:
        print(f"identical: {args.image} and its rebuild from commit {rec.revision[:12]} are one image ({original})")
        return 0
    print(f"different: {args.image} is {original}, its rebuild from commit {rec.revision[:12]} is {rebuilt}")
    names = (args.image, "the rebuild")
    print("\n".join(layerdiff.render(layerdiff.first_difference(api, original, rebuilt, names), names)))
    return 1


def cmd_fingerprint(args: argparse.Namespace) -> int:
    from . import fingerprint

    fp = fingerprint.compute(_client(), args.image, listing=args.list)
    for line in fp.listing:
        print(line)
    print(fingerprint.describe(fp))
    return 1 if fp.matches is False else 0


def cmd_sbom(args: argparse.Namespace) -> int:
    from ..verify import inventory
    from . import sbom

    api = _client()
    recorded = images.manifest(api, args.image)
    if recorded is None:
        print(f"ptkit sbom: {args.image} has no manifest: listing its live packages, without wheel hashes",
              file=sys.stderr)
        live = json.loads(images.run_module(api, args.image, Path(inventory.__file__), []))
        recorded = sbom.live_manifest(live)
    text = sbom.to_json(sbom.build(args.image, images.image(api, args.image).id, recorded))
    errors = sbom.validate(text)
    if errors:
        raise PtkitError(f"the SBOM does not validate against CycloneDX {sbom.SPEC}: {errors[0].splitlines()[0]}")
    if args.output:
        write_text(args.output, text, "-o")
        print(f"sbom {args.output}: CycloneDX {sbom.SPEC}, validated", file=sys.stderr)
    else:
        print(text)
    return 0


def cmd_conda_lock(args: argparse.Namespace) -> int:
    from .. import matrix
    from . import conda

    variant = matrix.load(args.matrix).get(args.variant)
    spec = args.spec or Path("conda") / f"{variant.name}.yml"
    problems = conda.check(spec, variant)
    if problems:
        raise PtkitError(f"{spec} disagrees with the matrix: {problems[0]} (run `ptkit render`)")
    text = conda.lock(spec, variant)
    out = args.output or LOCKS / f"conda-{variant.name}-{conda.PLATFORM}.txt"
    write_text(out, text, "-o")
    print(f"conda lock {out}: {len(text.splitlines()) - 2} packages for {conda.PLATFORM}")
    return 0


def register(sub: Any) -> None:
    """Add the commands to the `ptkit` parser's subparsers."""
    def add(name: str, help_text: str, func: Any) -> argparse.ArgumentParser:
        parser = subcommand(sub, name, help_text)
        parser.set_defaults(func=func)
        return parser

    manifest = add("manifest", "print an image's manifest (/etc/ptkit/manifest.json)", cmd_manifest)
    manifest.add_argument("image")
    manifest.add_argument("--json", action="store_true", help="print it as JSON")
    diff = add("diff", "compare two images, manifests or reports (exit 0 identical, 1 different)", cmd_diff)
    diff.add_argument("a", metavar="A", help="an image, a manifest JSON file or a verify report")
    diff.add_argument("b", metavar="B", help="likewise")
    diff.add_argument("--layers", action="store_true",
                      help="two images: their first differing layer, file by file (type, mode, owner, mtime, content)")
    reproduce = add("reproduce", "rebuild an image from the commit, lock and base its manifest names; compare "
                    "(exit 0 identical, 1 different)", cmd_reproduce)
    reproduce.add_argument("image")
    reproduce.add_argument("--repo", type=path_arg, default=CHECKOUT, metavar="DIR",
                           help="a git clone holding the image's commit (default: this checkout)")
    reproduce.add_argument("--wheelhouse", type=path_arg, metavar="DIR", help="install from DIR (the lock's wheels)")
    reproduce.add_argument("--ca-bundle", type=path_arg, metavar="FILE", help="as for `ptkit build`")
    fingerprint = add("fingerprint", "hash an image's environment files; compare with its manifest",
                      cmd_fingerprint)
    fingerprint.add_argument("image")
    fingerprint.add_argument("--list", action="store_true", help="also print each file: type digest mode path")
    sbom = add("sbom", "write a CycloneDX SBOM of an image (Python and Debian packages)", cmd_sbom)
    sbom.add_argument("image")
    sbom.add_argument("-o", "--output", type=path_arg, metavar="FILE", help="default: stdout")
    subdir = DEFAULT_PLATFORM.conda_subdir
    lock = add("conda-lock", f"solve a variant's conda spec on conda-forge ({subdir}, __cuda) and lock it",
               cmd_conda_lock)
    lock.add_argument("variant")
    lock.add_argument("--spec", type=path_arg, metavar="FILE", help="default: conda/VARIANT.yml")
    lock.add_argument("-o", "--output", type=path_arg, metavar="FILE",
                      help=f"default: locks/conda-VARIANT-{subdir}.txt")
    add_matrix(lock)
