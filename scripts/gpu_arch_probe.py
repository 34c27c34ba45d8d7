"""Prove or refute ptkit's arch rule (src/ptkit/verify/archs.py) on a real GPU: for every device, load and launch
one kernel built for each arch (tests/data/fatbin/archs: cubins and PTX that nvcc 13.5 made from add_one.cu) through
the CUDA driver API (ctypes, no toolkit needed), and compare what happened with what the rule predicted; then
torch's own verdict: the arch judgement of its compiled list, and a torch kernel launched.

    PYTHONPATH=src python3 scripts/gpu_arch_probe.py [--report FILE]

Exit 0 when every outcome is the predicted one, 1 when one is not (each printed), 2 without a usable driver.
Standard library (+ torch when installed) only. Without a GPU it proves nothing and says so.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import sys
from pathlib import Path

from ptkit.verify.archs import jit_compiles, judge_arch, parse_arch, runs_natively

ARCHS = Path(__file__).resolve().parents[1] / "tests" / "data" / "fatbin" / "archs"
TOOLKIT = (13, 5)  # nvcc that built ARCHS (tests/data/fatbin/README.md); PTX headers say it too
ATTR_MAJOR, ATTR_MINOR = 75, 76  # CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR / _MINOR
RUNS, REFUSED, UNKNOWN = "runs", "refused", "no prediction"


class Driver:
    """The few CUDA driver API calls the probe needs; each failure raises RuntimeError with the driver's name."""

    def __init__(self, lib: ctypes.CDLL):
        self.lib = lib

    def call(self, name: str, *args: object) -> None:
        code = getattr(self.lib, name)(*args)
        if code != 0:
            text = ctypes.c_char_p()
            self.lib.cuGetErrorName(code, ctypes.byref(text))
            raise RuntimeError((text.value or b"CUDA error %d" % code).decode())

    def integer(self, name: str, *args: object) -> int:
        value = ctypes.c_int()
        self.call(name, ctypes.byref(value), *args)
        return value.value


def open_driver() -> Driver:
    driver = Driver(ctypes.CDLL("libcuda.so.1"))
    driver.call("cuInit", 0)
    return driver


