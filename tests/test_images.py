"""The image description (ptkit.images): one value says which image is built; tags, labels, build args, the
lock's and the report's paths, the base image and the platform's wheel tags all come from it."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from ptkit import images, locks, render
from ptkit.images import Image, Provenance
from ptkit.inputs import BuildInputs, Destination
from tests.utils import matrix_facts

WHEN = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.timezone.utc)
PROV = Provenance("0123456789abcdef", WHEN, source_time=WHEN - dt.timedelta(days=1))
CPU = matrix_facts.default_variant()
CUDA = matrix_facts.cuda_variants()[-1]
REGISTRY = "localhost:5000/team/pytorch"
SRC = Path(__file__).resolve().parents[1] / "src" / "ptkit"


def image(variant, names=(), latest=False, flavor="devel", prov=PROV):
    return Image(variant, prov, flavor, names=tuple(names), latest=latest)


def test_tags_describe_contents_and_flavor_and_push_only_named_repositories():
    described = matrix_facts.content_tag(CUDA)
    cuda = image(CUDA, [f"{REGISTRY}:cu13"])
    assert cuda.tags[:3] == [f"ptkit:{CUDA.name}", f"ptkit:{described}", f"ptkit:{described}-20261127-0123456"]
    assert cuda.push_tags == [f"{REGISTRY}:cu13", f"{REGISTRY}:{described}",
                              f"{REGISTRY}:{described}-20261127-0123456"]
    assert all(t in cuda.tags for t in cuda.push_tags)
    assert "ptkit:latest" not in cuda.tags
    assert "ptkit:latest" in image(CPU, latest=True).tags


def test_the_runtime_flavor_is_named_and_the_short_names_are_devels():
    runtime_image = image(CPU, [f"{REGISTRY}:cpu"], latest=True, flavor="runtime")
    runtime = matrix_facts.content_tag(CPU, "runtime")
    assert runtime_image.tags[:4] == [f"ptkit:{CPU.name}-runtime", f"ptkit:{runtime}",
                                      f"ptkit:{runtime}-20261127-0123456", "ptkit:latest-runtime"]
    assert runtime_image.push_tags[0] == f"{REGISTRY}:cpu-runtime"
    assert not set(runtime_image.tags) & set(image(CPU, [f"{REGISTRY}:cpu"], latest=True).tags)


def test_another_source_is_in_the_tags_and_never_takes_the_rows_names():
    row = next(v for v in matrix_facts.MATRIX.variants.values() if v.alternatives)
    other = row.from_source(next(iter(row.alternatives)))
    tags = image(other, latest=True).tags
    assert tags[0] == f"ptkit:{row.name}-{other.source}"
    assert f"ptkit:{other.torch_public}-{row.name}-{other.source}-py{other.python}-devel" in tags
    assert "ptkit:latest" not in tags
    assert image(other).build_args()["PTKIT_SOURCE"] == other.source


def test_stamped_tag_marks_uncommitted_sources():
    described = matrix_facts.content_tag(CPU)
    assert image(CPU, prov=Provenance("0123456789abcdef-dirty", WHEN)).stamped_tag == \
        f"{described}-20261127-0123456-dirty"
    assert image(CPU, prov=Provenance("unknown", WHEN)).stamped_tag == f"{described}-20261127-norev"


def test_a_build_is_described_once_in_build_order_and_the_team_image_takes_the_names():
    m = matrix_facts.MATRIX
    both = images.describe(m, CPU, BuildInputs(), Destination((f"{REGISTRY}:cpu",)), PROV)
    assert [i.flavor for i in both] == ["runtime", "devel"]  # devel reuses runtime's layers
    assert all(i.names == (f"{REGISTRY}:cpu",) and not i.team for i in both)
    team = images.describe(m, CPU, BuildInputs(team_requirements=Path("team.txt")), Destination(("team/x:1",)),
                           PROV, flavors=("devel",))
    assert [(i.flavor, i.team, i.names) for i in team] == [("devel", False, ()), ("devel", True, ("team/x:1",))]
    assert team[-1].tags == team[-1].push_tags == ["team/x:1"]
    unnamed = images.describe(m, CPU, BuildInputs(team_requirements=Path("t")), Destination(), PROV)[-1]
    assert unnamed.tags == [f"ptkit:{CPU.name}-team"] and unnamed.push_tags == []


def test_report_and_lock_paths_follow_the_image():
    reports = Path("reports")
    assert image(CPU).report_path(reports) == reports / f"{CPU.name}.json"
    assert image(CPU, flavor="runtime").report_path(reports) == reports / f"{CPU.name}-runtime.json"
    team = Image(CPU, PROV, "devel", team=True)
    assert team.report_path(reports) == reports / f"{CPU.name}-team.json"
    assert images.lock_path(CPU) == Path("locks", f"{CPU.name}.txt")
    assert (Path(__file__).resolve().parents[1] / images.lock_path(CPU)).is_file()  # the committed lock is there


def test_the_base_image_is_the_matrixs_unless_given_and_reaches_the_build_args():
    assert image(CPU).base == CPU.base_image
    given = Image(CPU, PROV, base_image="ptkit/base:bookworm")
    assert given.build_args()["BASE_IMAGE"] == given.build_args()["OCI_BASE"] == "ptkit/base:bookworm"


def test_labels_and_the_run_block_use_the_label_names_the_dockerfile_sets():
    dockerfile = (SRC / "data" / "docker" / "Dockerfile").read_text()
    for name in (images.VARIANT_LABEL, images.SOURCE_LABEL, images.CUDA_LABEL, images.FLAVOR_LABEL,
                 images.REVISION_LABEL):  # the revision: how the multi-node run knows an image is this commit's
        assert f"{name}=" in dockerfile, name
    labels = {"ptkit.variant": "cpu", "ptkit.source": "pytorch", "ptkit.flavor": "runtime"}
    block = images.RunBlock("ptkit:cpu-runtime", "sha256:1", labels, gpu=False).block("host1")
    assert (block["variant"], block["source"], block["flavor"], block["host"]) == ("cpu", "pytorch", "runtime",
                                                                                   "host1")
    assert images.RunBlock("x", None, labels, variant="cuda130").block("h")["variant"] == "cuda130"
    assert (block["platform"], block["revision"]) == (None, None)  # nothing recorded: nothing claimed
    labelled = images.RunBlock("x", "sha256:2", {images.REVISION_LABEL: "abc123"}, platform="linux/arm64").block("h")
    assert (labelled["platform"], labelled["revision"]) == ("linux/arm64", "abc123")
    from ptkit.docker_api import platform_of

    assert platform_of({"Os": "linux", "Architecture": "arm64", "Variant": "v8"}) == "linux/arm64"
    assert platform_of({}) is None


def test_the_platform_decides_the_wheel_tags_uv_hash_and_conda_subdir():
    amd64 = images.PLATFORMS["linux/amd64"]
    assert images.DEFAULT_PLATFORM is amd64
    tags = amd64.wheel_tags()
    assert tags[0] == "manylinux_2_36_x86_64" and "manylinux2014_x86_64" in tags and tags[-1] == "linux_x86_64"
    assert [f"--platform={t}" for t in tags] == [a for a in locks.target_args(CPU) if a.startswith("--platform")]
    assert re.fullmatch(r"uv==[\d.]+ --hash=sha256:[0-9a-f]{64}", amd64.uv_requirement)
    assert render.plan(image(CPU), BuildInputs()).build_args()["INSTALLER_UV"] == amd64.uv_requirement


def test_no_host_module_but_platforms_names_an_architecture():
    """arm64 is a row of platforms.PLATFORMS (images reads it from there): the host side (build, locks, repro,
    cluster, matrix) reads the platform, it never spells one. (compat/ and matrix_report/ speak of the GPU hosts'
    CPUs, a fact about machines, not images.)"""
    host_side = [*SRC.glob("*.py"), *SRC.glob("repro/*.py"), *SRC.glob("cluster/*.py")]
    spelled = re.compile(r"x86_64|amd64|aarch64|arm64|linux-64")
    found = [p.relative_to(SRC).as_posix() for p in host_side if spelled.search(p.read_text())]
    assert found == ["platforms.py"]
