"""When the data hold no signal, stage 07 says so and recommends no action."""

import numpy as np
import pandas as pd
import pytest

from helpers.apply.actions import ActionPlan, uninformative_plan
from helpers.apply.choice import SIGNAL_MARGIN, signal_verdict
from helpers.evaluation.leaderboard import signal_pairs


def test_signal_pairs_set_every_fitted_model_against_the_extrapolation_rule():
    gini = pd.Series(
        {"pareto_nbd": 0.8, "gbdt": 0.85, "zero": np.nan, "oracle": 0.9, "extrapolation": 0.7}
    )
    assert signal_pairs(gini) == [("pareto_nbd", "extrapolation"), ("gbdt", "extrapolation")]
    assert signal_pairs(gini.drop("extrapolation")) == []


def test_a_model_clear_of_the_margin_is_informative():
    board = {"gini_vs_extrapolation": {"gbdt": [0.061, 0.048, 0.072]}}
    verdict = signal_verdict(board, "gbdt")
    assert verdict.informative
    assert verdict.sentence == (
        "gbdt ranks customers better than the extrapolation rule by +0.061 Gini (95 % "
        "interval +0.048 to +0.072), clear of the 0.02 margin."
    )
    assert SIGNAL_MARGIN == 0.02


@pytest.mark.parametrize("low", [0.02, 0.0, -0.05])
def test_a_model_not_clear_of_the_margin_is_uninformative(low: float):
    board = {"gini_vs_extrapolation": {"deep": [0.03, low, 0.09]}}
    verdict = signal_verdict(board, "deep", margin=0.02)
    assert not verdict.informative
    assert verdict.sentence == (
        "Nothing the models learn from these data predicts future spend better than a rule "
        f"of thumb: deep ranks customers +0.030 Gini (95 % interval {low:+.3f} to +0.090) "
        "against the extrapolation rule (spend so far per day, times the horizon), not clear "
        "of the 0.02 margin. No action list is recommended on its word; the scores are "
        "written, marked as uninformative."
    )


def test_without_the_comparison_the_check_is_said_to_be_missing():
    verdict = signal_verdict({"gbdt": {"gini": 0.8}}, "gbdt")
    assert verdict.informative
    assert "not checked" in verdict.sentence


def test_an_uninformative_plan_withdraws_every_action_and_says_why():
    table = pd.DataFrame(
        {
            "action": ["email", "none"],
            "expected_incremental_profit": [0.7, 0.0],
            "action_reason": ["email: ...", "none: ..."],
        },
        index=pd.Index(["a", "b"], name="user_id"),
    )
    plan = uninformative_plan(ActionPlan(table, "posterior_mpc", "recommended", "state"))
    assert plan.table["action"].tolist() == ["none", "none"]
    assert plan.table["expected_incremental_profit"].tolist() == [0.0, 0.0]
    assert set(plan.table["action_reason"]) == {
        "none: the model predicts no better than a rule of thumb, so no action list is recommended"
    }
    assert plan.policy == "posterior_mpc"
    assert plan.policy_reason == "recommended; withdrawn: the model is uninformative"
    assert table["action"].tolist() == ["email", "none"]  # the input is left as it was
