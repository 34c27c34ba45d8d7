"""Honest facts about the process (cgroup quota, affinity, threads, /dev/shm), each in the real environment."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from ptkit.verify import cpus
from tests.utils.ptkit_cli import PTKIT, ROOT

VERIFY_JSON = [*PTKIT, "verify", "--quick", "--json"]


def checks_of(report: dict) -> dict[str, dict]:
    return {c["name"]: c for c in report["checks"]}


def run_verify_json(prefix: list[str], env: dict[str, str] | None = None) -> dict:
    proc = subprocess.run([*prefix, *VERIFY_JSON], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, **(env or {})})
    assert "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)


def writable_cpu_cgroup() -> tuple[str, Path] | None:
    """('v2', dir) or ('v1', dir): where this host lets us create a cgroup with a CPU quota."""
    for kind, root, control in (("v2", Path("/sys/fs/cgroup"), "cgroup.subtree_control"),
                                ("v2", Path("/sys/fs/cgroup/unified"), "cgroup.subtree_control"),
                                ("v1", Path("/sys/fs/cgroup/cpu"), "cpu.cfs_quota_us")):
        if (root / control).exists() and os.access(root, os.W_OK):
            if kind == "v2" and "cpu" not in (root / "cgroup.controllers").read_text().split():
                continue
            return kind, root
    return None


@pytest.fixture
def half_cpu_cgroup():
    found = writable_cpu_cgroup()
    if found is None:
        pytest.skip("no writable cgroup with the cpu controller (v2 with +cpu, or v1 cpu) on this host")
    kind, root = found
    path = root / f"ptkit-test-{uuid.uuid4().hex[:8]}"
    if kind == "v2" and "cpu" not in (root / "cgroup.subtree_control").read_text().split():
        (root / "cgroup.subtree_control").write_text("+cpu")
    path.mkdir()
    try:
        if kind == "v2":
            (path / "cpu.max").write_text("50000 100000")
        else:
            (path / "cpu.cfs_period_us").write_text("100000")
            (path / "cpu.cfs_quota_us").write_text("50000")
        yield path
    finally:
        path.rmdir()  # the verifier has exited, so the cgroup is empty


def test_a_half_cpu_quota_of_the_process_own_cgroup_is_reported(torch, half_cpu_cgroup):
    enter = ["sh", "-c", f'echo $$ > {half_cpu_cgroup}/cgroup.procs && exec "$@"', "sh"]
    report = run_verify_json(enter)
    assert report["environment"]["cpus"]["quota"] == 0.5 and report["environment"]["cpus"]["usable"] == 1
    threads = checks_of(report)["threads"]
    assert "1 usable CPU(s)" in threads["detail"] and "0.5 CPU quota" in threads["detail"]
    assert threads["status"] == ("warn" if torch.get_num_threads() != 1 else "pass")


@pytest.mark.skipif(not shutil.which("taskset"), reason="taskset is not installed")
def test_affinity_limits_usable_cpus(torch):
    report = run_verify_json(["taskset", "-c", "0"])
    assert report["environment"]["cpus"]["affinity"] == 1 and report["environment"]["cpus"]["usable"] == 1


def test_user_thread_setting_is_respected_and_warned(torch):
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs 2 usable CPUs to use fewer")
    report = run_verify_json([], env={"OMP_NUM_THREADS": "1"})
    threads = checks_of(report)["threads"]
    assert threads["status"] == "warn" and "OMP_NUM_THREADS=1" in threads["detail"]
    assert report["tutorial"]["threads"] == 1  # measured with the user's setting, not overridden


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare for a tmpfs")
def test_a_small_dev_shm_warns(torch):
    mount = ["unshare", "-m", "sh", "-c", 'mount -t tmpfs -o size=16m tmpfs /dev/shm && exec "$@"', "sh"]
    report = run_verify_json(mount)
    shm = checks_of(report)["shm"]
    assert shm["status"] == "warn" and "/dev/shm is 16 MiB (< 1 GiB)" in shm["detail"]
    assert checks_of(report)["dataloader"]["status"] == "pass"


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare for a tmpfs")
def test_a_read_only_dev_shm_fails_the_dataloader_with_the_fix_and_no_traceback(torch):
    mount = ["unshare", "-m", "sh", "-c", 'mount -t tmpfs -o size=1m,ro tmpfs /dev/shm && exec "$@"', "sh"]
    proc = subprocess.run([*mount, *VERIFY_JSON], capture_output=True, text=True, cwd=ROOT, timeout=300)
    loader = checks_of(json.loads(proc.stdout))["dataloader"]
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert loader["status"] == "fail" and loader["detail"].endswith(
        "(/dev/shm is read-only or missing; give the container a writable one (docker run --shm-size=1g))")


def make_hierarchy(tmp_path: Path, levels: dict[str, str], filename: str) -> Path:
    mount = tmp_path / "cg"
    for rel, content in levels.items():
        (mount / rel).mkdir(parents=True, exist_ok=True)
        if content:
            (mount / rel / filename).write_text(content)
    return mount


def test_v2_quota_is_the_smallest_on_the_way_up(tmp_path):
    mount = make_hierarchy(tmp_path, {"": "", "a": "150000 100000", "a/b": "max 100000", "a/b/c": "250000 100000"},
                           "cpu.max")
    mountinfo = f"30 23 0:26 / {mount} rw,nosuid - cgroup2 cgroup2 rw\n"
    assert cpus.cgroup_quota("0::/a/b/c\n", mountinfo) == 1.5
    assert cpus.cgroup_quota("0::/a/b\n", mountinfo) == 1.5 and cpus.cgroup_quota("0::/\n", mountinfo) is None


def test_v1_quota_inside_a_cgroup_namespace(tmp_path):
    mount = tmp_path / "cpu"
    (mount / "inner").mkdir(parents=True)
    (mount / "cpu.cfs_quota_us").write_text("200000\n")
    (mount / "cpu.cfs_period_us").write_text("100000\n")
    # A container: the mount's root is /docker/abc; the process is in /docker/abc/inner.
    mountinfo = f"40 31 0:29 /docker/abc {mount} rw - cgroup cgroup rw,cpu,cpuacct\n"
    assert cpus.cgroup_quota("4:cpu,cpuacct:/docker/abc/inner\n", mountinfo) == 2.0
    (mount / "inner" / "cpu.cfs_quota_us").write_text("-1\n")
    (mount / "inner" / "cpu.cfs_period_us").write_text("100000\n")
    assert cpus.cgroup_quota("4:cpu,cpuacct:/docker/abc/inner\n", mountinfo) == 2.0


def test_fractional_quota_is_reported_honestly():
    half = cpus.Cpus(affinity=4, quota=0.5)
    assert half.usable == 1 and half.describe() == "1 usable CPU(s) (4 in the affinity mask, 0.5 CPU quota)"
    assert cpus.Cpus(affinity=2, quota=None).usable == 2 and cpus.Cpus(affinity=8, quota=2.5).usable == 2


# Real interpreters only: pyenv's shims refuse a version that is not selected.
OLD_PYTHONS = sorted({p for p in [*map(shutil.which, ("python3.8", "python3.9")),
                                  *map(str, Path.home().glob(".pyenv/versions/3.[89].*/bin/python"))]
                      if p and "/shims/" not in p})


@pytest.mark.parametrize("python", OLD_PYTHONS or [pytest.param(None, marks=pytest.mark.skip("no 3.8/3.9 here"))])
def test_the_copied_verifier_runs_on_older_pythons(python, tmp_path):
    """What `verify --image` injects must import and run on the Pythons of older vendor images."""
    shutil.copytree(ROOT / "src" / "ptkit" / "verify", tmp_path / "ptkit_verify")
    proc = subprocess.run([python, "-S", "-m", "ptkit_verify", "verify", "--json"], capture_output=True, text=True,
                          env={"PYTHONPATH": str(tmp_path), "PATH": os.environ["PATH"]})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    report = json.loads(proc.stdout)
    found = {c["name"]: c for c in report["checks"]}
    assert found["import:torch"]["detail"] == "torch is not installed (required)"
    assert found["drift"]["status"] == "skip"  # no manifest in a foreign image: said, not judged
    assert report["invocation"] == ["verify", "--json"]


# --- restricted containers, as platforms run them, without Docker (issue 19) ------------------------------
# A private mount namespace where /tmp and /var/tmp are read-only (docker run --read-only), then `setup` (as
# root, inside it), then the verifier as a uid with no passwd entry and no HOME, USER or LOGNAME (OpenShift,
# Kubernetes runAsUser), in / (not writable by that uid). tests/docker/test_container.py runs the real thing.
READ_ONLY_TMP = "mount --bind -o ro /tmp /tmp && mount --bind -o ro /var/tmp /var/tmp || exit 99"
AS_NOBODY = 'cd / && exec env -u USER -u LOGNAME -u HOME setpriv --reuid=54321 --regid=54321 --clear-groups "$@"'
TMPFS_TMP = "mount -t tmpfs -o size=256m,mode=1777 tmpfs /tmp"  # docker run --tmpfs /tmp: the fix


def restricted(setup: str, *args: str, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, float]:
    hidden = [p for p in (sys.prefix, str(Path(__file__).parent)) if Path(p).is_relative_to("/tmp")]
    if TMPFS_TMP in setup and hidden:  # a checkout under /tmp (a CI clone there): the tmpfs would hide it
        pytest.skip(f"a tmpfs on /tmp would hide {hidden[0]}: run from a checkout outside /tmp")
    script = "; ".join(part for part in (READ_ONLY_TMP, setup, AS_NOBODY) if part)
    start = time.monotonic()
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *PTKIT, *args],
                          capture_output=True, text=True, timeout=900, env={**os.environ, **(env or {})})
    if proc.returncode == 99:
        pytest.skip("cannot bind-mount read-only here: " + proc.stderr.strip())
    return proc, time.monotonic() - start


needs_namespaces = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("setpriv"),
                                      reason="needs root, unshare and setpriv")


@needs_namespaces
def test_no_writable_temporary_folder_is_a_warning_with_the_fix_not_a_hang(torch):
    """With no writable TMPDIR, /tmp, /var/tmp or working directory, a DataLoader worker waited out its 60 s
    timeout (multiprocessing's socket goes there) and compile failed with FileNotFoundError."""
    proc, seconds = restricted("", "verify", "--quick", "--json")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    got = checks_of(json.loads(proc.stdout))
    assert got["tmp"]["status"] == "warn"
    assert got["tmp"]["detail"].startswith("no writable temporary folder (No usable temporary directory found in ")
    assert got["tmp"]["detail"].endswith("mount one (docker run --tmpfs /tmp:exec) or set TMPDIR to a writable folder")
    assert (got["dataloader"]["status"], got["dataloader"]["detail"]) == (
        "skip", "not run: no writable temporary folder (see the tmp check)")
    assert seconds < 50


@needs_namespaces
def test_with_the_fix_a_uid_without_passwd_entry_passes_everything_it_can(torch):
    """The fix the warning names (a tmpfs on /tmp), and a uid getpass cannot name: compile passes."""
    probe = subprocess.run(["setpriv", "--reuid=54321", "--regid=54321", "--clear-groups", "sh", "-c",
                            'exec "$0" -c pass', sys.executable], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:  # inductor starts sys.executable; a venv whose Python lives in /root (0700) fails
        pytest.skip(f"another uid cannot start {sys.executable} here: {probe.stderr.strip()}")
    proc, _ = restricted(TMPFS_TMP, "verify", "--json")
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    got = checks_of(json.loads(proc.stdout))
    assert got["tmp"] == {**got["tmp"], "status": "pass", "detail": "temporary files go to /tmp (writable)"}
    assert got["dataloader"]["status"] == "pass" and got["compile:cpu"]["status"] == "pass", got["compile:cpu"]
    assert proc.returncode == 0, proc.stderr


@needs_namespaces
def test_a_tmpdir_that_cannot_be_written_is_named_with_where_files_go_instead(torch):
    proc, _ = restricted(f"{TMPFS_TMP} && mkdir -m 555 /tmp/ro", "verify", "--quick", "--json",
                         env={"TMPDIR": "/tmp/ro"})
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    tmp = checks_of(json.loads(proc.stdout))["tmp"]
    assert (tmp["status"], tmp["detail"]) == ("warn", "TMPDIR=/tmp/ro is not a writable folder: temporary files go "
                                                      "to /tmp instead; point TMPDIR at a writable folder or unset it")
