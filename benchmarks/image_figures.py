"""Image figures, measured on this host: size, cold build, rebuild after touching ptkit, verify wall time.

    python benchmarks/image_figures.py [--base-image IMG] [--wheelhouse DIR] [--packages "torch numpy"]
                                       [--skip-cold] [--cuda-image ptkit:cuda130] [--cuda-wheelhouse DIR]
                                       [--rounds N] [--naive-matrix]

Defaults match scripts/main.sh (local base image, local wheelhouse, torch + numpy). The cold build
uses --no-cache. The "touch" is a throwaway file added to the ptkit package for one rebuild, as an
edit to the verifier would be. If a CUDA image exists it reports its size and checks it for
duplicate shared libraries. Flavors: the devel (ptkit:VARIANT) and runtime (ptkit:VARIANT-runtime)
sizes of cpu and cuda130 where built, the cost of compile support (devel - runtime), and per variant
(cpu, and cuda130 with --cuda-wheelhouse) a naive single-stage image with compile support (apt g++
python3-dev, pip install of the wheelhouse's lock, no slimming) beside ptkit's devel image, for scale.
With --cuda-wheelhouse, ptkit:cuda130 is built with --no-cache from it, with pip and then with uv (the
default installer, so ptkit:cuda130 is left as uv built it), --rounds times, and the uv/pip time ratio of
the builds and of their install step printed. With --naive-matrix, benchmarks/naive_sizes.py then prints
ptkit/naive for each image of the last matrix run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import timeit
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.utils.registry: the throwaway registry the Docker tests use too
sys.path.insert(0, str(ROOT / "benchmarks"))
import naive  # noqa: E402 - benchmarks/naive.py, beside this script
import naive_sizes  # noqa: E402
from installers import installer_builds, print_installers  # noqa: E402

from ptkit.cli import OneLineParser  # noqa: E402
from ptkit.images import LOCAL_BASE  # noqa: E402

TOUCH = ROOT / "src" / "ptkit" / "verify" / "_figures_touch.py"
LIST_LIBS = r"""
import collections, hashlib, json, os, sys
by_size, libs, lib_bytes, seen = collections.defaultdict(set), 0, 0, set()
for root, _, files in os.walk(sys.prefix):
    for f in files:
        p = os.path.join(root, f)
        st = os.lstat(p)
        if os.path.islink(p) or (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        if ".so" in f:
            libs, lib_bytes = libs + 1, lib_bytes + st.st_size
        if st.st_size >= 65536:
            by_size[st.st_size].add(p)
dups, dup_bytes = [], 0
for size, paths in by_size.items():
    if len(paths) > 1:
        groups = collections.defaultdict(list)
        for p in paths:
            groups[hashlib.sha256(open(p, "rb").read()).hexdigest()].append(p)
        for same in groups.values():
            if len(same) > 1:
                dups.append(sorted(same))
                dup_bytes += size * (len(same) - 1)
print(json.dumps({"libs": libs, "bytes": lib_bytes, "duplicates": dups, "duplicate_bytes": dup_bytes}))
"""


def timed(cmd: list[str]) -> tuple[float, str]:
    """Wall seconds of a command that must succeed, and its stdout."""
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return time.monotonic() - start, proc.stdout


def run(cmd: list[str]) -> float:
    return timed(cmd)[0]


def python_loop_s() -> float:
    """This host's speed right now (a shared VM's varies by 2x): 10**7 Python additions, best of 3."""
    code = "s = 0\nfor i in range(10**7):\n    s += i"
    return min(timeit.timeit(code, number=1) for _ in range(3))


def naive_figures(base: str, wheelhouses: dict[str, str]) -> dict[str, dict[str, float]]:
    """{variant: {naive_gb, ptkit_gb, ratio}}: ptkit's devel image (compile support too) against the naive one."""
    out = {}
    for variant, wheelhouse in wheelhouses.items():
        house = Path(wheelhouse)
        naive_gb = naive.image_gb(variant, base, house / "requirements.lock", wheelhouse=house, devel=True)
        ptkit = size(f"ptkit:{variant}")
        out[variant] = {"naive_gb": round(naive_gb, 3), "ptkit_gb": round(ptkit, 3),
                        "ratio": round(ptkit / naive_gb, 2)}
    return out


def flavor_sizes(variants: tuple[str, ...] = ("cpu", "cuda130", "cuda132")) -> dict[str, dict[str, float]]:
    """{variant: {devel_gb, runtime_gb, compile_cost_mb, compiler_mb}} for each variant with both flavors built;
    compiler_mb: the devel image's CUDA compiler layer (nvcc, CUDA 13 rows; 0 elsewhere)."""
    out = {}
    for variant in variants:
        devel, runtime = size(f"ptkit:{variant}"), size(f"ptkit:{variant}-runtime")
        if devel == devel and runtime == runtime:  # not NaN: both exist
            out[variant] = {"devel_gb": round(devel, 3), "runtime_gb": round(runtime, 3),
                            "compile_cost_mb": round((devel - runtime) * 1e3, 1),
                            "compiler_mb": compiler_mb(f"ptkit:{variant}")}
    return out


