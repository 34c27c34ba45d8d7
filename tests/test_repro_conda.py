"""conda.py (specs checked with the real rattler and PyYAML, on files under tmp_path) and `ptkit conda-lock`.

conda-forge is not reachable from here, so its two network calls are stand-ins: rattler.fetch_repo_data and
rattler.solve are recorders inside an otherwise real py-rattler (Channel, Subdir, virtual packages), their
failure shaped like rattler's error chain ("... Caused by: ..."); lock() gets a recorded _solve; cmd_conda_lock a
recorded conda.lock. The real solve against conda-forge is tests/test_repro_commands.py's unreachable-channel
test (and `ptkit conda-lock` on a host with the network).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import rattler
import yaml

from ptkit import matrix
from ptkit.errors import PtkitError
from ptkit.repro import conda
from tests.test_repro_handlers import fake, ptkit

ROOT = Path(__file__).resolve().parents[1]
MATRIX = matrix.load(ROOT / "matrix.toml")
CPU = MATRIX.get("cpu")
PIP = ["--index-url https://download.pytorch.org/whl/cpu", "--extra-index-url https://pypi.org/simple",
       "torch==2.13.0+cpu", "numpy"]  # conda/cpu.yml's pip section, as `ptkit render` writes it
GOOD = ["python=3.11", "pip", {"pip": PIP}]
CF = ("conda-forge",)


def spec(folder: Path, dependencies: list[Any], channels: Any = CF, name: str = "cpu.yml") -> Path:
    """A conda environment spec file (`conda env create -f`'s format) written by PyYAML."""
    data = {"name": "ptkit-cpu", "dependencies": dependencies}
    if channels is not None:
        data["channels"] = list(channels)
    path = folder / name
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(("dependencies", "channels", "problems"), [
    (GOOD, CF, []),
    (["python>=3.11,<3.12", *GOOD[1:]], CF, []),  # admits 3.11.0: the matrix's python as a full version
    (GOOD, ("defaults",), ["channels ['defaults'], expected [conda-forge]"]),
    (GOOD, None, ["channels None, expected [conda-forge]"]),
    (["python>>3", "nodejs>>1", *GOOD], CF,  # each bad spec named, the others still read
     ["'python>>3' is not a conda match spec: unable to parse version spec: >>3",
      "'nodejs>>1' is not a conda match spec: unable to parse version spec: >>1"]),
    (["python=3.12", *GOOD[1:]], CF, ["python spec python 3.12.* does not admit the matrix's python 3.11"]),
    (["python>3.11", *GOOD[1:]], CF, ["python spec python >3.11 does not admit the matrix's python 3.11"]),
    (["python", *GOOD[1:]], CF, ["python spec python does not admit the matrix's python 3.11"]),
    (GOOD[1:], CF, ["python spec None does not admit the matrix's python 3.11"]),
    ([GOOD[0], GOOD[2]], CF, ["no pip in the conda dependencies (the pip section needs it)"]),
    ([*GOOD[:2], {"pip": ["--index-url https://pypi.org/simple", *PIP[1:]]}], CF,
     ["pip options ['--index-url https://pypi.org/simple', '--extra-index-url https://pypi.org/simple'] lack "
      "--index-url https://download.pytorch.org/whl/cpu"]),
    ([*GOOD[:2], {"pip": [*PIP[:2], "torch==2.12.0+cpu", "numpy"]}], CF,
     ["pip requirements ['torch==2.12.0+cpu', 'numpy'], the matrix renders ['torch==2.13.0+cpu', 'numpy']"]),
])
def test_check_names_every_disagreement_with_the_matrix(tmp_path, dependencies, channels, problems) -> None:
    assert conda.check(spec(tmp_path, dependencies, channels), CPU) == problems


def test_split_dependencies_keeps_conda_specs_and_every_pip_section() -> None:
    data = {"dependencies": ["python=3.11", {"pip": ["a==1"]}, {"nodefaults": 1}, {"pip": [2]}, {"pip": [], "x": 1}]}
    assert conda.split_dependencies(data) == (["python=3.11", "{'nodefaults': 1}", "{'pip': [], 'x': 1}"],
                                              ["a==1", "2"])
    assert conda.split_dependencies({"dependencies": None}) == ([], [])


@pytest.mark.parametrize(("content", "detail"), [
    (b"a: [", "not a readable conda spec (while parsing a flow node expected the node content, but found "
              "'<stream end>' in \"<unicode string>\", line 1, column 5: a: [ ^)"),
    (b"\xff", "not a readable conda spec ('utf-8' codec can't decode byte 0xff in position 0: invalid start byte)"),
    (b"- python\n- pip\n", "not a conda environment spec (a mapping with dependencies)"),
    (b"just text", "not a conda environment spec (a mapping with dependencies)"),
])
def test_read_spec_refuses_what_is_not_a_spec_in_one_line(tmp_path, content, detail) -> None:
    path = tmp_path / "env.yml"
    path.write_bytes(content)
    with pytest.raises(PtkitError) as err:
        conda.read_spec(path)
    assert str(err.value) == f"{path}: {detail}"


def test_read_spec_of_a_missing_file_cuts_the_reason_at_200_characters(tmp_path) -> None:
    path = tmp_path / ("x" * 240)
    with pytest.raises(PtkitError) as err:
        conda.read_spec(path)
    reason = f"[Errno 2] No such file or directory: '{path}'"  # Python's FileNotFoundError
    assert str(err.value) == f"{path}: not a readable conda spec ({reason[:200]})"


@pytest.mark.parametrize(("variant", "expected"), [
    ("cpu", [("__linux", "6.1"), ("__glibc", "2.36"), ("__unix", "0")]),  # Debian bookworm's glibc 2.36
    ("cuda126", [("__linux", "6.1"), ("__glibc", "2.36"), ("__unix", "0"), ("__cuda", "12.6")]),
])
def test_virtual_packages_are_the_images_platform(variant, expected) -> None:
    found = conda.virtual_packages(MATRIX.get(variant))
    assert [(str(p.name.normalized), str(p.version)) for p in found] == expected
    assert {str(p.build_string) for p in found} == {"0"}


def test_a_missing_library_is_one_line_naming_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "rattler", None)  # import rattler raises ImportError
    with pytest.raises(PtkitError, match=r"^py-rattler is missing: pip install 'ptkit\[dev\]'$"):
        conda.check(Path("unread.yml"), CPU)


