from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from ptkit import render
from ptkit.docker_api import split_ref
from ptkit.errors import PtkitError
from ptkit.images import Image, Provenance
from ptkit.inputs import BuildInputs
from tests.utils import matrix_facts
from tests.utils.docker_helpers import BASE_IMAGE
from tests.utils.ptkit_cli import ROOT, run_ptkit

WHEN = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.timezone.utc)
CPU = matrix_facts.default_variant()
CUDA = matrix_facts.cuda_variants()[-1]  # the newest CUDA
# A variant that pins all three PyTorch packages, and one with a package it has no release of.
FULL = next(v for v in matrix_facts.MATRIX.variants.values() if v.torchvision and v.torchaudio)
NO_AUDIO = next((v for v in matrix_facts.MATRIX.variants.values() if not v.torchaudio), None)


def test_default_package_set_pins_the_matrix():
    lines, expected = render.requirements(FULL)
    assert lines == [f"torch=={FULL.torch}", f"torchvision=={FULL.torchvision}", f"torchaudio=={FULL.torchaudio}",
                     *FULL.extra_packages]
    assert expected == {"torch": FULL.torch, "torchvision": FULL.torchvision, "torchaudio": FULL.torchaudio}


def test_packages_override_keeps_pins_and_passes_other_specs_through():
    lines, expected = render.requirements(CPU, ["torch", "numpy==2.4.6"])
    assert lines == [f"torch=={CPU.torch}", "numpy==2.4.6"]
    assert expected == {"torch": CPU.torch}


def test_packages_without_torch_or_with_a_missing_release_are_refused():
    with pytest.raises(PtkitError, match="must include torch"):
        render.requirements(CPU, ["numpy"])
    v = NO_AUDIO or dataclasses.replace(CUDA, torchaudio="")
    with pytest.raises(PtkitError, match=f"variant {v.name} has no torchaudio"):
        render.requirements(v, ["torch", "torchaudio"])


PROV = Provenance("0123456789abcdef", WHEN, source_time=WHEN - dt.timedelta(days=1))


def plan(variant, inputs=BuildInputs(), flavor="devel"):  # noqa: B008 - a frozen value
    return render.plan(Image(variant, PROV, flavor, base_image=inputs.base_image or ""), inputs)


def test_split_ref_handles_registry_ports():
    assert split_ref("localhost:5000/team/pytorch") == ("localhost:5000/team/pytorch", "latest")
    assert split_ref("localhost:5000/a:b") == ("localhost:5000/a", "b")


def test_plan_build_args_and_labels():
    cuda = plan(CUDA, BuildInputs(base_image=BASE_IMAGE))
    args = cuda.build_args()
    assert args["ACCEL"] == "cuda"
    assert args["BASE_IMAGE"] == BASE_IMAGE
    assert args["OCI_CREATED"] == "2026-11-27T12:00:00Z"
    assert args["OCI_REVISION"] == PROV.revision
    assert args["PTKIT_CUDA"] == CUDA.cuda
    assert args["SOURCE_DATE_EPOCH"] == str(int(PROV.source_time.timestamp()))  # the commit's time, not the clock
    assert json.loads(cuda.expected_json())["packages"]["torch"] == CUDA.torch
    assert plan(CPU).build_args()["ACCEL"] == "cpu"
    assert plan(CPU).image.base == CPU.base_image  # the matrix's, unless given


def test_build_inputs_reach_the_plan_as_one_value():
    inputs = BuildInputs(index_url="https://mirror.invalid/simple", extra_index_url="https://extra.invalid/simple",
                         packages=("torch", "numpy==2.0.0"))
    runtime = plan(CPU, inputs, flavor="runtime")
    assert runtime.index_url == inputs.index_url
    assert runtime.build_args()["EXTRA_INDEX_URL"] == inputs.extra_index_url
    assert runtime.requirements == [f"torch=={CPU.torch}", "numpy==2.0.0"]
    assert runtime.flavor == "runtime"


def test_conda_specs_are_rendered_from_the_matrix():
    text = render.conda_env(FULL)
    assert f"--index-url {FULL.index_url}" in text
    assert f"torch=={FULL.torch}" in text
    proc = run_ptkit("render", "--check")
    assert proc.returncode == 0, proc.stderr  # committed files are in step


def test_render_check_detects_drift(tmp_path):
    (tmp_path / "matrix.toml").write_text((ROOT / "matrix.toml").read_text())
    out = ["--matrix", str(tmp_path / "matrix.toml"), "--out", str(tmp_path / "conda")]
    proc = run_ptkit("render", "--check", *out)
    assert proc.returncode == 1, proc.stderr  # nothing rendered there yet
    assert "out of date" in proc.stderr
    assert run_ptkit("render", *out).returncode == 0
    assert run_ptkit("render", "--check", *out).returncode == 0
    (tmp_path / "conda" / f"{CPU.name}.yml").write_text("edited by hand\n")
    proc = run_ptkit("render", "--check", *out)
    assert proc.returncode == 1, proc.stderr
    assert f"{CPU.name}.yml" in proc.stderr


