"""`ptkit lock` and `ptkit wheelhouse` against a local package index that misbehaves: one that stalls in the
middle of a wheel (as a 2.5 GB torch wheel does on a slow link, where the index serves no PEP 658 metadata and
pip downloads the wheel to read it) and one that does not answer at all. Ctrl-C must leave nothing in TMPDIR;
an index that does not answer must be said so, not reported as "No matching distribution"."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ptkit import locks
from tests.utils import matrix_facts
from tests.utils.ptkit_cli import ROOT, as_in_a_terminal

CPU = matrix_facts.default_variant()
WHEEL = f"torch-{CPU.torch}-cp{CPU.python.replace('.', '')}-cp{CPU.python.replace('.', '')}-manylinux_2_28_x86_64.whl"


class StallingIndex(BaseHTTPRequestHandler):
    """/simple/torch/ lists one wheel (no .metadata beside it); the wheel sends 1 MiB of 100 MiB, then stalls."""

    stop = threading.Event()

    def do_GET(self) -> None:  # http.server calls it by this name
        if self.path.rstrip("/") == "/simple/torch":
            body = f'<html><body><a href="/files/{WHEEL}#sha256={"0" * 64}">{WHEEL}</a></body></html>'.encode()
            self._send(200, "text/html", len(body))
            self.wfile.write(body)
        elif self.path.startswith("/files/"):
            self._send(200, "application/octet-stream", 100 << 20)
            self.wfile.write(b"\0" * (1 << 20))
            self.wfile.flush()
            self.stop.wait(120)
        else:
            self._send(404, "text/plain", 0)

    def do_HEAD(self) -> None:
        self._send(200, "text/html", 0)

    def _send(self, code: int, kind: str, length: int) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def index() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StallingIndex)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    finally:
        StallingIndex.stop.set()
        server.shutdown()
        StallingIndex.stop.clear()


def matrix_with_index(tmp_path: Path, url: str) -> Path:
    text = (ROOT / "matrix.toml").read_text()
    assert f'index_url = "{CPU.index_url}"' in text
    path = tmp_path / "matrix.toml"
    path.write_text(text.replace(f'index_url = "{CPU.index_url}"', f'index_url = "{url}"', 1))
    return path


# Ctrl-C in a terminal (SIGINT to the whole process group, pip included), and `kill` or a CI time-out
# (SIGTERM to ptkit alone: pip hears nothing unless ptkit tells it).
INTERRUPTS = {"ctrl-c": (signal.SIGINT, True, 130, "interrupted"),
              "sigterm": (signal.SIGTERM, False, 143, "terminated (SIGTERM); nothing was left running")}


def interrupt_mid_download(argv: list[str], tmpdir: Path, how: str) -> subprocess.CompletedProcess[str]:
    """Start ptkit, wait until pip has part of the wheel on disk, then interrupt it (INTERRUPTS[how])."""
    proc = subprocess.Popen([sys.executable, "-m", "ptkit", *argv], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, preexec_fn=as_in_a_terminal,
                            env={**os.environ, "TMPDIR": str(tmpdir), "PIP_NO_CACHE_DIR": "1"})
    deadline = time.monotonic() + 90
    while not any(f.is_file() and f.stat().st_size >= 1 << 19 for f in tmpdir.rglob("*")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "pip never started the download"
        time.sleep(0.2)
    sig, group, _, _ = INTERRUPTS[how]
    (os.killpg if group else os.kill)(proc.pid, sig)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


@pytest.mark.parametrize("how", INTERRUPTS)
def test_ctrl_c_during_a_lock_leaves_nothing_in_tmpdir(tmp_path, index, how):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    out = tmp_path / "locks" / "cpu.txt"
    proc = interrupt_mid_download(["lock", CPU.name, "--packages", "torch", "--isolated",
                                   "--matrix", str(matrix_with_index(tmp_path, index)), "-o", str(out)], tmpdir, how)
    _, _, code, says = INTERRUPTS[how]
    assert proc.returncode == code and proc.stderr.strip().splitlines() == [f"ptkit lock: {says}"]
    assert list(tmpdir.iterdir()) == []
    assert not (tmp_path / "locks").exists()


@pytest.mark.parametrize("how", INTERRUPTS)
def test_ctrl_c_during_a_wheelhouse_leaves_nothing_in_tmpdir_nor_the_new_folder(tmp_path, index, how):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    proc = interrupt_mid_download(["wheelhouse", CPU.name, str(tmp_path / "wh"), "--packages", "torch",
                                   "--index-url", index], tmpdir, how)
    _, _, code, says = INTERRUPTS[how]
    assert proc.returncode == code and proc.stderr.strip().splitlines() == [f"ptkit wheelhouse: {says}"]
    assert list(tmpdir.iterdir()) == []
    assert not (tmp_path / "wh").exists()


def no_pip_config(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "pip.conf").write_text("")  # this host's pip configuration (a local wheel folder) stays out
    return {**os.environ, "PIP_CONFIG_FILE": str(tmp_path / "pip.conf")}


def test_an_index_that_does_not_answer_is_not_a_missing_distribution(tmp_path):
    """pip's own words for a dead index (here: a port nobody listens on), classified by ptkit."""
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--dest", str(tmp_path),
                           "--retries", "1", "--index-url", "http://127.0.0.1:9/simple", "six"],
                          capture_output=True, text=True, timeout=120, env=no_pip_config(tmp_path))
    assert proc.returncode != 0 and "No matching distribution" in proc.stderr  # what pip ends with
    said = locks.unreachable(proc.stderr, "http://127.0.0.1:9/simple")
    assert said and said.startswith("the package index http://127.0.0.1:9/simple does not answer")


def test_an_index_that_answers_without_the_package_is_a_missing_distribution(tmp_path, index):
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--dest", str(tmp_path),
                           "--index-url", index, "six"], capture_output=True, text=True, timeout=120,
                          env=no_pip_config(tmp_path))
    assert proc.returncode != 0 and "No matching distribution" in proc.stderr
    assert locks.unreachable(proc.stderr, index) is None