REPODATA = object()
RECORDS = [SimpleNamespace(url="https://conda.anaconda.org/conda-forge/noarch/pip-24.2-pyh8b19718_1.conda",
                           sha256=bytes.fromhex("ab" * 32)),  # rattler's RepoDataRecord.sha256: bytes
           SimpleNamespace(url="https://conda.anaconda.org/conda-forge/linux-64/python-3.11.9-h1.conda",
                           sha256="cd" * 32)]


def stand_in(monkeypatch: pytest.MonkeyPatch, seen: list[Any], error: Exception | None = None) -> None:
    """py-rattler with fetch_repo_data and solve recorded; asyncio.wait_for recorded (its timeout)."""
    async def fetch_repo_data(**kwargs: Any) -> Any:
        seen.append(("fetch", kwargs))
        if error is not None:
            raise error
        return REPODATA

    async def solve(**kwargs: Any) -> Any:
        seen.append(("solve", kwargs))
        return RECORDS

    async def wait_for(awaitable: Any, timeout: float) -> Any:
        seen.append(("timeout", timeout))
        return await awaitable

    real = {name: getattr(rattler, name) for name in ("Channel", "Subdir", "GenericVirtualPackage", "PackageName",
                                                      "Version", "BuildString")}
    monkeypatch.setattr(conda, "_rattler", lambda: SimpleNamespace(**real, fetch_repo_data=fetch_repo_data,
                                                                   solve=solve))
    monkeypatch.setattr(conda, "asyncio", SimpleNamespace(wait_for=wait_for, run=asyncio.run))


def test_solve_fetches_conda_forge_for_the_platform_and_noarch(monkeypatch) -> None:
    seen: list[Any] = []
    stand_in(monkeypatch, seen)
    assert asyncio.run(conda._solve(["python=3.11", "pip"], MATRIX.get("cuda126"), "/cache")) is RECORDS
    timeout, (_, fetch), (_, solve) = seen
    assert timeout == ("timeout", 60)
    assert [c.name for c in fetch.pop("channels")] == ["conda-forge"]
    assert [str(p) for p in fetch.pop("platforms")] == ["linux-64", "noarch"]
    assert fetch == {"cache_path": "/cache", "callback": None}
    assert [str(p.name.normalized) for p in solve.pop("virtual_packages")] == ["__linux", "__glibc", "__unix",
                                                                                "__cuda"]
    assert solve == {"sources": REPODATA, "specs": ["python=3.11", "pip"], "timeout": dt.timedelta(minutes=5)}


