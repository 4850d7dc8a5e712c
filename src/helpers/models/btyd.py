"""Buy-till-you-die (BTYD) baselines: BG/NBD, Pareto/NBD and Gamma-Gamma via ``lifetimes``.

No likelihood is written here: every model is fitted by the ``lifetimes`` fitters
(Davidson-Pilon et al.); this module prepares their inputs from canonical events,
makes fitting robust and loud (:class:`BTYDFitError`, a recorded penalizer fallback)
and turns fitted models into per-customer predictions of the holdout targets.

Time conventions (the standard CDNOW protocol of Fader, Hardie & Lee 2005)
--------------------------------------------------------------------------
* Transactions are bucketed by **calendar day (UTC)**; several purchases on one day
  are one transaction whose value is their sum.
* Calibration holds days ``<= cutoff`` (i.e. ``ts < cutoff + 1 day``), the holdout
  days ``cutoff < day <= holdout_end`` (``holdout_end`` inclusive, to end of day).
* Recency and age ``T`` are measured in days and expressed in the time unit ``freq``
  (weeks by default: days / 7), ``T`` up to the cutoff day. This is exactly
  ``lifetimes.utils.calibration_and_holdout_data(..., freq="D", freq_multiplier=7)``.
  For CDNOW (cutoff 1997-09-30, holdout to 1998-06-30) the holdout lasts 273 days
  = 39 weeks.

References
----------
.. [1] Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005), "'Counting your customers'
   the easy way: an alternative to the Pareto/NBD model", Marketing Science 24(2) (BG/NBD).
.. [2] Schmittlein, D. C., Morrison, D. G. & Colombo, R. (1987), "Counting your
   customers: who are they and what will they do next?", Management Science 33(1)
   (Pareto/NBD).
.. [3] Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005), "RFM and CLV: using iso-value
   curves for customer base analysis", Journal of Marketing Research 42(4) (Gamma-Gamma;
   see also Fader & Hardie (2013), "The Gamma-Gamma model of monetary value", note 025).
.. [4] Fader, P. S. & Hardie, B. G. S. (2006), "Deriving the conditional PMF of the
   BG/NBD model", brucehardie.com note 039 -- the P(zero purchases) used below.
.. [5] Davidson-Pilon, C. et al., ``lifetimes`` 0.11 (https://github.com/CamDavidsonPilon/lifetimes).
"""

from __future__ import annotations

import contextlib
import io
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter
from lifetimes.utils import ConvergenceError, expected_cumulative_transactions

__all__ = [
    "DEFAULT_RETRY_PENALIZERS",
    "BTYDFit",
    "BTYDFitError",
    "BTYDFitWarning",
    "btyd_summary",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "fit_pareto_nbd",
    "predict_btyd",
    "tracking_curve",
]

#: Penalizer coefficients tried, in order, after a failed fit (only those larger than the
#: penalizer asked for). Each try is recorded in :attr:`BTYDFit.attempts`.
DEFAULT_RETRY_PENALIZERS: tuple[float, ...] = (0.001, 0.01, 0.1)

#: Fitted parameters outside this range are treated as a degenerate (boundary) solution.
PARAM_RANGE: tuple[float, float] = (1e-6, 1e8)

_TIME_UNIT_DAYS = {"D": 1, "W": 7}
_MODELS = ("bgnbd", "pareto_nbd")


class BTYDFitError(RuntimeError):
    """A BTYD model could not be fitted (no convergence or degenerate parameters)."""


class BTYDFitWarning(UserWarning):
    """A fit succeeded only after raising the penalizer (the fallback was used)."""


