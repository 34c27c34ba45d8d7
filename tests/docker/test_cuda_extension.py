"""A team image that compiles a CUDA extension from source, the way a team installs flash-attn: a small source
package with a CUDAExtension, in a wheelhouse beside the variant's wheels, installed by `ptkit build VARIANT
--extra-requirements ...` from that wheelhouse alone (the team's index cut off) and no GPU; the row's own layers
are reused, not rebuilt; the built image imports it (nvcc ran for the
devel image's default TORCH_CUDA_ARCH_LIST) and the verifier passes, compile:cuda-extension included.
The CUDA rows the Docker tests build ($PTKIT_TEST_CUDA, cuda130 in CI); a row whose devel image has no nvcc
(ptkit.toolchain.has_compiler: before CUDA 13) is skipped with the reason."""

from __future__ import annotations

import io
import os
import re
import tarfile
from pathlib import Path

import pytest

from ptkit import toolchain
from tests.utils import matrix_facts
from tests.utils.docker_helpers import TrackedContainer, skip_without_disk
from tests.utils.ptkit_cli import run_ptkit

docker = pytest.importorskip("docker")
pytestmark = [pytest.mark.docker, pytest.mark.slow]
DEAD_INDEX = "http://127.0.0.1:9/simple"  # nothing listens on the discard port: an index cut off

KERNEL = """#include <cuda_runtime.h>
__global__ void twice(const float* x, float* y, long n) {
  long i = blockIdx.x * (long)blockDim.x + threadIdx.x;
  if (i < n) y[i] = 2 * x[i];
}
void twice_launch(const float* x, float* y, long n) { twice<<<(unsigned)((n + 255) / 256), 256>>>(x, y, n); }
"""
BINDING = """#include <torch/extension.h>
void twice_launch(const float* x, float* y, long n);
torch::Tensor twice(torch::Tensor x) {
  auto y = torch::empty_like(x);
  twice_launch(x.data_ptr<float>(), y.data_ptr<float>(), x.numel());
  return y;
}
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("twice", &twice); }
"""
SETUP = """from setuptools import setup
from torch.utils.cpp_extension import BuildExtension, CUDAExtension
setup(name="ptkit-team-cuda", version="1.0",
      ext_modules=[CUDAExtension("ptkit_team_cuda", ["binding.cpp", "kernel.cu"])],
      cmdclass={"build_ext": BuildExtension.with_options(use_ninja=False)})
"""
# The module imports from the team layer; the devel image's CUDA_HOME and default arch list are set.
PROBE = ("import torch, ptkit_team_cuda as m; print(m.__file__); "
         "import os; print(os.environ['CUDA_HOME'], os.environ['TORCH_CUDA_ARCH_LIST'])")


def sdist(tmp_path, torch_pin: str) -> Path:
    """The team's source package as an sdist (PEP 625: NAME-VERSION.tar.gz holding NAME-VERSION/ with PKG-INFO);
    pip builds it in the image, isolated, with that torch. Packed here with tarfile: setuptools' own build_sdist
    would run setup.py, whose CUDAExtension needs a CUDA_HOME this host has not."""
    files = {"kernel.cu": KERNEL, "binding.cpp": BINDING, "setup.py": SETUP,
             "PKG-INFO": "Metadata-Version: 2.1\nName: ptkit-team-cuda\nVersion: 1.0\n",
             "pyproject.toml": f'[build-system]\nrequires = ["setuptools", "torch=={torch_pin}"]\n'
                               'build-backend = "setuptools.build_meta"\n'}
    found = tmp_path / "ptkit_team_cuda-1.0.tar.gz"
    with tarfile.open(found, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"ptkit_team_cuda-1.0/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return found


def build_id(output: str, tag: str) -> str:
    """The id the engine's build gave the image first tagged `tag` (build.py's "built ID in N s: TAGS" line),
    before normalize.py made its reproducible copy: a build step the layer cache reused keeps its id."""
    ids = [m.group(1) for m in re.finditer(r"^built (sha256:[0-9a-f]{12}) in [0-9.]+ s: ([^,\n]+)", output, re.M)
           if m.group(2) == tag]
    assert ids, f"no build of {tag} in the output"
    return ids[-1]


@pytest.mark.builds
@pytest.mark.parametrize("v", matrix_facts.cuda_under_test(), ids=lambda v: v.name)
def test_a_team_image_compiles_a_cuda_extension_from_source_offline(api, v, builds, tmp_path, child_images):
    if not toolchain.has_compiler(v):
        pytest.skip(f"{v.name}: no CUDA compiler in its devel image ({toolchain.why_none(v)})")
    row = builds.image(v)  # the row's own build (both flavors, verified) first: the team build reuses its stages
    row_build = build_id(row.output, row.tag)
    # measured on cuda130: 11.5 GB above the row's images at the team build's peak (its context and wheelhouse
    # layer, and pip's isolated build environment with a second torch)
    skip_without_disk(api, 15, f"the team build on {v.name}")
    wheels = tmp_path / "wheelhouse"
    wheels.mkdir()
    for wheel in builds.wheelhouse(v).iterdir():  # the variant's wheels, the compiler's and its lock: hard links
        os.link(wheel, wheels / wheel.name)
    os.link(sdist(tmp_path, v.torch), wheels / "ptkit_team_cuda-1.0.tar.gz")
    reqs = tmp_path / "team.txt"
    reqs.write_text("ptkit-team-cuda==1.0\n")
    tag = f"ptkit-test/team-cuda:{v.image_name}"
    options = [o.replace(str(builds.wheelhouse(v)), str(wheels)) for o in builds.options(v)]
    proc = run_ptkit("build", v.name, "--flavor", "devel", *options, "--team-index-url", DEAD_INDEX,
                     "--extra-requirements", str(reqs), "--tag", tag, timeout=5400)
    child_images.append(tag)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # The row's devel image is the one already built, every step from the layer cache: the wheelhouse's extra
    # sdist is not in the row's context (only its locked wheels are), so no 5 GB venv is installed again.
    assert build_id(proc.stderr, row.tag) == row_build
    out = api.containers.run(tag, ["-c", PROBE], entrypoint=["python"], remove=True,
                             labels={"ptkit.role": "test"}).decode()
    assert "/opt/team/" in out and "/opt/cuda/home" in out, out
    run = TrackedContainer(api, tag).run(["verify"], timeout=1800)
    assert run.exit_code == 0, run.stdout[-3000:] + run.stderr[-3000:]
    line = next(ln for ln in run.stdout.splitlines() if "compile:cuda-extension" in ln)
    assert "PASS" in line.upper() and "nvcc" in line, line