@pytest.mark.parametrize(("error", "cause"), [
    (OSError("error sending request for url (https://conda.anaconda.org/conda-forge/linux-64/repodata.json)\n\n"
             "Caused by:\n    0: client error (Connect)\n    1: dns error"),
     "error sending request for url (https://conda.anaconda.org/conda-forge/linux-64/repodata.json): "
     "0: client error (Connect) 1: dns error"),
    (OSError("a Caused by: b Caused by: c"), "a: c"),  # the first and the root cause
    (OSError("offline"), "offline"),
    (TimeoutError(), "TimeoutError"),
    (OSError("x" * 300), "x" * 200),
])
def test_an_unreachable_channel_is_one_line_with_its_cause(monkeypatch, error, cause) -> None:
    stand_in(monkeypatch, [], error)
    with pytest.raises(PtkitError) as err:
        asyncio.run(conda._solve([], CPU, "/cache"))
    assert str(err.value) == f"conda channel conda-forge (https://conda.anaconda.org/conda-forge/) is not reachable " \
                             f"from here: {cause}"


@pytest.mark.parametrize(("variant", "cuda"), [("cuda126", " with __cuda=12.6"), ("cpu", "")])
def test_lock_is_an_explicit_list_of_urls_with_their_sha256(monkeypatch, tmp_path, variant, cuda) -> None:
    seen: list[Any] = []

    async def solve(specs: list[str], row: Any, cache: str) -> list[Any]:
        seen.append((specs, row, Path(cache).is_dir() and Path(cache).name.startswith("ptkit-conda-")))
        return RECORDS

    monkeypatch.setattr(conda, "_solve", solve)
    path = spec(tmp_path, GOOD, name=f"{variant}.yml")
    assert conda.lock(path, MATRIX.get(variant)).splitlines(keepends=True) == [
        f"# Generated by `ptkit conda-lock {variant}` from {path} for linux-64{cuda}.\n", "@EXPLICIT\n",
        f"https://conda.anaconda.org/conda-forge/linux-64/python-3.11.9-h1.conda#{'cd' * 32}\n",
        f"https://conda.anaconda.org/conda-forge/noarch/pip-24.2-pyh8b19718_1.conda#{'ab' * 32}\n"]
    assert seen == [(["python=3.11", "pip"], MATRIX.get(variant), True)]


LOCK = "# header\n@EXPLICIT\nhttps://x/a.conda#01\nhttps://x/b.conda#02\nhttps://x/c.conda#03\n"


@pytest.fixture
def conda_cwd(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Any]:
    """A tmp cwd holding conda/cpu.yml as `ptkit render` writes it; conda.lock recorded (conda-forge is not here)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PTKIT_MATRIX", raising=False)  # the matrix shipped with ptkit
    (tmp_path / "conda").mkdir()
    spec(tmp_path / "conda", GOOD)
    seen: list[Any] = []
    monkeypatch.setattr(conda, "lock", fake(seen, lambda spec, variant: LOCK))
    return seen


@pytest.mark.parametrize(("argv", "spec_path", "out"), [
    ([], "conda/cpu.yml", "locks/conda-cpu-linux-64.txt"),
    (["--spec", "conda/cpu.yml", "-o", "out/cpu.txt", "--matrix", str(ROOT / "matrix.toml")], "conda/cpu.yml",
     "out/cpu.txt"),
])
def test_conda_lock_writes_the_lock_and_counts_its_packages(conda_cwd, capsys, argv, spec_path, out) -> None:
    assert ptkit(capsys, "conda-lock", "cpu", *argv) == (0, [f"conda lock {out}: 3 packages for linux-64"], [])
    assert Path(out).read_text() == LOCK
    assert conda_cwd == [(Path(spec_path), CPU)]


def test_conda_lock_of_a_spec_that_disagrees_names_the_first_problem(conda_cwd, capsys) -> None:
    spec(Path("conda"), GOOD, channels=["defaults"])
    assert ptkit(capsys, "conda-lock", "cpu") == (1, [], [
        "ptkit conda-lock: error: conda/cpu.yml disagrees with the matrix: channels ['defaults'], expected "
        "[conda-forge] (run `ptkit render`)"])
    assert conda_cwd == []


@pytest.mark.parametrize(("argv", "message"), [
    (["--matrix", "no.toml"], "no.toml: matrix file not found"),
    (["-o", "."], "-o .: is a folder; write to a file, a new path, a character device or a FIFO"),
])
def test_conda_lock_refusals(conda_cwd, capsys, argv, message) -> None:
    assert ptkit(capsys, "conda-lock", "cpu", *argv) == (1, [], [f"ptkit conda-lock: error: {message}"])
