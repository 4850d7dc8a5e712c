"""Feature selection: deterministic, training users only, keeps signal and drops noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.features.selection import (
    lasso_importance,
    lasso_path_frame,
    lgbm_importance,
    select_features,
)


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.Series, pd.Index]:
    """log1p(target) = 2 + x1 + 0.5 x2 + noise; three pure-noise columns."""
    rng = np.random.default_rng(0)
    n = 800
    x = pd.DataFrame(
        rng.standard_normal((n, 5)),
        columns=["signal", "weak_signal", "noise_a", "noise_b", "noise_c"],
        index=pd.Index([f"u{i:04d}" for i in range(n)], name="user_id"),
    )
    z = 2.0 + x["signal"] + 0.5 * x["weak_signal"] + 0.3 * rng.standard_normal(n)
    target = np.expm1(z.clip(lower=0.0))
    return x, target, x.index[:600]


def test_keeps_signal_and_drops_noise(data):
    x, y, train = data
    sel = select_features(x, y, train, seed=1, top_k=2)
    assert set(sel.index[sel["selected"]]) == {"signal", "weak_signal"}
    assert not sel.loc["noise_a", "selected"]
    assert sel.loc["noise_a", "reason"].startswith("dropped")
    assert sel.loc["signal", "reason"].startswith("both")
    assert list(sel.columns) == [
        "lasso_coef",
        "lasso_entry_order",
        "lasso_selected",
        "gain_share",
        "gain_rank",
        "gbdt_selected",
        "selected",
        "reason",
    ]
    assert sel.attrs["lasso_alpha"] >= sel.attrs["lasso_alpha_min"]


def test_deterministic_and_uses_training_users_only(data):
    x, y, train = data
    first = select_features(x, y, train, seed=1, top_k=2)
    pd.testing.assert_frame_equal(select_features(x, y, train, seed=1, top_k=2), first)
    y_other = y.copy()
    y_other.iloc[600:] = 1e6  # users outside the training index
    x_other = x.copy()
    x_other.iloc[600:, 2] = 1e3
    pd.testing.assert_frame_equal(select_features(x_other, y_other, train, seed=1, top_k=2), first)


def test_lasso_and_gbdt_tables(data):
    x, y, train = data
    lasso = lasso_importance(x, y, train, seed=1)
    assert lasso.index[0] == "signal" and lasso.loc["signal", "entry_order"] == 1
    assert lasso.loc["signal", "coef"] > lasso.loc["weak_signal", "coef"] > 0
    gbdt = lgbm_importance(x, y, train, seed=1)
    assert gbdt.index[0] == "signal"
    assert gbdt["gain_share"].sum() == pytest.approx(1.0)
    path = lasso_path_frame(x, y, train, seed=1)
    assert len(path) == 100 * 5 and path["alpha_1se"].sum() == 5 and path["alpha_min"].sum() == 5
    at_1se = path.loc[path["alpha_1se"]].set_index("feature")["coef"]
    np.testing.assert_allclose(at_1se.loc[lasso.index], lasso["coef"])


def test_rejects_missing_or_negative_targets(data):
    x, y, train = data
    with pytest.raises(ValueError, match="non-negative"):
        select_features(x, -y, train, seed=0)
    with pytest.raises(ValueError, match="finite"):
        lasso_importance(x.assign(signal=np.nan), y, train, seed=0)


def test_a_lasso_fit_is_reused_with_identical_results(data):
    from helpers.features.selection import fit_lasso

    x, y, train = data
    fit = fit_lasso(x, y, train, seed=1, cv=5)
    pd.testing.assert_frame_equal(
        select_features(x, y, train, seed=1, top_k=2, lasso_fit=fit),
        select_features(x, y, train, seed=1, top_k=2),
    )
    pd.testing.assert_frame_equal(
        lasso_path_frame(x, y, train, seed=1, fit=fit), lasso_path_frame(x, y, train, seed=1)
    )


def test_without_any_signal_every_feature_is_kept_with_the_reason(data):
    x, _, train = data
    flat = pd.Series(0.0, index=x.index)
    sel = select_features(x, flat, train, seed=1, top_k=2)
    assert sel["selected"].all()
    assert set(sel["reason"]) == {
        "kept: no feature carried signal on the selection label, so all are kept"
    }
