"""ptkit.repro.images through an engine stand-in (tests/utils/engine_standin.py: no engine is started in unit
tests; tests/docker/test_build.py and test_reproduce.py read real images). The stand-in runs each container's
entrypoint for real on the host, so run_module's shell line and Python invocation really run."""

from __future__ import annotations

from pathlib import Path

import pytest
from docker.errors import APIError

from ptkit.errors import PtkitError
from ptkit.repro import images
from tests.utils.engine_standin import Engine

OS_RELEASE = b"PRETTY_NAME=Debian GNU/Linux 12\nID=debian\n"


@pytest.fixture
def engine() -> Engine:
    made = Engine()
    made.add("img:1", files={"/etc/os-release": OS_RELEASE, "/opt/other.json": b'{"elsewhere": true}',
                             "/etc/ptkit/manifest.json": b'{"build": {"variant": "cpu"}}'})
    return made


def test_an_image_not_here_is_one_line(engine: Engine) -> None:
    assert images.image(engine, "img:1").id == engine.find("img:1").id
    with pytest.raises(PtkitError) as caught:
        images.image(engine, "ghost:2")
    assert str(caught.value) == "no image ghost:2 here (build or pull it first)"
    with pytest.raises(PtkitError, match=r"^no image ghost:2 here"):
        images.read_file(engine, "ghost:2", "/etc/os-release")
    assert engine.made == []


@pytest.mark.parametrize(("path", "expected"), [
    ("/etc/os-release", OS_RELEASE),
    ("/etc/missing", None),
    ("/etc/ptkit", None),  # a folder: its archive's first entry is the folder itself, no file to read
])
def test_a_file_is_read_from_a_container_never_started_and_removed(engine: Engine, path: str,
                                                                     expected: bytes | None) -> None:
    assert images.read_file(engine, "img:1", path) == expected
    [container] = engine.made
    assert container.image.tags == ["img:1"]
    assert container.options == {"entrypoint": ["true"], "network_disabled": True}
    assert container.proc is None  # never started: get_archive reads a created container
    assert container.removals == [True]


def module(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "probe.py"
    path.write_text(source)
    return path


def test_a_module_runs_with_its_arguments_as_root_offline_and_its_stdout_is_returned(engine: Engine,
                                                                                     tmp_path: Path) -> None:
    source = "import sys\nprint(sys.argv[1:])\nprint('noise', file=sys.stderr)\n"
    out = images.run_module(engine, "img:1", module(tmp_path, source), ["a", "b c", "--json"])
    assert out == "['a', 'b c', '--json']\n"  # each argument intact, spaces and all; stderr left out
    [container] = engine.made
    entrypoint = container.options.pop("entrypoint")
    assert entrypoint[:2] == ["sh", "-c"] and entrypoint[3:] == [source, "a", "b c", "--json"]
    assert container.options == {"network_disabled": True, "user": "0"}
    assert container.image.tags == ["img:1"]
    assert container.removals == [True]


@pytest.mark.parametrize(("source", "message"), [
    ("import sys\nprint('half', flush=True)\nprint('loading', file=sys.stderr)\nraise SystemExit('broken:  no torch')",
     "probe.py in img:1 exited 1: broken: no torch"),
    ("raise SystemExit(3)", "probe.py in img:1 exited 3: no output (no python3 in the image?)"),
])
def test_a_module_that_fails_names_its_exit_and_last_error_line(engine: Engine, tmp_path: Path, source: str,
                                                                message: str) -> None:
    with pytest.raises(PtkitError) as caught:
        images.run_module(engine, "img:1", module(tmp_path, source), [])
    assert str(caught.value) == message
    assert engine.made[0].removals == [True]


def test_an_image_without_python_says_so(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    engine.add("bare:1", path=str(tmp_path / "bin"))  # neither python nor python3 on its PATH
    with pytest.raises(PtkitError, match=r"^probe\.py in bare:1 exited 127: .*python3: not found$"):
        images.run_module(engine, "bare:1", module(tmp_path, "print(1)"), [])


def test_an_engine_failure_is_one_line_and_the_container_is_removed(engine: Engine, tmp_path: Path) -> None:
    engine.start_error = APIError('failed to create task for container: exec: "sh": executable file not found')
    with pytest.raises(PtkitError) as caught:
        images.run_module(engine, "img:1", module(tmp_path, "print(1)"), [])
    assert str(caught.value) == ('running probe.py in img:1 failed: failed to create task for container: exec: "sh": '
                                 'executable file not found')
    assert engine.made[0].removals == [True]


def test_a_module_past_its_time_is_stopped_and_removed(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(PtkitError) as caught:
        images.run_module(engine, "img:1", module(tmp_path, "import time\ntime.sleep(5)"), [], timeout=0.3)
    assert str(caught.value) == ("running probe.py in img:1 failed: UnixHTTPConnectionPool(host='localhost', "
                                 "port=None): Read timed out. (read timeout=0.3)")
    [container] = engine.made
    assert container.removals == [True] and container.proc is not None and container.proc.returncode == -9


@pytest.mark.parametrize(("labels", "expected"), [
    (None, {"build": {"variant": "cpu"}}),  # the default place, /etc/ptkit/manifest.json
    ({"ptkit.manifest": "/opt/other.json"}, {"elsewhere": True}),
    ({"ptkit.manifest": "/opt/none.json"}, None),
])
def test_the_manifest_is_where_the_label_points(engine: Engine, labels: dict[str, str] | None,
                                                expected: dict[str, object] | None) -> None:
    engine.add("labelled:1", config_labels=labels, files=engine.find("img:1").files)
    assert images.manifest(engine, "labelled:1") == expected


def test_an_image_without_a_manifest_has_none_and_a_broken_one_is_one_line(engine: Engine) -> None:
    engine.add("plain:1", files={"/etc/os-release": OS_RELEASE})
    assert images.manifest(engine, "plain:1") is None
    engine.add("broken:1", config_labels={"ptkit.manifest": "/opt/bad.json"}, files={"/opt/bad.json": b"not json"})
    with pytest.raises(PtkitError) as caught:
        images.manifest(engine, "broken:1")
    assert str(caught.value) == "broken:1: its manifest is not JSON (Expecting value: line 1 column 1 (char 0))"
