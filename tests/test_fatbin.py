"""ptkit.fatbin and the pipeline step fatbin_image on real binaries: NVIDIA's cuobjdump (PyPI wheel) reading fatbins
nvcc made (tests/data/fatbin) and, where the wheel is on this disk, libtorch_cuda.so of torch 2.14.1+cu130."""

from __future__ import annotations

import glob
import io
import json
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from ptkit import fatbin, fatbin_image
from ptkit.verify.fatbin_check import PASS, compare

DATA = Path(__file__).parent / "data" / "fatbin"
EVIDENCE = Path(__file__).resolve().parents[1] / "docs" / "evidence" / "matrix"
WHEEL = os.environ.get("PTKIT_TEST_TORCH_WHEEL") or next(
    iter(sorted(glob.glob("/opt/pypi*/files/torch-2.14.1-cp311-cp311-manylinux_2_28_x86_64.whl"))), "")

try:
    CUOBJDUMP = fatbin.find_cuobjdump()
except fatbin.FatbinError:
    CUOBJDUMP = None
needs_cuobjdump = pytest.mark.skipif(CUOBJDUMP is None, reason="no cuobjdump: pip install nvidia-cuda-cuobjdump")


@needs_cuobjdump
def test_sass_and_ptx_of_a_real_fatbin():
    # plain.fatbin: nvcc -gencode for sm_80, sm_90 + compute_90 PTX, and family sm_120f (listed as sm_120).
    assert fatbin.list_library(DATA / "plain.fatbin") == {"sm_80": 1, "sm_90": 1, "sm_120": 1, "compute_90": 1}
    assert fatbin.list_library(DATA / "suffixed.fatbin") == {"sm_90a": 1, "sm_100": 1, "compute_90a": 1,
                                                             "compute_100f": 1}


@needs_cuobjdump
def test_a_library_without_device_code_has_an_empty_listing(torch):
    assert fatbin.list_library(Path(torch.__file__).parent / "lib" / "libc10.so") == {}


@needs_cuobjdump
def test_a_broken_fatbin_is_one_clear_error_and_text_holds_no_device_code(tmp_path):
    broken = tmp_path / "broken.fatbin"
    broken.write_bytes((DATA / "plain.fatbin").read_bytes()[:64])
    with pytest.raises(fatbin.FatbinError, match=r"cuobjdump could not read .*broken\.fatbin: .*Invalid fatbin header"):
        fatbin.list_library(broken)
    text = tmp_path / "text.so"
    text.write_text("not an ELF file\n")
    assert fatbin.list_library(text) == {}


@needs_cuobjdump
def test_the_next_cuobjdump_reads_what_the_first_cannot(tmp_path, monkeypatch):
    # a stand-in for CUDA 13's cuobjdump on torch 2.4.1+cu121's libtorch_cuda.so (900 MB): it lists nothing and
    # says what that one says; the real cuobjdump after it reads the file
    old = tmp_path / "cuobjdump-13"
    old.write_text("#!/bin/sh\necho \"cuobjdump fatal   : Invalid ELF in '$3'\" >&2\nexit 255\n")
    old.chmod(0o755)
    monkeypatch.setenv(fatbin.CUOBJDUMP_ENV, os.pathsep.join([str(old), str(CUOBJDUMP)]))
    assert fatbin.find_cuobjdumps() == [old, CUOBJDUMP]
    assert fatbin.list_library(DATA / "plain.fatbin") == {"sm_80": 1, "sm_90": 1, "sm_120": 1, "compute_90": 1}
    monkeypatch.setenv(fatbin.CUOBJDUMP_ENV, os.pathsep.join([str(old), str(old)]))  # one tool, tried once
    with pytest.raises(fatbin.FatbinError) as error:
        fatbin.list_library(DATA / "plain.fatbin")
    said = "cuobjdump fatal   : Invalid ELF in 'plain.fatbin'"  # the library named, not its temporary path
    assert str(error.value) == f"cuobjdump could not read plain.fatbin: {said} ({old})"


def test_a_missing_cuobjdump_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv(fatbin.CUOBJDUMP_ENV, str(tmp_path / "cuobjdump"))
    with pytest.raises(fatbin.FatbinError, match="pip install nvidia-cuda-cuobjdump"):
        fatbin.list_library(DATA / "plain.fatbin")


@needs_cuobjdump
@pytest.mark.skipif(not WHEEL, reason="the torch 2.14.1 cu130 wheel is not on this disk (PTKIT_TEST_TORCH_WHEEL)")
@pytest.mark.timeout(300)
def test_libtorch_cuda_of_the_cu130_wheel_agrees_with_its_reported_arch_list(tmp_path):
    with zipfile.ZipFile(WHEEL) as wheel:
        library = Path(wheel.extract("torch/lib/libtorch_cuda.so", tmp_path))
    listing = fatbin.list_library(library)
    arch_list = json.loads((EVIDENCE / "cuda130-runtime.json").read_text())["environment"]["build"]["arch_list"]
    assert compare(arch_list, listing)[0] == PASS
    assert all(not a.startswith("compute_") for a in listing)  # the cu130 build ships no PTX
    assert {"sm_75", "sm_120"} <= set(listing) and "sm_70" not in listing  # Volta dropped in CUDA 13


