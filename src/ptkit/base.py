"""Before a build (an input of step 3): a minimal Debian base image made from the apt mirror (mmdebstrap or
debootstrap, then into the engine), for hosts that cannot pull from any container registry.

One per platform (issue 21): `ptkit base --platform NAME` makes ptkit/base:bookworm plus the platform's suffix
with mmdebstrap --architectures=(its Debian architecture); for another machine's platform this host runs the
packages' maintainer scripts through qemu and binfmt_misc (scripts/emulation-setup.sh). The default platform's
base is imported as before (`docker import`); another platform's is loaded as an image archive whose config names
its architecture, because Docker 20.10 (Debian's engine here) ignores the import's platform and stamps the
engine's own architecture on the image (moby/moby#42813, docker/cli#5215, the latter on 20.10.25+dfsg1; later
engines take the Engine API's POST /images/create?fromSrc=-&platform=, and docker-py's import_image has no
platform argument at all).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from . import docker_api
from .docker_api import split_ref
from .errors import PtkitError
from .images import DEBIAN_SUITE, LOCAL_BASE
from .platforms import DEFAULT_PLATFORM, Platform
from .wheels import sha256_file

DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_SECURITY = "http://deb.debian.org/debian-security"
BASE_CMD = ["bash"]
BASE_ENV = {"LANG": "C.UTF-8"}
EXCLUDES = ["/usr/share/man/*", "/usr/share/doc/*", "/usr/share/locale/*", "/usr/share/info/*"]


def local_base(platform: Platform = DEFAULT_PLATFORM) -> str:
    """The tag `ptkit base` gives a platform's base: ptkit/base:bookworm and the platform's suffix."""
    return f"{LOCAL_BASE}{platform.suffix}"


def sources(suite: str, mirror: str) -> list[str]:
    return [f"deb {mirror} {suite} main", f"deb {mirror} {suite}-updates main",
            f"deb {DEBIAN_SECURITY} {suite}-security main"]


def labels(suite: str, mirror: str) -> dict[str, str]:
    return {"ptkit.base.suite": suite, "ptkit.base.mirror": mirror}


def bootstrap_command(tool: str, suite: str, mirror: str, out: Path, platform: Platform) -> list[str]:
    """mmdebstrap writing a tarball (out), or debootstrap a folder (out), of a minbase for the platform."""
    if not tool.endswith("mmdebstrap"):
        if platform != DEFAULT_PLATFORM:
            raise PtkitError(f"a {platform.name} base needs mmdebstrap (debootstrap runs no foreign "
                             "second stage): apt-get install -y mmdebstrap arch-test")
        return [tool, "--variant=minbase", suite, str(out), mirror]
    arch = [] if platform == DEFAULT_PLATFORM else [f"--architectures={platform.debian_arch}"]
    return [tool, "--variant=minbase", "--format=tar", *arch, "--aptopt=Acquire::Languages \"none\"",
            *[f"--dpkgopt=path-exclude={p}" for p in EXCLUDES], "--dpkgopt=path-include=/usr/share/doc/*/copyright",
            suite, str(out), *sources(suite, mirror)]


def import_changes(suite: str, mirror: str) -> list[str]:
    """`docker import --change` lines: the default platform's base settings."""
    return [f"CMD {json.dumps(BASE_CMD)}", *(f"ENV {k}={v}" for k, v in BASE_ENV.items()),
            "LABEL " + " ".join(f"{k}={v}" for k, v in labels(suite, mirror).items())]


