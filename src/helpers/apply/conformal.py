"""Intervals that cover what they claim, and P(no purchase) over a shorter window.

A production model learns its 80 % interval on one window; on the next window it can
cover far more or far less. Both corrections here learn from the **last completed
window**: the model was scored at ``as_of - H`` and the outcomes of ``(as_of - H,
as_of]`` are known on the day it scores ``as_of``. Nothing after ``as_of`` is read.

**Mondrian split-conformal interval** (Vovk, Gammerman & Shafer 2005, ch. 4; CQR:
Romano, Patterson & Candès 2019). Customers are split into bands by predicted
P(no purchase) (the terciles of the completed window), so the interval holds for
customers of every kind and not only on average. In each band the model's interval is
shifted on the log1p scale: the lower end (where it is above 0) by the conformal
quantile of its misses, the upper end by the smallest shift that covers
``ceil(level * (n + 1))`` of the band's ``n`` customers. An interval whose lower end is
0 stays anchored at 0, the customer's most likely outcome when P(no purchase) is high:
in a band where more than ``level`` of the customers buy nothing, the interval is
``[0, 0]`` for those customers and covers exactly the non-buyers' share, which is the
least an interval holding 0 can cover.

**P(no purchase within ``days``)** is the model's P(no purchase over the horizon)
mapped by an isotonic regression (monotone, Barlow et al. 1972) fitted on the completed
window: observed "no purchase in the first ``days``" against the predicted probability.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression

from helpers.data.split import purchase_days

__all__ = [
    "BAND_NAMES",
    "CHURN_WINDOW_DAYS",
    "ConformalInterval",
    "NoPurchaseMap",
    "WindowCalibration",
    "band_coverage",
    "calibrate_on_window",
    "compare_coverage",
    "completed_window_calibration",
    "fit_conformal",
    "fit_no_purchase_map",
    "risk_bands",
]

#: Names of the three P(no purchase) bands, lowest risk first.
BAND_NAMES: tuple[str, ...] = ("low", "medium", "high")


def _bands(p: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.searchsorted(edges, p, side="right")


def _conformal_rank(n: int, level: float) -> int:
    """1-based rank of the finite-sample conformal quantile (Vovk et al. 2005)."""
    return int(np.ceil(level * (n + 1)))


@dataclass(frozen=True)
class ConformalInterval:
    """Per-band log1p shifts of an interval's ends, learned on a completed window.

    Attributes
    ----------
    level : float
        Target coverage (0.8 for the 80 % interval).
    edges : tuple of float
        Upper edges of the lower bands in P(no purchase) (terciles of the window).
    lower_shift, upper_shift : tuple of float
        Per band: subtracted from ``log1p(q10)`` where ``q10 > 0``; added to
        ``log1p(q90)`` (``-inf`` pulls the upper end down to the lower end).
    window_coverage : tuple of float
        Per band, the coverage on the completed window after the shift.
    """

    level: float
    edges: tuple[float, ...]
    lower_shift: tuple[float, ...]
    upper_shift: tuple[float, ...]
    window_coverage: tuple[float, ...] = field(default=())

    def apply(
        self, q10: pd.Series, q90: pd.Series, p_no_purchase: pd.Series
    ) -> tuple[pd.Series, pd.Series]:
        """The corrected ``(q10, q90)``; NaN ends (no interval) stay NaN."""
        band = _bands(p_no_purchase.to_numpy(float), np.asarray(self.edges))
        lo = np.log1p(np.clip(q10.to_numpy(float), 0.0, None))
        hi = np.log1p(np.clip(q90.to_numpy(float), 0.0, None))
        anchored = q10.to_numpy(float) <= 0.0
        lower = np.where(anchored, 0.0, np.expm1(lo - np.asarray(self.lower_shift)[band]))
        lower = np.clip(lower, 0.0, None)
        with np.errstate(invalid="ignore"):
            upper = np.maximum(np.expm1(hi + np.asarray(self.upper_shift)[band]), lower)
        missing = q10.isna().to_numpy() | q90.isna().to_numpy()
        lower[missing], upper[missing] = np.nan, np.nan
        return (
            pd.Series(lower, index=q10.index, name=q10.name),
            pd.Series(upper, index=q90.index, name=q90.name),
        )


def _band_shifts(
    z: np.ndarray, lo: np.ndarray, hi: np.ndarray, anchored: np.ndarray, level: float
) -> tuple[float, float, float]:
    """One band's (lower shift, upper shift, coverage after them), all on log1p scale."""
    n = z.size
    if n == 0:
        return 0.0, 0.0, float("nan")
    # lower end: allow (1 - level) / 2 of the band to fall below it
    miss_below = np.sort(lo[~anchored] - z[~anchored])
    rank = _conformal_rank(n, 1 - (1 - level) / 2) - int(anchored.sum())
    shift_lo = (
        float(miss_below[min(rank, miss_below.size) - 1]) if rank > 0 and miss_below.size else 0.0
    )
    lower = np.where(anchored, 0.0, np.clip(np.expm1(lo - shift_lo), 0, None))
    above = lower <= np.expm1(z) + 1e-12
    # upper end: the smallest shift covering ceil(level (n + 1)) of the band;
    # a non-buyer anchored at 0 is covered by any shift
    always = above & anchored & (z == 0.0)
    need = min(_conformal_rank(n, level), n) - int(always.sum())
    gaps = np.sort((z - hi)[above & ~always])
    if need <= 0:
        shift_hi = -np.inf
    elif need <= gaps.size:
        shift_hi = float(gaps[need - 1])
    else:
        shift_hi = float(gaps[-1]) if gaps.size else 0.0
    with np.errstate(invalid="ignore"):
        upper = np.maximum(np.expm1(hi + shift_hi), lower)
    covered = above & (np.expm1(z) <= upper + 1e-9)
    return shift_lo, shift_hi, float(covered.mean())


