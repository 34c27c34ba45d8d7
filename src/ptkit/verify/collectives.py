"""Collective checks with exact expected results, all-reduce bandwidth, and finding a lost peer.

Stdlib + torch only, Python 3.8 syntax: this runs inside images, launched by torchrun.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from .results import FAIL, PASS

HEARTBEAT_S = 0.5
# Bandwidth in GB/s of 1e9 bytes, as nccl-tests prints it.
GB = 1e9


class Ctx:
    """What every collective needs: torch, the process group's rank/size and the tensors' device."""

    def __init__(self, torch: Any, rank: int, world_size: int, device: str, backend: str) -> None:
        self.torch, self.dist = torch, torch.distributed
        self.rank, self.n, self.device, self.backend = rank, world_size, device, backend

    def sync(self) -> None:
        if self.device.startswith("cuda"):
            self.torch.cuda.synchronize(self.device)

    def full(self, value: Any, dtype: Any, numel: int = 1024) -> Any:
        return self.torch.full((numel,), value, dtype=dtype, device=self.device)


def _verdict(ok: bool, what: str, got: Any) -> tuple[str, str]:
    return (PASS, what) if ok else (FAIL, "wrong result: expected " + what + ", got " + str(got))


def allreduce_int(c: Ctx) -> tuple[str, str]:
    # Large integers (2^40 scale) so a reduction done in floating point would show.
    t = c.full((c.rank + 1) << 40, c.torch.int64)
    c.dist.all_reduce(t)
    expected = (c.n * (c.n + 1) // 2) << 40
    return _verdict(bool((t == expected).all()), f"sum {expected} (int64)", t[0].item())


def allreduce_float(c: Ctx) -> tuple[str, str]:
    # rank + 0.25 and every partial sum are exact in float32, so the sum is exact in any order.
    t = c.full(c.rank + 0.25, c.torch.float32)
    c.dist.all_reduce(t)
    expected = c.n * (c.n - 1) / 2 + 0.25 * c.n
    return _verdict(bool((t == expected).all()), f"sum {expected!r} (float32)", t[0].item())


def all_gather(c: Ctx) -> tuple[str, str]:
    mine = c.torch.tensor([c.rank, c.rank * c.rank + 7], dtype=c.torch.int64, device=c.device)
    out = [c.torch.empty_like(mine) for _ in range(c.n)]
    c.dist.all_gather(out, mine)
    got = [t.tolist() for t in out]
    expected = [[r, r * r + 7] for r in range(c.n)]
    return _verdict(got == expected, f"{c.n} rank-ordered pairs", got)


def broadcast(c: Ctx) -> tuple[str, str]:
    src = c.n - 1  # not rank 0: a broadcast that ignores its source would still pass from 0
    t = c.torch.arange(16, dtype=c.torch.int64, device=c.device) * 3 + src
    if c.rank != src:
        t.zero_()
    c.dist.broadcast(t, src)
    expected = [i * 3 + src for i in range(16)]
    return _verdict(t.tolist() == expected, f"rank {src}'s 16 values", t.tolist()[:4])


def barrier(c: Ctx) -> tuple[str, str]:
    if c.backend == "nccl":
        c.dist.barrier(device_ids=[c.torch.device(c.device).index])
    else:
        c.dist.barrier()
    c.sync()
    return PASS, f"all {c.n} ranks arrived"


CHECKS: list[tuple[str, Callable[[Ctx], tuple[str, str]]]] = [
    ("allreduce_int", allreduce_int), ("allreduce_float", allreduce_float),
    ("all_gather", all_gather), ("broadcast", broadcast), ("barrier", barrier),
]


def bus_bandwidth(algbw: float, world_size: int) -> float:
    """All-reduce bus bandwidth as nccl-tests defines it (doc/PERFORMANCE.md, "AllReduce"):
    each element needs 2(n-1) transfers over n links, so busbw = algbw * 2(n-1)/n, a figure
    comparable with the hardware's link bandwidth whatever the number of ranks."""
    return algbw * 2 * (world_size - 1) / world_size


def measure_allreduce(c: Ctx, nbytes: int, iters: int, warmup: int = 3) -> dict[str, Any]:
    """Median time of one float32 all-reduce of `nbytes`, the slowest rank's (the op ends when it does)."""
    t = c.full(0.0, c.torch.float32, max(1, nbytes // 4))  # zeros: repeated sums never overflow
    for _ in range(warmup):
        c.dist.all_reduce(t)
    samples = []
    for _ in range(iters):  # a fixed count on every rank: a time-based loop could desynchronize ranks
        c.sync()
        start = time.perf_counter()
        c.dist.all_reduce(t)
        c.sync()
        samples.append(time.perf_counter() - start)
    slowest = c.full(statistics.median(samples), c.torch.float64, 1)
    c.dist.all_reduce(slowest, op=c.dist.ReduceOp.MAX)
    median = float(slowest.item())
    size = t.numel() * 4
    algbw = size / median / GB
    return {"bytes": size, "dtype": "float32", "median_s": median, "algbw_gbps": algbw,
            "busbw_gbps": bus_bandwidth(algbw, c.n)}


class Heartbeat:
    """Each rank bumps a counter in the rendezvous store; a rank whose counter stops is lost.

    Counters, not timestamps: nodes' clocks need not agree. The thread keeps beating while the
    main thread is blocked in a collective (torch releases the GIL there).
    """

    def __init__(self, torch: Any, addr: str, port: int, rank: int, prefix: str) -> None:
        self._connect = lambda: torch.distributed.TCPStore(
            addr, port, is_master=False, timeout=timedelta(seconds=5), wait_for_workers=False)
        self.rank, self.prefix = rank, prefix
        self._stop = threading.Event()
        store = self._connect()
        threading.Thread(target=self._beat, args=(store,), daemon=True).start()

    def _beat(self, store: Any) -> None:
        while not self._stop.is_set():
            try:
                store.add(self.prefix + str(self.rank), 1)
            except Exception:  # noqa: BLE001 - the store's host is gone; lost() reports it
                return
            self._stop.wait(HEARTBEAT_S)

    def stop(self) -> None:
        self._stop.set()

    def lost(self, world_size: int) -> list[int] | None:
        """Ranks whose counter did not move over three beats; None when the store is unreachable."""
        try:
            store = self._connect()
            keys = [self.prefix + str(r) for r in range(world_size)]
            before = [store.add(k, 0) for k in keys]
            time.sleep(3 * HEARTBEAT_S)
            after = [store.add(k, 0) for k in keys]
        except Exception:  # noqa: BLE001 - the rendezvous host itself is gone
            return None
        return [r for r in range(world_size) if r != self.rank and after[r] == before[r]]
