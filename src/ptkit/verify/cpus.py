"""CPUs this process may really use: its affinity mask and the CPU quota of its OWN cgroup.

The quota is read where the kernel applies it: /proc/self/cgroup names the process's cgroup in
each hierarchy, /proc/self/mountinfo says where that hierarchy is mounted (and which part of it,
inside a cgroup namespace), and every level from there up to the mount point may limit the CPU
time (cgroup v2 cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us); the smallest limit applies.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Cpus:
    affinity: int  # CPUs in the affinity mask (taskset, docker --cpuset-cpus)
    quota: float | None  # CPUs' worth of time per period the cgroup allows (docker --cpus); None: no limit

    @property
    def usable(self) -> int:
        """Whole CPUs worth running a thread on: a 0.5 quota still runs one thread."""
        if self.quota is None:
            return self.affinity
        return max(1, min(self.affinity, int(self.quota)))

    def describe(self) -> str:
        limits = [f"{self.affinity} in the affinity mask"]
        if self.quota is not None:
            limits.append(f"{self.quota:g} CPU quota")
        return f"{self.usable} usable CPU(s) ({', '.join(limits)})"


def _read(path: str) -> str | None:
    try:
        with open(path) as fh:
            return fh.read()
    except OSError:
        return None


def limit_v2(directory: str) -> float | None:
    text = _read(os.path.join(directory, "cpu.max"))
    parts = text.split() if text else []
    if len(parts) != 2 or parts[0] == "max":
        return None
    return int(parts[0]) / int(parts[1])


def limit_v1(directory: str) -> float | None:
    quota = _read(os.path.join(directory, "cpu.cfs_quota_us"))
    period = _read(os.path.join(directory, "cpu.cfs_period_us"))
    if not quota or not period or int(quota) <= 0:
        return None
    return int(quota) / int(period)


def cgroup_mounts(mountinfo: str) -> Iterator[tuple[str, str, str, set[str]]]:
    """(fstype, root inside the hierarchy, mount point, super options) of each cgroup mount."""
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) >= 5 and len(tail) >= 3 and tail[0] in ("cgroup", "cgroup2"):
            yield tail[0], fields[3], fields[4], set(tail[2].split(","))


def process_cgroups(proc_cgroup: str) -> dict[str, str]:
    """Controller (or 'cgroup2' for the unified hierarchy) -> this process's cgroup path."""
    paths = {}
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and not controllers:
            paths["cgroup2"] = path
        for controller in filter(None, controllers.split(",")):
            paths[controller] = path
    return paths


def walk_limits(mountpoint: str, root: str, path: str, limit: Callable[[str], float | None]) -> list[float]:
    """Limits from the process's cgroup directory up to the mount point."""
    inside = root == "/" or path == root or path.startswith(root.rstrip("/") + "/")
    relative = path[len(root.rstrip("/")):] if inside else ""  # outside our namespace: the mount is ours
    directory = os.path.normpath(mountpoint + "/" + relative)
    found = []
    while True:
        value = limit(directory)
        if value is not None:
            found.append(value)
        if len(directory) <= len(mountpoint.rstrip("/")) or directory == "/":
            return found
        directory = os.path.dirname(directory)


def cgroup_quota(proc_cgroup: str, mountinfo: str) -> float | None:
    paths = process_cgroups(proc_cgroup)
    limits: list[float] = []
    for fstype, root, mountpoint, options in cgroup_mounts(mountinfo):
        if fstype == "cgroup2" and "cgroup2" in paths:
            limits += walk_limits(mountpoint, root, paths["cgroup2"], limit_v2)
        elif fstype == "cgroup" and "cpu" in options and "cpu" in paths:
            limits += walk_limits(mountpoint, root, paths["cpu"], limit_v1)
    return min(limits) if limits else None


def read_cpus() -> Cpus:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    proc_cgroup, mountinfo = _read("/proc/self/cgroup"), _read("/proc/self/mountinfo")
    quota = cgroup_quota(proc_cgroup, mountinfo) if proc_cgroup and mountinfo else None
    return Cpus(affinity, quota)


def usable_cpus() -> int:
    return read_cpus().usable
