"""What a build takes in besides the matrix: one value, passed whole to every build step.

A new build input is a field here; the variant build and the team build both receive it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PYPI_SIMPLE = "https://pypi.org/simple"  # the default index of team images and of PyPI-served variants
INSTALLERS = ("uv", "pip")  # what installs the wheels in the builder stage; both check the lock's hashes
# The builder stage's uv, pinned here only: its version (what `ptkit wheelhouse` adds to a wheelhouse) and the
# hash of its Linux x86_64 wheel (what the build checks). The newest release on PyPI as of 2026-11-27.
UV_VERSION = "0.13.9"
UV_SHA256 = "d7f459fe4fd247d830351c75686d3996ace3c6f3f728eb0e85a30b7ada0cef19"
UV_REQUIREMENT = f"uv=={UV_VERSION} --hash=sha256:{UV_SHA256}"


@dataclass(frozen=True)
class BuildInputs:
    base_image: str | None = None  # None: the matrix's base_image
    index_url: str | None = None  # None: the variant's index_url (torch and its dependencies)
    extra_index_url: str = ""
    team_index_url: str = PYPI_SIMPLE  # the index of --extra-requirements (team images)
    wheelhouse: Path | None = None  # install only from here (air-gapped hosts): variant and team builds
    ca_bundle: Path | None = None  # for pip behind a TLS-intercepting proxy; builder stages only
    lock: Path | None = None  # hash-pinned lock installed exactly
    packages: tuple[str, ...] | None = None  # None: the matrix's package set
    no_cache: bool = False
    installer: str = "uv"  # one of INSTALLERS; pip is the fallback
    team_requirements: Path | None = None  # also build a team image FROM the variant image


@dataclass(frozen=True)
class Destination:
    """Where the built image goes: extra tags (a team image's names when building one) and whether to push them."""

    tags: tuple[str, ...] = ()
    push: bool = False
