"""`ptkit diff` and `ptkit sbom` on manifests of real venvs, the conda specs through rattler, and
`conda-lock` against the unreachable conda-forge."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from ptkit import matrix
from ptkit.errors import PtkitError
from ptkit.repro import commands, conda, diff, sbom, snapshot
from ptkit.verify import inventory
from tests.utils.venvs import make_wheel, pip_install, write_manifest

ROOT = Path(__file__).resolve().parents[1]
MATRIX = matrix.load(ROOT / "matrix.toml")


def run(*argv: str) -> int:
    """A repro command as cli.py dispatches it (register() on a real parser); PtkitErrors propagate."""
    parser = argparse.ArgumentParser(prog="ptkit")
    commands.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


@pytest.fixture(scope="module")
def manifests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Manifests of two venvs that differ in exactly one package (demo 1.0 -> 1.1), and a copy of the first."""
    import subprocess
    import sys

    tmp = tmp_path_factory.mktemp("manifests")
    found = {}
    for label, version in (("a", "1.0"), ("b", "1.1")):
        venv = tmp / label / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        pip_install(venv, make_wheel(tmp, "demo", version))
        found[label] = write_manifest(venv, tmp / label)
    same = tmp / "same.json"
    same.write_text(found["a"].read_text())
    found["same"] = same
    return found


def test_diff_of_one_upgraded_package_names_it_with_both_versions(manifests: dict[str, Path],
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert run("diff", str(manifests["a"]), str(manifests["b"])) == 1
    out = capsys.readouterr().out.splitlines()
    changes = [line for line in out if line.startswith(("python:", "debian:", "facts:"))]
    assert changes == ["python: changed demo 1.0 -> 1.1"]


def test_diff_of_identical_manifests_exits_0(manifests: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert run("diff", str(manifests["a"]), str(manifests["same"])) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "identical"


def test_diff_of_a_report_compares_facts_and_says_what_it_cannot(manifests: dict[str, Path], tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"schema": "ptkit.verify/1", "environment": {"torch": "2.13.0+cpu", "cuda": None}}))
    a, b = snapshot.from_file(manifests["a"]), snapshot.from_file(report)
    changes, unknown = diff.diff(a, b)
    assert [str(c) for c in changes] == ["facts: changed torch unknown -> 2.13.0+cpu"]
    assert [u.split(" ")[0] for u in unknown] == ["python", "debian"]


