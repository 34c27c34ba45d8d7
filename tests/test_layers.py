"""The README's architecture claims, held: no import runs back up the house (no cycle between ptkit's modules,
nor between its folders drawn as one room each), and the verifier imports nothing else of ptkit.
Lazy imports inside functions count: they run too."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "ptkit"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(name: str) -> set[str]:
    """The ptkit modules `name` imports, wherever in the file the import stands."""
    path = MODULES[name]
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            start = package[:len(package) - node.level + 1] if node.level else []
            base = ".".join([*start, node.module or ""]).rstrip(".")
            found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {m for m in found if m in MODULES and m != name}


def room(name: str) -> str:
    """ptkit.verify.steps -> verify/; ptkit.pipeline -> pipeline.py (a folder is one room, a file at the top one)."""
    parts = name.split(".")
    return f"{parts[1]}/" if len(parts) > 2 else f"{parts[-1]}.py"


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected parts of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = stack[stack.index(v):]
            del stack[stack.index(v):]
            if len(part) > 1:
                found.append(sorted(part))

    for v in list(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_between_modules_or_folders():
    graph = {name: imports(name) for name in MODULES if name != "ptkit"}
    assert cycles(graph) == []
    rooms: dict[str, set[str]] = {}
    for name, targets in graph.items():
        rooms.setdefault(room(name), set()).update(room(t) for t in targets if t != "ptkit" and room(t) != room(name))
    assert cycles(rooms) == []


def test_the_verifier_imports_nothing_else_of_ptkit():
    outside = {f"{n} -> {t}" for n in MODULES if n.startswith("ptkit.verify")
               for t in imports(n) if not t.startswith("ptkit.verify")}
    assert outside == set()


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
