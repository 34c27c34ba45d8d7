"""`verify --distributed` for real: torchrun and plain rank processes on this machine's CPU (gloo).

The fault tests kill (SIGKILL) or freeze (SIGSTOP) one rank in the middle of the bandwidth
measurement and check that the survivor fails, naming the lost rank, within the stated bound.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VERIFY = ROOT / "src" / "ptkit" / "verify"
TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]
pytest.importorskip("torch")
pytestmark = pytest.mark.timeout(300)  # every test here has its own bound far below; this one ends a hang
from ptkit.verify.distributed import COMBINED, ENTRY, REPORT_PREFIX  # noqa: E402
from tests.utils.net import free_port  # noqa: E402

TIMEOUT = 5  # --collective-timeout of the fault tests
BOUND = TIMEOUT + 10  # documented bound: the timeout, 1.5 s naming the lost rank, exit
LONG = ["--bandwidth-sizes", "1K", "--bandwidth-iters", "100000000"]  # runs until a rank is stopped


def torchrun(nproc: int, *args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    cmd = [*TORCHRUN, "--nnodes", "1", "--nproc-per-node", str(nproc), "--rdzv-backend", "c10d",
           "--rdzv-endpoint", f"127.0.0.1:{free_port()}", "--max-restarts", "0", *ENTRY, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def start_ranks(world: int, report_dir: Path, *args: str) -> list[subprocess.Popen[str]]:
    """The rank processes torchrun would start, started by hand so that the test owns each one."""
    port = str(free_port())
    procs = []
    for rank in range(world):
        env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank),
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port}
        procs.append(subprocess.Popen(
            [sys.executable, *ENTRY, "--collective-timeout", str(TIMEOUT), "--report-dir", str(report_dir), *args],
            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return procs


def wait_until_measuring(proc: subprocess.Popen[str], ranks: int = 1, deadline: float = 60) -> None:
    """Until `ranks` ranks said they measure, reading proc's stderr without ever blocking past the deadline."""
    end, seen = time.monotonic() + deadline, b""
    while seen.count(b"measuring all-reduce bandwidth") < ranks:
        left = end - time.monotonic()
        if left <= 0:
            pytest.fail(f"{ranks} rank(s) never reached the bandwidth phase; stderr: {seen[-2000:]!r}")
        if select.select([proc.stderr], [], [], left)[0]:
            chunk = os.read(proc.stderr.fileno(), 65536)
            assert chunk, f"the ranks' stderr closed early (exit {proc.poll()}): {seen[-2000:]!r}"
            seen += chunk


def kill_tree(proc: subprocess.Popen[str]) -> None:
    """torchrun's workers too: a test that fails must not leave ranks running (they would load every later test)."""
    for child in subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(child), signal.SIGKILL)
    proc.kill()
    proc.wait()


def fail_details(report: dict) -> list[str]:
    return [c["detail"] for c in report["checks"] if c["status"] == "fail"]


def test_three_ranks_pass_exactly_with_nccl_tests_bandwidth(tmp_path):
    proc = torchrun(3, "--report-dir", str(tmp_path), "--bandwidth-sizes", "4K,256K", "--bandwidth-iters", "5")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    combined = json.loads((tmp_path / COMBINED).read_text())
    assert combined["schema"] == "ptkit.verify/1" and combined["ok"] is True
    block = combined["distributed"]
    assert (block["world_size"], block["backend"]) == (3, "gloo")
    assert [(r["rank"], r["ok"], r["failed"]) for r in block["ranks"]] == [(0, True, []), (1, True, []), (2, True, [])]
    names = {c["name"]: c["status"] for c in combined["checks"]}
    for name in ("rendezvous", "allreduce_int", "allreduce_float", "all_gather", "broadcast", "barrier",
                 "allreduce_bandwidth", "gather_results"):
        assert names[name] == "pass", name
    assert [b["bytes"] for b in block["bandwidth"]] == [4096, 262144]
    for row in block["bandwidth"]:
        algbw = row["bytes"] / row["median_s"] / 1e9
        assert row["algbw_gbps"] == pytest.approx(algbw, rel=1e-4)
        assert row["busbw_gbps"] == pytest.approx(algbw * 4 / 3, rel=1e-4)  # 2(n-1)/n with n = 3
    for rank in range(3):
        own = json.loads((tmp_path / f"rank-{rank}.json").read_text())
        assert own["ok"] and own["distributed"]["ranks"][0]["rank"] == rank
    marker = next(ln for ln in proc.stdout.splitlines() if ln.startswith(REPORT_PREFIX))
    assert json.loads(marker[len(REPORT_PREFIX):]) == combined
    assert "busbw GB/s" in proc.stdout and "verify --distributed: PASS" in proc.stdout


