"""uv against pip in the builder stage: --no-cache builds of ptkit:cuda130, timed whole and in parts.

Used by benchmarks/image_figures.py (--cuda-wheelhouse DIR). The installer changes two steps of the
build: setting up the installer (uv's wheel; nothing for pip) and installing the lock's wheels. Every
other step (the context, copying the wheelhouse in, copying the venv out, apt, the manifests) is the
same work for both, so the ratio of those two steps bounds the build's ratio from below. Inside the
install step, the installer's own time (the build's `ptkit-note` line) leaves out the layer commit.
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
NOTE = re.compile(r"^\s*(uv|pip) installed the wheels in (\d+) ms$", re.MULTILINE)
PARTS = ("build", "installer_steps", "installer")  # what each build's sample holds, in seconds


def build_steps(progress: str) -> list[tuple[str, float]]:
    """The steps in ptkit build's progress lines ("[20/56] RUN ...  (1.7 s)"), slowest first."""
    found = (STEP.search(line.strip()) for line in progress.splitlines())
    return sorted(((m[1][:60], float(m[2])) for m in found if m), key=lambda step: -step[1])


def installer_steps() -> list[str]:
    """The steps that differ between installers, as build_steps names them: docker/Dockerfile's RUNs that use
    /opt/uv, their backslash-newlines joined as the classic builder prints them, cut to 60 characters."""
    text = (ROOT / "docker" / "Dockerfile").read_text().replace("\\\n", "")
    return [line[:60] for line in text.splitlines() if line.startswith("RUN ") and "/opt/uv" in line]


def sample(progress: str, steps: list[tuple[str, float]], names: list[str], seconds: float,
           installer: str) -> dict[str, float]:
    """One build's parts: its wall time, the time of its steps named `names`, and the installer's own time."""
    notes = NOTE.findall(progress)
    installer_s = sum(s for name, s in steps if name in names)
    if not installer_s or [who for who, _ in notes] != [installer]:
        sys.exit(f"the --installer {installer} build's progress lacks its installer steps or its ptkit-note")
    return {"build": seconds, "installer_steps": installer_s, "installer": int(notes[0][1]) / 1000}


def installer_builds(base: str, wheelhouse: str, rounds: int) -> dict[str, Any]:
    """--no-cache builds of ptkit:cuda130 from the wheelhouse and its lock, pip then uv, `rounds` times
    (alternating, so a change in the host's speed hits both); the medians of each part, and their ratios."""
    build = [sys.executable, "-m", "ptkit", "build", "cuda130", "--no-cache", "--base-image", base,
             "--wheelhouse", wheelhouse, "--lock", str(ROOT / "locks" / "cuda130.txt")]
    names = installer_steps()
    slowest: dict[str, list[tuple[str, float]]] = {}
    samples: dict[str, list[dict[str, float]]] = {"pip": [], "uv": []}
    for _ in range(rounds):
        for installer in samples:
            start = time.monotonic()
            proc = subprocess.run([*build, "--installer", installer], cwd=ROOT, capture_output=True, text=True)
            seconds = time.monotonic() - start
            prune_stages()  # the disk holds one build's stages at a time
            if proc.returncode != 0:
                sys.exit(f"failed: --installer {installer}\n{proc.stderr[-2000:]}")
            steps = build_steps(proc.stderr)
            samples[installer].append(sample(proc.stderr, steps, names, seconds, installer))
            slowest[installer] = steps[:4]
    medians = {who: {part: round(statistics.median(s[part] for s in runs), 1) for part in PARTS}
               for who, runs in samples.items()}
    ratios = {part: round(medians["uv"][part] / medians["pip"][part], 2) for part in PARTS}
    return {"cuda130_installers": {"rounds": rounds, "medians_s": medians, "uv_pip": ratios, "samples_s": samples,
                                   "slowest_steps": slowest},
            "cuda130_no_cache_build_s": medians["uv"]["build"], "cuda130_uv_pip_ratio": ratios["build"]}


def print_installers(figures: dict[str, Any]) -> None:
    if "cuda130_installers" not in figures:
        return
    f = figures["cuda130_installers"]
    pip, uv, ratio = f["medians_s"]["pip"], f["medians_s"]["uv"], f["uv_pip"]
    print(f"ptkit:cuda130 build (--no-cache)    : {uv['build']:.1f} s with uv")
    print(f"    with pip {pip['build']:.1f} s, with uv {uv['build']:.1f} s (medians of {f['rounds']} each, "
          f"alternating): uv/pip {ratio['build']:.2f} (goal <= 0.6)")
    print(f"    installer steps (setup, install, commit): pip {pip['installer_steps']:.1f} s, "
          f"uv {uv['installer_steps']:.1f} s: uv/pip {ratio['installer_steps']:.2f} (bounds the build's from below)")
    print(f"    the installer alone (no commit)     : pip {pip['installer']:.1f} s, uv {uv['installer']:.1f} s: "
          f"uv/pip {ratio['installer']:.2f}")
    print(f"    every other step                    : pip {pip['build'] - pip['installer_steps']:.1f} s, "
          f"uv {uv['build'] - uv['installer_steps']:.1f} s (the same work)")
    for installer, steps in f["slowest_steps"].items():
        print(f"    slowest steps with {installer}: " + "; ".join(f"{step} {s:.0f} s" for step, s in steps))
