"""`ptkit select`: which variants run on a driver and GPU, best first, and why the others do not.

The facts are the verifier's own: its driver judgement (MIN_DRIVER, MINOR_COMPAT_FLOOR) and its arch
judgement against the compiled arch list each variant's report recorded. Without a report the arch
list is unknown, and the answer says so instead of guessing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import UsageError
from ..matrix import Variant
from ..matrix_report.model import Loaded
from ..platforms import DEFAULT_PLATFORM, PLATFORMS, Platform, by_machine, reported_on
from ..toolchain import has_compiler
from ..verify.archs import first_supporting, judge_arch
from ..verify.catalog import GPUS
from ..verify.facts import MIN_DRIVER, cuda_key, gpu_key, version_tuple
from ..verify.gpu import judge_driver
from ..verify.results import FAIL, PASS, WARN, table
from .gpus import Gpu

# Tiers, best first. A variant in RUNS tiers is expected to work; the rest are explained.
NATIVE, PTX, MINOR, FORWARD = "native", "jit-from-ptx", "minor-compat", "forward-compat"
CPU_ONLY, UNKNOWN, NO = "cpu-only", "unknown", "no"
TIERS = (NATIVE, PTX, MINOR, FORWARD, CPU_ONLY, UNKNOWN, NO)
USES_GPU = (NATIVE, PTX, MINOR, FORWARD)
NO_REPORT = "no report: arch list unknown, build and check it first (`{check}`)"
PTX_NEEDS_FULL_DRIVER = ("JIT from PTX needs the full driver of this CUDA release: minor-version "
                         "compatibility does not cover PTX built by a newer toolkit")
# NVIDIA's forward compatibility: a newer user-mode driver (the cuda-compat-X-Y package) over an older kernel
# driver, on data-center GPUs, select NGC Server Ready RTX SKUs and Jetson only, and only on the driver
# branches the package supports (https://docs.nvidia.com/deploy/cuda-compatibility/forward-compatibility.html).
FORWARD_KINDS = ("data-center", "superchip", "embedded")
FORWARD_NOTE = ("runs only with NVIDIA's forward-compatibility package cuda-compat-{pkg} in the container "
                "(its libcuda on LD_LIBRARY_PATH), if driver {driver}'s branch is one it supports: "
                "docs.nvidia.com/deploy/cuda-compatibility/forward-compatibility.html")


@dataclass
class Verdict:
    variant: str
    torch: str
    cuda: str
    tier: str
    source: str = "pytorch"  # of the pins the verdict is about: the report's, else the row's own
    check: str = ""  # the command that builds and verifies that image
    reasons: list[str] = field(default_factory=list)
    full_driver: bool = False  # the driver meets this CUDA release's minimum, no minor-version compatibility
    cuda_extensions: bool = False  # its devel image has nvcc (ptkit.toolchain): CUDA extensions build there

    @property
    def runs(self) -> bool:
        return self.tier in (*USES_GPU, CPU_ONLY)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "runs": self.runs, "uses_gpu": self.tier in USES_GPU}


def host_cpu(gpu: Gpu) -> str:
    """'arm64' for a catalog superchip or Jetson module (their CPU is part of them), else '' (unknown or x86_64)."""
    key = gpu_key(gpu.name) if gpu.name else None
    return str(GPUS[key].get("cpu", "")) if key else ""


def host_platform(gpu: Gpu, asked: str | None, machine: str) -> Platform:
    """The platform of the GPU's host, the one rule of which images can run there: --platform, else the CPU the
    catalog gives the model (a superchip's Grace, a Jetson's cores), else this machine's (platform.machine()).
    A --platform the catalog contradicts is refused: an x86 image never runs beside a GH200."""
    cpu = host_cpu(gpu)
    listed = next((p for p in PLATFORMS.values() if p.arch == cpu), None) if cpu else None
    if asked and listed and asked != listed.name:
        raise UsageError(f"--platform {asked}: the GPU catalog gives {gpu.name} a {listed.name} host")
    found = PLATFORMS.get(asked or "") or listed or by_machine(machine)
    if found is None:
        raise UsageError(f"no image is built for this host's machine {machine!r}: give --platform "
                         f"({', '.join(PLATFORMS)}) to plan for another host")
    return found


def offered(row: Variant, platform: Platform) -> Variant:
    """The row's first source built for the platform (cpu on arm64: its PyPI source), else the row itself."""
    return next((v for v in map(row.from_source, row.sources) if platform.name in v.platforms), row)


