"""The two image flavors: torch.compile works in the devel image (ptkit:VARIANT) and in a team image
built FROM it; the runtime image (ptkit:VARIANT-runtime) reports the compile check as a SKIP with its
reason. Run against the image under test; the runtime image is the session's, or skipped with --image.
"""

from __future__ import annotations

import json

import pytest

from ptkit import build
from ptkit.inputs import BuildInputs
from tests.utils.docker_helpers import TrackedContainer
from tests.utils.ptkit_cli import ROOT

docker = pytest.importorskip("docker")
pytestmark = [pytest.mark.docker, pytest.mark.slow]

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
HAS_TOOLS = ("import os, shutil, sysconfig, torch; "
             "h = os.path.join(os.path.dirname(torch.__file__), 'include/torch/csrc/inductor/cpp_prefix.h'); "
             "py = os.path.join(sysconfig.get_path('include'), 'Python.h'); "
             "raise SystemExit(0 if all((shutil.which('g++'), shutil.which('gcc'), os.path.isfile(h), "
             "os.path.isfile(py))) else 1)")


@pytest.fixture(scope="module")
def runtime(api, image_under_test) -> str:
    tag = f"ptkit:{image_under_test.variant.image_name}-runtime"
    try:
        api.images.get(tag)
    except docker.errors.ImageNotFound:
        pytest.skip(f"{tag} is not here (`ptkit build {image_under_test.variant.name}` builds both flavors)")
    return tag


def session_report(image_under_test, flavor: str) -> dict:
    """The full verify report the variant session wrote for this flavor (it runs the compile check)."""
    if not image_under_test.built:
        pytest.skip("--image given: the session's full reports are not here")
    suffix = "" if flavor == "devel" else f"-{flavor}"
    return json.loads((ROOT / "reports" / f"{image_under_test.variant.image_name}{suffix}.json").read_text())


def checks(report: dict) -> dict[str, tuple[str, str]]:
    return {c["name"]: (c["status"], c["detail"]) for c in report["checks"]}


def test_devel_compiles_a_small_model_like_eager(container):
    run = container.run(["-c", COMPILE_MODEL], entrypoint=["python"], timeout=600)
    assert run.exit_code == 0, run.stdout[-2000:] + run.stderr[-3000:]
    assert "max abs diff" in run.stdout


def test_devel_verify_has_a_passing_compile_check(image_under_test):
    found = checks(session_report(image_under_test, "devel"))
    status, detail = found["compile:cpu"]
    assert status == "pass", detail
    assert "vector ISA" in detail
    assert found["compile:cpu:max-autotune"][0] == "pass"


def test_runtime_verify_skips_compile_with_its_reason(image_under_test, runtime):
    found = checks(session_report(image_under_test, "runtime"))
    assert found["compile"] == ("skip", "runtime flavor: torch.compile needs the devel flavor")
    # torch.compile's own sub-checks never run; the extension builds are named and SKIP as runtime
    assert not any(name.startswith("compile:cpu") for name in found)
    for name in ("compile:cpp-extension", "compile:cuda-extension"):
        status, detail = found[name]
        assert status == "skip" and detail.startswith("runtime flavor"), (name, status, detail)


def test_flavors_are_labelled_and_only_devel_has_the_compiler(api, image_under_test, runtime):
    for tag, flavor, has_tools in ((image_under_test.tag, "devel", 0), (runtime, "runtime", 1)):
        image = api.images.get(tag)
        assert image.labels["ptkit.flavor"] == flavor
        assert f"PTKIT_FLAVOR={flavor}" in image.attrs["Config"]["Env"]
        assert image.attrs["Config"]["User"] == "ptkit"
        run = TrackedContainer(api, tag).run(["-c", HAS_TOOLS], entrypoint=["python"])
        assert run.exit_code == has_tools, f"{tag}: {run.stdout[-500:]}{run.stderr[-1000:]}"
    extra = api.images.get(image_under_test.tag).attrs["Size"] - api.images.get(runtime).attrs["Size"]
    assert 0 < extra < 300e6, f"compile support costs {extra / 1e6:.0f} MB"


def test_team_image_from_devel_compiles(api, image_under_test, tmp_path, child_images):
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("numpy\n")  # already in the parent: pip installs nothing and needs no network
    tag = f"ptkit-test/team-devel:{image_under_test.variant.image_name}"
    child_images.append(tag)
    build.build_team(api, image_under_test.tag, BuildInputs(team_requirements=reqs), [tag])
    assert api.images.get(tag).labels["ptkit.flavor"] == "devel"
    run = TrackedContainer(api, tag).run(["-c", COMPILE_MODEL], entrypoint=["python"], timeout=600)
    assert run.exit_code == 0, run.stdout[-2000:] + run.stderr[-3000:]
