"""scripts/mutation_score.py (issue 19.12): what `nox -s mutation` reports and judges, on mutmut result files
written here as mutmut writes them (mutants/src/**/MODULE.py.meta). Exit codes as mutmut's stats table names
them: 1 killed, 0 survived, 36 timeout, 33 no tests, None not run."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("mutmut")
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "mutation_score.py"


def score_main(root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    spec = importlib.util.spec_from_file_location("mutation_score", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    code = module.main(["--root", str(root)])
    out, err = capsys.readouterr()
    return code, out, err


def results(root: Path, module: str, codes: list[int | None]) -> None:
    meta = root / "ptkit" / f"{module}.py.meta"
    meta.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps({"exit_code_by_key": {f"m{i}": c for i, c in enumerate(codes)}}))


def test_a_timeout_is_reported_and_not_counted_as_killed(tmp_path, capsys):
    results(tmp_path, "verify/gpu", [1, 1, 1, 36, 33])  # 3 killed of 4 judged: 75 %, the timeout apart
    results(tmp_path, "matrix", [1, 1, 1, 1])
    code, out, err = score_main(tmp_path, capsys)
    assert code == 1
    assert err.strip() == "mutation: below 80% killed: verify 75.0%"
    gpu = next(line for line in out.splitlines() if line.startswith("ptkit/verify/gpu "))
    assert "killed    3/4     75.0%  timeout   1" in gpu and "no tests 1" in gpu


def test_each_area_is_judged_on_its_own_and_mutants_not_run_are_left_out(tmp_path, capsys):
    results(tmp_path, "repro/sign", [1, 1, 1, 1, None, None])
    results(tmp_path, "repro/attest", [1, 1, 1, 1, 1])
    results(tmp_path, "cluster/slurm", [1, 1, 1, 1])
    code, out, err = score_main(tmp_path, capsys)
    assert (code, err) == (0, "")
    area_lines = out.split("per area:")[1].splitlines()
    repro = next(line for line in area_lines if line.startswith("repro "))
    assert "killed    9/9    100.0%" in repro and "not run    2" in repro


def test_no_results_is_exit_2(tmp_path, capsys):
    code, _, err = score_main(tmp_path, capsys)
    assert code == 2 and "no mutmut results" in err
