"""`ptkit verify` and `ptkit bench` as real processes on this machine's torch: output, exit codes, bad input."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from tests.utils.ptkit_cli import ROOT, run_ptkit

SRC = str(ROOT / "src")


def checks_of(report: dict) -> dict[str, dict]:
    return {c["name"]: c for c in report["checks"]}


@pytest.fixture(scope="module")
def quick_report(torch):
    proc = run_ptkit("verify", "--json", "--quick")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_json_report_follows_the_contract(quick_report, torch):
    r = quick_report
    assert r["schema"] == "ptkit.verify/1" and r["ok"] is True
    assert set(r["environment"]) >= {"python", "platform", "torch", "cuda", "cudnn", "nccl", "driver", "build"}
    for check in r["checks"]:
        assert set(check) == {"name", "status", "detail", "seconds"}
        assert check["status"] in ("pass", "warn", "fail", "skip")
    status = {name: c["status"] for name, c in checks_of(r).items()}
    assert status["numerics:cpu:fp32"] == "pass" and status["numerics:cpu:bf16"] == "pass"
    assert status["autograd:cpu"] == "pass" and status["dataloader"] == "pass"
    assert status["import:torch"] == "pass" and r["benchmarks"] == [] and "benchmark" not in status
    assert r["invocation"] == ["verify", "--quick", "--json"] and "run" not in r
    assert r["environment"]["origin"]["torch"]["file"] == torch.__file__
    assert r["tutorial"]["threads"] == r["environment"]["cpus"]["torch_threads"]


def test_default_run_prints_table_tutorial_lines_and_benchmark(torch):
    proc = run_ptkit("verify")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Device selected : CPU" in proc.stdout
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("Time taken to multiply two matrices on a CPU:"))
    ms = float(line.split(":")[1].split()[0])
    assert 0.01 < ms < 10_000  # a real measurement, not the tutorial's 0.00035 ms
    assert "TFLOP/s" in proc.stdout and "numerics:cpu:fp32" in proc.stdout and proc.stderr == ""


def test_report_file_is_written(torch, tmp_path):
    path = tmp_path / "sub" / "r.json"
    assert run_ptkit("verify", "--quick", "--report", str(path)).returncode == 0
    assert json.loads(path.read_text())["ok"] is True


@pytest.mark.parametrize("where", ["/proc/x.json", "DIRECTORY", "/proc/no/such/dir/x.json"])
def test_unwritable_report_still_prints_everything(torch, tmp_path, where):
    path = str(tmp_path) if where == "DIRECTORY" else where
    proc = run_ptkit("verify", "--quick", "--report", path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "Time taken to multiply two matrices" in proc.stdout and "verify: PASS" in proc.stdout
    assert proc.stderr.splitlines() == [proc.stderr.strip()] and f"could not write the report to {path}" in proc.stderr


def test_expect_cuda_fails_with_one_line_reason(torch):
    proc = run_ptkit("verify", "--quick", "--expect-cuda", "--json")
    assert proc.returncode == 1
    cuda = checks_of(json.loads(proc.stdout))["cuda"]
    assert cuda["status"] == "fail" and "CPU-only build" in cuda["detail"] and "\n" not in cuda["detail"]
    assert proc.stderr.strip() == f"ptkit verify: FAIL: cuda: {cuda['detail']}"


def test_expect_cuda_version_against_a_cpu_build(torch):
    proc = run_ptkit("verify", "--quick", "--expect-cuda-version", "13.0", "--json")
    check = checks_of(json.loads(proc.stdout))["expect-cuda-version"]
    assert proc.returncode == 1 and "expected torch built for CUDA 13.0, got a CPU-only build" in check["detail"]


@pytest.mark.parametrize("argv", [["verify", "--bogus"], ["verify", "--expect-cuda-version", "13"],
                                  ["verify", "--expect-cuda-version", "abc"], ["verify", "--expect-cuda-version", ""],
                                  ["bench", "--size", "-5"], ["bench", "--size", "0"], ["bench", "--device", "tpu"],
                                  ["bench", "--device", "cpu:1"], ["bench", "--device", ""],
                                  ["bench", "--min-time", "-1"], ["bench", "--min-time", "nan"]])
def test_usage_errors_exit_2_with_one_error_line(argv):
    proc = run_ptkit(*argv)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("ptkit") and ": error: " in last and argv[1] in last


@pytest.mark.parametrize(("argv", "says"), [(["--device", "cuda:7"], "no usable GPU"),
                                            (["--size", "2000000", "--dtype", "fp32"], "the benchmark failed on cpu")])
def test_bench_runtime_failures_are_one_line_exit_1(torch, argv, says):
    proc = run_ptkit("bench", *argv)
    assert proc.returncode == 1 and proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith("ptkit bench: ") and says in proc.stderr


def test_compare_naive_prints_both_figures(torch):
    proc = run_ptkit("bench", "--size", "256", "--dtype", "fp32", "--min-time", "0.05", "--compare-naive")
    assert proc.returncode == 0, proc.stderr
    assert "correct (warm-up, synchronized, median)" in proc.stdout and "tutorial as written" in proc.stdout


def test_bench_json_contract(torch):
    proc = run_ptkit("bench", "--size", "128", "--dtype", "fp32", "--min-time", "0.05", "--json")
    entry = json.loads(proc.stdout)["benchmarks"][0]
    assert set(entry) >= {"device", "dtype", "n", "median_s", "iqr_s", "tflops", "peak_tflops", "fraction_of_peak",
                          "threads", "warnings", "detail"}
    assert entry["peak_tflops"] is None and entry["n"] == 128


def make_package(root, name: str, body: str, version: str = "0.28.0") -> None:
    (root / name).mkdir()
    (root / name / "__init__.py").write_text(body)
    dist = root / f"{name}-{version}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


def test_package_that_fails_to_import_is_a_fail_with_its_cause(torch, tmp_path):
    # The real failure of PyPI's torchvision beside torch+cpu, reproduced by a stand-in package.
    make_package(tmp_path, "torchvision", 'raise RuntimeError("operator torchvision::nms does not exist")')
    proc = run_ptkit("verify", "--quick", "--json", env={"PYTHONPATH": f"{tmp_path}{os.pathsep}{SRC}"})
    check = checks_of(json.loads(proc.stdout))["import:torchvision"]
    assert proc.returncode == 1 and check["status"] == "fail"
    assert check["detail"] == ("torchvision 0.28.0 fails to import: RuntimeError: operator torchvision::nms "
                               "does not exist")


def test_json_stdout_is_only_the_document_when_packages_print(torch, tmp_path):
    body = 'import os\nprint("chatty: loaded {ok}")\nos.write(1, b"chatty: C-level write {\\n")\n'
    make_package(tmp_path, "chatty", body, version="1.0")
    proc = run_ptkit("verify", "--quick", "--json", "--require", "chatty",
                     env={"PYTHONPATH": f"{tmp_path}{os.pathsep}{SRC}"})
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)  # a plain json.loads, as the host does
    assert checks_of(report)["import:chatty"]["status"] == "pass"
    assert "chatty: loaded {ok}" in proc.stderr and "chatty: C-level write {" in proc.stderr


def test_required_package_missing_is_a_fail(torch):
    proc = run_ptkit("verify", "--quick", "--json", "--require", "no_such_pkg_xyz")
    check = checks_of(json.loads(proc.stdout))["import:no_such_pkg_xyz"]
    assert proc.returncode == 1 and check["detail"] == "no_such_pkg_xyz is not installed (required)"


def test_torch_missing_gives_a_fail_report_not_a_traceback():
    # -S: no site-packages, so no torch; the verifier itself needs only the standard library.
    proc = subprocess.run([sys.executable, "-S", "-m", "ptkit.verify", "verify", "--json"], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": SRC}, cwd=ROOT)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    first = next(c for c in report["checks"] if c["name"] != "drift")  # drift needs no torch: it runs first
    assert report["ok"] is False
    assert (first["name"], first["status"]) == ("import:torch", "fail")
    assert first["detail"] == "torch is not installed (required)"


def test_a_torch_py_in_the_working_directory_is_named(torch, tmp_path):
    (tmp_path / "torch.py").write_text("__version__ = '0.0.shadow'\n")
    proc = subprocess.run([sys.executable, "-m", "ptkit", "verify", "--quick", "--json"], capture_output=True,
                          text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": SRC})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    check = checks_of(report)["import:torch"]
    assert check["status"] == "fail" and f"torch imported from {tmp_path / 'torch.py'}" in check["detail"]
    assert f"shadows the installed torch {torch.__version__}" in check["detail"]
    assert report["environment"]["origin"]["torch"]["file"] == str(tmp_path / "torch.py")


@pytest.mark.skipif(os.getuid() != 0, reason="mknod of a character device needs root")
def test_report_to_a_device_node_leaves_it_a_device(torch, tmp_path):
    """The issue's repro: mknod -m 666 out/devnull c 1 3 && ptkit verify --quick --report out/devnull."""
    node = tmp_path / "devnull"
    os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    proc = run_ptkit("verify", "--quick", "--report", str(node))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert stat.S_ISCHR(node.lstat().st_mode) and node.lstat().st_rdev == os.makedev(1, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["devnull"]


def test_json_stdout_stays_the_document_when_a_package_prints_at_exit(torch, tmp_path):
    """Issue 19.7: an atexit print (Python's and a raw write to fd 1) after the document broke json.loads."""
    body = ('import atexit, os\n'
            'atexit.register(lambda: os.write(1, b"byebye: raw write at exit }\\n"))\n'
            'atexit.register(lambda: print("byebye: print at exit {"))\n')
    make_package(tmp_path, "byebye", body, version="1.0")
    proc = run_ptkit("verify", "--quick", "--json", "--require", "byebye",
                     env={"PYTHONPATH": f"{tmp_path}{os.pathsep}{SRC}"})
    assert proc.returncode == 0, proc.stderr
    assert checks_of(json.loads(proc.stdout))["import:byebye"]["status"] == "pass"  # a plain json.loads
    assert "byebye: print at exit {" in proc.stderr and "byebye: raw write at exit }" in proc.stderr


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_a_closed_stdout_is_one_line_and_the_report_file_is_still_written(torch, tmp_path, json_flag):
    report = tmp_path / "r.json"
    proc = subprocess.Popen([sys.executable, "-m", "ptkit", "verify", "--quick", *json_flag, "--report", str(report)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    proc.stdout.close()  # the reader is gone before anything is printed (as `| head -c 0`)
    err = proc.stderr.read()
    assert proc.wait(300) == 1 and "Traceback" not in err and "Exception ignored" not in err
    assert err.splitlines()[-1] == "ptkit verify: could not print the results: Broken pipe"
    assert json.loads(report.read_text())["ok"] is True
