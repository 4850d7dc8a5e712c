"""Known answers of notebook 05's reading sentences (helpers.marketing.narration)."""

import pandas as pd
import pytest

from helpers.claims import ClaimError
from helpers.marketing.narration import diagnosis_baseline_note, ope_ranking_lesson


def _ope(spearman: dict[str, float], mae: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"spearman_rank": spearman, "mean_abs_error": mae, "bias": mae})


def _truth(**values: float) -> pd.DataFrame:
    return pd.DataFrame({"target": list(values), "true_value": list(values.values())})


def test_no_estimator_ranks_the_policies_and_the_sentence_says_why():
    summary = _ope(
        {"pdis": 0.9, "wpdis": 0.1, "dr": 0.6, "fqe": 0.6},
        {"pdis": 20.13, "wpdis": 27.70, "dr": 9.79, "fqe": 12.18},
    )
    truth = _truth(nobody=57.31, top_clv=57.86, rfm=57.63, one_step_uplift=58.31, fqi=58.92)
    assert ope_ranking_lesson(summary, truth) == (
        "How well each estimator orders the 5 target policies (Spearman correlation of its "
        "estimates with the true values, 1 = the right order): PDIS 0.90, DR 0.60, FQE 0.60, "
        "WPDIS 0.10. No off-policy estimator here ranks these policies, so none can be used to "
        "pick one: their true values lie within 1.61 per customer of each other (57.31 to "
        "58.92), while even the closest estimator, DR, is off by 9.79 on average (6 times that "
        "spread). Choosing among them takes an experiment (a randomised test on real customers)."
    )


def test_an_estimator_that_orders_them_is_named_with_its_bias():
    summary = _ope({"dr": 1.0, "fqe": 0.5}, {"dr": 3.456, "fqe": 1.0})
    summary["bias"] = [-3.456, 1.0]
    text = ope_ranking_lesson(summary, _truth(a=1.0, b=2.0, c=3.0))
    assert text.startswith("How well each estimator orders the 3 target policies")
    assert text.endswith(
        "DR orders them correctly here, but its values are off by -3.46 per customer on "
        "average: use it to rank candidates for an experiment, not to forecast their profit."
    )


def test_diagnosis_baseline_is_the_main_rule_on_the_diagnosis_seeds():
    per_seed = pd.DataFrame(
        {
            "policy": ["one_step_uplift"] * 4 + ["nobody"] * 4,
            "seed": [10, 11, 12, 13] * 2,
            "incremental_profit": [2.0, 2.2, 1.0, 1.4, 0.0, 0.0, 0.0, 0.0],
        }
    )
    diagnosis = pd.DataFrame({"policy": ["one_step_uplift"], "incremental_profit": [2.1]})
    assert diagnosis_baseline_note(diagnosis, per_seed, [10, 11]) == (
        "The uplift rule earns 2.10 per customer in this table and 1.65 in the main table only "
        "because of the seeds: the diagnosis runs on the first 2 of the 4 evaluation seeds (to "
        "save time), and on those 2 seeds the main table's uplift rule earns 2.10 too. Compare "
        "rows within this table only."
    )
    # any other difference is not explained by the seeds: the sentence refuses
    with pytest.raises(ClaimError, match="only because of the seeds"):
        diagnosis_baseline_note(diagnosis.assign(incremental_profit=2.07), per_seed, [10, 11])


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
