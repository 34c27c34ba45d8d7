"""`ptkit base --platform` (issue 21.3): the bootstrap command per platform, the tag per platform, and what goes
into the engine: the default platform's import exactly as before, another platform's image archive whose config
names its architecture (read back by skopeo, an independent reader). No engine: a recording stand-in client."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tarfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from ptkit import base
from ptkit.errors import PtkitError
from ptkit.platforms import PLATFORMS

AMD64, ARM64 = PLATFORMS["linux/amd64"], PLATFORMS["linux/arm64"]
MIRROR = "http://deb.debian.org/debian"
SOURCES = ["deb http://deb.debian.org/debian bookworm main", "deb http://deb.debian.org/debian bookworm-updates main",
           "deb http://deb.debian.org/debian-security bookworm-security main"]
# The command `ptkit base` ran before platforms existed (git show e73e2d1:src/ptkit/base.py), stated here.
AMD64_COMMAND = ["/usr/bin/mmdebstrap", "--variant=minbase", "--format=tar", '--aptopt=Acquire::Languages "none"',
                 "--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/doc/*",
                 "--dpkgopt=path-exclude=/usr/share/locale/*", "--dpkgopt=path-exclude=/usr/share/info/*",
                 "--dpkgopt=path-include=/usr/share/doc/*/copyright", "bookworm", "/t/rootfs.tar", *SOURCES]


def test_each_platform_has_its_own_tag_and_the_default_keeps_its_own():
    assert base.local_base() == base.local_base(AMD64) == "ptkit/base:bookworm"
    assert base.local_base(ARM64) == "ptkit/base:bookworm-arm64"


def test_the_default_platform_bootstraps_as_before_and_arm64_adds_only_its_architecture():
    out = Path("/t/rootfs.tar")
    assert base.bootstrap_command("/usr/bin/mmdebstrap", "bookworm", MIRROR, out, AMD64) == AMD64_COMMAND
    arm = base.bootstrap_command("/usr/bin/mmdebstrap", "bookworm", MIRROR, out, ARM64)
    assert arm == [*AMD64_COMMAND[:3], "--architectures=arm64", *AMD64_COMMAND[3:]]


def test_debootstrap_bootstraps_the_default_platform_only():
    assert base.bootstrap_command("/usr/sbin/debootstrap", "bookworm", MIRROR, Path("/t/rootfs"), AMD64) == [
        "/usr/sbin/debootstrap", "--variant=minbase", "bookworm", "/t/rootfs", MIRROR]
    with pytest.raises(PtkitError, match="a linux/arm64 base needs mmdebstrap"):
        base.bootstrap_command("/usr/sbin/debootstrap", "bookworm", MIRROR, Path("/t/rootfs"), ARM64)


class Engine:
    """The SDK client's calls `ptkit base` makes, recorded; a load reads the archive it is given."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.api = SimpleNamespace(import_image_from_file=self.import_image_from_file, load_image=self.load_image)

    def import_image_from_file(self, filename, **kwargs):
        self.calls.append(("import", {"filename": filename, **kwargs}))
        return '{"status":"sha256:0123"}\r\n'

    def load_image(self, data):
        self.calls.append(("load", {"bytes": data.read()}))
        return iter([{"stream": "Loaded image: ptkit/base:bookworm-arm64\n"}])


def rootfs_tar(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    (tree / "usr/bin").mkdir(parents=True)
    (tree / "usr/bin/dpkg").write_bytes(b"\x7fELF stand-in")
    out = tmp_path / "rootfs.tar"
    with tarfile.open(out, "w") as tar:
        tar.add(tree, arcname=".")
    return out


def test_the_default_platform_is_imported_with_the_same_changes_as_before(tmp_path):
    engine, rootfs = Engine(), rootfs_tar(tmp_path)
    base.into_engine(engine, rootfs, "ptkit/base:bookworm", AMD64, ("bookworm", MIRROR))
    assert engine.calls == [("import", {"filename": str(rootfs), "repository": "ptkit/base", "tag": "bookworm",
                                        "changes": ['CMD ["bash"]', "ENV LANG=C.UTF-8",
                                                    f"LABEL ptkit.base.suite=bookworm ptkit.base.mirror={MIRROR}"]})]


def test_an_engine_error_is_one_line(tmp_path):
    engine = Engine()
    engine.api.load_image = lambda data: iter([{"errorDetail": {"message": "no space\nleft"}}])
    with pytest.raises(PtkitError, match=r"^docker load failed: no space left$"):
        base.into_engine(engine, rootfs_tar(tmp_path), "ptkit/base:bookworm-arm64", ARM64, ("bookworm", MIRROR))


@pytest.mark.skipif(not shutil.which("skopeo"), reason="skopeo reads the archive independently")
def test_arm64_is_loaded_as_an_archive_whose_config_says_arm64(tmp_path):
    engine, rootfs = Engine(), rootfs_tar(tmp_path)
    base.into_engine(engine, rootfs, "ptkit/base:bookworm-arm64", ARM64, ("bookworm", MIRROR))
    ((call, args),) = engine.calls
    assert call == "load"  # not import: Docker 20.10 would stamp amd64 on it (moby/moby#42813)
    archive = tmp_path / "loaded.tar"
    archive.write_bytes(args["bytes"])
    ref = f"docker-archive:{archive}"
    config = json.loads(subprocess.run(["skopeo", "inspect", "--config", ref], capture_output=True, text=True,
                                       check=True).stdout)
    assert (config["os"], config["architecture"]) == ("linux", "arm64")
    assert config["config"]["Cmd"] == ["bash"] and config["config"]["Env"] == ["LANG=C.UTF-8"]
    assert config["config"]["Labels"] == {"ptkit.base.suite": "bookworm", "ptkit.base.mirror": MIRROR}
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        layer = tar.extractfile(manifest[0]["Layers"][0]).read()
    assert manifest[0]["RepoTags"] == ["ptkit/base:bookworm-arm64"]
    assert layer == rootfs.read_bytes()  # the root file system, untouched, as the only layer
    assert config["rootfs"]["diff_ids"] == [f"sha256:{hashlib.sha256(rootfs.read_bytes()).hexdigest()}"]
