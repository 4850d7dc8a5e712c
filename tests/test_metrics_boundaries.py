"""Boundaries of the interval metrics, pinned where a mutation test found them loose."""

import re
import warnings

import numpy as np
import pandas as pd
import pytest

from helpers.evaluation.metrics import (
    decile_mape,
    decile_table,
    gains_curve,
    interval_coverage,
    interval_report,
    mae,
    normalized_gini,
    paired_bootstrap,
    pinball_loss,
    pr_auc,
    regression_report,
    roc_auc,
    spearman,
    top_k_capture,
    weighted_decile_error,
)


def test_interval_coverage_counts_both_ends_as_covered():
    index = pd.Index(["a", "b", "c", "d"])
    lower = pd.Series([1.0, 1.0, 1.0, 1.0], index=index)
    upper = pd.Series([3.0, 3.0, 3.0, 3.0], index=index)
    actual = pd.Series([1.0, 3.0, 0.999, 3.001], index=index)  # on each end, just outside
    assert interval_coverage(actual, lower, upper) == 0.5


def test_interval_coverage_refuses_missing_customers():
    index = pd.Index(["a", "b"])
    bounds = pd.Series([0.0, 0.0], index=index)
    with pytest.raises(ValueError, match="must cover the same customers"):
        interval_coverage(pd.Series([1.0], index=["a"]), bounds, bounds + 1)


@pytest.mark.parametrize("tau", [0.0, 1.0, -0.1])
def test_pinball_loss_needs_tau_strictly_inside_the_unit_interval(tau: float):
    with pytest.raises(ValueError, match="tau must lie strictly between 0 and 1"):
        pinball_loss([1.0], [1.0], tau)


def test_pinball_loss_by_hand():
    # y - q = +2 (under-forecast, weight tau) and -4 (over-forecast, weight 1 - tau)
    assert pinball_loss([3.0, 1.0], [1.0, 5.0], 0.9) == pytest.approx((0.9 * 2 + 0.1 * 4) / 2)


# --- pinned where `make mutation` found the metrics module loose ----------------------
# Each test names the boundary or message it pins; messages are matched whole
# (anchored), so a changed word or an added prefix fails.
def _whole(message: str) -> str:
    return "^" + re.escape(message) + "$"


def test_pinball_loss_weights_a_fractional_under_forecast_by_tau():
    # y - q = +0.5: under the median mutant `diff >= 1` it would get weight tau - 1
    assert pinball_loss([1.5], [1.0], 0.9) == pytest.approx(0.45)


def test_interval_report_splits_buyers_at_any_positive_spend():
    index = pd.Index(["small buyer", "non-buyer", "big buyer"])
    actual = pd.Series([0.5, 0.0, 3.0], index=index)
    lower = pd.Series([0.0, 0.0, 1.0], index=index)
    upper = pd.Series([0.5, 1.0, 2.0], index=index)  # small buyer exactly on the upper end
    report = interval_report(actual, lower, upper, level=0.8)
    assert report.loc["buyers", "customers"] == 2
    assert report.loc["non-buyers", "customers"] == 1
    assert report.loc["buyers", "coverage"] == 0.5
    assert report.loc["all", "coverage"] == pytest.approx(2 / 3)
    assert report.loc["buyers", "median_width"] == pytest.approx(0.75)  # widths 0.5 and 1


def test_interval_report_keeps_later_groups_when_there_are_no_buyers():
    index = pd.Index(["a", "b"])
    zero = pd.Series([0.0, 0.0], index=index)
    report = interval_report(zero, zero, zero + 1.0)
    assert list(report.index) == ["non-buyers", "all"]
    assert list(report.columns) == ["customers", "coverage", "median_width", "pinball"]


