"""The reproducibility commands: `ptkit manifest|diff|fingerprint|sbom|conda-lock`. cli.py adds them with
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

    a, b = snapshot.load(args.a, _client), snapshot.load(args.b, _client)
    if not diff.compared(a, b):  # two reports without facts, say: "identical" would claim what nobody checked
        raise UsageError(f"{a.label} and {b.label} have nothing diff can compare (no packages, facts or fingerprint "
                         "on both sides)")
    changes, unknown = diff.diff(a, b)
    print("\n".join(diff.render(a, b, changes, unknown)))
    return 1 if changes else 0


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
