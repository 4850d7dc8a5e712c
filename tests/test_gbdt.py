import numpy as np
import pandas as pd
import pytest

from helpers.evaluation import metrics
from helpers.models.crossfit import customer_folds
from helpers.models.gbdt import crossfit_gbdt

#: LightGBM's 2 OpenMP threads spin-wait; on a busy shared 2-core machine that made these
#: tests take 4-80 s instead of ~2 s. One thread is steady (the tests check properties).
ONE_THREAD = {"num_threads": 1}


@pytest.fixture(scope="module")
def synthetic():
    """Spend driven by x1 (zero when x1 < 0), x2 pure noise."""
    rng = np.random.default_rng(0)
    n = 1500
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    spend = np.where(x1 > 0, np.exp(1 + x1) * rng.gamma(5, 0.2, size=n), 0.0)
    index = pd.Index([f"u{i}" for i in range(n)], name="user_id")
    return pd.DataFrame({"x1": x1, "x2": x2}, index=index), pd.Series(spend, index=index)


def test_folds_are_balanced_and_seeded():
    index = pd.RangeIndex(103)
    folds = customer_folds(index, 5, seed=1)
    assert np.bincount(folds).tolist() == [21, 21, 21, 20, 20]
    assert (folds == customer_folds(index, 5, seed=1)).all()
    assert not (folds == customer_folds(index, 5, seed=2)).all()


def test_crossfit_learns_the_signal_and_is_deterministic(synthetic):
    features, spend = synthetic
    first = crossfit_gbdt(features, spend, seed=7, n_folds=3, max_rounds=300, params=ONE_THREAD)
    second = crossfit_gbdt(features, spend, seed=7, n_folds=3, max_rounds=300, params=ONE_THREAD)
    pd.testing.assert_series_equal(first.spend, second.spend)
    assert metrics.normalized_gini(spend, first.spend) > 0.85
    assert metrics.roc_auc(spend == 0, first.p_zero) > 0.95
    top = first.importance[first.importance["target"] == "spend"].iloc[0]
    assert top["feature"] == "x1"


def test_spend_only_fit_gives_the_same_spend_and_no_p_zero(synthetic):
    features, spend = synthetic
    full = crossfit_gbdt(features, spend, seed=7, n_folds=3, max_rounds=300, params=ONE_THREAD)
    only = crossfit_gbdt(
        features, spend, seed=7, n_folds=3, max_rounds=300, params=ONE_THREAD, fit_p_zero=False
    )
    pd.testing.assert_series_equal(only.spend, full.spend, check_exact=True)
    assert only.p_zero.isna().all() and full.p_zero.notna().all()
    assert list(only.best_iterations) == list(only.models) == ["spend"]
    assert only.best_iterations["spend"] == full.best_iterations["spend"]
    assert set(only.importance["target"]) == {"spend"}


def test_a_customers_own_label_never_reaches_their_prediction(synthetic):
    """Out-of-fold: changing the labels of one fold leaves that fold's predictions unchanged."""
    features, spend = synthetic
    folds = customer_folds(features.index, 3, seed=7)
    tampered = spend.copy()
    tampered[folds == 0] = tampered[folds == 0] * 100 + 1000
    base = crossfit_gbdt(features, spend, seed=7, n_folds=3, max_rounds=300, params=ONE_THREAD)
    moved = crossfit_gbdt(features, tampered, seed=7, n_folds=3, max_rounds=300, params=ONE_THREAD)
    np.testing.assert_array_equal(base.spend[folds == 0], moved.spend[folds == 0])
    assert not np.allclose(base.spend[folds == 1], moved.spend[folds == 1])


def test_misaligned_inputs_are_rejected(synthetic):
    features, spend = synthetic
    with pytest.raises(ValueError, match="share the same customer index"):
        crossfit_gbdt(features, spend.iloc[::-1], seed=1)