def test_paired_bootstrap_matches_the_percentile_interval_written_out():
    rng = np.random.default_rng(3)
    y = rng.gamma(1.0, 10.0, 40)
    a = y + rng.normal(0, 5, 40)
    b = rng.permutation(y)
    out = paired_bootstrap(y, a, b, mae, seed=11)
    draws = np.random.default_rng(11)
    diffs = []
    for _ in range(500):  # the default n_boot
        idx = draws.integers(0, 40, 40)
        diffs.append(mae(y[idx], a[idx]) - mae(y[idx], b[idx]))
    assert out["difference"] == pytest.approx(mae(y, a) - mae(y, b))
    assert out["low"] == pytest.approx(np.quantile(diffs, 0.025))
    assert out["high"] == pytest.approx(np.quantile(diffs, 0.975))
    assert out["share_above_zero"] == pytest.approx(np.mean(np.array(diffs) > 0))


def test_paired_bootstrap_does_not_count_ties_as_above_zero():
    y = np.array([1.0, 2.0, 3.0])
    out = paired_bootstrap(y, y, y.copy(), mae, seed=0, n_boot=2)  # n_boot = 2 is allowed
    assert out["share_above_zero"] == 0.0


def test_paired_bootstrap_needs_two_resamples():
    with pytest.raises(ValueError, match=_whole("n_boot must be at least 2, got 1")):
        paired_bootstrap([1.0, 2.0], [1.0, 2.0], [2.0, 1.0], mae, seed=0, n_boot=1)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: paired_bootstrap([1, 2], [1], [1, 2], mae, 0),
            "y_true and pred_a must have the same length, got 2 and 1",
        ),
        (
            lambda: paired_bootstrap([1, 2], [1, 2], [1], mae, 0),
            "y_true and pred_b must have the same length, got 2 and 1",
        ),
        (
            lambda: pinball_loss([1, 2], [1], 0.5),
            "actual and quantile must have the same length, got 2 and 1",
        ),
        (
            lambda: roc_auc([0, 1], [0.5]),
            "is_zero_true and p_zero_pred must have the same length, got 2 and 1",
        ),
        (
            lambda: regression_report([0.0, 1.0], [0.0, 1.0], p_zero=[0.5]),
            "is_zero_true and p_zero must have the same length, got 2 and 1",
        ),
        (
            lambda: mae([[1.0, 2.0], [3.0, 4.0]], [1, 2]),
            "y_true must be one-dimensional, got shape (2, 2)",
        ),
        (
            lambda: mae(np.ones((1, 2, 3)), np.ones(6)),
            "y_true must be one-dimensional, got shape (1, 2, 3)",
        ),
        (
            lambda: mae([1.0, 2.0], [1.0, np.inf]),
            "y_pred contains non-finite values (first at position 1)",
        ),
        (
            lambda: mae([1.0, np.nan, np.nan], [1.0, 2.0, 3.0]),
            "y_true contains non-finite values (first at position 1)",
        ),
        (lambda: roc_auc([0, 2], [0.5, 0.5]), "is_zero_true must be boolean (0/1)"),
        (lambda: roc_auc([0, 1], [0.5, 1.5]), "p_zero_pred must be probabilities in [0, 1]"),
        (
            lambda: gains_curve([0.0, 0.0], [1.0, 2.0]),
            "gains_curve needs y_true with a positive sum",
        ),
        (
            lambda: decile_table([1.0, 2.0], [1.0, 2.0], n_bins=0),
            "n_bins must be a positive integer, got 0",
        ),
        (
            lambda: top_k_capture([1.0, 2.0], [1.0, 2.0], k=1.5),
            "k must be a share in (0, 1], got 1.5",
        ),
        (
            lambda: interval_report(
                pd.Series([1.0], index=["a"]),
                pd.Series([0.0, 0.0], index=["a", "b"]),
                pd.Series([1.0, 1.0], index=["a", "b"]),
            ),
            "actual, lower and upper must cover the same customers (same index)",
        ),
        (
            lambda: interval_coverage(
                pd.Series([1.0], index=["a"]),
                pd.Series([0.0, 0.0], index=["a", "b"]),
                pd.Series([1.0, 1.0], index=["a", "b"]),
            ),
            "actual, lower and upper must cover the same customers (same index)",
        ),
    ],
)
def test_input_errors_say_exactly_what_is_wrong(call, message: str):
    with pytest.raises(ValueError, match=_whole(message)):
        call()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: normalized_gini([0.0, 0.0], [1.0, 2.0]),
            "normalized_gini is undefined: y_true sums to zero or less; returning nan",
        ),
        (lambda: normalized_gini([0.5, 0.0], [1.0, 2.0]), None),  # a sum under 1 is fine
        (
            lambda: normalized_gini([2.0], [1.0]),
            "normalized_gini is undefined: y_true is constant; returning nan",
        ),
        (
            lambda: spearman([2.0], [1.0]),
            "spearman is undefined: y_true is constant; returning nan",
        ),
        (
            lambda: spearman([1.0, 2.0], [3.0, 3.0]),
            "spearman is undefined: y_pred is constant; returning nan",
        ),
        (
            lambda: top_k_capture([0.0, 0.0], [1.0, 2.0]),
            "top_k_capture is undefined: y_true sums to zero or less; returning nan",
        ),
        (lambda: top_k_capture([0.5, 0.0], [1.0, 2.0]), None),
        (
            lambda: weighted_decile_error([0.0, 0.0], [1.0, 2.0], n_bins=2),
            "weighted_decile_error is undefined: the total actual value is 0; returning nan",
        ),
        (lambda: weighted_decile_error([1.0, 0.0], [1.0, 2.0], n_bins=2), None),
        (
            lambda: decile_mape([0.0, 0.0], [1.0, 2.0], n_bins=2),
            "decile_mape is undefined: every bin has mean_actual == 0; returning nan",
        ),
        (
            lambda: roc_auc([1, 1], [0.2, 0.3]),
            "roc_auc is undefined: is_zero_true holds one class only; returning nan",
        ),
        (
            lambda: pr_auc([1, 1], [0.2, 0.3]),
            "pr_auc is undefined: is_zero_true holds one class only; returning nan",
        ),
    ],
)
def test_undefined_metrics_warn_with_their_name_and_reason(call, message: str | None):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = call()
    texts = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    if message is None:
        assert texts == [] and np.isfinite(value)
    else:
        assert texts == [message] and np.isnan(value)


