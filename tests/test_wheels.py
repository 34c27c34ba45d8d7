"""Hash-pinned locks: the committed ones agree with the matrix, and a stale one is refused."""

import pytest

from conftest import ROOT
from ptkit import matrix, render, wheels
from ptkit.errors import PtkitError

M = matrix.load(ROOT / "matrix.toml")


@pytest.mark.parametrize("variant", ["cpu", "cuda130"])
def test_committed_locks_agree_with_the_matrix_and_pin_hashes(variant):
    text = (ROOT / "locks" / f"{variant}.txt").read_text()
    _, expected = render.requirements(M.get(variant), ["torch"])
    assert wheels.check_lock(ROOT / "locks" / f"{variant}.txt", expected) == text.encode()
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert lines and all(" --hash=sha256:" in ln and len(ln.split("sha256:")[1]) == 64 for ln in lines)


def test_a_stale_lock_is_refused(tmp_path):
    stale = tmp_path / "lock.txt"
    stale.write_text("torch==2.12.0 --hash=sha256:" + "0" * 64 + "\n")
    with pytest.raises(PtkitError, match=r"pins torch 2.12.0, the matrix pins 2.13.0\+cpu"):
        wheels.check_lock(stale, {"torch": "2.13.0+cpu"})
    with pytest.raises(PtkitError, match="No such file"):
        wheels.check_lock(tmp_path / "missing.txt", {"torch": "2.13.0+cpu"})
