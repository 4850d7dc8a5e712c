"""Rules the test suite holds itself to: a test that cannot fail is a defect.

Every ``pytest.raises`` names the message it expects (``match=``): without it, any later
error of the same type satisfies the test, and a deleted guard goes unnoticed.
"""

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _raises_without_match(code: str) -> list[int]:
    """Line numbers of ``pytest.raises(...)`` calls that pass no ``match=``."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(code))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "raises"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "pytest"
        and not any(k.arg == "match" for k in node.keywords)
    ]


def test_the_rule_sees_a_bare_raises():
    code = (
        "with pytest.raises(ValueError):\n    f()\n"
        "with pytest.raises(KeyError, match='x'):\n    g()\n"
    )
    assert _raises_without_match(code) == [1]


def test_every_pytest_raises_names_its_message():
    bare = [
        f"{path.name}:{line}"
        for path in sorted(TESTS.glob("*.py"))
        for line in _raises_without_match(path.read_text())
    ]
    assert bare == []