TORCHVISION = next(iter(sorted(glob.glob("/opt/pypi*/files/torchvision-0.29.1-cp311-cp311-manylinux_2_28_x86_64.whl"))),
                   "")


@needs_cuobjdump
@pytest.mark.skipif(not TORCHVISION, reason="the torchvision 0.29.1 wheel is not on this disk")
def test_torchvision_0_29_holds_ptx_beside_its_sass(tmp_path):
    with zipfile.ZipFile(TORCHVISION) as wheel:
        wheel.extract("torchvision/_C_stable.so", tmp_path)
    listings = fatbin.list_site(tmp_path)
    assert set(listings) == {"_C_stable.so"}
    assert listings["_C_stable.so"]["compute_120"] >= 1 and "sm_75" in listings["_C_stable.so"]


class Engine:
    """The Docker SDK's face that fatbin_image uses, serving files of a stand-in image from this disk: `files`
    maps an image path to a local file (no Docker engine here: that belongs to the Docker suite)."""

    def __init__(self, files: dict[str, Path]):
        self.files, self.removed = files, 0
        self.images = self
        self.containers = self
        self.labels: dict[str, str] = {}
        self.id = "sha256:stand-in"
        self.attrs = {"Os": "linux", "Architecture": "amd64"}  # as the engine records an x86_64 image

    def get(self, _ref):
        return self

    def create(self, *_args, **_kwargs):
        return self

    def get_archive(self, path):
        from docker.errors import NotFound

        if path not in self.files:
            raise NotFound(f"no {path}")
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            tar.add(self.files[path], arcname=Path(path).name)
        return iter([buffer.getvalue()]), {}

    def remove(self, force=False):
        self.removed += 1


def manifest_file(tmp_path: Path) -> Path:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"python": {"venv": "/opt/venv", "version": "3.11.2", "packages": {}}}))
    return path


@needs_cuobjdump
def test_the_step_lists_the_images_libraries_and_passes_them_with_the_known_rows(tmp_path):
    site = "/opt/venv/lib/python3.11/site-packages"
    engine = Engine({"/etc/ptkit/manifest.json": manifest_file(tmp_path),
                     f"{site}/torch/lib/libtorch_cuda.so": DATA / "plain.fatbin"})
    argv = fatbin_image.verify_args(engine, "ptkit:stand-in")
    assert argv[:2] == ["--fatbin", "libtorch_cuda.so=sm_80:1,sm_90:1,sm_120:1,compute_90:1"]
    rows = [argv[i + 1] for i, a in enumerate(argv) if a == "--arch-row"]
    assert rows[0].startswith("ptkit:cuda132-runtime (torch 2.15.0+cu132)=sm_75,")  # newest CUDA first
    assert not any("-arm64" in row for row in rows)  # an x86_64 image is never pointed at an arm64 build
    assert any(r.startswith("ptkit:cuda128-pypi-runtime (torch 2.10.0+cu128)=sm_70,") for r in rows)
    assert engine.removed == 4  # every container created was removed (manifest, torch, torchvision's two names)
    engine.attrs = {"Os": "linux", "Architecture": "arm64"}
    argv = fatbin_image.verify_args(engine, "ptkit:stand-in")
    arm_rows = [argv[i + 1] for i, a in enumerate(argv) if a == "--arch-row"]
    assert arm_rows and all("-arm64" in row for row in arm_rows), arm_rows


def test_a_cpu_image_without_a_manifest_gets_no_listing(tmp_path):
    assert fatbin_image.image_listing(Engine({}), "ptkit:other") == {}


def test_without_cuobjdump_the_step_says_so_and_passes_the_rows(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(fatbin.CUOBJDUMP_ENV, str(tmp_path / "cuobjdump"))
    engine = Engine({"/etc/ptkit/manifest.json": manifest_file(tmp_path),
                     "/opt/venv/lib/python3.11/site-packages/torch/lib/libtorch_cuda.so": DATA / "plain.fatbin"})
    argv = fatbin_image.verify_args(engine, "ptkit:x")
    assert "--fatbin" not in argv and "--arch-row" in argv
    assert capsys.readouterr().err.startswith("ptkit: no fatbin listing for ptkit:x: cuobjdump could not run")


@needs_cuobjdump
def test_the_module_prints_the_verifier_arguments_for_a_site(tmp_path, capsys):
    (tmp_path / "torch" / "lib").mkdir(parents=True)
    (tmp_path / "torch" / "lib" / "libtorch_cuda.so").write_bytes((DATA / "plain.fatbin").read_bytes())
    assert fatbin.main([str(tmp_path)]) == 0
    assert capsys.readouterr().out.split() == ["--fatbin", "libtorch_cuda.so=sm_80:1,sm_90:1,sm_120:1,compute_90:1"]


def test_the_module_refuses_a_bad_command_line_in_one_line(capsys):
    assert fatbin.main(["--list"]) == 2 and capsys.readouterr().err.count("\n") == 1


def test_a_cpu_torch_gets_no_arguments_at_all(tmp_path, capsys):
    (tmp_path / "torch" / "lib").mkdir(parents=True)  # a CPU build: no libtorch_cuda.so
    assert fatbin.main([str(tmp_path)]) == 0 and capsys.readouterr().out == ""
