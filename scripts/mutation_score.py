"""The score of the last `mutmut run` (nox -s mutation): per module and per area, then each survivor in one line.

Reads mutmut's result files (mutants/**/*.py.meta) and names each exit code as mutmut itself does
(mutmut.stats.status_by_exit_code of the version the noxfile pins): killed, timeout, survived, not checked, and the
rest (no tests, suspicious, segfault...). The score is killed / (ran - timed out): a timed-out mutant is reported,
never counted as killed. An area is a top-level part of the package (verify, matrix, render, locks, pipeline,
compat, cluster, repro). Exit 1 when an area that ran is below --min percent, 2 when there are no results.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

COLUMNS = ("killed", "timeout", "survived", "not checked")


def module_results(meta: Path) -> dict[str, int | None]:
    return json.loads(meta.read_text())["exit_code_by_key"]


def one_line_diff(name: str) -> str:
    """The mutant as `old -> new`: the first removed and added lines of mutmut's diff."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant  # mutmut's API of the pinned version

    lines = get_diff_for_mutant(name).splitlines()
    old = next((ln[1:].strip() for ln in lines if ln.startswith("-") and not ln.startswith("---")), "")
    new = next((ln[1:].strip() for ln in lines if ln.startswith("+") and not ln.startswith("+++")), "")
    return f"{old[:70]}  ->  {new[:70]}"


def tally(codes: list[int | None]) -> Counter[str]:
    """How many mutants of each status (mutmut's names)."""
    from mutmut.stats import status_by_exit_code

    return Counter(status_by_exit_code[code] for code in codes)


def score(kinds: Counter[str]) -> tuple[int, float]:
    """(mutants judged, killed percent of them): judged = ran, less the timed out and the not checked."""
    judged = sum(kinds.values()) - kinds["timeout"] - kinds["not checked"]
    return judged, 100 * kinds["killed"] / max(judged, 1)


def line(name: str, kinds: Counter[str]) -> str:
    judged, pct = score(kinds)
    others = " ".join(f"{k} {n}" for k, n in sorted(kinds.items()) if k not in COLUMNS)
    return (f"{name:40} killed {kinds['killed']:4}/{judged:<4} {pct:5.1f}%  timeout {kinds['timeout']:3}  "
            f"survived {kinds['survived']:4}  not run {kinds['not checked']:4}  {others}").rstrip()


def area(module: str) -> str:
    """'ptkit/verify/gpu' -> 'verify'; 'ptkit/matrix' -> 'matrix'."""
    return module.split("/")[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("mutants/src"), help="mutmut's copy of the sources")
    parser.add_argument("--min", type=float, default=80.0, help="the lowest killed percentage an area passes with")
    args = parser.parse_args(argv)
    results = {meta.relative_to(args.root).with_suffix("").with_suffix("").as_posix(): module_results(meta)
               for meta in sorted(args.root.rglob("*.py.meta"))}
    if not any(results.values()):
        print(f"mutation: no mutmut results under {args.root}; run `mutmut run` first", file=sys.stderr)
        return 2
    areas: dict[str, Counter[str]] = {}
    for module, codes in results.items():
        if codes:
            kinds = tally(list(codes.values()))
            areas.setdefault(area(module), Counter()).update(kinds)
            print(line(module, kinds))
    print("\nper area:")
    for name, kinds in sorted(areas.items()):
        print(line(name, kinds))
    print(line("TOTAL", sum(areas.values(), Counter())))
    survivors = [name for codes in results.values() for name, code in codes.items() if code == 0]
    print(f"\nsurviving mutants ({len(survivors)}):")
    for name in survivors:
        print(f"  {name}: {one_line_diff(name)}")
    low = [f"{name} {score(kinds)[1]:.1f}%" for name, kinds in sorted(areas.items())
           if score(kinds)[0] and score(kinds)[1] < args.min]
    if low:
        print(f"mutation: below {args.min:.0f}% killed: {', '.join(low)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