def forward_compatible(gpu: Gpu) -> bool:
    """A model the catalog lists as a data-center, superchip or Jetson GPU (a bare capability could be any)."""
    key = gpu_key(gpu.name) if gpu.name else None
    return bool(key) and GPUS[key]["kind"] in FORWARD_KINDS


def _driver_tier(verdict: Verdict, gpu: Gpu) -> str | None:
    """The tier the driver allows (NATIVE when it meets the minimum), None when it rules the variant out."""
    status, detail = judge_driver(verdict.cuda, gpu.driver, cuda_usable=True)
    verdict.reasons.append(detail)
    verdict.full_driver = status == PASS
    if status == FAIL and forward_compatible(gpu):
        verdict.reasons.append(FORWARD_NOTE.format(pkg=cuda_key(verdict.cuda).replace(".", "-"), driver=gpu.driver))
        return FORWARD
    return {PASS: NATIVE, WARN: MINOR}.get(status)


def judge(variant: Variant, report: Loaded | None, gpu: Gpu, rows: list[str] | tuple[str, ...] = (),
          platform: Platform = DEFAULT_PLATFORM) -> Verdict:
    """One variant on one GPU and driver, on a host of `platform`; the torch and CUDA release the verifier found
    win over the matrix's (a report of the variant's other source, `--source pypi`, holds another torch). `rows`
    ('name=arch,...', newest first): where no compiled arch runs, the reason names the first of them that does."""
    found = report.get if report else (lambda _key: None)
    cuda = str(found("environment.cuda") or variant.cuda or "")
    source = str(found("run.source") or variant.source)
    own = source == variant.source and variant.default_source
    check = f"ptkit check {variant.name}" + ("" if own else f" --source {source}")
    check += "" if platform == DEFAULT_PLATFORM else f" --platform {platform.name}"
    verdict = Verdict(variant.name, str(found("environment.torch") or variant.torch), cuda, NO, source, check)
    verdict.cuda_extensions = has_compiler(variant)
    if platform.name not in variant.platforms:
        verdict.reasons.append(f"built for {', '.join(variant.platforms)} only (its matrix key 'platforms'): "
                               f"not for this {platform.name} host")
        return verdict
    if not cuda:
        verdict.tier = CPU_ONLY
        verdict.reasons.append("CPU-only build: runs on any host but never uses the GPU")
        return verdict
    if cuda_key(cuda) not in MIN_DRIVER:
        verdict.tier = UNKNOWN
        verdict.reasons.append(f"no minimum driver known for CUDA {cuda}: add it to ptkit/verify/facts.py")
        return verdict
    driver_tier = _driver_tier(verdict, gpu)
    arch_list = found("environment.build.arch_list")
    if driver_tier is None:
        return verdict
    if not isinstance(arch_list, list) or not arch_list:
        verdict.tier = UNKNOWN
        verdict.reasons.append(NO_REPORT.format(check=check) if report is None else
                               f"{report.path} records no compiled arch list: check the variant again")
        return verdict
    archs = [str(a) for a in arch_list]
    others = [r for r in rows if not r.startswith(f"{variant.name}=")]
    arch_status, arch_detail = judge_arch(gpu.capability, archs, cuda, first_supporting(gpu.capability, others))
    verdict.reasons.append(arch_detail)
    if arch_status == FAIL:
        return verdict
    if driver_tier == MINOR and arch_status == WARN:
        verdict.reasons.append(PTX_NEEDS_FULL_DRIVER)
        return verdict
    verdict.tier = driver_tier if driver_tier != NATIVE else NATIVE if arch_status == PASS else PTX
    return verdict


