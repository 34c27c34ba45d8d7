"""An environment's inventory: its Python distributions, Debian packages and torch build facts.

Standard library only, Python 3.8+, one self-contained file: the verifier's drift check and
docker/manifest.py import it, and `ptkit diff` sends its source to `python -B -c` in any image.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from typing import Any

# torch's build facts, what `ptkit diff` compares besides packages; run in the environment's own Python.
TORCH_FACTS = """
import json, torch
def call(f):
    try:
        return f()
    except Exception:
        return None
arch = call(lambda: torch._C._cuda_getArchFlags()) or ""
print(json.dumps({"torch": torch.__version__, "cuda": torch.version.cuda,
    "cudnn": call(lambda: torch.backends.cudnn.version()),
    "nccl": call(lambda: ".".join(map(str, torch.cuda.nccl.version()))) if torch.version.cuda else None,
    "arch_list": sorted(arch.split())}))
"""


def canonical(name: str) -> str:
    """PEP 503 normalized name: 'Jinja2' and 'jinja_2' name the same distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _header(path: str) -> dict[str, str]:
    """Name and Version from a METADATA/PKG-INFO header (the email parser costs ~1 ms a distribution)."""
    fields: dict[str, str] = {}
    with open(path, encoding="utf-8", errors="replace") as fh:
        for text in fh:
            if not text.strip():
                break
            key, sep, value = text.partition(":")
            if sep and key in ("Name", "Version") and key not in fields:
                fields[key] = value.strip()
    return fields


def _digest(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest()
    except OSError:
        return ""


def _distribution(info: str) -> tuple[str, dict[str, str]] | None:
    """(name, {version, record}) of a .dist-info or .egg-info entry; None when it has no usable metadata."""
    meta = os.path.join(info, "METADATA" if info.endswith(".dist-info") else "PKG-INFO")
    if os.path.isfile(info):  # an egg-info file is its own PKG-INFO
        meta = info
    try:
        fields = _header(meta)
    except OSError:
        return None
    if "Name" not in fields or "Version" not in fields:
        return None
    return canonical(fields["Name"]), {"version": fields["Version"], "record": _digest(os.path.join(info, "RECORD"))}


def installed_distributions(path: list[str] | None = None) -> dict[str, dict[str, str]]:
    """{name: {version, record}} of the distributions on `path` (default: this interpreter's sys.path).

    The first distribution of a name on the path wins, as for imports. record is the sha256 of the
    RECORD file (the list of installed files and their hashes), '' where there is none.
    """
    found: dict[str, dict[str, str]] = {}
    for entry in sys.path if path is None else path:
        try:
            names = sorted(os.listdir(entry or "."))
        except OSError:
            continue  # zip files, missing entries
        for name in names:
            if name.endswith((".dist-info", ".egg-info")):
                dist = _distribution(os.path.join(entry or ".", name))
                if dist and dist[0] not in found:
                    found[dist[0]] = dist[1]
    return found


def debian_packages() -> dict[str, dict[str, str]] | None:
    """{name: {version, arch}} of the installed Debian packages, or None without dpkg."""
    fmt = "${db:Status-Abbrev}\\t${Package}\\t${Version}\\t${Architecture}\\n"
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f", fmt], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    packages: dict[str, dict[str, str]] = {}
    for row in sorted(out.splitlines()):
        status, name, version, arch = row.split("\t")
        if status.startswith("ii"):
            packages[name if name not in packages else f"{name}:{arch}"] = {"version": version, "arch": arch}
    return packages


def torch_facts(python: str) -> dict[str, Any]:
    """torch's version and build facts as `python` (an interpreter path) imports it; {error} when it cannot."""
    proc = subprocess.run([python, "-B", "-c", TORCH_FACTS], capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["torch did not import"])[-1]}
    return json.loads(proc.stdout)




def main() -> int:
    print(json.dumps({"python": installed_distributions(), "debian": debian_packages(),
                      "torch": torch_facts(sys.executable)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
