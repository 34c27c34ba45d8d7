"""The image under test carries its manifest, keeps its fingerprint, reports drift, diffs and has an SBOM,
all through the `ptkit` command as a user runs it."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from ptkit.repro import sbom
from tests.utils.builds import ImageUnderTest
from tests.utils.docker_helpers import TrackedContainer, derived_image
from tests.utils.ptkit_cli import run_ptkit
from tests.utils.venvs import make_wheel

pytestmark = pytest.mark.docker


def install_shell(tmp_path: Path, name: str, version: str, then: str = "true") -> str:
    """A shell line that pip-installs a local wheel (no index) as root, then runs `then`."""
    wheel = make_wheel(tmp_path, name, version)
    data = base64.b64encode(wheel.read_bytes()).decode()
    return (f"echo {data} | base64 -d > /tmp/{wheel.name} && "
            f"pip install --quiet --no-index --no-deps /tmp/{wheel.name} && {then}")


@pytest.fixture(scope="module")
def manifest(image_under_test: ImageUnderTest) -> dict[str, Any]:
    proc = run_ptkit("manifest", image_under_test.tag, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_manifest_records_variant_torch_lock_hashes_and_debian(manifest: dict[str, Any],
                                                               image_under_test: ImageUnderTest) -> None:
    variant = image_under_test.variant
    assert manifest["build"]["variant"] == variant.name
    torch = manifest["python"]["packages"]["torch"]
    assert torch["version"] == variant.torch and torch["hash_source"] == "lock" and len(torch["sha256"][0]) == 64
    # torch.__version__ as imported: the pin, plus the local tag PyPI's CUDA builds carry (2.14.1+cu130)
    public, _, local = manifest["torch"]["torch"].partition("+")
    pinned, _, pinned_local = variant.torch.partition("+")
    cuda_tag = "cu" + variant.cuda.replace(".", "") if variant.cuda else None
    assert public == pinned and local in (pinned_local, cuda_tag)
    assert "python3" in manifest["debian"]["packages"]


def test_fingerprint_of_the_image_matches_its_manifest(image_under_test: ImageUnderTest,
                                                       manifest: dict[str, Any]) -> None:
    proc = run_ptkit("fingerprint", image_under_test.tag)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(manifest["fingerprint"]["digest"]) and "as built" in proc.stdout


def test_installing_after_the_build_warns_and_strict_fails(api: Any, image_under_test: ImageUnderTest,
                                                           tmp_path: Path) -> None:
    container = TrackedContainer(api, image_under_test.tag, user="0", entrypoint=["sh", "-c"])
    shell = install_shell(tmp_path, "ptkit-drift-demo", "0.1", "ptkit verify --quick; ptkit verify --quick --strict")
    run = container.run([shell])
    drift = [line for line in run.stdout.splitlines() if line.split()[1:2] == ["drift"]]
    assert [line.split()[0] for line in drift] == ["WARN", "FAIL"], run.stdout
    assert "ptkit-drift-demo 0.1 installed after the build" in drift[0]
    assert run.exit_code == 1  # the --strict run's


def test_diff_names_exactly_the_upgraded_package(api: Any, image_under_test: ImageUnderTest, tmp_path: Path,
                                                 child_images: list[str], manifest: dict[str, Any]) -> None:
    before = manifest["python"]["packages"]["filelock"]["version"]
    upgraded = derived_image(api, image_under_test.tag, "ptkit-repro/upgraded:test",
                             install_shell(tmp_path, "filelock", "99.0"), [], child_images)
    proc = run_ptkit("diff", image_under_test.tag, upgraded)
    assert proc.returncode == 1, proc.stderr
    changes = [line for line in proc.stdout.splitlines() if line.startswith(("python:", "debian:", "facts:"))]
    assert changes == [f"python: changed filelock {before} -> 99.0"]
    assert run_ptkit("diff", image_under_test.tag, image_under_test.tag).returncode == 0


def test_sbom_validates_and_lists_torch_with_its_version(image_under_test: ImageUnderTest, tmp_path: Path) -> None:
    out = tmp_path / "sbom.json"
    proc = run_ptkit("sbom", image_under_test.tag, "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert sbom.validate(out.read_text()) == []
    bom = json.loads(out.read_text())
    versions = {c["name"]: c["version"] for c in bom["components"]}
    assert versions["torch"] == image_under_test.variant.torch
    assert bom["metadata"]["component"]["name"] == image_under_test.tag
