"""The whole matrix on one host: each row and source as a user builds it, one after another, the disk bounded.

    nox -s matrix -- [--variants cuda124 cuda126-pypi cpu] [--base-image IMG]
    python benchmarks/matrix_run.py [the same options]       # what the session runs, in its virtualenv

Each image is `bash scripts/main.sh ROW [--source S] [--platform P]`, exactly what a user runs (the wheelhouse with
the committed lock, locks/IMAGE.txt; then `nox -s IMAGE`: both flavors, devel and runtime, built and verified in
containers), with PTKIT_BASE_IMAGE set to the base image on the default platform (another platform's is main.sh's
`ptkit base --platform P`). Which: of each CUDA row, every source whose index is PyPI (the row's own, `--source`
ones); of each CPU row, its own source (from its wheelhouse: the host's pip finds its wheel) and those from PyPI;
each on every platform the matrix builds it for (cuda130-arm64: emulated here, issue 21). Without --variants, every
other row and source follows, where main.sh must refuse in one line (exit 3: this host's pip cannot get the
wheels) before building. The matrix says which: no variant is named here. After each, the row's images are removed
(its tags, then the `ptkit.stage` cache images), so the disk holds one row at a time. docs/evidence/matrix/ gets
both reports of each image (devel: IMAGE.json, runtime: IMAGE-runtime.json; size and build time in their `image`
block) and RUN.md (benchmarks/matrix_run_md.py): the command and commit, the date, per row main.sh's command,
exit code and wall time and both flavors' result, build time and size, the peak disk use (sampled every few
seconds), the total time, and the README's table. Exit 1 when an image failed or a refusal was not main.sh's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ptkit import images, matrix
from ptkit.cli import OneLineParser
from ptkit.errors import PtkitError
from ptkit.inputs import PYPI_SIMPLE
from ptkit.platforms import DEFAULT_PLATFORM, Platform
from ptkit.report_commands import LAST_MATRIX_RUN

sys.path.insert(0, str(Path(__file__).resolve().parent))
from matrix_run_md import UNREACHABLE, header, run_md  # benchmarks/matrix_run_md.py, beside this script

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
    platform: Platform = DEFAULT_PLATFORM

    @property
    def name(self) -> str:
        return self.platform.named(self.variant.image_name)

    @property
    def lock(self) -> Path:
        """Its committed lock (locks/IMAGE.txt; it may not exist)."""
        return ROOT / "locks" / f"{self.name}.txt"


def jobs(m: matrix.Matrix, only: Sequence[str] = ()) -> list[Job]:
    """The PyPI-served images of the matrix (and its CPU rows), on each of their platforms, in matrix order;
    `only`: these image names."""
    out = []
    for row in m.variants.values():
        for source in row.sources:
            v = row.from_source(source)
            from_pypi = v.index_url.rstrip("/") == PYPI_SIMPLE
            if from_pypi or (not row.is_cuda and source == row.source):
                for platform in map(v.on, v.platforms):
                    wheelhouse = None if from_pypi else ROOT / ".cache" / "wheelhouse" / platform.named(v.image_name)
                    out.append(Job(v, None if source == row.source else source, wheelhouse, platform))
    if unknown := sorted(set(only) - {j.name for j in out}):
        raise PtkitError(f"--variants {' '.join(unknown)}: not a PyPI-served image of the matrix; "
                         f"these are: {' '.join(j.name for j in out)}")
    return [j for j in out if not only or j.name in only]


def command(job: Job) -> list[str]:
    """What a user runs for this row, source and platform (scripts/main.sh): the wheelhouse, then both flavors,
    verified."""
    source = [] if job.variant.default_source else ["--source", job.variant.source]
    platform = [] if job.platform == DEFAULT_PLATFORM else ["--platform", job.platform.name]
    return ["bash", "scripts/main.sh", job.variant.name, *source, *platform]


def others(m: matrix.Matrix, done: Sequence[Job]) -> list[Job]:
    """Every row and source not among the jobs (their index is not PyPI, on their first platform): main.sh must
    refuse each in one line."""
    names, jobs_of = {j.variant.image_name for j in done}, []
    for v in (v for row in m.variants.values() for v in map(row.from_source, row.sources)):
        if v.image_name not in names:
            jobs_of.append(Job(v, None if v.default_source else v.source, None, v.on(v.platforms[0])))
    return jobs_of


def prune(variant: matrix.Variant) -> None:
    """Remove the row's images (every tag: found by their labels) and the dangling build-stage images."""
    labels = ["--filter", f"label=ptkit.variant={variant.name}", "--filter", f"label=ptkit.source={variant.source}"]
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