def test_decile_mape_warning_counts_the_left_out_bins():
    with pytest.warns(RuntimeWarning) as caught:
        decile_mape([0.0, 0.0, 2.0, 4.0], [1.0, 1.5, 2.0, 4.0], n_bins=2)
    assert [str(w.message) for w in caught] == [
        "decile_mape: 1 of 2 bins have mean_actual == 0 and are left out of the mean"
    ]


def test_gains_curve_accepts_a_total_under_one():
    curve = gains_curve([0.25, 0.5], [2.0, 1.0])
    assert curve["share_value"].tolist() == pytest.approx([0.0, 1 / 3, 1.0])


def test_decile_table_allows_a_single_bin():
    table = decile_table([1.0, 3.0], [2.0, 1.0], n_bins=1)
    assert table[["n", "mean_actual", "sum_actual"]].values.tolist() == [[2, 2.0, 4.0]]


def test_calibration_errors_default_to_ten_bins_and_the_report_uses_ten():
    rng = np.random.default_rng(5)
    y = rng.gamma(1.0, 10.0, 55) + 0.1
    pred = y * rng.uniform(0.5, 1.5, 55)
    ten_mape = decile_mape(y, pred, n_bins=10)
    ten_wde = weighted_decile_error(y, pred, n_bins=10)
    assert ten_mape != pytest.approx(decile_mape(y, pred, n_bins=11))  # the test can fail
    assert ten_wde != pytest.approx(weighted_decile_error(y, pred, n_bins=11))
    assert decile_mape(y, pred) == ten_mape
    assert weighted_decile_error(y, pred) == ten_wde
    report = regression_report(y, pred)
    assert report["decile_mape"] == ten_mape
    assert report["weighted_decile_error"] == ten_wde
    assert report["top10_capture"] == top_k_capture(y, pred, k=0.10)
    assert report["top10_capture"] != top_k_capture(y, pred, k=0.2)
