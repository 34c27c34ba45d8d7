"""Each CUDA variant with a committed lock, built for real from its wheels (GBs) and verified here, where
no GPU is: the build and the install check prove the wheels, the verifier proves what is readable
without a GPU. Skipped when --image is given (they build); `-m "not slow"` leaves them out."""

from __future__ import annotations

import pytest

from tests.utils import matrix_facts
from tests.utils.docker_helpers import has_gpus

pytest.importorskip("docker")
pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.builds]

LOCKED_CUDA = [v for v in matrix_facts.locked_variants() if v.is_cuda]


@pytest.mark.parametrize("v", LOCKED_CUDA, ids=lambda v: v.name)
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
