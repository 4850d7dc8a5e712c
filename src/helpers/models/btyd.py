"""Buy-till-you-die (BTYD) baselines: BG/NBD, Pareto/NBD and Gamma-Gamma via ``lifetimes``.

BG/NBD, Pareto/NBD and Gamma-Gamma are fitted by the ``lifetimes`` fitters
(Davidson-Pilon et al.); this module prepares their inputs from canonical events,
makes fitting robust and loud (:class:`BTYDFitError`, a recorded penalizer fallback)
and turns fitted models into per-customer predictions of the holdout targets. The one
likelihood written here is the NBD's, the model both reduce to at the no-dropout edge.

Fits at the no-dropout boundary (the reduced NBD)
-------------------------------------------------
When hardly anybody drops out within the calibration window, the likelihood of BG/NBD
is highest at ``a -> 0`` (or ``b -> inf``) and that of Pareto/NBD at ``s -> 0`` (or
``beta -> inf``): the maximum lies on the edge of the parameter space, where both
models *are* the NBD -- a gamma(r, alpha) mixture of Poisson purchase rates without
dropout (Ehrenberg 1959; Morrison & Schmittlein 1988). lifetimes then fails to converge
or returns degenerate parameters, and its L2 ``penalizer_coef`` (``c * sum(theta**2)``)
cannot help: it pulls every parameter towards 0, i.e. further onto that edge.

So when the first fit fails, :func:`fit_bgnbd` / :func:`fit_pareto_nbd` check whether
the data support any dropout at all: the same lifetimes likelihood (no penalizer) is
maximised with the parameters bounded to ``[1e-8, 1e8]`` (L-BFGS-B on log parameters)
and compared with the NBD maximum likelihood (:func:`fit_nbd`, closed-form gradients).
If the likelihood-ratio statistic ``2 (logL_BTYD - logL_NBD)`` is at most
:data:`BOUNDARY_MAX_LR` (3.84, the 95 % point of chi-square with 1 df; at a boundary the
null distribution is a mixture of lower-df chi-squares, so this is lenient towards
keeping dropout), the fit is returned as the NBD: ``name`` stays the requested model
(its leaderboard row), ``reduced_to == "nbd"``, ``note`` says why (e.g. "a -> 0: almost
nobody drops out within the window; BG/NBD reduces to the NBD ...") and a
:class:`BTYDBoundaryWarning` is emitted. Predictions, P(alive) (= 1), P(zero purchases)
and the tracking curve work on it through :class:`NBDModel`, which has the lifetimes
methods used here. Only when dropout *is* supported (or the NBD itself cannot be fitted,
e.g. nobody repeats) does fitting go on to the larger penalizers.

Weakly-informative priors (a MAP fit) were considered and not used: at the edge the
likelihood is flat in the dropout direction, so a prior would *decide* the dropout rate
the data say nothing about, while the NBD reports exactly what the data say -- no
dropout is detectable -- and leaves the published MLEs of the normal case untouched.

When Gamma-Gamma cannot be fitted (fewer than two repeat customers with spend, or no
finite mean spend for every penalizer), :func:`fit_spend_model` falls back to the
calibration mean spend per purchase day for everybody (:class:`MeanSpendModel`,
``reduced_to == "mean_spend"``), with a note and a :class:`BTYDFitWarning`;
:func:`predict_btyd` uses it when no Gamma-Gamma fit is given.

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
.. [6] Ehrenberg, A. S. C. (1959), "The pattern of consumer purchases", Applied
   Statistics 8(1) (the NBD model of purchase counts).
.. [7] Morrison, D. G. & Schmittlein, D. C. (1988), "Generalizing the NBD model for
   customer purchases: what are the implications and is it worth the effort?", Journal
   of Business & Economic Statistics 6(2).
.. [8] Self, S. G. & Liang, K.-Y. (1987), "Asymptotic properties of maximum likelihood
   estimators and likelihood ratio tests under nonstandard conditions", JASA 82(398)
   (likelihood-ratio tests at a boundary of the parameter space).
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
from scipy.optimize import minimize
from scipy.special import digamma, gammaln

from helpers.data.split import as_utc, purchase_days

__all__ = [
    "BOUNDARY_MAX_LR",
    "DEFAULT_RETRY_PENALIZERS",
    "NEAR_BOUNDARY_SHARE_GONE",
    "BTYDBoundaryWarning",
    "BTYDFit",
    "BTYDFitError",
    "BTYDFitWarning",
    "MeanSpendModel",
    "NBDModel",
    "btyd_summary",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "fit_nbd",
    "fit_pareto_nbd",
    "fit_spend_model",
    "predict_btyd",
    "tracking_curve",
]

#: Penalizer coefficients tried, in order, after a failed fit (only those larger than the
#: penalizer asked for). Each try is recorded in :attr:`BTYDFit.attempts`.
DEFAULT_RETRY_PENALIZERS: tuple[float, ...] = (0.001, 0.01, 0.1)

#: Fitted parameters outside this range are treated as a degenerate (boundary) solution.
PARAM_RANGE: tuple[float, float] = (1e-6, 1e8)

#: Largest likelihood-ratio statistic 2 (logL_BTYD - logL_NBD) at which a failed BG/NBD or
#: Pareto/NBD fit is reduced to the NBD (95 % point of chi-square, 1 df).
BOUNDARY_MAX_LR: float = 3.84

_TIME_UNIT_DAYS = {"D": 1, "W": 7}
_MODELS = ("bgnbd", "pareto_nbd", "nbd")
_LABELS = {
    "bgnbd": "BG/NBD",
    "pareto_nbd": "Pareto/NBD",
    "nbd": "NBD",
    "gamma_gamma": "Gamma-Gamma",
}
#: A converged BG/NBD or Pareto/NBD fit that puts fewer customers than this share gone at
#: the cutoff (mean of 1 - P(alive)) is kept but flagged as practically the NBD.
NEAR_BOUNDARY_SHARE_GONE: float = 1e-3
#: Bounds of the log parameters in the boundary check (parameters in [1e-8, 1e8]).
_LOG_BOUNDS = (float(np.log(1e-8)), float(np.log(1e8)))


class BTYDFitError(RuntimeError):
    """A BTYD model could not be fitted (no convergence or degenerate parameters).

    Attributes
    ----------
    model : str or None
        The model asked for.
    attempts : list of dict
        The recorded attempts (as :attr:`BTYDFit.attempts`); empty when nothing was tried.
    reason : str
        The failure in a few words, for a report (the message when not given).
    """

    def __init__(
        self,
        message: str,
        model: str | None = None,
        attempts: Sequence[dict[str, Any]] = (),
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.model = model
        self.attempts = [dict(a) for a in attempts]
        self.reason = reason or message


class BTYDFitWarning(UserWarning):
    """A fit succeeded only by a fallback (larger penalizer, reduced model)."""


class BTYDBoundaryWarning(BTYDFitWarning):
    """A BG/NBD or Pareto/NBD fit landed at the no-dropout boundary and became the NBD."""


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
        Extra facts, e.g. customers left out of the Gamma-Gamma fit, the boundary check.
    reduced_to : str or None
        ``"nbd"`` when a BG/NBD or Pareto/NBD fit landed at the no-dropout boundary and
        the nested NBD was fitted instead (``params`` are then ``r, alpha``);
        ``"mean_spend"`` when Gamma-Gamma fell back to a mean spend per purchase
        (``params`` = ``mean_spend``); None for an ordinary fit.
    note : str
        One or two sentences for a report saying why the model was reduced ("" if not).
    """

    name: str
    model: Any
    params: dict[str, float]
    penalizer: float
    fit_seconds: float
    n_customers: int
    attempts: list[dict[str, Any]] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)
    reduced_to: str | None = None
    note: str = ""

    @property
    def fallback_used(self) -> bool:
        """True when the accepted fit is not the first attempt."""
        return len(self.attempts) > 1

    def to_dict(self, timings: bool = True) -> dict[str, Any]:
        """Plain-data summary (for JSON / DataFrame attrs), without the fitted object.

        ``timings=False`` leaves out the wall-clock seconds, so that a pipeline output
        written from it (``btyd_fits.json``) is the same on every run of the same data
        and does not re-run the stages that read it.
        """
        out = {
            "name": self.name,
            "params": dict(self.params),
            "penalizer": self.penalizer,
            "fit_seconds": self.fit_seconds,
            "n_customers": self.n_customers,
            "fallback_used": self.fallback_used,
            "attempts": [dict(a) for a in self.attempts],
            "notes": dict(self.notes),
            "reduced_to": self.reduced_to,
            "note": self.note,
        }
        if not timings:
            del out["fit_seconds"]
            out["attempts"] = [
                {k: v for k, v in a.items() if k != "seconds"} for a in out["attempts"]
            ]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BTYDFit:
        """Rebuild a usable fit from :meth:`to_dict` output (e.g. ``btyd_fits.json``).

        The model object is reconstructed from the parameters (lifetimes fitters with
        ``params_`` set, or :class:`NBDModel` / :class:`MeanSpendModel`); its prediction
        methods work, the fitting data are not kept.
        """
        name, reduced = data["name"], data.get("reduced_to")
        params = {k: float(v) for k, v in data["params"].items()}
        if reduced == "nbd" or name == "nbd":
            model: Any = NBDModel(params["r"], params["alpha"])
        elif reduced == "mean_spend":
            model = MeanSpendModel(params["mean_spend"])
        else:
            fitters = {
                "bgnbd": (BetaGeoFitter, ("r", "alpha", "a", "b")),
                "pareto_nbd": (ParetoNBDFitter, ("r", "alpha", "s", "beta")),
                "gamma_gamma": (GammaGammaFitter, ("p", "q", "v")),
            }
            if name not in fitters:
                raise ValueError(f"unknown BTYD model {name!r}")
            fitter, keys = fitters[name]
            model = fitter()
            model.params_ = pd.Series({k: params[k] for k in keys})
        return cls(
            name=name,
            model=model,
            params=params,
            penalizer=float(data.get("penalizer", 0.0)),
            fit_seconds=float(data.get("fit_seconds", 0.0)),
            n_customers=int(data.get("n_customers", 0)),
            attempts=[dict(a) for a in data.get("attempts", [])],
            notes=dict(data.get("notes", {})),
            reduced_to=reduced,
            note=str(data.get("note", "")),
        )


