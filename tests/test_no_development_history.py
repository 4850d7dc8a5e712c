"""The narration tells the reader about the data, not about how the study was built.

Scans what a reader sees: every markdown cell of the notebooks, every string a notebook's
code writes, and every string in ``src/helpers`` that is not a docstring (the sentence
templates of the summary helpers). Words that belong to the development history, such as
issue lists, goals, defects found and fixed, earlier defaults, scratch runs and sessions,
belong in git and in closing notes.
"""

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

HISTORY = re.compile(
    r"\b(issue (list|#?\d+)|the issue'?s?\b|goals?\b|defects?\b|scratch run|after the merges?"
    r"|before auto|(this|previous|earlier|last) session|we fixed|was fixed|bug (was|fix)"
    r"|the study's default before|TODO|FIXME)",
    re.IGNORECASE,
)


def _code_strings(source: str) -> list[str]:
    """String literals of a piece of code, docstrings left out."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def _reader_texts() -> list[tuple[str, str]]:
    texts = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for i, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
            source = "".join(cell["source"])
            where = f"{path.name} cell {i}"
            if cell["cell_type"] == "markdown":
                texts.append((where, source))
            elif cell["cell_type"] == "code":
                texts += [(where, s) for s in _code_strings(source)]
    for path in sorted((ROOT / "src" / "helpers").rglob("*.py")):
        where = str(path.relative_to(ROOT))
        texts += [(where, s) for s in _code_strings(path.read_text(encoding="utf-8"))]
    return texts


def _history(texts: list[tuple[str, str]]) -> list[str]:
    found = []
    for where, text in texts:
        for match in HISTORY.finditer(text):
            context = text[max(0, match.start() - 50) : match.end() + 30].replace("\n", " ")
            found.append(f"{where}: ...{context}...")
    return found


def test_no_narration_speaks_of_how_the_study_was_developed():
    assert _history(_reader_texts()) == []


@pytest.mark.parametrize(
    "sentence",
    [
        "It closes 40 % of the planning gap (goal: 50 %).",
        "A defect was found by the learner test and fixed.",
        "Short of the issue's list, as in the scratch run.",
        "auto (the study's default before auto)",
    ],
)
def test_the_guard_catches_history(sentence: str):
    assert _history([("example", sentence)]) != []


def test_the_guard_leaves_the_study_s_own_words_alone():
    words = "Silent defection: a bad experience makes a customer stop buying."
    assert _history([("example", words)]) == []
