"""uv against pip in the builder stage: --no-cache builds of ptkit:cuda130, timed whole and step by step.

Used by benchmarks/image_figures.py (--cuda-wheelhouse DIR). The installer changes one step of the
build, the install of the lock's wheels; every other step (the context, copying the wheelhouse in,
copying the venv out, apt, the manifests) is the same work for both, so the install step's own uv/pip
ratio bounds the build's from below.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from matrix_run import prune_stages  # benchmarks/matrix_run.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
STEP = re.compile(r"\[\d+/\d+\] (.+?)\s+\(([\d.]+) s\)$")


def build_steps(progress: str) -> list[tuple[str, float]]:
    """The steps in ptkit build's progress lines ("[20/56] RUN ...  (1.7 s)"), slowest first."""
    found = (STEP.search(line.strip()) for line in progress.splitlines())
    return sorted(((m[1][:60], float(m[2])) for m in found if m), key=lambda step: -step[1])


def install_step() -> str:
    """The install step as build_steps names it: docker/Dockerfile's RUN that calls `uv pip install`, its
    backslash-newlines joined as the classic builder prints it, cut to build_steps' 60 characters."""
    text = (ROOT / "docker" / "Dockerfile").read_text().replace("\\\n", "")
    return next(line for line in text.splitlines() if line.startswith("RUN ") and "uv pip install" in line)[:60]


def installer_builds(base: str, wheelhouse: str, rounds: int) -> dict[str, Any]:
    """Wall seconds of --no-cache builds of ptkit:cuda130 from the wheelhouse and its lock, pip then uv, `rounds`
    times (alternating, so a change in the host's speed hits both); the install step's share of each (ptkit
    build's progress on stderr), as the installer changes that step only; each build's slowest steps."""
    build = [sys.executable, "-m", "ptkit", "build", "cuda130", "--no-cache", "--base-image", base,
             "--wheelhouse", wheelhouse, "--lock", str(ROOT / "locks" / "cuda130.txt")]
    step = install_step()
    slowest: dict[str, list[tuple[str, float]]] = {}
    samples: dict[str, list[tuple[float, float]]] = {"pip": [], "uv": []}  # (build s, install step s)
    for _ in range(rounds):
        for installer in samples:
            start = time.monotonic()
            proc = subprocess.run([*build, "--installer", installer], cwd=ROOT, capture_output=True, text=True)
            seconds = time.monotonic() - start
            prune_stages()  # the disk holds one build's stages at a time
            if proc.returncode != 0:
                sys.exit(f"failed: --installer {installer}\n{proc.stderr[-2000:]}")
            steps = build_steps(proc.stderr)
            if not (install := sum(s for name, s in steps if name == step)):
                sys.exit(f"the install step ({step!r}) is not in the progress of the --installer {installer} build")
            samples[installer].append((seconds, install))
            slowest[installer] = steps[:4]
    median = {k: (statistics.median(b for b, _ in v), statistics.median(i for _, i in v)) for k, v in samples.items()}
    (pip_s, pip_install), (uv_s, uv_install) = median["pip"], median["uv"]
    return {"cuda130_no_cache_build_pip_s": round(pip_s, 1), "cuda130_no_cache_build_uv_s": round(uv_s, 1),
            "cuda130_install_step_pip_s": round(pip_install, 1), "cuda130_install_step_uv_s": round(uv_install, 1),
            "cuda130_install_step_ratio": round(uv_install / pip_install, 2), "cuda130_rounds": rounds,
            "cuda130_samples_s": samples, "cuda130_slowest_steps": slowest,
            "cuda130_no_cache_build_s": round(uv_s, 1), "cuda130_uv_pip_ratio": round(uv_s / pip_s, 2)}


def print_installers(figures: dict[str, Any]) -> None:
    if "cuda130_no_cache_build_s" not in figures:
        return
    print(f"ptkit:cuda130 build (--no-cache)    : {figures['cuda130_no_cache_build_s']:.1f} s")
    pip_s, uv_s = figures["cuda130_no_cache_build_pip_s"], figures["cuda130_no_cache_build_uv_s"]
    rounds = figures["cuda130_rounds"]
    print(f"    with pip {pip_s:.1f} s, with uv {uv_s:.1f} s (medians of {rounds} each, alternating): "
          f"uv/pip {figures['cuda130_uv_pip_ratio']:.2f} (goal <= 0.6)")
    pip_i, uv_i = figures["cuda130_install_step_pip_s"], figures["cuda130_install_step_uv_s"]
    print(f"    the install step (unpack, byte-compile, commit): pip {pip_i:.1f} s, uv {uv_i:.1f} s: "
          f"uv/pip {figures['cuda130_install_step_ratio']:.2f}")
    print(f"    every other step: pip {pip_s - pip_i:.1f} s, uv {uv_s - uv_i:.1f} s (the installer changes only "
          "the install step: the build's ratio cannot go below that step's)")
    for installer, steps in figures["cuda130_slowest_steps"].items():
        print(f"    slowest steps with {installer}: " + "; ".join(f"{step} {s:.0f} s" for step, s in steps))
