"""The table of bad inputs: each row is a command a user may type, what they see (one line on stderr,
never a traceback) and the exit code. The README's table is rendered from these rows
(`python -m tests.utils.bad_inputs`) and tests/test_bad_inputs.py runs every row.

Placeholders: {tmp} a fresh temporary folder, {file} a file in it, {dir} an empty sub-folder, {wheels} a
folder with one (empty) wheel file, {matrix:EDIT} a copy of the repository matrix with EDIT applied, {json:NAME} a
JSON file (both in tests/utils/bad_input_files.py), {long} a 300-character name, {empty} an empty
argument, {nl} a newline and {sp} a space inside one argument. Special files, all private to {tmp} (never the
system's /dev nodes): {fifo} a FIFO nobody writes or reads, {null} a character device like /dev/null (1,3),
{zero} one like /dev/zero (1,5) that never ends, {link} a symlink to {file}; a row must leave each as it was.
Rows with `special` are run by the named test, not the table's.
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
    stdout: str = ""  # "closed": run with stdout closed (>&-); "broken": into a pipe whose reader has gone


NOWHERE = (("DOCKER_HOST", "unix:///nonexistent/docker.sock"),)

# Issue 19, host side: job scripts and workflows, matrix values, lock and wheelhouse, diff, fleet, special files
# as inputs and outputs, closed and broken stdout, interrupts; one or more rows for every subcommand.
HOST_ROWS: tuple[BadInput, ...] = (
    BadInput(f"cluster slurm {CPU} --partition gpu{{nl}}#SBATCH{{sp}}--wrap=id", "--partition 'gpu\\n#SBATCH", 2,
             why="a newline would add a line to the job script"),
    BadInput(f"cluster slurm {CPU} --partition {{empty}}", "--partition ''", 2),
    BadInput(f"cluster slurm {CPU} --time garbage", "--time 'garbage': expected MM, HH:MM:SS or D-HH:MM:SS", 2),
    BadInput(f"cluster slurm {CPU} --time 1:00:00{{nl}}", "--time '1:00:00\\n'", 2),
    BadInput(f"cluster slurm {CPU} --report-dir r{{nl}}id", "--report-dir 'r\\nid': expected a path on one line", 2),
    BadInput(f"cluster slurm {CPU} --torchrun {{empty}}", "--torchrun ''", 2),
    BadInput(f"cluster slurm {CPU} --image ptkit:cpu{{nl}}id", "--image 'ptkit:cpu\\nid': expected one word", 2),
    BadInput(f"cluster k8s {CPU} --image a{{sp}}b", "--image 'a b': expected one word", 2),
    BadInput(f"cluster slurm {CPU} --port 99999", "argument --port: expected a TCP port from 1 to 65535", 2),
    BadInput(f"cluster k8s {CPU} --port 0", "argument --port: expected a TCP port from 1 to 65535, got '0'", 2),
    BadInput(f"cluster k8s {CPU} --port -1", "got '-1'", 2),
    BadInput(f"cluster slurm {CPU} --collective-timeout nan", "argument --collective-timeout: expected a positive "
             "number of seconds, got 'nan'", 2),
    BadInput(f"cluster slurm {CPU} --collective-timeout inf", "got 'inf'", 2),
    BadInput(f"cluster k8s {CPU} --collective-timeout 1e309", "got '1e309'", 2, why="overflows to infinity"),
    BadInput(f"cluster slurm {CPU} --procs-per-node 0", "argument --procs-per-node: expected a whole number of at "
             "least 1, got '0'", 2, why="was silently 1"),
    BadInput(f"cluster slurm {CPU} --nodes -3", "argument --nodes: expected a whole number of at least 1", 2),
    BadInput(f"cluster k8s {CPU} --nodes 1e30", "got '1e30'", 2),
    BadInput(f"cluster k8s {CPU} --join-timeout 0", "argument --join-timeout", 2),
    BadInput(f"cluster k8s {CPU} --gpus-per-node -1", "--gpus-per-node at least 0", 1),
    BadInput("cluster slurm nosuch", "unknown variant 'nosuch'", 1),
    BadInput(f"cluster slurm {CPU} -o {{dir}}", "is a folder", 1),
    BadInput(f"cluster k8s {CPU} -o {{fifo}}", "a FIFO that nobody reads", 1, why="refused at once, not waited on"),
    BadInput(f"cluster slurm {CPU} -o {{null}}", "wrote ", 0, why="a character device: written through, kept"),
    BadInput(f"cluster k8s {CPU} -o {{link}}", "wrote ", 0, why="a symlink: its target written, the link kept"),
    BadInput(f"cluster slurm {CPU}", "standard output is closed", 2, stdout="closed"),
    BadInput(f"cluster k8s {CPU}", "", 141, stdout="broken", why="nothing more said"),
    BadInput("ci github --gpu-runner {empty} -o {tmp}/w.yml", "--gpu-runner '': expected one word", 2),
    BadInput("ci github --gpu-runner gpu{nl}x -o {tmp}/w.yml", "--gpu-runner 'gpu\\nx'", 2),
    BadInput("ci github -o {dir}", "is a folder", 1),
    BadInput("ci github -o {null}", "wrote ", 0, why="written through; no actionlint.yaml beside a device"),
    BadInput("ci github -o -", "standard output is closed", 2, stdout="closed", why="`-o -` is standard output"),
    BadInput("ci github --check -o {fifo}", "is out of date with the matrix", 1, why="a FIFO nobody writes: no hang"),
    BadInput("ci github --check -o {zero}", "larger than 64 MiB", 1, why="a device that never ends"),
    BadInput("matrix --matrix {matrix:extra-pip-option}", "'--index-url http://evil' is not a requirement", 1),
    BadInput("matrix --matrix {matrix:extra-newline}", "key 'extra_packages'", 1),
    BadInput("matrix --matrix {matrix:index-option}", "key 'index_url' must be one http(s):// or file:// URL", 1),
    BadInput("matrix --matrix {matrix:torch-newline}", "key 'torch' is not a version", 1),
    BadInput("matrix --matrix {matrix:base-image-newline}", "key 'base_image' must be an image reference", 1),
    BadInput("matrix --matrix {matrix:description-newline}", "key 'description' must be a string on one line", 1),
    BadInput("matrix --matrix {fifo}", "key 'schema' must be 1, got None", 1, why="a FIFO nobody writes: empty"),
    BadInput("matrix --matrix {null}", "key 'schema' must be 1, got None", 1),
    BadInput("matrix --matrix {zero}", "larger than 64 MiB", 1),
    BadInput("matrix", "standard output is closed", 2, stdout="closed"),
    BadInput("matrix --json", "", 141, stdout="broken"),
    BadInput("render --matrix {matrix:extra-pip-option} --out {tmp}/conda", "is not a requirement", 1,
             why="nothing written"),
    BadInput(f"lock {CPU} -o {{dir}}", "is a folder; give the lock file's path", 2, why="before the resolve"),
    BadInput(f"lock {CPU} --ca-bundle {{tmp}}/missing.pem -o {{tmp}}/l/cpu.txt", "--ca-bundle", 1,
             why="a missing CA bundle"),
    BadInput(f"lock {CPU} --ca-bundle {{file}} -o {{tmp}}/l/cpu.txt", "not a PEM certificate bundle", 1),
    BadInput(f"lock {CPU} --ca-bundle {{fifo}} -o {{tmp}}/l/cpu.txt", "not a PEM certificate bundle", 1),
    BadInput(f"lock {CPU} --matrix {{matrix:dead-index}} -o {{tmp}}/l/cpu.txt", "does not answer", 1,
             why="not 'No matching distribution'"),
    BadInput(f"lock {CPU} --packages torch{{sp}}--index-url=http://evil", "--packages: '--index-url=http://evil'", 1),
    BadInput(f"lock {CPU} (Ctrl-C while pip downloads a wheel)", "interrupted", 130,
             special="test_ctrl_c_during_a_lock_leaves_nothing_in_tmpdir",
             why="nothing left in TMPDIR; SIGTERM alike, exit 143"),
    BadInput(f"wheelhouse {CPU} {{tmp}}/wh --index-url http://127.0.0.1:9/simple", "does not answer", 1,
             why="the folder it made goes too"),
    BadInput(f"wheelhouse {CPU} {{tmp}}/wh --packages numpy{{nl}}--trusted-host{{sp}}evil", "--packages", 1),
    BadInput(f"wheelhouse {CPU} {{dir}} --lock {{fifo}}", "no pinned requirements in it", 1),
    BadInput(f"wheelhouse {CPU} {{dir}} --lock {{zero}}", "larger than 64 MiB", 1),
    BadInput(f"wheelhouse {CPU} {{null}}", "exists and is not a folder", 1),
    BadInput(f"wheelhouse {CPU} DIR (Ctrl-C while pip downloads a wheel)", "interrupted", 130,
             special="test_ctrl_c_during_a_wheelhouse_leaves_nothing_in_tmpdir_nor_the_new_folder",
             why="nothing left in TMPDIR, DIR gone; SIGTERM alike, exit 143"),
    BadInput(f"build {CPU} --packages torch{{sp}}-r{{sp}}{{file}}", "--packages: '-r' is not a requirement", 1),
    BadInput(f"build {CPU} --lock {{fifo}}", "no pinned requirements in it", 1),
    BadInput(f"build {CPU} --ca-bundle {{fifo}}", "not a PEM certificate bundle", 1),
    BadInput("check nosuch", "unknown variant 'nosuch'", 1),
    BadInput("distributed nosuch", "unknown variant 'nosuch'", 1),
    BadInput("base --tag x:1", "no Docker daemon answers", 1, env=NOWHERE),
    BadInput("diff {tmp}/a.jsn {file}", "a.jsn: no such file", 2, why="a typo, not an image"),
    BadInput("diff {empty} {file}", "an empty argument is neither a file nor an image", 2),
    BadInput(f"wheelhouse {CPU} {{empty}}", "argument dest: expected a path on one line, got ''", 2,
             why="was the current folder: wheels downloaded into it"),
    BadInput(f"lock {CPU} -o {{empty}}", "argument -o/--output: expected a path on one line, got ''", 2),
    BadInput("matrix --matrix {empty}", "argument --matrix: expected a path on one line, got ''", 2),
    BadInput("report {empty}", "argument REPORT: expected a path on one line, got ''", 2),
    BadInput(f"cluster slurm {CPU} -o a{{nl}}b", "argument -o/--output: expected a path on one line, got 'a\\nb'", 2),
    BadInput("render --out {empty}", "argument --out: expected a path on one line", 2),
    BadInput("diff docs/evidence/matrix/no-such.json {file}", "no-such.json: no such file", 2),
    BadInput("diff Bad::Ref {file}", "'Bad::Ref': no such file, and not an image reference", 2),
    BadInput("diff a{nl}b {file}", "no such file, and not an image reference", 2),
    BadInput("diff {dir} {file}", "is a folder", 2),
    BadInput("diff {fifo} {file}", "not a readable JSON file", 2, why="a FIFO nobody writes: no hang"),
    BadInput("diff {zero} {file}", "larger than 64 MiB", 2),
    BadInput("diff {json:malformed-manifest} {json:empty-report}", "malformed: a python package without a version",
             2),
    BadInput("diff {json:manifest-python-list} {json:empty-report}", "malformed: 'python' is not a table", 2),
    BadInput("diff {json:empty-report} {json:empty-report}", "have nothing diff can compare", 2,
             why="not 'identical'"),
    BadInput("diff docs/evidence/matrix/cpu-runtime.json docs/evidence/matrix/cpu-runtime.json",
             "standard output is closed", 2, stdout="closed"),
    BadInput("manifest ptkit:cpu", "no Docker daemon answers", 1, env=NOWHERE),
    BadInput("fingerprint ptkit:cpu", "no Docker daemon answers", 1, env=NOWHERE),
    BadInput("sbom ptkit:cpu -o {dir}", "no Docker daemon answers", 1, env=NOWHERE),
    BadInput("conda-lock nosuch", "unknown variant 'nosuch'", 1),
    BadInput(f"conda-lock {CPU} --spec {{fifo}}", "not a conda environment spec", 1),
    BadInput(f"conda-lock {CPU} --spec {{zero}}", "larger than 64 MiB", 1),
    BadInput("fleet {json:zero-busbw} {json:zero-busbw} {json:negative-busbw}", "", 0,
             why="zero and negative figures: a table, no traceback"),
    BadInput("fleet {json:nan-tflops} {json:nan-tflops} {json:nan-tflops}", "", 0, why="NaN and infinity"),
    BadInput("fleet {json:mixed-types} --format md", "", 0, why="lists that are not lists"),
    BadInput("fleet --ratio nan {file}", "--ratio nan must be in (0, 1]", 2),
    BadInput("fleet --ratio 0 {file}", "--ratio 0.0 must be in (0, 1]", 2),
    BadInput("fleet {fifo}", "not valid JSON", 1, why="a FIFO nobody writes: no hang"),
    BadInput("fleet {zero}", "larger than 64 MiB", 1),
    BadInput("fleet docs/evidence/matrix", "", 141, stdout="broken"),
    BadInput("report {json:empty-report} -o {fifo}", "a FIFO that nobody reads", 1),
    BadInput("report {json:empty-report} -o {null}", "wrote ", 0, why="written through"),
    BadInput("report {dir}", "no *.json reports in this directory", 1),
    BadInput("select --driver abc --capability 8.0 --reports {json:empty-report}", "--driver 'abc' is not a driver "
             "version", 2),
    BadInput("select --driver 580.65.06 --capability x.y --reports {json:empty-report}",
             "--capability 'x.y' is not a compute capability", 2),
    BadInput("select --driver 580.65.06 --capability 9.0 --reports {fifo}", "not valid JSON", 1,
             why="a FIFO nobody writes: no hang"),
    BadInput("select --driver 580.65.06 --capability 9.0 --reports docs/evidence/matrix", "standard output is closed",
             2, stdout="closed"),
)

ROWS: tuple[BadInput, ...] = (
    BadInput("build nosuch", "unknown variant 'nosuch'; valid variants: ", 1),
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
    BadInput("verify --image x --timeout 0", "expected a whole number of at least 1, got '0'", 2),
    BadInput("verify --image x --timeout abc", "expected a whole number of at least 1, got 'abc'", 2),
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
    BadInput("reproduce ptkit-none/such:1", "cannot be pulled", 1, docker=True),
    BadInput("reproduce Bad::Ref", "image Bad::Ref:", 1, docker=True, why="an invalid image reference"),
    BadInput("reproduce x", "no Docker daemon answers", 1, env=NOWHERE),
    BadInput("reproduce x --repo {empty}", "argument --repo: expected a path on one line, got ''", 2),
    BadInput("reproduce x --wheelhouse a{nl}b", "argument --wheelhouse: expected a path on one line", 2),
    BadInput("diff --layers ptkit-none/such:1 ptkit-none/such:2", "no image ptkit-none/such:1 here", 1, docker=True),
    BadInput("index localhost:5999/t/p:cpu localhost:5999/t/p:a", "usage: ptkit index REGISTRY/REPOSITORY:TAG "
             "IMAGE IMAGE...", 2, why="one image: no index to make"),
    BadInput("index localhost:5999/t/p@sha256:0 a b", "(a tag; one image a platform)", 2, why="a digest as the tag"),
    BadInput("index localhost:5999/t/p:cpu localhost:5999/t/p:a localhost:5999/t/p:b",
             "localhost:5999/t/p:a: the registry gives no manifest for it", 1, docker=True,
             why="no registry answers there"),
    BadInput("index localhost:5999/t/p:cpu a b", "no Docker daemon answers", 1, env=NOWHERE),
    BadInput(f"build {CPU} (SIGTERM while it builds)", "terminated (SIGTERM)", 143, docker=True,
             special="test_a_signal_during_a_build_leaves_no_container"),
    BadInput("verify --image IMAGE (SIGTERM while it runs)", "terminated (SIGTERM)", 143, docker=True,
             special="test_a_signal_during_verify_image_leaves_no_container"),
    BadInput(f"wheelhouse {CPU} DIR (DIR on a full 16 MiB tmpfs)", "No space left on device", 1,
             special="test_a_full_disk_during_a_wheelhouse_download_is_one_line"),
    *HOST_ROWS,
)


SHOWN_STDOUT = {"closed": " >&-", "broken": " | (a reader that has gone)"}


def markdown() -> str:
    lines = ["| `ptkit ...` | what you see on stderr (one line) | exit |", "| --- | --- | --- |"]
    for row in ROWS:
        command = row.command.replace("{long}", "aaa…(300)").replace("{empty}", "''").replace("{sp}", "␠")
        command = (command.replace("{nl}", "⏎") + SHOWN_STDOUT.get(row.stdout, "")).replace("|", "\\|")
        note = f" ({row.why})" if row.why else ""
        sees = f"`{row.sees}`" if row.sees else "(nothing)"
        lines.append(f"| `{command}`{note} | {sees} | {row.code} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
