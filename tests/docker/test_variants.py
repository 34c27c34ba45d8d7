"""CUDA variants built for real from their locked wheels (GBs) and verified here, where no GPU is: the
build and the install check prove the wheels, the verifier proves what is readable without a GPU.
Skipped when --image is given (they build); `-m "not slow"` leaves them out.

Which variants: $PTKIT_TEST_CUDA (comma-separated), by default cuda130 only, as CI builds it (each CUDA
image is 5 to 6 GB; `nox -s matrix` builds every PyPI-served row, one after another, disk pruned)."""

from __future__ import annotations

import pytest

from ptkit import toolchain
from tests.utils import matrix_facts
from tests.utils.docker_helpers import has_gpus

pytest.importorskip("docker")
pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.builds]

UNDER_TEST = matrix_facts.cuda_under_test()


@pytest.mark.parametrize("v", UNDER_TEST, ids=lambda v: v.name)
def test_cuda_variant_built_from_real_wheels_and_verified(v, builds, api):
    built = builds.image(v)
    data, env = built.report, built.report["environment"]
    assert data["ok"] is True, data["checks"]
    assert env["torch"] in matrix_facts.torch_versions(v)
    assert env["cuda"] == v.cuda
    assert env["cudnn"], "cuDNN's version must be readable without a GPU"
    assert env["nccl"], "NCCL's version must be readable without a GPU"
    checks = {c["name"]: c for c in data["checks"]}
    assert checks["expect-cuda-version"]["status"] == "pass"
    if has_gpus(api):  # a GPU host: the session gave the container its GPUs
        assert checks["cuda"]["status"] == "pass", checks["cuda"]
    else:
        assert "this host has no NVIDIA container runtime: verifying without a GPU" in built.output
        assert checks["cuda"]["status"] == "skip", checks["cuda"]
        assert checks["cuda"]["detail"].startswith("no GPU visible: ")
    assert "sm_90" in env["build"]["arch_list"]
    # issue 20: a CUDA 13 row's devel image builds and imports a CUDA extension with its nvcc (no GPU: no launch)
    if toolchain.has_compiler(v):
        assert checks["compile:cuda-extension"]["status"] == "pass", checks["compile:cuda-extension"]
        assert checks["compile:cpp-extension"]["status"] == "pass", checks["compile:cpp-extension"]
