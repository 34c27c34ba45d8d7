"""Synthetic reports for the report, fleet and browser tests, built from a real report (cuda130.json, a copy
of docs/evidence/cuda130-host-report.json). Everything GPU-side here is made up and says so: run.host names
a test node, figures are fractions of the datasheet peaks in ptkit.verify.facts.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from ptkit.verify.facts import gpu_peaks

DATA = Path(__file__).parents[1] / "data"
REPORTS = DATA / "reports"
H100 = "NVIDIA H100 80GB HBM3"


def real(variant: str) -> dict[str, Any]:
    return json.loads((REPORTS / f"{variant}.json").read_text())


def gpu_report(host: str, fraction: float = 0.8, device: str = H100, busbw: float | None = None,
               image: dict[str, float] | None = None, variant: str = "cuda130") -> dict[str, Any]:
    """A node's report: the real cuda130 report with one GPU, a matmul at `fraction` of its peak."""
    data = copy.deepcopy(real("cuda130"))
    peaks = gpu_peaks(device) or {}
    data["devices"] = [{"index": 0, "name": device, "capability": "9.0", "memory_gib": 79.1, "sm_count": 132}]
    data["environment"]["driver"] = "580.65.06"
    data["benchmarks"] = [
        {"device": "cuda:0", "device_name": device, "dtype": dtype, "n": n, "median_s": 1.0, "iqr_s": 0.0,
         "tflops": peak * fraction * n / 8192, "peak_tflops": peak, "fraction_of_peak": fraction * n / 8192,
         "status": "ok", "detail": ""}
        for dtype, peak in peaks.items() if dtype in ("fp32", "bf16") for n in (2048, 4096, 8192)]
    data["run"] = {**data["run"], "host": host, "variant": variant}
    if busbw is not None:
        data["distributed"] = {
            "world_size": 16, "backend": "nccl", "collective_timeout_s": 60.0,
            "ranks": [{"rank": 0, "local_rank": 0, "host": host, "ok": True, "failed": []}],
            "bandwidth": [{"bytes": size, "dtype": "bf16", "median_s": 1e-3, "algbw_gbps": busbw * size / 2**30 / 2,
                           "busbw_gbps": busbw * size / 2**30} for size in (2**28, 2**30)]}
    if image is not None:
        data["image"] = image
    return data


def write(directory: Path, name: str, data: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    path.write_text(json.dumps(data))
    return path