def compiler_mb(image: str) -> float:
    """The size of the layers docker/Dockerfile's compiler-nvcc stage adds (its COPY into /opt/cuda/)."""
    import docker

    history = docker.from_env().api.history(image)
    return round(sum(layer["Size"] for layer in history if " /opt/cuda/" in layer["CreatedBy"]) / 1e6, 1)


def print_flavors(figures: dict[str, Any]) -> None:
    for variant, f in figures["flavors"].items():
        print(f"ptkit:{variant} flavors               : devel {f['devel_gb']:.3f} GB, "
              f"runtime {f['runtime_gb']:.3f} GB, compile support {f['compile_cost_mb']:.0f} MB, "
              f"of which the CUDA compiler {f['compiler_mb']:.0f} MB")
    if "naive_cpu_image_gb" in figures:
        print(f"naive single-stage cpu image, g++   : {figures['naive_cpu_image_gb']:.3f} GB (no wheelhouse layer)")
    for variant, f in figures.get("naive", {}).items():
        print(f"ptkit:{variant} / naive single-stage    : {f['ptkit_gb']:.3f} GB / {f['naive_gb']:.3f} GB "
              f"= {f['ratio']:.2f}")


def size(image: str) -> float:
    out = subprocess.run(["docker", "image", "inspect", "-f", "{{.Size}}", image], capture_output=True, text=True)
    return int(out.stdout) / 1e9 if out.returncode == 0 else float("nan")


def layers(image: str) -> list[tuple[str, float]]:
    """The image's layers of 1 MB or more, with the step that made each (what the size is made of)."""
    import docker

    out = []
    for layer in reversed(docker.from_env().api.history(image)):
        if layer["Size"] >= 1e6:
            step = " ".join(layer["CreatedBy"].replace("/bin/sh -c #(nop) ", "").split())
            out.append((step[:70] if step else "(base image import)", round(layer["Size"] / 1e6, 1)))
    return out


