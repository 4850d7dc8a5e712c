"""``lifetimes`` is off the study's run path (issue 30): a test-only reference, a dev extra.

No module of ``src/helpers`` and no code cell of ``notebooks/*.ipynb`` names ``lifetimes``
in an import statement or ``importlib.import_module`` call (an AST walk, so a comment or
a docstring that mentions the package is fine). An AST check rather than importing every
module in a fresh interpreter: the same answer without ~8 s of imports per test run.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HELPERS = ROOT / "src" / "helpers"


def _imported(source: str) -> set[str]:
    """Top-level package names imported anywhere in ``source`` (also inside functions)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names.add(str(node.args[0].value).split(".")[0])
    return names


def _notebook_code(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    # IPython magics and shell lines are not Python
    lines = [ln for ln in "\n".join(code).splitlines() if not ln.lstrip().startswith(("%", "!"))]
    return "\n".join(lines)


def test_no_helpers_module_or_notebook_imports_lifetimes():
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted(HELPERS.rglob("*.py"))
        if "lifetimes" in _imported(path.read_text())
    ]
    offenders += [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "notebooks").glob("*.ipynb"))
        if "lifetimes" in _imported(_notebook_code(path))
    ]
    assert offenders == []


def test_the_ast_check_sees_every_form_of_import():
    for source in (
        "import lifetimes",
        "import lifetimes.utils as u",
        "from lifetimes import BetaGeoFitter",
        "def f():\n    from lifetimes.utils import x",
        "importlib.import_module('lifetimes.datasets')",
    ):
        assert "lifetimes" in _imported(source), source
    assert "lifetimes" not in _imported("'''lifetimes'''\n# import lifetimes\nx = 'lifetimes'")