def signal_rank_1(tmp_path: Path, sig: int) -> tuple[subprocess.Popen[str], int, float, str]:
    """Two ranks; rank 1 gets `sig` mid-measurement. Returns rank 0, rank 1's pid, rank 0's time to exit, its stdout."""
    procs = start_ranks(2, tmp_path, *LONG)
    try:
        wait_until_measuring(procs[1])
        procs[1].send_signal(sig)
        start = time.monotonic()
        out, _ = procs[0].communicate(timeout=BOUND + 30)
        return procs[0], procs[1].pid, time.monotonic() - start, out
    finally:
        for p in procs:
            kill_tree(p)


def test_killed_rank_is_named_by_the_survivor_at_once(tmp_path):
    survivor, victim, elapsed, out = signal_rank_1(tmp_path, signal.SIGKILL)
    assert survivor.returncode == 1
    assert elapsed < TIMEOUT, f"a killed peer should be seen at once, took {elapsed:.1f}s"
    combined = json.loads((tmp_path / COMBINED).read_text())
    assert combined["ok"] is False
    assert f"lost peer(s): rank 1 (host {socket.gethostname()}, pid {victim})" in fail_details(combined)[0]
    assert combined["distributed"]["ranks"][1] == {
        "rank": 1, "local_rank": 1, "host": socket.gethostname(), "ok": False, "failed": ["unknown: peer lost"]}
    assert "verify --distributed: FAIL" in out


def test_hung_rank_fails_the_survivor_within_the_collective_timeout(tmp_path):
    # SIGSTOP: alive, connections open, silent: only the timeout can tell
    survivor, _, elapsed, _ = signal_rank_1(tmp_path, signal.SIGSTOP)
    assert survivor.returncode == 1
    assert TIMEOUT - 1 < elapsed < BOUND, f"took {elapsed:.1f}s; bound {BOUND}s"
    detail = fail_details(json.loads((tmp_path / COMBINED).read_text()))[0]
    assert "lost peer(s): rank 1 " in detail and f"collective timeout {TIMEOUT}s" in detail
    assert "Timed out" in detail


def test_torchrun_tears_the_job_down_when_a_worker_dies(tmp_path):
    """torchrun's own part of the bound: a dead worker ends its node's job at once, naming the root cause."""
    cmd = [*TORCHRUN, "--nnodes", "1", "--nproc-per-node", "2", "--rdzv-backend", "c10d", "--rdzv-endpoint",
           f"127.0.0.1:{free_port()}", "--max-restarts", "0", *ENTRY, "--collective-timeout", str(TIMEOUT), *LONG]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_measuring(proc, ranks=2)
        workers = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        assert len(workers) == 2, workers
        os.kill(int(workers[1]), signal.SIGKILL)
        start = time.monotonic()
        _, err = proc.communicate(timeout=BOUND)
        elapsed = time.monotonic() - start
    finally:
        kill_tree(proc)
    assert proc.returncode == 1 and elapsed < BOUND
    assert "Root Cause" in err and f"exitcode  : -9 (pid: {workers[1]})" in err


