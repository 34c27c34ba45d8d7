"""`ptkit diff A B`: packages added, removed and changed (Python and Debian) and changed torch facts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .snapshot import FACTS, Snapshot


@dataclass(frozen=True)
class Change:
    section: str  # python, debian, facts, fingerprint
    name: str
    before: Any  # None: added
    after: Any  # None: removed

    def __str__(self) -> str:
        if self.before is None:
            return f"{self.section}: added {self.name} {_show(self.after)}"
        if self.after is None:
            return f"{self.section}: removed {self.name} {_show(self.before)}"
        return f"{self.section}: changed {self.name} {_show(self.before)} -> {_show(self.after)}"


def _show(value: Any) -> str:
    return (" ".join(map(str, value)) or "(none)") if isinstance(value, list) else str(value)


def packages(section: str, a: dict[str, str], b: dict[str, str]) -> list[Change]:
    return [Change(section, name, a.get(name), b.get(name))
            for name in sorted(set(a) | set(b)) if a.get(name) != b.get(name)]


def facts(a: dict[str, Any], b: dict[str, Any]) -> list[Change]:
    """torch, CUDA, cuDNN, NCCL, arch list; a fact neither side knows is no change."""
    return [Change("facts", key, "unknown" if a.get(key) is None else a[key],
                   "unknown" if b.get(key) is None else b[key])
            for key in FACTS if a.get(key) != b.get(key)]


def diff(a: Snapshot, b: Snapshot) -> tuple[list[Change], list[str]]:
    """(changes, what could not be compared)."""
    changes: list[Change] = []
    unknown: list[str] = []
    for section in ("python", "debian"):
        left, right = getattr(a, section), getattr(b, section)
        if left is None or right is None:
            unknown.append(f"{section} packages ({(a if left is None else b).label} does not list them)")
        else:
            changes += packages(section, left, right)
    changes += facts(a.facts, b.facts)
    if a.fingerprint and b.fingerprint and a.fingerprint != b.fingerprint:
        changes.append(Change("fingerprint", "environment", a.fingerprint, b.fingerprint))
    return changes, unknown


def compared(a: Snapshot, b: Snapshot) -> list[str]:
    """What the two sides let diff compare: package sections both list, facts either knows, both fingerprints."""
    what = [f"{section} packages" for section in ("python", "debian")
            if getattr(a, section) is not None and getattr(b, section) is not None]
    what += [key for key in FACTS if a.facts.get(key) is not None or b.facts.get(key) is not None]
    return what + (["fingerprint"] if a.fingerprint and b.fingerprint else [])


def render(a: Snapshot, b: Snapshot, changes: list[Change], unknown: list[str]) -> list[str]:
    """The diff's lines; "identical" only when everything was compared, else what the sameness covers."""
    lines = [f"--- {a.label}", f"+++ {b.label}", *map(str, changes)]
    lines += [f"not compared: {what}" for what in unknown]
    if changes:
        lines.append(f"{len(changes)} difference(s)")
    else:
        lines.append(f"identical in what was compared: {', '.join(compared(a, b))}" if unknown else "identical")
    return lines
