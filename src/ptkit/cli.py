"""The `ptkit` command. Imports of the host-side steps are lazy: inside an image, `ptkit verify`
must work with nothing but the standard library and torch.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .errors import PtkitError
from .verify import cli as verify_cli

REPORTS = Path("reports")


def _build_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("variant", help="a variant of matrix.toml (see `ptkit matrix`)")
    parser.add_argument("--tag", action="append", default=[], metavar="NAME",
                        help="extra tag, e.g. registry:5000/team/pytorch:cpu (repeatable)")
    parser.add_argument("--push", action="store_true", help="push the --tag repositories' tags")
    parser.add_argument("--base-image", metavar="IMG", help="base image (default: the matrix's)")
    parser.add_argument("--index-url", metavar="URL", help="package index (default: the matrix's)")
    parser.add_argument("--extra-index-url", default="", metavar="URL")
    parser.add_argument("--wheelhouse", type=Path, metavar="DIR", help="install only from DIR (offline)")
    parser.add_argument("--ca-bundle", type=Path, metavar="FILE",
                        help="CA bundle for TLS-intercepting proxies; used in the build stage only")
    parser.add_argument("--packages", metavar='"torch numpy"', help="override the package set")
    parser.add_argument("--lock", type=Path, metavar="FILE",
                        help="install exactly this hash-pinned lock (from `ptkit wheelhouse`, e.g. locks/cpu.txt)")
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--extra-requirements", type=Path, metavar="FILE",
                        help="also build a team image FROM the variant image with these packages")
    parser.add_argument("--matrix", type=Path, metavar="FILE", help="matrix file (default: matrix.toml)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ptkit", description="Reproducible PyTorch environments.")
    sub = parser.add_subparsers(dest="command", required=True)

    verify = sub.add_parser("verify", help="check a PyTorch environment (this one, or --image)")
    verify_cli.add_verify_args(verify)
    verify.add_argument("--image", metavar="IMAGE", help="verify this image in a throwaway container")
    verify.add_argument("--variant", help="with --image: also expect this matrix variant's CUDA")
    verify.add_argument("--matrix", type=Path, metavar="FILE", help="with --variant: the matrix file")
    verify.add_argument("--gpu", choices=("auto", "yes", "no"), default="auto",
                        help="with --image: give the container the GPUs (auto: when the host can)")
    verify.set_defaults(func=cmd_verify)

    bench = sub.add_parser("bench", help="matmul benchmark against the datasheet peak")
    verify_cli.add_bench_args(bench)
    bench.set_defaults(func=lambda a: verify_cli.dispatch(a))

    matrix = sub.add_parser("matrix", help="show the variant matrix")
    matrix.add_argument("--json", action="store_true")
    matrix.add_argument("--matrix", type=Path, metavar="FILE")
    matrix.set_defaults(func=cmd_matrix)

    build = sub.add_parser("build", help="build a variant's image through the Docker SDK")
    _build_options(build)
    build.set_defaults(func=cmd_build)

    check = sub.add_parser("check", help="build a variant, verify it in a container, write reports/VARIANT.json")
    _build_options(check)
    check.add_argument("--gpu", choices=("auto", "yes", "no"), default="auto")
    check.add_argument("--report", type=Path, metavar="FILE", help="default: reports/VARIANT.json")
    check.set_defaults(func=cmd_check)

    wheels = sub.add_parser("wheelhouse", help="download every wheel a variant needs (host pip config)")
    wheels.add_argument("variant")
    wheels.add_argument("dest", type=Path)
    wheels.add_argument("--packages", metavar='"torch numpy"')
    wheels.add_argument("--index-url", metavar="URL")
    wheels.add_argument("--extra-index-url", metavar="URL")
    wheels.add_argument("--use-variant-index", action="store_true", help="add the matrix's index_url")
    wheels.add_argument("--lock", type=Path, metavar="FILE", help="download exactly this lock's wheels")
    wheels.add_argument("--matrix", type=Path, metavar="FILE")
    wheels.set_defaults(func=cmd_wheelhouse)

    base = sub.add_parser("base", help="make a Debian base image from the apt mirror (no registry needed)")
    base.add_argument("--tag", default="ptkit/base:bookworm")
    base.add_argument("--suite", default="bookworm")
    base.add_argument("--mirror", metavar="URL", help="Debian mirror (default: deb.debian.org)")
    base.set_defaults(func=cmd_base)

    render = sub.add_parser("render", help="write conda/VARIANT.yml from the matrix")
    render.add_argument("--check", action="store_true", help="fail if the files differ from the matrix")
    render.add_argument("--matrix", type=Path, metavar="FILE")
    render.set_defaults(func=cmd_render)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except PtkitError as exc:
        print(f"ptkit {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"ptkit {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        # A daemon or registry connection that breaks mid-command (daemon restarted, timeout):
        # still one line, not a traceback. Anything else is a bug and keeps its traceback.
        if not type(exc).__module__.startswith(("docker.", "requests.", "urllib3.")):
            raise
        print(f"ptkit {args.command}: error: Docker engine connection failed: {exc}".splitlines()[0],
              file=sys.stderr)
        return 1


# --- commands --------------------------------------------------------------------------------

def _variant(args: argparse.Namespace) -> Any:
    from . import matrix

    return matrix.load(args.matrix).get(args.variant)


def cmd_matrix(args: argparse.Namespace) -> int:
    from . import matrix

    m = matrix.load(args.matrix)
    if args.json:
        print(json.dumps({name: v.to_dict() for name, v in m.variants.items()}, indent=2))
        return 0
    from .verify.results import table

    cols = ("torch", "torchvision", "torchaudio", "python", "cuda", "min_driver", "index_url")
    rows = [["variant", *cols]] + [[v.name, *(getattr(v, c) or "-" for c in cols)] for v in m.variants.values()]
    print("\n".join(table(rows)))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    if not args.image:
        if args.variant:
            raise PtkitError("--variant goes with --image")
        return verify_cli.verify_main(args)
    checks = ["--quick"] if args.quick else []
    checks += ["--expect-cuda"] if args.expect_cuda else []
    for name in args.require:
        checks += ["--require", name]
    expect_cuda_version = args.expect_cuda_version
    if args.variant and not expect_cuda_version:
        from . import matrix

        expect_cuda_version = matrix.load(args.matrix).get(args.variant).cuda or None
    return verify_image(args.image, checks, variant=args.variant, expect_cuda_version=expect_cuda_version,
                        gpu=args.gpu, report_path=args.report, as_json=args.json)


def verify_image(
    image: str,
    checks: list[str],
    *,
    variant: str | None = None,
    expect_cuda_version: str | None = None,
    gpu: str = "auto",
    report_path: Path | None = None,
    as_json: bool = False,
    image_id: str | None = None,
    digests: dict[str, str] | None = None,
) -> int:
    """Run the verifier in a throwaway container of `image`; `checks` are extra verify flags."""
    from . import container, docker_api, report

    api = docker_api.client()
    labels = _image_labels(api, image)
    use_gpu = gpu == "yes" or (gpu == "auto" and docker_api.has_nvidia_runtime(api))
    if gpu == "auto" and not use_gpu and labels.get("ptkit.cuda") != "":  # CUDA or unknown image
        print("ptkit: this host has no NVIDIA container runtime: verifying without a GPU", file=sys.stderr)
    if expect_cuda_version:
        checks = [*checks, "--expect-cuda-version", expect_cuda_version]
        if use_gpu and "--expect-cuda" not in checks:
            checks.append("--expect-cuda")
    inject = not labels.get("ptkit.variant")  # not a ptkit image: bring the verifier in
    result = container.run_verifier(api, image, checks, inject=inject, gpu=use_gpu)
    data = report.enrich(result.report, image=image, image_id=image_id or labels.get("_id"),
                         variant=variant or labels.get("ptkit.variant"), gpu=use_gpu, digests=digests)
    if report_path:
        report.write(data, report_path)
    print(json.dumps(data, indent=2) if as_json else report.summary(data))
    if not data["ok"]:
        raise PtkitError(f"verification of {image} failed: {report.first_failure(data) or 'see the report'}")
    return 0


def _image_labels(api: Any, image: str) -> dict[str, str]:
    from . import docker_api

    img = docker_api.ensure_image(api, image, "build it (`ptkit build`) or check the name")
    return {**(img.labels or {}), "_id": img.id}


def _build(args: argparse.Namespace) -> tuple[Any, str, str, dict[str, str]]:
    """Build (and push) what the options ask for; return (variant, image to verify, its id, pushed digests)."""
    from . import build, docker_api, matrix, render

    m = matrix.load(args.matrix)
    variant = m.get(args.variant)
    if args.push and not args.tag:
        raise PtkitError("--push needs --tag REGISTRY/REPOSITORY:TAG (ptkit:* tags stay local)")
    team = args.extra_requirements is not None
    plan = render.plan(
        variant, packages=args.packages.split() if args.packages else None, base_image=args.base_image,
        index_url=args.index_url, extra_index_url=args.extra_index_url,
        extra_tags=() if team else tuple(args.tag), latest=m.latest == variant.name,
    )
    api = docker_api.client()
    image_id = build.build_variant(api, plan, wheelhouse=args.wheelhouse, ca_bundle=args.ca_bundle,
                                   no_cache=args.no_cache, lock=args.lock)
    image, push_tags = plan.tags[0], plan.push_tags
    if team:
        tags = args.tag or [f"ptkit:{variant.name}-team"]
        image_id = build.build_team(api, plan.tags[0], args.extra_requirements, tags,
                                    ca_bundle=args.ca_bundle, index_url=args.index_url or "https://pypi.org/simple")
        image, push_tags = tags[0], list(args.tag)
    digests = build.push(api, push_tags) if args.push else {}
    return variant, image, image_id, digests


def cmd_build(args: argparse.Namespace) -> int:
    _, image, image_id, digests = _build(args)
    print(json.dumps({"image": image, "image_id": image_id, "pushed": digests}))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    variant, image, image_id, digests = _build(args)
    path = args.report or REPORTS / f"{args.variant}.json"
    code = verify_image(image, [], variant=variant.name, expect_cuda_version=variant.cuda or None, gpu=args.gpu,
                        report_path=path, image_id=image_id, digests=digests)
    print(f"report: {path}", file=sys.stderr)
    return code


def cmd_wheelhouse(args: argparse.Namespace) -> int:
    from . import render, wheels

    variant = _variant(args)
    reqs, _ = render.requirements(variant, args.packages.split() if args.packages else None)
    lock = wheels.wheelhouse(variant, reqs, args.dest, index_url=args.index_url, lock=args.lock,
                            extra_index_url=args.extra_index_url, use_variant_index=args.use_variant_index)
    print(f"wheelhouse {args.dest}: {len(list(args.dest.glob('*.whl')))} wheels, lock {lock}")
    return 0


def cmd_base(args: argparse.Namespace) -> int:
    from . import base, docker_api

    print(base.make_base(docker_api.client(), args.tag, args.suite, args.mirror or base.DEBIAN_MIRROR))
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from . import matrix, render

    m = matrix.load(args.matrix)
    outdir = m.path.parent / "conda"
    stale = []
    for variant in m.variants.values():
        path, text = outdir / f"{variant.name}.yml", render.conda_env(variant)
        if args.check:
            if not path.is_file() or path.read_text() != text:
                stale.append(str(path))
        else:
            outdir.mkdir(exist_ok=True)
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        raise PtkitError(f"out of date with {m.path}: {', '.join(stale)} (run `ptkit render`)")
    return 0
