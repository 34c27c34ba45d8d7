"""nox sessions: `lint`, `tests`, and one session per variant of matrix.toml.

    nox -l                       # every session, one line each
    nox -s cpu -- --base-image "$(ptkit base --if-missing)" --wheelhouse .cache/wheelhouse/cpu
    nox -s cuda130 -- --wheelhouse DIR
    nox -t images                # every variant (tags: images, cpu, cuda)
    nox -s matrix -- [--variants cuda124 cpu] [--base-image IMG]   # every row as main.sh builds it, disk bounded

A variant session builds ptkit:<variant> (devel) and ptkit:<variant>-runtime through the Docker SDK,
runs the verifier in a container of each (GPUs attached when the host has the NVIDIA runtime),
writes reports/<variant>.json and reports/<variant>-runtime.json, and fails when a verifier fails.
Everything after `--` goes to `ptkit check` (see `ptkit check --help`).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).parent
sys.path.insert(0, str(ROOT / "src"))
from ptkit import matrix  # noqa: E402 - stdlib-only loader of the data file
from ptkit.platforms import DEFAULT_PLATFORM, Platform  # noqa: E402 - the platform rows the matrix names

nox.needs_version = ">=2024.10.9"  # @nox.session(default=False): a bare `nox` runs lint and tests only
nox.options.reuse_existing_virtualenvs = True


def _load() -> matrix.Matrix | None:
    try:
        return matrix.load(ROOT / "matrix.toml")
    except matrix.MatrixError as exc:
        print(f"noxfile: {exc}", file=sys.stderr)
        return None


MATRIX = _load()

def _platform_images() -> list[tuple[matrix.Variant, Platform]]:
    """Each row and source with each platform other than the default it is built for (cuda130 on linux/arm64)."""
    every = MATRIX.every_source() if MATRIX else []
    return [(v, v.on(p)) for v in every for p in v.platforms if p != DEFAULT_PLATFORM.name]


SESSIONS = ["lint", "tests", "distributed", "matrix", "mutation", *(MATRIX.variants if MATRIX else ()),
            *(p.named(v.image_name) for v, p in _platform_images())]


def _dev_requirement(name: str) -> str:
    """The tool's requirement as pyproject.toml's `dev` extra pins it (one place for its version)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10: the same parser, from PyPI
        import tomli as tomllib
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    return next(r for r in dev if re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0] == name)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff; conda specs, the driver table of docs/reference, the CI workflow and the verifier's GPU catalog
    (verify/catalog.py, generated from gpus.toml) in step with the matrix, facts and catalog."""
    session.install(_dev_requirement("ruff"))
    session.run("ruff", "check", ".")
    session.install("-e", ".")
    session.run("ptkit", "render", "--check")
    session.run("ptkit", "ci", "github", "--check")
    session.run("python", "-m", "ptkit.compat.catalog", "--check")


@nox.session
def tests(session: nox.Session) -> None:
    """pytest: unit tests, then the Docker tests (real engine, real builds, a real registry)."""
    _install_cpu_torch(session)
    session.install("-e", ".[dev]")
    session.run("pytest", *session.posargs)


def _install_cpu_torch(session: nox.Session) -> None:
    """The CPU torch of the matrix (set PIP_EXTRA_INDEX_URL to its index where no local wheel exists)."""
    cpu = MATRIX.get("cpu") if MATRIX else None
    session.install(f"torch=={cpu.torch}" if cpu else "torch")


@nox.session(name="distributed", tags=["cluster"], default=False)
def distributed(session: nox.Session) -> None:
    """torchrun across N containers: `nox -s distributed -- VARIANT [--nodes N] [build options]` (`ptkit distributed`)

    Build options (--wheelhouse, --base-image, ...) build the devel image with them; without any, the image built
    from this commit (e.g. by scripts/main.sh) is used as it is, else built as `ptkit build` would.
    """
    session.install("-e", ".[host]")
    session.run("ptkit", "distributed", *session.posargs)


@nox.session(name="matrix", default=False)
def matrix_session(session: nox.Session) -> None:
    """every row and source as `bash scripts/main.sh ROW [--source S]` builds it (both flavors), disk bounded: RUN.md

    benchmarks/matrix_run.py does it (devel and runtime verified, each row's images removed before the next; exit
    codes, times, sizes, peak disk, in docs/evidence/matrix/RUN.md).
    """
    session.install("-e", ".[host]")
    session.run("python", str(ROOT / "benchmarks" / "matrix_run.py"), *session.posargs)


@nox.session(default=False)
def mutation(session: nox.Session) -> None:
    """mutmut over what pyproject.toml [tool.mutmut] lists, with its in-process tests; fails below 80% killed.

    only_mutate: the verifier (src/ptkit/verify/) and the host's matrix.py, render.py, locks.py, pipeline.py,
    compat/, cluster/ and repro/, less do_not_mutate (distributed, collectives, compile_check, compile_probes,
    __main__ and the generated catalog). One worker, to leave the host's cores to the rest.
    `nox -s mutation -- "ptkit.verify.results.*"` runs a subset.
    """
    if os.geteuid() == 0:
        # A mutant runs changed code for real: one that inverted a test of which folders a failed `ptkit lock` had
        # made removed from `/` as root on this project's machine (2026-12-03, /etc among it). Not as root, then.
        session.error("mutation testing runs mutated code that can delete files: run it as a user who owns this "
                      "checkout and nothing else (not root), or in a throwaway container")
    _install_cpu_torch(session)  # without torch the tests skip and no mutant could be killed
    session.install("-e", ".[dev]")  # mutmut, pinned in the dev extra
    session.run("mutmut", "run", "--max-children", "1", *session.posargs)
    session.run("python", "scripts/mutation_score.py", "--min", "80")


def _variant_session(variant: matrix.Variant) -> None:
    def run(session: nox.Session) -> None:
        session.install("-e", ".[host]")
        session.run("ptkit", "check", variant.name, *session.posargs)

    cuda = f"CUDA {variant.cuda}" if variant.cuda else "CPU"
    others = "".join(f"; --source {s}: torch {pins['torch']}" for s, pins in variant.alternatives.items()
                     if DEFAULT_PLATFORM.name in pins.get("platforms", variant.platforms))
    run.__doc__ = (f"build ptkit:{variant.name} and ptkit:{variant.name}-runtime (torch {variant.torch}, {cuda}"
                   f"{others}) and verify them in containers")
    nox.session(name=variant.name, tags=["images", "cuda" if variant.is_cuda else "cpu"], default=False)(run)


for _variant in (MATRIX.variants.values() if MATRIX else ()):
    _variant_session(_variant)


def _platform_session(variant: matrix.Variant, platform: Platform) -> None:
    """`nox -s cuda130-arm64`: `ptkit check` of the row and source for that platform, tagged with its name (arm64),
    not among `-t images` (emulated on another machine's host: `bash scripts/main.sh ROW --platform P` sets it up)."""
    source = [] if variant.default_source else ["--source", variant.source]

    def run(session: nox.Session) -> None:
        session.install("-e", ".[host]")
        session.run("ptkit", "check", variant.name, *source, "--platform", platform.name, *session.posargs)

    name = platform.named(variant.image_name)
    run.__doc__ = f"build ptkit:{name} and ptkit:{name}-runtime (torch {variant.torch}) and verify them in containers"
    nox.session(name=name, tags=[platform.arch], default=False)(run)


for _variant, _platform in _platform_images():
    _platform_session(_variant, _platform)


def _unknown_sessions(argv: list[str]) -> list[str]:
    """Names after -s/--session(s) that no session has: nox alone would not list the valid ones."""
    names, taking = [], False
    for arg in argv:
        if arg in ("-s", "-e", "--session", "--sessions"):
            taking = True
        elif arg.startswith("-"):
            taking = False
        elif taking:
            names += [n for n in arg.split(",") if n and n not in SESSIONS]
    return names


if unknown := _unknown_sessions(sys.argv[1:]):
    print(f"noxfile: unknown session(s) {', '.join(unknown)}; valid: {', '.join(SESSIONS)}", file=sys.stderr)
