"""Which ``helpers`` source files a notebook (or module) needs: its import closure.

DVC re-runs a stage when one of its dependencies changes. A stage that lists the whole
``src/helpers`` folder re-runs on any edit; one that lists too little silently keeps
stale results. :func:`notebook_closure` computes, by static analysis of the import
statements (including imports inside functions), every file of the package that a
notebook can execute, with the ``__init__.py`` of each package on the way, so that a
test can hold ``dvc.yaml`` to it and :func:`covering_paths` can suggest the entries.
"""

from __future__ import annotations

import ast
import json
import sys
from collections.abc import Iterable
from pathlib import Path

PACKAGE = "helpers"


def _module_file(src: Path, module: str) -> Path | None:
    """The file of a dotted ``helpers`` module name, or None if it is not one."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = src.joinpath(*parts)
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _imported_modules(code: str, current: str | None = None) -> set[str]:
    """Dotted module names imported by ``code`` (relative imports resolved from ``current``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level and current is not None:
                package = current.split(".")[: -node.level] if current else []
                base = ".".join(package + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _closure(src: Path, roots: Iterable[str]) -> set[Path]:
    seen: set[Path] = set()
    todo = list(roots)
    while todo:
        module = todo.pop()
        parts = module.split(".")
        # importing a.b.c runs a/__init__, a/b/__init__, then a/b/c
        for depth in range(1, len(parts) + 1):
            name = ".".join(parts[:depth])
            path = _module_file(src, name)
            if path is None or path in seen:
                continue
            seen.add(path)
            is_package = path.name == "__init__.py"
            current = name if is_package else name.rsplit(".", 1)[0] if "." in name else ""
            anchor = f"{name}.__init__" if is_package else name
            todo.extend(_imported_modules(path.read_text(), anchor if current else None))
    return seen


def file_imports(src: str | Path) -> dict[Path, set[Path]]:
    """Every file of the ``helpers`` package under ``src`` with the package files it imports.

    Imports inside functions count too (they tie files together as much as those at the
    top). Importing ``helpers.a.b`` counts as importing ``a/b.py`` (or ``a/b/__init__.py``);
    the ``__init__.py`` files on the way are not counted, so that a package's own
    ``__init__`` re-exporting its modules does not look like a cycle.
    """
    src = Path(src)
    graph: dict[Path, set[Path]] = {}
    for path in sorted((src / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        anchor = f"{name}.__init__" if is_package else name
        targets = {_module_file(src, m) for m in _imported_modules(path.read_text(), anchor)}
        graph[path] = {t for t in targets if t is not None and t != path}
    return graph


def notebook_code(path: str | Path) -> str:
    """The code cells of a notebook, joined (IPython magics dropped)."""
    notebook = json.loads(Path(path).read_text())
    cells = ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]
    lines = [
        line for cell in cells for line in cell.splitlines() if not line.startswith(("%", "!"))
    ]
    return "\n".join(lines)


def notebook_closure(notebook: str | Path, src: str | Path, extra: Iterable[str] = ()) -> set[Path]:
    """Files of ``src/helpers`` that running ``notebook`` can import.

    Parameters
    ----------
    notebook : path
        The ``.ipynb`` file.
    src : path
        The folder that holds the ``helpers`` package (``src``).
    extra : module names
        Modules the stage runs besides the notebook (e.g. ``helpers.pipeline``).
    """
    src = Path(src)
    modules = _imported_modules(notebook_code(notebook)) | set(extra)
    return _closure(src, sorted(modules))


def covering_paths(files: set[Path], src: str | Path) -> list[str]:
    """Shortest list of paths (folders where a whole folder is needed) covering ``files``."""
    src = Path(src)
    package = src / PACKAGE
    chosen: list[Path] = []
    for folder in sorted({p.parent for p in files}, key=lambda p: len(p.parts)):
        if any(folder.is_relative_to(c) for c in chosen):
            continue
        sources = {p for p in folder.rglob("*.py") if "__pycache__" not in p.parts}
        if folder != package and sources <= files:
            chosen.append(folder)
    for path in sorted(files):
        if not any(path.is_relative_to(c) for c in chosen):
            chosen.append(path)
    return sorted(str(p) for p in chosen)


def is_covered(path: Path, deps: Iterable[str | Path]) -> bool:
    """Whether ``path`` is one of ``deps`` or lies inside one of them."""
    return any(path == Path(d) or path.is_relative_to(Path(d)) for d in deps)


if __name__ == "__main__":  # python -m helpers.import_closure notebooks/NAME.ipynb
    from helpers.paths import project_root

    root = project_root()
    closure = notebook_closure(Path(sys.argv[1]), root / "src", extra=["helpers.pipeline"])
    print("\n".join(str(Path(p).relative_to(root)) for p in covering_paths(closure, root / "src")))
