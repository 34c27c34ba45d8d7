"""benchmarks/matrix_run.py (the `matrix` nox session) without Docker: which images it builds, the commands it
runs (parsed by ptkit's own parser), the disk sampler on a real folder, RUN.md; and the reports' `image` block."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from benchmarks import installers, matrix_run, naive, naive_sizes

from ptkit import pipeline
from ptkit.errors import PtkitError
from ptkit.inputs import PYPI_SIMPLE
from ptkit.platforms import DEFAULT_PLATFORM
from ptkit.verify.results import Report
from tests.utils import matrix_facts

JOBS = matrix_run.jobs(matrix_facts.MATRIX)


def test_the_jobs_are_every_pypi_source_and_the_cpu_rows_on_each_of_their_platforms():
    pypi = {v.image_name for v in matrix_facts.every_source() if v.index_url == PYPI_SIMPLE}
    cpu = {v.image_name for v in matrix_facts.MATRIX.variants.values() if not v.is_cuda}
    # matrix order, each once, on each platform in the order the row names them ('-arm64' after arm64's, issue 21)
    assert [j.name for j in JOBS] == [v.image_name + ("" if p == DEFAULT_PLATFORM.name else "-arm64")
                                      for v in matrix_facts.every_source() if v.image_name in pypi | cpu
                                      for p in v.platforms]
    assert {"cuda130-arm64", "cuda132-arm64", "cpu-pypi-arm64"} <= {j.name for j in JOBS}
    assert all((j.wheelhouse is None) == (j.variant.index_url == PYPI_SIMPLE) for j in JOBS)


def test_variants_picks_and_an_unknown_name_is_refused_listing_the_valid_ones():
    last = JOBS[-1].name
    assert [j.name for j in matrix_run.jobs(matrix_facts.MATRIX, [last])] == [last]
    with pytest.raises(PtkitError, match=f"--variants nope: not a PyPI-served image.*{last}"):
        matrix_run.jobs(matrix_facts.MATRIX, ["nope", last])


@pytest.mark.parametrize("job", JOBS, ids=[j.name for j in JOBS])
def test_each_job_is_main_sh_of_its_row_source_and_platform(job):
    cmd = matrix_run.command(job)
    assert cmd[:2] == ["bash", "scripts/main.sh"] and (matrix_run.ROOT / cmd[1]).is_file()
    options = dict(zip(cmd[3::2], cmd[4::2], strict=True))
    assert set(options) <= {"--source", "--platform"} and options.get("--source") == job.source
    variant = matrix_facts.MATRIX.get(cmd[2], options.get("--source"))
    platform = variant.on(options.get("--platform", DEFAULT_PLATFORM.name))
    assert platform.named(variant.image_name) == job.name  # main.sh builds that very image


def test_the_other_rows_are_every_source_not_a_job_each_once():
    rest = [j.variant.image_name for j in matrix_run.others(matrix_facts.MATRIX, JOBS)]
    every = [v.image_name for v in matrix_facts.every_source()]
    assert sorted(rest + list({j.variant.image_name for j in JOBS})) == sorted(every) and len(set(rest)) == len(rest)
    # Not a job: a CUDA row of an index other than PyPI
    assert all(j.variant.is_cuda and j.variant.index_url != PYPI_SIMPLE
               for j in matrix_run.others(matrix_facts.MATRIX, JOBS))


def test_collect_copies_only_a_report_this_run_wrote(tmp_path):
    written, out = tmp_path / "reports", tmp_path / "evidence"
    written.mkdir(), out.mkdir()
    job = JOBS[-1]
    report = Report(image={"size_bytes": 7, "build_seconds": 1.5}).to_dict()
    (written / f"{job.name}-runtime.json").write_text(json.dumps(report))  # what `ptkit check` names it
    since = time.time() + 60  # the report predates this run: an older run's, not copied
    assert matrix_run.collect(job, "runtime", since, out, written) is None and not list(out.iterdir())
    assert matrix_run.collect(job, "runtime", 0, out, written) == {
        "report": f"{job.name}-runtime.json", "ok": report["ok"], "size_bytes": 7, "build_seconds": 1.5}
    assert json.loads((out / f"{job.name}-runtime.json").read_text())["image"]["size_bytes"] == 7
    assert matrix_run.collect(job, "devel", 0, out, written) is None  # devel's is IMAGE.json: none here


def test_the_disk_peak_sees_a_file_that_came_and_went(tmp_path):
    with matrix_run.DiskPeak(tmp_path, every=0.02) as disk:
        big = tmp_path / "big"
        big.write_bytes(b"\1" * (64 << 20))
        time.sleep(0.3)
        big.unlink()
        time.sleep(0.1)
    assert disk.peak - disk.start >= 48 << 20  # other writers on this disk may move it a little


def test_run_md_has_the_command_commit_each_row_both_flavors_the_refusals_and_the_readme_table(tmp_path):
    real = json.loads((matrix_run.REPORTS / "cuda124-runtime.json").read_text())  # a real report, as devel's
    (tmp_path / "a-devel.json").write_text(json.dumps(real))
    with matrix_run.DiskPeak(tmp_path, every=0.02) as disk:
        pass
    devel = {"report": "a-devel.json", "ok": True, "build_seconds": 165.3, "size_bytes": 6_100_000_000}
    runtime = {"report": "a-runtime.json", "ok": False}
    rows = [{"image": "a", "command": "bash scripts/main.sh a", "exit": 1, "seconds": 61.0, "last_line": "",
             "devel": devel, "runtime": runtime},
            {"image": "b-x", "command": "bash scripts/main.sh b --source x", "exit": 3, "seconds": 9.0,
             "last_line": "main.sh: cannot build b-x here", "devel": None, "runtime": None}]
    head = matrix_run.header("nox -s matrix", "abc123", dt.datetime(2026, 11, 27, 12, tzinfo=dt.timezone.utc), 64,
                             matrix_run.disk_text(disk))
    text = matrix_run.run_md(head, rows, tmp_path)
    assert "`nox -s matrix`" in text and "Commit: abc123" in text and "2026-11-27 12:00" in text
    assert "Total time: 1.1 min" in text and f"the file system holding {Path(tmp_path)}" in text
    assert "| a | `bash scripts/main.sh a` | 1 | 61.0 s | ok, 2 min 45 s, 6.10 GB | FAILED, -, - |" in text
    assert "| b-x | `bash scripts/main.sh b --source x` | 3 | 9.0 s | main.sh: cannot build b-x here |" in text
    readme = text.split("## The README's table")[1]
    assert ("| a | 2.6.0+cu124 | 12.4 | 9.1.0 | 2.21.5 | sm_50 sm_60 sm_70 sm_75 sm_80 sm_86 sm_90 | "
            "ok, 2 min 45 s, 6.10 GB | FAILED, -, - |") in readme
    assert "b-x" not in readme  # not built: no row


def test_the_image_block_has_the_size_and_build_time_and_survives_the_report_round_trip():
    block = pipeline.image_block({"Size": 1_234_567_890, "Id": "sha256:x"}, 83.46)
    assert block == {"size_bytes": 1_234_567_890, "compressed_bytes": None, "build_seconds": 83.5}
    data = Report(image=block).to_dict()
    assert data["image"] == block and Report.from_dict(data).image == block
    assert "image" not in Report().to_dict()


def test_the_naive_image_installs_the_lock_hash_checked_from_the_index_or_the_wheelhouse():
    online = naive.dockerfile("ptkit/base:bookworm", PYPI_SIMPLE, devel=False, ca_bundle=True)
    assert online.startswith("FROM ptkit/base:bookworm\n") and "g++" not in online
    assert f"PIP_CERT=/context/ca.pem /opt/venv/bin/pip install --no-cache-dir --index-url {PYPI_SIMPLE}" in online
    assert "--require-hashes --no-deps -r /context/requirements.lock" in online
    offline = naive.dockerfile("base", None, devel=True)
    assert "--no-index --find-links /context" in offline and "python3-dev g++" in offline and "PIP_CERT" not in offline


def test_naive_sizes_reads_the_matrix_runs_sizes_and_writes_the_table(tmp_path):
    job = JOBS[-1]
    assert naive_sizes.recorded_bytes(job, tmp_path) is None  # that run did not build it
    report = Report(image={"size_bytes": 5_590_000_000}).to_dict()
    (tmp_path / f"{job.name}-runtime.json").write_text(json.dumps(report))
    assert naive_sizes.recorded_bytes(job, tmp_path) == 5_590_000_000
    text = naive_sizes.naive_md("python benchmarks/naive_sizes.py", [
        {"image": job.name, "ptkit": "5.59 GB", "naive": "7.10 GB", "ratio": "0.79"}])
    assert f"| {job.name} | 5.59 GB | 7.10 GB | 0.79 |" in text and "`python benchmarks/naive_sizes.py`" in text


def test_naive_sizes_refuses_an_unknown_image_in_one_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        naive_sizes.main(["--variants", "nope"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.startswith("naive_sizes: --variants nope: not a PyPI-served image of the matrix")


def test_installers_reads_the_slowest_steps_from_ptkit_builds_progress():
    progress = ("building cuda130\n  [5/75] RUN apt-get update  (15.2 s)\n  [6/75] LABEL x  (0.1 s)\n"
                "ptkit build: noise (3 s)\n  [21/75] RUN set -eu; install the wheels  (101.0 s)\n")
    assert installers.build_steps(progress) == [("RUN set -eu; install the wheels", 101.0),
                                                   ("RUN apt-get update", 15.2), ("LABEL x", 0.1)]


@pytest.mark.parametrize("script", ["bench_overhead", "image_figures", "matrix_run", "naive_sizes",
                                    "reproducibility", "verify_startup"])
def test_a_benchmarks_bad_option_is_one_line_and_exit_2(script):
    proc = subprocess.run([sys.executable, str(matrix_run.ROOT / "benchmarks" / f"{script}.py"), "--no-such-option"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and ": error: " in proc.stderr and "--help" in proc.stderr, proc.stderr
