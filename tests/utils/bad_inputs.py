"""The table of bad inputs: each row is a command a user may type, what they see (one line on stderr,
never a traceback) and the exit code. The README's table is rendered from these rows
(`python -m tests.utils.bad_inputs`) and tests/test_bad_inputs.py runs every row.

Placeholders: {tmp} a fresh temporary folder, {file} a file in it, {dir} an empty sub-folder, {wheels} a
folder with one (empty) wheel file, {matrix:EDIT} a copy of the repository matrix with EDIT applied (see
MATRIX_EDITS), {long} a 300-character name, {empty} an empty argument. Rows with `special` are run by the
named test, not the table's.
"""

from __future__ import annotations

from dataclasses import dataclass

from .matrix_facts import MATRIX, default_variant

CPU = default_variant().name
CUDA = next(v.name for v in MATRIX.variants.values() if v.is_cuda and v.source == "pypi")
WRONG_LOCK = f"locks/{CUDA}.txt"  # a lock of another variant


@dataclass(frozen=True)
class BadInput:
    command: str  # after `ptkit`
    sees: str  # a part of the one line on stderr
    code: int
    docker: bool = False  # needs a Docker engine (run with the Docker tests)
    why: str = ""
    env: tuple[tuple[str, str], ...] = ()
    user: str = ""  # run as this user (not root): setpriv
    special: str = ""  # the test that runs this row (signals, a full disk)


# Edits of a copy of matrix.toml, applied as text replacements (old, new).
MATRIX_EDITS: dict[str, tuple[str, str]] = {
    "latest-list": ('latest = "cpu"', 'latest = ["cpu"]'),
    "cuda-major-only": ('cuda = "13.0"', 'cuda = "13"'),
    "unknown-key": ("[variants.cpu]", "[variants.cpu]\ntorhc = 1"),
    "empty-torch": ('torch = "2.13.0+cpu"', 'torch = ""'),
    "bad-toml": ("[variants.cpu]", "[variants.cpu"),
    "unknown-cuda": ('cuda = "13.0"', 'cuda = "99.9"'),
}

