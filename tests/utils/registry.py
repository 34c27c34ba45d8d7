"""A throwaway registry for push/pull tests and the figures script: Debian's docker-registry binary
(scripts/host-setup.sh installs it) on a free loopback port, storage in a temporary directory.

    from tests.utils.registry import LocalRegistry      # with the repository root on sys.path
    with LocalRegistry(client) as registry:              # client: a docker.DockerClient, or None
        ref = f"{registry.host}/team/pytorch:cpu"        # registry.host == "localhost:PORT"

On exit the registry is stopped, its storage deleted and, given a client, every local tag naming it removed.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from .docker_helpers import wait_for
from .net import free_port


class RegistryError(RuntimeError):
    """The registry binary is missing or did not start."""


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


class LocalRegistry:
    def __init__(self, client: Any = None, start_timeout: float = 20) -> None:
        self.client, self.start_timeout = client, start_timeout
        self.port = 0
        self.host = ""
        self.storage: Path | None = None  # the registry's config and data, deleted on exit
        self.proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> LocalRegistry:
        binary = shutil.which("docker-registry")
        if not binary:
            raise RegistryError("docker-registry is not installed (scripts/host-setup.sh installs it)")
        self._tmp = tempfile.TemporaryDirectory(prefix="ptkit-registry-")
        self.storage = Path(self._tmp.name)
        self.port = free_port()
        self.host = f"localhost:{self.port}"
        config = self.storage / "config.yml"
        config.write_text(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {self.storage / 'data'}\n"
                          f"http:\n  addr: 127.0.0.1:{self.port}\nlog:\n  level: error\n")
        self.proc = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        if not wait_for(lambda: listening(self.port), self.start_timeout):
            self.__exit__(None, None, None)
            raise RegistryError(f"docker-registry did not start on 127.0.0.1:{self.port}")
        return self

    def stop(self) -> None:
        """Stop serving (idempotent); a test may call it to meet a registry that no longer answers."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self.client is not None and self.host:
            for image in self.client.images.list():
                for tag in image.tags:
                    if tag.startswith(f"{self.host}/"):
                        self.client.images.remove(tag)
        if self._tmp:
            self._tmp.cleanup()
            self._tmp = None
