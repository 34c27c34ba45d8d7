"""docs/reference/cli.md is every command's --help as the parsers print it: an option, default or help text changed
without the reference is a failure here (and shows up in review as a change to the reference)."""

from __future__ import annotations

import importlib.util

from tests.utils.ptkit_cli import ROOT

_SPEC = importlib.util.spec_from_file_location("cli_reference", ROOT / "scripts" / "cli_reference.py")
cli_reference = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(cli_reference)


def test_the_reference_is_what_every_command_prints_for_help(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    assert cli_reference.markdown() == cli_reference.DOC.read_text(), (
        "docs/reference/cli.md is out of date: run `python scripts/cli_reference.py`")


def test_every_command_a_user_can_type_has_its_section():
    text = cli_reference.DOC.read_text()
    for line in ("ptkit verify", "ptkit cluster slurm", "ptkit cluster k8s", "ptkit ci github", "ptkit index"):
        assert f"## `{line}`\n\n```\n$ {line} --help\nusage: {line} [-h]" in text, line


def test_check_names_a_stale_reference_and_exits_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli_reference, "DOC", tmp_path / "cli.md")
    monkeypatch.setattr(cli_reference, "ROOT", tmp_path)
    assert cli_reference.main(["--check"]) == 1  # missing
    assert capsys.readouterr().err == "cli.md is out of date: run `python scripts/cli_reference.py`\n"
    assert cli_reference.main([]) == 0 and cli_reference.main(["--check"]) == 0
    assert cli_reference.main(["--write"]) == 2