ROWS: tuple[BadInput, ...] = (
    BadInput("build nosuch", "unknown variant 'nosuch'; valid variants: ", 1),
    BadInput("distributed nosuch", "unknown variant 'nosuch'", 1),
    BadInput("build ünïcödé-ß", "unknown variant 'ünïcödé-ß'", 1, why="unicode name"),
    BadInput("build {long}", "unknown variant 'aaaa", 1, why="a 300-character name"),
    BadInput(f"build {CPU} --source nosuch", f"variant {CPU} has no source 'nosuch'; its sources: ", 1),
    BadInput(f"build {CPU} --push", "--push needs --tag REGISTRY/REPOSITORY:TAG", 2),
    BadInput(f"build {CPU} --flavor runtime --extra-requirements {{file}}", "builds on the devel flavor", 2),
    BadInput(f"build {CPU} --flavor nightly", "argument --flavor: invalid choice: 'nightly'", 2),
    BadInput(f"build {CPU} --wheelhouse {{tmp}}/nowhere", "--wheelhouse", 1, why="a wheelhouse that is not there"),
    BadInput(f"build {CPU} --wheelhouse {{dir}}", "no wheels there", 1, why="an empty wheelhouse"),
    BadInput(f"build {CPU} --ca-bundle {{file}}", "not a PEM certificate bundle", 1),
    BadInput(f"build {CPU} --lock {WRONG_LOCK}", f"the matrix pins {default_variant().torch}", 1,
             why="a lock of another variant"),
    BadInput(f"build {CPU} --lock {{file}}", "no pinned requirements in it", 1, why="an empty lock"),
    BadInput(f"build {CPU} --lock {{tmp}}/missing.txt", "No such file or directory", 1),
    BadInput(f"build {CPU} --extra-requirements {{tmp}}/missing.txt", "--extra-requirements", 1),
    BadInput(f"build {CPU} --index-url http://127.0.0.1:9/simple", "does not answer", 1,
             why="an index that does not answer: said before any build"),
    BadInput("matrix --matrix {tmp}/missing.toml", "matrix file not found", 1),
    BadInput("matrix --matrix {dir}", "is a directory, not a matrix file", 1),
    BadInput("matrix --matrix {matrix:bad-toml}", "not valid TOML", 1),
    BadInput("matrix --matrix {matrix:latest-list}", "key 'latest' must name one variant", 1),
    BadInput("matrix --matrix {matrix:cuda-major-only}", "key 'cuda' must be MAJOR.MINOR", 1),
    BadInput("matrix --matrix {matrix:unknown-cuda}", "CUDA 99.9 has no minimum driver", 1),
    BadInput("matrix --matrix {matrix:unknown-key}", "unknown key 'torhc'", 1),
    BadInput("matrix --matrix {matrix:empty-torch}", "key 'torch' must not be empty", 1),
    BadInput(f"wheelhouse {CPU} {{file}}", "exists and is not a folder", 1),
    BadInput(f"wheelhouse {CPU} /proc/ptkit-wheels", "/proc/ptkit-wheels", 1, why="a folder that cannot be made"),
    BadInput(f"wheelhouse {CPU} {{dir}} --lock {WRONG_LOCK}", "regenerate it with `ptkit lock`", 1,
             why="a lock of another variant"),
    BadInput(f"wheelhouse {CPU} {{dir}} --lock {{file}}", "no pinned requirements in it", 1),
    BadInput(f"lock {CPU} -o /proc/ptkit/cpu.txt", "/proc/ptkit", 1, why="an output that cannot be written"),
    BadInput("render --out /proc/ptkit-conda", "/proc/ptkit-conda", 1, why="a folder that cannot be written"),
    BadInput("render --check --out {dir}", "out of date with", 1),
    BadInput(f"verify --variant {CPU}", "--variant goes with --image", 2),
    BadInput("verify --image x --timeout 0", "must be positive", 2),
    BadInput("verify --image x --timeout abc", "not a whole number", 2),
    BadInput(f"check {CPU} --gpu maybe", "argument --gpu: invalid choice: 'maybe'", 2),
    BadInput("frobnicate", "invalid choice: 'frobnicate'", 2),
    BadInput("verify --bogus", "unrecognized arguments: --bogus", 2),
    BadInput("verify --expect-cuda-version 13", "expected a CUDA version X.Y such as 12.8, got '13'", 2),
    BadInput("verify --expect-cuda-version abc", "got 'abc'", 2),
    BadInput("verify --expect-cuda-version {empty}", "got ''", 2, why="an empty value"),
    BadInput("verify --quick --expect-cuda", "ptkit verify: FAIL: cuda: no GPU visible", 1,
             why="on a host without one"),
    BadInput("verify --quick --report /proc/x.json", "could not write the report to /proc/x.json", 1,
             why="the full results still print"),
    BadInput("verify --quick --report {dir}", "could not write the report", 1, why="a folder"),
    BadInput("bench --size -5", "argument --size: expected a whole number of at least 1, got '-5'", 2),
    BadInput("bench --size 0", "got '0'", 2),
    BadInput("bench --device tpu", "argument --device: expected cpu, cuda, cuda:N, all or auto, got 'tpu'", 2),
    BadInput("bench --device cpu:1", "got 'cpu:1'", 2),
    BadInput("bench --device {empty}", "argument --device: expected cpu, cuda, cuda:N, all or auto, got ''", 2),
    BadInput("bench --device cuda:7", "--device cuda:7: no usable GPU", 1, why="on a host without one"),
    BadInput("bench --min-time -1", "argument --min-time: expected a positive number of seconds, got '-1'", 2),
    BadInput("bench --min-time nan", "got 'nan'", 2),
    BadInput("bench --device cpu --dtype fp32 --size 200000", "the benchmark failed on cpu: RuntimeError", 1,
             why="a size that runs out of memory"),
    BadInput("verify --distributed --collective-timeout nan", "argument --collective-timeout: expected a positive "
             "number of seconds, got 'nan'", 2, why="was a Python error mid-run"),
    BadInput("verify --distributed --collective-timeout 1e309", "got '1e309'", 2, why="overflows to infinity"),
    BadInput("verify --distributed --collective-timeout 0", "got '0'", 2),
    BadInput("verify --distributed --bandwidth-iters 0", "argument --bandwidth-iters: expected a whole number of at "
             "least 1, got '0'", 2, why="was a 'peer lost' for a healthy rank"),
    BadInput("verify --distributed --bandwidth-iters -2", "got '-2'", 2),
    BadInput("verify --distributed --bandwidth-sizes 1K,-4", "argument --bandwidth-sizes: expected sizes of at least "
             "1 byte", 2),
    BadInput("verify --distributed --bandwidth-sizes {empty}", "got ''", 2),
    BadInput("verify --distributed", "not launched by torchrun (missing RANK", 2, why="outside torchrun"),
    BadInput("bench --min-time inf", "got 'inf'", 2),
    BadInput("bench --min-time 0", "got '0'", 2),
    BadInput("bench --size 1e3", "argument --size: expected a whole number of at least 1, got '1e3'", 2),
    BadInput("bench --device cpu --dtype fp32 --size 64 --min-time 0.01 --report {dir}",
             "could not write the report to", 1, why="a folder: refused, the figures still printed"),
    BadInput("verify --quick --report {file}/r.json", "a part of the path is not a folder", 1),
    BadInput(f"build {CPU} --wheelhouse {{wheels}}", "no Docker daemon answers at unix:///nonexistent/docker.sock",
             1, why="DOCKER_HOST pointing nowhere", env=(("DOCKER_HOST", "unix:///nonexistent/docker.sock"),)),
    BadInput(f"build {CPU} --index-url file:///nonexistent", "permission denied on the Docker socket", 1,
             docker=True, user="nobody", why="a user outside the docker group"),
    BadInput("verify --image ptkit-none/such:1", "cannot be pulled", 1, docker=True),
    BadInput("verify --image Bad::Ref", "Bad::Ref", 1, docker=True, why="an invalid image reference"),
    BadInput(f"build {CPU} (SIGTERM while it builds)", "terminated (SIGTERM)", 143, docker=True,
             special="test_a_signal_during_a_build_leaves_no_container"),
    BadInput("verify --image IMAGE (SIGTERM while it runs)", "terminated (SIGTERM)", 143, docker=True,
             special="test_a_signal_during_verify_image_leaves_no_container"),
    BadInput(f"wheelhouse {CPU} DIR (DIR on a full 16 MiB tmpfs)", "No space left on device", 1,
             special="test_a_full_disk_during_a_wheelhouse_download_is_one_line"),
)


def markdown() -> str:
    lines = ["| `ptkit ...` | what you see on stderr (one line) | exit |", "| --- | --- | --- |"]
    for row in ROWS:
        command = row.command.replace("{long}", "aaa…(300)").replace("{empty}", "''").replace("|", "\\|")
        note = f" ({row.why})" if row.why else ""
        lines.append(f"| `{command}`{note} | `{row.sees}` | {row.code} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