def predict(arch_text: str, capability: tuple[int, int], driver_version: int) -> str:
    """What the rule says for this file's arch on this device and driver (driver_version as 13050 for 13.5)."""
    arch = parse_arch(arch_text)
    if arch is None:
        return UNKNOWN
    driver = (driver_version // 1000, driver_version % 1000 // 10)
    if arch.ptx:  # PTX of a newer toolkit than the driver's release cannot be JIT-compiled by it
        return RUNS if jit_compiles(arch, capability) and driver >= TOOLKIT else REFUSED
    if driver[0] < TOOLKIT[0]:
        return UNKNOWN  # a CUDA 13 cubin under a 12.x driver: outside minor-version compatibility
    return RUNS if runs_natively(arch, capability) else REFUSED


def launch(driver: Driver, image: bytes) -> str:
    """Load `image` (cubin, or PTX the driver JIT-compiles) and run add_one on 32 floats; RUNS or the error."""
    module, function, memory = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_uint64()
    host = (ctypes.c_float * 32)(*range(32))
    try:
        driver.call("cuModuleLoadData", ctypes.byref(module), ctypes.c_char_p(image))
        driver.call("cuModuleGetFunction", ctypes.byref(function), module, b"add_one")
        driver.call("cuMemAlloc_v2", ctypes.byref(memory), ctypes.c_size_t(128))
        driver.call("cuMemcpyHtoD_v2", memory, host, ctypes.c_size_t(128))
        args = (ctypes.c_void_p * 1)(ctypes.cast(ctypes.byref(memory), ctypes.c_void_p))
        driver.call("cuLaunchKernel", function, 1, 1, 1, 32, 1, 1, 0, None, args, None)
        driver.call("cuCtxSynchronize")
        driver.call("cuMemcpyDtoH_v2", host, memory, ctypes.c_size_t(128))
    except RuntimeError as exc:
        return str(exc)
    finally:
        if memory.value:
            driver.lib.cuMemFree_v2(memory)
        if module.value:
            driver.lib.cuModuleUnload(module)
    return RUNS if list(host) == [float(i + 1) for i in range(32)] else "ran, wrong result"


def arch_of(path: Path) -> str:
    """add_one.sm_86.cubin -> sm_86; add_one.compute_90.ptx -> compute_90."""
    return path.name.split(".")[1]


def probe_device(driver: Driver, index: int, driver_version: int) -> dict[str, object]:
    device = ctypes.c_int()
    driver.call("cuDeviceGet", ctypes.byref(device), index)
    cap = (driver.integer("cuDeviceGetAttribute", ATTR_MAJOR, device),
           driver.integer("cuDeviceGetAttribute", ATTR_MINOR, device))
    name = ctypes.create_string_buffer(256)
    driver.call("cuDeviceGetName", name, 256, device)
    context = ctypes.c_void_p()
    driver.call("cuDevicePrimaryCtxRetain", ctypes.byref(context), device)
    driver.call("cuCtxSetCurrent", context)
    results = []
    for path in sorted(ARCHS.glob("add_one.*.*"), key=lambda p: (p.suffix, arch_of(p))):
        if path.suffix not in (".cubin", ".ptx"):
            continue
        image = path.read_bytes() + (b"\0" if path.suffix == ".ptx" else b"")
        expected, outcome = predict(arch_of(path), cap, driver_version), launch(driver, image)
        agree = expected == UNKNOWN or (outcome == RUNS) == (expected == RUNS)
        results.append({"file": path.name, "predicted": expected, "outcome": outcome, "agree": agree})
    driver.lib.cuDevicePrimaryCtxRelease_v2(device)
    return {"index": index, "name": name.value.decode(), "capability": f"{cap[0]}.{cap[1]}", "probes": results}


def torch_verdicts() -> list[dict[str, object]]:
    """The rule on torch's compiled arch list per device, and whether a torch kernel really runs there."""
    try:
        import torch
    except ImportError:
        return []
    if not torch.cuda.is_available():
        return []
    archs = torch.cuda.get_arch_list()
    found = []
    for index in range(torch.cuda.device_count()):
        cap = "{}.{}".format(*torch.cuda.get_device_capability(index))
        status, detail = judge_arch(cap, archs, torch.version.cuda or "")
        try:
            ran = bool(((torch.arange(32, device=f"cuda:{index}") + 1).cpu() == torch.arange(1, 33)).all())
            outcome = RUNS if ran else "ran, wrong result"
        except RuntimeError as exc:
            outcome = str(exc).splitlines()[0]
        agree = (status != "fail") == (outcome == RUNS)
        found.append({"index": index, "capability": cap, "arch_list": archs, "verdict": status, "detail": detail,
                      "torch_kernel": outcome, "agree": agree})
    return found


def render(devices: list[dict], torch_found: list[dict], driver_version: int) -> list[str]:
    lines = [f"CUDA driver API version {driver_version // 1000}.{driver_version % 1000 // 10}; "
             f"kernels built by nvcc {TOOLKIT[0]}.{TOOLKIT[1]}"]
    for dev in devices:
        lines.append(f"device {dev['index']}: {dev['name']} (compute capability {dev['capability']})")
        lines += [f"  {'ok ' if p['agree'] else 'BAD'} {p['file']:<26} predicted {p['predicted']:<14} "
                  f"outcome {p['outcome']}" for p in dev["probes"]]
    for t in torch_found:
        lines.append(f"torch on cuda:{t['index']} ({t['capability']}): arch verdict {t['verdict'].upper()} "
                     f"({t['detail']}); a torch kernel: {t['torch_kernel']}{'' if t['agree'] else '  <- BAD'}")
    return lines


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line and exit 2, as every ptkit command
        print(f"gpu_arch_probe: {message}", file=sys.stderr)
        sys.exit(2)


def main(argv: list[str]) -> int:
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, help="also write the results as JSON to this file")
    args = parser.parse_args(argv)
    try:
        driver = open_driver()
        version, count = driver.integer("cuDriverGetVersion"), driver.integer("cuDeviceGetCount")
    except (OSError, AttributeError, RuntimeError) as exc:
        print(f"gpu_arch_probe: no usable CUDA driver here ({exc}): nothing proven", file=sys.stderr)
        return 2
    devices = [probe_device(driver, i, version) for i in range(count)]
    torch_found = torch_verdicts()
    print("\n".join(render(devices, torch_found, version)))
    if args.report:
        args.report.write_text(json.dumps({"driver_api": version, "devices": devices, "torch": torch_found}, indent=2))
    bad = [p for d in devices for p in d["probes"] if not p["agree"]] + [t for t in torch_found if not t["agree"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
