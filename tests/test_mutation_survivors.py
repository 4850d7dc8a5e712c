"""tools/mutation_survivors.py gives each surviving mutant a reason, or says it has none."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "mutation_survivors", ROOT / "tools" / "mutation_survivors.py"
)
survivors = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(survivors)


@pytest.mark.parametrize(
    ("old", "new", "rule"),
    [
        ("arr = np.asarray(values, dtype=float)", "arr = np.asarray(values, dtype=None)", "dtype"),
        ("m_s = (x > y).astype(int)", "m_s = (x > y).astype(None)", "dtype"),
        ('raise ValueError("n")', 'raise ValueError("XXnXX")', "message wording"),
        ('raise ValueError("n must be 2")', 'raise ValueError("N MUST BE 2")', "message wording"),
        ('ts.dt.floor("D")', 'ts.dt.floor("d")', "case-insensitive name"),
        ("warnings.warn(m, RuntimeWarning, stacklevel=3)", "warnings.warn(m, RuntimeWarning, )",
         "warning location"),
        ("zip(a, b, strict=True)", "zip(a, b, strict=False)", "zip strictness"),
    ],
)  # fmt: skip
def test_rules_name_the_kind_of_equivalent_mutant(old: str, new: str, rule: str):
    assert survivors.classify(old, new)[0] == rule


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("if a.sum() <= 0:", "if a.sum() <= 1:"),  # a boundary: no rule may excuse it
        ("x = y * 2", "x = y / 2"),
        ('key = "user_id"', 'key = "XXuser_idXX"'),  # a string that is not a message
    ],
)
def test_behaviour_changes_get_no_rule(old: str, new: str):
    assert survivors.classify(old, new) is None


def test_render_counts_unexplained_survivors_and_killed_since():
    old, new = "if a.sum() <= 0:", "if a.sum() <= 1:"
    survivor = {
        "mutant": "m1",
        "function": "f",
        "line": 3,
        "status": "survived",
        "change": {"from": [old], "to": [new]},
    }
    report = {
        "tool": "mutmut 3.8.1",
        "killed_share": "(killed + timeout) / (total - skipped)",
        "modules": [
            {
                "module": "src/helpers/x.py",
                "total": 10,
                "killed": 8,
                "timeout": 1,
                "skipped": 0,
                "killed_share": 0.9,
                "survivors": [survivor],
            }
        ],
    }
    text, unexplained = survivors.render(report)
    assert unexplained == 1
    assert "| `x.py` | 10 | 9 | 90.0% | 1 | unexplained 1 |" in text
    survivors.killed_by("x.py", old, new, "test_x")
    text, unexplained = survivors.render(report)
    assert unexplained == 0
    assert "| `x.py` | 10 | 10 | 100.0% | 0 | killed since 1 |" in text


_spec_m = importlib.util.spec_from_file_location("mutation_tool", ROOT / "tools" / "mutation.py")
mutation_tool = importlib.util.module_from_spec(_spec_m)
_spec_m.loader.exec_module(mutation_tool)


def test_wilson_interval_of_a_sampled_killed_share():
    low, high = mutation_tool.wilson_interval(8, 10)  # the textbook 0.490 to 0.943
    assert (round(low, 3), round(high, 3)) == (0.49, 0.943)
    assert mutation_tool.wilson_interval(0, 0) == (0.0, 1.0)


def test_a_sample_is_seeded_and_drawn_from_the_generated_mutants(tmp_path):
    meta = tmp_path / "mutants" / "src" / "helpers" / "apply" / "scoring.py.meta"
    meta.parent.mkdir(parents=True)
    keys = [f"helpers.apply.scoring.x_f__mutmut_{i}" for i in range(1, 51)]
    meta.write_text('{"exit_code_by_key": {' + ", ".join(f'"{k}": null' for k in keys) + "}}")
    names, total = mutation_tool.sample_names(tmp_path, "apply/scoring.py", 10, seed=3)
    assert total == 50 and len(names) == 10 and set(names) <= set(keys)
    assert names == sorted(names)
    assert mutation_tool.sample_names(tmp_path, "apply/scoring.py", 10, seed=3)[0] == names
    assert mutation_tool.sample_names(tmp_path, "apply/scoring.py", 10, seed=4)[0] != names
    assert len(mutation_tool.sample_names(tmp_path, "apply/scoring.py", 99, seed=3)[0]) == 50
