"""The `ptkit` command: the argument parser and thin `cmd_*` functions that hand typed values to
`pipeline`. Host-side imports are lazy: inside an image, `ptkit verify` must work with nothing but
the standard library and torch.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path
from typing import Any

from . import __version__
from .errors import PtkitError
from .verify import cli as verify_cli

BUG_URL = "https://github.com/ptkit/ptkit/issues"
GPU_CHOICES = ("auto", "yes", "no")


def _parser(sub: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help_text, description=help_text,
                          formatter_class=argparse.ArgumentDefaultsHelpFormatter)


def _add_matrix(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--matrix", type=Path, metavar="FILE",
                        help="matrix file (default: $PTKIT_MATRIX, else the matrix shipped with ptkit)")


def _add_source(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", metavar="NAME",
                        help="another source of the row's pins, e.g. pypi (default: the row's own; see `ptkit matrix`)")


def _add_build_args(parser: argparse.ArgumentParser) -> None:
    from .inputs import PYPI_SIMPLE
    from .render import FLAVORS

    parser.add_argument("variant", help="a variant of the matrix (see `ptkit matrix`)")
    _add_source(parser)
    parser.add_argument("--flavor", choices=(*FLAVORS, "all"), default="all",
                        help="devel: torch.compile works (compiler, headers); runtime: slim, for inference")
    parser.add_argument("--tag", action="append", default=[], metavar="NAME",
                        help="extra tag, e.g. registry:5000/team/pytorch:cpu (repeatable)")
    parser.add_argument("--push", action="store_true", help="push the --tag repositories' tags")
    parser.add_argument("--base-image", metavar="IMG", help="base image (default: the matrix's)")
    parser.add_argument("--index-url", metavar="URL", help="the variant's package index (default: the matrix's)")
    parser.add_argument("--extra-index-url", default="", metavar="URL", help="a second index for the variant")
    parser.add_argument("--wheelhouse", type=Path, metavar="DIR",
                        help="install only from DIR, variant and team packages alike (air-gapped hosts)")
    parser.add_argument("--ca-bundle", type=Path, metavar="FILE",
                        help="CA bundle for TLS-intercepting proxies; used in build stages only")
    parser.add_argument("--packages", metavar='"torch numpy"', help="override the matrix's package set")
    parser.add_argument("--lock", type=Path, metavar="FILE",
                        help="install exactly this hash-pinned lock (from `ptkit wheelhouse`, e.g. locks/cpu.txt)")
    parser.add_argument("--no-cache", action="store_true", help="build every layer anew")
    parser.add_argument("--extra-requirements", type=Path, metavar="FILE",
                        help="also build a team image FROM the variant's devel image with these packages")
    parser.add_argument("--team-index-url", default=PYPI_SIMPLE, metavar="URL",
                        help="the index of --extra-requirements")
    _add_matrix(parser)


def _add_verify_image_args(parser: argparse.ArgumentParser) -> None:
    from .container import DEFAULT_TIMEOUT

    parser.add_argument("--gpu", choices=GPU_CHOICES, default="auto",
                        help="give the container the GPUs (auto: when the host has the NVIDIA runtime)")
    parser.add_argument("--timeout", type=_positive_int, default=DEFAULT_TIMEOUT, metavar="S",
                        help="seconds the verifier may run in the container")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ptkit", description="Reproducible PyTorch environments.")
    parser.add_argument("--version", action="version", version=f"ptkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    verify = _parser(sub, "verify", "check a PyTorch environment (this one, or --image)")
    verify_cli.add_verify_args(verify)
    verify.add_argument("--image", metavar="IMAGE", help="verify this image in a throwaway container")
    verify.add_argument("--variant", help="with --image: also expect this matrix variant's CUDA")
    _add_matrix(verify)
    _add_verify_image_args(verify)
    verify.set_defaults(func=cmd_verify)

    bench = _parser(sub, "bench", "matmul benchmark against the datasheet peak")
    verify_cli.add_bench_args(bench)
    bench.set_defaults(func=verify_cli.dispatch)

    matrix = _parser(sub, "matrix", "show the variant matrix")
    matrix.add_argument("--json", action="store_true", help="print it as JSON")
    _add_matrix(matrix)
    matrix.set_defaults(func=cmd_matrix)

    build = _parser(sub, "build", "build a variant's images through the Docker SDK")
    _add_build_args(build)
    build.set_defaults(func=cmd_build)

    check = _parser(sub, "check", "build a variant, verify it in a container, write reports/VARIANT.json")
    _add_build_args(check)
    check.add_argument("--gpu", choices=GPU_CHOICES, default="auto", help="give the containers the GPUs")
    check.add_argument("--reports", type=Path, default=Path("reports"), metavar="DIR",
                       help="where VARIANT.json (devel) and VARIANT-runtime.json go")
    check.set_defaults(func=cmd_check)

    _add_host_commands(sub)
    return parser


def _add_host_commands(sub: Any) -> None:
    from .base import DEBIAN_MIRROR, LOCAL_BASE

    wheels = _parser(sub, "wheelhouse", "download every wheel a variant needs (host pip config) and lock them")
    wheels.add_argument("variant", help="a variant of the matrix")
    wheels.add_argument("dest", type=Path, help="folder for the wheels and requirements.lock")
    _add_source(wheels)
    wheels.add_argument("--packages", metavar='"torch numpy"', help="override the matrix's package set")
    wheels.add_argument("--index-url", metavar="URL", help="replace the host's index")
    wheels.add_argument("--extra-index-url", metavar="URL", help="add an index")
    wheels.add_argument("--use-variant-index", action="store_true", help="add the matrix's index_url")
    wheels.add_argument("--lock", type=Path, metavar="FILE", help="download exactly this lock's wheels")
    _add_matrix(wheels)
    wheels.set_defaults(func=cmd_wheelhouse)

    base = _parser(sub, "base", "make a Debian base image from the apt mirror (no registry needed)")
    base.add_argument("--tag", default=LOCAL_BASE, help="the image's tag")
    base.add_argument("--suite", default="bookworm", help="Debian suite")
    base.add_argument("--mirror", default=DEBIAN_MIRROR, metavar="URL", help="Debian mirror")
    base.add_argument("--if-missing", action="store_true", help="do nothing when the tag exists (print it)")
    base.set_defaults(func=cmd_base)

    render = _parser(sub, "render", "write the conda environment specs from the matrix")
    render.add_argument("--check", action="store_true", help="fail if the files differ from the matrix")
    render.add_argument("--out", type=Path, default=Path("conda"), metavar="DIR", help="where VARIANT.yml go")
    _add_matrix(render)
    render.set_defaults(func=cmd_render)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except PtkitError as exc:
        return _fail(args, str(exc), exc.exit_code)
    except KeyboardInterrupt:
        return _fail(args, "interrupted", 130, prefix="")
    except OSError as exc:  # a path that cannot be read or written, a full disk: the user's to fix
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(args, f"{where}{exc.strerror or exc}", 1)
    except Exception as exc:  # noqa: BLE001 - the one place that decides between "your input" and "our bug"
        if type(exc).__module__.startswith(("docker.", "requests.", "urllib3.")):
            return _fail(args, f"Docker engine connection failed: {exc}", 1)
        traceback.print_exc()
        return _fail(args, f"internal error (a bug in ptkit, not your input): please report it with the "
                           f"traceback above at {BUG_URL}", 1)


def _fail(args: argparse.Namespace, message: str, code: int, prefix: str = "error: ") -> int:
    print(f"ptkit {args.command}: {prefix}{message}".splitlines()[0], file=sys.stderr)
    return code


# --- commands: arguments in, typed values to the pipeline ------------------------------------

def _inputs(args: argparse.Namespace) -> Any:
    from .inputs import BuildInputs

    return BuildInputs(
        base_image=args.base_image, index_url=args.index_url, extra_index_url=args.extra_index_url,
        team_index_url=args.team_index_url, wheelhouse=args.wheelhouse, ca_bundle=args.ca_bundle,
        lock=args.lock, packages=tuple(args.packages.split()) if args.packages else None,
        no_cache=args.no_cache, team_requirements=args.extra_requirements,
    )


def _build_request(args: argparse.Namespace) -> tuple[Any, ...]:
    """(api, matrix, variant, inputs, destination, flavors) from the build options."""
    from . import docker_api, matrix, render
    from .inputs import Destination

    if args.push and not args.tag:
        raise UsageError("--push needs --tag REGISTRY/REPOSITORY:TAG (ptkit:* tags stay local)")
    m = matrix.load(args.matrix)
    flavors = render.FLAVORS if args.flavor == "all" else (args.flavor,)
    if args.extra_requirements and "devel" not in flavors:
        raise UsageError("--extra-requirements builds on the devel flavor: drop --flavor runtime")
    variant = m.get(args.variant, args.source)
    return (docker_api.client(), m, variant, _inputs(args),
            Destination(tuple(args.tag), args.push), flavors)


class UsageError(PtkitError):
    exit_code = 2


def cmd_build(args: argparse.Namespace) -> int:
    from . import pipeline

    api, m, variant, inputs, dest, flavors = _build_request(args)
    built = pipeline.build_image(api, m, variant, inputs, dest, flavors)
    pushed = pipeline.push(api, built) if dest.push else {}
    print(json.dumps([{"image": b.image, "image_id": b.image_id, "flavor": b.flavor, "tags": b.tags,
                       "pushed": pushed.get(b.image, {})} for b in built], indent=2))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from . import pipeline, report

    api, m, variant, inputs, dest, flavors = _build_request(args)
    results = pipeline.check(api, m, variant, inputs, dest, flavors=flavors, gpu=args.gpu, reports=args.reports)
    for path, result in results:
        print(report.summary(result))
        print(f"report: {path}", file=sys.stderr)
    failed = [f"{path}: {report.first_failure(r)}" for path, r in results if not r.ok]
    if failed:
        raise PtkitError(f"verification failed: {'; '.join(failed)}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    if not args.image:
        if args.variant:
            raise UsageError("--variant goes with --image")
        return verify_cli.verify_main(args)
    from . import docker_api, matrix, pipeline, report

    variant = matrix.load(args.matrix).get(args.variant) if args.variant else None
    result = pipeline.verify_in_container(docker_api.client(), args.image, verify_cli.to_argv(args),
                                          variant=variant, gpu=args.gpu, timeout=args.timeout)
    if args.report:
        report.write(result, Path(args.report))
    print(json.dumps(result.to_dict(), indent=2) if args.json else report.summary(result))
    if not result.ok:
        raise PtkitError(f"verification of {args.image} failed: {report.first_failure(result)}")
    return 0


def cmd_matrix(args: argparse.Namespace) -> int:
    from . import matrix
    from .verify.results import table

    m = matrix.load(args.matrix)
    if args.json:
        print(json.dumps({name: v.to_dict() for name, v in m.variants.items()}, indent=2))
        return 0
    cols = ("torch", "torchvision", "torchaudio", "python", "cuda", "min_driver", "source", "index_url")
    every = [v for row in m.variants.values() for v in (row, *map(row.from_source, row.alternatives))]
    rows = [["variant", *cols]] + [[v.name, *(getattr(v, c) or "-" for c in cols)] for v in every]
    print("\n".join(table(rows)))
    return 0


def cmd_wheelhouse(args: argparse.Namespace) -> int:
    from . import matrix, render, wheels

    variant = matrix.load(args.matrix).get(args.variant, args.source)
    reqs, expected = render.requirements(variant, args.packages.split() if args.packages else None)
    if args.lock:
        wheels.check_lock(args.lock, expected)  # a lock of another variant is refused before any download
    lock = wheels.wheelhouse(variant, reqs, args.dest, index_url=args.index_url, lock=args.lock,
                             extra_index_url=args.extra_index_url, use_variant_index=args.use_variant_index)
    print(f"wheelhouse {args.dest}: {len(wheels.locked_files(lock))} wheels, lock {lock}")
    return 0


def cmd_base(args: argparse.Namespace) -> int:
    from . import base, docker_api

    print(base.make_base(docker_api.client(), args.tag, args.suite, args.mirror, if_missing=args.if_missing))
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from . import matrix, render

    m = matrix.load(args.matrix)
    files = {args.out / f"{v.name}.yml": render.conda_env(v) for v in m.variants.values()}
    if args.check:
        stale = [str(p) for p, text in files.items() if not p.is_file() or p.read_text() != text]
        if stale:
            raise PtkitError(f"out of date with {m.path}: {', '.join(stale)} (run `ptkit render`)")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        path.write_text(text)
        print(f"wrote {path}")
    return 0
