"""Every catalog GPU x every CUDA image of the reports: runs natively, runs by PTX JIT, or does not run, and why.

The arch rule is verify/archs.py's (the one the verifier's arch:cuda:N and `ptkit select` apply); an image's archs
are its fatbin listing's (what libtorch_cuda.so really holds) where the report carries one, else torch's arch
list. An arm64 GPU (superchip, Jetson) cannot run an x86_64 image. GPUs of one compute capability and CPU share
their verdicts, so they share a row: every model is named, and the table stays readable.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..verify.archs import classify, parse_capability, why_not
from ..verify.catalog import GPUS
from ..verify.fatbin_check import TORCH_LIBRARY, general_archs
from ..verify.results import PASS, WARN
from .model import Loaded

NATIVE, JIT, NO = "native", "PTX JIT", "no"
LEGEND = ("Every catalog GPU (gpus.toml) on every CUDA image: native (its SASS runs as built), PTX JIT (the driver "
          "compiles PTX at first launch) or no, by CUDA's binary-compatibility rule (verify/archs.py) applied to "
          "the image's fatbin listing where recorded, else torch's arch list. Drivers are `ptkit select`'s part.")


@dataclass(frozen=True)
class Image:
    name: str  # the report's variant and torch (a row's other source holds another torch)
    archs: list[str]
    machine: str  # x86_64, arm64 or "" when the report does not say
    from_fatbin: bool


@dataclass(frozen=True)
class Verdict:
    outcome: str  # NATIVE, JIT or NO
    why: str

    def __str__(self) -> str:
        return f"{self.outcome}: {self.why}"


def machine_of(platform: str) -> str:
    """'Linux-6.1-x86_64-with-glibc2.36' -> 'x86_64'; aarch64 is arm64."""
    return "arm64" if ("aarch64" in platform or "arm64" in platform) else "x86_64" if "x86_64" in platform else ""


def images(reports: list[Loaded]) -> list[Image]:
    """One per CUDA variant (and source) and machine of the reports, in report order; a second flavor adds
    nothing. A row's arm64 build is its own column: its arch list is not the x86_64 build's (issue 21)."""
    seen: dict[str, Image] = {}
    for r in reports:
        archs, cuda = r.get("environment.build.arch_list"), r.get("environment.cuda")
        if not cuda or not isinstance(archs, list) or not archs:
            continue
        machine = machine_of(str(r.get("environment.platform") or ""))
        on = "" if machine in ("x86_64", "") else f" on {machine}"
        name = f"{r.variant}{on} (torch {r.get('environment.torch')})"
        listing = r.get("environment.build.fatbin")
        counts = listing.get(TORCH_LIBRARY) if isinstance(listing, dict) else None
        truth = general_archs(counts) if isinstance(counts, dict) and counts else [str(a) for a in archs]
        seen.setdefault(name, Image(name, truth, machine, bool(counts)))
    return list(seen.values())


def judge(capability: str, cpu: str, image: Image) -> Verdict:
    status, arch = classify(capability, image.archs)
    if status == PASS and arch is not None:
        verdict = Verdict(NATIVE, f"{arch.text} SASS")
    elif status == WARN and arch is not None:
        verdict = Verdict(JIT, f"{arch.text} PTX, compiled at first launch")
    else:
        verdict = Verdict(NO, why_not(capability, image.archs))
    if cpu == "arm64" and image.machine == "x86_64":  # the archs would decide for an arm64 build of the row
        return Verdict(NO, f"an x86_64 image on an arm64 host (by its archs alone: {verdict})")
    return verdict


def groups() -> list[tuple[str, str, list[str]]]:
    """(capability, cpu, [model, ...]) for the catalog's models, by capability then CPU."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for gpu in GPUS.values():
        grouped.setdefault((str(gpu["capability"]), str(gpu.get("cpu", ""))), []).append(str(gpu["model"]))
    return [(cap, cpu, models) for (cap, cpu), models in sorted(grouped.items(),
                                                                key=lambda g: (parse_capability(g[0][0]), g[0][1]))]


def table(reports: list[Loaded]) -> tuple[list[str], list[list[str]]]:
    """(head, rows) of the verdict table: one row per capability and CPU, one column per image."""
    shown = images(reports)
    head = ["capability", "GPUs", *(i.name + (" (fatbin)" if i.from_fatbin else "") for i in shown)]
    rows = []
    for cap, cpu, models in groups():
        rows.append([cap + (f" ({cpu})" if cpu else ""), ", ".join(models),
                     *(str(judge(cap, cpu, image)) for image in shown)])
    return head, rows
