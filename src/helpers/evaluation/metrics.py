"""Every evaluation metric of the study, defined once.

All functions take array-likes (lists, numpy arrays, pandas Series), check that the
inputs are non-empty, one-dimensional, finite and of equal length, and return plain
Python floats (or a DataFrame for tables and curves), so that notebooks, the
leaderboard and ``metrics.json`` all use the same definitions.

Ties in the predictions are handled the same way everywhere a ranking is involved
(normalised Gini, decile table, top-k capture, gains curve): customers with equal
predictions form one *tie group*, and each member is credited with the group's mean
actual value. This is the expected value of the metric over all orderings of the tied
customers, so results never depend on the row order of the input, and a constant
prediction scores a Gini of exactly 0.

Metrics that are undefined for the given data (Spearman or Gini with a constant
input, ROC-AUC / PR-AUC with one class only, decile MAPE when every bin has zero
actual value) return ``nan`` **and** emit a :class:`RuntimeWarning` that says why;
they never fail silently.

References
----------
.. [1] Kaggle, "Porto Seguro's Safe Driver Prediction" / "Allstate Claims": the
   normalised Gini coefficient (Gini of the model's gains curve divided by that of the
   perfect ranking).
.. [2] Wang, Liu & Miao (2019), "A Deep Probabilistic Model for Customer Lifetime Value
   Prediction", arXiv:1912.07753 -- normalised Gini and decile MAPE for CLV models.
.. [3] Brier, G. W. (1950), "Verification of forecasts expressed in terms of
   probability", Monthly Weather Review 78(1).
.. [4] Gneiting, T. & Raftery, A. E. (2007), "Strictly proper scoring rules,
   prediction, and estimation", JASA 102(477) -- the pinball (quantile) loss.
.. [5] Efron, B. & Tibshirani, R. (1993), An Introduction to the Bootstrap -- paired
   bootstrap intervals of metric differences.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats
from sklearn import metrics as skm

__all__ = [
    "REPORT_KEYS",
    "brier",
    "decile_mape",
    "decile_table",
    "interval_coverage",
    "interval_report",
    "paired_bootstrap",
    "pinball_loss",
    "weighted_decile_error",
    "gains_curve",
    "mae",
    "mse",
    "normalized_gini",
    "pr_auc",
    "regression_report",
    "rmse",
    "roc_auc",
    "spearman",
    "top_k_capture",
]

#: Keys of :func:`regression_report`, in order (the last three only with ``p_zero``).
REPORT_KEYS: tuple[str, ...] = (
    "mae",
    "rmse",
    "mse",
    "gini",
    "spearman",
    "decile_mape",
    "weighted_decile_error",
    "top10_capture",
    "roc_auc",
    "pr_auc",
    "brier",
)


# --------------------------------------------------------------------------- helpers


def _as_1d(values: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 2 and 1 in arr.shape:  # a column or row vector
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty; metrics need at least one customer")
    if not np.all(np.isfinite(arr)):
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise ValueError(f"{name} contains non-finite values (first at position {bad})")
    return arr


def _pair(y_true: ArrayLike, y_pred: ArrayLike, names: tuple[str, str] = ("y_true", "y_pred")):
    a = _as_1d(y_true, names[0])
    b = _as_1d(y_pred, names[1])
    if a.shape != b.shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same length, got {a.size} and {b.size}"
        )
    return a, b


def _undefined(metric: str, why: str) -> float:
    warnings.warn(f"{metric} is undefined: {why}; returning nan", RuntimeWarning, stacklevel=3)
    return float("nan")


def _ranked_tie_averaged(y_true: np.ndarray, y_pred: np.ndarray, descending: bool) -> np.ndarray:
    """Actual values ordered by prediction, each replaced by its tie group's mean.

    Tie groups are sets of equal predictions; the returned order within a group is
    irrelevant because all members carry the same (averaged) value.
    """
    _, inverse, counts = np.unique(y_pred, return_inverse=True, return_counts=True)
    group_mean = np.bincount(inverse, weights=y_true) / counts
    averaged = group_mean[inverse]
    order = np.argsort(-y_pred if descending else y_pred, kind="stable")
    return averaged[order]


def _gini_raw(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Gini of the gains curve: 2 * (area under the curve) - 1, trapezoid rule."""
    ranked = _ranked_tie_averaged(y_true, y_pred, descending=True)
    total = ranked.sum()
    cum = np.concatenate([[0.0], np.cumsum(ranked)]) / total
    area = float(np.sum(cum[1:] + cum[:-1]) / (2 * ranked.size))
    return 2.0 * area - 1.0


