"""The process's runtime: threads against usable CPUs, a writable temporary folder, /dev/shm, DataLoader
worker processes."""

from __future__ import annotations

import gc
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .cpus import read_cpus
from .results import FAIL, PASS, WARN, Report, describe

SHM_WARN_BYTES = 1 << 30
# One worker process passing two batches through shared memory tests what breaks in containers
# (fork/spawn, /dev/shm); more workers or samples would only cost start-up time.
DATALOADER_SAMPLES, DATALOADER_BATCH, DATALOADER_WORKERS = 4, 4, 1  # one batch: a worker, shm, no more


def check_threads(report: Report, torch: Any) -> int:
    """torch's thread count (the user's OMP_NUM_THREADS / set_num_threads) against usable CPUs; returns it."""
    threads = torch.get_num_threads()
    cpus = read_cpus()
    omp = os.environ.get("OMP_NUM_THREADS")
    report.environment["cpus"] = {"affinity": cpus.affinity, "quota": cpus.quota, "usable": cpus.usable,
                                  "torch_threads": threads, "OMP_NUM_THREADS": omp}
    source = f"OMP_NUM_THREADS={omp}" if omp else "torch's default or torch.set_num_threads"
    if threads > cpus.usable:
        report.add("threads", WARN, f"torch uses {threads} threads ({source}) but has {cpus.describe()}: "
                   f"oversubscribed, set OMP_NUM_THREADS={cpus.usable}")
    elif threads < cpus.usable:
        report.add("threads", WARN, f"torch uses {threads} thread(s) ({source}) of {cpus.describe()}: "
                   "CPU work runs slower than this environment allows")
    else:
        report.add("threads", PASS, f"torch uses {threads} thread(s) on {cpus.describe()}")
    return threads


# exec: Docker mounts a tmpfs noexec by default, and torch.compile and C++ extensions load the .so they build there
TMP_FIX = "mount one (docker run --tmpfs /tmp:exec) or set TMPDIR to a writable folder"


def check_tmp(report: Report) -> str | None:
    """The temporary folder Python picks (TMPDIR, then /tmp, /var/tmp, /usr/tmp, the working directory:
    the first writable one). A read-only root file system (docker run --read-only) leaves none, and then
    DataLoader workers (multiprocessing's socket for passing tensors), torch.compile and C++ extension
    builds cannot work: returns that reason, for those checks to be a SKIP instead of a failure or a hang."""
    wanted = os.environ.get("TMPDIR")
    try:
        found = tempfile.gettempdir()
    except FileNotFoundError as exc:  # tempfile's own words list every folder it tried
        report.add("tmp", WARN, f"no writable temporary folder ({exc.strerror or exc}): DataLoader workers, "
                   f"torch.compile and C++ extensions need one; {TMP_FIX}")
        return "no writable temporary folder"
    if wanted and os.path.realpath(wanted) != os.path.realpath(found):
        report.add("tmp", WARN, f"TMPDIR={wanted} is not a writable folder: temporary files go to {found} instead; "
                   "point TMPDIR at a writable folder or unset it")
    else:
        report.add("tmp", PASS, f"temporary files go to {found} (writable)")
    return None


def check_shm(report: Report) -> None:
    try:
        st = os.statvfs("/dev/shm")
    except OSError:
        report.add("shm", WARN, "/dev/shm is missing: DataLoader workers cannot share tensors")
        return
    size = st.f_frsize * st.f_blocks
    if size < SHM_WARN_BYTES:
        report.add("shm", WARN, f"/dev/shm is {size / 2**20:.0f} MiB (< 1 GiB): DataLoader workers may "
                   "die with bus errors; use docker run --shm-size=8g or --ipc=host")
    else:
        report.add("shm", PASS, f"/dev/shm is {size / 2**30:.1f} GiB")


class SquaresDataset:
    """Module-level so worker processes can unpickle it under any start method."""

    def __len__(self) -> int:
        return DATALOADER_SAMPLES

    def __getitem__(self, i: int) -> Any:
        import torch

        return torch.full((16,), float(i * i))


@contextmanager
def unraisable_kept() -> Iterator[list[Any]]:
    """Exceptions raised in __del__ while the block runs (and at its garbage collection), kept instead of
    printed: a DataLoader iterator that failed to start raises AttributeError from its __del__, a traceback
    on stderr (torch 2.13) though the failure itself is already this check's result."""
    kept: list[Any] = []
    saved = sys.unraisablehook
    sys.unraisablehook = kept.append
    try:
        yield kept
    finally:
        gc.collect()
        sys.unraisablehook = saved


def shm_cause() -> str:
    if not os.access("/dev/shm", os.W_OK):
        return "/dev/shm is read-only or missing; give the container a writable one (docker run --shm-size=1g)"
    return "workers share tensors through /dev/shm: is it full? (docker run --shm-size=8g or --ipc=host)"


def iterate(report_result: Callable[[str, str], None], expected: float) -> None:
    from torch.utils.data import DataLoader

    loader = DataLoader(SquaresDataset(), batch_size=DATALOADER_BATCH, num_workers=DATALOADER_WORKERS, timeout=60)
    try:
        total = sum(float(batch[:, 0].sum()) for batch in loader)
    except (OSError, RuntimeError) as exc:
        report_result(FAIL, f"{describe(exc)} ({shm_cause()})")
        return
    report_result(PASS if total == expected else FAIL,
                  f"{DATALOADER_WORKERS} worker process(es) iterated {DATALOADER_SAMPLES} samples "
                  f"(checksum {total:.0f}, expected {expected:.0f})")


def check_dataloader(report: Report) -> None:
    """Worker processes and the shared memory they pass tensors through: the smallest load that uses both."""
    with report.timed("dataloader") as result, unraisable_kept():
        iterate(result, float(sum(i * i for i in range(DATALOADER_SAMPLES))))
