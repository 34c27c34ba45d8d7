"""The naive single-stage image ptkit's images are compared with: what a user writes without ptkit.

One stage: Debian (the same base as ptkit's builds), Python from apt, and `pip install` of exactly the pins
of ptkit's lock, hash-checked, from the variant's index or from a wheelhouse; no slimming, no builder stage.
`devel=True` adds what torch.compile needs (g++, the Python headers), as ptkit's devel flavor does.
Used by benchmarks/image_figures.py (beside the devel images) and benchmarks/naive_sizes.py (beside
each runtime image of the matrix run).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

TAG = "ptkit-figures/naive:{name}"
APT = "python3 python3-venv"
APT_DEVEL = f"{APT} python3-dev g++ openssl"
DOCKERFILE = """FROM {base}
RUN apt-get update && apt-get install -y --no-install-recommends {apt} && rm -rf /var/lib/apt/lists/*
COPY . /context/
RUN python3 -m venv /opt/venv && {cert}/opt/venv/bin/pip install --no-cache-dir {source} \\
    --require-hashes --no-deps -r /context/requirements.lock && rm -rf /context
"""


def dockerfile(base: str, index_url: str | None, devel: bool, ca_bundle: bool = False) -> str:
    """From `index_url`, or (None) offline from the wheelhouse that is the build context."""
    source = f"--index-url {index_url}" if index_url else "--no-index --find-links /context"
    cert = "PIP_CERT=/context/ca.pem " if ca_bundle else ""
    return DOCKERFILE.format(base=base, apt=APT_DEVEL if devel else APT, source=source, cert=cert)


def image_gb(name: str, base: str, lock: Path, *, index_url: str | None = None, wheelhouse: Path | None = None,
             ca_bundle: Path | None = None, devel: bool = False) -> float:
    """Build the naive image of `lock` (from `index_url`, or from `wheelhouse`), measure it, remove it.

    Its context layer (the wheelhouse, or the lock and CA bundle) is not counted: a user installing from
    an index would not have it."""
    import docker

    tag = TAG.format(name=name)
    with tempfile.TemporaryDirectory(prefix="ptkit-naive-") as tmp:
        context = Path(tmp) / "context"
        if wheelhouse is not None:
            shutil.copytree(wheelhouse, context, copy_function=_link_or_copy)
        else:
            context.mkdir()
        (context / "requirements.lock").unlink(missing_ok=True)  # a link into the wheelhouse: never write through
        shutil.copyfile(lock, context / "requirements.lock")
        if ca_bundle is not None:
            shutil.copyfile(ca_bundle, context / "ca.pem")
        (Path(tmp) / "Dockerfile").write_text(dockerfile(base, None if wheelhouse else index_url, devel,
                                                          ca_bundle is not None))
        subprocess.run(["docker", "build", "-q", "-t", tag, "-f", str(Path(tmp) / "Dockerfile"), str(context)],
                       check=True, capture_output=True, text=True)
    try:
        api = docker.from_env().api
        total = api.inspect_image(tag)["Size"]
        context_layer = next(layer["Size"] for layer in api.history(tag) if "COPY dir:" in layer["CreatedBy"])
        return (total - context_layer) / 1e9
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        Path(dst).hardlink_to(src)  # a CUDA wheelhouse is 3 GB: link, do not copy
    except OSError:
        shutil.copy2(src, dst)
