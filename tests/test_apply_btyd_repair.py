"""The non-finite Pareto/NBD prediction stage 07 met on CDNOW at as_of 1998-06-30.

Customer '14048' bought on 170 repeat days, the last one on the as-of day itself:
``t_x = T = 70.857`` weeks. lifetimes' ``log A_0`` is then a ``logsumexp`` of two equal
terms of size ~760 with opposite signs, which scipy returns as NaN (not ``log 0``), and
the NaN spreads to the likelihood, E[purchases] and P(zero).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from lifetimes import ParetoNBDFitter

from helpers.models import btyd

#: The Pareto/NBD fitted on CDNOW up to 1998-06-30 (23,570 customers).
PARAMS = {"r": 0.6109606513105141, "alpha": 13.614220329540002, "s": 0.3126261326243831,
          "beta": 6.150986874052365}  # fmt: skip
T = 70.85714285714286  # weeks between the customer's first purchase and 1998-06-30


def _fit() -> btyd.BTYDFit:
    model = ParetoNBDFitter()
    model.params_ = pd.Series(PARAMS)
    return btyd.BTYDFit("pareto_nbd", model, PARAMS, 0.0, 0.0, 23570)


def _gg() -> btyd.BTYDFit:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", btyd.BTYDFitWarning)  # 3 repeat buyers: penalized
        return btyd.fit_spend_model(_summary())


def _summary() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "frequency_cal": [170.0, 170.0, 3.0, 0.0],
            "recency_cal": [T, T - 1e-6, 20.0, 0.0],
            "T_cal": [T, T, T, 30.0],
            "monetary_value_cal": [52.77, 52.77, 20.0, 0.0],
        },
        index=pd.Index(["14048", "almost", "usual", "one_purchase"], name="user_id"),
    )


def test_lifetimes_alone_gives_nan_for_that_customer():
    model = _fit().model
    with np.errstate(all="ignore"):
        purchases = model.conditional_expected_number_of_purchases_up_to_time(26.0, 170.0, T, T)
    assert np.isnan(purchases)  # the NaN the repair replaces


def test_the_prediction_is_finite_continuous_and_counted():
    summary = _summary()
    gg = _gg()
    with pytest.warns(btyd.BTYDFitWarning, match="1 customers' predictions were non-finite"):
        out = btyd.predict_btyd(summary, "pareto_nbd", horizon_weeks=26.0, fit=_fit(), gg_fit=gg)
    assert np.isfinite(out.to_numpy()).all() and out.attrs["repaired_non_finite"] == 1
    row, near = out.loc["14048"], out.loc["almost"]
    assert row["p_alive"] == 1.0  # last purchase today: nobody can have left since
    assert row["expected_purchases"] == pytest.approx(near["expected_purchases"], rel=1e-6)
    assert row["p_zero"] == pytest.approx(near["p_zero"], rel=1e-4)  # t_x differs by 1e-6 weeks
    assert 40 < row["expected_purchases"] < 60  # 170 purchases in 71 weeks, 26 weeks ahead


def test_customers_lifetimes_handles_are_untouched():
    summary = _summary().drop(index="14048")
    gg = _gg()
    out = btyd.predict_btyd(summary, "pareto_nbd", horizon_weeks=26.0, fit=_fit(), gg_fit=gg)
    model = _fit().model
    x, t_x, age = (summary[c].to_numpy() for c in ("frequency_cal", "recency_cal", "T_cal"))
    expected = model.conditional_expected_number_of_purchases_up_to_time(26.0, x, t_x, age)
    np.testing.assert_array_equal(out["expected_purchases"].to_numpy(), expected)
    assert "repaired_non_finite" not in out.attrs


def test_the_stable_log_a0_equals_lifetimes_where_lifetimes_is_finite():
    params = [PARAMS[k] for k in ("r", "alpha", "s", "beta")]
    x = np.array([1.0, 5.0, 50.0, 120.0, 170.0])
    t_x = np.array([10.0, 30.0, 70.0, 30.0, 70.0])
    age = np.array([40.0, 50.0, 71.0, 70.0, T])
    ours = btyd._stable_log_a0(params, x, t_x, age)
    np.testing.assert_allclose(ours, ParetoNBDFitter._log_A_0(params, x, t_x, age), rtol=1e-9)
    assert btyd._stable_log_a0(params, 170.0, T, T) == -np.inf  # A_0 = 0 exactly
