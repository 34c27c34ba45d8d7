"""Stand-ins for what this CPU-only host lacks: an installed distribution (a real dist-info folder that
importlib.metadata reads), a call that fails as a missing library does, and a torch built for CUDA."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any


def dist_info(site: Path, folder: str, header: str, record: str | None = "x.py,,\n") -> Path:
    """A distribution's metadata folder under `site` (a .dist-info, or an .egg-info with PKG-INFO)."""
    path = site / folder
    path.mkdir(parents=True)
    (path / ("METADATA" if folder.endswith(".dist-info") else "PKG-INFO")).write_text(header)
    if record is not None:
        (path / "RECORD").write_text(record)
    return path


def installed(site: Path, name: str, version: str) -> Path:
    """`name` `version` installed in `site` as pip leaves it: dist-info metadata."""
    return dist_info(site, f"{name.replace('-', '_')}-{version}.dist-info",
                     f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


def raiser(exc: Exception):
    """A call that fails as a missing library or build feature does."""
    def call(*_args: Any, **_kwargs: Any) -> Any:
        raise exc
    return call


def cuda_torch(cuda: str | None = "12.8", **parts: Any) -> SimpleNamespace:
    """A torch built for `cuda` as far as the build facts go: cuDNN 9.10.2, NCCL 2.27.3, sm_80 and sm_90, MKL,
    AVX512, a CUDA init that fails; `parts` replaces any of them (cudnn_version=, nccl=, arch_flags=, config=,
    capability=, hip=, init=)."""
    cudnn = parts.get("cudnn_version", 91002)
    nccl = parts.get("nccl", (2, 27, 3))
    return SimpleNamespace(
        __version__=parts.get("version", "2.14.1"),
        version=SimpleNamespace(cuda=cuda, hip=parts.get("hip")),
        backends=SimpleNamespace(cpu=SimpleNamespace(get_cpu_capability=lambda: parts.get("capability", "AVX512")),
                                 cudnn=SimpleNamespace(version=cudnn if callable(cudnn) else lambda: cudnn)),
        cuda=SimpleNamespace(nccl=SimpleNamespace(version=nccl if callable(nccl) else lambda: nccl),
                             init=parts.get("init") or raiser(RuntimeError("CUDA driver initialization failed"))),
        _C=SimpleNamespace(_cuda_getArchFlags=lambda: parts.get("arch_flags", "sm_80 sm_90")),
        __config__=SimpleNamespace(show=lambda: parts.get("config", "  - BLAS_INFO=mkl\n  - LAPACK_INFO=mkl\n")),
    )


class FakeCuda:
    """torch.cuda as seen by precision: one device of the given capability."""

    def __init__(self, capability: tuple[int, int], bf16: bool | None):
        self.capability, self.asked = capability, []
        if bf16 is not None:
            self.is_bf16_supported = lambda: bf16

    def get_device_capability(self, device):
        self.asked.append(device)
        return self.capability
