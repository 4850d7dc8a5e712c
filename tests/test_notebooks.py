"""Hygiene of the study notebooks: stripped outputs, one literal parameters cell, narrative.

This is the in-suite twin of the pre-commit hooks (nbstripout, ruff), so CI enforces it.
"""

import ast
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "no numbered notebooks found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stripped_and_narrative(path: Path):
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "strip outputs"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged `parameters`"
    for node in ast.parse(tagged[0].source).body:
        assert isinstance(node, ast.Assign), "the parameters cell holds assignments only"
        ast.literal_eval(node.value)  # ... of literals
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert nb.cells[-1].cell_type == "markdown" and "What we learned" in nb.cells[-1].source
    assert any("assert " in c.source for c in code), "a few asserts on invariants"
    assert nb.metadata["kernelspec"]["name"] == "python3"


def test_ruff_is_clean_on_src_tests_notebooks():
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is not installed (pip install -r requirements.lock)")
    targets = [d for d in ("src", "tests", "notebooks", "benchmarks") if (ROOT / d).is_dir()]
    done = subprocess.run(
        [ruff, "check", *targets],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


#: A decimal result typed into the narration (e.g. "Gini 0.889", "covers 92.4 %").
TYPED_RESULT = re.compile(r"(?<![\w.`/$-])\d+\.\d{2,}(?![\w`])|\b\d{1,3}\.\d\s?%")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_results_in_the_narration_are_checked_or_printed(path: Path):
    """Every notebook checks at least one stated result with `claim`, and no Markdown
    cell types a decimal result that a re-run could contradict (results are printed
    from the data with `claim` / `say`)."""
    nb = nbformat.read(str(path), as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    # a check in the notebook, or in the narration helpers that build its sentences
    imported = re.search(r"from helpers\.(\w+) import .*\bnarration\b", code)
    helper = ROOT / "src/helpers" / (imported.group(1) if imported else "-") / "narration.py"
    checked = re.search(r"\bclaim\(", code) or (
        helper.is_file()
        and re.search(r"\bnarration\.\w+\(", code)
        and re.search(r"\bclaim\(", helper.read_text())
    )
    assert checked, "at least one claim check (helpers.claims.claim)"
    assert any("headline" in c.metadata.get("tags", []) for c in nb.cells), "a headline cell"
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            typed = TYPED_RESULT.findall(cell.source)
            assert not typed, f"typed result(s) {typed} in Markdown: print them with say/claim"