@pytest.mark.parametrize("content", ["{not json", json.dumps({"schema": "other"}), "[]"])
def test_diff_of_files_that_are_neither_is_a_usage_error(tmp_path: Path, content: str,
                                                         manifests: dict[str, Path]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(PtkitError) as err:
        run("diff", str(bad), str(manifests["a"]))
    assert err.value.exit_code == 2 and str(bad) in str(err.value)


def test_diff_of_a_missing_json_file_is_a_usage_error(manifests: dict[str, Path]) -> None:
    with pytest.raises(PtkitError) as err:
        run("diff", str(manifests["a"]), "no/such/manifest.json")
    assert err.value.exit_code == 2


def test_sbom_of_this_environment_validates_and_lists_torch() -> None:
    live = {"python": inventory.installed_distributions(), "debian": inventory.debian_packages()}
    text = sbom.to_json(sbom.build("host-venv", None, sbom.live_manifest(live)))
    assert sbom.validate(text) == []
    components = {c["name"]: c for c in json.loads(text)["components"]}
    assert components["torch"]["version"] == torch.__version__
    assert components["torch"]["purl"].startswith("pkg:pypi/torch@")
    assert components["dpkg"]["purl"].startswith("pkg:deb/debian/dpkg@")


def test_sbom_carries_the_manifest_hashes_and_the_validator_rejects_a_broken_one(manifests: dict[str, Path]) -> None:
    data = json.loads(manifests["a"].read_text())
    text = sbom.to_json(sbom.build("ptkit:test", "sha256:" + "0" * 64, data))
    bom = json.loads(text)
    assert bom["metadata"]["component"]["type"] == "container"
    demo = next(c for c in bom["components"] if c["name"] == "demo")
    assert demo["hashes"] == [{"alg": "SHA-256", "content": data["python"]["packages"]["demo"]["sha256"][0]}]
    bom["components"][0]["hashes"] = [{"alg": "SHA-256", "content": "not-hex"}]
    assert sbom.validate(json.dumps(bom))


@pytest.mark.parametrize("name", sorted(MATRIX.variants))
def test_every_conda_spec_agrees_with_the_matrix(name: str) -> None:
    assert conda.check(ROOT / "conda" / f"{name}.yml", MATRIX.get(name)) == []


@pytest.mark.parametrize(("old", "new", "problem"), [
    ("python=3.11", "python=3.12", "does not admit the matrix's python 3.11"),
    ("python=3.11", "python>>3", "is not a conda match spec"),
    ("torch==2.13.0+cpu", "torch==2.12.0+cpu", "pip requirements"),
    ("conda-forge", "defaults", "channels"),
    ("--index-url https://download.pytorch.org/whl/cpu", "--index-url https://pypi.org/simple", "lack --index-url"),
])
def test_a_spec_that_drifted_from_the_matrix_is_named(tmp_path: Path, old: str, new: str, problem: str) -> None:
    spec = tmp_path / "cpu.yml"
    spec.write_text((ROOT / "conda" / "cpu.yml").read_text().replace(old, new))
    problems = conda.check(spec, MATRIX.get("cpu"))
    assert problems and problem in problems[0]


def test_cuda_rows_get_the_cuda_virtual_package() -> None:
    def names(variant: Any) -> dict[str, str]:
        return {str(p.name.normalized): str(p.version) for p in conda.virtual_packages(variant)}

    assert names(MATRIX.get("cuda126"))["__cuda"] == "12.6"
    assert "__cuda" not in names(MATRIX.get("cpu"))


def test_conda_lock_fails_in_one_line_naming_the_unreachable_channel(tmp_path: Path) -> None:
    with pytest.raises(PtkitError) as err:
        run("conda-lock", "cuda126", "--spec", str(ROOT / "conda" / "cuda126.yml"), "-o", str(tmp_path / "x.txt"),
            "--matrix", str(ROOT / "matrix.toml"))
    message = str(err.value)
    assert err.value.exit_code == 1 and "\n" not in message
    assert message.startswith("conda channel conda-forge (https://conda.anaconda.org/conda-forge/) is not reachable")
    assert not (tmp_path / "x.txt").exists()


EVIDENCE = ROOT / "docs" / "evidence" / "matrix"


def manifest_of(report: dict[str, Any]) -> dict[str, Any]:
    """The manifest docker/manifest.py writes in the image a report came from: torch's facts as the inventory
    prints them (torch.backends.cudnn.version()'s integer, 9.24.0 -> 92400; the arch list sorted as text)."""
    env = report["environment"]
    major, minor, patch = map(int, env["cudnn"].split("."))
    return {"schema": snapshot.MANIFEST_SCHEMA, "torch": {
        "torch": env["torch"], "cuda": env["cuda"], "cudnn": major * 10000 + minor * 100 + patch, "nccl": env["nccl"],
        "arch_list": sorted(env["build"]["arch_list"])}}


def test_diff_of_an_images_manifest_and_its_report_finds_them_the_same(tmp_path, capsys):
    report = EVIDENCE / "cuda130-runtime.json"
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(manifest_of(json.loads(report.read_text()))))
    assert run("diff", str(manifest), str(report)) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "identical in what was compared: torch, cuda, cudnn, nccl, arch_list"
    assert "not compared: python packages" in out[-3]


def test_diff_names_a_changed_arch_list_between_a_manifest_and_a_report(tmp_path, capsys):
    data = json.loads((EVIDENCE / "cuda130-runtime.json").read_text())
    manifest = manifest_of(data)
    manifest["torch"]["arch_list"] = manifest["torch"]["arch_list"][1:]
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    assert run("diff", str(tmp_path / "m.json"), str(EVIDENCE / "cuda130-runtime.json")) == 1
    assert "facts: changed arch_list" in capsys.readouterr().out


def test_diff_of_two_reports_without_facts_is_not_identical(tmp_path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.json").write_text(json.dumps({"schema": "ptkit.verify/1", "environment": {}}))
    with pytest.raises(PtkitError, match="nothing diff can compare") as err:
        run("diff", str(tmp_path / "a.json"), str(tmp_path / "b.json"))
    assert err.value.exit_code == 2


@pytest.mark.parametrize("manifest", [
    {"python": []}, {"python": {"packages": {"demo": {}}}}, {"python": {"packages": {"demo": {"version": 1}}}},
    {"python": {"packages": ["demo"]}}, {"fingerprint": "sha256:x"}, {"torch": "2.13.0"}, {"build": 5},
])
def test_diff_of_a_malformed_manifest_is_one_usage_error(tmp_path, manifests, manifest):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema": snapshot.MANIFEST_SCHEMA, **manifest}))
    with pytest.raises(PtkitError, match="malformed") as err:
        run("diff", str(bad), str(manifests["a"]))
    assert err.value.exit_code == 2


@pytest.mark.parametrize("ref", ["docs/evidence/matrix/cpu-runtime.jsn", "docs/evidnce/cpu.json", "Bad::Ref",
                                 "./nope", "reports/"])
def test_a_mistyped_path_is_no_such_file_not_an_image(manifests, monkeypatch, ref):
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(commands, "_client", lambda: pytest.fail("asked Docker about a path"))
    with pytest.raises(PtkitError, match=r"no such file|is a folder") as err:
        run("diff", str(manifests["a"]), ref)
    assert err.value.exit_code == 2
