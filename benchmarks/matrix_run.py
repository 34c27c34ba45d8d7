"""The whole matrix on one host: every image PyPI serves, built and verified one after another, the disk bounded.

    nox -s matrix -- [--variants cuda124 cuda126-pypi cpu] [--base-image IMG]
    python benchmarks/matrix_run.py [the same options]       # what the session runs, in its virtualenv

Which images: of each CUDA row, every source whose index is PyPI (the row's own, `--source` ones); and each
CPU row from a wheelhouse made with the host's pip, as scripts/main.sh does (its index is not PyPI). The matrix
says which: no variant is named here. Each is `ptkit check ... --flavor runtime` with its committed lock
(locks/IMAGE.txt), and its images are removed before the next (its tags, then the `ptkit.stage` cache images),
so the disk holds one variant at a time. docs/evidence/matrix/ gets each image's report (with its size and
build time in the `image` block) and RUN.md: the command, the date, per image the time and size, the peak
disk use (sampled every few seconds) and the total time. Exit 1 when any image failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ptkit import matrix
from ptkit.cli import OneLineParser
from ptkit.errors import PtkitError
from ptkit.inputs import PYPI_SIMPLE
from ptkit.report_commands import LAST_MATRIX_RUN

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / LAST_MATRIX_RUN
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DOCKER_ROOT = Path("/var/lib/docker")
PTKIT = [sys.executable, "-m", "ptkit"]


@dataclass(frozen=True)
class Job:
    variant: matrix.Variant  # the row with this job's source applied
    source: str | None  # --source; None for the row's own
    wheelhouse: Path | None  # built from this wheelhouse (made first), else from the index

    @property
    def name(self) -> str:
        return self.variant.image_name

    @property
    def lock(self) -> Path:
        """Its committed lock (locks/IMAGE.txt; it may not exist)."""
        return ROOT / "locks" / f"{self.name}.txt"


def jobs(m: matrix.Matrix, only: Sequence[str] = ()) -> list[Job]:
    """The PyPI-served images of the matrix (and its CPU rows), in matrix order; `only`: these image names."""
    out = []
    for row in m.variants.values():
        for source in row.sources:
            v = row.from_source(source)
            from_pypi = v.index_url.rstrip("/") == PYPI_SIMPLE
            if (row.is_cuda and from_pypi) or (not row.is_cuda and source == row.source):
                wheelhouse = None if from_pypi else ROOT / ".cache" / "wheelhouse" / v.image_name
                out.append(Job(v, None if source == row.source else source, wheelhouse))
    if unknown := sorted(set(only) - {j.name for j in out}):
        raise PtkitError(f"--variants {' '.join(unknown)}: not a PyPI-served image of the matrix; "
                         f"these are: {' '.join(j.name for j in out)}")
    return [j for j in out if not only or j.name in only]


def commands(job: Job, base_image: str, reports: Path) -> list[list[str]]:
    """The ptkit commands of one job: its wheelhouse when it needs one, then the check."""
    lock_args = ["--lock", str(job.lock)] if job.lock.is_file() else []
    source = ["--source", job.source] if job.source else []
    check = [*PTKIT, "check", job.variant.name, *source, "--flavor", "runtime", "--base-image", base_image,
             *lock_args, *(["--ca-bundle", str(CA_BUNDLE)] if CA_BUNDLE.is_file() else []), "--reports", str(reports)]
    if job.wheelhouse is None:
        return [check]
    wheelhouse = [*PTKIT, "wheelhouse", job.variant.name, *source, str(job.wheelhouse), *lock_args]
    return [wheelhouse, [*check, "--wheelhouse", str(job.wheelhouse)]]


def prune(job: Job) -> None:
    """Remove the job's images (every tag: found by their labels) and the dangling build-stage images."""
    labels = ["--filter", f"label=ptkit.variant={job.variant.name}",
              "--filter", f"label=ptkit.source={job.variant.source}"]
    ids = subprocess.run(["docker", "image", "ls", "-q", *labels], capture_output=True, text=True).stdout.split()
    if ids:
        subprocess.run(["docker", "image", "rm", "-f", *sorted(set(ids))], capture_output=True)
    prune_stages()


def prune_stages() -> None:
    """Remove the dangling build-stage images (a CUDA builder stage holds another copy of the wheels: 9 GB)."""
    subprocess.run(["docker", "image", "prune", "-f", "--filter", "label=ptkit.stage"], capture_output=True)


