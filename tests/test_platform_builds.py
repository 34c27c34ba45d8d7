"""`ptkit build/check --platform` for another machine's platform (issue 21.3), without the engine: what the request
describes, what the engine is asked, the base it must be built FROM, and the verifier's GPU."""

from __future__ import annotations

import platform as host
from types import SimpleNamespace

import pytest

from ptkit import build, cli, commands, pipeline, render
from ptkit.errors import PtkitError
from ptkit.inputs import BuildInputs
from ptkit.platforms import DEFAULT_PLATFORM, PLATFORMS, by_machine

ARM64 = PLATFORMS["linux/arm64"]


def request(*argv: str) -> pipeline.Request:
    return commands._build_request(cli.build_parser().parse_args(["build", *argv]))


def test_an_arm64_build_describes_arm64_images_and_asks_the_engine_for_that_platform():
    req = request("cpu", "--source", "pypi", "--platform", "linux/arm64", "--base-image", "ptkit/base:bookworm-arm64")
    assert [(d.flavor, d.platform.name, d.tags[0]) for d in req.images] == [
        ("runtime", "linux/arm64", "ptkit:cpu-pypi-arm64-runtime"), ("devel", "linux/arm64", "ptkit:cpu-pypi-arm64")]
    plan = render.plan(req.images[0], req.inputs)
    assert build.engine_options(plan) == {"target": "runtime", "platform": "linux/arm64"}
    args = plan.build_args()
    assert args["BASE_IMAGE"] == "ptkit/base:bookworm-arm64"
    assert args["INSTALLER_UV"].endswith(f"--hash=sha256:{ARM64.uv_sha256}")  # the aarch64 uv wheel
    assert [d.report_path().name for d in req.images] == ["cpu-pypi-arm64-runtime.json", "cpu-pypi-arm64.json"]


def test_a_default_build_describes_what_it_always_did():
    req = request("cpu", "--flavor", "devel")
    (desc,) = req.images
    assert desc.platform == DEFAULT_PLATFORM and desc.tags[0] == "ptkit:cpu"
    assert build.engine_options(render.plan(desc, BuildInputs())) == {"target": "devel"}


def base(arch: str | None) -> SimpleNamespace:
    return SimpleNamespace(attrs={"Architecture": arch} if arch else {})


def test_another_platform_is_refused_a_base_of_another_architecture_in_one_line():
    with pytest.raises(PtkitError) as caught:
        build.check_base_platform(base("amd64"), "ptkit/base:bookworm", ARM64)
    assert str(caught.value) == (
        "the base image ptkit/base:bookworm is amd64, the build is for linux/arm64: make one "
        "with `ptkit base --platform linux/arm64` and pass --base-image with the tag it prints")
    build.check_base_platform(base("arm64"), "ptkit/base:bookworm-arm64", ARM64)
    build.check_base_platform(base(None), "a-base-without-architecture", ARM64)  # the engine decides then
    build.check_base_platform(base("arm64"), "debian:bookworm-slim", DEFAULT_PLATFORM)  # the default: as before


def test_an_image_of_another_machine_is_verified_without_the_hosts_gpu():
    here = by_machine(host.machine())
    other = next(p for p in PLATFORMS.values() if p != here)
    assert pipeline.gpu_for(other, "auto") == "no" and pipeline.gpu_for(other, "yes") == "no"
    if here is not None:
        assert [pipeline.gpu_for(here, ask) for ask in ("auto", "yes", "no")] == ["auto", "yes", "no"]


def test_the_container_gets_the_platforms_environment_beside_the_injected_verifiers_path():
    from ptkit import container

    env = {"QEMU_CPU": "neoverse-n2"}
    injected = container._options("img", "ptkit-verify-x", ["verify"], True, False, env)
    assert injected["environment"] == {"QEMU_CPU": "neoverse-n2", "PYTHONPATH": container.INJECT_ROOT}
    own = container._options("img", "ptkit-verify-x", ["verify"], False, False, env)
    assert own["environment"] == env and own["entrypoint"] == ["ptkit"]
    assert env == {"QEMU_CPU": "neoverse-n2"}  # the caller's dict is not changed