def arch_rows(variants: dict[str, Variant], reports: dict[str, Loaded]) -> list[str]:
    """'variant=arch,...' of every variant whose report records an arch list, newest CUDA release first."""
    rows = []
    for name in variants:
        report = reports.get(name)
        archs = report.get("environment.build.arch_list") if report else None
        cuda = str(report.get("environment.cuda") or "") if report else ""
        if isinstance(archs, list) and archs and cuda:
            rows.append((version_tuple(cuda), f"{name}=" + ",".join(str(a) for a in archs)))
    return [row for _, row in sorted(rows, key=lambda r: r[0], reverse=True)]


def rank(variants: dict[str, Variant], reports: dict[str, Loaded], gpu: Gpu,
         platform: Platform = DEFAULT_PLATFORM) -> list[Verdict]:
    """Best first: by tier, then the newest CUDA release, then the newest torch. Each row as built for the host's
    platform, judged by the reports of images of that platform only (another machine's arch list is not its)."""
    rows_here = {name: offered(row, platform) for name, row in variants.items()}
    mine = {name: r for name, r in reports.items() if of_platform(r, platform)}
    rows = arch_rows(rows_here, mine)
    verdicts = [judge(v, mine.get(name), gpu, rows, platform) for name, v in rows_here.items()]
    return sorted(verdicts, key=lambda v: (TIERS.index(v.tier), not v.full_driver, _desc(v.cuda), _desc(v.torch),
                                           v.variant))


def _desc(version: str) -> tuple[int, ...]:
    return tuple(-p for p in version_tuple(version.split("+")[0]))


def by_variant(reports: list[Loaded], platform: Platform | None = None) -> dict[str, Loaded]:
    """The reports keyed by the variant they verified, of images of `platform` only when given (a row's arm64
    and x86_64 builds are two reports with two arch lists); where several did, the one named last."""
    return {r.variant: r for r in reports if platform is None or of_platform(r, platform)}


def of_platform(report: Loaded, platform: Platform) -> bool:
    """Whether the report's image is of the platform (its Python's platform string names the machine); a report
    that does not say is taken for any."""
    return reported_on(report.get("environment.platform"), platform.machine)


def render_text(verdicts: list[Verdict], gpu: Gpu, platform: Platform = DEFAULT_PLATFORM) -> str:
    where = (f"driver {gpu.driver}, compute capability {gpu.capability}" + (f" ({gpu.name})" if gpu.name else "")
             + f", a {platform.name} host")
    best = next((v for v in verdicts if v.tier in USES_GPU), None)
    unknown = [v.variant for v in verdicts if v.tier == UNKNOWN]
    lines = [f"ptkit select: {where}",
             f"best: {best.variant} (torch {best.torch}, CUDA {best.cuda}): `{best.check}` builds it"
             + ("; its devel image builds CUDA extensions (nvcc)" if best.cuda_extensions else "") if best else
             f"best: none known; check these first: {', '.join(unknown)}" if unknown else
             "best: none of the variants can use this GPU", ""]
    rows = [["#", "variant", "torch", "CUDA", "runs", "why"]]
    for i, v in enumerate(verdicts, 1):
        rows.append([str(i) if v.runs else "-", v.variant, v.torch, v.cuda or "-",
                     "yes" if v.tier == NATIVE else v.tier, "; ".join(v.reasons)])
    return "\n".join(lines + table(rows))


def to_json(verdicts: list[Verdict], gpu: Gpu, platform: Platform = DEFAULT_PLATFORM) -> dict[str, Any]:
    best = next((v.variant for v in verdicts if v.tier in USES_GPU), None)
    return {"gpu": asdict(gpu), "platform": platform.name, "best": best, "variants": [v.to_dict() for v in verdicts]}

