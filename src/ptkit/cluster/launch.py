"""What every multi-node launcher shares: the job's shape and the torchrun command line."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..verify.cli import positive_int, positive_seconds
from ..verify.distributed import ENTRY

if TYPE_CHECKING:
    from ..matrix import Matrix

PORT = 29500  # torchrun's default rendezvous port
IMAGE_UID = 1000  # the image's `ptkit` user (docker/Dockerfile); launchers run it as that user
REPORTS_IN_CONTAINER = "/tmp/ptkit-reports"


def port(text: str) -> int:
    """An argparse type: a TCP port a rendezvous can listen on (0 would be "any port", unknown to the others)."""
    value = int(text) if text.isdigit() else 0
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port from 1 to 65535, got {text!r}")
    return value


@dataclass(frozen=True)
class Job:
    variant: str
    image: str
    nodes: int
    procs_per_node: int
    gpus_per_node: int
    collective_timeout: float = 60.0
    join_timeout: int = 300  # how long the first node waits for the others to join the rendezvous
    port: int = PORT


def add_job_args(parser: argparse.ArgumentParser) -> None:
    """A launcher's options: the variant, the job's shape, the image and the matrix."""
    from ..options import add_matrix

    parser.add_argument("variant", help="a variant of the matrix (see `ptkit matrix`)")
    add_job_shape_args(parser)
    parser.add_argument("--image", metavar="REF", help="image (default ptkit:VARIANT)")
    add_matrix(parser)


def add_job_shape_args(parser: argparse.ArgumentParser) -> None:
    """How many nodes, ranks and GPUs, and the rendezvous' limits (`nox -s distributed` adds them to the build's)."""
    parser.add_argument("--nodes", type=positive_int, default=2, metavar="N", help="nodes")
    parser.add_argument("--gpus-per-node", type=int, metavar="G",
                        help="GPUs per node (default: 0 for CPU variants, 1 for CUDA variants)")
    parser.add_argument("--procs-per-node", type=positive_int, metavar="P",
                        help="ranks per node (default: G, at least 1)")
    parser.add_argument("--collective-timeout", type=positive_seconds, default=60.0, metavar="S",
                        help="a collective not done in S seconds fails the run")
    parser.add_argument("--join-timeout", type=positive_int, default=300, metavar="S",
                        help="how long the rendezvous waits for every node")
    parser.add_argument("--port", type=port, default=PORT, help="rendezvous port, 1-65535")


def job_from_args(args: argparse.Namespace, matrix: Matrix | None = None) -> Job:
    """The job the options describe, checked: the variant exists, counts are positive."""
    from .. import matrix as matrices
    from ..errors import PtkitError

    variant = (matrix or matrices.load(args.matrix)).get(args.variant)
    gpus = args.gpus_per_node if args.gpus_per_node is not None else (1 if variant.is_cuda else 0)
    procs = args.procs_per_node or max(gpus, 1)
    if args.nodes < 1 or procs < 1 or gpus < 0:
        raise PtkitError("--nodes and --procs-per-node must be at least 1, --gpus-per-node at least 0")
    if gpus and procs > gpus:
        raise PtkitError(f"--procs-per-node {procs} exceeds --gpus-per-node {gpus}: NCCL needs one GPU per rank")
    return Job(variant.name, args.image or f"ptkit:{variant.name}", args.nodes, procs, gpus,
               args.collective_timeout, args.join_timeout, args.port)


def torchrun_args(job: Job, head: str, run_id: str, report_dir: str) -> list[str]:
    """torchrun's arguments (after the executable): c10d rendezvous on `head`, no restarts (a failure
    is the result), then the verifier, writing each rank's report to `report_dir`."""
    return [
        "--nnodes", str(job.nodes), "--nproc-per-node", str(job.procs_per_node),
        "--rdzv-backend", "c10d", "--rdzv-endpoint", f"{head}:{job.port}", "--rdzv-id", run_id,
        "--rdzv-conf", f"join_timeout={job.join_timeout}", "--max-restarts", "0",
        *ENTRY, "--collective-timeout", f"{job.collective_timeout:g}", "--report-dir", report_dir,
    ]
