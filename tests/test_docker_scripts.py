"""The scripts that run inside image builds (docker/), run here against real files and this torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.utils import matrix_facts
from tests.utils.ptkit_cli import ROOT

DOCKER = ROOT / "docker"
CPU = matrix_facts.default_variant()
CUDA = matrix_facts.cuda_variants()[-1]


def check_install(tmp_path, expected: dict) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "expected.json"
    path.write_text(json.dumps(expected))
    return subprocess.run([sys.executable, str(DOCKER / "check_install.py"), str(path)],
                          capture_output=True, text=True)


def test_install_check_passes_on_the_matrix_pins(torch, tmp_path):
    proc = check_install(tmp_path, {"variant": CPU.name, "packages": {"torch": torch.__version__}, "cuda": ""})
    assert proc.returncode == 0, proc.stderr
    assert "install check passed" in proc.stdout


def test_install_check_fails_when_a_cuda_variant_gets_a_cpu_torch(torch, tmp_path):
    proc = check_install(tmp_path, {"variant": CUDA.name, "packages": {"torch": torch.__version__}, "cuda": CUDA.cuda})
    assert proc.returncode == 1, proc.stdout
    assert f"torch {torch.__version__} is built for CPU only, variant needs CUDA {CUDA.cuda}" in proc.stderr


def test_install_check_fails_on_a_version_other_than_the_pin(torch, tmp_path):
    proc = check_install(tmp_path, {"variant": CPU.name, "packages": {"torch": "2.99.0", "torchvision": "0.1"},
                                    "cuda": ""})
    assert proc.returncode == 1, proc.stdout
    assert f"torch: matrix pins 2.99.0, installed {torch.__version__}" in proc.stderr
    assert "torchvision: matrix pins 0.1, installed nothing" in proc.stderr


def test_slim_hardlinks_identical_files_and_drops_build_only_ones(tmp_path):
    venv = tmp_path / "venv"
    site = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    (site / "torch" / "include").mkdir(parents=True)
    (site / "torch" / "include" / "ATen.h").write_text("x" * 1000)
    (site / "torch" / "lib").mkdir()
    (site / "torch" / "lib" / "libfoo.a").write_bytes(b"a" * 100)
    payload = os.urandom(100_000)
    copies = [site / "triton" / name for name in ("libcupti.so", "libcupti.so.13", "libcupti.so.2026")]
    copies[0].parent.mkdir()
    for path in copies:
        path.write_bytes(payload)
    other = site / "triton" / "libother.so"
    other.write_bytes(os.urandom(100_000))
    proc = subprocess.run([sys.executable, str(DOCKER / "slim.py"), str(venv)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert not (site / "torch" / "include").exists()
    assert not (site / "torch" / "lib" / "libfoo.a").exists()
    inodes = {p.stat().st_ino for p in copies}
    assert len(inodes) == 1, "identical files are one inode"
    assert all(p.read_bytes() == payload for p in copies)
    assert other.stat().st_ino not in inodes
    assert other.stat().st_nlink == 1