def gini_raw_of_resamples(y: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Gini of the gains curve of resamples given as ``weights`` (``(B, n)`` counts).

    Equal to :func:`_gini_raw` of each resample (ties in ``score`` averaged), for all
    resamples at once (the paired bootstrap of :mod:`helpers.studies.text_signal.bootstrap`): a
    tie group holding ``W`` resampled customers with total value ``S`` after ``C`` of
    value ranked above adds ``W (2 C + S)`` to twice the trapezoid area.
    """
    import scipy.sparse as sp

    _, inverse = np.unique(score, return_inverse=True)
    n_groups = int(inverse.max()) + 1
    descending = n_groups - 1 - inverse.ravel()  # group 0 = highest score
    onehot = sp.csr_matrix(
        (np.ones(len(y)), (np.arange(len(y)), descending)), shape=(len(y), n_groups)
    )
    count = np.asarray(weights @ onehot)
    value = np.asarray((weights * y) @ onehot)
    above = np.cumsum(value, axis=1) - value
    total, n = value.sum(axis=1), count.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        area = (count * (2 * above + value)).sum(axis=1) / (2 * n * total)
    return 2.0 * area - 1.0


# --------------------------------------------------------------------------- regression


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute error, ``mean(|y_true - y_pred|)``."""
    a, b = _pair(y_true, y_pred)
    return float(np.mean(np.abs(a - b)))


def mse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean squared error, ``mean((y_true - y_pred) ** 2)``."""
    a, b = _pair(y_true, y_pred)
    return float(np.mean((a - b) ** 2))


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Root mean squared error, ``sqrt(mse)``."""
    return float(np.sqrt(mse(y_true, y_pred)))


# --------------------------------------------------------------------------- ranking


def normalized_gini(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Normalised Gini coefficient of a value ranking.

    Customers are sorted by ``y_pred`` (highest first) and the cumulative share of
    actual value is traced against the share of customers (the gains / Lorenz curve).
    The Gini of that curve, ``2 * AUC - 1``, is divided by the Gini of the perfect
    ranking (sorting by ``y_true``). 1 = perfect ranking, 0 = no better than random
    (and exactly 0 for a constant prediction), -1 = exactly reversed ranking.

    Parameters
    ----------
    y_true : array-like
        Actual values (e.g. holdout spend); should be non-negative with a positive sum.
    y_pred : array-like
        Scores; only their order matters. Ties are averaged (see module docstring).

    Returns
    -------
    float
        ``nan`` with a RuntimeWarning when ``y_true`` is constant (no ranking to learn)
        or sums to zero.

    References
    ----------
    Kaggle normalised Gini; Wang, Liu & Miao (2019), arXiv:1912.07753, section 4.
    """
    a, b = _pair(y_true, y_pred)
    if a.sum() <= 0:
        return _undefined("normalized_gini", "y_true sums to zero or less")
    if np.all(a == a[0]):
        return _undefined("normalized_gini", "y_true is constant")
    return float(_gini_raw(a, b) / _gini_raw(a, a))


def spearman(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Spearman's rank correlation (``scipy.stats.spearmanr``, average ranks for ties).

    Returns ``nan`` with a RuntimeWarning naming the constant input when either input
    is constant (the correlation is then undefined).

    References
    ----------
    Spearman, C. (1904), "The proof and measurement of association between two things".
    """
    a, b = _pair(y_true, y_pred)
    for name, arr in (("y_true", a), ("y_pred", b)):
        if np.all(arr == arr[0]):
            return _undefined("spearman", f"{name} is constant")
    return float(stats.spearmanr(a, b).statistic)


def top_k_capture(y_true: ArrayLike, y_pred: ArrayLike, k: float = 0.10) -> float:
    """Share of total actual value held by the top ``k`` share of customers by prediction.

    Read off the (tie-averaged) gains curve at ``k``, interpolating linearly when
    ``k * n`` is not an integer (a fractional customer).

    Parameters
    ----------
    y_true, y_pred : array-like
        Actual values (positive sum) and scores.
    k : float
        Share of customers in (0, 1]; 0.10 = top decile.
    """
    if not 0.0 < k <= 1.0:
        raise ValueError(f"k must be a share in (0, 1], got {k}")
    a, b = _pair(y_true, y_pred)
    if a.sum() <= 0:
        return _undefined("top_k_capture", "y_true sums to zero or less")
    curve = gains_curve(a, b)
    return float(np.interp(k, curve["share_customers"], curve["share_value"]))


def gains_curve(y_true: ArrayLike, y_pred: ArrayLike) -> pd.DataFrame:
    """Cumulative gains curve for plotting: share of customers vs share of value.

    Returns
    -------
    DataFrame
        ``n + 1`` rows starting at (0, 0), columns ``share_customers`` (customers
        ranked by ``y_pred``, highest first), ``share_value`` (cumulative share of
        actual value, ties averaged) and ``share_value_perfect`` (the same for the
        perfect ranking by ``y_true``). The diagonal is the random ranking.
    """
    a, b = _pair(y_true, y_pred)
    total = a.sum()
    if total <= 0:
        raise ValueError("gains_curve needs y_true with a positive sum")
    model = np.concatenate([[0.0], np.cumsum(_ranked_tie_averaged(a, b, True))]) / total
    perfect = np.concatenate([[0.0], np.cumsum(np.sort(a)[::-1])]) / total
    return pd.DataFrame(
        {
            "share_customers": np.arange(a.size + 1) / a.size,
            "share_value": model,
            "share_value_perfect": perfect,
        }
    )


# --------------------------------------------------------------------------- calibration


def decile_table(y_true: ArrayLike, y_pred: ArrayLike, n_bins: int = 10) -> pd.DataFrame:
    """Customers binned by prediction rank into ``n_bins`` equal-size bins.

    Customers are sorted by ``y_pred`` ascending and split into ``n_bins`` contiguous
    bins whose sizes differ by at most one (``numpy.array_split``); bin 1 holds the
    lowest predictions, bin ``n_bins`` the highest. Where a tie group of predictions
    straddles a bin boundary, its members' actual values are replaced by the group mean
    (expected value over random tie-breaking), so the table does not depend on row order.

    Returns
    -------
    DataFrame
        Columns ``bin`` (1..n_bins), ``n``, ``mean_predicted``, ``mean_actual``,
        ``sum_actual``.
    """
    a, b = _pair(y_true, y_pred)
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins}")
    if n_bins > a.size:
        raise ValueError(f"n_bins={n_bins} exceeds the number of customers ({a.size})")
    order = np.argsort(b, kind="stable")
    actual = _ranked_tie_averaged(a, b, descending=False)
    pred = b[order]
    rows = []
    for i, idx in enumerate(np.array_split(np.arange(a.size), int(n_bins)), start=1):
        rows.append(
            {
                "bin": i,
                "n": int(idx.size),
                "mean_predicted": float(pred[idx].mean()),
                "mean_actual": float(actual[idx].mean()),
                "sum_actual": float(actual[idx].sum()),
            }
        )
    return pd.DataFrame(rows)


def decile_mape(y_true: ArrayLike, y_pred: ArrayLike, n_bins: int = 10) -> float:
    """Mean absolute percentage error of bin means, ``mean |pred - actual| / actual``.

    Computed over the bins of :func:`decile_table`. Bins whose mean actual value is 0
    (possible with zero-inflated targets such as holdout spend) have no defined
    percentage error and are **left out** of the mean, with a RuntimeWarning that
    counts them; if every bin is zero the result is ``nan``.

    References
    ----------
    Wang, Liu & Miao (2019), arXiv:1912.07753 (decile-level calibration).
    """
    table = decile_table(y_true, y_pred, n_bins)
    zero = table["mean_actual"] == 0
    if zero.all():
        return _undefined("decile_mape", "every bin has mean_actual == 0")
    if zero.any():
        warnings.warn(
            f"decile_mape: {int(zero.sum())} of {len(table)} bins have mean_actual == 0 "
            "and are left out of the mean",
            RuntimeWarning,
            stacklevel=2,
        )
    kept = table.loc[~zero]
    ape = (kept["mean_predicted"] - kept["mean_actual"]).abs() / kept["mean_actual"]
    return float(ape.mean())


def weighted_decile_error(y_true: ArrayLike, y_pred: ArrayLike, n_bins: int = 10) -> float:
    """Value-weighted calibration error of bin means: ``sum n |pred - actual| / sum actual``.

    Over the bins of :func:`decile_table`: each bin's miss of its mean, times its size,
    summed, as a share of the total actual value. Unlike :func:`decile_mape` every
    currency unit counts the same, so near-zero bins cannot dominate it. 0 = every
    bin's mean is right; predicting 0 for everyone scores exactly 1. ``nan`` with a
    RuntimeWarning when the total actual value is 0.
    """
    table = decile_table(y_true, y_pred, n_bins)
    total = table["sum_actual"].sum()
    if total == 0:
        return _undefined("weighted_decile_error", "the total actual value is 0")
    miss = (table["n"] * (table["mean_predicted"] - table["mean_actual"]).abs()).sum()
    return float(miss / total)


# --------------------------------------------------------------------------- zero / non-zero


def _binary(is_zero_true: ArrayLike, p_zero_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y, p = _pair(is_zero_true, p_zero_pred, ("is_zero_true", "p_zero_pred"))
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("is_zero_true must be boolean (0/1)")
    if np.any((p < 0) | (p > 1)):
        raise ValueError("p_zero_pred must be probabilities in [0, 1]")
    return y.astype(int), p


def roc_auc(is_zero_true: ArrayLike, p_zero_pred: ArrayLike) -> float:
    """ROC-AUC of the predicted probability of zero holdout value (sklearn).

    ``nan`` with a RuntimeWarning when only one class is present.
    """
    y, p = _binary(is_zero_true, p_zero_pred)
    if np.unique(y).size < 2:
        return _undefined("roc_auc", "is_zero_true holds one class only")
    return float(skm.roc_auc_score(y, p))


def pr_auc(is_zero_true: ArrayLike, p_zero_pred: ArrayLike) -> float:
    """Area under the precision-recall curve (average precision, sklearn), class 1 = zero.

    ``nan`` with a RuntimeWarning when only one class is present.
    """
    y, p = _binary(is_zero_true, p_zero_pred)
    if np.unique(y).size < 2:
        return _undefined("pr_auc", "is_zero_true holds one class only")
    return float(skm.average_precision_score(y, p))


def brier(is_zero_true: ArrayLike, p_zero_pred: ArrayLike) -> float:
    """Brier score ``mean((p - y) ** 2)`` of the probability of zero value (Brier 1950)."""
    y, p = _binary(is_zero_true, p_zero_pred)
    return float(skm.brier_score_loss(y, p))


# --------------------------------------------------------------------------- report


def regression_report(
    y_true: ArrayLike, y_pred: ArrayLike, p_zero: ArrayLike | None = None
) -> dict[str, float]:
    """All leaderboard metrics in one dict with stable keys (see :data:`REPORT_KEYS`).

    Parameters
    ----------
    y_true, y_pred : array-like
        Actual and predicted value (e.g. holdout spend) per customer.
    p_zero : array-like, optional
        Predicted probability that the customer's actual value is zero; when given the
        report adds ``roc_auc``, ``pr_auc`` and ``brier`` for the event ``y_true == 0``.

    Returns
    -------
    dict[str, float]
        ``mae, rmse, mse, gini, spearman, decile_mape, weighted_decile_error,
        top10_capture``
        [, ``roc_auc, pr_auc, brier``].
    """
    a, b = _pair(y_true, y_pred)
    report: dict[str, Any] = {
        "mae": mae(a, b),
        "rmse": rmse(a, b),
        "mse": mse(a, b),
        "gini": normalized_gini(a, b),
        "spearman": spearman(a, b),
        "decile_mape": decile_mape(a, b, n_bins=min(10, a.size)),
        "weighted_decile_error": weighted_decile_error(a, b, n_bins=min(10, a.size)),
        "top10_capture": top_k_capture(a, b, k=0.10),
    }
    if p_zero is not None:
        is_zero, p = _pair(a == 0, p_zero, ("is_zero_true", "p_zero"))
        report["roc_auc"] = roc_auc(is_zero, p)
        report["pr_auc"] = pr_auc(is_zero, p)
        report["brier"] = brier(is_zero, p)
    return {k: float(v) for k, v in report.items()}


def interval_coverage(actual: pd.Series, lower: pd.Series, upper: pd.Series) -> float:
    """Share of customers whose actual value lies in ``[lower, upper]``.

    Raises
    ------
    ValueError
        When ``actual`` lacks some of the customers of ``lower`` (misaligned indexes
        would otherwise silently count as misses).
    """
    a = actual.reindex(lower.index)
    if a.isna().any() or not lower.index.equals(upper.index):
        raise ValueError("actual, lower and upper must cover the same customers (same index)")
    return float(((a >= lower) & (a <= upper)).mean())


def pinball_loss(actual: ArrayLike, quantile: ArrayLike, tau: float) -> float:
    """Mean pinball (quantile) loss of a ``tau``-quantile forecast, in the value's units.

    ``tau * (y - q)`` where ``y >= q``, else ``(1 - tau) * (q - y)``; a proper score
    for the ``tau`` quantile (Gneiting & Raftery 2007): lower is better.
    """
    if not 0.0 < tau < 1.0:
        raise ValueError(f"tau must lie strictly between 0 and 1, got {tau}")
    y, q = _pair(actual, quantile, ("actual", "quantile"))
    diff = y - q
    return float(np.mean(np.where(diff >= 0, tau * diff, (tau - 1.0) * diff)))


def interval_report(
    actual: pd.Series, lower: pd.Series, upper: pd.Series, level: float = 0.8
) -> pd.DataFrame:
    """Coverage, median width and pinball loss of a central interval, by buyer status.

    Parameters
    ----------
    actual : Series
        Actual value per customer (index user_id); ``> 0`` marks a buyer.
    lower, upper : Series
        The interval's quantiles ``(1 - level) / 2`` and ``(1 + level) / 2`` (same index).

    Returns
    -------
    DataFrame
        Rows ``buyers``, ``non-buyers``, ``all``; columns ``customers``, ``coverage``
        (share inside ``[lower, upper]``), ``median_width`` and ``pinball`` (mean of the
        two quantiles' pinball losses, value units).
    """
    a = actual.reindex(lower.index)
    if a.isna().any() or not lower.index.equals(upper.index):
        raise ValueError("actual, lower and upper must cover the same customers (same index)")
    tau_low, tau_high = (1.0 - level) / 2.0, (1.0 + level) / 2.0
    rows = {}
    for name, mask in (("buyers", a > 0), ("non-buyers", a <= 0), ("all", a == a)):
        if not mask.any():
            continue
        y, lo, hi = a[mask], lower[mask], upper[mask]
        rows[name] = {
            "customers": int(mask.sum()),
            "coverage": float(((y >= lo) & (y <= hi)).mean()),
            "median_width": float((hi - lo).median()),
            "pinball": (pinball_loss(y, lo, tau_low) + pinball_loss(y, hi, tau_high)) / 2.0,
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def paired_bootstrap(
    y_true: ArrayLike,
    pred_a: ArrayLike,
    pred_b: ArrayLike,
    metric: Any,
    seed: int,
    n_boot: int = 500,
    level: float = 0.95,
) -> dict[str, float]:
    """Paired bootstrap interval of ``metric(y, a) - metric(y, b)`` over customers.

    Customers are resampled with replacement (the same resample for both predictions),
    the metric of each is recomputed, and the percentile interval of the difference is
    returned (Efron & Tibshirani 1993). An interval that contains 0 means the data do
    not tell the two predictions apart on this metric.

    Parameters
    ----------
    metric : callable
        ``metric(y_true, y_pred) -> float``, e.g. :func:`normalized_gini`.
    seed : int
        Seeds the resampling (``numpy.random.default_rng(seed)``).

    Returns
    -------
    dict
        ``difference`` (on the full sample), ``low``, ``high`` (the interval),
        ``share_above_zero`` (share of resamples with a positive difference).
    """
    y, a = _pair(y_true, pred_a, ("y_true", "pred_a"))
    _, b = _pair(y_true, pred_b, ("y_true", "pred_b"))
    if n_boot < 2:
        raise ValueError(f"n_boot must be at least 2, got {n_boot}")
    rng = np.random.default_rng(seed)
    diffs = np.empty(n_boot)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # e.g. a constant resample
        for i in range(n_boot):
            idx = rng.integers(0, y.size, y.size)
            diffs[i] = metric(y[idx], a[idx]) - metric(y[idx], b[idx])
    diffs = diffs[np.isfinite(diffs)]
    tail = (1.0 - level) / 2.0
    return {
        "difference": float(metric(y, a) - metric(y, b)),
        "low": float(np.quantile(diffs, tail)),
        "high": float(np.quantile(diffs, 1.0 - tail)),
        "share_above_zero": float((diffs > 0).mean()),
    }
