"""Known answers for stage 07's CRM columns: conformal interval, churn window, discounting,
the segment rule, the churn lists and the table's consistency checks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from helpers.apply import conformal, consistency, crm, segments
from helpers.apply.table import COLUMNS

SEGMENTS = {
    "high_share": 0.2,
    "medium_share": 0.3,
    "at_risk_p_no_purchase": 0.6,
    "lapsed_p_alive": 0.5,
}


def test_discount_factor_known_answers():
    assert crm.discount_factor(184, 0.0) == 1.0
    # one year at 10 %: (1 - 1/1.1) / ln 1.1
    assert crm.discount_factor(365, 0.1) == pytest.approx((1 - 1 / 1.1) / math.log(1.1))
    assert crm.discount_factor(365, 0.1) == pytest.approx(0.953824, abs=1e-6)
    with pytest.raises(ValueError, match="discount_rate must be 0 or more, got -0.1"):
        crm.discount_factor(365, -0.1)


def test_conformal_upper_shift_covers_the_conformal_rank_of_one_band():
    # 10 buyers, q10 = 0 (anchored), q90 = 10; spends 1..10 and then 20, 30 for two
    index = [f"c{i}" for i in range(10)]
    spend = pd.Series([1, 2, 3, 4, 5, 6, 7, 8, 20, 30], index=index, dtype=float)
    q10 = pd.Series(0.0, index=index)
    q90 = pd.Series(10.0, index=index)
    p = pd.Series(0.1, index=index)
    fitted = conformal.fit_conformal(q10, q90, p, spend, level=0.8, n_bands=1)
    # ceil(0.8 * 11) = 9 customers must be covered: the 9th smallest gap is log1p(20) - log1p(10)
    assert fitted.upper_shift[0] == pytest.approx(math.log1p(20) - math.log1p(10))
    assert fitted.lower_shift == (0.0,)
    low, high = fitted.apply(q10, q90, p)
    assert (low == 0).all() and high.iloc[0] == pytest.approx(20.0)
    assert fitted.window_coverage == (0.9,)


def test_conformal_band_of_non_buyers_gets_the_zero_interval():
    index = [f"c{i}" for i in range(10)]
    spend = pd.Series([0.0] * 9 + [5.0], index=index)
    q10, q90 = pd.Series(0.0, index=index), pd.Series(3.0, index=index)
    p = pd.Series(0.95, index=index)
    fitted = conformal.fit_conformal(q10, q90, p, spend, level=0.8, n_bands=1)
    assert fitted.upper_shift == (-np.inf,)
    low, high = fitted.apply(q10, q90, p)
    assert (low == 0).all() and (high == 0).all()
    table = conformal.band_coverage(spend, low, high, p)
    assert table.loc["all", "coverage"] == pytest.approx(0.9)
    assert table.loc["non-buyers", "coverage"] == 1.0 and table.loc["buyers", "coverage"] == 0


def test_conformal_keeps_missing_intervals_missing_and_checks_inputs():
    index = ["a", "b", "c", "d"]
    q10 = pd.Series([0.0, 1.0, np.nan, 0.0], index=index)
    q90 = pd.Series([2.0, 3.0, np.nan, 1.0], index=index)
    p = pd.Series([0.2, 0.5, 0.5, 0.9], index=index)
    spend = pd.Series([1.0, 2.0, 0.0, 0.0], index=index)
    fitted = conformal.fit_conformal(q10, q90, p, spend, n_bands=3)
    low, high = fitted.apply(q10, q90, p)
    assert np.isnan(low["c"]) and np.isnan(high["c"])
    with pytest.raises(ValueError, match="actual must hold every customer of q10"):
        conformal.fit_conformal(q10, q90, p, spend.drop("a"))
    with pytest.raises(ValueError, match="level must lie strictly between 0 and 1, got 1.0"):
        conformal.fit_conformal(q10, q90, p, spend, level=1.0)


def test_risk_bands_and_the_90_day_map():
    p = pd.Series([0.1, 0.3, 0.59, 0.6, np.nan])
    bands = conformal.risk_bands(p, (0.3, 0.6)).tolist()
    assert bands == ["low", "medium", "medium", "high", pd.NA]
    with pytest.raises(ValueError, match=r"need 0 < low < high < 1 thresholds, got \(0.6, 0.3\)"):
        conformal.risk_bands(p, (0.6, 0.3))
    horizon_p = pd.Series([0.1, 0.2, 0.8, 0.9], index=list("abcd"))
    bought = pd.Series([True, True, False, False], index=list("abcd"))
    mapped = conformal.fit_no_purchase_map(horizon_p, bought, 90)(horizon_p)
    assert mapped.tolist() == [0.0, 0.0, 1.0, 1.0] and mapped.name == "p_no_purchase_90d"


def test_segment_rule_lapsed_at_risk_active():
    index = ["a", "b", "c", "d", "e"]
    spend = pd.Series([50.0, 40.0, 30.0, 20.0, 10.0], index=index)
    risk = pd.Series([0.1, 0.7, 0.1, 0.1, 0.1], index=index)
    alive = pd.Series([0.9, 0.9, 0.2, 0.9, 0.9], index=index)
    overdue = pd.Series([-5.0, -5.0, -5.0, 3.0, np.nan], index=index)
    names = segments.segment_customers(
        spend, risk, 0.2, 0.4, 0.6, p_alive=alive, days_overdue=overdue, lapsed_p_alive=0.5
    )
    assert names.tolist() == [
        "high value, active",
        "medium value, at risk",  # P(no purchase) 0.7 >= 0.6
        "medium value, lapsed",  # P(alive) 0.2 < 0.5
        "low value, at risk",  # 3 days overdue
        "low value, active",  # no rhythm yet, low risk
    ]


def test_churn_lists_rank_the_same_reachable_customers():
    index = list("abcdef")
    p_no = pd.Series([0.9, 0.2, 0.8, 0.1, 0.99, 0.5], index=index)
    alive = pd.Series([0.9, 0.9, 0.9, 0.9, 0.1, 0.9], index=index)
    spend = pd.Series([100.0, 90, 80, 70, 60, 1], index=index)  # median 75: d, f drop
    since = pd.Series([10.0, 200, 20, 300, 400, 5], index=index)
    lists = crm.churn_lists(p_no, alive, spend, since, 0.5)
    assert [sorted(v.index) for v in lists.values()] == [list("abc")] * 2  # e lapsed
    churned = pd.Series([True, False, True, False, True, True], index=index)
    judged = crm.judge_churn_lists(lists, churned, shares=(0.5,))
    assert judged.loc[("actionable: P(no purchase)", "top 50%"), "precision"] == 1.0
    # naive: b (200 days, bought again) and c (20 days, churned)
    assert judged.loc[("naive: longest since last purchase", "top 50%"), "precision"] == 0.5


def _consistent_table() -> pd.DataFrame:
    n = 10
    table = pd.DataFrame({c: pd.Series([pd.NA] * n, dtype="object") for c in COLUMNS})
    table["user_id"] = [f"u{i}" for i in range(n)]
    table["horizon_days"] = 184
    table["model"] = "gbdt"
    table["model_informative"] = True
    table["predicted_spend"] = np.arange(n, dtype=float) * 10
    table["discounted_clv"] = table["predicted_spend"] * 0.95
    table["spend_q10"] = 0.0
    table["spend_q90"] = table["predicted_spend"] * 2
    table["p_no_purchase"] = np.linspace(0.05, 0.95, n)
    table["p_no_purchase_90d"] = np.linspace(0.1, 0.99, n)
    table["p_alive"] = np.linspace(1.0, 0.1, n)
    table["historic_spend"] = 100.0
    table["days_overdue"] = -1.0
    table["value_decile"] = np.arange(1, n + 1)
    table["policy"] = "posterior_mpc"
    table["action"] = ["email", "coupon10"] + ["none"] * (n - 2)
    table["expected_incremental_profit"] = [1.5, 0.2] + [0.0] * (n - 2)
    table["churn_risk"] = conformal.risk_bands(table["p_no_purchase_90d"], (0.3, 0.6))
    table["segment"] = segments.segment_customers(
        table["predicted_spend"],
        table["p_no_purchase_90d"],
        0.2,
        0.3,
        0.6,
        p_alive=table["p_alive"],
        days_overdue=table["days_overdue"],
        lapsed_p_alive=0.5,
    ).astype("string")
    return table


def test_a_consistent_table_has_no_violations():
    found = consistency.violations(_consistent_table(), "posterior_mpc", 0.2, SEGMENTS, 0.3)
    assert found.empty, found


def test_every_planted_inconsistency_is_named():
    table = _consistent_table()
    table.loc[0, "segment"] = "high value, active"  # u0 has P(alive) 1: fine; break u9
    table.loc[9, "segment"] = "high value, active"  # P(alive) 0.1: lapsed by the rule
    table.loc[1, "p_alive"] = 1.2
    table.loc[2, "policy"] = "fqi_teacher"
    table.loc[3, ["action", "expected_incremental_profit"]] = ["email", -0.5]
    table.loc[4, "spend_q10"] = 999.0
    found = consistency.violations(table, "posterior_mpc", 0.2, SEGMENTS, 0.3)
    pairs = set(zip(found["rule"], found["user_id"], strict=True))
    assert ("segment rule", "u9") in pairs
    assert ("p_alive in [0, 1]", "u1") in pairs
    assert ("policy is posterior_mpc", "u2") in pairs
    assert ("contacted with profit > 0", "u3") in pairs
    assert ("spend_q10 <= spend_q90", "u4") in pairs
    assert ("contacted share within budget 20%", "u3") in pairs  # 3 of 10 > 20 %
    uninformative = _consistent_table().assign(model_informative=False)
    found = consistency.violations(uninformative, "posterior_mpc", 0.2, SEGMENTS, 0.3)
    assert found["rule"].tolist() == ["no contact when the model is uninformative"] * 2
