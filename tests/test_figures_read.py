"""The study's comparison figures stay readable: labelled axes, lines that do not hide
each other, an axis that a bad policy cannot stretch, few bars a group."""

import numpy as np
import pandas as pd
import pytest

from helpers.evaluation.leaderboard import plot_decile_calibration, plot_gains
from helpers.marketing.plots import key_policies, plot_budget_curve, plot_sweep

POLICIES = {  # policy -> incremental profit at budgets 5 %, 20 %, 100 %
    "nobody": (0.0, 0.0, 0.0),
    "one_step_uplift": (1.4, 2.1, 1.7),
    "posterior_mpc": (1.4, 2.5, 2.5),
    "rollout": (1.3, 2.3, 2.5),
    "oracle": (1.5, 2.5, 2.6),
    "fqi_teacher": (1.5, 2.3, 2.4),
    "dqn": (0.9, 1.6, 1.2),
    "everybody": (-0.1, -4.0, -12.0),  # the policy that stretched the old axis
}


def _curve() -> pd.DataFrame:
    rows = [
        {"policy": p, "budget": b, "incremental_profit": v}
        for p, values in POLICIES.items()
        for b, v in zip((0.05, 0.2, 1.0), values, strict=True)
    ]
    return pd.DataFrame(rows)


def _labelled(fig) -> list[tuple[str, str]]:
    return [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes if ax.get_visible()]


def test_key_policies_are_the_rule_the_planners_the_ceiling_and_the_best_other():
    assert key_policies(_curve()) == [
        "one_step_uplift",
        "posterior_mpc",
        "rollout",
        "oracle",
        "fqi_teacher",
    ]


def test_budget_curve_axis_spans_the_key_policies_in_percent():
    fig = plot_budget_curve(_curve())
    ax = fig.axes[0]
    low, high = ax.get_ylim()
    assert -0.5 < low < 0.0 and 2.6 < high < 3.0  # not stretched to -12
    assert [t.get_text() for t in ax.get_xticklabels()] == ["5%", "20%", "100%"]
    legend = ax.get_legend()
    assert legend.get_title().get_text() == "1 line falls below the axis"  # everybody
    assert [t.get_text() for t in legend.get_texts()] == [
        "other policies (2)",
        *key_policies(_curve()),
    ]
    assert all(x and y for x, y in _labelled(fig))


def test_sweep_shows_five_bars_a_group_with_labels():
    sweep = _curve().rename(columns={"budget": "effects"})
    sweep["effects"] = sweep["effects"].map({0.05: "low", 0.2: "mid", 1.0: "high"})
    fig = plot_sweep(sweep)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == key_policies(sweep)
    assert len(ax.patches) <= 5 * 3 + 5  # 5 policies x 3 presets (+ legend handles)
    assert all(x and y for x, y in _labelled(fig))


@pytest.fixture(scope="module")
def scored() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    n = 200
    users = [f"u{i}" for i in range(n)]
    actual = rng.gamma(0.5, 20.0, n) * (rng.random(n) < 0.5)
    customers = pd.DataFrame({"holdout_spend": actual}, index=pd.Index(users, name="user_id"))
    frames = []
    for model, noise in (("a", 0.0), ("b", 0.0), ("c", 5.0), ("d", 10.0)):
        frames.append(
            pd.DataFrame(
                {
                    "user_id": users,
                    "model": model,
                    "predicted_spend": actual + rng.normal(0, noise, n).clip(0) + 0.1,
                    "p_zero": np.nan,
                }
            )
        )
    return pd.concat(frames, ignore_index=True), customers


def test_gains_lines_that_coincide_stay_visible(scored):
    predictions, customers = scored
    fig = plot_gains(predictions, customers, ["a", "b", "c", "d"], highlight=["a", "b", "c"])
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert lines["a"].get_linestyle() != lines["b"].get_linestyle()  # a and b coincide
    assert lines["a"].get_linewidth() > lines["b"].get_linewidth()
    assert all(x and y for x, y in _labelled(fig))


def test_decile_panels_title_the_weighted_error_and_label_outer_axes_once(scored):
    predictions, customers = scored
    fig = plot_decile_calibration(predictions, customers, ["a", "b", "c", "d"])
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title().split(" (")[1].split(" ")[0] for ax in shown] == ["weighted"] * 4
    assert [bool(ax.get_ylabel()) for ax in shown] == [True, False, False, True]
    # bottom row (d) and the panel above the empty slot (b, c) carry the decile label
    assert [bool(ax.get_xlabel()) for ax in shown] == [False, True, True, True]