@dataclass
class BTYDFit:
    """A fitted ``lifetimes`` model and how it was obtained.

    Attributes
    ----------
    name : str
        ``"bgnbd"``, ``"pareto_nbd"`` or ``"gamma_gamma"``.
    model : lifetimes fitter
        The fitted ``BetaGeoFitter`` / ``ParetoNBDFitter`` / ``GammaGammaFitter``.
    params : dict[str, float]
        Fitted parameters (time-scale parameters in the summary's time unit).
    penalizer : float
        ``penalizer_coef`` of the accepted fit.
    fit_seconds : float
        Wall time of all attempts together.
    n_customers : int
        Customers the model was fitted on.
    attempts : list of dict
        One record per try: ``penalizer``, ``ok``, ``seconds``, ``message``.
    notes : dict
        Extra facts, e.g. customers left out of the Gamma-Gamma fit.
    """

    name: str
    model: Any
    params: dict[str, float]
    penalizer: float
    fit_seconds: float
    n_customers: int
    attempts: list[dict[str, Any]] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def fallback_used(self) -> bool:
        """True when the accepted fit is not the first attempt."""
        return len(self.attempts) > 1

    def to_dict(self) -> dict[str, Any]:
        """Plain-data summary (for JSON / DataFrame attrs), without the fitted object."""
        return {
            "name": self.name,
            "params": dict(self.params),
            "penalizer": self.penalizer,
            "fit_seconds": self.fit_seconds,
            "n_customers": self.n_customers,
            "fallback_used": self.fallback_used,
            "attempts": [dict(a) for a in self.attempts],
            "notes": dict(self.notes),
        }


# --------------------------------------------------------------------------- summary


def _day(value: Any, name: str) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    if stamp is pd.NaT:
        raise ValueError(f"{name} is not a date: {value!r}")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.normalize()


def _purchase_days(events: pd.DataFrame) -> pd.DataFrame:
    """Purchases merged per (user_id, UTC calendar day): columns user_id, day, amount."""
    missing = [c for c in ("user_id", "ts", "amount") if c not in events.columns]
    if missing:
        raise ValueError(f"events lack required column(s) {missing}")
    purchases = events
    if "event_type" in events.columns:
        purchases = events.loc[events["event_type"] == "purchase"]
    if purchases.empty:
        raise ValueError("events hold no purchase")
    ts = pd.to_datetime(purchases["ts"])
    ts = ts.dt.tz_convert("UTC").dt.tz_localize(None) if ts.dt.tz is not None else ts
    amount = purchases["amount"].astype(float)
    if amount.isna().any() or (amount < 0).any():
        bad = purchases.loc[amount.isna() | (amount < 0)].iloc[0]
        raise ValueError(f"purchase amounts must be non-negative numbers; example row: {dict(bad)}")
    frame = pd.DataFrame(
        {"user_id": purchases["user_id"].astype(str).to_numpy(), "day": ts.dt.normalize()}
    )
    frame["amount"] = amount.to_numpy()
    return frame.groupby(["user_id", "day"], as_index=False, sort=True)["amount"].sum()


