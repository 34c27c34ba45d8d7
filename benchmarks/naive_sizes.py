"""Each image of the last matrix run beside a naive single-stage image of the same pins (goal: every ratio below 1).

    python benchmarks/naive_sizes.py [--variants cuda124 cpu] [--base-image IMG] [--reports DIR]

The images are matrix_run's (the same jobs, locks and indexes). For each, benchmarks/naive.py's image without
compile support (Debian, Python from apt, `pip install --require-hashes` of locks/IMAGE.txt from the row's
index; cpu from its wheelhouse, as the matrix run builds it) is built, measured and removed, and its size is
printed beside the runtime image's size that the matrix run recorded (`image.size_bytes` in
DIR/IMAGE-runtime.json). Image sizes do not depend on the host's speed, so the two runs compare fairly.
Writes DIR/NAIVE.md. Exit 1 when a ratio is 1 or more, or a naive build fails.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import naive
from matrix_run import CA_BUNDLE, Job, parse_jobs

from ptkit.cli import OneLineParser
from ptkit.images import LOCAL_BASE
from ptkit.platforms import DEFAULT_PLATFORM


def recorded_bytes(job: Job, reports: Path) -> int | None:
    """The runtime image's size in the matrix run's report, if that run built it."""
    report = reports / f"{job.name}-runtime.json"
    if not report.is_file():
        return None
    return (json.loads(report.read_text()).get("image") or {}).get("size_bytes")


def measure(job: Job, base: str) -> float:
    ca = CA_BUNDLE if CA_BUNDLE.is_file() else None
    return naive.image_gb(job.name, base, job.lock, index_url=job.variant.index_url, wheelhouse=job.wheelhouse,
                          ca_bundle=ca)


def naive_md(command: str, rows: list[dict[str, object]]) -> str:
    lines = ["# ptkit's runtime images beside naive single-stage images of the same pins", "",
             f"Command: `{command}`  ",
             "ptkit: the runtime image's size recorded by the matrix run ([RUN.md](RUN.md)); naive: "
             "benchmarks/naive.py without compile support, its context layer not counted.", "",
             "| image | ptkit | naive | ptkit / naive |", "| --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['image']} | {r['ptkit']} | {r['naive']} | {r['ratio']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="naive_sizes", description=__doc__.splitlines()[0])
    parser.add_argument("--base-image", default=LOCAL_BASE, metavar="IMG")
    args, todo = parse_jobs(parser, argv, "the matrix run's reports")
    todo = [j for j in todo if j.platform == DEFAULT_PLATFORM]  # the naive build is this host's machine's only
    rows, worst = [], 0.0
    for job in todo:
        ptkit = recorded_bytes(job, args.reports)
        if ptkit is None:
            print(f"{job.name}: no size in {args.reports}: run `nox -s matrix` first", file=sys.stderr)
            continue
        try:
            naive_gb = measure(job, args.base_image)
        except subprocess.CalledProcessError as exc:
            print(f"{job.name}: the naive build failed: {exc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
            return 1
        ratio = ptkit / 1e9 / naive_gb
        worst = max(worst, ratio)
        rows.append({"image": job.name, "ptkit": f"{ptkit / 1e9:.2f} GB", "naive": f"{naive_gb:.2f} GB",
                     "ratio": f"{ratio:.2f}"})
        print(f"{job.name:14} ptkit {ptkit / 1e9:6.2f} GB  naive {naive_gb:6.2f} GB  ratio {ratio:.2f}", flush=True)
    command = shlex.join(["python", "benchmarks/naive_sizes.py", *(argv if argv is not None else sys.argv[1:])])
    (args.reports / "NAIVE.md").write_text(naive_md(command, rows))
    print(f"wrote {args.reports / 'NAIVE.md'}; every ratio below 1: {worst < 1}", file=sys.stderr)
    return 0 if rows and worst < 1 else 1


if __name__ == "__main__":
    sys.exit(main())
