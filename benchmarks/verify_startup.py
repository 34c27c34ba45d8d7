"""How long `ptkit verify --quick` takes next to `import torch` and `python -m torch.utils.collect_env`.

Goals (issue 7): verify --quick / import torch <= 1.25 and verify --quick / collect_env <= 0.95.
The three commands run ALTERNATING (A, B, C, A, B, C, ...) so that a host whose speed drifts (shared VMs
vary up to 3x within an hour) slows all three alike; the ratios of the medians are the figures to quote.

    python benchmarks/verify_startup.py --image ptkit:cpu      # docker run --rm, one container per run
    python benchmarks/verify_startup.py --native               # this Python, no Docker

Exit status: 0 both goals met, 1 a ratio misses its goal, 2 usage error or a command that fails.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from ptkit.cli import OneLineParser

GOALS = {"verify/import": 1.25, "verify/collect_env": 0.95}
LABELS = ("verify --quick", "import torch", "collect_env")


def commands(image: str | None) -> list[list[str]]:
    """The three commands, in LABELS order: in a throwaway container of `image`, or with this Python."""
    if image is None:
        py = [sys.executable]
        return [[*py, "-m", "ptkit", "verify", "--quick"], [*py, "-c", "import torch"],
                [*py, "-m", "torch.utils.collect_env"]]
    run = ["docker", "run", "--rm"]
    return [[*run, image, "verify", "--quick"], [*run, "--entrypoint", "python", image, "-c", "import torch"],
            [*run, "--entrypoint", "python", image, "-m", "torch.utils.collect_env"]]


def wall(command: list[str]) -> float:
    """Seconds one run takes; a command that fails ends the measurement (its figure would mean nothing)."""
    start = time.perf_counter()
    proc = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(f"verify_startup: {' '.join(command)} exited {proc.returncode}: {last}")
    return seconds


def measure(cmds: list[list[str]], repeats: int) -> list[list[float]]:
    """One warm-up round (page cache, image layers), then `repeats` alternating rounds."""
    for command in cmds:
        wall(command)
    times: list[list[float]] = [[] for _ in cmds]
    for _ in range(repeats):
        for series, command in zip(times, cmds):  # noqa: B905 - equal lengths by construction
            series.append(wall(command))
    return times


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="ptkit:cpu", help="image to run (default: ptkit:cpu)")
    parser.add_argument("--native", action="store_true", help="run the commands with this Python, no Docker")
    parser.add_argument("--repeats", type=positive_int, default=7, help="runs of each command (default: 7)")
    args = parser.parse_args(argv)
    where = "natively (" + sys.executable + ")" if args.native else f"in containers of {args.image}"
    print(f"{args.repeats} alternating runs of each command {where}")
    times = measure(commands(None if args.native else args.image), args.repeats)
    medians = [statistics.median(series) for series in times]
    for label, median, series in zip(LABELS, medians, times):  # noqa: B905
        print(f"{label:15} median {median:7.3f} s  (min {min(series):.3f}, max {max(series):.3f})")
    ratios = {"verify/import": medians[0] / medians[1], "verify/collect_env": medians[0] / medians[2]}
    missed = [name for name, ratio in ratios.items() if ratio > GOALS[name]]
    for name, ratio in ratios.items():
        verdict = "MISSED" if name in missed else "ok"
        print(f"{name:19} {ratio:.3f}  (goal <= {GOALS[name]}: {verdict})")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
