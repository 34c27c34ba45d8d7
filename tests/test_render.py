from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from ptkit import render
from ptkit.errors import PtkitError
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


def test_tags_describe_contents_and_push_only_named_repositories():
    described = matrix_facts.content_tag(CUDA)
    tags, pushed = render.tags(CUDA, ["localhost:5000/team/pytorch:cu13"], "0123456789abcdef", WHEN)
    assert tags[:3] == [f"ptkit:{CUDA.name}", f"ptkit:{described}", f"ptkit:{described}-20261127-0123456"]
    assert pushed == ["localhost:5000/team/pytorch:cu13", f"localhost:5000/team/pytorch:{described}",
                      f"localhost:5000/team/pytorch:{described}-20261127-0123456"]
    assert all(t in tags for t in pushed)
    assert "ptkit:latest" not in tags
    assert "ptkit:latest" in render.tags(CPU, [], "0123456789abcdef", WHEN, latest=True)[0]


def test_stamped_tag_marks_uncommitted_sources():
    described = matrix_facts.content_tag(CPU)
    assert render.stamped_tag(CPU, "0123456789abcdef-dirty", WHEN) == f"{described}-20261127-0123456-dirty"
    assert render.stamped_tag(CPU, "unknown", WHEN) == f"{described}-20261127-norev"


def test_split_ref_handles_registry_ports():
    assert render.split_ref("localhost:5000/team/pytorch") == ("localhost:5000/team/pytorch", "latest")
    assert render.split_ref("localhost:5000/a:b") == ("localhost:5000/a", "b")


def test_plan_build_args_and_labels():
    plan = render.plan(CUDA, base_image=BASE_IMAGE, now=WHEN)
    args = plan.build_args()
    assert args["FLAVOR"] == "cuda"
    assert args["BASE_IMAGE"] == BASE_IMAGE
    assert args["OCI_CREATED"] == "2026-11-27T12:00:00Z"
    assert args["PTKIT_CUDA"] == CUDA.cuda
    assert json.loads(plan.expected_json())["packages"]["torch"] == CUDA.torch
    assert render.plan(CPU, now=WHEN).build_args()["FLAVOR"] == "cpu"


def test_conda_specs_are_rendered_from_the_matrix():
    text = render.conda_env(FULL)
    assert f"--index-url {FULL.index_url}" in text
    assert f"torch=={FULL.torch}" in text
    proc = run_ptkit("render", "--check")
    assert proc.returncode == 0, proc.stderr  # committed files are in step


def test_render_check_detects_drift(tmp_path):
    (tmp_path / "matrix.toml").write_text((ROOT / "matrix.toml").read_text())
    proc = run_ptkit("render", "--check", "--matrix", str(tmp_path / "matrix.toml"))
    assert proc.returncode == 1, proc.stderr
    assert "out of date" in proc.stderr
    assert run_ptkit("render", "--matrix", str(tmp_path / "matrix.toml")).returncode == 0
    assert run_ptkit("render", "--check", "--matrix", str(tmp_path / "matrix.toml")).returncode == 0