# --------------------------------------------------------------------------- reduced models


class NBDModel:
    """The NBD model (gamma-Poisson purchases, no dropout) with lifetimes' method names.

    Purchase rates ``lambda ~ Gamma(r, alpha)`` (shape, rate; time unit of ``alpha``) and
    nobody drops out (Ehrenberg 1959; Morrison & Schmittlein 1988). Given ``x`` repeat
    purchases in ``(0, T]`` the posterior of ``lambda`` is ``Gamma(r + x, alpha + T)``
    (recency carries no information), so ``E[X(t) | x, T] = (r + x) / (alpha + T) * t``,
    ``P(alive) = 1`` and ``P(X(t) = n | x, T)`` is negative binomial with
    ``P(X(t) = 0 | x, T) = ((alpha + T) / (alpha + T + t)) ** (r + x)``.
    """

    def __init__(self, r: float, alpha: float) -> None:
        if not (r > 0 and alpha > 0):
            raise ValueError(f"NBD parameters must be positive, got r={r}, alpha={alpha}")
        self.params_ = pd.Series({"r": float(r), "alpha": float(alpha)})

    def __repr__(self) -> str:
        return f"NBDModel(r={self.params_['r']:.4g}, alpha={self.params_['alpha']:.4g})"

    def conditional_expected_number_of_purchases_up_to_time(
        self, t: Any, frequency: Any, recency: Any, T: Any
    ) -> np.ndarray:
        """``E[X(t) | x, T] = (r + x) / (alpha + T) * t`` (recency is not used)."""
        r, alpha = self.params_["r"], self.params_["alpha"]
        x, age = np.asarray(frequency, float), np.asarray(T, float)
        return (r + x) / (alpha + age) * np.asarray(t, float)

    def conditional_probability_alive(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """1 for everybody: the NBD has no dropout."""
        return np.ones(np.broadcast(np.asarray(frequency), np.asarray(T)).shape)

    def conditional_probability_of_n_purchases_up_to_time(
        self, n: int, t: float, frequency: Any, recency: Any, T: Any
    ) -> np.ndarray:
        """Posterior predictive ``P(X(t) = n | x, T)`` (negative binomial)."""
        r, alpha = self.params_["r"], self.params_["alpha"]
        shape = r + np.asarray(frequency, float)
        rate = alpha + np.asarray(T, float)
        log_p = (
            gammaln(shape + n) - gammaln(shape) - gammaln(n + 1.0)
            + shape * np.log(rate / (rate + t)) + n * np.log(t / (rate + t))
        )  # fmt: skip
        return np.exp(log_p)

    def expected_number_of_purchases_up_to_time(self, t: Any) -> np.ndarray:
        """Unconditional ``E[X(t)] = r / alpha * t`` of a new customer."""
        return self.params_["r"] / self.params_["alpha"] * np.asarray(t, float)

    def probability_of_n_purchases_up_to_time(self, t: float, n: int) -> float:
        """Unconditional NBD ``P(X(t) = n)`` of a new customer."""
        zero = np.zeros(1)
        return float(
            self.conditional_probability_of_n_purchases_up_to_time(n, t, zero, zero, zero)[0]
        )


class MeanSpendModel:
    """Spend per purchase = one stated mean for everybody (the Gamma-Gamma fallback)."""

    def __init__(self, mean_spend: float) -> None:
        if not (np.isfinite(mean_spend) and mean_spend >= 0):
            raise ValueError(f"mean_spend must be a non-negative number, got {mean_spend}")
        self.params_ = pd.Series({"mean_spend": float(mean_spend)})

    def __repr__(self) -> str:
        return f"MeanSpendModel(mean_spend={self.params_['mean_spend']:.4g})"

    def conditional_expected_average_profit(
        self, frequency: Any = None, monetary_value: Any = None
    ) -> np.ndarray:
        """The mean spend, broadcast to the shape of ``frequency`` (a scalar without it)."""
        shape = () if frequency is None else np.shape(frequency)
        return np.full(shape, self.params_["mean_spend"])


# --------------------------------------------------------------------------- summary


def _day(value: Any, name: str) -> pd.Timestamp:
    """The UTC calendar day of ``value``, tz-naive (the BTYD summaries count in naive days)."""
    if pd.isna(pd.Timestamp(value)):
        raise ValueError(f"{name} is not a date: {value!r}")
    return as_utc(value).tz_localize(None).normalize()


def _purchase_days(events: pd.DataFrame) -> pd.DataFrame:
    """Purchase occasions (:func:`helpers.data.split.purchase_days`), checked, tz-naive days."""
    missing = [c for c in ("user_id", "ts", "amount") if c not in events.columns]
    if missing:
        raise ValueError(f"events lack required column(s) {missing}")
    if "event_type" not in events.columns:
        events = events.assign(event_type="purchase")
    purchases = events.loc[events["event_type"] == "purchase"]
    if purchases.empty:
        raise ValueError("events hold no purchase")
    amount = purchases["amount"].astype(float)
    if amount.isna().any() or (amount < 0).any():
        bad = purchases.loc[amount.isna() | (amount < 0)].iloc[0]
        raise ValueError(f"purchase amounts must be non-negative numbers; example row: {dict(bad)}")
    days = purchase_days(purchases.assign(user_id=purchases["user_id"].astype(str)), sort=True)
    return days.assign(day=days["day"].dt.tz_localize(None), amount=days["amount"].astype(float))


def _window(
    events: pd.DataFrame, cutoff: Any, holdout_end: Any
) -> tuple[pd.Timestamp, pd.Timestamp, pd.DataFrame]:
    """The cutoff and holdout end as days, and the purchase days up to the holdout end."""
    cut = _day(cutoff, "cutoff")
    end = _day(holdout_end, "holdout_end")
    if end <= cut:
        raise ValueError(f"holdout_end ({end.date()}) must be after cutoff ({cut.date()})")
    days = _purchase_days(events)
    return cut, end, days.loc[days["day"] <= end]


def _summary_days(
    events: Any,
    cut: pd.Timestamp,
    end: pd.Timestamp,
    engine: str,
    spark: Any,
) -> pd.DataFrame:
    """Per-user purchase-day aggregates of :func:`helpers.engines.queries.btyd_days_sql`,
    after checking the inputs (the one definition, on DuckDB or Spark)."""
    from helpers.engines import queries
    from helpers.engines.runner import EventQueries

    if isinstance(events, pd.DataFrame):
        missing = [c for c in ("user_id", "ts", "amount") if c not in events.columns]
        if missing:
            raise ValueError(f"events lack required column(s) {missing}")
    epoch = pd.Timestamp("1970-01-01")
    cut_day, end_day = (cut - epoch).days, (end - epoch).days
    with EventQueries(events, engine, spark) as q:  # type: ignore[arg-type]
        if "amount" not in q.columns:
            raise ValueError(f"events lack required column(s) {['amount']}")
        n_purchases, n_bad = q.row(
            "SELECT count(*), count(*) FILTER (WHERE amount IS NULL OR amount < 0) "
            f"FROM ev WHERE et = {queries.PURCHASE}"
        )
        if not n_purchases:
            raise ValueError("events hold no purchase")
        bad = q.frame(queries.bad_amount_sql()) if n_bad else pd.DataFrame()
        if len(bad):
            row = bad.iloc[0]
            example = {
                "user_id": row["user_id"],
                "ts": pd.Timestamp(int(row["t"]), unit="ns", tz="UTC"),
                "amount": row["amount"],
            }
            raise ValueError(
                f"purchase amounts must be non-negative numbers; example row: {example}"
            )
        raw = q.per_user(queries.btyd_days_sql(cut_day, end_day), f"et = {queries.PURCHASE}")
    return raw.set_index(pd.Index(raw.pop("user_id").astype("str"), name="user_id"))


def btyd_summary(
    events: Any,
    cutoff: Any,
    holdout_end: Any,
    freq: str = "W",
    engine: str = "duckdb",
    spark: Any = None,
) -> pd.DataFrame:
    """Per-customer RFM summary of calibration and holdout periods for BTYD models.

    The aggregation is one SQL text (:func:`helpers.engines.queries.btyd_days_sql`) run
    on DuckDB (default; a Parquet path is read out of core) or on Spark
    (:mod:`helpers.engines`); only per-customer rows come back to pandas.

    Parameters
    ----------
    events : DataFrame or path
        Canonical events (``user_id``, ``ts``, ``amount``; ``event_type`` if present
        is filtered to ``"purchase"``), or a Parquet file of them. Naive timestamps
        are taken as UTC.
    cutoff : date-like
        Last calibration day (inclusive): calibration is ``ts < cutoff + 1 day``.
    holdout_end : date-like
        Last holdout day (inclusive); later purchases are ignored.
    freq : {"W", "D"}
        Time unit of recency, ``T`` and ``duration_holdout`` (weeks = days / 7).
    engine : {"duckdb", "spark"}
        Where the aggregation runs.
    spark : SparkSession, optional
        Session for ``engine="spark"``.

    Returns
    -------
    DataFrame
        Index ``user_id`` (customers whose first purchase is on or before ``cutoff``),
        columns ``frequency_cal`` (repeat purchase days), ``recency_cal``, ``T_cal``,
        ``monetary_value_cal`` (mean value of the repeat purchase days, 0 without
        repeats), ``frequency_holdout`` (purchase days in the holdout),
        ``monetary_value_holdout`` (mean value of those days, 0 if none),
        ``spend_holdout`` (total holdout value) and ``duration_holdout``.
        ``attrs`` records the dates, the time unit, how many customers were left out
        because their first purchase falls in the holdout, and
        ``mean_spend_per_purchase_day_cal`` (mean value of all calibration purchase
        days, first purchases included: the spend fallback of :func:`fit_spend_model`).

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
    raw = _summary_days(events, cut, end, engine, spark)
    late = raw["first_day"].isna()
    cal = raw.loc[~late].sort_index()
    if cal.empty:
        raise ValueError(f"no purchase on or before the cutoff {cut.date()}")
    first = cal["first_day"].astype("int64")
    n_cal = cal["n_cal"].astype("int64")
    cut_day = (cut - pd.Timestamp("1970-01-01")).days
    out = pd.DataFrame(index=cal.index)
    out["frequency_cal"] = (n_cal - 1).astype(float)
    out["recency_cal"] = (cal["last_day"].astype("int64") - first).astype(float) / unit
    out["T_cal"] = (cut_day - first).astype(float) / unit
    out["monetary_value_cal"] = cal["repeat_value_mean"].astype(float).fillna(0.0)
    out["frequency_holdout"] = cal["n_holdout"].fillna(0).astype(float)
    out["monetary_value_holdout"] = cal["holdout_value_mean"].astype(float).fillna(0.0)
    out["spend_holdout"] = cal["holdout_spend"].astype(float).fillna(0.0)
    out["duration_holdout"] = (end - cut).days / unit
    out.attrs.update(
        {
            "cutoff": str(cut.date()),
            "holdout_end": str(end.date()),
            "freq": freq,
            "time_unit_days": unit,
            "n_customers_first_purchase_in_holdout": int(late.sum()),
            "mean_spend_per_purchase_day_cal": float(
                cal["cal_spend"].astype(float).sum() / n_cal.sum()
            ),
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
    boundary: Callable[[list[dict[str, Any]]], tuple[BTYDFit | None, str]] | None = None,
) -> BTYDFit:
    """Fit with ``penalizer``; on failure retry with each larger penalizer, recording all.

    ``boundary``, if given, is called once after the first failed attempt with the
    attempts so far; it returns a reduced fit (accepted at once) or ``(None, why not)``.
    """
    if penalizer < 0:
        raise ValueError(f"penalizer must be >= 0, got {penalizer}")
    schedule = [float(penalizer)] + [float(p) for p in retry_penalizers if p > penalizer]
    attempts: list[dict[str, Any]] = []
    boundary_text = ""
    start = time.perf_counter()
    for pen in schedule:
        t0 = time.perf_counter()
        printed = io.StringIO()
        params: dict[str, float] = {}
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
        attempt: dict[str, Any] = {
            "penalizer": pen,
            "ok": problem is None,
            "seconds": round(time.perf_counter() - t0, 4),
            "message": problem or "converged",
        }
        if problem is not None and params:
            attempt["params"] = dict(params)
        attempts.append(attempt)
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
            if boundary_text:
                fit.notes["boundary_check"] = boundary_text
            if fit.fallback_used:
                warnings.warn(
                    f"{name}: fit with penalizer_coef={schedule[0]:g} failed "
                    f"({attempts[0]['message']}); using penalizer_coef={pen:g} "
                    f"after {len(attempts)} attempts (recorded in BTYDFit.attempts)",
                    BTYDFitWarning,
                    stacklevel=3,
                )
            return fit
        if boundary is not None and len(attempts) == 1:
            reduced, boundary_text = boundary(attempts)
            if reduced is not None:
                reduced.fit_seconds = time.perf_counter() - start
                warnings.warn(f"{name}: {reduced.note}", BTYDBoundaryWarning, stacklevel=3)
                return reduced
    tried = "; ".join(f"penalizer_coef={a['penalizer']:g}: {a['message']}" for a in attempts)
    check = f" Reduction to the NBD was checked: {boundary_text}." if boundary_text else ""
    if len(schedule) > 1:
        advice = (
            f"larger penalizers (up to {schedule[-1]:g}) did not help, and a still larger one "
            "is unlikely to: lifetimes' penalizer pulls every parameter towards 0."
        )
    else:
        advice = "pass a larger penalizer or more retry_penalizers."
    raise BTYDFitError(
        f"{name} could not be fitted on {n_customers} customers. Tried {tried}.{check} "
        f"The data may be too small or degenerate (e.g. no repeat purchases, identical "
        f"histories); {advice}",
        model=name,
        attempts=attempts,
        reason=f"no penalizer gave a valid fit (last: {attempts[-1]['message']})"
        + (f"; {boundary_text}" if boundary_text else ""),
    )


# --------------------------------------------------------------------------- NBD / boundary


def _nbd_negative_log_likelihood(
    log_params: np.ndarray, x: np.ndarray, age: np.ndarray, weights: np.ndarray
) -> tuple[float, np.ndarray]:
    """Weighted NBD negative log-likelihood of (x, T) and its gradient in log parameters.

    ``log L = sum w [lnG(r + x) - lnG(r) + r ln(alpha) - (r + x) ln(alpha + T)]``, the
    likelihood of BG/NBD and Pareto/NBD at the no-dropout edge (same constants omitted).
    """
    r, alpha = np.exp(log_params)
    ll = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - (r + x) * np.log(alpha + age)
    d_r = r * (digamma(r + x) - digamma(r) + np.log(alpha) - np.log(alpha + age))
    d_alpha = r - alpha * (r + x) / (alpha + age)
    grad = np.array([(weights * d_r).sum(), (weights * d_alpha).sum()])
    return -float((weights * ll).sum()), -grad


def _nbd_mle(
    patterns: pd.DataFrame, scale: float
) -> tuple[dict[str, float] | None, float, str | None]:
    """NBD MLE on weighted patterns with time multiplied by ``scale``.

    Returns ``(params in scaled time or None, negative log-likelihood, problem)``.
    """
    x = patterns["x"].to_numpy(float)
    age = patterns["T"].to_numpy(float) * scale
    w = patterns["size"].to_numpy(float)
    if not (w * x).sum() > 0:
        return None, np.inf, "nobody made a repeat purchase"
    rate = (w * x).sum() / max((w * age).sum(), 1e-12)
    with np.errstate(all="ignore"):
        res = minimize(
            _nbd_negative_log_likelihood,
            np.array([0.0, -np.log(rate)]),
            args=(x, age, w),
            jac=True,
            method="L-BFGS-B",
            bounds=[_LOG_BOUNDS, _LOG_BOUNDS],
        )
    r, alpha = (float(v) for v in np.exp(res.x))
    params = {"r": r, "alpha": alpha / scale}
    problem = _check_params(params)
    if problem is None and not res.success:
        problem = f"the optimiser stopped: {res.message}"
    if problem is None and np.any(
        np.isclose(res.x, _LOG_BOUNDS[0]) | np.isclose(res.x, _LOG_BOUNDS[1])
    ):
        problem = f"parameter at the search bound (r={r:.3g}, alpha={alpha / scale:.3g})"
    if problem is not None:
        return None, float(res.fun), problem
    return {"r": r, "alpha": alpha}, float(res.fun), None


def fit_nbd(summary: pd.DataFrame) -> BTYDFit:
    """Fit the NBD model (gamma-Poisson purchases, no dropout) by maximum likelihood.

    The likelihood of each customer's ``x`` repeat purchases in ``(0, T]`` (Ehrenberg
    1959; Morrison & Schmittlein 1988) is maximised over ``log r, log alpha`` with
    L-BFGS-B and exact gradients, on the weighted distinct ``(x, T)`` patterns.

    Parameters
    ----------
    summary : DataFrame
        Columns ``frequency_cal``, ``recency_cal``, ``T_cal`` (or without ``_cal``).

    Returns
    -------
    BTYDFit
        ``name="nbd"``, ``model`` an :class:`NBDModel`, ``params`` ``r, alpha`` (alpha
        in the summary's time unit), ``notes["log_likelihood"]``.

    Raises
    ------
    BTYDFitError
        When nobody repeats, or the rates show no heterogeneity (``r -> inf``).
    """
    t0 = time.perf_counter()
    x, t_x, age = _rft(summary)
    patterns = _compress(x, np.zeros_like(t_x), age)
    scale = 1.0 / max(float(age.max()), 1e-12)
    params, nll, problem = _nbd_mle(patterns, scale)
    seconds = time.perf_counter() - t0
    attempt = {"penalizer": 0.0, "ok": problem is None, "seconds": round(seconds, 4)}
    if params is None:
        attempt["message"] = str(problem)
        raise BTYDFitError(
            f"nbd could not be fitted on {len(x)} customers: {problem}",
            model="nbd",
            attempts=[attempt],
            reason=str(problem),
        )
    attempt["message"] = "converged"
    fitted = {"r": params["r"], "alpha": params["alpha"] / scale}
    return BTYDFit(
        name="nbd",
        model=NBDModel(**fitted),
        params=fitted,
        penalizer=0.0,
        fit_seconds=seconds,
        n_customers=len(x),
        attempts=[attempt],
        notes={"log_likelihood": _nbd_log_likelihood(fitted, patterns)},
    )


def _nbd_log_likelihood(params: dict[str, float], patterns: pd.DataFrame) -> float:
    """NBD log-likelihood of the patterns in their own time unit."""
    log_params = np.log([params["r"], params["alpha"]])
    x, age, w = (patterns[c].to_numpy(float) for c in ("x", "T", "size"))
    return -_nbd_negative_log_likelihood(log_params, x, age, w)[0]


def _btyd_objective(
    name: str, patterns: pd.DataFrame, scale: float
) -> Callable[[np.ndarray], float]:
    """lifetimes' unpenalized mean negative log-likelihood of ``name`` in log parameters."""
    x = patterns["x"].to_numpy(float)
    t_x = patterns["t_x"].to_numpy(float) * scale
    age = patterns["T"].to_numpy(float) * scale
    w = patterns["size"].to_numpy(float)
    total = w.sum()

    def objective(log_params: np.ndarray) -> float:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if name == "bgnbd":
                value = BetaGeoFitter._negative_log_likelihood(
                    np.asarray(log_params, float), x.astype(int), t_x, age, w, 0.0
                )
            else:
                value = ParetoNBDFitter._negative_log_likelihood(
                    np.exp(log_params), x, t_x, age, w, 0.0
                ) * w.mean() / total  # fmt: skip
        value = float(value)
        return value if np.isfinite(value) else 1e10

    return objective


def _share_gone(name: str, params: dict[str, float], patterns: pd.DataFrame) -> float:
    """Share of the customers the model puts gone at the cutoff: mean of ``1 - P(alive)``.

    Among the customers who could have dropped out: all for Pareto/NBD, the repeat
    customers for BG/NBD (dropout follows a repeat purchase); NaN when there are none.
    """
    if name == "bgnbd":
        model: Any = BetaGeoFitter()
        keys: tuple[str, ...] = ("r", "alpha", "a", "b")
    else:
        model = ParetoNBDFitter()
        keys = ("r", "alpha", "s", "beta")
    model.params_ = pd.Series({k: params[k] for k in keys})
    if name == "bgnbd":
        patterns = patterns.loc[patterns["x"] > 0]
    if patterns.empty:
        return float("nan")
    x, t_x, age, w = (patterns[c].to_numpy(float) for c in ("x", "t_x", "T", "size"))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        alive = np.asarray(model.conditional_probability_alive(x, t_x, age), dtype=float)
    alive = np.clip(np.nan_to_num(alive, nan=1.0), 0.0, 1.0)
    return float((w * (1.0 - alive)).sum() / w.sum())


def _edge(name: str, params: dict[str, float]) -> str:
    if name == "bgnbd":
        return "a → 0" if params["a"] <= 1e-3 or params["a"] <= 1e-3 * params["b"] else "b → ∞"
    return "s → 0" if params["s"] <= 1e-3 else "β → ∞"


def _boundary_note(name: str, best: dict[str, float], lr: float, gone: float) -> str:
    label = _LABELS[name]
    who = "repeat customers" if name == "bgnbd" else "customers"
    test = f"likelihood-ratio statistic vs the NBD {lr:.2f} ≤ {BOUNDARY_MAX_LR}"
    if gone < NEAR_BOUNDARY_SHARE_GONE:
        return (
            f"{_edge(name, best)}: almost nobody drops out within the window; {label} reduces "
            f"to the NBD (gamma-Poisson purchases, no dropout). The best {label} fit puts "
            f"{gone:.2%} of the {who} gone at the cutoff; {test}."
        )
    return (
        f"dropout is not supported by the data: the best {label} fit (it puts {gone:.2%} of "
        f"the {who} gone at the cutoff) is no better than the NBD ({test}), so {label} "
        f"reduces to the NBD (gamma-Poisson purchases, no dropout)."
    )


def _flag_near_boundary(fit: BTYDFit, patterns: pd.DataFrame) -> BTYDFit:
    """Record the share gone at the cutoff; flag an ordinary fit that is practically NBD."""
    if fit.reduced_to is not None:
        return fit
    gone = _share_gone(fit.name, fit.params, patterns)
    fit.notes["share_gone_at_cutoff"] = gone
    if gone < NEAR_BOUNDARY_SHARE_GONE:  # False for NaN (nobody could have dropped out)
        dropout = ("a", "b") if fit.name == "bgnbd" else ("s", "beta")
        values = ", ".join(f"{k}={fit.params[k]:.3g}" for k in dropout)
        fit.note = (
            f"{_edge(fit.name, fit.params)} ({values}): almost nobody drops out within the "
            f"window (the fit puts {gone:.2%} of the "
            f"{'repeat customers' if fit.name == 'bgnbd' else 'customers'} gone at the cutoff); "
            f"{_LABELS[fit.name]} is kept as fitted but is practically the NBD here."
        )
        warnings.warn(f"{fit.name}: {fit.note}", BTYDBoundaryWarning, stacklevel=3)
    return fit


def _boundary_check(
    name: str, patterns: pd.DataFrame, n_customers: int
) -> Callable[[list[dict[str, Any]]], tuple[BTYDFit | None, str]]:
    """The ``boundary`` hook of :func:`_fit_with_fallback` for BG/NBD and Pareto/NBD."""
    dropout = ("a", "b") if name == "bgnbd" else ("s", "beta")

    def check(attempts: list[dict[str, Any]]) -> tuple[BTYDFit | None, str]:
        t0 = time.perf_counter()
        scale = 1.0 / max(float(patterns["T"].max()), 1e-12)
        nbd, nbd_nll, problem = _nbd_mle(patterns, scale)
        if nbd is None:
            return None, f"the NBD could not be fitted either ({problem})"
        objective = _btyd_objective(name, patterns, scale)
        total = float(patterns["size"].sum())
        starts = [np.array([np.log(nbd["r"]), np.log(nbd["alpha"]), 0.0, 0.0])]
        for attempt in attempts:
            tried = attempt.get("params", {})
            keys = ("r", "alpha", *dropout)
            if all(k in tried and np.isfinite(tried[k]) and tried[k] > 0 for k in keys):
                theta = np.array([tried[k] for k in keys], dtype=float)
                theta[1] *= scale
                if name == "pareto_nbd":
                    theta[3] *= scale
                starts.append(np.clip(np.log(theta), *_LOG_BOUNDS))
        best = None
        for x0 in starts:
            res = minimize(objective, x0, method="L-BFGS-B", bounds=[_LOG_BOUNDS] * 4)
            if best is None or res.fun < best.fun:
                best = res
        assert best is not None
        lr = max(0.0, 2.0 * (nbd_nll - best.fun * total))
        theta = np.exp(best.x)
        best_params = dict(zip(("r", "alpha", *dropout), (float(v) for v in theta), strict=True))
        best_params["alpha"] /= scale
        if name == "pareto_nbd":
            best_params["beta"] /= scale
        if lr > BOUNDARY_MAX_LR:
            return None, (
                f"not a no-dropout boundary: {_LABELS[name]} fits better than the NBD "
                f"(likelihood-ratio statistic {lr:.1f} > {BOUNDARY_MAX_LR})"
            )
        gone = _share_gone(name, best_params, patterns)
        note = _boundary_note(name, best_params, lr, gone)
        fitted = {"r": nbd["r"], "alpha": nbd["alpha"] / scale}
        seconds = round(time.perf_counter() - t0, 4)
        attempt = {
            "penalizer": 0.0,
            "ok": True,
            "seconds": seconds,
            "message": f"reduced to the NBD (likelihood-ratio statistic {lr:.2f})",
            "model": "nbd",
        }
        fit = BTYDFit(
            name=name,
            model=NBDModel(**fitted),
            params=fitted,
            penalizer=0.0,
            fit_seconds=seconds,
            n_customers=n_customers,
            attempts=[*attempts, attempt],
            notes={
                "boundary_lr": lr,
                "boundary_params": best_params,
                "boundary_share_gone_at_cutoff": gone,
                "log_likelihood": _nbd_log_likelihood(fitted, patterns),
            },
            reduced_to="nbd",
            note=note,
        )
        return fit, note

    return check


def _compress(x: np.ndarray, t_x: np.ndarray, age: np.ndarray) -> pd.DataFrame:
    """Unique (frequency, recency, T) patterns with their customer counts (weights)."""
    frame = pd.DataFrame({"x": x, "t_x": t_x, "T": age})
    return frame.groupby(["x", "t_x", "T"], as_index=False, sort=True).size()


def fit_bgnbd(
    summary: pd.DataFrame,
    penalizer: float = 0.0,
    retry_penalizers: Sequence[float] = DEFAULT_RETRY_PENALIZERS,
    reduce: bool = True,
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

    reduce : bool
        After a failed first attempt, check for the no-dropout boundary and return the
        nested NBD there (see the module notes); False skips the check.

    Returns
    -------
    BTYDFit
        ``reduced_to == "nbd"`` (``params`` ``r, alpha``; a :class:`BTYDBoundaryWarning`
        is emitted) when the likelihood peaks at ``a -> 0`` / ``b -> inf``.
        ``notes["share_gone_at_cutoff"]`` (mean ``1 - P(alive)``) of an ordinary fit; below
        :data:`NEAR_BOUNDARY_SHARE_GONE` the fit is kept but ``note`` says it is
        practically the NBD, with a :class:`BTYDBoundaryWarning`.

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

    fit = _fit_with_fallback(
        "bgnbd",
        fit_once,
        _params,
        penalizer,
        retry_penalizers,
        n_customers=len(x),
        boundary=_boundary_check("bgnbd", patterns, len(x)) if reduce else None,
    )
    return _flag_near_boundary(fit, patterns)


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
    reduce: bool = True,
) -> BTYDFit:
    """Fit the Pareto/NBD model (Schmittlein, Morrison & Colombo 1987) with lifetimes.

    ``ParetoNBDFitter`` minimises by Nelder-Mead from *random* starting values and
    ignores non-convergence; here the start is fixed (``initial_params``, for
    reproducibility), the fit is restarted from its own solution up to ``max_restarts``
    times until it is a local optimum of lifetimes' objective (checked by nudging each
    parameter), and only then is it accepted. Customers with the same
    (frequency, recency, T) are fitted once with a weight (same optimum, ~5x faster).
    Note that lifetimes scales this model's penalizer by the number of *patterns*.

    Parameters, fallback and the reduction to the NBD (at ``s -> 0`` / ``beta -> inf``)
    as in :func:`fit_bgnbd`.
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

    fit = _fit_with_fallback(
        "pareto_nbd",
        fit_once,
        _params,
        penalizer,
        retry_penalizers,
        n_customers=len(x),
        extra_check=_pareto_local_optimum,
        boundary=_boundary_check("pareto_nbd", patterns, len(x)) if reduce else None,
    )
    return _flag_near_boundary(fit, patterns)


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
        reason = f"needs at least 2 repeat customers with positive spend, got {use.sum()}"
        raise BTYDFitError(f"gamma_gamma {reason}", model="gamma_gamma", reason=reason)

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


def _mean_spend(summary: pd.DataFrame) -> tuple[float, str]:
    """The calibration mean spend per purchase day and where it comes from."""
    stated = summary.attrs.get("mean_spend_per_purchase_day_cal")
    if stated is not None and np.isfinite(stated) and stated >= 0:
        return float(stated), "the calibration mean spend per purchase day"
    x = _column(summary, "frequency")
    m = _column(summary, "monetary_value")
    use = (x > 0) & np.isfinite(m) & (m > 0)
    if use.any():
        return float((x[use] * m[use]).sum() / x[use].sum()), (
            "the calibration mean spend per repeat purchase day"
        )
    raise BTYDFitError(
        "no spend per purchase to fall back on: the summary has no repeat purchase with "
        "spend and no attrs['mean_spend_per_purchase_day_cal'] (use btyd_summary)",
        model="gamma_gamma",
        reason="no spend per purchase to fall back on",
    )


def fit_spend_model(
    summary: pd.DataFrame,
    penalizer: float = 0.0,
    retry_penalizers: Sequence[float] = DEFAULT_RETRY_PENALIZERS,
) -> BTYDFit:
    """Gamma-Gamma if it can be fitted, else one mean spend per purchase for everybody.

    The fallback (too few repeat customers, or no finite mean spend at any penalizer)
    predicts the calibration mean spend per purchase day (all purchase days, first ones
    included; ``summary.attrs`` from :func:`btyd_summary`, else the mean of the repeat
    purchase days) for every customer. It is returned as ``name="gamma_gamma"``,
    ``reduced_to="mean_spend"``, ``params={"mean_spend": ...}``, with the Gamma-Gamma
    failure in ``note`` and ``attempts``, and a :class:`BTYDFitWarning`.

    Raises
    ------
    BTYDFitError
        When there is no spend at all to fall back on.
    """
    t0 = time.perf_counter()
    try:
        return fit_gamma_gamma(summary, penalizer=penalizer, retry_penalizers=retry_penalizers)
    except BTYDFitError as exc:
        mean, source = _mean_spend(summary)
        note = (
            f"Gamma-Gamma not fitted ({exc.reason}); every customer's expected spend per "
            f"purchase is {source}, {mean:.2f}."
        )
        warnings.warn(f"gamma_gamma: {note}", BTYDFitWarning, stacklevel=2)
        x = _column(summary, "frequency")
        return BTYDFit(
            name="gamma_gamma",
            model=MeanSpendModel(mean),
            params={"mean_spend": mean},
            penalizer=0.0,
            fit_seconds=time.perf_counter() - t0,
            n_customers=len(x),
            attempts=exc.attempts,
            notes={"spend_source": source, "repeat_customers": int((x > 0).sum())},
            reduced_to="mean_spend",
            note=note,
        )


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


def _stable_log_a0(params: Any, freq: Any, recency: Any, age: Any) -> np.ndarray:
    """``log A_0`` of the Pareto/NBD (Fader & Hardie 2005, note 009, eqs. 19-20), stably.

    ``A_0 = F(t_x) / (m + t_x)^(r+s+x) - F(T) / (m + T)^(r+s+x)`` with ``F`` a Gauss
    hypergeometric term and ``m = max(alpha, beta)``. lifetimes evaluates the difference
    with ``logsumexp`` of two terms of size ``(r+s+x) log(m + T)``; for a frequent
    customer whose last purchase is on the as-of day (``t_x = T``) both terms are equal
    and above ~700, and scipy returns NaN instead of ``log 0 = -inf`` (CDNOW customer
    '14048' at 1998-06-30: x = 170, t_x = T = 70.86 weeks). Here
    ``log A_0 = u + log1p(-exp(v - u))`` with ``u, v`` the logs of the two terms, and
    ``-inf`` where ``v >= u`` (``A_0 = 0``: nobody can have died after their last
    purchase when it is today).
    """
    from scipy.special import hyp2f1

    r, alpha, s, beta = params
    freq, recency, age = (np.asarray(v, dtype=float) for v in (freq, recency, age))
    if alpha < beta:
        low, high, t = alpha, beta, r + freq
    else:
        low, high, t = beta, alpha, s + 1.0
    rsf = r + s + freq
    with np.errstate(all="ignore"):
        u = np.log(hyp2f1(rsf, t, rsf + 1.0, (high - low) / (high + recency)))
        u = u - rsf * np.log(high + recency)
        v = np.log(hyp2f1(rsf, t, rsf + 1.0, (high - low) / (high + age)))
        v = v - rsf * np.log(high + age)
        return np.where(v < u, u + np.log1p(-np.exp(v - u)), -np.inf)


def _stable_log_likelihood(params: Any, freq: Any, rec: Any, age: Any) -> np.ndarray:
    """Individual Pareto/NBD log-likelihood (note 009, eq. 18) with :func:`_stable_log_a0`."""
    r, alpha, s, beta = params
    x = np.asarray(freq, dtype=float)
    a_1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    with np.errstate(all="ignore"):
        a_2 = np.logaddexp(
            -(r + x) * np.log(alpha + age) - s * np.log(beta + age),
            np.log(s) + _stable_log_a0(params, x, rec, age) - np.log(r + s + x),
        )
    return a_1 + a_2


class _StableParetoNBD(ParetoNBDFitter):
    """lifetimes' Pareto/NBD with :func:`_stable_log_a0` (predictions only)."""

    _log_A_0 = staticmethod(_stable_log_a0)
    _conditional_log_likelihood = staticmethod(_stable_log_likelihood)


def _repair_pareto(
    fitted: ParetoNBDFitter, horizon: float, x: Any, t_x: Any, age: Any, bad: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expected purchases, P(alive), P(zero) of rows ``bad`` with the stable ``log A_0``."""
    stable = _StableParetoNBD()
    stable.params_ = fitted.params_
    rows = [np.asarray(v, dtype=float)[bad] for v in (x, t_x, age)]
    with np.errstate(all="ignore"):
        purchases = stable.conditional_expected_number_of_purchases_up_to_time(horizon, *rows)
        alive = stable.conditional_probability_alive(*rows)
        p_zero = stable.conditional_probability_of_n_purchases_up_to_time(0, horizon, *rows)
    return (np.asarray(a, dtype=float) for a in (purchases, alive, p_zero))


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
    model : {"bgnbd", "pareto_nbd", "nbd"}
        Transaction model (the name of ``fit``; a BG/NBD or Pareto/NBD fit reduced to the
        NBD keeps its name and predicts as the NBD).
    horizon_weeks : float, optional
        Prediction horizon in weeks; default ``summary["duration_holdout"]``. Converted
        to the summary's time unit via ``summary.attrs["time_unit_days"]`` (7 if absent).
    penalizer, gg_penalizer : float
        First-attempt penalizers of the transaction and Gamma-Gamma fits (fallback as in
        :func:`fit_bgnbd`).
    fit, gg_fit : BTYDFit, optional
        Already fitted models to reuse instead of fitting on ``summary``; without
        ``gg_fit`` the spend model is :func:`fit_spend_model` (Gamma-Gamma, else the
        stated mean spend).

    Returns
    -------
    DataFrame
        Index as ``summary``; columns ``expected_purchases`` (repeat purchase days in the
        horizon), ``p_alive`` (at the cutoff), ``p_zero`` (P(no purchase in the horizon);
        BG/NBD: closed form of note 039, Pareto/NBD: lifetimes'
        ``conditional_probability_of_n_purchases_up_to_time(0, ...)``, Fader & Hardie
        note 028; reduced NBD: ``((alpha+T)/(alpha+T+t))^(r+x)`` with ``p_alive = 1``),
        ``expected_spend_per_purchase`` (Gamma-Gamma conditional mean, the population
        mean for customers without repeat purchases; or the fallback mean) and
        ``expected_spend``
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
        fitter = {"bgnbd": fit_bgnbd, "pareto_nbd": fit_pareto_nbd}.get(model)
        fit = fitter(summary, penalizer=penalizer) if fitter is not None else fit_nbd(summary)
    elif fit.name != model:
        raise ValueError(f"fit is a {fit.name} model, but model={model!r}")
    if gg_fit is None:
        gg_fit = fit_spend_model(summary, penalizer=gg_penalizer)
    fitted = fit.model
    with np.errstate(all="ignore"):
        purchases = np.asarray(
            fitted.conditional_expected_number_of_purchases_up_to_time(horizon, x, t_x, age),
            dtype=float,
        )
        alive = np.asarray(fitted.conditional_probability_alive(x, t_x, age), dtype=float)
        if isinstance(fitted, NBDModel):
            p_zero = fitted.conditional_probability_of_n_purchases_up_to_time(
                0, horizon, x, t_x, age
            )
        elif model == "bgnbd":
            p_zero = _p_zero_bgnbd(fitted, x, t_x, age, horizon)
        else:
            p_zero = np.asarray(
                fitted.conditional_probability_of_n_purchases_up_to_time(0, horizon, x, t_x, age),
                dtype=float,
            )
    repaired = 0
    if model == "pareto_nbd" and isinstance(fitted, ParetoNBDFitter):
        bad = ~(np.isfinite(purchases) & np.isfinite(alive) & np.isfinite(p_zero))
        if bad.any():  # lifetimes' log A_0 fails at t_x = T for frequent buyers
            purchases, alive, p_zero = (
                np.array(a, dtype=float) for a in (purchases, alive, p_zero)
            )
            purchases[bad], alive[bad], p_zero[bad] = _repair_pareto(
                fitted, horizon, x, t_x, age, bad
            )
            repaired = int(bad.sum())
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
            f"{out.index[bad][0]!r}: {out.loc[bad].iloc[0].to_dict()}",
            model=model,
            reason=f"non-finite predictions for {int(bad.sum())} customers",
        )
    out.attrs["btyd"] = {
        "model": model,
        "reduced_to": fit.reduced_to,
        "horizon": horizon,
        "transactions": fit.to_dict(),
        "gamma_gamma": gg_fit.to_dict(),
    }
    if repaired:  # counted and reported; absent otherwise (outputs unchanged)
        out.attrs["repaired_non_finite"] = repaired
        warnings.warn(
            f"{model}: {repaired} customers' predictions were non-finite in lifetimes "
            "(log A_0 at t_x = T) and were recomputed with a stable log A_0",
            BTYDFitWarning,
            stacklevel=2,
        )
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
    purchase day of the data. The model must be fitted in weeks; a fit reduced to the NBD predicts
    ``r / alpha`` repeat purchases per week for every customer alive (all of them).

    Returns
    -------
    DataFrame
        Columns ``week`` (1, 2, ...), ``week_end`` (last day of the week), ``actual``
        and ``predicted`` (cumulative repeat transactions up to the end of the week) and
        ``holdout`` (True for weeks ending after the cutoff). A trailing partial week
        is dropped.
    """
    fitted = model.model if isinstance(model, BTYDFit) else model
    cut, end, days = _window(events, cutoff, holdout_end)
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
