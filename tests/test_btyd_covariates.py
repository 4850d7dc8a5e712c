"""Covariate BTYD (helpers.models.btyd_covariates): covariates come from the cutoff's past
only, and a real fit finds a purchase-rate effect that the data were simulated with."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.models import btyd
from helpers.models.btyd_covariates import (
    covariate_purchases,
    cutoff_covariates,
    fit_covariate_btyd,
    standardise,
)


def _events() -> pd.DataFrame:
    rows = [  # user, day, event, category
        ("a", "2024-01-02", "view", None), ("a", "2024-01-03", "purchase", "books"),
        ("a", "2024-03-01", "view", None), ("b", "2024-01-05", "purchase", "toys"),
        ("b", "2024-01-05", "view", None), ("c", "2024-02-01", "purchase", "books"),
        ("a", "2024-04-02", "view", None), ("c", "2024-04-03", "view", None),  # after the cutoff
        ("d", "2024-04-05", "purchase", "games"),
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["user_id", "ts", "event_type", "category"])
    return frame.assign(ts=pd.to_datetime(frame["ts"], utc=True) + pd.Timedelta(hours=12))


def test_cutoff_covariates_read_nothing_after_the_cutoff():
    events, customers = _events(), pd.Index(["a", "b", "c"])
    full = cutoff_covariates(events, "2024-03-31", customers)
    past = cutoff_covariates(events[events["ts"] < "2024-04-01"], "2024-03-31", customers)
    pd.testing.assert_frame_equal(full, past)
    assert full["log_views"].tolist() == pytest.approx(np.log1p([2.0, 1.0, 0.0]).tolist())
    assert list(full.columns) == ["log_views", "first_books", "first_toys"]  # no "games"
    assert full["first_books"].tolist() == [1.0, 0.0, 1.0]
    z = standardise(full.assign(constant=1.0))
    assert "constant" not in z and np.allclose(z.mean(), 0.0) and np.allclose(z.std(ddof=0), 1.0)


def test_a_covariate_fit_recovers_a_purchase_rate_effect():
    """BG/NBD data whose purchase rate scale is ``alpha exp(-0.8 z)``: the fit finds a
    positive purchase coefficient near 0.8 and predicts more for high ``z``."""
    rng = np.random.default_rng(7)
    n, age, effect = 600, 52.0, 0.8
    z = rng.normal(size=n)
    lam = rng.gamma(2.0, 1.0 / (8.0 * np.exp(-effect * z)))
    p = rng.beta(1.0, 6.0, size=n)
    frequency, recency = np.zeros(n), np.zeros(n)
    for i in range(n):  # small simulator for the test data only
        t, alive = 0.0, True
        while alive:
            t += rng.exponential(1.0 / lam[i])
            if t > age:
                break
            frequency[i], recency[i] = frequency[i] + 1, t
            alive = rng.random() > p[i]
    summary = pd.DataFrame({"frequency_cal": frequency, "recency_cal": recency, "T_cal": age,
                            "monetary_value_cal": 1.0},
                           index=pd.Index([f"u{i}" for i in range(n)], name="user_id"))  # fmt: skip
    covariates = standardise(pd.DataFrame({"z": z}, index=summary.index))
    fit = fit_covariate_btyd("bgnbd", summary, covariates, seed=1)
    assert fit.params["purchase_coefficient_alpha[z]"] == pytest.approx(effect, abs=0.25)
    predicted = covariate_purchases(fit, summary, covariates, horizon=26.0)
    assert np.isfinite(predicted).all() and predicted.shape == (n,)
    unit = btyd.BTYDFit("gamma_gamma", btyd.MeanSpendModel(1.0), {"mean_spend": 1.0})
    plain = btyd.predict_btyd(summary, "bgnbd", horizon_weeks=26.0, gg_fit=unit)
    none = frequency == 0  # no repeat purchase: the plain model cannot tell them apart
    assert np.ptp(plain["expected_purchases"].to_numpy()[none]) < 1e-9
    assert np.corrcoef(predicted[none], z[none])[0, 1] > 0.9  # the covariate can
    with pytest.raises(ValueError, match="lack some customers"):
        covariate_purchases(fit, summary, covariates.iloc[1:], horizon=26.0)
