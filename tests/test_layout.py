"""The layout: no import cycle among clf's own modules (lazy imports inside functions counted too)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parent.parent
SOURCES = [ROOT / part / "src" for part in ("runtime", "toolkit")]


def clf_modules() -> dict[str, tuple[Path, bool]]:
    """Module name -> (file, is a package)."""
    found = {}
    for src in SOURCES:
        for path in src.rglob("*.py"):
            parts = list(path.relative_to(src).with_suffix("").parts)
            package = parts[-1] == "__init__"
            found[".".join(parts[:-1] if package else parts)] = (path, package)
    return found


def import_graph() -> dict[str, set[str]]:
    """Which clf modules each clf module imports: `from a.b import c` counts a.b.c if that is a module."""
    modules = clf_modules()

    def owner(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, (path, package) in modules.items():
        here = name if package else name.rpartition(".")[0]
        targets: list[str] = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = here.split(".")[: len(here.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                targets += [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        graph[name] = {m for m in map(owner, targets) if m and m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        while work:
            node, edges = work[-1]
            nxt = next((w for w in edges if w not in index or w in stack), None)
            if nxt is not None:
                if nxt in index:
                    low[node] = min(low[node], index[nxt])
                else:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                part = stack[stack.index(node) :]
                del stack[stack.index(node) :]
                if len(part) > 1:
                    found.append(sorted(part))
    return found


def test_no_import_cycle() -> None:
    graph = import_graph()
    assert "clf_runtime.trust" in graph["clf_runtime.classifier"]  # the graph sees the imports
    assert cycles(graph) == []


def test_the_cycle_finder_finds_one() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_runtime_holds_only_what_the_runtime_uses() -> None:
    """Every clf_runtime module is a command, a batch engine, or imported by another runtime module:
    none is there only for clf-train or clf-export (the slim wheel carries no build-side code)."""
    import re

    graph = import_graph()
    runtime = [m for m in graph if m.startswith("clf_runtime")]
    used = {dep for m in runtime for dep in graph[m]}
    scripts = re.findall(r'"(clf_runtime\.[\w.]+):main"', (ROOT / "runtime" / "pyproject.toml").read_text())
    engines = {m for m in runtime if m.startswith("clf_runtime.batch.engines.")}  # found by the table
    assert "clf_runtime.cli.run" in scripts
    assert [m for m in runtime if m not in used and m not in scripts and m not in engines] == []