def test_the_driver_table_of_the_reference_doc_is_written_from_the_verifiers_table(tmp_path):
    old = "11.8 >=520.61.05 | 13.0 >=580.65.06.\n"
    stale = f"# facts\n\nintro\n{render.DRIVER_BEGIN}\n{old}{render.DRIVER_END}\n\n## next\n"
    doc = render.with_driver_table(stale)
    assert doc.startswith("# facts\n\nintro\n") and doc.endswith(f"{render.DRIVER_END}\n\n## next\n")
    # CUDA 13.2 GA needs 595.45.04 (its release notes, Table 3); the hand copy had stopped at 13.0.
    assert "13.2 >=595.45.04" in doc and "Minor-version compatibility: 11.x >=450.80.02" in doc
    with pytest.raises(PtkitError, match="no driver-table markers"):
        render.with_driver_table("# facts without markers\n")
    (tmp_path / "matrix.toml").write_bytes((ROOT / "matrix.toml").read_bytes())
    (tmp_path / render.DRIVER_DOC).parent.mkdir(parents=True)
    (tmp_path / render.DRIVER_DOC).write_text(stale)
    where = ("--matrix", str(tmp_path / "matrix.toml"), "--out", str(tmp_path / "conda"))
    assert run_ptkit("render", *where).returncode == 0
    proc = run_ptkit("render", "--check", *where)
    assert proc.returncode == 0, proc.stderr
    (tmp_path / render.DRIVER_DOC).write_text(stale)
    proc = run_ptkit("render", "--check", *where)
    assert proc.returncode == 1 and "torch-cuda.md" in proc.stderr


def test_every_build_argument_is_one_the_dockerfile_declares():
    import re

    declared = {name for line in (ROOT / "docker" / "Dockerfile").read_text().splitlines() if line.startswith("ARG ")
                for name in re.findall(r"([A-Z_][A-Z0-9_]*)(?:=\S*)?", line[4:])}
    for variant in (CPU, CUDA):
        for flavor in ("devel", "runtime"):
            args = plan(variant, BuildInputs(installer="pip"), flavor=flavor).build_args()
            assert set(args) <= declared, sorted(set(args) - declared)  # an undeclared one is silently ignored
            assert {"INDEX_URL", "EXTRA_INDEX_URL", "INSTALLER", "PYPI_URL"} <= set(args)
            assert args["INDEX_URL"] == variant.index_url and args["PYPI_URL"] == "https://pypi.org/simple"
            assert args["INSTALLER"] == "pip"


def test_the_expected_packages_file_names_the_variant_its_pins_and_cuda():
    expected = json.loads(plan(CUDA).expected_json())
    assert expected == {"variant": CUDA.name, "cuda": CUDA.cuda,
                        "packages": {name: getattr(CUDA, name) for name in ("torch", "torchvision", "torchaudio")
                                     if getattr(CUDA, name)}}


@pytest.mark.parametrize(("spec", "name"), [
    ("torch==2.5.1", "torch"), (" Torch_Vision >= 0.20 ", "torch-vision"), ("numpy[extra]", "numpy"),
    ("pkg@ https://x.invalid/p.whl", "pkg"), ("a ; python_version > '3'", "a"), ("b~=1.0", "b"), ("c!=2", "c"),
])
def test_package_names_are_normalized_as_pip_compares_them(spec, name):
    assert render.package_name(spec) == name


@pytest.mark.parametrize("on_pypi", [True, False])
def test_a_conda_spec_is_an_environment_file_conda_reads(on_pypi):
    import yaml

    variant = next((v for v in matrix_facts.MATRIX.variants.values()
                    if (v.index_url == "https://pypi.org/simple") == on_pypi), None)
    if variant is None:
        pytest.skip("no such row in this matrix")
    text = render.conda_env(variant)
    assert text.endswith("\n") and not text.endswith("\n\n")  # one final newline
    env = yaml.safe_load(text)
    assert env["name"] == f"ptkit-{variant.name}" and env["channels"] == ["conda-forge"]
    assert env["dependencies"][:2] == [f"python={variant.python}", "pip"]
    pip = env["dependencies"][2]["pip"]
    extra = [] if on_pypi else ["--extra-index-url https://pypi.org/simple"]
    assert pip[:1 + len(extra)] == [f"--index-url {variant.index_url}", *extra]
    assert f"torch=={variant.torch}" in pip[1 + len(extra):]


def test_the_driver_table_lists_every_release_in_one_row_and_only_the_first_marked_block_is_rewritten():
    from ptkit.verify.facts import MIN_DRIVER, MINOR_COMPAT_FLOOR

    rows, floors = render.driver_table().splitlines()
    assert rows.removesuffix(".").split(" | ") == [f"{cuda} >={driver}" for cuda, driver in MIN_DRIVER.items()]
    assert floors.removeprefix("Minor-version compatibility: ").rstrip(".").split("; ") == [
        f"{major}.x >={driver}" for major, driver in MINOR_COMPAT_FLOOR.items()]
    # a doc quoting the markers again further down (an example) keeps that copy as it is
    block = f"{render.DRIVER_BEGIN}\nold\n{render.DRIVER_END}"
    doc = render.with_driver_table(f"a\n{block}\nb\n{block}\nc\n")
    assert doc == f"a\n{render.DRIVER_BEGIN}\n{render.driver_table()}{render.DRIVER_END}\nb\n{block}\nc\n"
    for half in (f"{render.DRIVER_BEGIN}\nold\n", f"old\n{render.DRIVER_END}\n"):
        with pytest.raises(PtkitError, match="no driver-table markers"):
            render.with_driver_table(half)
