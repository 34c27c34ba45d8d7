from __future__ import annotations

import pytest
import requests

from ptkit import cli


def test_a_broken_engine_connection_is_one_line(monkeypatch, capsys):
    def timeout(args):
        raise requests.exceptions.ReadTimeout("Read timed out. (read timeout=900)\nmore detail")

    monkeypatch.setattr(cli, "cmd_matrix", timeout)
    assert cli.main(["matrix"]) == 1
    err = capsys.readouterr().err
    assert err == "ptkit matrix: error: Docker engine connection failed: Read timed out. (read timeout=900)\n"


def test_a_bug_keeps_its_traceback(monkeypatch):
    def bug(args):
        raise ValueError("a real bug")

    monkeypatch.setattr(cli, "cmd_matrix", bug)
    with pytest.raises(ValueError, match="a real bug"):
        cli.main(["matrix"])


def test_ctrl_c_is_exit_130(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_matrix", interrupted)
    assert cli.main(["matrix"]) == 130 and "interrupted" in capsys.readouterr().err


def test_push_without_a_registry_tag_is_refused(capsys):
    assert cli.main(["build", "cpu", "--push"]) == 1
    assert "--push needs --tag REGISTRY/REPOSITORY:TAG" in capsys.readouterr().err


def test_variant_only_with_image(capsys):
    assert cli.main(["verify", "--variant", "cpu"]) == 1
    assert "--variant goes with --image" in capsys.readouterr().err
