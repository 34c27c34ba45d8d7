"""Before a build (an input of step 3): a minimal Debian base image made from the apt mirror (mmdebstrap or
debootstrap, then `docker import`), for hosts that cannot pull from any container registry.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import docker_api
from .docker_api import split_ref
from .errors import PtkitError
from .images import DEBIAN_SUITE, LOCAL_BASE

DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_SECURITY = "http://deb.debian.org/debian-security"


def make_base(api: Any, tag: str = LOCAL_BASE, suite: str = DEBIAN_SUITE, mirror: str = DEBIAN_MIRROR, *,
              if_missing: bool = False) -> str:
    """A minimal Debian image from the apt mirror, for hosts that cannot pull from any registry.

    Returns the tag; with `if_missing`, an existing image of that tag is kept as it is.
    """
    from docker.errors import ImageNotFound

    if if_missing:
        try:
            api.images.get(tag)
            return tag
        except ImageNotFound:
            pass
    tool = shutil.which("mmdebstrap") or shutil.which("debootstrap")
    if tool is None:
        raise PtkitError("neither mmdebstrap nor debootstrap is installed: apt-get install -y mmdebstrap")
    sources = [f"deb {mirror} {suite} main", f"deb {mirror} {suite}-updates main",
               f"deb {DEBIAN_SECURITY} {suite}-security main"]
    with tempfile.TemporaryDirectory(prefix="ptkit-base-") as tmp:
        tarball = Path(tmp) / "rootfs.tar"
        started = time.monotonic()
        if tool.endswith("mmdebstrap"):
            excludes = ["/usr/share/man/*", "/usr/share/doc/*", "/usr/share/locale/*", "/usr/share/info/*"]
            cmd = [tool, "--variant=minbase", "--format=tar", "--aptopt=Acquire::Languages \"none\"",
                   *[f"--dpkgopt=path-exclude={p}" for p in excludes],
                   "--dpkgopt=path-include=/usr/share/doc/*/copyright", suite, str(tarball), *sources]
        else:
            rootfs = Path(tmp) / "rootfs"
            cmd = [tool, "--variant=minbase", suite, str(rootfs), mirror]
        print(f"$ {Path(tool).name} {suite} ({mirror})", file=sys.stderr)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
            raise PtkitError(f"{Path(tool).name} failed: {tail[:300]}")
        if not tool.endswith("mmdebstrap"):
            (rootfs / "etc/apt/sources.list").write_text("\n".join(sources) + "\n")
            subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], check=True)
        repo, tag_name = split_ref(tag)
        changes = ['CMD ["bash"]', "ENV LANG=C.UTF-8",
                   f"LABEL ptkit.base.suite={suite} ptkit.base.mirror={mirror}"]
        out = api.api.import_image_from_file(str(tarball), repository=repo, tag=tag_name, changes=changes)
        result = json.loads(out.strip().splitlines()[-1]) if isinstance(out, str) else out
        if error := docker_api.stream_error(result):
            raise PtkitError(f"docker import failed: {error}")
    image = api.images.get(tag)
    print(f"base {tag} ({image.id[:19]}): {image.attrs['Size'] / 1e6:.0f} MB in "
          f"{time.monotonic() - started:.0f} s", file=sys.stderr)
    return tag
