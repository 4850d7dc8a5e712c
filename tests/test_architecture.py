"""The package's shape: no import cycles between files, no two packages importing each
other, and short functions (a function over 80 lines does several jobs)."""

import ast
from collections import defaultdict
from pathlib import Path

from helpers.import_closure import file_imports

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "helpers"
#: Functions longer than this many lines (``def`` to last line) are counted as long.
LONG_FUNCTION = 80
#: Long functions tolerated while the last ones are split (the issue's goal: at most 14).
MAX_LONG_FUNCTIONS = 11


def _area(path: Path) -> str:
    """The subpackage of a file (``models``, ``apply``...), or its stem at the top level."""
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")


def _cycles(graph: dict[Path, set[Path]]) -> list[list[str]]:
    """Strongly connected components with more than one file (Tarjan, iterative)."""
    index: dict[Path, int] = {}
    low: dict[Path, int] = {}
    stack: list[Path] = []
    on_stack: set[Path] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(str(member.relative_to(SRC)))
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_planted_cycle():
    a, b, c = PACKAGE / "a.py", PACKAGE / "b.py", PACKAGE / "c.py"
    assert _cycles({a: {b}, b: {c}, c: {a}}) == [["helpers/a.py", "helpers/b.py", "helpers/c.py"]]
    assert _cycles({a: {b}, b: {c}, c: set()}) == []


def test_no_file_import_cycles():
    assert _cycles(file_imports(SRC)) == []


def test_no_two_packages_import_each_other():
    arrows: dict[str, set[str]] = defaultdict(set)
    for source, targets in file_imports(SRC).items():
        for target in targets:
            if _area(source) != _area(target):
                arrows[_area(source)].add(_area(target))
    both_ways = sorted(
        f"{a} <-> {b}" for a in arrows for b in arrows[a] if a < b and a in arrows.get(b, ())
    )
    assert both_ways == []


def test_functions_are_short():
    long = sorted(
        f"{path.relative_to(SRC)}:{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > LONG_FUNCTION
    )
    assert len(long) <= MAX_LONG_FUNCTIONS, "\n".join(long)
