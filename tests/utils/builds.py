"""Images and wheelhouses built here, once per session each, through the commands a user runs
(`ptkit wheelhouse`, `nox -s VARIANT`), plus the image under test that the Docker tests share."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptkit.matrix import Variant

from .docker_helpers import BASE_IMAGE, skip_without_disk
from .matrix_facts import lock_path
from .ptkit_cli import ROOT, record_evidence, run_ptkit

HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")  # passed as --ca-bundle; it must not reach an image
NOX = [sys.executable, "-m", "nox"]
CUDA_ROW_PEAK_GB = 36  # a CUDA row, two flavors built and normalized: 33.1 GB above the start (cuda130)


@dataclass(frozen=True)
class ImageUnderTest:
    """The image the container tests run against: given with --image, or built here by its nox session."""

    tag: str
    variant: Variant
    report: dict[str, Any] | None = None  # reports/VARIANT.json of the session that built it; None with --image
    built: bool = False
    output: str = ""  # the session's stdout and stderr, when built here


def run_variant_session(api: Any, variant: str, options: list[str], created_images: list[str],
                        timeout: int) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """`nox -s VARIANT -- OPTIONS` as a user runs it; every tag of the images it built (both flavors) is
    removed at the end. Returns the devel flavor's report (reports/VARIANT.json)."""
    reports = [ROOT / "reports" / f"{variant}{suffix}.json" for suffix in ("", "-runtime")]
    for report in reports:
        report.unlink(missing_ok=True)
    proc = subprocess.run([*NOX, "-s", variant, "--", *options], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
    record_evidence(proc.stdout + proc.stderr)
    data = created_by(api, reports, created_images)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc, data[0]


def created_by(api: Any, reports: list[Path], created_images: list[str]) -> list[dict[str, Any]]:
    """The reports ({} where missing); every tag of the images they ran in is added to `created_images`
    (a build tags its image several times: name, content and dated tags)."""
    data = [json.loads(r.read_text()) if r.exists() else {} for r in reports]
    for report in data:
        if image_id := report.get("run", {}).get("image_id"):
            created_images.extend(api.images.get(image_id).tags)
    return data


class Builds:
    """One wheelhouse and one image per variant and session; `base_image` must exist already."""

    def __init__(self, api: Any, created_images: list[str], base_image: str = BASE_IMAGE) -> None:
        self.api, self.created_images, self.base_image = api, created_images, base_image
        self._wheelhouses: dict[str, Path] = {}
        self._images: dict[str, ImageUnderTest] = {}

    def wheelhouse(self, v: Variant) -> Path:
        """.cache/wheelhouse/VARIANT (scripts/main.sh's folder), holding exactly the committed lock's wheels."""
        if v.name not in self._wheelhouses:
            dest = ROOT / ".cache" / "wheelhouse" / v.name
            lock = ["--lock", str(lock_path(v))] if lock_path(v).is_file() else []
            proc = run_ptkit("wheelhouse", v.name, str(dest), *lock, timeout=3600)
            assert proc.returncode == 0, proc.stderr
            self._wheelhouses[v.name] = dest
        return self._wheelhouses[v.name]

    def options(self, v: Variant, lock: bool = True) -> list[str]:
        """`ptkit build/check` options of an offline build here: local base, wheelhouse, host CA bundle, lock."""
        locked = lock and lock_path(v).is_file()
        return ["--base-image", self.base_image, "--wheelhouse", str(self.wheelhouse(v)), "--ca-bundle", str(HOST_CA),
                *(["--lock", str(lock_path(v))] if locked else [])]

    def image(self, v: Variant) -> ImageUnderTest:
        """`nox -s VARIANT`, the main job, run for real once per session."""
        if v.name not in self._images:
            if v.is_cuda:  # benchmarks/reproducibility.py measured the peak on cuda130 (its wheelhouse made before)
                skip_without_disk(self.api, CUDA_ROW_PEAK_GB, f"building {v.name} (both flavors)")
            timeout = 3600 if v.is_cuda else 1800
            proc, report = run_variant_session(self.api, v.name, self.options(v), self.created_images, timeout)
            self._images[v.name] = ImageUnderTest(f"ptkit:{v.name}", v, report, built=True,
                                                  output=proc.stdout + proc.stderr)
        return self._images[v.name]
