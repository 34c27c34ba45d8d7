"""Manifests and drift on a real venv: docker/manifest.py records it, real pip changes it, and the
verifier's drift check (run by the venv's own interpreter) names what changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ptkit.verify.results import FAIL, PASS, SKIP, WARN, Report
from tests.utils.venvs import PIP_ENV, make_wheel, pip_install, write_manifest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
# The check as the image runs it: the venv's interpreter, ptkit importable, the manifest at PTKIT_MANIFEST.
RUN_CHECK = """
import json, sys
sys.path.append(sys.argv[1])
from ptkit.verify.drift import check_drift
from ptkit.verify.results import Report
sys.path.remove(sys.argv[1])  # a checkout's src/ has ptkit.egg-info; an image's /opt/ptkit has none
report = Report()
check_drift(report, strict=sys.argv[2] == "strict")
print(json.dumps([report.checks[0].status, report.checks[0].detail]))
"""


def drift_in_image(venv: Path, manifest: Path, strict: bool = False) -> tuple[str, str]:
    """The check as an image runs it: the venv's own interpreter."""
    proc = subprocess.run([str(venv / "bin" / "python"), "-c", RUN_CHECK, str(SRC), "strict" if strict else "warn"],
                          capture_output=True, text=True, env={**os.environ, "PTKIT_MANIFEST": str(manifest)})
    assert proc.returncode == 0, proc.stderr
    status, detail = json.loads(proc.stdout)
    return status, detail


def drift(venv: Path, manifest: Path, strict: bool = False) -> tuple[str, str]:
    """The same check in this process, pointed at the venv (its prefix, its site-packages as sys.path),
    so that mutation testing sees it run."""
    from ptkit.verify.drift import check_drift

    site = sorted((venv / "lib").glob("python3*/site-packages"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PTKIT_MANIFEST", str(manifest))
        mp.setattr(sys, "prefix", str(venv))
        mp.setattr(sys, "path", [str(p) for p in site])
        report = Report()
        check_drift(report, strict)
    return report.checks[0].status, report.checks[0].detail


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("wheels")
    return {f"{n}-{v}": make_wheel(directory, n, v) for n, v in (("demo", "1.0"), ("demo", "1.1"), ("extra", "0.3"))}


@pytest.fixture
def venv(tmp_path: Path, wheels: dict[str, Path]) -> Path:
    path = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    pip_install(path, wheels["demo-1.0"])
    return path


def test_manifest_records_versions_lock_hashes_and_fingerprint(venv: Path, tmp_path: Path) -> None:
    lock = "demo==1.0 --hash=sha256:" + "ab" * 32 + "\n"
    data = json.loads(write_manifest(venv, tmp_path, lock).read_text())
    demo = data["python"]["packages"]["demo"]
    assert (demo["version"], demo["sha256"], demo["hash_source"]) == ("1.0", ["ab" * 32], "lock")
    assert data["build"]["variant"] == "test" and data["build"]["lock_sha256"] is not None
    assert data["fingerprint"]["digest"].startswith("sha256:") and data["fingerprint"]["roots"] == [str(venv)]
    assert "dpkg" in data["debian"]["packages"]  # this host is Debian


def test_manifest_takes_the_hash_pip_recorded_when_there_is_no_lock(venv: Path, tmp_path: Path) -> None:
    data = json.loads(write_manifest(venv, tmp_path).read_text())
    demo = data["python"]["packages"]["demo"]
    # pip writes direct_url.json (with the archive's sha256) for a wheel installed from a file
    assert demo["hash_source"] == "direct_url" and len(demo["sha256"][0]) == 64


def test_no_drift_passes(venv: Path, tmp_path: Path) -> None:
    assert drift(venv, write_manifest(venv, tmp_path)) == (PASS, "1 distributions as built (abc)")


def test_drift_as_the_image_runs_it(venv: Path, tmp_path: Path, wheels: dict[str, Path]) -> None:
    manifest = write_manifest(venv, tmp_path)
    assert drift_in_image(venv, manifest) == (PASS, "1 distributions as built (abc)")
    pip_install(venv, wheels["demo-1.1"])
    assert drift_in_image(venv, manifest, strict=True) == (FAIL, "1 change(s) since the build: demo changed 1.0 -> 1.1")


def test_installed_after_the_build_warns_naming_the_package(venv: Path, tmp_path: Path,
                                                           wheels: dict[str, Path]) -> None:
    manifest = write_manifest(venv, tmp_path)
    pip_install(venv, wheels["extra-0.3"])
    assert drift(venv, manifest) == (WARN, "1 change(s) since the build: extra 0.3 installed after the build")
    assert drift(venv, manifest, strict=True)[0] == FAIL


def test_upgraded_after_the_build_names_both_versions(venv: Path, tmp_path: Path, wheels: dict[str, Path]) -> None:
    manifest = write_manifest(venv, tmp_path)
    pip_install(venv, wheels["demo-1.1"])
    assert drift(venv, manifest)[1] == "1 change(s) since the build: demo changed 1.0 -> 1.1"


def test_removed_after_the_build(venv: Path, tmp_path: Path) -> None:
    manifest = write_manifest(venv, tmp_path)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "uninstall", "-y", "demo"],
                   check=True, env=PIP_ENV, capture_output=True)
    assert "demo 1.0 removed after the build" in drift(venv, manifest)[1]


def test_foreign_environment_without_manifest_is_skipped(venv: Path, tmp_path: Path) -> None:
    status, detail = drift(venv, tmp_path / "absent.json")
    assert status == SKIP and "not a ptkit image" in detail


def test_manifest_of_another_venv_is_skipped_not_misread(venv: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from ptkit.verify.drift import check_drift

    monkeypatch.setenv("PTKIT_MANIFEST", str(write_manifest(venv, tmp_path)))
    report = Report()
    check_drift(report, strict=True)  # in this interpreter, whose prefix is not the manifest's venv
    assert report.checks[0].status == SKIP and str(venv) in report.checks[0].detail


def test_broken_manifest_warns_or_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ptkit.verify.drift import check_drift

    (tmp_path / "m.json").write_text("{not json")
    monkeypatch.setenv("PTKIT_MANIFEST", str(tmp_path / "m.json"))
    for strict, expected in ((False, WARN), (True, FAIL)):
        report = Report()
        check_drift(report, strict)
        assert report.checks[0].status == expected and "unreadable" in report.checks[0].detail


@pytest.mark.parametrize("manifest", [
    {"python": []}, {"python": {"packages": {"demo": {}}}}, {"python": {"packages": {"demo": {"version": 1}}}},
    {"python": {"packages": {"demo": "1.0"}}}, {"python": {"packages": {}}, "fingerprint": "sha256:x"},
    {"python": {"packages": {}}, "build": ["x"]}, {"python": {"packages": {}, "venv": 3}}, [],
])
def test_a_malformed_manifest_is_judged_like_a_truncated_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              manifest: Any) -> None:
    """A manifest of the wrong shape is a WARN (FAIL with --strict) naming it, as a truncated one is: not a crash."""
    from ptkit.verify.drift import check_drift

    (tmp_path / "m.json").write_text(json.dumps(manifest))
    monkeypatch.setenv("PTKIT_MANIFEST", str(tmp_path / "m.json"))
    for strict, expected in ((False, WARN), (True, FAIL)):
        report = Report()
        check_drift(report, strict)
        assert [c.status for c in report.checks] == [expected] and str(tmp_path / "m.json") in report.checks[0].detail
