"""What `verify` checks, as one typed value from the host's flags to the container's command line.

The host reads its `ptkit verify --image` flags into a `VerifyOptions`, adds what the image implies
(`expecting`), and `to_argv` makes the container's argv from it; the verifier there parses that argv with the
same `add_verify_args`. A field is an option of add_verify_args (`--name-with-dashes`), of one of three kinds:
a flag (bool), a value (str or None) or a repeatable option (tuple); tests/test_verify_options.py checks that
every option add_verify_args defines (but the output options) is a field here. Standard library only.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class VerifyOptions:
    quick: bool = False
    expect_cuda: bool = False
    expect_cuda_version: str | None = None
    require: tuple[str, ...] = ()
    fatbin: tuple[str, ...] = ()
    fatbin_unread: str | None = None
    arch_row: tuple[str, ...] = ()
    strict: bool = False

    @classmethod
    def from_namespace(cls, args: argparse.Namespace) -> VerifyOptions:
        """The options parsed by add_verify_args (lists become tuples: the value is frozen)."""
        def frozen(value: Any) -> Any:
            return tuple(value) if isinstance(value, list) else value

        return cls(**{f.name: frozen(getattr(args, f.name, f.default)) for f in dataclasses.fields(cls)})

    def expecting(self, cuda: str, gpu: bool) -> VerifyOptions:
        """Plus what an image implies: its CUDA release (unless one is asked for already), and a usable GPU when
        the container is given one and a CUDA release is expected."""
        version = self.expect_cuda_version or cuda or None
        return dataclasses.replace(self, expect_cuda_version=version,
                                   expect_cuda=self.expect_cuda or bool(gpu and version))


def to_argv(options: VerifyOptions) -> list[str]:
    """The container's verify arguments: the one place a VerifyOptions becomes a command line."""
    argv: list[str] = []
    for f in dataclasses.fields(options):
        flag, value = f"--{f.name.replace('_', '-')}", getattr(options, f.name)
        if isinstance(value, bool):
            argv += [flag] if value else []
        elif isinstance(value, tuple):
            argv += [arg for item in value for arg in (flag, str(item))]
        elif value is not None:
            argv += [flag, str(value)]
    return argv
