"""The two image flavors in Docker: torch.compile works in the devel image (ptkit:cpu) and in a team
image built FROM it; the runtime image (ptkit:cpu-runtime) reports the compile check as a SKIP with
its reason. The images are given by tag (build them first); a test whose image is absent skips.
"""

from __future__ import annotations

import contextlib
import json

import pytest

docker = pytest.importorskip("docker")

import test_docker  # noqa: E402 - after the importorskip above
from ptkit import build  # noqa: E402

pytestmark = [pytest.mark.docker, pytest.mark.slow]
api = test_docker.api  # the engine fixture, shared (containers labelled ptkit.role removed at the end)

DEVEL, RUNTIME, TEAM = "ptkit:cpu", "ptkit:cpu-runtime", "ptkit-test/team-devel:cpu"
LABELS = {"ptkit.role": "test"}
# A small model (conv + linear) compiled by inductor and compared with eager, inside the image.
COMPILE_MODEL = """
import torch
model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                            torch.nn.Linear(8 * 8 * 8, 10)).eval()
x = torch.rand(4, 3, 8, 8)
with torch.no_grad():
    eager, compiled = model(x), torch.compile(model, fullgraph=True)(x)
print("max abs diff", float((compiled - eager).abs().max()))
assert torch.allclose(compiled, eager, rtol=1e-4, atol=1e-5)
"""


def present(api, tag: str) -> str:
    try:
        api.images.get(tag)
    except docker.errors.ImageNotFound:
        pytest.skip(f"{tag} is not built (ptkit build cpu builds both flavors)")
    return tag


@pytest.fixture(scope="module")
def devel(api):
    return present(api, DEVEL)


@pytest.fixture(scope="module")
def runtime(api):
    return present(api, RUNTIME)


def run(api, image: str, command: list[str], entrypoint: list[str] | None = None) -> tuple[int, str]:
    """Run a container to its end; (exit code, output). Removed whatever happens."""
    container = api.containers.run(image, command, entrypoint=entrypoint, detach=True, labels=LABELS)
    try:
        code = container.wait(timeout=600)["StatusCode"]
        return code, container.logs().decode()
    finally:
        container.remove(force=True)


def verify_checks(api, image: str) -> dict[str, tuple[str, str]]:
    code, out = run(api, image, ["verify", "--json"])
    report = json.loads(out[out.index("{"):])
    assert code == (0 if report["ok"] else 1), out[-2000:]
    return {c["name"]: (c["status"], c["detail"]) for c in report["checks"]}


def test_devel_compiles_a_small_model_like_eager(api, devel):
    code, out = run(api, devel, ["-c", COMPILE_MODEL], entrypoint=["python"])
    assert code == 0 and "max abs diff" in out, out[-3000:]


def test_devel_verify_has_a_passing_compile_check(api, devel):
    checks = verify_checks(api, devel)
    status, detail = checks["compile:cpu"]
    assert status == "pass", detail
    assert "vector ISA" in detail
    assert checks["compile:cpu:max-autotune"][0] == "pass"
    assert all(status != "fail" for status, _ in checks.values()), checks


def test_runtime_verify_skips_compile_with_its_reason(api, runtime):
    checks = verify_checks(api, runtime)
    assert checks["compile"] == ("skip", "runtime flavor: torch.compile needs the devel flavor")
    assert not any(name.startswith("compile:") for name in checks)


def test_flavors_are_labelled_and_only_devel_has_the_compiler(api, devel, runtime):
    for tag, flavor, has_tools in ((devel, "devel", 0), (runtime, "runtime", 1)):
        image = api.images.get(tag)
        assert image.labels["ptkit.flavor"] == flavor
        assert f"PTKIT_FLAVOR={flavor}" in image.attrs["Config"]["Env"]
        assert image.attrs["Config"]["User"] == "ptkit" and image.attrs["Config"]["Entrypoint"] == ["ptkit"]
        probe = ("import os, shutil, sysconfig, torch; "
                 "h = os.path.join(os.path.dirname(torch.__file__), 'include/torch/csrc/inductor/cpp_prefix.h'); "
                 "py = os.path.join(sysconfig.get_path('include'), 'Python.h'); "
                 "raise SystemExit(0 if all((shutil.which('g++'), shutil.which('gcc'), os.path.isfile(h), "
                 "os.path.isfile(py))) else 1)")
        code, out = run(api, tag, ["-c", probe], entrypoint=["python"])
        assert code == has_tools, f"{tag}: {out[-1000:]}"
    extra = api.images.get(devel).attrs["Size"] - api.images.get(runtime).attrs["Size"]
    assert 0 < extra < 300e6, f"compile support costs {extra / 1e6:.0f} MB"


def test_team_image_from_devel_compiles(api, devel, tmp_path):
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("numpy\n")  # already in the parent: pip installs nothing and needs no network
    try:
        build.build_team(api, devel, reqs, [TEAM])
        assert api.images.get(TEAM).labels["ptkit.flavor"] == "devel"
        code, out = run(api, TEAM, ["-c", COMPILE_MODEL], entrypoint=["python"])
        assert code == 0 and "max abs diff" in out, out[-3000:]
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):
            api.images.remove(TEAM, force=True)
        api.images.prune(filters={"dangling": True, "label": "ptkit.stage"})

