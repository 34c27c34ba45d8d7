"""What a build takes in besides the matrix: one value, passed whole to every build step, and its checks.

A new build input is a field here and, when it can be wrong, a check in `check_inputs`; the variant build and
the team build both receive it; `pipeline.preflight` checks it once, before any build.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import PtkitError

PYPI_SIMPLE = "https://pypi.org/simple"  # the default index of team images and of PyPI-served variants
INSTALLERS = ("uv", "pip")  # what installs the wheels in the builder stage; both check the lock's hashes
# The builder stage's uv, pinned here only: its version (what `ptkit wheelhouse` adds to a wheelhouse); the hash
# of its wheel is the platform's (images.Platform.uv_sha256). The newest release on PyPI as of 2026-11-27.
UV_VERSION = "0.13.9"


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


def check_inputs(inputs: BuildInputs) -> None:
    """Refuse unusable inputs before anything is sent to the daemon."""
    wheelhouse, ca_bundle = inputs.wheelhouse, inputs.ca_bundle
    if wheelhouse is not None and (not wheelhouse.is_dir() or not any(wheelhouse.glob("*.whl"))):
        raise PtkitError(f"--wheelhouse {wheelhouse}: no wheels there (make them with `ptkit wheelhouse`)")
    check_ca_bundle(ca_bundle)
    if inputs.installer not in INSTALLERS:
        raise PtkitError(f"--installer {inputs.installer}: not one of {', '.join(INSTALLERS)}")
    # Never a silent fall back to pip: an offline build with uv needs uv's wheel in the wheelhouse.
    if inputs.installer == "uv" and wheelhouse is not None and not any(wheelhouse.glob(f"uv-{UV_VERSION}-*.whl")):
        raise PtkitError(f"--wheelhouse {wheelhouse} has no uv {UV_VERSION} wheel for --installer uv: remake it with "
                         "`ptkit wheelhouse` (it adds that wheel), or build with --installer pip")
    team = inputs.team_requirements
    if team is not None and not team.is_file():
        raise PtkitError(f"--extra-requirements {team}: no such file")


def check_ca_bundle(path: Path | None) -> None:
    """A --ca-bundle that is not there or not PEM is refused at once (pip would fail later, or not say why); the
    one check of `build` (check_inputs) and `lock` (locks.resolve). Read as a user's file: a FIFO nobody writes is
    empty, a device that never ends stops at the size limit."""
    from .userfiles import read_text

    if path is not None and "BEGIN CERTIFICATE" not in read_text(path, "--ca-bundle"):
        raise PtkitError(f"--ca-bundle {path}: not a PEM certificate bundle")


def index_answers(url: str, ca_bundle: Path | None, timeout: float = 15) -> str | None:
    """None when the package index answers (any HTTP status), else why not, in a few words."""
    import ssl
    import urllib.error
    import urllib.request

    from .docker_api import short

    context = ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)
    request = urllib.request.Request(f"{url.rstrip('/')}/torch/", method="HEAD")
    try:
        urllib.request.urlopen(request, timeout=timeout, context=context).close()
    except urllib.error.HTTPError:
        return None  # it answered: a 404 for torch is pip's to report, with the index's own words
    except (OSError, ValueError) as exc:
        return short(getattr(exc, "reason", exc), 120)
    return None