def run(job: Job, base_image: str, reports: Path) -> dict[str, object]:
    """Run main.sh for one row, source and platform (its output streams through; its last stderr line is kept),
    copy the reports it wrote into `reports`, prune; its row of RUN.md. `base_image` is the default platform's."""
    cmd, start, clock = command(job), time.time(), time.monotonic()
    print(f"$ {shlex.join(cmd)}", file=sys.stderr, flush=True)
    base = {"PTKIT_BASE_IMAGE": base_image} if job.platform == DEFAULT_PLATFORM else {}
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True, env={**os.environ, **base})
    last = ""
    for line in proc.stderr or ():
        sys.stderr.write(line)
        last = line.strip() or last
    code = proc.wait()
    row: dict[str, object] = {"image": job.name, "command": shlex.join(cmd), "exit": code,
                              "seconds": round(time.monotonic() - clock, 1), "last_line": last}
    for flavor in images.FLAVORS:
        row[flavor] = collect(job, flavor, start, reports)
    prune(job.variant)
    return row


def collect(job: Job, flavor: str, since: float, reports: Path, written_in: Path = ROOT / "reports",
            ) -> dict[str, object] | None:
    """The flavor's report this run wrote in reports/ (main.sh's), copied into `reports`: its name, ok and image
    block."""
    provenance = images.Provenance("unknown", dt.datetime.now(dt.timezone.utc))
    name = images.Image(job.variant, provenance, flavor, job.platform).report_path(written_in).name
    written = written_in / name
    if not written.is_file() or written.stat().st_mtime < since:
        return None  # not built, or an older run's
    data = json.loads(written.read_text())
    if reports.resolve() != written.parent.resolve():
        shutil.copyfile(written, reports / name)
    return {"report": name, "ok": data.get("ok"), **(data.get("image") or {})}


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


def commit() -> str:
    """HEAD, '-dirty' when a tracked file differs from it (the images are then built from uncommitted sources)."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                           text=True).stdout.strip()
    return (head or "unknown") + ("-dirty" if dirty else "")


def disk_text(disk: DiskPeak) -> str:
    def gb(n: int) -> str:
        return f"{n / 1e9:.2f} GB"

    return (f"(the file system holding {disk.path}): {gb(disk.peak)} ({gb(disk.peak - disk.start)} above the "
            f"{gb(disk.start)} in use at the start; each row's images are removed before the next)")


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="matrix_run", description=__doc__.splitlines()[0])
    parser.add_argument("--base-image", metavar="IMG", help="default: the local base (`ptkit base --if-missing`)")
    args, todo = parse_jobs(parser, argv, "reports and RUN.md")
    # Without --variants, every other row and source too: main.sh must refuse each in one line (exit 3).
    rest = [] if args.variants else others(matrix.load(ROOT / "matrix.toml"), todo)
    base = args.base_image or subprocess.run([*PTKIT, "base", "--if-missing"], capture_output=True, text=True,
                                             check=True).stdout.strip()
    args.reports.mkdir(parents=True, exist_ok=True)
    started, clock, head = dt.datetime.now(dt.timezone.utc), time.monotonic(), commit()
    with DiskPeak(DOCKER_ROOT) as disk:
        rows = [run(job, base, args.reports) for job in [*todo, *rest]]
    command = shlex.join(["nox", "-s", "matrix", "--", *(argv if argv is not None else sys.argv[1:])])
    text = run_md(header(command, head, started, time.monotonic() - clock, disk_text(disk)), rows, args.reports)
    (args.reports / "RUN.md").write_text(text)
    print(f"wrote {args.reports / 'RUN.md'}", file=sys.stderr)
    failed = [r for r in rows[:len(todo)] if r["exit"] != 0] + [r for r in rows[len(todo):] if r["exit"] not in
                                                                  (0, UNREACHABLE)]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
