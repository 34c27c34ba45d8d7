"""`ptkit fingerprint IMAGE` (ptkit.repro.fingerprint) through an engine stand-in (tests/utils/engine_standin.py:
no engine in unit tests; tests/docker/test_build.py fingerprints real images). The stand-in runs the module's
source for real on the host: the real algorithm over a tmp tree, or a recorder module in its place that prints
the argv it got (mutmut's copy of the algorithm is too long for one command-line argument, 128 KiB)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ptkit.repro import fingerprint
from ptkit.verify import fingerprint as algorithm
from tests.utils.engine_standin import Engine

# In place of the algorithm: one line per argument, then the JSON line `ptkit-fingerprint --json` ends with.
RECORDER = "import json, sys\nfor arg in sys.argv[1:]:\n    print('arg', arg)\n" \
           "print(json.dumps({'algorithm': 'ptkit.fingerprint/1', 'digest': 'sha256:d1', 'files': 4}))\n"
DIGEST = "sha256:" + "e" * 64


def with_manifest(manifest: dict[str, Any] | None) -> Engine:
    engine = Engine()
    engine.add("img:1", files={} if manifest is None else {"/etc/ptkit/manifest.json": json.dumps(manifest).encode()})
    return engine


@pytest.fixture
def recorder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "recorder.py").write_text(RECORDER)
    monkeypatch.setattr(fingerprint, "algorithm", SimpleNamespace(__file__=str(tmp_path / "recorder.py")))


@pytest.mark.usefixtures("recorder")
@pytest.mark.parametrize(("manifest", "listing", "expected"), [
    ({"fingerprint": {"roots": ["/opt/venv", "/opt/team"], "exclude": ["/etc/ptkit/manifest.json", "/opt/venv/x"],
                      "digest": DIGEST}}, False,
     fingerprint.Fingerprint("img:1", "sha256:d1", 4, DIGEST, [
         "arg /opt/venv", "arg /opt/team", "arg --exclude=/etc/ptkit/manifest.json", "arg --exclude=/opt/venv/x",
         "arg --json"])),
    ({"fingerprint": {"roots": ["/opt/venv"], "digest": DIGEST}}, True,
     fingerprint.Fingerprint("img:1", "sha256:d1", 4, DIGEST, ["arg /opt/venv", "arg --json", "arg --list"])),
    ({"fingerprint": {"exclude": ["/a"]}}, False,  # recorded roots: none (the defaults); no digest recorded
     fingerprint.Fingerprint("img:1", "sha256:d1", 4, None, ["arg --exclude=/a", "arg --json"])),
    ({"build": {}}, True, fingerprint.Fingerprint("img:1", "sha256:d1", 4, None, ["arg --json", "arg --list"])),
    (None, False, fingerprint.Fingerprint("img:1", "sha256:d1", 4, None, ["arg --json"])),
])
def test_the_manifest_s_roots_and_excludes_are_the_command_line(manifest: dict[str, Any] | None, listing: bool,
                                                               expected: fingerprint.Fingerprint) -> None:
    engine = with_manifest(manifest)
    assert fingerprint.compute(engine, "img:1", listing=listing) == expected
    assert engine.made[-1].options["user"] == "0"  # the run, not the manifest read, was last


@pytest.mark.usefixtures("recorder")
def test_no_listing_unless_asked() -> None:
    assert fingerprint.compute(with_manifest(None), "img:1").listing == ["arg --json"]


def test_the_real_algorithm_runs_in_the_container_over_what_the_manifest_names(tmp_path: Path) -> None:
    source = Path(algorithm.__file__).read_text()
    if len(source.encode()) >= 128 * 1024:
        pytest.skip("mutmut's copy of the algorithm is longer than one command-line argument may be")
    root = tmp_path / "env"
    (root / "lib").mkdir(parents=True)
    (root / "lib" / "mod.py").write_text("x = 1\n")
    (root / "manifest.json").write_text("{}")
    listing: list[str] = []
    here = algorithm.fingerprint([str(root)], [str(root / "manifest.json")], listing)  # in-process, as built
    engine = with_manifest({"fingerprint": {"roots": [str(root)], "exclude": [str(root / "manifest.json")],
                                            "digest": here["digest"]}})
    fp = fingerprint.compute(engine, "img:1", listing=True)
    assert fp == fingerprint.Fingerprint("img:1", str(here["digest"]), 3, str(here["digest"]), listing)
    assert fp.matches is True
    assert [line.split()[0] for line in fp.listing] == ["d", "d", "f"]  # root, lib, lib/mod.py: manifest left out


def fp_with(recorded: str | None) -> fingerprint.Fingerprint:
    return fingerprint.Fingerprint("img:1", DIGEST, 12, recorded, [])


@pytest.mark.parametrize(("recorded", "matches", "sentence"), [
    (None, None, f"{DIGEST} (12 files; img:1 has no manifest to compare with)"),
    (DIGEST, True, f"{DIGEST} (12 files; as built: the manifest records the same)"),
    ("sha256:" + "0" * 64, False,
     f"{DIGEST} (12 files; the manifest recorded sha256:{'0' * 64}: changed since the build)"),
])
def test_the_verdict_is_one_sentence(recorded: str | None, matches: bool | None, sentence: str) -> None:
    assert fp_with(recorded).matches is matches
    assert fingerprint.describe(fp_with(recorded)) == sentence
