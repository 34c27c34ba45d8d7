"""The provenance statement's own logic, in-process and fast (for mutation testing of ptkit.repro.attest): the run's
id and times, the resolved dependencies of a manifest's build block, the whole SLSA v1 statement of a known build,
what `problems` says a statement lacks, and the lines `describe` shows. Expected values are written out from the
in-toto Statement v1 and SLSA provenance v1 specs and the module's docstrings. Nothing here needs cosign or a
registry; the cosign steps are in tests/test_attest_steps2.py, and tests/test_attest.py runs all of it for real."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ptkit.repro import attest
from tests.test_attest import BASE_ID, COMMIT, LOCK_SHA, MANIFEST, REPORT, STARTED, subject

DIGEST = "ab" * 32
REF = f"localhost:5000/team/pytorch@sha256:{DIGEST}"
FINISHED = "2026-12-01T08:45:10Z"
SOURCE = {"uri": f"git+https://github.com/ptkit/ptkit@{COMMIT}", "digest": {"gitCommit": COMMIT},
          "annotations": {"ptkit.role": "source", "dirty": False}}
LOCK = {"name": "cpu.txt", "digest": {"sha256": LOCK_SHA}, "annotations": {"ptkit.role": "lock"}}
BASE = {"name": "debian:bookworm-slim", "uri": "docker://debian:bookworm-slim", "digest": {"sha256": BASE_ID},
        "annotations": {"ptkit.role": "base image"}}
REPORT_SHA = hashlib.sha256(REPORT).hexdigest()
# What describe shows of the known statement (the invocation as either spelling reads)
KNOWN_LINES = [f"provenance: localhost:5000/team/pytorch@sha256:{DIGEST}",
               f"  builder https://github.com/ptkit/ptkit@0.1.0, invocation run-1 (2026-12-01T08:30:00Z to {FINISHED})",
               f"  commit {COMMIT}", "  variant cpu (runtime, linux/amd64, source pypi)",
               f"  lock cpu.txt sha256:{LOCK_SHA}", f"  base image debian:bookworm-slim sha256:{BASE_ID}",
               f"  verifier report cpu-runtime.json sha256:{REPORT_SHA}"]


def known_statement(digest: str = DIGEST, invocation_key: str = "invocationId",
                    statement_type: str = "https://in-toto.io/Statement/v1") -> dict[str, Any]:
    """The statement of tests/test_attest.MANIFEST pushed as REF, written out field by field; cosign 2.5's copy in
    the registry is Statement/v0.1 with `invocationID` (attest.py's docstring, cosign issue 4238)."""
    return {
        "_type": statement_type,
        "subject": [{"name": "localhost:5000/team/pytorch", "digest": {"sha256": digest}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": "https://github.com/ptkit/ptkit/buildtypes/image/v1",
                "externalParameters": {"variant": "cpu", "flavor": "runtime", "platform": "linux/amd64",
                                       "source": "pypi", "matrix": {"name": "cpu", "torch": "2.10.0"}},
                "resolvedDependencies": [SOURCE, LOCK, BASE]},
            "runDetails": {
                "builder": {"id": "https://github.com/ptkit/ptkit@0.1.0", "version": {"ptkit": "0.1.0"}},
                "metadata": {invocation_key: "run-1", "startedOn": "2026-12-01T08:30:00Z", "finishedOn": FINISHED},
                "byproducts": [{"name": "cpu-runtime.json", "mediaType": "application/json",
                                "digest": {"sha256": REPORT_SHA}, "annotations": {"ptkit.role": "verifier report"}}]},
        },
    }


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@pytest.fixture
def tokyo() -> Iterator[None]:
    """The host's local time 9 h ahead of UTC (a POSIX TZ rule: no tz database needed), so local time cannot pass
    for UTC."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "JST-9"
    time.tzset()
    yield
    if saved is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = saved
    time.tzset()


# --- Run and _time ------------------------------------------------------------------------------------------------

def test_a_run_is_a_fresh_uuid4_started_now_in_utc():
    before = utc_now()
    run, other = attest.Run(), attest.Run()
    assert uuid.UUID(run.invocation).version == 4 and str(uuid.UUID(run.invocation)) == run.invocation
    assert run.invocation != other.invocation
    assert run.started.tzinfo == dt.timezone.utc and before <= run.started <= utc_now()


def test_a_run_since_an_epoch_started_then(tokyo):
    run = attest.Run.since(1796113800.0)  # 2026-12-01 08:30:00 UTC
    assert run.started == STARTED and run.started.utcoffset() == dt.timedelta(0)
    assert uuid.UUID(run.invocation).version == 4


@pytest.mark.parametrize("when", [STARTED, STARTED.astimezone(dt.timezone(dt.timedelta(hours=-5)))])
def test_times_are_written_in_utc_with_a_z(tokyo, when):
    assert attest._time(when) == "2026-12-01T08:30:00Z"


# --- dependencies -------------------------------------------------------------------------------------------------

def test_the_dependencies_of_a_known_build_are_its_commit_lock_and_base():
    assert attest.dependencies(MANIFEST["build"]) == [SOURCE, LOCK, BASE]


def test_a_dirty_revision_names_its_commit_and_says_dirty():
    [source] = attest.dependencies({"revision": f"{COMMIT}-dirty"})
    assert source == {**SOURCE, "annotations": {"ptkit.role": "source", "dirty": True}}


@pytest.mark.parametrize("build", [{}, {"revision": "unknown"}, {"lock": "cpu.txt", "lock_sha256": ""},
                                   {"base_image": None}, {"base_image": {"ref": "debian:bookworm-slim"}}],
                         ids=["nothing", "unknown-revision", "empty-lock-hash", "no-base", "base-without-id"])
def test_what_the_build_block_does_not_know_is_left_out(build):
    assert attest.dependencies(build) == []


@pytest.mark.parametrize("lock", [{}, {"lock": ""}, {"lock": None}], ids=["absent", "empty", "none"])
def test_a_lock_without_a_name_is_requirements_lock(lock):
    assert attest.dependencies({"lock_sha256": LOCK_SHA, **lock}) == [{**LOCK, "name": "requirements.lock"}]


# --- statement ----------------------------------------------------------------------------------------------------

def test_the_whole_statement_of_a_known_build(tmp_path):
    before = utc_now().replace(microsecond=0)
    doc = attest.statement(subject(REF, tmp_path), attest.Run("run-1", STARTED))
    finished = doc["predicate"]["runDetails"]["metadata"].pop("finishedOn")
    assert before <= dt.datetime.strptime(finished, "%Y-%m-%dT%H:%M:%S%z") <= utc_now()
    expected = known_statement()
    del expected["predicate"]["runDetails"]["metadata"]["finishedOn"]
    assert doc == expected


def test_an_image_without_report_or_version_has_no_byproducts_and_an_unknown_builder_version():
    build = {k: v for k, v in MANIFEST["build"].items() if k != "ptkit_version"}
    doc = attest.statement(attest.Subject("r/x@sha256:" + "c" * 64, {"build": build}, "linux/arm64"), attest.Run())
    details = doc["predicate"]["runDetails"]
    assert doc["subject"] == [{"name": "r/x", "digest": {"sha256": "c" * 64}}]
    assert details["builder"] == {"id": "https://github.com/ptkit/ptkit@unknown", "version": {"ptkit": "unknown"}}
    assert details["byproducts"] == []


# --- problems -----------------------------------------------------------------------------------------------------

GOOD = {"_type": "https://in-toto.io/Statement/v1", "subject": [{"name": "r/x", "digest": {"sha256": "c" * 64}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {"buildDefinition": {"buildType": "https://example.com/t", "externalParameters": {"v": 1},
                                          "resolvedDependencies": [{"uri": "git+https://example.com/r@abc"}]},
                      "runDetails": {"builder": {"id": "https://example.com/b"},
                                     "byproducts": [{"name": "r.json", "content": "e30="}]}}}
BUILD, RUN = ("predicate", "buildDefinition"), ("predicate", "runDetails")


def changed(path: tuple[str, ...], value: Any = None, delete: bool = False) -> dict[str, Any]:
    """GOOD with the value at `path` replaced, or deleted."""
    doc = copy.deepcopy(GOOD)
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return doc


def test_a_complete_statement_has_no_problems():
    assert attest.problems(GOOD) == []
    assert attest.problems(known_statement()) == []


@pytest.mark.parametrize(("path", "message"), [
    (("_type",), "_type is missing"), (("subject",), "subject is missing"),
    (("predicateType",), "predicateType is missing"),
    ((*BUILD, "buildType"), "predicate.buildDefinition.buildType is missing"),
    ((*BUILD, "externalParameters"), "predicate.buildDefinition.externalParameters is missing"),
    ((*RUN, "builder", "id"), "predicate.runDetails.builder.id is missing")])
@pytest.mark.parametrize("how", ["deleted", "None", "empty string", "empty list"])
def test_each_required_field_missing_or_empty_is_named(path, message, how):
    empty = {"None": None, "empty list": []}.get(how, "")
    doc = changed(path, delete=True) if how == "deleted" else changed(path, empty)
    assert attest.problems(doc) == [message]


@pytest.mark.parametrize(("path", "value", "found"), [
    ((*RUN, "builder"), "ptkit", ["predicate.runDetails.builder.id is missing"]),
    (("predicate",), [], ["predicate.buildDefinition.buildType is missing",
                          "predicate.buildDefinition.externalParameters is missing",
                          "predicate.runDetails.builder.id is missing"])])
def test_a_field_under_something_that_is_no_object_is_missing(path, value, found):
    assert attest.problems(changed(path, value)) == found


@pytest.mark.parametrize("where", [(*BUILD, "resolvedDependencies"), (*RUN, "byproducts")])
@pytest.mark.parametrize("loose", [{"name": "loose"}, {"name": "loose", "digest": {}, "uri": ""}])
def test_a_resource_needs_a_uri_a_digest_or_content(where, loose):
    assert attest.problems(changed(where, [loose])) == ["resource loose has no uri, digest or content"]


@pytest.mark.parametrize("has", [{"uri": "https://example.com/x"}, {"digest": {"sha256": "d" * 64}},
                                 {"content": "e30="}])
def test_one_of_uri_digest_or_content_is_enough(has):
    assert attest.problems(changed((*BUILD, "resolvedDependencies"), [{"name": "x", **has}])) == []


@pytest.mark.parametrize(("entry", "found"), [
    ({"name": "r/x", "uri": "oci://r/x"}, ["subject r/x has no digest"]),
    ({"name": "r/x", "digest": {}}, ["resource r/x has no uri, digest or content", "subject r/x has no digest"])])
def test_a_subject_needs_a_digest(entry, found):
    assert attest.problems(changed(("subject",), [{"name": "ok", "digest": {"sha256": "c" * 64}}, entry])) == found


def test_problems_come_required_fields_first_then_resources_then_subjects():
    doc = changed(("_type",), delete=True)
    doc["subject"] = [{"name": "r/x"}]
    doc["predicate"]["runDetails"]["byproducts"] = [{"name": "loose"}]
    assert attest.problems(doc) == ["_type is missing", "resource r/x has no uri, digest or content",
                                    "resource loose has no uri, digest or content", "subject r/x has no digest"]


# --- describe -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("key", "statement_type"), [("invocationId", "https://in-toto.io/Statement/v1"),
                                                     ("invocationID", "https://in-toto.io/Statement/v0.1")],
                         ids=["ptkit", "cosign"])
def test_describe_shows_the_build_in_a_few_lines(key, statement_type):
    assert attest.describe(known_statement(invocation_key=key, statement_type=statement_type)) == KNOWN_LINES


def test_describe_says_none_for_what_the_build_lacks_and_a_dirty_tree():
    doc = known_statement()
    doc["predicate"]["buildDefinition"]["resolvedDependencies"] = [
        {**SOURCE, "annotations": {"ptkit.role": "source", "dirty": True}},
        {"uri": "file:///locks/cpu.txt", "annotations": {"ptkit.role": "lock"}}, {"name": "no-role", "uri": "x:y"}]
    doc["predicate"]["runDetails"]["byproducts"] = []
    assert attest.describe(doc)[2:] == [f"  commit {COMMIT} (uncommitted changes)", KNOWN_LINES[3],
                                        "  lock file:///locks/cpu.txt ?:?", "  base image none",
                                        "  verifier report none"]


def test_describe_of_an_empty_statement_says_what_is_unknown():
    assert attest.describe({}) == ["provenance: None@sha256:None", "  builder None, invocation None (None to None)",
                                   "  commit unknown", "  variant None (None, None, source None)", "  lock none",
                                   "  base image none", "  verifier report none"]


def test_a_report_path_is_named_by_its_file_name(tmp_path: Path):
    report = tmp_path / "deep" / "cuda130-devel.json"
    report.parent.mkdir()
    report.write_bytes(b"{}")
    doc = attest.statement(attest.Subject(REF, MANIFEST, "linux/amd64", report), attest.Run("run-1", STARTED))
    assert attest.describe(doc)[-1] == ("  verifier report cuda130-devel.json sha256:"
                                        "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")
