"""scripts/gpu_arch_probe.py and scripts/gpu-evidence.sh without a GPU: what they predict, the kernels they
would launch (real nvcc output, read with the real cuobjdump), and that here they say they proved nothing.
No GPU figure comes from these tests: the probe's outcomes exist only where a GPU ran it."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ptkit import fatbin

ROOT = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("gpu_arch_probe", ROOT / "scripts" / "gpu_arch_probe.py")
probe = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(probe)


@pytest.mark.parametrize(("arch", "capability", "driver", "expected"), [
    ("sm_86", (8, 9), 13050, probe.RUNS),        # same major, earlier minor
    ("sm_89", (8, 6), 13050, probe.REFUSED),     # a later minor never runs on an earlier one
    ("sm_90a", (9, 0), 13050, probe.RUNS),
    ("sm_100a", (10, 3), 13050, probe.REFUSED),  # arch-specific: exactly 10.0
    ("sm_100f", (10, 3), 13050, probe.RUNS),     # family-specific: 10.0 and 10.3
    ("sm_87", (8, 9), 13050, probe.REFUSED),     # Orin's SASS is Orin's alone
    ("compute_90", (12, 0), 13050, probe.RUNS),  # PTX JIT onto a later major ...
    ("compute_90", (12, 0), 13000, probe.REFUSED),  # ... only by a driver of the PTX's release (13.5)
    ("compute_120", (9, 0), 13050, probe.REFUSED),
    ("sm_86", (8, 9), 12080, probe.UNKNOWN),     # a CUDA 13 cubin under a 12.x driver: no promise either way
])
def test_the_prediction_is_the_rule_with_the_driver(arch, capability, driver, expected):
    assert probe.predict(arch, capability, driver) == expected


def test_every_probe_kernel_names_its_arch_and_the_ptx_its_toolkit():
    files = sorted(p for p in probe.ARCHS.iterdir() if p.suffix in (".cubin", ".ptx"))
    assert len(files) >= 15
    for path in files:
        assert probe.predict(probe.arch_of(path), (8, 0), 13050) != probe.UNKNOWN, path.name
    for path in (p for p in files if p.suffix == ".ptx"):
        assert "Cuda compilation tools, release {}.{},".format(*probe.TOOLKIT) in path.read_text()


def test_the_cubins_hold_the_sass_their_names_say():
    try:
        fatbin.find_cuobjdump()
    except fatbin.FatbinError:
        pytest.skip("no cuobjdump: pip install nvidia-cuda-cuobjdump")
    for path in sorted(probe.ARCHS.glob("*.cubin")):
        arch = probe.arch_of(path)
        listed = fatbin.list_library(path)
        # cuobjdump 13.5 lists a family-specific cubin under its plain name (tests/data/fatbin/README.md)
        assert listed == {arch.removesuffix("f"): 1}, path.name


def test_the_report_lines_mark_each_disagreement():
    devices = [{"index": 0, "name": "stand-in", "capability": "8.9", "probes": [
        {"file": "add_one.sm_86.cubin", "predicted": "runs", "outcome": "runs", "agree": True},
        {"file": "add_one.sm_89.cubin", "predicted": "runs", "outcome": "CUDA_ERROR_NO_BINARY_FOR_GPU",
         "agree": False}]}]
    lines = probe.render(devices, [], 13050)
    assert lines[0].startswith("CUDA driver API version 13.5")
    assert lines[2].startswith("  ok  add_one.sm_86.cubin") and lines[3].startswith("  BAD add_one.sm_89.cubin")


def test_without_a_driver_it_proves_nothing_and_says_so():
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_arch_probe.py")], capture_output=True,
                          text=True, env=env, timeout=60, check=False)
    if proc.returncode != 2:
        pytest.skip("this host has a CUDA driver: the probe ran for real")
    assert proc.stdout == "" and proc.stderr.count("\n") == 1 and "nothing proven" in proc.stderr


def test_the_evidence_script_runs_the_probe_and_keeps_its_report():
    script = (ROOT / "scripts" / "gpu-evidence.sh").read_text()
    assert 'scripts/gpu_arch_probe.py --report "$out/arch-probe.json"' in script
    assert subprocess.run(["bash", "-n", str(ROOT / "scripts" / "gpu-evidence.sh")], check=False).returncode == 0