def btyd_summary(
    events: pd.DataFrame,
    cutoff: Any,
    holdout_end: Any,
    freq: str = "W",
) -> pd.DataFrame:
    """Per-customer RFM summary of calibration and holdout periods for BTYD models.

    Parameters
    ----------
    events : DataFrame
        Canonical events (``user_id``, ``ts``, ``amount``; ``event_type`` if present
        is filtered to ``"purchase"``). Naive timestamps are taken as UTC.
    cutoff : date-like
        Last calibration day (inclusive): calibration is ``ts < cutoff + 1 day``.
    holdout_end : date-like
        Last holdout day (inclusive); later purchases are ignored.
    freq : {"W", "D"}
        Time unit of recency, ``T`` and ``duration_holdout`` (weeks = days / 7).

    Returns
    -------
    DataFrame
        Index ``user_id`` (customers whose first purchase is on or before ``cutoff``),
        columns ``frequency_cal`` (repeat purchase days), ``recency_cal``, ``T_cal``,
        ``monetary_value_cal`` (mean value of the repeat purchase days, 0 without
        repeats), ``frequency_holdout`` (purchase days in the holdout),
        ``monetary_value_holdout`` (mean value of those days, 0 if none),
        ``spend_holdout`` (total holdout value) and ``duration_holdout``.
        ``attrs`` records the dates, the time unit and how many customers were left out
        because their first purchase falls in the holdout.

    Notes
    -----
    Same as ``lifetimes.utils.calibration_and_holdout_data(freq="D",
    freq_multiplier=7, monetary_value_col=...)`` except ``monetary_value_holdout``,
    which lifetimes averages over raw transactions instead of purchase days.
    """
    if freq not in _TIME_UNIT_DAYS:
        raise ValueError(f"freq must be one of {sorted(_TIME_UNIT_DAYS)}, got {freq!r}")
    unit = float(_TIME_UNIT_DAYS[freq])
    cut = _day(cutoff, "cutoff")
    end = _day(holdout_end, "holdout_end")
    if end <= cut:
        raise ValueError(f"holdout_end ({end.date()}) must be after cutoff ({cut.date()})")
    days = _purchase_days(events)
    days = days.loc[days["day"] <= end]

    cal = days.loc[days["day"] <= cut]
    if cal.empty:
        raise ValueError(f"no purchase on or before the cutoff {cut.date()}")
    grouped = cal.groupby("user_id", sort=True)
    first = grouped["day"].min()
    last = grouped["day"].max()
    count = grouped.size()
    repeat_value = cal.loc[cal["day"] > cal["user_id"].map(first)].groupby("user_id")["amount"]
    out = pd.DataFrame(index=first.index.rename("user_id"))
    out["frequency_cal"] = (count - 1).astype(float)
    out["recency_cal"] = (last - first).dt.days / unit
    out["T_cal"] = (cut - first).dt.days / unit
    out["monetary_value_cal"] = repeat_value.mean().reindex(out.index, fill_value=0.0)

    hold = days.loc[(days["day"] > cut) & days["user_id"].isin(out.index)]
    hold_grouped = hold.groupby("user_id")["amount"]
    out["frequency_holdout"] = hold_grouped.size().reindex(out.index, fill_value=0).astype(float)
    out["monetary_value_holdout"] = hold_grouped.mean().reindex(out.index, fill_value=0.0)
    out["spend_holdout"] = hold_grouped.sum().reindex(out.index, fill_value=0.0)
    out["duration_holdout"] = (end - cut).days / unit

    late = days.loc[days["day"] > cut, "user_id"]
    out.attrs.update(
        {
            "cutoff": str(cut.date()),
            "holdout_end": str(end.date()),
            "freq": freq,
            "time_unit_days": unit,
            "n_customers_first_purchase_in_holdout": int(late[~late.isin(out.index)].nunique()),
        }
    )
    return out


# --------------------------------------------------------------------------- fitting


def _column(summary: pd.DataFrame, name: str) -> np.ndarray:
    for col in (f"{name}_cal", name):
        if col in summary.columns:
            return summary[col].to_numpy(dtype=float)
    raise ValueError(f"summary lacks column '{name}_cal' (or '{name}')")