def write_image_archive(rootfs: Path, out: Path, tag: str, platform: Platform, config: dict[str, Any]) -> None:
    """`docker load`'s archive (docker save's layout: manifest.json, the image config, one layer): the root file
    system as the only layer, and a config that names the platform's os and architecture."""
    diff_id = f"sha256:{sha256_file(rootfs)}"  # an uncompressed layer: its digest is its diff ID
    created = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    image = {"architecture": platform.arch, "os": platform.name.partition("/")[0], "created": created,
             "config": config, "rootfs": {"type": "layers", "diff_ids": [diff_id]},
             "history": [{"created": created, "created_by": "ptkit base"}]}
    blob = json.dumps(image, sort_keys=True).encode()
    name = f"{hashlib.sha256(blob).hexdigest()}.json"
    manifest = json.dumps([{"Config": name, "RepoTags": [tag], "Layers": ["layer.tar"]}]).encode()
    with tarfile.open(out, "w") as archive:
        archive.add(rootfs, arcname="layer.tar")
        for member, data in ((name, blob), ("manifest.json", manifest)):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def into_engine(api: Any, rootfs: Path, tag: str, platform: Platform, facts: tuple[str, str]) -> None:
    """The root file system tarball as the image `tag`: imported (the default platform, as before) or loaded."""
    suite, mirror = facts
    if platform == DEFAULT_PLATFORM:
        repo, tag_name = split_ref(tag)
        out = api.api.import_image_from_file(str(rootfs), repository=repo, tag=tag_name,
                                             changes=import_changes(suite, mirror))
        chunks = [json.loads(out.strip().splitlines()[-1]) if isinstance(out, str) else out]
    else:
        archive = rootfs.with_name("image.tar")
        config = {"Cmd": BASE_CMD, "Env": [f"{k}={v}" for k, v in BASE_ENV.items()], "Labels": labels(suite, mirror)}
        write_image_archive(rootfs, archive, tag, platform, config)
        with archive.open("rb") as fh:
            chunks = list(api.api.load_image(fh) or [])  # a generator from API 1.23
    for chunk in chunks:
        if error := docker_api.stream_error(chunk):
            raise PtkitError(f"docker {'import' if platform == DEFAULT_PLATFORM else 'load'} failed: {error}")


def bootstrap(tool: str, suite: str, mirror: str, tmp: Path, platform: Platform) -> Path:
    """The platform's minbase as a root file system tarball in tmp."""
    tarball = tmp / "rootfs.tar"
    rootfs = tmp / "rootfs"
    cmd = bootstrap_command(tool, suite, mirror, tarball if tool.endswith("mmdebstrap") else rootfs, platform)
    on = "" if platform == DEFAULT_PLATFORM else f" {platform.name}"
    print(f"$ {Path(tool).name} {suite}{on} ({mirror})", file=sys.stderr)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        hint = "" if platform == DEFAULT_PLATFORM else (
            f" (can this host run {platform.arch} binaries? bash scripts/emulation-setup.sh {platform.arch} "
            f"{platform.machine})")
        raise PtkitError(f"{Path(tool).name} failed: {tail[:300]}{hint}")
    if not tool.endswith("mmdebstrap"):
        (rootfs / "etc/apt/sources.list").write_text("\n".join(sources(suite, mirror)) + "\n")
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], check=True)
    return tarball


def make_base(api: Any, tag: str | None = None, suite: str = DEBIAN_SUITE, mirror: str = DEBIAN_MIRROR, *,
              platform: Platform = DEFAULT_PLATFORM, if_missing: bool = False) -> str:
    """A minimal Debian image from the apt mirror, for hosts that cannot pull from any registry.

    Returns the tag (by default local_base(platform)); with `if_missing`, an existing image of that tag is kept.
    """
    from docker.errors import ImageNotFound

    tag = tag or local_base(platform)
    if if_missing:
        try:
            api.images.get(tag)
            return tag
        except ImageNotFound:
            pass
    tool = shutil.which("mmdebstrap") or shutil.which("debootstrap")
    if tool is None:
        raise PtkitError("neither mmdebstrap nor debootstrap is installed: apt-get install -y mmdebstrap")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ptkit-base-") as tmp:
        tarball = bootstrap(tool, suite, mirror, Path(tmp), platform)
        into_engine(api, tarball, tag, platform, (suite, mirror))
    image = api.images.get(tag)
    print(f"base {tag} ({image.id[:19]}, {platform.name}): {image.attrs['Size'] / 1e6:.0f} MB in "
          f"{time.monotonic() - started:.0f} s", file=sys.stderr)
    return tag
