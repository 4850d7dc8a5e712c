"""Known-answer tests for helpers.evaluation.metrics (the arithmetic is written in the comments)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from helpers.evaluation import metrics as M

# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "fn", [M.mae, M.mse, M.rmse, M.normalized_gini, M.spearman, M.decile_mape, M.top_k_capture]
)
def test_inputs_are_validated(fn):
    with pytest.raises(ValueError, match="same length"):
        fn([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="empty"):
        fn([], [])
    with pytest.raises(ValueError, match="non-finite"):
        fn([1.0, np.nan], [1.0, 2.0])


def test_accepts_series_lists_and_column_vectors():
    y = pd.Series([1.0, 2.0, 3.0])
    assert M.mae(y, [2, 2, 5]) == M.mae(y.to_numpy().reshape(-1, 1), np.array([2, 2, 5]))


# --------------------------------------------------------------------------- regression


def test_regression_errors_by_hand():
    # errors: 1-2=-1, 2-2=0, 3-5=-2 -> MAE = 3/3 = 1, MSE = (1+0+4)/3 = 5/3
    y, p = [1, 2, 3], [2, 2, 5]
    assert M.mae(y, p) == pytest.approx(1.0)
    assert M.mse(y, p) == pytest.approx(5 / 3)
    assert M.rmse(y, p) == pytest.approx(math.sqrt(5 / 3))
    assert isinstance(M.mae(y, p), float)


# --------------------------------------------------------------------------- Gini


def test_gini_by_hand():
    # y = [3, 1, 0], p = [1, 3, 2]: by p desc the values are 1, 0, 3 (total 4).
    # gains curve 0, 1/4, 1/4, 1 -> area = (1/3) * (0.125 + 0.25 + 0.625) = 1/3, Gini = -1/3.
    # perfect order 3, 1, 0: 0, 3/4, 1, 1 -> area = (1/3) * (0.375 + 0.875 + 1) = 0.75,
    # Gini = 0.5. Normalised: (-1/3) / 0.5 = -2/3.
    assert M.normalized_gini([3, 1, 0], [1, 3, 2]) == pytest.approx(-2 / 3)


def test_gini_ties_are_averaged_not_ordered():
    # y = [4, 0, 2, 0], p = [2, 2, 1, 0]: the tie group {4, 0} becomes {2, 2};
    # ranked values 2, 2, 2, 0 (total 6): curve 0, 1/3, 2/3, 1, 1
    # area = (1/4) * (1/6 + 1/2 + 5/6 + 1) = 5/8 -> Gini 1/4.
    # perfect 4, 2, 0, 0: curve 0, 2/3, 1, 1, 1 -> area 19/24 -> Gini 7/12.
    # normalised = (1/4) / (7/12) = 3/7
    y, p = np.array([4.0, 0, 2, 0]), np.array([2.0, 2, 1, 0])
    assert M.normalized_gini(y, p) == pytest.approx(3 / 7)
    # ... which equals the mean over the two orders of the tie (Ginis 5/12 and 1/12)
    perfect = 7 / 12
    assert M.normalized_gini(y, p) == pytest.approx(((5 / 12 + 1 / 12) / 2) / perfect)
    # and does not depend on row order
    perm = np.array([1, 3, 0, 2])
    assert M.normalized_gini(y[perm], p[perm]) == pytest.approx(3 / 7)


def test_gini_perfect_reversed_constant():
    rng = np.random.default_rng(0)
    y = rng.lognormal(size=500)
    assert M.normalized_gini(y, y) == pytest.approx(1.0)
    assert M.normalized_gini(y, 2 * y + 1) == pytest.approx(1.0)  # only order matters
    # reversed ranking mirrors the gains curve: exactly -1, ties in y included
    assert M.normalized_gini(y, -y) == pytest.approx(-1.0, abs=1e-12)
    y_ties = np.repeat([0.0, 1.0, 5.0, 20.0], 25)
    assert M.normalized_gini(y_ties, -y_ties) == pytest.approx(-1.0, abs=1e-12)
    assert M.normalized_gini(y, np.full_like(y, 3.0)) == pytest.approx(0.0, abs=1e-12)


def test_gini_random_ranking_averages_zero():
    rng = np.random.default_rng(42)
    ginis = [M.normalized_gini(rng.lognormal(size=400), rng.random(400)) for _ in range(200)]
    assert abs(np.mean(ginis)) < 0.02
    assert np.std(ginis) > 0.01  # genuinely random draws


def test_gini_undefined_warns_nan():
    with pytest.warns(RuntimeWarning, match="constant"):
        assert math.isnan(M.normalized_gini([2.0, 2.0, 2.0], [1, 2, 3]))
    with pytest.warns(RuntimeWarning, match="sums to zero"):
        assert math.isnan(M.normalized_gini([0.0, 0.0], [1, 2]))


# --------------------------------------------------------------------------- Spearman


def test_spearman_by_hand():
    # ranks y 1,2,3 vs p 1,3,2: d = 0,-1,1, sum d^2 = 2 -> 1 - 6*2 / (3*(9-1)) = 0.5
    assert M.spearman([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
    assert M.spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_spearman_constant_warns_nan():
    with pytest.warns(RuntimeWarning, match="y_pred is constant"):
        assert math.isnan(M.spearman([1, 2, 3], [5, 5, 5]))


# --------------------------------------------------------------------------- deciles


def test_decile_table_and_mape_by_hand():
    # y = [10, 0, 4, 6], p = [4, 1, 2, 3]; ascending p: (p1,y0) (p2,y4) | (p3,y6) (p4,y10)
    # bin 1: mean_pred 1.5, mean_actual 2, sum 4; bin 2: mean_pred 3.5, mean_actual 8, sum 16
    # MAPE = (|1.5-2|/2 + |3.5-8|/8) / 2 = (0.25 + 0.5625) / 2 = 0.40625
    y, p = [10, 0, 4, 6], [4, 1, 2, 3]
    table = M.decile_table(y, p, n_bins=2)
    assert list(table.columns) == ["bin", "n", "mean_predicted", "mean_actual", "sum_actual"]
    assert table["bin"].tolist() == [1, 2]
    assert table["n"].tolist() == [2, 2]
    assert table["mean_predicted"].tolist() == pytest.approx([1.5, 3.5])
    assert table["mean_actual"].tolist() == pytest.approx([2.0, 8.0])
    assert table["sum_actual"].tolist() == pytest.approx([4.0, 16.0])
    assert M.decile_mape(y, p, n_bins=2) == pytest.approx(0.40625)


def test_decile_table_equal_sizes_and_ties_order_free():
    rng = np.random.default_rng(1)
    y = rng.lognormal(size=103)
    p = np.round(rng.random(103), 1)  # many ties across bin boundaries
    table = M.decile_table(y, p)
    assert table["n"].sum() == 103 and table["n"].max() - table["n"].min() <= 1
    assert table["sum_actual"].sum() == pytest.approx(y.sum())
    perm = rng.permutation(103)
    pd.testing.assert_frame_equal(table, M.decile_table(y[perm], p[perm]))
    # constant prediction: every bin gets the overall mean
    flat = M.decile_table(y, np.zeros(103))
    assert flat["mean_actual"].to_numpy() == pytest.approx(np.full(10, y.mean()))


def test_decile_mape_perfect_is_zero():
    y = np.random.default_rng(2).lognormal(size=1000)
    assert M.decile_mape(y, y) == pytest.approx(0.0, abs=1e-12)


def test_decile_mape_skips_zero_bins_with_warning():
    # bin 1 = (y 0, 0) has mean_actual 0 -> left out; bin 2: |3.5 - 5| / 5 = 0.3
    with pytest.warns(RuntimeWarning, match="1 of 2 bins"):
        assert M.decile_mape([0, 0, 5, 5], [1, 2, 3, 4], n_bins=2) == pytest.approx(0.3)
    with pytest.warns(RuntimeWarning, match="every bin"):
        assert math.isnan(M.decile_mape([0, 0], [1, 2], n_bins=2))
    with pytest.raises(ValueError, match="exceeds"):
        M.decile_table([1, 2], [1, 2], n_bins=3)


# --------------------------------------------------------------------------- capture / gains


def test_top_k_capture_by_hand():
    # ranked by p desc: y = 10, 6, 4, 0 (total 20)
    y, p = [10, 0, 4, 6], [4, 1, 2, 3]
    assert M.top_k_capture(y, p, k=0.25) == pytest.approx(10 / 20)
    assert M.top_k_capture(y, p, k=0.5) == pytest.approx(16 / 20)
    assert M.top_k_capture(y, p, k=0.1) == pytest.approx(0.1 / 0.25 * 0.5)  # interpolated
    assert M.top_k_capture(y, p, k=1.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="share"):
        M.top_k_capture(y, p, k=0.0)


def test_gains_curve_shape():
    y, p = [10, 0, 4, 6], [4, 1, 2, 3]
    curve = M.gains_curve(y, p)
    assert list(curve.columns) == ["share_customers", "share_value", "share_value_perfect"]
    assert len(curve) == 5
    assert curve["share_value"].tolist() == pytest.approx([0, 0.5, 0.8, 1.0, 1.0])
    assert curve["share_value_perfect"].tolist() == pytest.approx([0, 0.5, 0.8, 1.0, 1.0])
    assert curve["share_customers"].tolist() == pytest.approx([0, 0.25, 0.5, 0.75, 1.0])


# --------------------------------------------------------------------------- zero / non-zero


def test_zero_value_classification_by_hand():
    z, p = [1, 0, 1, 0], [0.9, 0.1, 0.4, 0.6]
    # pairs (pos, neg): 0.9>0.1, 0.9>0.6, 0.4>0.1, 0.4<0.6 -> 3/4
    assert M.roc_auc(z, p) == pytest.approx(0.75)
    # by p desc: pos (R .5, P 1), neg, pos (R 1, P 2/3), neg -> AP = .5*1 + .5*2/3
    assert M.pr_auc(z, p) == pytest.approx(0.5 + 1 / 3)
    # (0.1^2 + 0.1^2 + 0.6^2 + 0.6^2) / 4 = 0.185
    assert M.brier(z, p) == pytest.approx(0.185)
    assert M.roc_auc([True, False], [0.7, 0.2]) == pytest.approx(1.0)
    with pytest.warns(RuntimeWarning, match="one class"):
        assert math.isnan(M.roc_auc([1, 1], [0.2, 0.3]))
    with pytest.raises(ValueError, match="probabilities"):
        M.brier([1, 0], [1.5, 0.0])
    with pytest.raises(ValueError, match="boolean"):
        M.brier([2, 0], [0.5, 0.0])


# --------------------------------------------------------------------------- report


def test_regression_report_keys_and_values():
    rng = np.random.default_rng(3)
    y = np.where(rng.random(300) < 0.5, 0.0, rng.lognormal(size=300))
    pred = y + rng.normal(scale=0.1, size=300)
    p_zero = np.clip((y == 0) * 0.8 + 0.1, 0, 1)
    report = M.regression_report(y, pred)
    assert tuple(report) == M.REPORT_KEYS[:8]
    assert report["mae"] == M.mae(y, pred) and report["gini"] == M.normalized_gini(y, pred)
    full = M.regression_report(y, pred, p_zero=p_zero)
    assert tuple(full) == M.REPORT_KEYS
    assert full["roc_auc"] == pytest.approx(1.0)
    assert full["brier"] == pytest.approx(0.01)
    assert all(isinstance(v, float) for v in full.values())
    with pytest.raises(ValueError, match="same length"):
        M.regression_report(y, pred, p_zero=p_zero[:-1])


def test_interval_coverage_counts_and_rejects_misaligned_inputs():

    index = pd.Index(["a", "b", "c", "d"])
    lower = pd.Series([0.0, 0.0, 5.0, 1.0], index=index)
    upper = pd.Series([10.0, 1.0, 6.0, 2.0], index=index)
    actual = pd.Series([2.0, 1.0, 7.0, 0.5], index=index)  # in, in (edge), out, out
    assert M.interval_coverage(actual, lower, upper) == 0.5
    with pytest.raises(ValueError, match="same customers"):
        M.interval_coverage(actual.reset_index(drop=True), lower, upper)


# --------------------------------------------------------------------------- issue 15 additions


def test_weighted_decile_error_known_answer():
    # two bins: [pred 1, 2 | actual 0, 4] and [pred 3, 4 | actual 5, 7]
    # bin 1: n=2, |1.5 - 2| = 0.5; bin 2: n=2, |3.5 - 6| = 2.5; total actual 16
    y, p = [0, 4, 5, 7], [1, 2, 3, 4]
    assert M.weighted_decile_error(y, p, n_bins=2) == pytest.approx((2 * 0.5 + 2 * 2.5) / 16)


def test_weighted_decile_error_zero_rule_scores_one_and_perfect_zero():
    y = np.array([0.0, 0, 0, 3, 10, 40, 0, 2, 0, 7])
    assert M.weighted_decile_error(y, np.zeros_like(y), n_bins=5) == pytest.approx(1.0)
    assert M.weighted_decile_error(y, y, n_bins=5) == pytest.approx(0.0, abs=1e-12)


def test_weighted_decile_error_is_not_driven_by_near_zero_bins():
    # A model right on the money in the top bin but 10x off on tiny bins has a large
    # decile MAPE and a small weighted error; a model off by 50 % in the top bin is
    # the other way round. The weighted error ranks them by money missed.
    y = np.array([0.1, 0.1, 0.2, 0.2, 100.0, 100.0])
    tiny_miss = np.array([1.0, 1.0, 2.0, 2.0, 100.0, 100.0])
    top_miss = np.array([0.1, 0.1, 0.2, 0.2, 50.0, 50.0])
    assert M.decile_mape(y, tiny_miss, n_bins=3) > M.decile_mape(y, top_miss, n_bins=3)
    assert M.weighted_decile_error(y, tiny_miss, 3) < M.weighted_decile_error(y, top_miss, 3)


def test_pinball_loss_known_answer():
    # tau = 0.9: under-prediction by 10 costs 9, over-prediction by 10 costs 1
    assert M.pinball_loss([10.0, 0.0], [0.0, 10.0], tau=0.9) == pytest.approx((9 + 1) / 2)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        M.pinball_loss([1.0], [1.0], tau=1.0)


def test_interval_report_splits_buyers_and_non_buyers():
    idx = pd.Index(["a", "b", "c", "d"], name="user_id")
    actual = pd.Series([0.0, 0.0, 5.0, 50.0], index=idx)
    lower = pd.Series([0.0, 0.0, 1.0, 1.0], index=idx)
    upper = pd.Series([2.0, 2.0, 10.0, 10.0], index=idx)
    report = M.interval_report(actual, lower, upper)
    assert report.loc["non-buyers", "coverage"] == 1.0
    assert report.loc["buyers", "coverage"] == 0.5
    assert report.loc["all", "coverage"] == 0.75
    assert report.loc["buyers", "customers"] == 2
    # buyer d: q90 = 10 under 50 -> 0.9 * 40 = 36; q10 = 1 -> 0.1 * 49 = 4.9
    # buyer c: q10 -> 0.1 * 4 = 0.4; q90 -> 0.1 * 5 = 0.5
    expected = ((4.9 + 0.4) / 2 + (36 + 0.5) / 2) / 2
    assert report.loc["buyers", "pinball"] == pytest.approx(expected)
    with pytest.raises(ValueError, match="same customers"):
        M.interval_report(actual.iloc[:3], lower, upper)


def test_paired_bootstrap_separates_a_real_difference_from_none():
    rng = np.random.default_rng(0)
    y = rng.gamma(0.5, 20.0, 2000) * (rng.random(2000) < 0.3)
    good = y + rng.normal(0, 1.0, y.size)
    noisy = y + rng.normal(0, 30.0, y.size)
    real = M.paired_bootstrap(y, good, noisy, M.normalized_gini, seed=1, n_boot=200)
    assert real["low"] > 0 and real["difference"] > 0 and real["share_above_zero"] == 1.0
    same = M.paired_bootstrap(y, good, good, M.normalized_gini, seed=1, n_boot=50)
    assert same["difference"] == same["low"] == same["high"] == 0.0
    again = M.paired_bootstrap(y, good, noisy, M.normalized_gini, seed=1, n_boot=200)
    assert again == real  # seeded


def test_gini_of_resamples_equals_the_gini_of_each_resample_with_ties() -> None:
    rng = np.random.default_rng(0)
    y = rng.gamma(1.0, 10.0, 40) * (rng.random(40) < 0.6)
    score = np.round(rng.normal(size=40), 1)  # many ties
    picks = rng.integers(0, 40, size=(5, 40))
    weights = np.stack([np.bincount(p, minlength=40) for p in picks]).astype(float)
    got = M.gini_raw_of_resamples(y, score, weights)
    expected = [M._gini_raw(y[p], score[p]) for p in picks]
    np.testing.assert_allclose(got, expected, atol=1e-12)
    # one copy of every customer is the plain Gini
    assert M.gini_raw_of_resamples(y, score, np.ones((1, 40)))[0] == pytest.approx(
        M._gini_raw(y, score), abs=1e-12
    )