class DiskPeak:
    """The most disk in use under `path` while the block runs, sampled every `every` seconds in a thread."""

    def __init__(self, path: Path, every: float = 5.0) -> None:
        self.path = path if path.exists() else Path("/")
        self.every = every
        self.start = self.peak = shutil.disk_usage(self.path).used
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, shutil.disk_usage(self.path).used)
            if self._stop.wait(self.every):
                return

    def __enter__(self) -> DiskPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_job(job: Job, base_image: str, reports: Path) -> dict[str, object]:
    """Run one job's commands (output streams through), prune; its row of RUN.md."""
    start, status = time.monotonic(), "ok"
    for cmd in commands(job, base_image, reports):
        print(f"$ {shlex.join(cmd)}", file=sys.stderr, flush=True)
        if (code := subprocess.run(cmd, cwd=ROOT).returncode) != 0:
            status = f"failed (exit {code})"
            break
    report = reports / f"{job.name}-runtime.json"
    image = {}
    if status == "ok" and report.is_file():
        image = json.loads(report.read_text()).get("image") or {}
    prune(job)
    return {"image": job.name, "status": status, "seconds": round(time.monotonic() - start, 1),
            "build_seconds": image.get("build_seconds"), "size_bytes": image.get("size_bytes")}


def run_md(command: str, started: dt.datetime, rows: list[dict[str, object]], disk: DiskPeak,
           total_s: float) -> str:
    """docs/evidence/matrix/RUN.md."""
    def gb(n: object) -> str:
        return f"{int(n) / 1e9:.2f} GB" if isinstance(n, int) else "-"

    lines = [
        "# The PyPI-served matrix, built and verified on one host", "",
        f"Command: `{command}`  ", f"Date: {started:%Y-%m-%d %H:%M} UTC  ",
        f"Total time: {total_s / 60:.1f} min  ",
        f"Peak disk use (the file system holding {disk.path}): {gb(disk.peak)} ({gb(disk.peak - disk.start)} "
        f"above the {gb(disk.start)} in use at the start; each image's images are removed before the next)", "",
        "| image | result | wall time (wheelhouse, build, verify, prune) | build time | image size |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        build_s = f"{r['build_seconds']} s" if r["build_seconds"] is not None else "-"
        lines.append(f"| {r['image']} | {r['status']} | {r['seconds']} s | {build_s} | {gb(r['size_bytes'])} |")
    lines += ["", "Reports: `<image>-runtime.json` here (their `image` block: size and build time)."]
    return "\n".join(lines) + "\n"


def parse_jobs(parser: argparse.ArgumentParser, argv: list[str] | None,
               reports_help: str) -> tuple[argparse.Namespace, list[Job]]:
    """Add --variants and --reports, parse, and select the jobs; an unknown image is a usage error (exit 2)."""
    parser.add_argument("--variants", nargs="+", default=[], metavar="IMAGE", help="only these (e.g. cuda126-pypi)")
    parser.add_argument("--reports", type=Path, default=REPORTS, metavar="DIR", help=reports_help)
    args = parser.parse_args(argv)
    try:
        return args, jobs(matrix.load(ROOT / "matrix.toml"), args.variants)
    except PtkitError as exc:
        parser.exit(2, f"{Path(parser.prog).stem}: {exc}\n")


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="matrix_run", description=__doc__.splitlines()[0])
    parser.add_argument("--base-image", metavar="IMG", help="default: the local base (`ptkit base --if-missing`)")
    args, todo = parse_jobs(parser, argv, "reports and RUN.md")
    base = args.base_image or subprocess.run([*PTKIT, "base", "--if-missing"], capture_output=True, text=True,
                                             check=True).stdout.strip()
    args.reports.mkdir(parents=True, exist_ok=True)
    started, clock = dt.datetime.now(dt.timezone.utc), time.monotonic()
    with DiskPeak(DOCKER_ROOT) as disk:
        rows = [run_job(job, base, args.reports) for job in todo]
    command = shlex.join(["nox", "-s", "matrix", "--", *(argv if argv is not None else sys.argv[1:])])
    (args.reports / "RUN.md").write_text(run_md(command, started, rows, disk, time.monotonic() - clock))
    print(f"wrote {args.reports / 'RUN.md'}", file=sys.stderr)
    return 1 if any(r["status"] != "ok" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