def _rft(summary: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, t_x, age = (_column(summary, c) for c in ("frequency", "recency", "T"))
    if len(x) == 0:
        raise ValueError("summary is empty")
    if not (np.isfinite(x).all() and np.isfinite(t_x).all() and np.isfinite(age).all()):
        raise ValueError("frequency, recency and T must be finite")
    if (x < 0).any() or (x != np.round(x)).any():
        raise ValueError("frequency must hold non-negative integers")
    if (t_x < 0).any() or (t_x > age + 1e-9).any():
        raise ValueError("recency must lie in [0, T]")
    return x, t_x, age


def _check_params(params: dict[str, float]) -> str | None:
    lo, hi = PARAM_RANGE
    for name, value in params.items():
        if not np.isfinite(value):
            return f"non-finite parameter {name}={value}"
        if not lo <= value <= hi:
            return f"degenerate parameter {name}={value:.3g} (outside [{lo:g}, {hi:g}])"
    return None


def _fit_with_fallback(
    name: str,
    fit_once: Callable[[float], Any],
    extract: Callable[[Any], dict[str, float]],
    penalizer: float,
    retry_penalizers: Sequence[float],
    n_customers: int,
    extra_check: Callable[[Any, dict[str, float]], str | None] | None = None,
) -> BTYDFit:
    """Fit with ``penalizer``; on failure retry with each larger penalizer, recording all."""
    if penalizer < 0:
        raise ValueError(f"penalizer must be >= 0, got {penalizer}")
    schedule = [float(penalizer)] + [float(p) for p in retry_penalizers if p > penalizer]
    attempts: list[dict[str, Any]] = []
    start = time.perf_counter()
    for pen in schedule:
        t0 = time.perf_counter()
        printed = io.StringIO()
        try:
            with (
                contextlib.redirect_stdout(printed),
                warnings.catch_warnings(),
                np.errstate(all="ignore"),
            ):
                warnings.simplefilter("ignore", RuntimeWarning)
                model = fit_once(pen)
            params = extract(model)
            problem = _check_params(params)
            if problem is None and extra_check is not None:
                problem = extra_check(model, params)
        except (
            ConvergenceError,
            np.linalg.LinAlgError,
            FloatingPointError,
            OverflowError,
            ZeroDivisionError,
            ValueError,
        ) as exc:
            problem = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        attempts.append(
            {
                "penalizer": pen,
                "ok": problem is None,
                "seconds": round(time.perf_counter() - t0, 4),
                "message": problem or "converged",
            }
        )
        if problem is None:
            fit = BTYDFit(
                name=name,
                model=model,
                params=params,
                penalizer=pen,
                fit_seconds=time.perf_counter() - start,
                n_customers=n_customers,
                attempts=attempts,
            )
            if fit.fallback_used:
                warnings.warn(
                    f"{name}: fit with penalizer_coef={schedule[0]:g} failed "
                    f"({attempts[0]['message']}); using penalizer_coef={pen:g} "
                    f"after {len(attempts)} attempts (recorded in BTYDFit.attempts)",
                    BTYDFitWarning,
                    stacklevel=3,
                )
            return fit
    tried = "; ".join(f"penalizer_coef={a['penalizer']:g}: {a['message']}" for a in attempts)
    raise BTYDFitError(
        f"{name} could not be fitted on {n_customers} customers. Tried {tried}. "
        "The data may be too small or degenerate (e.g. no repeat purchases, identical "
        "histories); pass a larger penalizer or more retry_penalizers."
    )


def _compress(x: np.ndarray, t_x: np.ndarray, age: np.ndarray) -> pd.DataFrame:
    """Unique (frequency, recency, T) patterns with their customer counts (weights)."""
    frame = pd.DataFrame({"x": x, "t_x": t_x, "T": age})
    return frame.groupby(["x", "t_x", "T"], as_index=False, sort=True).size()


def fit_bgnbd(
    summary: pd.DataFrame,
    penalizer: float = 0.0,
    retry_penalizers: Sequence[float] = DEFAULT_RETRY_PENALIZERS,
) -> BTYDFit:
    """Fit the BG/NBD model (Fader, Hardie & Lee 2005) with ``lifetimes.BetaGeoFitter``.

    Parameters
    ----------
    summary : DataFrame
        Columns ``frequency_cal``, ``recency_cal``, ``T_cal`` (or without ``_cal``).
    penalizer : float
        ``penalizer_coef`` (L2 on the parameters) of the first attempt; 0 = plain MLE.
    retry_penalizers : sequence of float
        Fallback: when lifetimes reports non-convergence or the parameters are
        non-finite / degenerate (outside :data:`PARAM_RANGE`), the fit is repeated with
        each larger value in turn. Every attempt is recorded in ``attempts`` and a
        :class:`BTYDFitWarning` is emitted when the fallback is used.

    Raises
    ------
    BTYDFitError
        When every attempt fails; the message lists each penalizer and its failure.
    """
    x, t_x, age = _rft(summary)
    patterns = _compress(x, t_x, age)

    def fit_once(pen: float) -> BetaGeoFitter:
        return BetaGeoFitter(penalizer_coef=pen).fit(
            patterns["x"], patterns["t_x"], patterns["T"], weights=patterns["size"]
        )

    return _fit_with_fallback(
        "bgnbd", fit_once, _params, penalizer, retry_penalizers, n_customers=len(x)
    )


def _params(model: Any) -> dict[str, float]:
    return {k: float(v) for k, v in model.params_.items()}


def _pareto_local_optimum(model: ParetoNBDFitter, params: dict[str, float]) -> str | None:
    """Check the Nelder-Mead result is a local minimum of lifetimes' own objective.

    ``ParetoNBDFitter`` ignores scipy's convergence flag, so each parameter is nudged by
    +-0.1 % and the objective must not drop by more than 1e-7 (relative).
    """
    data = model.data
    scale = model._scale
    theta = np.array([params["r"], params["alpha"] * scale, params["s"], params["beta"] * scale])
    args = (
        data["frequency"].to_numpy(),
        data["recency"].to_numpy() * scale,
        data["T"].to_numpy() * scale,
        data["weights"].to_numpy(),
        model.penalizer_coef,
    )
    with np.errstate(all="ignore"):
        base = model._negative_log_likelihood(theta, *args)
        for i in range(theta.size):
            for factor in (0.999, 1.001):
                trial = theta.copy()
                trial[i] *= factor
                if model._negative_log_likelihood(trial, *args) < base - 1e-7 * abs(base):
                    return (
                        "Nelder-Mead stopped before a local optimum "
                        f"(objective decreases along {list(params)[i]})"
                    )
    return None


def fit_pareto_nbd(
    summary: pd.DataFrame,
    penalizer: float = 0.0,
    retry_penalizers: Sequence[float] = DEFAULT_RETRY_PENALIZERS,
    initial_params: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
    max_restarts: int = 2,
) -> BTYDFit:
    """Fit the Pareto/NBD model (Schmittlein, Morrison & Colombo 1987) with lifetimes.

    ``ParetoNBDFitter`` minimises by Nelder-Mead from *random* starting values and
    ignores non-convergence; here the start is fixed (``initial_params``, for
    reproducibility), the fit is restarted from its own solution up to ``max_restarts``
    times until it is a local optimum of lifetimes' objective (checked by nudging each
    parameter), and only then is it accepted. Customers with the same
    (frequency, recency, T) are fitted once with a weight (same optimum, ~5x faster).
    Note that lifetimes scales this model's penalizer by the number of *patterns*.

    Parameters and fallback as in :func:`fit_bgnbd`.
    """
    x, t_x, age = _rft(summary)
    patterns = _compress(x, t_x, age)

    def fit_once(pen: float) -> ParetoNBDFitter:
        start = np.asarray(initial_params, dtype=float)
        for _ in range(max_restarts + 1):
            model = ParetoNBDFitter(penalizer_coef=pen).fit(
                patterns["x"],
                patterns["t_x"],
                patterns["T"],
                weights=patterns["size"],
                initial_params=start,
            )
            params = _params(model)
            if _check_params(params) is not None or _pareto_local_optimum(model, params) is None:
                return model
            start = np.array([params["r"], params["alpha"], params["s"], params["beta"]])
            start = start * np.array([1.0, model._scale, 1.0, model._scale])
        return model

    return _fit_with_fallback(
        "pareto_nbd",
        fit_once,
        _params,
        penalizer,
        retry_penalizers,
        n_customers=len(x),
        extra_check=_pareto_local_optimum,
    )


def fit_gamma_gamma(
    summary: pd.DataFrame,
    penalizer: float = 0.0,
    retry_penalizers: Sequence[float] = DEFAULT_RETRY_PENALIZERS,
) -> BTYDFit:
    """Fit the Gamma-Gamma spend model (Fader, Hardie & Lee 2005; Hardie note 025).

    Fitted on repeat customers only (``frequency > 0`` and ``monetary_value > 0``), as
    the model requires; the numbers left out are in ``notes``. A fit with ``q <= 1``
    (no finite population mean spend) counts as failed and triggers the fallback.

    Parameters and fallback as in :func:`fit_bgnbd`.
    """
    x = _column(summary, "frequency")
    m = _column(summary, "monetary_value")
    use = (x > 0) & (m > 0) & np.isfinite(m)
    if use.sum() < 2:
        raise BTYDFitError(
            f"gamma_gamma needs at least 2 repeat customers with positive spend, got {use.sum()}"
        )

    def fit_once(pen: float) -> GammaGammaFitter:
        return GammaGammaFitter(penalizer_coef=pen).fit(x[use], m[use])

    def q_above_one(model: Any, params: dict[str, float]) -> str | None:
        if params["q"] <= 1:
            return f"q={params['q']:.3g} <= 1: the population mean spend is undefined"
        return None

    fit = _fit_with_fallback(
        "gamma_gamma",
        fit_once,
        _params,
        penalizer,
        retry_penalizers,
        n_customers=int(use.sum()),
        extra_check=q_above_one,
    )
    fit.notes["excluded_no_repeat"] = int((x == 0).sum())
    fit.notes["excluded_zero_spend_repeaters"] = int(((x > 0) & ~(m > 0)).sum())
    return fit


# --------------------------------------------------------------------------- prediction


def _p_zero_bgnbd(model: BetaGeoFitter, x, t_x, age, t: float) -> np.ndarray:
    """BG/NBD P(no purchase in (T, T+t] | x, t_x, T) (Fader & Hardie note 039, n = 0).

    A customer alive at ``T`` can only drop out right after a purchase, so the event
    "no purchase in t" has probability ``exp(-lambda t)`` if alive and 1 if not; with
    the posterior of ``lambda`` given alive, Gamma(r + x, alpha + T),
    ``P0 = 1 - P(alive) + P(alive) * ((alpha + T) / (alpha + T + t)) ** (r + x)``.
    """
    r, alpha = model.params_["r"], model.params_["alpha"]
    alive = np.asarray(model.conditional_probability_alive(x, t_x, age), dtype=float)
    return 1.0 - alive + alive * ((alpha + age) / (alpha + age + t)) ** (r + x)


def predict_btyd(
    summary: pd.DataFrame,
    model: str = "bgnbd",
    horizon_weeks: float | None = None,
    penalizer: float = 0.0,
    gg_penalizer: float = 0.0,
    fit: BTYDFit | None = None,
    gg_fit: BTYDFit | None = None,
) -> pd.DataFrame:
    """Per-customer BTYD predictions for a horizon after the cutoff.

    Parameters
    ----------
    summary : DataFrame
        Output of :func:`btyd_summary` (calibration columns are used; holdout columns,
        if present, are ignored).
    model : {"bgnbd", "pareto_nbd"}
        Transaction model.
    horizon_weeks : float, optional
        Prediction horizon in weeks; default ``summary["duration_holdout"]``. Converted
        to the summary's time unit via ``summary.attrs["time_unit_days"]`` (7 if absent).
    penalizer, gg_penalizer : float
        First-attempt penalizers of the transaction and Gamma-Gamma fits (fallback as in
        :func:`fit_bgnbd`).
    fit, gg_fit : BTYDFit, optional
        Already fitted models to reuse instead of fitting on ``summary``.

    Returns
    -------
    DataFrame
        Index as ``summary``; columns ``expected_purchases`` (repeat purchase days in the
        horizon), ``p_alive`` (at the cutoff), ``p_zero`` (P(no purchase in the horizon);
        BG/NBD: closed form of note 039, Pareto/NBD: lifetimes'
        ``conditional_probability_of_n_purchases_up_to_time(0, ...)``, Fader & Hardie
        note 028), ``expected_spend_per_purchase`` (Gamma-Gamma conditional mean, the
        population mean for customers without repeat purchases) and ``expected_spend``
        (= purchases x spend per purchase). ``attrs["btyd"]`` holds the fitted
        parameters, penalizers, fit times and fallback attempts of both models.
    """
    if model not in _MODELS:
        raise ValueError(f"model must be one of {_MODELS}, got {model!r}")
    x, t_x, age = _rft(summary)
    unit_days = float(summary.attrs.get("time_unit_days", 7.0))
    if horizon_weeks is None:
        if "duration_holdout" not in summary.columns:
            raise ValueError("give horizon_weeks or a summary with duration_holdout")
        horizon = float(summary["duration_holdout"].iloc[0])
    else:
        horizon = float(horizon_weeks) * 7.0 / unit_days
    if not horizon > 0:
        raise ValueError(f"the horizon must be positive, got {horizon}")

    if fit is None:
        fit = (fit_bgnbd if model == "bgnbd" else fit_pareto_nbd)(summary, penalizer=penalizer)
    elif fit.name != model:
        raise ValueError(f"fit is a {fit.name} model, but model={model!r}")
    if gg_fit is None:
        gg_fit = fit_gamma_gamma(summary, penalizer=gg_penalizer)
    fitted = fit.model
    with np.errstate(all="ignore"):
        purchases = np.asarray(
            fitted.conditional_expected_number_of_purchases_up_to_time(horizon, x, t_x, age),
            dtype=float,
        )
        alive = np.asarray(fitted.conditional_probability_alive(x, t_x, age), dtype=float)
        if model == "bgnbd":
            p_zero = _p_zero_bgnbd(fitted, x, t_x, age, horizon)
        else:
            p_zero = np.asarray(
                fitted.conditional_probability_of_n_purchases_up_to_time(0, horizon, x, t_x, age),
                dtype=float,
            )
    monetary = np.where(x > 0, _column(summary, "monetary_value"), 0.0)
    spend = np.asarray(gg_fit.model.conditional_expected_average_profit(x, monetary), dtype=float)
    out = pd.DataFrame(
        {
            "expected_purchases": purchases,
            "p_alive": alive,
            "p_zero": np.clip(p_zero, 0.0, 1.0),
            "expected_spend_per_purchase": spend,
        },
        index=summary.index,
    )
    out["expected_spend"] = out["expected_purchases"] * out["expected_spend_per_purchase"]
    bad = ~np.isfinite(out.to_numpy()).all(axis=1)
    if bad.any():
        raise BTYDFitError(
            f"{model}: non-finite predictions for {int(bad.sum())} customers, e.g. "
            f"{out.index[bad][0]!r}: {out.loc[bad].iloc[0].to_dict()}"
        )
    out.attrs["btyd"] = {
        "model": model,
        "horizon": horizon,
        "transactions": fit.to_dict(),
        "gamma_gamma": gg_fit.to_dict(),
    }
    return out


# --------------------------------------------------------------------------- tracking


def tracking_curve(
    events: pd.DataFrame,
    cutoff: Any,
    holdout_end: Any,
    model: BTYDFit | Any,
) -> pd.DataFrame:
    """Weekly cumulative repeat transactions, actual vs model, over calibration + holdout.

    Uses ``lifetimes.utils.expected_cumulative_transactions`` (Fader, Hardie & Lee 2005,
    the MATLAB note's tracking plot) on the customers whose first purchase is on or
    before ``cutoff``, with purchases merged per day and weeks counted from the first
    purchase day of the data. The model must be fitted in weeks.

    Returns
    -------
    DataFrame
        Columns ``week`` (1, 2, ...), ``week_end`` (last day of the week), ``actual``
        and ``predicted`` (cumulative repeat transactions up to the end of the week) and
        ``holdout`` (True for weeks ending after the cutoff). A trailing partial week
        is dropped.
    """
    fitted = model.model if isinstance(model, BTYDFit) else model
    cut = _day(cutoff, "cutoff")
    end = _day(holdout_end, "holdout_end")
    if end <= cut:
        raise ValueError(f"holdout_end ({end.date()}) must be after cutoff ({cut.date()})")
    days = _purchase_days(events)
    days = days.loc[days["day"] <= end]
    first = days.groupby("user_id")["day"].transform("min")
    days = days.loc[first <= cut, ["user_id", "day"]]
    if days.empty:
        raise ValueError(f"no customer made a first purchase on or before {cut.date()}")
    start = days["day"].min()
    n_days = (end - start).days + 1
    if n_days < 7:
        raise ValueError("the data span less than one week")
    curve = expected_cumulative_transactions(
        fitted, days, "day", "user_id", t=n_days, freq="D", freq_multiplier=7
    )
    out = pd.DataFrame(
        {
            "week": np.arange(1, len(curve) + 1),
            "actual": curve["actual"].to_numpy(dtype=float),
            "predicted": curve["predicted"].to_numpy(dtype=float),
        }
    )
    out.insert(1, "week_end", start + pd.to_timedelta(7 * out["week"] - 1, unit="D"))
    out["holdout"] = out["week_end"] > cut
    return out
