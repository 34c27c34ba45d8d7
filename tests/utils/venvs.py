"""A venv as an image has it, without an image: a minimal wheel, its install with the real pip, and the manifest
docker/manifest.py writes at build time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
MANIFEST_PY = ROOT / "docker" / "manifest.py"
PIP_ENV = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def make_wheel(directory: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> Path:
    """A minimal pure-Python wheel, written with zipfile (no build backend needed); `requires`: its Requires-Dist."""
    stem = name.replace("-", "_")  # a wheel's file and dist-info names (PEP 427): no dashes in the name part
    dist = f"{stem}-{version}.dist-info"
    depends = "".join(f"Requires-Dist: {r}\n" for r in requires)
    files = {
        f"{stem}.py": f"VERSION = {version!r}\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{depends}",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: ptkit-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{dist}/RECORD"] = "".join(f"{path},,\n" for path in files) + f"{dist}/RECORD,,\n"
    path = directory / f"{stem}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as whl:
        for arcname, text in files.items():
            whl.writestr(arcname, text)
    return path


def pip_install(venv: Path, wheel: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-index",
                    "--no-deps", "--quiet", str(wheel)], check=True, env=PIP_ENV, capture_output=True)


def write_manifest(venv: Path, tmp: Path, lock: str = "") -> Path:
    (tmp / "provenance.json").write_text(json.dumps({"variant": "test", "revision": "abc"}))
    (tmp / "requirements.lock").write_text(lock)
    out = tmp / "etc" / "manifest.json"
    subprocess.run([sys.executable, str(MANIFEST_PY), "--venv", str(venv), "--provenance", str(tmp / "provenance.json"),
                    "--lock", str(tmp / "requirements.lock"), "--ptkit", str(SRC), "--out", str(out),
                    "--root", str(venv)], check=True, capture_output=True, text=True)
    return out
