"""Known answers of notebook 05's reading sentences (helpers.marketing.narration)."""

import pandas as pd

from helpers.marketing.narration import diagnosis_baseline_note, ope_ranking_lesson


def _summary(spearman: dict[str, float], bias: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"spearman_rank": spearman, "bias": bias})


def test_no_estimator_orders_the_policies():
    summary = _summary(
        {"pdis": 0.9, "wpdis": 0.1, "dr": 0.6, "fqe": 0.6},
        {"pdis": -20.1, "wpdis": 6.2, "dr": -8.5, "fqe": -12.2},
    )
    assert ope_ranking_lesson(summary, 5) == (
        "How well each estimator orders the 5 target policies (Spearman correlation of its "
        "estimates with the true values, 1 = the right order): PDIS 0.90, DR 0.60, FQE 0.60, "
        "WPDIS 0.10. No estimator here orders these policies correctly, so none can be used "
        "to pick one: that takes an experiment (a randomised test on real customers)."
    )


def test_an_estimator_that_orders_them_is_named_with_its_bias():
    summary = _summary({"dr": 1.0, "fqe": 0.5}, {"dr": -3.456, "fqe": 1.0})
    text = ope_ranking_lesson(summary, 3)
    assert text.endswith(
        "DR orders them correctly here, but its values are off by -3.46 per customer on "
        "average: use it to rank candidates for an experiment, not to forecast their profit."
    )


def test_diagnosis_baseline_says_why_it_differs():
    assert diagnosis_baseline_note(2.0693, 1.8871, 5, 10) == (
        "The uplift rule earns 2.07 per customer in this table and 1.89 in the main table: "
        "the diagnosis runs on the first 5 of the 10 evaluation seeds (to save time), so the "
        "two are different samples of the same policy. Compare rows within this table only."
    )


def _held_out(**profits: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "policy": list(profits),
            "incremental_profit": list(profits.values()),
            "ci_lo": [v - 0.2 for v in profits.values()],
            "ci_hi": [v + 0.2 for v in profits.values()],
        }
    )


def test_the_headline_names_the_recommended_policy_by_kind():
    from helpers.marketing.narration import recommendation_headline

    table = _held_out(nobody=0.0, one_step_uplift=1.89, posterior_mpc=2.33, fqi_teacher=2.20)
    assert recommendation_headline("posterior_mpc", table, "fqi_teacher", 12) == (
        "Planning pays: on held-out customers the recommended policy is posterior_mpc, "
        "2.33 incremental profit per customer over 12 months (95 % interval 2.13 to 2.53) "
        "against the one-step uplift rule's 1.89; the best learner, fqi_teacher, earns 2.20."
    )
    assert recommendation_headline("one_step_uplift", table, "fqi_teacher", 12) == (
        "On held-out customers no planner or learner beats one_step_uplift, the recommended "
        "policy (1.89 incremental profit per customer over 12 months)."
    )
    assert recommendation_headline("nobody", table, "fqi_teacher", 12).startswith(
        "On held-out customers no policy earns more than contacting nobody"
    )


def test_a_planner_that_loses_to_the_rule_cannot_be_said_to_pay():
    import pytest

    from helpers.claims import ClaimError
    from helpers.marketing.narration import recommendation_headline

    table = _held_out(one_step_uplift=2.5, posterior_mpc=2.33, fqi_teacher=2.2)
    with pytest.raises(ClaimError, match="Planning pays"):
        recommendation_headline("posterior_mpc", table, "fqi_teacher", 12)
