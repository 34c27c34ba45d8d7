from __future__ import annotations

import datetime as dt
import json

import pytest

from conftest import ROOT, run_ptkit
from ptkit import matrix, render
from ptkit.errors import PtkitError

M = matrix.load(ROOT / "matrix.toml")
WHEN = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.timezone.utc)


def test_default_package_set_pins_the_matrix():
    lines, expected = render.requirements(M.get("cuda118"))
    assert lines == ["torch==2.7.1+cu118", "torchvision==0.22.1+cu118", "torchaudio==2.7.1+cu118", "numpy"]
    assert expected == {"torch": "2.7.1+cu118", "torchvision": "0.22.1+cu118", "torchaudio": "2.7.1+cu118"}


def test_packages_override_keeps_pins_and_passes_other_specs_through():
    lines, expected = render.requirements(M.get("cpu"), ["torch", "numpy==2.4.6"])
    assert lines == ["torch==2.13.0+cpu", "numpy==2.4.6"] and expected == {"torch": "2.13.0+cpu"}


def test_packages_without_torch_or_with_a_missing_release_are_refused():
    with pytest.raises(PtkitError, match="must include torch"):
        render.requirements(M.get("cpu"), ["numpy"])
    with pytest.raises(PtkitError, match="variant cuda130 has no torchaudio"):
        render.requirements(M.get("cuda130"), ["torch", "torchaudio"])


def test_tags_describe_contents_and_push_only_named_repositories():
    v = M.get("cuda130")
    tags, pushed = render.tags(v, ["localhost:5000/team/pytorch:cu13"], "0123456789abcdef", WHEN)
    assert tags[:3] == ["ptkit:cuda130", "ptkit:2.14.1-cuda130-py3.11", "ptkit:2.14.1-cuda130-py3.11-20261127-0123456"]
    assert pushed == ["localhost:5000/team/pytorch:cu13", "localhost:5000/team/pytorch:2.14.1-cuda130-py3.11",
                      "localhost:5000/team/pytorch:2.14.1-cuda130-py3.11-20261127-0123456"]
    assert all(t in tags for t in pushed) and "ptkit:latest" not in tags
    assert "ptkit:latest" in render.tags(M.get("cpu"), [], "0123456789abcdef", WHEN, latest=True)[0]
    assert M.latest == "cpu"


def test_stamped_tag_marks_uncommitted_sources():
    dirty = render.stamped_tag(M.get("cpu"), "0123456789abcdef-dirty", WHEN)
    assert dirty == "2.13.0-cpu-py3.11-20261127-0123456-dirty"
    assert render.stamped_tag(M.get("cpu"), "unknown", WHEN) == "2.13.0-cpu-py3.11-20261127-norev"


def test_split_ref_handles_registry_ports():
    assert render.split_ref("localhost:5000/team/pytorch") == ("localhost:5000/team/pytorch", "latest")
    assert render.split_ref("localhost:5000/a:b") == ("localhost:5000/a", "b")


def test_plan_build_args_and_labels():
    plan = render.plan(M.get("cuda130"), base_image="ptkit/base:bookworm", now=WHEN)
    args = plan.build_args()
    assert args["FLAVOR"] == "cuda" and args["BASE_IMAGE"] == "ptkit/base:bookworm"
    assert args["OCI_CREATED"] == "2026-11-27T12:00:00Z" and args["PTKIT_CUDA"] == "13.0"
    assert json.loads(plan.expected_json())["packages"]["torch"] == "2.14.1"
    assert render.plan(M.get("cpu"), now=WHEN).build_args()["FLAVOR"] == "cpu"


def test_conda_specs_are_rendered_from_the_matrix():
    text = render.conda_env(M.get("cuda118"))
    assert "--index-url https://download.pytorch.org/whl/cu118" in text and "torch==2.7.1+cu118" in text
    assert run_ptkit("render", "--check").returncode == 0  # committed files are in step


def test_render_check_detects_drift(tmp_path):
    (tmp_path / "matrix.toml").write_text((ROOT / "matrix.toml").read_text())
    proc = run_ptkit("render", "--check", "--matrix", str(tmp_path / "matrix.toml"))
    assert proc.returncode == 1 and "out of date" in proc.stderr
    assert run_ptkit("render", "--matrix", str(tmp_path / "matrix.toml")).returncode == 0
    assert run_ptkit("render", "--check", "--matrix", str(tmp_path / "matrix.toml")).returncode == 0
