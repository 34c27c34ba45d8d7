"""The platform axis (issue 21): rows name the platforms they are built for, the loader refuses what cannot
exist, and every name of an image, lock, report and nox session on another platform carries its suffix."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest

from ptkit import images, matrix
from ptkit.images import Image, Provenance
from ptkit.platforms import DEFAULT_PLATFORM, PLATFORMS, by_machine
from tests.utils import matrix_facts
from tests.utils.ptkit_cli import ROOT, run_ptkit

ARM = PLATFORMS["linux/arm64"]
PROV = Provenance("0123456789abcdef", dt.datetime(2026, 12, 2, tzinfo=dt.timezone.utc))
ROW = """\
schema = 1
[variants.one]
torch = "9.0.0"
torchvision = ""
torchaudio = ""
cuda = "{cuda}"
index_url = "https://example.invalid/simple"
python = "3.11"
base_image = "debian:bookworm-slim"
{extra}
"""


def load(tmp_path, cuda="13.0", extra=""):
    path = tmp_path / "matrix.toml"
    path.write_text(ROW.format(cuda=cuda, extra=extra))
    return matrix.load(path)


def test_a_row_is_built_for_the_default_platform_unless_it_says_otherwise(tmp_path):
    assert load(tmp_path).get("one").platforms == ("linux/amd64",)
    both = load(tmp_path, extra='platforms = ["linux/amd64", "linux/arm64"]').get("one")
    assert both.platforms == ("linux/amd64", "linux/arm64")
    assert both.on("linux/arm64") is ARM and both.on("linux/amd64") is DEFAULT_PLATFORM


@pytest.mark.parametrize(("cuda", "extra", "message"), [
    ("13.0", 'platforms = ["linux/s390x"]', "unknown platform 'linux/s390x' (known: linux/amd64, linux/arm64)"),
    ("13.0", 'platforms = ["arm64"]', "unknown platform 'arm64'"),
    ("13.0", "platforms = []", "key 'platforms' must be a non-empty list"),
    ("13.0", 'platforms = "linux/arm64"', "key 'platforms' must be a non-empty list"),
    ("13.0", 'platforms = ["linux/arm64", "linux/arm64"]', "names a platform twice"),
    # PyPI has no CUDA 12 torch for aarch64 (issue 21: its aarch64 wheels are CPU-only or CUDA 13)
    ("12.8", 'platforms = ["linux/arm64"]', "no CUDA 12.8 torch wheels exist for linux/arm64"),
    ("11.8", 'platforms = ["linux/amd64", "linux/arm64"]', "no CUDA 11.8 torch wheels exist for linux/arm64"),
])
def test_platforms_that_cannot_be_built_are_refused_at_load(tmp_path, cuda, extra, message):
    with pytest.raises(matrix.MatrixError) as refused:
        load(tmp_path, cuda, extra)
    text = str(refused.value)
    assert message in text and "[variants.one]" in text and "\n" not in text


def test_a_row_is_refused_on_a_platform_it_is_not_built_for(tmp_path):
    row = load(tmp_path, "12.8").get("one")
    with pytest.raises(matrix.MatrixError, match=r"one is built for linux/amd64 only .* not linux/arm64"):
        row.on("linux/arm64")


def test_the_repository_matrix_builds_cuda13_rows_and_a_pypi_cpu_source_for_arm64():
    arm = [v.image_name for v in matrix_facts.every_source() if ARM.name in v.platforms]
    assert arm == ["cpu-pypi", "cuda130", "cuda132"]
    cpu = matrix_facts.MATRIX.get("cpu", "pypi")
    assert not cpu.is_cuda and cpu.platforms == (ARM.name,)  # PyPI's x86_64 torch of that version is a CUDA build


def test_names_on_another_platform_carry_its_suffix_and_the_default_keeps_its_own():
    row = matrix_facts.variant("cuda130")
    arm, amd = Image(row, PROV, platform=ARM), Image(row, PROV)
    assert (amd.tags[0], arm.tags[0]) == ("ptkit:cuda130", "ptkit:cuda130-arm64")
    assert arm.descriptive_tag == f"{row.torch_public}-cuda130-arm64-py{row.python}-devel"
    assert arm.report_path().name == "cuda130-arm64.json" and amd.report_path().name == "cuda130.json"
    assert images.lock_path(row, ARM).as_posix() == "locks/cuda130-arm64.txt"
    assert images.lock_path(row).as_posix() == "locks/cuda130.txt"
    latest = Image(row, PROV, platform=ARM, latest=True)
    assert "ptkit:latest" not in latest.tags and "ptkit:latest" in Image(row, PROV, latest=True).tags


def test_a_platform_row_gives_the_tags_and_resolver_target_of_its_machine():
    tags = ARM.wheel_tags()
    assert tags[0] == "manylinux_2_36_aarch64" and "manylinux2014_aarch64" in tags and tags[-1] == "linux_aarch64"
    assert ARM.uv_target == "aarch64-manylinux_2_36" and ARM.arch == "arm64"
    assert ARM.uv_sha256 != DEFAULT_PLATFORM.uv_sha256 and len(ARM.uv_sha256) == 64
    assert by_machine("aarch64") is ARM and by_machine("x86_64") is DEFAULT_PLATFORM and by_machine("ppc64le") is None


def test_the_cli_shows_platforms_and_refuses_builds_it_cannot_make_yet():
    data = json.loads(run_ptkit("matrix", "--json").stdout)
    assert data["cuda130"]["platforms"] == ["linux/amd64", "linux/arm64"]
    assert data["cpu"]["platforms"] == ["linux/amd64"]
    assert "linux/amd64,linux/arm64" in run_ptkit("matrix").stdout
    cases = [(("build", "cuda118", "--platform", "linux/arm64"), 1, "cuda118 is built for linux/amd64 only"),
             (("build", "cpu", "--source", "pypi"), 1, "cpu-pypi is built for linux/arm64 only"),
             (("lock", "cuda130", "--platform", "linux/s390x"), 2, "invalid choice: 'linux/s390x'"),
             (("lock", "cuda126", "--compiler", "--platform", "linux/arm64"), 1,
              "cuda126 is built for linux/amd64 only")]
    for argv, code, message in cases:
        proc = run_ptkit(*argv)
        assert (proc.returncode, len(proc.stderr.splitlines())) == (code, 1), (argv, proc.stderr)
        assert message in proc.stderr, proc.stderr


def test_nox_has_a_session_per_platform_tagged_with_it():
    listing = subprocess.run([sys.executable, "-m", "nox", "-l"], cwd=ROOT, capture_output=True, text=True).stdout
    for name in ("cuda130-arm64", "cuda132-arm64", "cpu-pypi-arm64"):
        assert f"- {name} [arm64] -> build ptkit:{name} and ptkit:{name}-runtime" in listing, listing
    assert "- cuda130 [images,cuda] -> build ptkit:cuda130 and" in listing


class RecordingEngine:
    """Docker SDK's client as run_build uses it (client.api.build, .tag), recording what the build was asked."""

    def __init__(self) -> None:
        self.api, self.asked = self, {}

    def build(self, **kwargs):
        self.asked = {k: v for k, v in kwargs.items() if k != "fileobj"}
        return iter([{"aux": {"ID": "sha256:" + "1" * 64}}])

    def tag(self, *args) -> None:
        pass


def test_the_engine_is_asked_for_a_platform_only_where_it_is_not_the_default(tmp_path):
    from ptkit import build, render
    from ptkit.inputs import BuildInputs

    row = matrix_facts.variant("cuda130")
    arm, amd = (render.plan(Image(row, PROV, "runtime", platform=p), BuildInputs()) for p in (ARM, DEFAULT_PLATFORM))
    assert build.engine_options(arm) == {"target": "runtime", "platform": "linux/arm64"}
    assert build.engine_options(amd) == {"target": "runtime"}  # what a default build always sent
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    engine = RecordingEngine()
    build.run_build(engine, build.Context(tmp_path / "Dockerfile", {}), buildargs={}, tags=["ptkit:x"], title="t",
                    inputs=BuildInputs(), engine=build.engine_options(arm))
    assert (engine.asked["platform"], engine.asked["target"], engine.asked["tag"]) == ("linux/arm64", "runtime",
                                                                                      "ptkit:x")
