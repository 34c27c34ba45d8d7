"""Numerical health: matmul accuracy per device and dtype against float64, and autograd."""

from __future__ import annotations

from typing import Any

from .precision import matmul_precision, supported_dtypes, torch_dtype
from .results import FAIL, PASS, SKIP, Report

# dtype -> tolerance on the normwise relative error of an n x n matmul against float64: a few
# units of each format's rounding error times sqrt(n), sized for n = 256. MATMUL_N = 128 keeps the
# check cheap on a CPU; its expected errors (fp32 ~1.5e-7, fp16 ~2e-4, bf16 ~1.6e-3) stay well below.
TOLERANCE = {"fp32": 1e-5, "tf32": 5e-3, "fp16": 5e-3, "bf16": 3e-2}
MATMUL_N = 128


def matmul_error(torch: Any, device: str, dtype: str, n: int = MATMUL_N) -> float:
    """Normwise relative error of a matmul against a float64 reference on the same (rounded) inputs."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(torch_dtype(torch, dtype))
    b = torch.randn(n, n, generator=gen).to(torch_dtype(torch, dtype))
    with matmul_precision(torch, dtype):
        got = torch.matmul(a.to(device), b.to(device)).cpu().double()
    ref = torch.matmul(a.double(), b.double())
    return float(torch.norm(got - ref) / torch.norm(ref))


def check_matmul(report: Report, torch: Any, device: str, dtype: str) -> None:
    with report.timed(f"numerics:{device}:{dtype}") as result:
        err = matmul_error(torch, device, dtype)
        tol = TOLERANCE[dtype]
        status = PASS if err <= tol else FAIL
        result(status, f"matmul relative error {err:.2e} ({'<=' if status == PASS else '>'} {tol:.0e})")


def check_numerics(report: Report, torch: Any, devices: list[str]) -> None:
    """Every dtype the device supports is checked; the others are a SKIP that says why."""
    for device in devices:
        with report.guarded(f"numerics:{device}"):
            usable, refused = supported_dtypes(torch, device)
            for dtype in usable:
                check_matmul(report, torch, device, dtype)
            for dtype, why in refused.items():
                report.add(f"numerics:{device}:{dtype}", SKIP, why)


def check_autograd(report: Report, torch: Any, device: str) -> None:
    """d/dx sum((A x)^2) = 2 A^T A x, computed by backward and by hand."""
    with report.timed(f"autograd:{device}") as result:
        gen = torch.Generator().manual_seed(1)
        a = torch.randn(64, 64, generator=gen, dtype=torch.float64).to(device)
        x = torch.randn(64, generator=gen, dtype=torch.float64).to(device).requires_grad_()
        (a @ x).pow(2).sum().backward()
        expected = 2 * a.t() @ (a @ x.detach())
        err = float((x.grad - expected).abs().max() / expected.abs().max())
        result(PASS if err < 1e-10 else FAIL, f"backward matches analytic gradient (max rel err {err:.1e})")
