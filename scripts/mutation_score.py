"""The score of the last `mutmut run` (nox -s mutation): killed / total per module, then each survivor in one line.

Reads mutmut's result files (mutants/**/*.py.meta) and asks mutmut (pinned in the noxfile) for each survivor's diff.
Exit 1 when the killed share of the mutants that ran is below --min percent, 2 when there are no results.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

# mutmut's exit codes per mutant (mutmut/stats.py): a test failure or a timeout kills it.
KILLED = {1, 3, 36}
SURVIVED = 0
NOT_RUN = None


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
    kinds: Counter[str] = Counter()
    for code in codes:
        kinds["killed" if code in KILLED else "survived" if code == SURVIVED
              else "not run" if code is NOT_RUN else "no tests" if code in (5, 33) else "other"] += 1
    return kinds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("mutants/src"), help="mutmut's copy of the sources")
    parser.add_argument("--min", type=float, default=80.0, help="the lowest killed percentage that passes")
    args = parser.parse_args(argv)
    metas = sorted(args.root.rglob("*.py.meta"))
    results = {meta: module_results(meta) for meta in metas}
    if not any(results.values()):
        print(f"mutation: no mutmut results under {args.root}; run `mutmut run` first", file=sys.stderr)
        return 2
    total: Counter[str] = Counter()
    for meta, codes in results.items():
        if codes:
            kinds = tally(list(codes.values()))
            total += kinds
            ran = sum(kinds.values()) - kinds["not run"]
            print(f"{meta.relative_to(args.root).with_suffix('').as_posix():40} killed {kinds['killed']:4}/{ran:<4}"
                  f" {100 * kinds['killed'] / max(ran, 1):5.1f}%  " + " ".join(
                      f"{k} {n}" for k, n in sorted(kinds.items()) if k != "killed"))
    ran = sum(total.values()) - total["not run"]
    score = 100 * total["killed"] / max(ran, 1)
    print(f"{'TOTAL':40} killed {total['killed']:4}/{ran:<4} {score:5.1f}%  (not run: {total['not run']})")
    survivors = [name for codes in results.values() for name, code in codes.items() if code == SURVIVED]
    print(f"\nsurviving mutants ({len(survivors)}):")
    for name in survivors:
        print(f"  {name}: {one_line_diff(name)}")
    if score < args.min:
        print(f"mutation: {score:.1f}% of the mutants that ran were killed, below {args.min:.0f}%", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
