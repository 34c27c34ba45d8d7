"""Every row of the bad-input table (tests/utils/bad_inputs.py, rendered into the README): one line on
stderr that says what is wrong, the documented exit code, never a traceback, nothing left behind."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ptkit.inputs import UV_VERSION
from tests.utils import bad_input_files, bad_inputs
from tests.utils.bad_inputs import ROWS, BadInput
from tests.utils.ptkit_cli import ROOT

README = ROOT / "README.md"


# The special files of each run, private to its temporary folder (never the system's /dev nodes), and the
# type each must still have afterwards.
SPECIAL = {"fifo": stat.S_ISFIFO, "null": stat.S_ISCHR, "zero": stat.S_ISCHR, "link": stat.S_ISLNK}


def make_files(tmp: Path) -> None:
    (tmp / "dir").mkdir()
    (tmp / "file").write_text("")
    (tmp / "wheels").mkdir()
    (tmp / "wheels" / "empty-1.0-py3-none-any.whl").write_text("")
    (tmp / "wheels" / f"uv-{UV_VERSION}-py3-none-any.whl").write_text("")  # what --installer uv needs
    os.mkfifo(tmp / "fifo")
    if os.geteuid() == 0:  # mknod needs root (CI runs as root); the rows that use them are skipped otherwise
        os.mknod(tmp / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        os.mknod(tmp / "zero", 0o666 | stat.S_IFCHR, os.makedev(1, 5))
    (tmp / "link").symlink_to(tmp / "file")


def expand(word: str, tmp: Path) -> str:
    if word.startswith("{matrix:"):
        old, new = bad_input_files.MATRIX_EDITS[word[8:-1]]
        text = (ROOT / "matrix.toml").read_text()
        assert old in text, f"matrix edit {word} no longer applies"
        path = tmp / f"{word[8:-1]}.toml"
        path.write_text(text.replace(old, new, 1))
        return str(path)
    if word.startswith("{json:"):
        path = tmp / f"{word[6:-1]}.json"
        path.write_text(json.dumps(bad_input_files.JSON_FILES[word[6:-1]]))
        return str(path)
    return word.format(tmp=tmp, file=tmp / "file", dir=tmp / "dir", wheels=tmp / "wheels", long="a" * 300,
                       empty="", nl="\n", sp=" ", **{name: tmp / name for name in SPECIAL})


def command_line(row: BadInput, tmp: Path) -> list[str]:
    make_files(tmp)
    if not (tmp / "null").exists() and ("{null}" in row.command or "{zero}" in row.command):
        pytest.skip("making a private device node needs root")
    return [expand(word, tmp) for word in row.command.split()]


def run_row(row: BadInput, tmp: Path) -> subprocess.CompletedProcess[str]:
    prefix = []
    if row.user:
        tmp.chmod(0o755)
        prefix = ["setpriv", "--reuid", row.user, "--regid", "nogroup", "--clear-groups"]
    argv = [*prefix, sys.executable, "-m", "ptkit", *command_line(row, tmp)]
    env = {**os.environ, **dict(row.env)}
    if not row.stdout:
        return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    read, write = os.pipe()
    if row.stdout == "broken":  # the reader is gone before the first write: EPIPE
        os.close(read)
    else:
        os.close(write)
    proc = subprocess.run(argv, cwd=ROOT, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=120,
                          env=env, stdout=write if row.stdout == "broken" else None,
                          preexec_fn=(lambda: os.close(1)) if row.stdout == "closed" else None)
    os.close(write if row.stdout == "broken" else read)
    return subprocess.CompletedProcess(argv, proc.returncode, "", proc.stderr)


def assert_one_line(proc: subprocess.CompletedProcess[str], row: BadInput) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    if not row.sees:  # a row that expects silence on stderr (a broken pipe, a table that is printed)
        assert (lines, proc.returncode) == ([], row.code), proc.stderr
        return
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{proc.stderr}"
    assert row.sees in lines[0], lines[0]
    assert proc.returncode == row.code, (proc.returncode, lines[0])


def params(docker: bool) -> list:
    return [pytest.param(row, id=row.command[:60]) for row in ROWS if row.docker == docker and not row.special]


@pytest.mark.parametrize("row", params(docker=False))
def test_bad_input_is_one_line_and_its_exit_code(row, tmp_path):
    assert_one_line(run_row(row, tmp_path), row)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name not in {"dir", "file", "wheels", *SPECIAL} and
                 not p.name.endswith((".toml", ".json"))]
    assert not leftovers, f"left behind: {leftovers}"
    assert not any((tmp_path / "dir").iterdir()), "wrote into {dir}"
    for name, is_kind in SPECIAL.items():
        path = tmp_path / name
        assert not os.path.lexists(path) or is_kind(path.lstat().st_mode), f"{{{name}}} is no longer what it was"
    assert (tmp_path / "file").read_text() == "" or "{link}" in row.command


@pytest.mark.docker
@pytest.mark.parametrize("row", params(docker=True))
def test_bad_input_with_a_docker_engine(row, tmp_path):
    if row.user and not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) is not installed")
    assert_one_line(run_row(row, tmp_path), row)


# The same rows in this process (ptkit.cli.main, as `python -m ptkit` calls it): what a user sees is the same, and
# mutation testing (nox -s mutation) can see which of ptkit's functions each row reaches. Rows run as another user,
# with stdout closed or broken, or with their own test, need a process of their own.
IN_PROCESS = [p for p in params(docker=False) if not (p.values[0].user or p.values[0].stdout)]


@pytest.mark.parametrize("row", IN_PROCESS)
def test_bad_input_in_process_is_the_same_line_and_exit_code(row, tmp_path, monkeypatch, capsys):
    from ptkit.cli import main

    argv = command_line(row, tmp_path)
    monkeypatch.chdir(ROOT)
    for name, value in row.env:
        monkeypatch.setenv(name, value)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    err = capsys.readouterr().err
    assert_one_line(subprocess.CompletedProcess(argv, code, "", err), row)


def test_the_readme_table_is_the_tested_table():
    assert bad_inputs.markdown() in README.read_text(), "README out of date: python -m tests.utils.bad_inputs"


def test_the_table_has_at_least_120_rows_every_subcommand_and_every_special_row_has_its_test():
    assert len(ROWS) >= 120
    from ptkit.cli import build_parser

    (commands,) = [a.choices for a in build_parser()._actions if hasattr(a, "choices") and a.choices]
    missing = [name for name in commands if not any(row.command.split()[0] == name for row in ROWS)]
    assert not missing, f"no bad-input row for: {missing}"
    names = {name for path in (ROOT / "tests").rglob("test_*.py") for name in
             [line.split("(")[0][4:] for line in path.read_text().splitlines() if line.startswith("def test_")]}
    for row in ROWS:
        if row.special:
            assert row.special in names, f"no test named {row.special}"


def test_a_full_disk_during_a_wheelhouse_download_is_one_line(tmp_path):
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare (util-linux) to mount a small tmpfs")
    row = next(r for r in ROWS if r.special == "test_a_full_disk_during_a_wheelhouse_download_is_one_line")
    lock = ROOT / "locks" / f"{bad_inputs.CPU}.txt"
    script = (f"mount -t tmpfs -o size=16m tmpfs {tmp_path} && exec {sys.executable} -m ptkit wheelhouse "
              f"{bad_inputs.CPU} {tmp_path}/wheels --lock {lock}")
    proc = subprocess.run(["unshare", "-m", "sh", "-c", script], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert_one_line(proc, row)