def fit_conformal(
    q10: pd.Series,
    q90: pd.Series,
    p_no_purchase: pd.Series,
    actual: pd.Series,
    level: float = 0.8,
    n_bands: int = 3,
) -> ConformalInterval:
    """Learn the per-band shifts on a completed window (predictions and outcomes).

    Parameters
    ----------
    q10, q90, p_no_purchase : Series
        The model's interval and P(no purchase) as scored at the window's start.
    actual : Series
        Spend over the window (0 for customers who did not buy); same customers.
    level : float
        Target coverage of each band.
    n_bands : int
        Number of bands (quantiles of ``p_no_purchase``).

    Raises
    ------
    ValueError
        ``level`` outside (0, 1), customers missing from ``actual``, or fewer than
        ``n_bands`` customers with an interval.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
    y = actual.reindex(q10.index)
    if y.isna().any():
        raise ValueError("actual must hold every customer of q10 (0 for non-buyers)")
    keep = (q10.notna() & q90.notna()).to_numpy()
    if keep.sum() < n_bands:
        raise ValueError(f"need at least {n_bands} customers with an interval, got {keep.sum()}")
    p = p_no_purchase.to_numpy(float)[keep]
    edges = np.quantile(p, np.arange(1, n_bands) / n_bands)
    band = _bands(p, edges)
    z = np.log1p(y.to_numpy(float)[keep])
    q10v, q90v = q10.to_numpy(float)[keep], q90.to_numpy(float)[keep]
    lo, hi = np.log1p(np.clip(q10v, 0, None)), np.log1p(np.clip(q90v, 0, None))
    anchored = q10v <= 0.0
    lower_shift, upper_shift, coverage = [], [], []
    for b in range(n_bands):
        inside = band == b
        shifts = _band_shifts(z[inside], lo[inside], hi[inside], anchored[inside], level)
        lower_shift.append(shifts[0]), upper_shift.append(shifts[1]), coverage.append(shifts[2])
    return ConformalInterval(
        level=level,
        edges=tuple(float(e) for e in edges),
        lower_shift=tuple(lower_shift),
        upper_shift=tuple(upper_shift),
        window_coverage=tuple(coverage),
    )


def risk_bands(p_no_purchase: pd.Series, thresholds: Sequence[float] = (1 / 3, 2 / 3)) -> pd.Series:
    """``low`` / ``medium`` / ``high`` by P(no purchase) at the two ``thresholds``."""
    low, high = (float(t) for t in thresholds)
    if not 0.0 < low < high < 1.0:
        raise ValueError(f"need 0 < low < high < 1 thresholds, got {tuple(thresholds)}")
    codes = np.searchsorted([low, high], p_no_purchase.to_numpy(float), side="right")
    out = pd.Series(np.asarray(BAND_NAMES)[codes], index=p_no_purchase.index, dtype="string")
    return out.mask(p_no_purchase.isna())


@dataclass(frozen=True)
class NoPurchaseMap:
    """Isotonic map from P(no purchase over the horizon) to P(no purchase in ``days``)."""

    days: int
    model: IsotonicRegression

    def __call__(self, p_no_purchase: pd.Series) -> pd.Series:
        """P(no purchase within ``days``) per customer."""
        mapped = self.model.predict(p_no_purchase.to_numpy(float))
        return pd.Series(mapped, index=p_no_purchase.index, name=f"p_no_purchase_{self.days}d")


def fit_no_purchase_map(
    p_no_purchase: pd.Series, bought_within: pd.Series, days: int
) -> NoPurchaseMap:
    """Fit the map on a completed window.

    ``bought_within`` is True for customers who bought within the first ``days`` of the
    window (same customers as ``p_no_purchase``).
    """
    y = bought_within.reindex(p_no_purchase.index)
    if y.isna().any():
        raise ValueError("bought_within must hold every customer of p_no_purchase")
    model = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    model.fit(p_no_purchase.to_numpy(float), (~y.astype(bool)).to_numpy(float))
    return NoPurchaseMap(days=int(days), model=model)


def band_coverage(
    actual: pd.Series,
    lower: pd.Series,
    upper: pd.Series,
    p_no_purchase: pd.Series,
    n_bands: int = 3,
) -> pd.DataFrame:
    """Coverage overall, for buyers, non-buyers and each ``n_bands``-quantile band.

    Rows: ``all``, ``buyers``, ``non-buyers``, then ``third 1`` (lowest P(no purchase))
    to the last band; columns ``customers``, ``coverage``, ``non_buyer_share``.
    """
    keep = lower.notna() & upper.notna()
    y = actual.reindex(lower.index)[keep]
    covered = (y >= lower[keep] - 1e-9) & (y <= upper[keep] + 1e-9)
    p = p_no_purchase.reindex(lower.index)[keep]
    rank = p.rank(method="first")
    band = pd.qcut(rank, n_bands, labels=[f"third {i}" for i in range(1, n_bands + 1)])
    if n_bands != 3:
        band = pd.qcut(rank, n_bands, labels=[f"band {i}" for i in range(1, n_bands + 1)])
    groups = {"all": slice(None), "buyers": y > 0, "non-buyers": y == 0}
    rows = {
        name: (int(covered[mask].size), float(covered[mask].mean()), float((y[mask] == 0).mean()))
        for name, mask in groups.items()
    }
    for name in band.cat.categories:
        mask = band == name
        rows[str(name)] = (
            int(mask.sum()),
            float(covered[mask].mean()),
            float((y[mask] == 0).mean()),
        )
    return pd.DataFrame.from_dict(
        rows, orient="index", columns=["customers", "coverage", "non_buyer_share"]
    )


#: Days of the churn window a CRM team reads (P(no order in the next 90 days)).
CHURN_WINDOW_DAYS = 90


@dataclass(frozen=True)
class WindowCalibration:
    """What the last completed window teaches: the interval shifts and the churn map.

    ``no_purchase_map`` is None when the horizon is shorter than
    :data:`CHURN_WINDOW_DAYS` (P(no purchase in 90 days) is then not estimated).
    """

    start: pd.Timestamp
    horizon_days: int
    interval: ConformalInterval
    no_purchase_map: NoPurchaseMap | None


def _spend_between(events: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    days = purchase_days(events)
    inside = days.loc[(days["day"] > start) & (days["day"] <= end)]
    return inside.groupby("user_id")["amount"].sum()


def calibrate_on_window(
    scores: pd.DataFrame,
    events: pd.DataFrame,
    start: pd.Timestamp,
    horizon_days: int,
    level: float = 0.8,
) -> WindowCalibration:
    """Learn :class:`WindowCalibration` from scores made at ``start`` and the outcomes of
    ``(start, start + horizon_days]`` (purchase days, UTC).

    ``scores`` holds ``spend_q10``, ``spend_q90`` and ``p_no_purchase`` per customer.
    The caller makes sure the window is over (its end is on or before the scoring day).
    """
    day = pd.Timestamp(start)
    day = day.tz_localize("UTC") if day.tzinfo is None else day.tz_convert("UTC")
    day = day.normalize()
    spend = _spend_between(events, day, day + pd.Timedelta(days=int(horizon_days)))
    actual = spend.reindex(scores.index).fillna(0.0)
    interval = fit_conformal(
        scores["spend_q10"], scores["spend_q90"], scores["p_no_purchase"], actual, level
    )
    churn_map = None
    if int(horizon_days) >= CHURN_WINDOW_DAYS:
        soon = _spend_between(events, day, day + pd.Timedelta(days=CHURN_WINDOW_DAYS))
        churn_map = fit_no_purchase_map(
            scores["p_no_purchase"], scores.index.to_series().isin(soon.index), CHURN_WINDOW_DAYS
        )
    return WindowCalibration(day, int(horizon_days), interval, churn_map)


def completed_window_calibration(
    scores: pd.DataFrame,
    events: pd.DataFrame,
    start: pd.Timestamp,
    horizon_days: int,
    as_of: pd.Timestamp | str,
    level: float = 0.8,
) -> tuple[WindowCalibration | None, str]:
    """:func:`calibrate_on_window` when the window ``(start, start + H]`` is over by
    ``as_of`` and the scores carry an interval; else None. Returns the reason too."""
    end = pd.Timestamp(start).tz_localize(None) + pd.Timedelta(days=int(horizon_days))
    if pd.Timestamp(as_of).tz_localize(None) < end.normalize():
        return None, (
            f"the window after {pd.Timestamp(start).date()} ends {end.date()}, after "
            f"as_of: no completed window to calibrate on; the model's own interval is kept"
        )
    if scores["spend_q10"].notna().sum() < 3:
        return None, "the model gives no interval here: nothing to calibrate"
    calibration = calibrate_on_window(scores, events, start, horizon_days, level)
    return calibration, (
        f"interval and 90-day churn map calibrated on ({pd.Timestamp(start).date()}, {end.date()}]"
    )


def compare_coverage(
    scores: pd.DataFrame, actual: pd.Series, calibration: WindowCalibration | None
) -> pd.DataFrame:
    """Coverage of the model's interval and of its correction (:func:`band_coverage`
    rows), with each group's share of non-buyers."""
    p = scores["p_no_purchase"]
    raw = band_coverage(actual, scores["spend_q10"], scores["spend_q90"], p)
    out = raw.rename(columns={"coverage": "model's interval"})
    if calibration is not None:
        low, high = calibration.interval.apply(scores["spend_q10"], scores["spend_q90"], p)
        out["corrected"] = band_coverage(actual, low, high, p)["coverage"]
    order = ("customers", "non_buyer_share", "model's interval", "corrected")
    return out[[c for c in order if c in out]]
