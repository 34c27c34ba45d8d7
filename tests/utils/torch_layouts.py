"""A torch laid out otherwise, for the compile check's probes: the real torch said to live in another folder, and
folders holding only the files a torch version keeps. Here, not in a test file, so that the subprocesses of
tests/test_compile_check.py import it from tests.utils as other tests' subprocesses do."""

from __future__ import annotations

import os
import types
from pathlib import Path


class Relocated(types.ModuleType):
    """The real torch, but its files said to be under another folder: a torch laid out otherwise."""

    def __init__(self, torch: types.ModuleType, root: str) -> None:
        super().__init__("torch")
        self.__file__ = os.path.join(root, "__init__.py")
        self._real = torch

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)


def torch_tree(root: Path, *files: str) -> Path:
    """A torch folder holding only the given files (empty), and torch/include's ATen and c10 when named."""
    for rel in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).touch()
    return root
