"""The `ptkit` command: the argument parser and the one main loop of the host commands (a user's error is one
line and its exit code, ptkit's own bug a traceback; SIGTERM takes the Ctrl-C path). The `cmd_*` functions are
in commands.py, the orders in pipeline.py. Host-side imports are lazy: inside an image, `ptkit verify` must work
with nothing but the standard library and torch.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import traceback
from pathlib import Path
from typing import Any, NoReturn

from . import __version__, commands, userfiles
from .errors import PtkitError
from .options import Formatter, add_matrix, add_platform, subcommand
from .platforms import PLATFORMS
from .userfiles import path_arg
from .verify import cli as verify_cli
from .verify import distributed

BUG_URL = "https://github.com/ptkit/ptkit/issues"
GPU_CHOICES = ("auto", "yes", "no")
# What runs inside images: `ptkit verify` there registers only these, because every host command's
# imports (matrix, render, cluster, repro) are start-up time a verifier that must beat collect_env cannot spend.
IN_IMAGE = ("verify", "bench")


class OneLineParser(argparse.ArgumentParser):
    """Usage errors in one line (exit 2) that point at --help, instead of argparse's usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _add_source(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", metavar="NAME",
                        help="another source of the row's pins, e.g. pypi (default: the row's own; see `ptkit matrix`)")


def _add_build_args(parser: argparse.ArgumentParser) -> None:
    from .images import FLAVORS

    parser.add_argument("variant", help="a variant of the matrix (see `ptkit matrix`)")
    _add_source(parser)
    add_platform(parser)
    parser.add_argument("--flavor", choices=(*FLAVORS, "all"), default="all",
                        help="devel: torch.compile works (compiler, headers); runtime: slim, for inference")
    parser.add_argument("--tag", action="append", default=[], metavar="NAME",
                        help="extra tag, e.g. registry:5000/team/pytorch:cpu (repeatable)")
    parser.add_argument("--push", action="store_true", help="push the --tag repositories' tags")
    parser.add_argument("--sign", type=path_arg, metavar="KEY",
                        help="with --push: sign each pushed digest with this cosign private key (its password in "
                             "COSIGN_PASSWORD); signatures go to the registry, the key nowhere")
    _add_input_args(parser)


def _add_input_args(parser: argparse.ArgumentParser) -> None:
    """The build inputs (inputs.BuildInputs), and --matrix."""
    from .inputs import INSTALLERS, PYPI_SIMPLE, UV_VERSION

    parser.add_argument("--base-image", metavar="IMG", help="base image (default: the matrix's)")
    parser.add_argument("--index-url", metavar="URL", help="the variant's package index (default: the matrix's)")
    parser.add_argument("--extra-index-url", default="", metavar="URL", help="a second index for the variant")
    parser.add_argument("--wheelhouse", type=path_arg, metavar="DIR",
                        help="install only from DIR, variant and team packages alike (air-gapped hosts)")
    parser.add_argument("--ca-bundle", type=path_arg, metavar="FILE",
                        help="CA bundle for TLS-intercepting proxies; used in build stages only")
    parser.add_argument("--packages", metavar='"torch numpy"', help="override the matrix's package set")
    parser.add_argument("--lock", type=path_arg, metavar="FILE",
                        help="install exactly this hash-pinned lock (from `ptkit wheelhouse`, e.g. locks/cpu.txt)")
    parser.add_argument("--no-cache", action="store_true",
                        help="build every layer anew, once: the second flavor reuses the layers the first just made")
    parser.add_argument("--installer", choices=INSTALLERS, default=INSTALLERS[0],
                        help=f"what installs the wheels in the build (hashes checked either way): uv {UV_VERSION} "
                             "(fast; a --wheelhouse must hold its wheel, as `ptkit wheelhouse` makes it) or pip")
    parser.add_argument("--extra-requirements", type=path_arg, metavar="FILE",
                        help="also build a team image FROM the variant's devel image with these packages")
    parser.add_argument("--team-index-url", default=PYPI_SIMPLE, metavar="URL",
                        help="the index of --extra-requirements")
    add_matrix(parser)


