"""arm64 in CI (issue 21): the cpu row's arm64 image (PyPI's aarch64 CPU torch, `cpu --source pypi`), both
flavors, built here through the Docker SDK under qemu emulation and verified in its containers, as a user runs
it: scripts/emulation-setup.sh, `ptkit base --platform linux/arm64`, `ptkit wheelhouse ... --platform`, then
`nox -s cpu-pypi-arm64`. About 9 minutes here (the CUDA arm64 rows, GBs each, are the matrix run's). Skipped,
with the script's own line, on a host that cannot run arm64 binaries."""

from __future__ import annotations

import json
import subprocess

import pytest

from ptkit.images import lock_path
from ptkit.platforms import PLATFORMS
from tests.utils import matrix_facts
from tests.utils.builds import run_variant_session
from tests.utils.ptkit_cli import ROOT, run_ptkit

pytest.importorskip("docker")
pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.builds]
ARM = PLATFORMS["linux/arm64"]


@pytest.fixture(scope="module")
def arm_base(api, created_images) -> str:
    """An arm64 base image: the engine's own when it has one, else made here (and removed at the end)."""
    setup = subprocess.run(["bash", str(ROOT / "scripts" / "emulation-setup.sh"), ARM.arch, ARM.machine],
                           capture_output=True, text=True, timeout=900)
    if setup.returncode != 0:
        pytest.skip(setup.stderr.strip().splitlines()[-1])
    tag = "ptkit/base:bookworm-arm64"
    if not any(tag in image.tags for image in api.images.list(name="ptkit/base")):
        created_images.append(tag)
    proc = run_ptkit("base", "--platform", ARM.name, "--if-missing", "--tag", tag, timeout=1800)
    assert proc.returncode == 0, proc.stderr
    assert api.images.get(tag).attrs["Architecture"] == ARM.arch
    return tag


def test_the_cpu_row_builds_and_verifies_for_arm64_under_emulation(api, arm_base, created_images, registry,
                                                                   builds):
    v = matrix_facts.variant("cpu").from_source("pypi")
    lock = ROOT / lock_path(v, ARM)
    wheels = ROOT / ".cache" / "wheelhouse" / ARM.named(v.image_name)
    proc = run_ptkit("wheelhouse", "cpu", "--source", "pypi", "--platform", ARM.name, "--lock", str(lock),
                     str(wheels), timeout=1800)
    assert proc.returncode == 0, proc.stderr
    session = ARM.named(v.image_name)  # cpu-pypi-arm64
    options = ["--base-image", arm_base, "--wheelhouse", str(wheels), "--lock", str(lock)]
    out, devel = run_variant_session(api, session, options, created_images, timeout=3600)
    runtime = json.loads((ROOT / "reports" / f"{session}-runtime.json").read_text())
    for report, flavor in ((devel, "devel"), (runtime, "runtime")):
        env, run = report["environment"], report["run"]
        assert report["ok"] is True, [c for c in report["checks"] if c["status"] == "fail"]
        assert (run["flavor"], run["platform"], env["machine"], env["emulated"]) == (flavor, ARM.name, ARM.machine,
                                                                                     True), (run, env)
        assert api.images.get(run["image_id"]).attrs["Architecture"] == ARM.arch
        assert env["torch"].startswith(v.torch), env["torch"]
    checks = {c["name"]: c["status"] for c in devel["checks"]}
    # numerics, PyTorch's smoke checks and torch.compile are judged under emulation; only timings are not
    assert checks["compile:cpu"] == checks["compile:cpp-extension"] == checks["numerics:cpu:fp32"] == "pass"
    assert {checks["tutorial"], checks["benchmark"]} == {"warn"}
    assert "aarch64 emulated" in out.stdout + out.stderr  # the verifier's head line, as the user reads it
    # One tag for both machines (issue 21's "one registry reference"): this row's amd64 image (the CPU index's torch)
    # and its arm64 image (PyPI's) pushed, `ptkit index` makes the tag, and each platform's image is pulled by the
    # digest the index names and verified: the arm64 one emulated, through `verify --platform`.
    repo = f"{registry.host}/team/pytorch"
    amd = builds.image(matrix_facts.variant("cpu"))
    for tag, image in ((f"{repo}:cpu-amd64", amd.tag), (f"{repo}:cpu-arm64", devel["run"]["image_id"])):
        api.images.get(image).tag(tag)
        for line in api.images.push(tag, stream=True, decode=True):
            assert "error" not in line, line
    proc = run_ptkit("index", "--json", f"{repo}:cpu", f"{repo}:cpu-amd64", f"{repo}:cpu-arm64", timeout=600)
    assert proc.returncode == 0, proc.stderr
    platforms = json.loads(proc.stdout)["platforms"]
    assert sorted(platforms) == sorted(p.name for p in PLATFORMS.values())
    for platform, digest in platforms.items():
        pulled = api.images.pull(f"{repo}@{digest}")
        assert pulled.attrs["Architecture"] == PLATFORMS[platform].arch
        proc = run_ptkit("verify", "--image", f"{repo}@{digest}", "--platform", platform, "--quick", "--json",
                         timeout=1800)
        assert proc.returncode == 0, proc.stderr[-2000:]
        report = json.loads(proc.stdout)
        env = report["environment"]
        assert (env["machine"], env["emulated"]) == (PLATFORMS[platform].machine, platform == ARM.name), env
        assert report["run"]["platform"] == platform
