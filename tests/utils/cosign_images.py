"""A real registry, tiny images and cosign key pairs, without the Docker engine (tests/test_sign.py,
tests/test_attest.py): Debian's docker-registry on loopback, OCI images made with umoci and pushed with skopeo,
key pairs made by `cosign generate-key-pair`.

    from tests.utils.cosign_images import (  # noqa: F401 - the fixtures `keys`, `registry`, `signer`
        image, keys_fixture, needs_tools, registry_fixture, signer_fixture)  # named apart: no shadowing
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ptkit.repro import sign
from tests.utils.registry import LocalRegistry

TOOLS = ("cosign", "skopeo", "umoci", "docker-registry")
MISSING = [t for t in TOOLS if not shutil.which(t)]
needs_tools = pytest.mark.skipif(bool(MISSING), reason=f"not installed: {' '.join(MISSING)} (scripts/host-setup.sh)")
PASSWORD = "correct horse"


def run(*argv: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})},
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"{argv}: {proc.stderr}"
    return proc.stdout


class TinyImage:
    """An OCI image of one small file per layer, in a layout of its own (umoci: no engine, no root needed)."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.layout = folder, f"{folder / 'oci'}:img"
        run("umoci", "init", "--layout", str(folder / "oci"))
        run("umoci", "new", "--image", self.layout)

    def add(self, name: str, text: str) -> TinyImage:
        """A new layer holding /NAME: a new manifest, so a new digest."""
        source = self.folder / name
        source.write_text(text)
        run("umoci", "insert", "--image", self.layout, str(source), f"/{name}")
        return self

    def push(self, ref: str) -> str:
        """Push to `ref` (docker://, plain HTTP on loopback); the digest the registry stores, as skopeo reports it."""
        digest_file = self.folder / "digest"
        run("skopeo", "copy", "-q", "--dest-tls-verify=false", "--digestfile", str(digest_file), f"oci:{self.layout}",
            f"docker://{ref}")
        return digest_file.read_text().strip()


def image(tmp_path: Path, text: str) -> TinyImage:
    """A one-layer image holding /hello.txt with `text`: another text, another digest."""
    return TinyImage(tmp_path / text).add("hello.txt", text)


@pytest.fixture(scope="module", name="registry")
def registry_fixture():
    with LocalRegistry() as reg:
        yield reg


@pytest.fixture(scope="module", name="keys")
def keys_fixture(tmp_path_factory) -> dict[str, Path]:
    """Two cosign key pairs: `key`/`pub` (the signer's), `other_key`/`other_pub` (someone else's)."""
    folder = tmp_path_factory.mktemp("keys")
    for prefix in ("signer", "other"):
        run("cosign", "generate-key-pair", "--output-key-prefix", str(folder / prefix),
            env={"COSIGN_PASSWORD": PASSWORD})
    return {"key": folder / "signer.key", "pub": folder / "signer.pub", "other_key": folder / "other.key",
            "other_pub": folder / "other.pub"}


@pytest.fixture(name="signer")
def signer_fixture(keys, monkeypatch) -> sign.Key:
    monkeypatch.setenv("COSIGN_PASSWORD", PASSWORD)
    return sign.signing_key(keys["key"])
