"""VerifyOptions: the verify options as one typed value from the host's flags to the container's argv."""

from __future__ import annotations

import argparse

import pytest

from ptkit.verify import cli
from ptkit.verify.options import VerifyOptions, to_argv

OUTPUT = {"json", "report", "help"}  # where results go: the host keeps them


class Recorder(argparse.ArgumentParser):
    """A parser that keeps the actions add_verify_args adds (argparse has no public list of them)."""

    def __init__(self) -> None:
        super().__init__(add_help=False)
        self.recorded: list[argparse.Action] = []

    def add_argument(self, *args, **kwargs):
        action = super().add_argument(*args, **kwargs)
        self.recorded.append(action)
        return action


def parse(argv: list[str]) -> argparse.Namespace:
    return cli.build_parser().parse_args(["verify", *argv])


def test_every_verify_option_but_the_output_ones_is_a_field_of_the_kind_its_action_parses():
    parser = Recorder()
    cli.add_verify_args(parser)
    kinds = {}
    for action in parser.recorded:
        if action.dest not in OUTPUT:
            kinds[action.dest] = (max(action.option_strings, key=len), "flag" if action.nargs == 0 else
                                  "repeatable" if isinstance(action.default, list) else "value")
    fields = VerifyOptions.__dataclass_fields__
    assert set(kinds) == set(fields), "a verify option without a VerifyOptions field (or the reverse)"
    defaults = VerifyOptions()
    for name, (flag, kind) in kinds.items():
        assert flag == f"--{name.replace('_', '-')}"
        expected = {"flag": False, "repeatable": (), "value": None}[kind]
        assert getattr(defaults, name) == expected, name


ARGVS = [
    [],
    ["--quick"],
    ["--quick", "--expect-cuda", "--expect-cuda-version", "12.8"],
    ["--require", "torchvision", "--require", "numpy", "--json"],
    ["--expect-cuda-version", "13.0", "--report", "/tmp/r.json", "--require", "a b", "--strict"],
]


@pytest.mark.parametrize("argv", ARGVS)
def test_the_container_parses_back_what_the_host_read_but_the_output_options(argv):
    host = parse(argv)
    options = VerifyOptions.from_namespace(host)
    image = parse(to_argv(options))
    assert VerifyOptions.from_namespace(image) == options
    assert {**vars(image), "json": host.json, "report": host.report} == vars(host)
    assert not image.json and image.report is None


def test_the_argv_has_each_kind_of_option_in_the_parsers_order():
    options = VerifyOptions(quick=True, expect_cuda_version="12.8", require=("a", "b"), strict=True)
    assert to_argv(options) == ["--quick", "--expect-cuda-version", "12.8", "--require", "a", "--require", "b",
                                "--strict"]
    assert to_argv(VerifyOptions()) == []


@pytest.mark.parametrize(("given", "cuda", "gpu", "version", "expect_gpu"), [
    (VerifyOptions(), "", False, None, False),  # a CPU image: nothing expected
    (VerifyOptions(), "", True, None, False),  # a GPU given, no CUDA release to expect: no GPU demanded
    (VerifyOptions(), "12.8", False, "12.8", False),  # the image's CUDA, no GPU attached
    (VerifyOptions(), "12.8", True, "12.8", True),  # and a usable GPU when one is attached
    (VerifyOptions(expect_cuda_version="13.0"), "12.8", True, "13.0", True),  # the user's release wins
    (VerifyOptions(expect_cuda=True), "", False, None, True),  # the user's --expect-cuda stays
])
def test_an_image_adds_its_cuda_release_and_a_gpu_when_one_is_attached(given, cuda, gpu, version, expect_gpu):
    expected = given.expecting(cuda, gpu)
    assert (expected.expect_cuda_version, expected.expect_cuda) == (version, expect_gpu)
