"""GPUs: model name -> compute capability (the catalog, gpus.toml), and what the host's nvidia-smi says."""

from __future__ import annotations

import difflib
import re
import subprocess
from dataclasses import dataclass

from ..errors import UsageError
from ..verify.catalog import GPUS
from ..verify.facts import gpu_key, normalize_gpu_name

CAPABILITY = re.compile(r"^(?:sm_|compute_)?(\d{1,2})\.?(\d)$")
DRIVER = re.compile(r"^\d+(\.\d+){0,3}$")


@dataclass(frozen=True)
class Gpu:
    driver: str
    capability: str  # "8.0"
    name: str = ""


def capability_of(name: str) -> str:
    """'NVIDIA A100-SXM4-80GB' (as nvidia-smi prints it), 'a100-sxm4-80gb' or 'A100 SXM4 80GB' -> '8.0'.
    Whole names only: a usage error names the closest catalog names otherwise."""
    key = gpu_key(name)
    if key is None:
        known = {normalize_gpu_name(n): n for k, g in GPUS.items() for n in (k, *g["names"])}
        wanted = normalize_gpu_name(name)
        longer = [n for n in known if wanted and n.startswith(wanted)]  # a hint only, never a match
        close = list(dict.fromkeys(longer + difflib.get_close_matches(wanted, list(known), n=4, cutoff=0.5)))[:4]
        hint = f" (closest: {', '.join(repr(known[c]) for c in close)})" if close else ""
        raise UsageError(f"unknown GPU model {name!r}{hint}: give --capability X.Y, or the name nvidia-smi prints")
    return str(GPUS[key]["capability"])


def parse_capability(value: str) -> str:
    """'8.0', '80', 'sm_80' -> '8.0'; '12.0', '120', 'sm_120' -> '12.0'."""
    found = CAPABILITY.match(value.strip().lower())
    if not found:
        raise UsageError(f"--capability {value!r} is not a compute capability such as 8.0 or sm_80")
    return f"{int(found.group(1))}.{found.group(2)}"


def typed_capability(value: str) -> str:
    """--capability as a user types it: a form parse_capability reads, naming the capability of a catalog GPU; a
    typo such as 99 (read as 9.9) would otherwise be judged as a GPU that does not exist. What nvidia-smi reports
    is taken as it is (from_nvidia_smi): that is the hardware's own."""
    capability = parse_capability(value)
    known = sorted({str(g["capability"]) for g in GPUS.values()}, key=lambda c: tuple(map(int, c.split("."))))
    if capability not in known:
        read = f" (read as {capability})" if value.strip() != capability else ""
        raise UsageError(f"--capability {value!r}{read} is the compute capability of no GPU in the catalog "
                         f"gpus.toml ({', '.join(known)}): give the X.Y nvidia-smi prints, or --gpu MODEL")
    return capability


def parse_driver(value: str) -> str:
    if not DRIVER.match(value.strip()):
        raise UsageError(f"--driver {value!r} is not a driver version such as 535.104.05")
    return value.strip()


def from_nvidia_smi(output: str) -> Gpu:
    """Lines of 'driver, capability, name'; with mixed GPUs the lowest capability must be served."""
    gpus = []
    for line in output.strip().splitlines():
        parts = [p.strip() for p in line.split(",", 2)]
        if len(parts) == 3:
            gpus.append(Gpu(parse_driver(parts[0]), parse_capability(parts[1]), parts[2]))
    if not gpus:
        raise UsageError(f"nvidia-smi gave no GPU ({output.strip()[:80]!r}): give --driver and --capability")
    return min(gpus, key=lambda g: tuple(int(x) for x in g.capability.split(".")))


def read_host(timeout: float = 20.0) -> Gpu:
    command = ["nvidia-smi", "--query-gpu=driver_version,compute_cap,name", "--format=csv,noheader"]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise UsageError("no nvidia-smi on this host: give --driver VERSION and --capability X.Y "
                         "(or --gpu MODEL)") from None
    except (OSError, subprocess.SubprocessError) as exc:
        raise UsageError(f"nvidia-smi failed ({exc}): give --driver and --capability") from None
    if proc.returncode != 0:
        cause = (proc.stderr or proc.stdout).strip().splitlines()[:1] or [f"exit code {proc.returncode}"]
        raise UsageError(f"nvidia-smi failed ({cause[0]}): give --driver and --capability")
    return from_nvidia_smi(proc.stdout)
