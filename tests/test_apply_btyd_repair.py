"""The Pareto/NBD prediction that was non-finite in lifetimes (CDNOW at as_of 1998-06-30).

Customer '14048' bought on 170 repeat days, the last one on the as-of day itself:
``t_x = T = 70.857`` weeks. lifetimes' ``log A_0`` is then a ``logsumexp`` of two equal
terms of size ~760 with opposite signs, which scipy returns as NaN (not ``log 0``), and
the study used to recompute such rows. PyMC-Marketing's Pareto/NBD likelihood is stable
there, so the predictions are finite as they come; :func:`helpers.models.btyd.pareto_log_a0`
(the simulator's fast P(alive)) is checked against lifetimes where lifetimes is finite.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from lifetimes import ParetoNBDFitter  # test-only reference

from helpers.models import btyd

#: The Pareto/NBD fitted on CDNOW up to 1998-06-30 (23,570 customers).
PARAMS = {"r": 0.6109606513105141, "alpha": 13.614220329540002, "s": 0.3126261326243831,
          "beta": 6.150986874052365}  # fmt: skip
T = 70.85714285714286  # weeks between the customer's first purchase and 1998-06-30


def _fit() -> btyd.BTYDFit:
    return btyd.BTYDFit.from_dict({"name": "pareto_nbd", "params": PARAMS})


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
    model = ParetoNBDFitter()
    model.params_ = pd.Series(PARAMS)
    with np.errstate(all="ignore"):
        purchases = model.conditional_expected_number_of_purchases_up_to_time(26.0, 170.0, T, T)
    assert np.isnan(purchases)  # what PyMC-Marketing no longer gives


def test_the_prediction_is_finite_and_continuous_without_repair():
    summary = _summary()
    spend = btyd.MeanSpendModel(40.0)  # the spend model does not matter here
    gg = btyd.BTYDFit("gamma_gamma", spend, {"mean_spend": 40.0}, reduced_to="mean_spend")
    with warnings.catch_warnings():
        warnings.simplefilter("error", btyd.BTYDFitWarning)  # nothing to warn about
        out = btyd.predict_btyd(summary, "pareto_nbd", horizon_weeks=26.0, fit=_fit(), gg_fit=gg)
    assert np.isfinite(out.to_numpy()).all() and "repaired_non_finite" not in out.attrs
    first, almost = out.loc["14048"], out.loc["almost"]
    assert first["p_alive"] == pytest.approx(1.0)  # bought today: certainly alive
    assert first["expected_purchases"] == pytest.approx(almost["expected_purchases"], rel=1e-4)
    assert first["p_zero"] == pytest.approx(almost["p_zero"], abs=1e-4)
    # the ordinary rows agree with lifetimes
    model = ParetoNBDFitter()
    model.params_ = pd.Series(PARAMS)
    rows = summary.loc[["usual", "one_purchase"]]
    x, t_x, age = (rows[c].to_numpy() for c in ("frequency_cal", "recency_cal", "T_cal"))
    np.testing.assert_allclose(
        out.loc[rows.index, "expected_purchases"],
        model.conditional_expected_number_of_purchases_up_to_time(26.0, x, t_x, age),
        rtol=1e-6,
    )


def test_pareto_log_a0_matches_lifetimes_where_finite_and_is_minus_inf_at_t_x_equal_T():
    x = np.array([0.0, 3.0, 10.0, 170.0])
    t_x = np.array([0.0, 20.0, 50.0, T - 1.0])
    age = np.array([30.0, T, T, T])
    params = tuple(PARAMS.values())
    ours = btyd.pareto_log_a0(params, x, t_x, age)
    with np.errstate(all="ignore"):
        theirs = ParetoNBDFitter._log_A_0(params, x, t_x, age)
    finite = np.isfinite(theirs)
    assert finite[:3].all()
    np.testing.assert_allclose(ours[finite], theirs[finite], rtol=1e-8)
    assert btyd.pareto_log_a0(params, 170.0, T, T) == -np.inf  # A_0 = 0 exactly
