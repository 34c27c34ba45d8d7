"""snapshot.py (manifests, reports and images as one view), diff.py (what changed, what could not be compared) and
sbom.py (the CycloneDX document, made and validated by the real cyclonedx library), in-process and pure.

The only stand-in is the engine for snapshot.from_image/load: images.run_module answers what inventory.py prints
in an image and images.manifest a manifest dict (tests/docker/test_repro.py diffs real images).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from ptkit.errors import PtkitError, UsageError
from ptkit.repro import images, sbom, snapshot
from ptkit.repro.diff import Change, compared, diff, facts, packages, render
from ptkit.repro.snapshot import Snapshot
from ptkit.verify import inventory

NO_FACTS = {"torch": None, "cuda": None, "cudnn": None, "nccl": None, "arch_list": None}
FACTS = {"torch": "2.13.0+cu126", "cuda": "12.6", "cudnn": "9.1.0", "nccl": "2.21.5", "arch_list": ["sm_80", "sm_90"]}


@pytest.mark.parametrize(("value", "text"), [
    (92400, "9.24.0"), (90100, "9.1.0"), (10000, "1.0.0"), (10001, "1.0.1"),  # cuDNN 9: major * 10000
    (8902, "8.9.2"), (9999, "9.9.99"), (1, "0.0.1"),  # cuDNN 8: major * 1000 + minor * 100 + patch
    (0, 0), (-1, -1), (True, True), ("9.1.0", "9.1.0"), (None, None),  # not a version number: as it is
])
def test_cudnn_integers_read_as_reports_write_them(value, text) -> None:
    assert snapshot._cudnn(value) == text


MANIFEST = {"schema": "ptkit.manifest/1", "build": {"variant": "cuda126"}, "fingerprint": {"digest": "sha256:f"},
            "torch": {**FACTS, "cudnn": 90100, "arch_list": ["sm_90", "sm_80"]},
            "python": {"packages": {"torch": {"version": "2.13.0+cu126"}}},
            "debian": {"packages": {"bash": {"version": "5.2", "arch": "amd64"}}}}


@pytest.mark.parametrize(("data", "expected"), [
    (MANIFEST,
     Snapshot("m.json", {"torch": "2.13.0+cu126"}, {"bash": "5.2"}, FACTS, "sha256:f", {"variant": "cuda126"})),
    ({}, Snapshot("m.json", None, None, NO_FACTS, None, {})),
    ({"python": None, "debian": {"packages": None}, "fingerprint": {}, "build": None},
     Snapshot("m.json", None, None, NO_FACTS, None, {})),
])
def test_a_manifest_is_its_packages_facts_fingerprint_and_build(data, expected) -> None:
    assert snapshot.from_manifest("m.json", data) == expected


@pytest.mark.parametrize(("data", "problem"), [
    ({"python": []}, "'python' is not a table"), ({"debian": "x"}, "'debian' is not a table"),
    ({"python": {"packages": []}}, "'python.packages' is not a table"),
    ({"debian": {"packages": 1}}, "'debian.packages' is not a table"),
    ({"python": {"packages": {"demo": {}}}}, "a python package without a version"),
    ({"debian": {"packages": {"bash": {"version": 5}}}}, "a debian package without a version"),
    ({"fingerprint": "sha256:x"}, "'fingerprint' is not a table"), ({"build": 5}, "'build' is not a table"),
    ({"torch": "2.13.0"}, "'torch' is not a table"),
])
def test_a_malformed_manifest_is_named_with_its_label(data, problem) -> None:
    with pytest.raises(UsageError) as err:
        snapshot.from_manifest("m.json", data)
    assert str(err.value) == f"m.json: malformed: {problem}"


@pytest.mark.parametrize(("env", "expected"), [
    ({**FACTS, "arch_list": ["sm_70"], "build": {"arch_list": ["sm_90", "sm_80"]}, "built_fingerprint": "sha256:f"},
     Snapshot("r.json", None, None, FACTS, "sha256:f")),  # the build block's arch list wins
    ({**FACTS, "arch_list": ["sm_90", "sm_80"], "build": "?"}, Snapshot("r.json", None, None, FACTS)),
    ({**FACTS, "arch_list": ["sm_90", "sm_80"], "build": {}}, Snapshot("r.json", None, None, FACTS)),
    (None, Snapshot("r.json", None, None, NO_FACTS)),
])
def test_a_report_is_its_facts_and_built_fingerprint(env, expected) -> None:
    assert snapshot.from_report("r.json", {"environment": env}) == expected


def test_a_malformed_report_is_named_with_its_label() -> None:
    with pytest.raises(UsageError, match=r"^r\.json: malformed: 'environment' is not a table$"):
        snapshot.from_report("r.json", {"environment": []})


@pytest.mark.parametrize(("data", "python"), [(MANIFEST, {"torch": "2.13.0+cu126"}),
                                              ({"schema": "ptkit.verify/1", "environment": FACTS}, None)])
def test_a_file_is_labelled_with_its_path(tmp_path, data, python) -> None:
    (tmp_path / "x.json").write_text(json.dumps(data))
    found = snapshot.from_file(tmp_path / "x.json")
    assert (found.label, found.python, found.facts) == (str(tmp_path / "x.json"), python, FACTS)


@pytest.mark.parametrize(("content", "problem"), [
    (None, "diff: {path}: is a folder, not a file"),
    ("{not json", "{path}: not a readable JSON file (Expecting property name enclosed in double quotes: line 1 column "
                  "2 (char 1))"),  # Python's json error
    ('{"schema": "other/1"}', "{path}: neither a ptkit manifest (ptkit.manifest/1) nor a report (ptkit.verify/1)"),
    ("[]", "{path}: neither a ptkit manifest (ptkit.manifest/1) nor a report (ptkit.verify/1)"),
])
def test_a_file_that_is_neither_is_one_usage_error(tmp_path, content, problem) -> None:
    path = tmp_path if content is None else tmp_path / "x.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UsageError) as err:
        snapshot.load(str(path), lambda: pytest.fail("asked Docker"))
    assert str(err.value) == problem.format(path=path)


LIVE = {"python": {"demo": {"version": "1.0", "record": "r"}}, "debian": {"bash": {"version": "5.2", "arch": "amd64"}},
        "torch": {**FACTS, "cudnn": 90100}}


@pytest.mark.parametrize(("recorded", "fingerprint", "build"), [
    ({"fingerprint": {"digest": "sha256:f"}, "build": {"variant": "cpu"}}, "sha256:f", {"variant": "cpu"}),
    (None, None, {}),  # an image without a manifest
])
def test_an_image_is_read_live_and_its_manifest_adds_the_record(monkeypatch, tmp_path, recorded, fingerprint,
                                                                build) -> None:
    monkeypatch.chdir(tmp_path)
    api, calls = object(), []
    monkeypatch.setattr(images, "run_module", lambda *a: calls.append(a) or json.dumps(LIVE))
    monkeypatch.setattr(images, "manifest", lambda *a: calls.append(a) or recorded)
    assert snapshot.load("ptkit:cpu", lambda: api) == Snapshot("ptkit:cpu", {"demo": "1.0"}, {"bash": "5.2"}, FACTS,
                                                               fingerprint, build)
    assert calls == [(api, "ptkit:cpu", Path(inventory.__file__), []), (api, "ptkit:cpu")]


@pytest.mark.parametrize(("ref", "message"), [
    (" ", "an empty argument is neither a file nor an image"), ("x.json", "x.json: no such file"),
    ("./x", "./x: no such file"), ("~x", "~x: no such file"), ("{tmp}/no/x", "{tmp}/no/x: no such file"),
    ("Bad::Ref", "'Bad::Ref': no such file, and not an image reference"),
])
def test_load_refuses_what_is_neither_a_file_nor_an_image(monkeypatch, tmp_path, ref, message) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError) as err:
        snapshot.load(ref.format(tmp=tmp_path), lambda: pytest.fail("asked Docker"))
    assert str(err.value) == message.format(tmp=tmp_path)


@pytest.mark.parametrize(("change", "text"), [
    (Change("python", "demo", None, "1.0"), "python: added demo 1.0"),
    (Change("debian", "bash", "5.2", None), "debian: removed bash 5.2"),
    (Change("facts", "arch_list", [], ["sm_80", "sm_90"]), "facts: changed arch_list (none) -> sm_80 sm_90"),
    (Change("facts", "arch_list", ["sm_80"], None), "facts: removed arch_list sm_80"),
    (Change("facts", "cuda", "unknown", "12.6"), "facts: changed cuda unknown -> 12.6"),
])
def test_a_change_reads_as_one_line(change, text) -> None:
    assert str(change) == text


def test_packages_added_removed_and_changed_in_name_order() -> None:
    assert packages("python", {"b": "1", "same": "1", "c": "1"}, {"a": "2", "same": "1", "c": "2"}) == [
        Change("python", "a", None, "2"), Change("python", "b", "1", None), Change("python", "c", "1", "2")]


def test_a_fact_one_side_lacks_is_unknown_there() -> None:
    a, b = {"torch": "2.13.0", "cuda": "12.6", "nccl": "2.21.5"}, {"torch": "2.13.0", "cudnn": "9.1.0", "nccl": "2.22"}
    assert facts(a, b) == [Change("facts", "cuda", "12.6", "unknown"), Change("facts", "cudnn", "unknown", "9.1.0"),
                           Change("facts", "nccl", "2.21.5", "2.22")]


MANIFEST_SIDE = Snapshot("m.json", {"demo": "1.0"}, {"bash": "5.2"}, {"torch": "2.13.0"}, "sha256:a")
REPORT_SIDE = Snapshot("r.json", None, None, {"torch": "2.13.0"}, "sha256:b")


@pytest.mark.parametrize(("a", "b"), [(MANIFEST_SIDE, REPORT_SIDE), (REPORT_SIDE, MANIFEST_SIDE)])
def test_diff_says_which_side_does_not_list_packages_and_compares_fingerprints(a, b) -> None:
    unknown = ["python packages (r.json does not list them)", "debian packages (r.json does not list them)"]
    assert diff(a, b) == ([Change("fingerprint", "environment", a.fingerprint, b.fingerprint)], unknown)


def test_diff_compares_the_package_sections_both_sides_list() -> None:
    side = Snapshot("c", None, {"bash": "5.1"}, {})
    assert diff(side, MANIFEST_SIDE) == ([Change("debian", "bash", "5.1", "5.2"), Change("facts", "torch", "unknown",
                                                                                        "2.13.0")],
                                         ["python packages (c does not list them)"])


@pytest.mark.parametrize(("a", "b", "what"), [
    (MANIFEST_SIDE, MANIFEST_SIDE, ["python packages", "debian packages", "torch", "fingerprint"]),
    (MANIFEST_SIDE, REPORT_SIDE, ["torch", "fingerprint"]),
    (Snapshot("c", {}, None, {"cuda": "12.6"}), Snapshot("d", {}, {}, {"nccl": "2.2"}, "sha256:d"),
     ["python packages", "cuda", "nccl"]),
    (Snapshot("c", None, {}, {}), Snapshot("d", {}, {}, {}), ["debian packages"]),
])
def test_compared_is_what_both_sides_let_diff_check(a, b, what) -> None:
    assert compared(a, b) == what


@pytest.mark.parametrize(("changes", "unknown", "last"), [
    ([], [], ["identical"]),
    ([], ["python packages (r.json does not list them)"],
     ["not compared: python packages (r.json does not list them)",
      "identical in what was compared: torch, fingerprint"]),
    ([Change("facts", "torch", "2.12.0", "2.13.0")], [], ["facts: changed torch 2.12.0 -> 2.13.0", "1 difference(s)"]),
])
def test_render_says_identical_only_for_what_was_compared(changes, unknown, last) -> None:
    assert render(MANIFEST_SIDE, REPORT_SIDE, changes, unknown) == ["--- m.json", "+++ r.json", *last]


SMALL = {"python": {"packages": {"torch": {"version": "2.13.0+cpu", "sha256": ["a" * 64, "b" * 64]},
                                 "numpy": {"version": "2.1.0"}}},
         "debian": {"packages": {"libc6:arm64": {"version": "2.36-9", "arch": "arm64"},
                                 "bash": {"version": "5.2", "arch": "amd64"}}}}


def document(image_id: str | None, manifest: dict[str, Any]) -> dict[str, Any]:
    return json.loads(sbom.to_json(sbom.build("ptkit:cpu", image_id, manifest)))


def test_sbom_components_carry_purls_bom_refs_and_wheel_hashes() -> None:
    assert sbom.to_json(sbom.build("ptkit:cpu", None, SMALL)).splitlines()[:3] == [  # indented for people: by 2
        "{", '  "components": [', "    {"]
    found = sorted(document(None, SMALL)["components"], key=lambda c: c["bom-ref"])
    assert found == [  # purl spec: pkg:deb/debian/NAME@VERSION?arch=ARCH, pkg:pypi/NAME@VERSION ('+' as %2B)
        {"bom-ref": "deb:bash@5.2", "name": "bash", "purl": "pkg:deb/debian/bash@5.2?arch=amd64", "type": "library",
         "version": "5.2"},
        {"bom-ref": "deb:libc6:arm64@2.36-9", "name": "libc6", "purl": "pkg:deb/debian/libc6@2.36-9?arch=arm64",
         "type": "library", "version": "2.36-9"},
        {"bom-ref": "pypi:numpy@2.1.0", "name": "numpy", "purl": "pkg:pypi/numpy@2.1.0", "type": "library",
         "version": "2.1.0"},
        {"bom-ref": "pypi:torch@2.13.0+cpu", "name": "torch", "purl": "pkg:pypi/torch@2.13.0%2Bcpu", "type": "library",
         "version": "2.13.0+cpu",
         "hashes": [{"alg": "SHA-256", "content": "a" * 64}, {"alg": "SHA-256", "content": "b" * 64}]},
    ]


@pytest.mark.parametrize(("image_id", "root"), [
    ("sha256:" + "c" * 64, {"bom-ref": "ptkit:cpu", "name": "ptkit:cpu", "type": "container",
                            "version": "sha256:" + "c" * 64, "hashes": [{"alg": "SHA-256", "content": "c" * 64}]}),
    (None, {"bom-ref": "ptkit:cpu", "name": "ptkit:cpu", "type": "container", "version": "unknown"}),
])
def test_sbom_root_is_the_image_and_depends_on_every_package(image_id, root) -> None:
    bom = document(image_id, SMALL)
    assert bom["metadata"]["component"] == root
    assert (bom["specVersion"], bom["bomFormat"]) == ("1.6", "CycloneDX")
    assert {d["ref"]: d.get("dependsOn", []) for d in bom["dependencies"]} == {
        "ptkit:cpu": ["deb:bash@5.2", "deb:libc6:arm64@2.36-9", "pypi:numpy@2.1.0", "pypi:torch@2.13.0+cpu"],
        "deb:bash@5.2": [], "deb:libc6:arm64@2.36-9": [], "pypi:numpy@2.1.0": [], "pypi:torch@2.13.0+cpu": []}


HASH_PATTERN = "^([a-fA-F0-9]{32}|[a-fA-F0-9]{40}|[a-fA-F0-9]{64}|[a-fA-F0-9]{96}|[a-fA-F0-9]{128})$"  # CycloneDX 1.6


def test_validate_returns_every_schema_error_and_none_for_a_valid_document() -> None:
    assert sbom.validate(sbom.to_json(sbom.build("ptkit:cpu", None, SMALL))) == []
    broken = {"python": {"packages": {"demo": {"version": "1.0", "sha256": ["not-hex", "nor-this"]}}}}
    errors = sbom.validate(sbom.to_json(sbom.build("ptkit:cpu", None, broken)))
    assert sorted(e.splitlines()[0] for e in errors) == [f"'nor-this' does not match '{HASH_PATTERN}'",
                                                         f"'not-hex' does not match '{HASH_PATTERN}'"]


def test_live_manifest_is_the_inventory_in_the_manifests_shape() -> None:
    python, debian = {"demo": {"version": "1.0", "record": "r"}}, None  # no dpkg in the image
    assert sbom.live_manifest({"python": python, "debian": debian, "torch": {}}) == {
        "python": {"packages": python}, "debian": {"packages": None}}
    assert document(None, sbom.live_manifest({"python": python, "debian": debian}))["components"] == [
        {"bom-ref": "pypi:demo@1.0", "name": "demo", "purl": "pkg:pypi/demo@1.0", "type": "library", "version": "1.0"}]


def test_sbom_without_the_cyclonedx_library_is_one_line(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "packageurl", None)  # `from packageurl import ...` raises ImportError
    with pytest.raises(PtkitError, match=r"^the cyclonedx library is missing: pip install 'ptkit\[dev\]'$"):
        sbom.build("ptkit:cpu", None, SMALL)


@pytest.mark.parametrize(("manifest", "missing"), [
    ({}, "'python'"), ({"python": {}}, "'packages'"),
    ({"python": {"packages": {"torch": {}}}}, "'version'"),
    ({"python": {"packages": {}}, "debian": {"packages": {"libc6:amd64": {"version": "2.36"}}}}, "'arch'")])
def test_sbom_of_a_malformed_manifest_is_one_line_naming_what_is_missing(manifest, missing) -> None:
    with pytest.raises(PtkitError) as caught:
        sbom.build("team/img:1", None, manifest)
    assert str(caught.value) == (f"team/img:1: its manifest is malformed (no {missing} where a package table or "
                                 "field belongs), no SBOM made")