def _add_verify_image_args(parser: argparse.ArgumentParser) -> None:
    from .container import DEFAULT_TIMEOUT

    parser.add_argument("--gpu", choices=GPU_CHOICES, default="auto",
                        help="give the container the GPUs (auto: when the host has the NVIDIA runtime)")
    parser.add_argument("--timeout", type=verify_cli.positive_int, default=DEFAULT_TIMEOUT, metavar="S",
                        help="seconds the verifier may run in the container")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; only the in-image commands' when `command` (argv's first word) is one of them."""
    parser = OneLineParser(prog="ptkit", description="Reproducible PyTorch environments.")
    parser.add_argument("--version", action="version", version=f"ptkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    verify = subcommand(sub, "verify", "check a PyTorch environment (this one, or --image)")
    verify_cli.add_verify_args(verify)
    verify.add_argument("--image", metavar="IMAGE", help="verify this image in a throwaway container")
    verify.add_argument("--variant", help="with --image: also expect this matrix variant's CUDA")
    verify.add_argument("--platform", choices=tuple(PLATFORMS), default=None,
                        help="with --image: that platform's image of a multi-platform tag (pulled for it; run "
                             "emulated, without a GPU, when it is another machine's)")
    verify.add_argument("--key", type=path_arg, metavar="PUB",
                        help="with --image: refuse it unless signed, with its provenance, by this cosign public key; "
                             "shows the provenance; the signed digest runs")
    add_matrix(verify)
    _add_verify_image_args(verify)
    distributed.add_distributed_args(verify)  # under torchrun only: not passed on by --image
    verify.set_defaults(func=commands.cmd_verify)

    bench = subcommand(sub, "bench", "matmul benchmark against the datasheet peak")
    verify_cli.add_bench_args(bench)
    bench.set_defaults(func=verify_cli.dispatch)
    if command in IN_IMAGE:
        return parser

    matrix = subcommand(sub, "matrix", "show the variant matrix")
    matrix.add_argument("--json", action="store_true", help="print it as JSON")
    add_matrix(matrix)
    matrix.set_defaults(func=commands.cmd_matrix)

    build = subcommand(sub, "build", "build a variant's images through the Docker SDK")
    _add_build_args(build)
    build.set_defaults(func=commands.cmd_build)

    from .images import REPORTS

    check = subcommand(sub, "check", "build a variant, verify it in a container, write reports/VARIANT.json")
    _add_build_args(check)
    check.add_argument("--gpu", choices=GPU_CHOICES, default="auto", help="give the containers the GPUs")
    check.add_argument("--reports", type=path_arg, default=REPORTS, metavar="DIR",
                       help="where VARIANT.json (devel) and VARIANT-runtime.json go")
    check.set_defaults(func=commands.cmd_check)

    index = subcommand(sub, "index", "one tag for several platforms: an image index of their pushed images")
    index.add_argument("ref", metavar="REF", help="the index's tag, e.g. localhost:5000/team/pytorch:cpu")
    index.add_argument("images", nargs="+", metavar="IMAGE", help="a pushed image per platform, in REF's registry")
    index.add_argument("--insecure", action="store_true", help="plain HTTP (default only for a loopback registry)")
    index.add_argument("--json", action="store_true", help="print the index's digest and platforms as JSON")
    index.set_defaults(func=commands.cmd_index)

    from . import report_commands
    from .cluster import commands as cluster_commands
    from .repro import commands as repro_commands

    _add_host_commands(sub)
    _add_distributed(sub)
    report_commands.register(sub)
    repro_commands.register(sub)
    cluster_commands.register(sub)
    return parser


def _add_host_commands(sub: Any) -> None:
    from .base import DEBIAN_MIRROR
    from .images import DEBIAN_SUITE, LOCAL_BASE

    wheels = subcommand(sub, "wheelhouse", "download every wheel a variant needs (host pip config) and lock them")
    wheels.add_argument("variant", help="a variant of the matrix")
    wheels.add_argument("dest", type=path_arg, help="folder for the wheels and requirements.lock")
    _add_source(wheels)
    wheels.add_argument("--packages", metavar='"torch numpy"', help="override the matrix's package set")
    wheels.add_argument("--index-url", metavar="URL", help="replace the host's index")
    wheels.add_argument("--extra-index-url", metavar="URL", help="add an index")
    wheels.add_argument("--use-variant-index", action="store_true", help="add the matrix's index_url")
    wheels.add_argument("--lock", type=path_arg, metavar="FILE", help="download exactly this lock's wheels")
    add_platform(wheels)
    add_matrix(wheels)
    wheels.set_defaults(func=commands.cmd_wheelhouse)

    lock = subcommand(sub, "lock", "resolve a variant on its index and write a hash lock")
    lock.add_argument("variant", help="a variant of the matrix")
    _add_source(lock)
    add_platform(lock)
    lock.add_argument("-o", "--output", type=path_arg, metavar="FILE",
                      help="default: locks/IMAGE.txt (IMAGE: the variant, -SOURCE for another source, and the "
                           "platform's suffix for another platform)")
    lock.add_argument("--packages", metavar='"torch numpy"', help="override the matrix's package set")
    lock.add_argument("--isolated", action="store_true",
                      help="ignore this host's pip configuration (local wheel folders, constraint files)")
    lock.add_argument("--ca-bundle", type=path_arg, metavar="FILE", help="CA bundle for pip (with --isolated)")
    lock.add_argument("--compiler", action="store_true", help="lock the devel flavor's CUDA compiler (nvcc) instead: "
                      "locks/VARIANT-nvcc.txt, at the cuda-toolkit release locks/VARIANT.txt pins (CUDA 13 rows)")
    add_matrix(lock)
    lock.set_defaults(func=_cmd_lock)

    base = subcommand(sub, "base", "make a Debian base image from the apt mirror (no registry needed)")
    base.add_argument("--tag", help=f"the image's tag (default: {LOCAL_BASE}, the platform's suffix for another)")
    add_platform(base)
    base.add_argument("--suite", default=DEBIAN_SUITE, help="Debian suite")
    base.add_argument("--mirror", default=DEBIAN_MIRROR, metavar="URL", help="Debian mirror")
    base.add_argument("--if-missing", action="store_true", help="do nothing when the tag exists (print it)")
    base.set_defaults(func=commands.cmd_base)

    render = subcommand(sub, "render", "write the conda environment specs from the matrix")
    render.add_argument("--check", action="store_true", help="fail if the files differ from the matrix")
    render.add_argument("--out", type=path_arg, default=Path("conda"), metavar="DIR", help="where VARIANT.yml go")
    add_matrix(render)
    render.set_defaults(func=commands.cmd_render)


def _add_distributed(sub: Any) -> None:
    """`nox -s distributed -- VARIANT ...` runs this; not listed in `ptkit --help` (the nox session is the way in)."""
    from .cluster.launch import add_job_shape_args
    from .images import REPORTS

    dist = sub.add_parser("distributed", formatter_class=Formatter, prog="nox -s distributed --",
                          description="torchrun across N containers of the variant's devel image, built as "
                                      "`ptkit build` builds it (no build option: the image built from this commit, "
                                      "e.g. by scripts/main.sh, is used as it is)")
    dist.add_argument("variant", help="a variant of the matrix (see `ptkit matrix`)")
    _add_source(dist)
    add_job_shape_args(dist)
    dist.add_argument("--image", metavar="REF", help="run this image as it is (default: build ptkit:VARIANT)")
    dist.add_argument("--no-build", action="store_true", help="use the existing image as it is")
    dist.add_argument("--deadline", type=verify_cli.positive_int, default=900, metavar="S", help="whole run's limit")
    dist.add_argument("--verify-arg", action="append", default=[], metavar="ARG",
                      help="extra verifier argument, e.g. --verify-arg=--bandwidth-iters=50 (repeatable)")
    dist.add_argument("--reports", type=path_arg, default=REPORTS, metavar="DIR", help="where the reports go")
    _add_input_args(dist)
    dist.set_defaults(func=commands.cmd_distributed)


class _Terminated(KeyboardInterrupt):
    """SIGTERM (`docker stop`, `kill`, a CI time-out) takes the Ctrl-C path: builds cancelled, containers removed."""


_TERMINATED: list[bool] = []  # set by the handler: an Interrupted raised while cleaning up still exits 143


def _on_sigterm(signum: int, frame: object) -> None:
    _TERMINATED.append(True)
    raise _Terminated


def _cmd_lock(args: argparse.Namespace) -> int:
    """--compiler locks the devel flavor's nvcc (ptkit.toolchain); without it, the row's packages."""
    from . import toolchain

    return toolchain.cmd_lock_compiler(args) if args.compiler else commands.cmd_lock(args)


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    args = build_parser(words[0] if words else None).parse_args(argv)
    if sys.stdout is None:  # started with stdout closed
        sys.stdout = userfiles.ClosedStdout()
    _TERMINATED.clear()
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main_thread else None
    try:
        return _run(args)
    finally:
        if in_main_thread:  # callers in-process (tests, embedding tools) get their own handler back
            signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.func(args))
    except PtkitError as exc:
        if _TERMINATED:  # the cleanup after SIGTERM raised its own "interrupted": say what really happened
            return _fail(args, f"terminated (SIGTERM); {exc}", 143, prefix="")
        return _fail(args, str(exc), exc.exit_code, whole=True)  # a build failure carries its log's last lines
    except BrokenPipeError:  # `ptkit matrix | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except _Terminated:
        return _fail(args, "terminated (SIGTERM); nothing was left running", 143, prefix="")
    except KeyboardInterrupt:
        return _fail(args, "interrupted", 130, prefix="")
    except Exception as exc:  # noqa: BLE001 - the one place that decides between "your input" and "our bug"
        if type(exc).__module__.startswith(("docker.", "requests.", "urllib3.")):  # some are OSErrors too
            return _fail(args, f"Docker engine connection failed: {exc}", 1)
        if isinstance(exc, OSError):  # a path that cannot be read or written, a full disk: the user's to fix
            where = f"{exc.filename}: " if exc.filename else ""
            return _fail(args, f"{where}{exc.strerror or exc}", 1)
        traceback.print_exc()
        return _fail(args, f"internal error (a bug in ptkit, not your input): please report it with the "
                           f"traceback above at {BUG_URL}", 1)


def _fail(args: argparse.Namespace, message: str, code: int, prefix: str = "error: ", whole: bool = False) -> int:
    """One line on stderr; ptkit's own multi-line messages (a build's log tail) keep their indented lines."""
    text = f"ptkit {args.command}: {prefix}{message}"
    print(text if whole else text.splitlines()[0], file=sys.stderr)
    return code
