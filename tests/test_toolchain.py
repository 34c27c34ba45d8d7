"""Which rows' devel images get nvcc, at which release, pinned by which lock (ptkit.toolchain), checked against
the committed matrix and locks: torch's cuda-toolkit pin decides the compiler's release."""

from __future__ import annotations

from pathlib import Path

import pytest

from ptkit import matrix, toolchain
from ptkit.errors import PtkitError
from ptkit.locks import lock_pins
from ptkit.verify.extension import compiler_requirement
from tests.utils.ptkit_cli import ROOT, run_ptkit

MATRIX = matrix.load(ROOT / "matrix.toml")
LOCKS = ROOT / "locks"


def lock_lines(path: Path) -> dict[str, str]:
    return {ln.split("==")[0]: ln for ln in path.read_text().splitlines() if "==" in ln and not ln.startswith("#")}


@pytest.mark.parametrize(("row", "has"), [("cpu", False), ("cuda118", False), ("cuda126", False),
                                          ("cuda128", False), ("cuda130", True), ("cuda132", True)])
def test_only_the_cuda_13_rows_get_a_compiler(row, has):
    variant = MATRIX.get(row, None)
    assert toolchain.has_compiler(variant) is has
    assert (toolchain.why_none(variant) == "") is has


def test_a_cuda_12_row_says_why_it_has_none():
    assert "no nvcc wheel before CUDA 13" in toolchain.why_none(MATRIX.get("cuda126", None))
    assert toolchain.why_none(MATRIX.get("cpu", None)) == "CPU row"


@pytest.mark.parametrize("row,image", [("cuda130", "cuda130"), ("cuda132", "cuda132"),
                                       ("cuda130", "cuda130-arm64"), ("cuda132", "cuda132-arm64")])
def test_the_committed_compiler_lock_is_torchs_cuda_release_and_shares_its_runtime_wheel(row, image):
    row_lock, compiler_lock = LOCKS / f"{image}.txt", LOCKS / f"{image}-nvcc.txt"
    assert toolchain.compiler_lock_path(row_lock) == compiler_lock
    row_lines, compiler_lines = lock_lines(row_lock), lock_lines(compiler_lock)
    # The same files (name, version and hash) as torch's own: the meta package and the CUDA runtime.
    for name in ("cuda-toolkit", "nvidia-cuda-runtime"):
        assert compiler_lines[name] == row_lines[name]
    pins = lock_pins(compiler_lock.read_text())
    assert {"nvidia-cuda-nvcc", "nvidia-cuda-crt", "nvidia-nvvm", "nvidia-cuda-cccl"} <= set(pins)
    release = MATRIX.get(row, None).cuda  # "13.0": nvcc's version starts with the row's CUDA release
    assert pins["nvidia-cuda-nvcc"].startswith(release + ".")
    assert all("--hash=sha256:" in line for line in compiler_lines.values())


@pytest.mark.parametrize("row", ["cuda130", "cuda132"])
def test_the_arm64_compiler_lock_pins_the_same_releases_as_other_files(row):
    amd, arm = (lock_lines(LOCKS / f"{image}-nvcc.txt") for image in (row, f"{row}-arm64"))
    assert lock_pins("\n".join(amd.values())) == lock_pins("\n".join(arm.values()))  # one CUDA release
    # nvcc is a native program: each machine has its own wheel, so its own hash (the meta package has one wheel)
    assert amd["nvidia-cuda-nvcc"] != arm["nvidia-cuda-nvcc"] and amd["cuda-toolkit"] == arm["cuda-toolkit"]


def test_ptkit_lock_compiler_for_arm64_remakes_the_committed_lock(tmp_path):
    """`ptkit lock cuda130 --compiler --platform linux/arm64`, resolved on PyPI for aarch64 (uv's target)."""
    out = tmp_path / "nvcc.txt"
    proc = run_ptkit("lock", "cuda130", "--compiler", "--platform", "linux/arm64", "-o", str(out), timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == (LOCKS / "cuda130-arm64-nvcc.txt").read_text()


def test_the_requirement_comes_from_torchs_requires_dist_line():
    # torch 2.14.1's METADATA line, as pip reads it.
    line = 'cuda-toolkit[cublas,cudart,cufft]==13.0.3; platform_system == "Linux"'
    assert compiler_requirement(["filelock", line]) == "cuda-toolkit[nvcc,cccl]==13.0.3"
    assert compiler_requirement(['nvidia-cuda-runtime-cu12==12.6.77; platform_system == "Linux"']) is None
    assert toolchain.requirement_from_lock((LOCKS / "cuda130.txt").read_text(), "x") == \
        "cuda-toolkit[nvcc,cccl]==13.0.3.0"
    with pytest.raises(PtkitError, match="pins no cuda-toolkit"):
        toolchain.requirement_from_lock((LOCKS / "cuda126-pypi.txt").read_text(), "locks/cuda126-pypi.txt")


def test_build_files_give_the_compiler_to_the_devel_flavor_of_cuda_13_only():
    cuda130, cpu = MATRIX.get("cuda130", None), MATRIX.get("cpu", None)
    row_lock = LOCKS / "cuda130.txt"
    assert toolchain.build_files(cuda130, "devel", row_lock) == ("nvcc", (LOCKS / "cuda130-nvcc.txt").read_bytes())
    assert toolchain.build_files(cuda130, "runtime", row_lock) == ("none", b"")
    assert toolchain.build_files(cpu, "devel", LOCKS / "cpu.txt") == ("none", b"")


def test_a_stale_compiler_lock_is_refused_and_a_missing_one_is_said(tmp_path, capsys):
    cuda130 = MATRIX.get("cuda130", None)
    row_lock = tmp_path / "cuda130.txt"
    row_lock.write_text((LOCKS / "cuda130.txt").read_text())
    assert toolchain.build_files(cuda130, "devel", row_lock) == ("nvcc", b"")
    assert "no compiler lock" in capsys.readouterr().err
    # cuda132's compiler lock beside cuda130's row lock: another cuda-toolkit release.
    (tmp_path / "cuda130-nvcc.txt").write_text((LOCKS / "cuda132-nvcc.txt").read_text())
    with pytest.raises(PtkitError, match=r"pins cuda-toolkit 13\.2\.2, .* pins 13\.0\.3\.0"):
        toolchain.build_files(cuda130, "devel", row_lock)


def test_lock_compiler_of_a_cuda_12_row_is_one_line_and_exit_1(tmp_path):
    out = tmp_path / "x.txt"
    proc = run_ptkit("lock", "cuda126", "--compiler", "-o", str(out))
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "no CUDA compiler wheels" in proc.stderr, proc.stderr
    assert not out.exists()
