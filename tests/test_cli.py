from __future__ import annotations

import argparse
import json

import requests

from ptkit import cli, commands
from tests.utils import matrix_facts


def test_a_broken_engine_connection_is_one_line(monkeypatch, capsys):
    def timeout(args):
        raise requests.exceptions.ReadTimeout("Read timed out. (read timeout=900)\nmore detail")

    monkeypatch.setattr(commands, "cmd_matrix", timeout)
    assert cli.main(["matrix"]) == 1
    err = capsys.readouterr().err
    assert err == "ptkit matrix: error: Docker engine connection failed: Read timed out. (read timeout=900)\n"


def test_a_bug_keeps_its_traceback_and_says_it_is_one(monkeypatch, capsys):
    def bug(args):
        raise ValueError("a real bug")

    monkeypatch.setattr(commands, "cmd_matrix", bug)
    assert cli.main(["matrix"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert "ValueError: a real bug" in err
    assert err.rstrip().splitlines()[-1].startswith("ptkit matrix: error: internal error (a bug in ptkit")
    assert cli.BUG_URL in err.rstrip().splitlines()[-1]


def test_ctrl_c_is_exit_130(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(commands, "cmd_matrix", interrupted)
    assert cli.main(["matrix"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_push_without_a_registry_tag_is_refused(capsys):
    assert cli.main(["build", matrix_facts.default_variant().name, "--push"]) == 2
    assert "--push needs --tag REGISTRY/REPOSITORY:TAG" in capsys.readouterr().err


def test_variant_only_with_image(capsys):
    assert cli.main(["verify", "--variant", matrix_facts.default_variant().name]) == 2
    assert "--variant goes with --image" in capsys.readouterr().err


def test_host_summary_has_checks_benchmarks_and_the_tutorial_lines(tmp_path):
    from ptkit import report
    from ptkit.images import RunBlock
    from ptkit.verify.results import Report

    data = Report.from_dict(
        {"ok": False, "environment": {"torch": "2.14.1+cu130", "cuda": "13.0"},
         "checks": [{"name": "cuda", "status": "fail", "detail": "no GPU visible: x", "seconds": 0.0}],
         "benchmarks": [{"device": "cuda:0", "dtype": "bf16", "n": 8192, "median_s": 0.00138, "iqr_s": 1e-5,
                         "tflops": 797.0, "peak_tflops": 989.4, "fraction_of_peak": 0.8055, "status": "ok",
                         "detail": ""}],
         "tutorial": {"device": "cuda", "n": 1000, "median_ms": 0.02, "repeats": 10}})
    report.with_run(data, RunBlock("ptkit:cuda130", None, {"ptkit.flavor": "devel"}, variant="cuda130", gpu=True))
    text = report.summary(data)
    assert "no GPU visible: x" in text
    assert "80.5%" in text
    assert "797.000" in text
    assert "Time taken to multiply two matrices on a GPU: 0.020 ms" in text
    assert "ptkit:cuda130" in text
    assert report.first_failure(data) == "cuda: no GPU visible: x"
    report.write(data, tmp_path / "r.json")
    written = Report.from_dict(json.loads((tmp_path / "r.json").read_text()))
    assert written.run["flavor"] == "devel"
    assert written.to_dict() == data.to_dict()


def _subparsers(parser, path=("ptkit",)):
    """Every (command path, parser) under `parser`, nested ones (cluster slurm, ci github) included."""
    for action in parser._actions:  # argparse offers no public walk of its subcommands
        choices = getattr(action, "choices", None)
        for name, sub in (choices.items() if isinstance(choices, dict) else ()):
            if isinstance(sub, argparse.ArgumentParser):
                yield (*path, name), sub
                yield from _subparsers(sub, (*path, name))


def test_every_option_of_every_subcommand_shows_its_default_in_its_help():
    from ptkit.cli import build_parser

    missing = []
    for path, sub in _subparsers(build_parser()):
        text = " ".join(sub.format_help().split())
        for action in sub._actions:
            if not action.option_strings or action.default in (None, False, [], argparse.SUPPRESS):
                continue
            shown = f"default: {action.default}" in text or "default" in (action.help or "")
            if not shown:
                missing.append(f"{' '.join(path)} {action.option_strings[-1]}")
    assert missing == []


def test_every_matrix_option_is_the_one_definition():
    from ptkit.cli import build_parser

    helps = {sub._option_string_actions["--matrix"].help for _, sub in _subparsers(build_parser())
             if "--matrix" in sub._option_string_actions}
    assert helps == {"matrix file (default: $PTKIT_MATRIX, else the matrix shipped with ptkit)"}
