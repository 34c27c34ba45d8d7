"""Conda specs (conda/VARIANT.yml) checked as conda reads them, and `ptkit conda-lock VARIANT`.

Each conda dependency is parsed by rattler's MatchSpec (the conda spec grammar in Rust, as pixi and
mamba use it); the YAML around it by PyYAML. `conda-lock` solves the conda part with rattler against
conda-forge, with the virtual packages of the image's platform (__cuda for CUDA rows), and writes an
explicit lock (`conda create --file`). The pip section is locked by `ptkit lock` (locks/), not here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

from ..errors import PtkitError
from ..images import DEFAULT_PLATFORM, GLIBC_MINOR
from ..matrix import Variant
from ..render import requirements
from ..userfiles import read_bytes

CHANNEL = "conda-forge"
PLATFORM = DEFAULT_PLATFORM.conda_subdir
GLIBC = f"2.{GLIBC_MINOR}"  # Debian bookworm's, as the images have it


def _rattler() -> Any:
    try:
        import rattler
    except ImportError:
        raise PtkitError("py-rattler is missing: pip install 'ptkit[dev]'") from None
    return rattler


def read_spec(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(read_bytes(path).decode())  # a FIFO or an endless device: no hang
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise PtkitError(f"{path}: not a readable conda spec ({' '.join(str(exc).split())[:200]})") from None
    if not isinstance(data, dict):
        raise PtkitError(f"{path}: not a conda environment spec (a mapping with dependencies)")
    return data


def split_dependencies(data: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(conda match specs, pip lines) of a spec's dependencies."""
    conda: list[str] = []
    pip: list[str] = []
    for dep in data.get("dependencies") or []:
        if isinstance(dep, dict) and list(dep) == ["pip"]:
            pip += [str(line) for line in dep["pip"]]
        else:
            conda.append(str(dep))
    return conda, pip


def check(path: Path, variant: Variant) -> list[str]:
    """What in the spec disagrees with the matrix's variant; [] when nothing does."""
    rattler = _rattler()
    data = read_spec(path)
    conda, pip = split_dependencies(data)
    problems = []
    if data.get("channels") != [CHANNEL]:
        problems.append(f"channels {data.get('channels')}, expected [{CHANNEL}]")
    specs = {}
    for text in conda:
        try:
            spec = rattler.MatchSpec(text)
        except Exception as exc:  # noqa: BLE001 - rattler raises its own InvalidMatchSpecError
            problems.append(f"{text!r} is not a conda match spec: {exc}")
            continue
        specs[spec.name.normalized] = spec
    python = specs.get("python")
    wanted = rattler.Version(f"{variant.python}.0")
    if python is None or not python.version or not rattler.VersionSpec(python.version).matches(wanted):
        problems.append(f"python spec {python} does not admit the matrix's python {variant.python}")
    if "pip" not in specs:
        problems.append("no pip in the conda dependencies (the pip section needs it)")
    options = [line for line in pip if line.startswith("--")]
    if f"--index-url {variant.index_url}" not in options:
        problems.append(f"pip options {options} lack --index-url {variant.index_url}")
    pins = [line for line in pip if not line.startswith("--")]
    if pins != requirements(variant)[0]:
        problems.append(f"pip requirements {pins}, the matrix renders {requirements(variant)[0]}")
    return problems


def virtual_packages(variant: Variant) -> list[Any]:
    """The virtual packages of the image's platform: Linux, glibc, and the variant's CUDA."""
    rattler = _rattler()
    packages = {"__linux": "6.1", "__glibc": GLIBC, "__unix": "0", **({"__cuda": variant.cuda} if variant.cuda else {})}
    return [rattler.GenericVirtualPackage(rattler.PackageName(name), rattler.Version(version),
                                          rattler.BuildString("0")) for name, version in packages.items()]


async def _solve(specs: list[str], variant: Variant, cache: str) -> list[Any]:
    rattler = _rattler()
    channel = rattler.Channel(CHANNEL)
    try:
        repodata = await asyncio.wait_for(rattler.fetch_repo_data(
            channels=[channel], platforms=[rattler.Subdir(PLATFORM), rattler.Subdir("noarch")],
            cache_path=cache, callback=None), timeout=60)
    except Exception as exc:  # noqa: BLE001 - network errors of every kind end the same way
        parts = [" ".join(part.split()) for part in str(exc).split("Caused by:")]  # first and root cause
        cause = (parts[0] if len(parts) == 1 else f"{parts[0]}: {parts[-1]}")[:200] or type(exc).__name__
        raise PtkitError(f"conda channel {CHANNEL} ({channel.base_url}) is not reachable from here: {cause}") from None
    return await rattler.solve(sources=repodata, specs=specs, virtual_packages=virtual_packages(variant),
                               timeout=dt.timedelta(minutes=5))


def lock(spec_path: Path, variant: Variant) -> str:
    """An explicit conda lock (URL#sha256 per package) of the conda dependencies for PLATFORM."""
    conda, _ = split_dependencies(read_spec(spec_path))
    with tempfile.TemporaryDirectory(prefix="ptkit-conda-") as cache:
        records = asyncio.run(_solve(conda, variant, cache))
    lines = [f"# Generated by `ptkit conda-lock {variant.name}` from {spec_path} for {PLATFORM}"
             f"{f' with __cuda={variant.cuda}' if variant.cuda else ''}.", "@EXPLICIT"]
    lines += sorted(f"{r.url}#{r.sha256.hex() if isinstance(r.sha256, bytes) else r.sha256}" for r in records)
    return "\n".join(lines) + "\n"
