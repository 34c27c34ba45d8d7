"""Hash-pinned locks: the committed ones agree with the matrix, and a stale one is refused."""

import re

import pytest

from ptkit import locks
from ptkit.errors import PtkitError
from tests.utils import matrix_facts

CPU = matrix_facts.default_variant()


@pytest.mark.parametrize("v", matrix_facts.locked_variants(), ids=lambda v: v.image_name)
def test_committed_locks_agree_with_the_matrix_and_pin_hashes(v):
    path = matrix_facts.lock_path(v)
    text = path.read_text()
    # What a build of the variant checks the lock against: every PyTorch package the matrix pins.
    assert locks.check_lock(path, v.pins()) == text.encode()
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert lines, f"{path} pins nothing"
    for line in lines:
        assert re.fullmatch(r"\S+==\S+ --hash=sha256:[0-9a-f]{64}", line), line


def test_a_stale_lock_is_refused(tmp_path):
    stale = tmp_path / "lock.txt"
    stale.write_text("torch==0.0.1 --hash=sha256:" + "0" * 64 + "\n")
    with pytest.raises(PtkitError, match=rf"pins torch 0\.0\.1, the matrix pins {re.escape(CPU.torch)}"):
        locks.check_lock(stale, {"torch": CPU.torch})
    with pytest.raises(PtkitError, match="No such file"):
        locks.check_lock(tmp_path / "missing.txt", {"torch": CPU.torch})
