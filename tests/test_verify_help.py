"""What `--help` and the defaults of `verify` and `bench` are: the README's copy of the help is checked against the
parsers (host and in-image), and each default and number rule against the parsed values."""

from __future__ import annotations

import argparse

import pytest

from ptkit import cli as host_cli
from ptkit.verify import cli
from ptkit.verify.options import VerifyOptions, to_argv
from tests.utils.ptkit_cli import ROOT

README = ROOT / "README.md"


def subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]  # argparse has no public API
    return sub.choices[command]


@pytest.fixture(autouse=True)
def width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")  # argparse wraps help at the terminal's width


@pytest.mark.parametrize("command", ["verify", "bench"])
def test_the_readme_shows_the_help_users_get(command):
    text = f"$ ptkit {command} --help\n{subparser(host_cli.build_parser(command), command).format_help()}"
    assert text in README.read_text(), f"README out of date: paste `COLUMNS=100 ptkit {command} --help`"


def test_the_readme_shows_the_verifier_alone_as_a_foreign_image_runs_it():
    text = f"$ python -m ptkit.verify --help\n{cli.build_parser('python -m ptkit.verify').format_help()}"
    assert text in README.read_text(), "README out of date: paste `COLUMNS=100 python -m ptkit.verify --help`"


def test_what_the_host_passes_on_means_the_same_in_the_image():
    """`ptkit verify --image X OPTIONS`: the host parses OPTIONS, passes them on (VerifyOptions, to_argv), the in-image
    verifier parses them again; the values each option must have are stated here, not taken from a parser."""
    argv = ["verify", "--quick", "--expect-cuda", "--expect-cuda-version", "12.8", "--require", "numpy",
            "--require", "six", "--strict", "--json", "--report", "r.json"]
    host = host_cli.build_parser("verify").parse_args(argv)
    passed_on = to_argv(VerifyOptions.from_namespace(host))
    assert "--json" not in passed_on and "--report" not in passed_on  # output options stay on the host
    image = vars(cli.build_parser().parse_args(["verify", *passed_on]))
    assert {k: image[k] for k in ("quick", "expect_cuda", "expect_cuda_version", "require", "strict", "json")} == {
        "quick": True, "expect_cuda": True, "expect_cuda_version": "12.8", "require": ["numpy", "six"],
        "strict": True, "json": False}


@pytest.mark.parametrize("parser", [lambda: host_cli.build_parser("bench"), cli.build_parser], ids=["host", "image"])
def test_both_parsers_read_bench_options_alike(parser):
    args = parser().parse_args(["bench", "--device", "cpu", "--size", "64", "--dtype", "fp32", "--min-time", "0.25",
                                "--compare-naive"])
    assert (args.device, args.size, args.dtype, args.min_time, args.compare_naive) == ("cpu", [64], ["fp32"], 0.25,
                                                                                       True)


def test_defaults():
    parse = cli.build_parser().parse_args
    assert vars(parse(["bench"])) == {"command": "bench", "device": "auto", "size": None, "dtype": None,
                                      "min_time": 0.5, "compare_naive": False, "json": False, "report": None}
    assert vars(parse(["verify"])) == {"command": "verify", "quick": False, "expect_cuda": False,
                                       "expect_cuda_version": None, "require": [], "fatbin": [], "fatbin_unread": None,
                                       "arch_row": [],
                                       "strict": False, "json": False, "report": None}


def test_repeatable_options_collect_in_order():
    args = cli.build_parser().parse_args(["bench", "--size", "8", "--size", "16", "--dtype", "fp16", "--dtype", "bf16"])
    assert (args.size, args.dtype) == ([8, 16], ["fp16", "bf16"])
    args = cli.build_parser().parse_args(["verify", "--require", "numpy", "--require", "torchvision"])
    assert args.require == ["numpy", "torchvision"]


@pytest.mark.parametrize(("parse", "text", "value"), [
    (cli.positive_int, "1", 1), (cli.positive_int, "4096", 4096),
    (cli.positive_seconds, "0.001", 0.001), (cli.positive_seconds, "1", 1.0), (cli.positive_seconds, "2.5", 2.5),
])
def test_positive_numbers_are_kept(parse, text, value):
    assert parse(text) == value and type(parse(text)) is type(value)


@pytest.mark.parametrize(("parse", "text", "what"), [
    (cli.positive_int, "0", "a whole number of at least 1"), (cli.positive_int, "-3", "a whole number of at least 1"),
    (cli.positive_int, "1.5", "a whole number of at least 1"), (cli.positive_int, "", "a whole number of at least 1"),
    (cli.positive_seconds, "0", "a positive number of seconds"),
    (cli.positive_seconds, "-0.5", "a positive number of seconds"),
    (cli.positive_seconds, "inf", "a positive number of seconds"),
    (cli.positive_seconds, "nan", "a positive number of seconds"),
    (cli.positive_seconds, "soon", "a positive number of seconds"),
])
def test_other_numbers_are_refused_naming_what_was_expected(parse, text, what):
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        parse(text)
    assert str(refused.value) == f"expected {what}, got {text!r}"


@pytest.mark.parametrize("dtype", ["fp64", "float32", ""])
def test_a_dtype_outside_the_list_is_a_usage_error_naming_the_choices(dtype, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.build_parser().parse_args(["bench", "--dtype", dtype])
    assert exit_.value.code == 2
    assert f"invalid choice: '{dtype}' (choose from 'fp32', 'tf32', 'fp16', 'bf16')" in capsys.readouterr().err


def test_the_reproducibility_notes_show_the_fingerprint_commands_help(capsys):
    from ptkit.verify import fingerprint

    with pytest.raises(SystemExit) as exit_:
        fingerprint.main(["--help"])
    text = f"$ python -m ptkit.verify.fingerprint --help\n{capsys.readouterr().out}"
    assert exit_.value.code == 0
    assert text in (ROOT / "docs" / "reproducibility.md").read_text(), "docs/reproducibility.md: paste the help"