def compressed_gb(image: str) -> float:
    """Push to a throwaway registry on loopback and add up the manifest: the size a registry shows."""
    import docker
    from tests.utils.registry import LocalRegistry

    with LocalRegistry(docker.from_env()) as reg:  # on exit: registry stopped, storage and its tags removed
        ref = f"{reg.host}/figures/image:measure"
        run(["docker", "tag", image, ref])
        run(["docker", "push", ref])
        req = urllib.request.Request(f"http://127.0.0.1:{reg.port}/v2/figures/image/manifests/measure", headers={
            "Accept": "application/vnd.docker.distribution.manifest.v2+json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            manifest = json.load(resp)
    return (manifest["config"]["size"] + sum(layer["size"] for layer in manifest["layers"])) / 1e9


def parse_args() -> argparse.Namespace:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-image", default=LOCAL_BASE)
    parser.add_argument("--wheelhouse", default=str(ROOT / ".cache/wheelhouse/cpu"))
    parser.add_argument("--packages", default="torch numpy")
    parser.add_argument("--skip-cold", action="store_true", help="do not time a --no-cache build")
    parser.add_argument("--cuda-image", default="ptkit:cuda130")
    parser.add_argument("--skip-naive", action="store_true", help="do not build the naive single-stage images")
    parser.add_argument("--naive-matrix", action="store_true",
                        help="also each image of the last matrix run beside its naive image, ptkit/naive per "
                             "variant (benchmarks/naive_sizes.py; it writes docs/evidence/matrix/NAIVE.md)")
    parser.add_argument("--compressed", action="store_true",
                        help="also measure the CUDA image's compressed (registry) size by a local push")
    parser.add_argument("--cuda-wheelhouse", metavar="DIR",
                        help="first build ptkit:cuda130 with --no-cache from DIR and locks/cuda130.txt, timed, with "
                             "pip and with uv; also its naive image from DIR")
    parser.add_argument("--rounds", type=int, default=2, choices=range(1, 6), metavar="1-5",
                        help="with --cuda-wheelhouse: builds per installer, alternating (default: 2)")
    return parser.parse_args()


def cpu_figures(args: argparse.Namespace) -> dict[str, object]:
    """Cold build, rebuild after a touch, size and layers, verify wall time of ptkit:cpu; the host's speed."""
    build = [sys.executable, "-m", "ptkit", "build", "cpu", "--base-image", args.base_image,
             "--wheelhouse", args.wheelhouse, "--packages", args.packages]
    figures: dict[str, object] = {}
    if not args.skip_cold:
        figures["cold_build_s"] = round(run([*build, "--no-cache"]), 1)
    run(build)  # warm the cache, so the next build differs only by the touch
    TOUCH.write_text(f"# throwaway edit for image_figures.py, {time.time()}\n")
    try:
        figures["rebuild_after_touch_s"] = round(run(build), 1)
    finally:
        TOUCH.unlink()
    run(build)  # leave ptkit:cpu without the throwaway file
    figures["cpu_image_gb"] = round(size("ptkit:cpu"), 3)
    figures["cpu_image_layers_mb"] = layers("ptkit:cpu")
    # Where the wall time goes: starting a container, and importing torch inside it (from the report).
    runs = [timed(["docker", "run", "--rm", "ptkit:cpu", "verify", "--quick", "--json"]) for _ in range(5)]
    figures["docker_run_verify_quick_s"] = round(statistics.median(wall for wall, _ in runs), 2)
    imports = [next(c["seconds"] for c in json.loads(out)["checks"] if c["name"] == "import:torch") for _, out in runs]
    figures["of_which_import_torch_s"] = round(statistics.median(imports), 2)
    starts = [run(["docker", "run", "--rm", "--entrypoint", "/bin/true", "ptkit:cpu"]) for _ in range(5)]
    figures["of_which_container_start_s"] = round(statistics.median(starts), 2)
    figures["host_python_loop_s"] = round(python_loop_s(), 2)
    return figures


def cuda_figures(image: str, compressed: bool) -> dict[str, object]:
    """Size, shared libraries and duplicate files of the CUDA image (nothing when it is not built)."""
    cuda_gb = size(image)
    if cuda_gb != cuda_gb:  # NaN: the CUDA image does not exist
        return {}
    out = subprocess.run(["docker", "run", "--rm", "--entrypoint", "python", image, "-c", LIST_LIBS],
                         capture_output=True, text=True, check=True).stdout
    libs = json.loads(out)
    figures: dict[str, object] = {
        "cuda_image": image, "cuda_image_gb": round(cuda_gb, 3), "cuda_image_shared_libs": libs["libs"],
        "cuda_image_shared_lib_gb": round(libs["bytes"] / 1e9, 3), "cuda_image_duplicate_files": libs["duplicates"],
        "cuda_image_duplicate_mb": round(libs["duplicate_bytes"] / 1e6, 1)}
    if compressed:
        figures["cuda_image_compressed_gb"] = round(compressed_gb(image), 3)
    return figures


def print_figures(figures: dict[str, Any], cuda_image: str) -> None:
    print(f"cpu image size                      : {figures['cpu_image_gb']:.3f} GB (goal <= 1.10)")
    for step, mb in figures["cpu_image_layers_mb"]:
        print(f"    {mb:8.1f} MB  {step}")
    if "cold_build_s" in figures:
        print(f"cold build (--no-cache)             : {figures['cold_build_s']:.1f} s")
    print(f"rebuild after touching the verifier : {figures['rebuild_after_touch_s']:.1f} s (goal <= 10)")
    print(f"docker run --rm ptkit:cpu verify --quick: {figures['docker_run_verify_quick_s']:.2f} s "
          "median of 5 (goal <= 3)")
    print(f"    of which: container start {figures['of_which_container_start_s']:.2f} s, "
          f"import torch {figures['of_which_import_torch_s']:.2f} s")
    print(f"host speed: 10**7 Python additions  : {figures['host_python_loop_s']:.2f} s (compare runs with this)")
    print_flavors(figures)
    if "cuda_image_gb" in figures:
        print(f"{cuda_image} image size         : {figures['cuda_image_gb']:.3f} GB "
              f"({figures['cuda_image_shared_lib_gb']:.3f} GB in {figures['cuda_image_shared_libs']} shared libraries, "
              f"byte-identical copies: {figures['cuda_image_duplicate_mb']} MB)")
    print_installers(figures)
    if "cuda_image_compressed_gb" in figures:
        print(f"{cuda_image} compressed (registry) : {figures['cuda_image_compressed_gb']:.3f} GB")
    print(json.dumps(figures))


def main() -> None:
    args = parse_args()
    figures: dict[str, Any] = {}
    if args.cuda_wheelhouse:
        figures.update(installer_builds(args.base_image, args.cuda_wheelhouse, args.rounds))
    figures.update(cpu_figures(args))
    figures["flavors"] = flavor_sizes()
    if not args.skip_naive:
        wheelhouses = {"cpu": args.wheelhouse, **({"cuda130": args.cuda_wheelhouse} if args.cuda_wheelhouse else {})}
        figures["naive"] = naive_figures(args.base_image, wheelhouses)
        figures["naive_cpu_image_gb"] = figures["naive"]["cpu"]["naive_gb"]
    figures.update(cuda_figures(args.cuda_image, args.compressed))
    print_figures(figures, args.cuda_image)
    if args.naive_matrix:
        print("ptkit runtime / naive single-stage, each image of the last matrix run (goal: every ratio below 1):",
              flush=True)
        sys.exit(naive_sizes.main(["--base-image", args.base_image]))


if __name__ == "__main__":
    main()