def test_outside_torchrun_is_a_usage_error_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "MASTER_ADDR")}
    proc = subprocess.run([sys.executable, *ENTRY], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "not launched by torchrun (missing RANK" in proc.stderr


@pytest.mark.parametrize(("args", "says"), [
    (["--bandwidth-sizes", "1Q"], "argument --bandwidth-sizes: expected sizes of at least 1 byte like 1K,64K,1M,16M, "
                                  "got '1Q'"),
    (["--bandwidth-sizes", "0"], "got '0'"),
    (["--bandwidth-sizes", "4K,-1K"], "got '4K,-1K'"),
    (["--bandwidth-sizes", ""], "got ''"),
    (["--collective-timeout", "nan"],
     "argument --collective-timeout: expected a positive number of seconds, got 'nan'"),
    (["--collective-timeout", "inf"], "got 'inf'"),
    (["--collective-timeout", "0"], "got '0'"),
    (["--collective-timeout", "-5"], "got '-5'"),
    (["--bandwidth-iters", "0"], "argument --bandwidth-iters: expected a whole number of at least 1, got '0'"),
    (["--bandwidth-iters", "-3"], "got '-3'"),
    (["--bandwidth-iters", "2.5"], "got '2.5'"),
])
def test_bad_values_are_a_usage_error_before_any_rank_starts(args, says):
    """Issue 19.8: nan, 0 and friends were accepted, then failed mid-run as a Python error."""
    env = {**os.environ, "RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(free_port())}  # launched as by torchrun: only the value can be wrong
    proc = subprocess.run([sys.executable, *ENTRY, *args], capture_output=True, text=True, cwd=ROOT, timeout=60,
                          env=env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert says in proc.stderr.splitlines()[-1]


def test_an_error_in_ptkits_own_code_is_not_called_a_lost_peer():
    """The StatisticsError --bandwidth-iters 0 used to raise was reported as "peer lost" for a healthy rank."""
    import argparse
    import statistics

    from ptkit.verify.distributed import Run

    env = {"rank": 0, "world_size": 2, "local_rank": 0, "master_addr": "127.0.0.1", "master_port": 1, "restart": "0"}
    run = Run(argparse.Namespace(collective_timeout=5.0), env)
    run.step("allreduce_bandwidth", lambda: statistics.median([]))
    run.step("barrier", lambda: ("pass", "never run"))
    detail = {c.name: (c.status, c.detail) for c in run.report.checks}
    assert detail["allreduce_bandwidth"] == ("fail", "StatisticsError: no median for empty data (an error in "
                                                      "ptkit's check on rank 0, not a lost peer)")
    assert detail["barrier"] == ("skip", "not run: an error on rank 0")
    other = run.gather_ranks()[1]
    assert other["failed"] == ["unknown: not gathered after an error on rank 0"]


def test_a_failed_collective_still_names_the_peers():
    import argparse

    from ptkit.verify.distributed import Run

    env = {"rank": 0, "world_size": 2, "local_rank": 0, "master_addr": "127.0.0.1", "master_port": 1, "restart": "0"}
    run = Run(argparse.Namespace(collective_timeout=5.0), env)

    def broken() -> tuple[str, str]:
        raise RuntimeError("Connection closed by peer [127.0.0.1]:29500")

    run.step("barrier", broken)
    assert run.report.checks[0].detail.startswith("every peer still answers (collective timeout 5s): RuntimeError")
    assert run.gather_ranks()[1]["failed"] == ["unknown: peer lost"]


@pytest.mark.parametrize("name", ["distributed.py", "collectives.py"])
def test_in_image_modules_parse_as_python_3_8(name):
    ast.parse((VERIFY / name).read_text(), feature_version=(3, 8))


class _Writes(list):
    def write(self, text: str) -> None:
        self.append(text)

    def flush(self) -> None:
        pass


def test_a_line_is_one_write_so_ranks_sharing_a_pipe_never_merge_lines():
    from ptkit.verify.distributed import say

    writes = _Writes()
    say("ptkit distributed: rank 1 measuring all-reduce bandwidth", writes)
    assert writes == ["ptkit distributed: rank 1 measuring all-reduce bandwidth\n"]


def test_a_report_that_cannot_be_written_is_one_line_and_exit_1(tmp_path):
    """--report and --report-dir go through write_json_atomic, which refuses a folder: said, not a traceback."""
    (tmp_path / "combined.json").mkdir()  # where rank 0's combined report would go
    env = {**os.environ, "RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(free_port())}
    proc = subprocess.run([sys.executable, *ENTRY, "--bandwidth-sizes", "1K", "--bandwidth-iters", "2",
                           "--report-dir", str(tmp_path), "--report", str(tmp_path)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, env=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    said = [line for line in proc.stderr.splitlines() if "could not write" in line]
    assert said == [f"ptkit verify --distributed: could not write the report to {tmp_path / 'combined.json'}: it is a "
                    "folder; a report goes to a file, a new path, a character device or a FIFO",
                    f"ptkit verify --distributed: could not write the report to {tmp_path}: it is a folder; a report "
                    "goes to a file, a new path, a character device or a FIFO"]
    assert json.loads((tmp_path / "rank-0.json").read_text())["ok"] is True and REPORT_PREFIX in proc.stdout
