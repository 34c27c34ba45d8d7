"""Locks per platform (issue 21.2): resolved for the image's machine, not this host's; the committed arm64 locks
agree with the matrix; `ptkit render --check` (nox -s lint) fails, offline, on a lock the matrix has left behind."""

from __future__ import annotations

import hashlib
import re
import shutil

from ptkit import images, locks
from ptkit.platforms import DEFAULT_PLATFORM, PLATFORMS, by_machine
from tests.utils import matrix_facts
from tests.utils.ptkit_cli import ROOT, run_ptkit
from tests.utils.venvs import make_wheel

ARM = PLATFORMS["linux/arm64"]
ARM_IMAGES = [v for v in matrix_facts.every_source() if ARM.name in v.platforms]
# The dependency an environment marker gives each machine: a resolver that evaluates this host's markers picks
# the wrong one for the other machine.
MARKED = ('beta; platform_machine == "aarch64"', 'gamma; platform_machine == "x86_64"')


def simple_index(root, wheels):
    """A PEP 503 index of files: root/simple/NAME/index.html links each wheel with its sha256."""
    for wheel in wheels:
        name = wheel.name.split("-")[0].replace("_", "-")
        page = root / "simple" / name
        page.mkdir(parents=True)
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        page.joinpath("index.html").write_text(f'<a href="{wheel.as_uri()}#sha256={digest}">{wheel.name}</a>\n')
    return (root / "simple").as_uri()


def marked_index(root) -> tuple[str, list]:
    """An index of torch 9.0.0, whose dependency is beta on aarch64 and gamma on x86_64 (MARKED); (URL, wheels)."""
    files = root / "files"
    files.mkdir()
    wheels = [make_wheel(files, "torch", "9.0.0", MARKED), make_wheel(files, "beta", "1.0"),
              make_wheel(files, "gamma", "1.0")]
    return simple_index(root / "index", wheels), wheels


def test_a_lock_for_another_machine_follows_its_markers_not_this_hosts(tmp_path):
    index, wheels = marked_index(tmp_path)
    (tmp_path / "matrix.toml").write_text(
        f'schema = 1\n[variants.one]\ntorch = "9.0.0"\ntorchvision = ""\ntorchaudio = ""\ncuda = ""\n'
        f'index_url = "{index}"\npython = "3.11"\nbase_image = "debian:bookworm-slim"\n'
        f'platforms = ["linux/amd64", "linux/arm64"]\n')
    here = by_machine("x86_64") or DEFAULT_PLATFORM  # the platform of this host's machine, the other one too
    other = next(p for p in PLATFORMS.values() if p != here)
    pins = {}
    for platform in (here, other):
        out = tmp_path / f"{platform.arch}.txt"
        proc = run_ptkit("lock", "one", "--platform", platform.name, "--isolated", "-o", str(out),
                         "--matrix", str(tmp_path / "matrix.toml"))
        assert proc.returncode == 0, proc.stderr
        pins[platform.machine] = locks.locked_files(out)
    assert set(pins["aarch64"]) == {"torch", "beta"} and set(pins["x86_64"]) == {"torch", "gamma"}, pins
    digest = hashlib.sha256(wheels[1].read_bytes()).hexdigest()
    assert f"beta==1.0 --hash=sha256:{digest}" in (tmp_path / f"{ARM.arch}.txt").read_text()


def test_the_committed_arm64_locks_agree_with_the_matrix_and_pin_their_cuda_release():
    assert [v.image_name for v in ARM_IMAGES]
    for v in ARM_IMAGES:
        path = ROOT / images.lock_path(v, ARM)
        text = path.read_text()
        assert locks.check_lock(path, v.pins()) == text.encode()
        lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
        assert all(re.fullmatch(r"\S+==\S+ --hash=sha256:[0-9a-f]{64}", ln) for ln in lines), path
        pinned = locks.lock_pins(text)
        # PyPI's aarch64 torch: CUDA builds need cuda-toolkit of the row's release; the CPU-only one no NVIDIA wheel
        if v.is_cuda:
            assert pinned["cuda-toolkit"].startswith(f"{v.cuda}."), (path, pinned["cuda-toolkit"])
        else:
            assert not [n for n in pinned if n.startswith(("nvidia-", "cuda-"))], path
        amd = ROOT / images.lock_path(v)
        if amd.is_file():  # the same pins, another wheel: the hash of the other machine's file
            torch_hash = re.compile(r"^torch==\S+ --hash=(\S+)$", re.M)
            assert torch_hash.search(text)[1] != torch_hash.search(amd.read_text())[1]


def test_render_check_fails_offline_on_a_stale_lock_of_another_platform(tmp_path):
    shutil.copy(ROOT / "matrix.toml", tmp_path / "matrix.toml")
    shutil.copytree(ROOT / "locks", tmp_path / "locks")
    render = ("render", "--matrix", str(tmp_path / "matrix.toml"), "--out", str(tmp_path / "conda"))
    assert run_ptkit(*render).returncode == 0
    assert run_ptkit(*render, "--check").returncode == 0
    v = ARM_IMAGES[-1]
    lock = tmp_path / images.lock_path(v, ARM)
    lock.write_text(lock.read_text().replace(f"torch=={v.torch} ", "torch==0.0.1 "))
    proc = run_ptkit(*render, "--check")
    assert proc.returncode == 1 and len(proc.stderr.splitlines()) == 1, proc.stderr
    source = "" if v.default_source else f" --source {v.source}"
    assert f"{lock} (`ptkit lock {v.name}{source} --platform {ARM.name}`)" in proc.stderr, proc.stderr


def test_a_wheelhouse_for_another_platform_downloads_its_lock_for_that_machine(tmp_path):
    files = tmp_path / "files"
    files.mkdir()
    plain = make_wheel(files, "torch", "9.0.0")  # renamed: the same bytes, tagged for the arm64 image only
    wheel = plain.rename(files / f"torch-9.0.0-py3-none-{ARM.wheel_tags()[0]}.whl")
    index = simple_index(tmp_path / "index", [wheel])
    matrix_file = tmp_path / "matrix.toml"
    matrix_file.write_text(
        f'schema = 1\n[variants.one]\ntorch = "9.0.0"\ntorchvision = ""\ntorchaudio = ""\ncuda = ""\n'
        f'index_url = "{index}"\npython = "3.11"\nbase_image = "debian:bookworm-slim"\n'
        f'platforms = ["linux/amd64", "linux/arm64"]\n')
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    lock = tmp_path / "one-arm64.txt"
    lock.write_text(f"torch==9.0.0 --hash=sha256:{digest}\n")
    common = ("--index-url", index, "--lock", str(lock), "--matrix", str(matrix_file))
    proc = run_ptkit("wheelhouse", "one", str(tmp_path / "arm"), "--platform", ARM.name, *common)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "arm" / wheel.name).is_file()
    assert f"torch==9.0.0 --hash=sha256:{digest}" in (tmp_path / "arm" / "requirements.lock").read_text()
    # The default platform's tags do not match that wheel; and without a lock pip would resolve for this host
    proc = run_ptkit("wheelhouse", "one", str(tmp_path / "amd"), *common)
    assert proc.returncode == 1 and not (tmp_path / "amd").exists(), proc.stderr
    proc = run_ptkit("wheelhouse", "one", str(tmp_path / "nolock"), "--platform", ARM.name, "--index-url", index,
                     "--matrix", str(matrix_file))
    assert proc.returncode == 1 and len(proc.stderr.splitlines()) == 1 and "pass --lock" in proc.stderr
    assert not (tmp_path / "nolock").exists()
