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
