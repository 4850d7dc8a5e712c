"""Buy-till-you-die (BTYD) baselines: BG/NBD, Pareto/NBD, MBG/NBD and Gamma-Gamma.

Fitted by PyMC-Marketing (``pymc_marketing.clv``); the RFM summary is the study's own (one
SQL text on DuckDB or Spark). ``method``: ``"map"`` (default), ``"advi"`` or ``"mcmc"``
(posterior draws). ``priors``: ``"default"`` (the library's), ``"flat"`` (MAP = maximum
likelihood: the published CDNOW parameters), ``{"width": w}`` (log-normal of width ``w``,
centred at 1 for shapes and at the mean age, or mean spend, for scales) or ``{parameter:
{"dist": ..., "kwargs": {...}}}``. Priors keep the parameters finite where the likelihood
peaks on an edge (nobody drops out: BG/NBD ``a -> 0``, Pareto/NBD ``s -> 0``;
``docs/btyd_backend.md``). Time: purchases bucketed by UTC day, calibration ``day <=
cutoff``, holdout ``cutoff < day <= holdout_end``, recency and ``T`` in weeks (Fader,
Hardie & Lee 2005, Marketing Science 24(2); Schmittlein, Morrison & Colombo 1987;
Batislam et al. 2007, IJRM 24(3); Gamma-Gamma: Fader, Hardie & Lee 2005, JMR 42(4)).
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import hyp2f1

from helpers.data.split import as_utc, purchase_days

__all__ = ["FITTERS", "FIT_METHODS", "NEAR_BOUNDARY_SHARE_GONE", "BTYDBoundaryWarning",
           "BTYDFit", "BTYDFitError", "BTYDFitWarning", "MeanSpendModel", "PosteriorModel",
           "btyd_summary", "fit_bgnbd", "fit_gamma_gamma", "fit_mbgnbd", "fit_pareto_nbd",
           "fit_spend_model", "horizon_of", "pareto_log_a0", "predict_btyd",
           "tracking_curve"]  # fmt: skip

FIT_METHODS: tuple[str, ...] = ("map", "advi", "mcmc")
#: A fit that puts fewer customers than this share gone at the cutoff (mean 1 - P(alive))
#: is kept, with a note and a :class:`BTYDBoundaryWarning`.
NEAR_BOUNDARY_SHARE_GONE: float = 1e-3
_TIME_UNIT_DAYS = {"D": 1, "W": 7}
_PARAMS = {
    "bgnbd": ("r", "alpha", "a", "b"),
    "pareto_nbd": ("r", "alpha", "s", "beta"),
    "mbgnbd": ("r", "alpha", "a", "b"),
    "gamma_gamma": ("p", "q", "v"),
}
_LABELS = {"bgnbd": "BG/NBD", "pareto_nbd": "Pareto/NBD", "mbgnbd": "MBG/NBD"}
_FIT_OPTIONS: dict[str, dict[str, Any]] = {
    "map": {"progressbar": False},
    "advi": {"progressbar": False, "n": 20_000, "draws": 500},
    "mcmc": {"progressbar": False, "draws": 500, "tune": 500, "chains": 2, "cores": 1},
}


class BTYDFitError(RuntimeError):
    """A BTYD model could not be fitted on these data (``reason`` in a few words)."""

    def __init__(self, message: str, model: str | None = None, reason: str | None = None):
        super().__init__(message)
        self.model, self.reason = model, reason or message
        self.attempts: list[dict[str, Any]] = []


class BTYDFitWarning(UserWarning):
    """A fit is a fallback (the mean spend, not Gamma-Gamma) or carries a note."""


class BTYDBoundaryWarning(BTYDFitWarning):
    """A BG/NBD, MBG/NBD or Pareto/NBD fit puts practically nobody gone at the cutoff."""


@dataclass
class BTYDFit:
    """A fitted model (:class:`PosteriorModel` or :class:`MeanSpendModel`), its posterior
    mean ``params``, ``method``, ``priors`` (as text), ``notes`` (facts such as the share
    gone at the cutoff) and, for the spend fallback, ``reduced_to="mean_spend"`` with its
    reason in ``note``. ``penalizer`` and ``attempts``: lifetimes-era, 0 and empty."""

    name: str
    model: Any
    params: dict[str, float]
    fit_seconds: float = 0.0
    n_customers: int = 0
    method: str = "map"
    priors: str = "default"
    notes: dict[str, Any] = field(default_factory=dict)
    reduced_to: str | None = None
    note: str = ""
    penalizer: float = 0.0
    attempts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def fallback_used(self) -> bool:
        return self.reduced_to is not None

    def to_dict(self, timings: bool = True) -> dict[str, Any]:
        """Plain data for JSON, without the model; ``timings=False`` leaves out the seconds
        so that a pipeline output written from it is the same on every run."""
        out = {"name": self.name, "params": dict(self.params), "fit_seconds": self.fit_seconds,
               "n_customers": self.n_customers, "method": self.method, "priors": self.priors,
               "fallback_used": self.fallback_used, "notes": dict(self.notes),
               "reduced_to": self.reduced_to, "note": self.note}  # fmt: skip
        if not timings:
            del out["fit_seconds"]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BTYDFit:
        """Rebuild a usable fit from :meth:`to_dict` output (``btyd_fits.json``): it
        predicts from the stored parameters (the draws of ADVI / MCMC are not stored)."""
        name, reduced = data["name"], data.get("reduced_to")
        params = {k: float(v) for k, v in data["params"].items()}
        if reduced == "mean_spend":
            model: Any = MeanSpendModel(params["mean_spend"])
        elif name in _PARAMS and not reduced:
            model = PosteriorModel(name, {k: np.array([[params[k]]]) for k in _PARAMS[name]})
        else:
            raise ValueError(f"unknown BTYD model {name!r} (reduced to {reduced!r})")
        keep = ("fit_seconds", "n_customers", "method", "priors", "notes", "note")
        return cls(name, model, params, reduced_to=reduced,
                   **{k: data[k] for k in keep if k in data})  # fmt: skip


# --------------------------------------------------------------------------- models


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the library's deprecation and build chatter (and floating-point noise)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        for category in (UserWarning, FutureWarning, DeprecationWarning, RuntimeWarning):
            warnings.simplefilter("ignore", category)
        yield


def _clv_class(name: str) -> Any:
    with _quiet():  # arviz announces its refactor on import
        from pymc_marketing import clv
    logging.getLogger("pymc").setLevel(logging.ERROR)
    classes = {"bgnbd": clv.BetaGeoModel, "pareto_nbd": clv.ParetoNBDModel,
               "mbgnbd": clv.ModifiedBetaGeoModel, "gamma_gamma": clv.GammaGammaModel}  # fmt: skip
    return classes[name]


def _frame(**columns: Any) -> pd.DataFrame:
    data = {k: np.atleast_1d(np.asarray(v, dtype=float)) for k, v in columns.items()}
    n = max(len(v) for v in data.values())
    data = {k: np.broadcast_to(v, n) for k, v in data.items()}
    return pd.DataFrame({"customer_id": np.arange(n), **data})


class PosteriorModel:
    """A PyMC-Marketing model and its ``posterior`` (parameter -> array (chains, draws);
    MAP: one draw), rebuilt lazily (it pickles small). lifetimes-named methods give the
    posterior mean; :meth:`draws` and :meth:`spend_draws` every draw (rows)."""

    def __init__(self, name: str, posterior: Mapping[str, np.ndarray]) -> None:
        self.name = name
        self.posterior = {k: np.asarray(posterior[k], dtype=float) for k in _PARAMS[name]}
        self._clv: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {"name": self.name, "posterior": self.posterior, "_clv": None}

    def __repr__(self) -> str:
        values = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
        return f"PosteriorModel({self.name}: {values})"

    @property
    def params_(self) -> pd.Series:
        return pd.Series({k: float(v.mean()) for k, v in self.posterior.items()})

    @property
    def clv(self) -> Any:
        """The library model, built on one dummy customer, with this posterior."""
        if self._clv is None:
            import arviz as az

            spend = self.name == "gamma_gamma"
            dummy = _frame(frequency=1.0, **({"monetary_value": 1.0} if spend else
                                             {"recency": 1.0, "T": 2.0}))  # fmt: skip
            with _quiet():
                model = _clv_class(self.name)()
                model.build_model(dummy)
                model.idata = az.from_dict(posterior=dict(self.posterior))
            self._clv = model
        return self._clv

    def _call(self, method: str, data: pd.DataFrame, **kwargs: Any) -> np.ndarray:
        with _quiet():
            out = getattr(self.clv, method)(data, **kwargs)
        return np.asarray(out.values, dtype=float).reshape(-1, len(data))

    def draws(self, t: float, frequency: Any, recency: Any, T: Any) -> dict[str, np.ndarray]:
        """Per draw and customer: ``purchases`` in ``(T, T + t]``, ``alive`` (P(alive) at
        ``T``) and ``p_zero`` (P(no purchase in ``(T, T + t]``))."""
        data = _frame(frequency=frequency, recency=recency, T=T)
        purchases = self._call("expected_purchases", data, future_t=t)
        alive = np.clip(self._call("expected_probability_alive", data), 0.0, 1.0)  # rounding
        if self.name == "pareto_nbd":
            p_zero = self._call("expected_purchase_probability", data, n_purchases=0, future_t=t)
        else:  # alive at T: no purchase in t w.p. E[exp(-lambda t)], lambda ~ G(r+x, alpha+T)
            r, a = (self.posterior[k].reshape(-1, 1) for k in ("r", "alpha"))
            x, age = data["frequency"].to_numpy(), data["T"].to_numpy()
            p_zero = 1.0 - alive + alive * ((a + age) / (a + age + t)) ** (r + x)
        return {"purchases": purchases, "alive": alive, "p_zero": np.clip(p_zero, 0.0, 1.0)}

    def conditional_probability_alive(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        data = _frame(frequency=frequency, recency=recency, T=T)
        return np.clip(self._call("expected_probability_alive", data), 0.0, 1.0).mean(axis=0)

    def expected_number_of_purchases_up_to_time(self, t: Any) -> np.ndarray:
        """Unconditional ``E[X(t)]`` of a new customer (the tracking curve)."""
        return self._call("expected_purchases_new_customer", _frame(t=t)).mean(axis=0)

    def spend_draws(self, frequency: Any, monetary_value: Any) -> np.ndarray:
        """Gamma-Gamma expected spend per purchase, per draw and customer."""
        data = _frame(frequency=frequency, monetary_value=monetary_value)
        return self._call("expected_customer_spend", data)


class MeanSpendModel:
    """Spend per purchase = one stated mean for everybody (the Gamma-Gamma fallback)."""

    def __init__(self, mean_spend: float) -> None:
        if not (np.isfinite(mean_spend) and mean_spend >= 0):
            raise ValueError(f"mean_spend must be a non-negative number, got {mean_spend}")
        self.params_ = pd.Series({"mean_spend": float(mean_spend)})

    def spend_draws(self, frequency: Any, monetary_value: Any = None) -> np.ndarray:
        return np.full((1, np.size(frequency)), self.params_["mean_spend"])


def pareto_log_a0(params: Any, freq: Any, recency: Any, age: Any) -> np.ndarray:
    """``log A_0`` of the Pareto/NBD (Fader & Hardie note 009, eqs. 19-20), stably as
    ``u + log1p(-exp(v - u))``; ``-inf`` where ``A_0 = 0`` (``t_x = T``)."""
    r, alpha, s, beta = params
    freq, recency, age = (np.asarray(v, dtype=float) for v in (freq, recency, age))
    low, high, t = (alpha, beta, r + freq) if alpha < beta else (beta, alpha, s + 1.0)
    rsf = r + s + freq
    with np.errstate(all="ignore"):
        u = np.log(hyp2f1(rsf, t, rsf + 1.0, (high - low) / (high + recency)))
        u = u - rsf * np.log(high + recency)
        v = np.log(hyp2f1(rsf, t, rsf + 1.0, (high - low) / (high + age)))
        v = v - rsf * np.log(high + age)
        return np.where(v < u, u + np.log1p(-np.exp(v - u)), -np.inf)


# --------------------------------------------------------------------------- summary


def _day(value: Any, name: str) -> pd.Timestamp:
    """The UTC calendar day of ``value``, tz-naive (the BTYD summaries count in naive days)."""
    if pd.isna(pd.Timestamp(value)):
        raise ValueError(f"{name} is not a date: {value!r}")
    return as_utc(value).tz_localize(None).normalize()


def _dates(cutoff: Any, holdout_end: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    cut, end = _day(cutoff, "cutoff"), _day(holdout_end, "holdout_end")
    if end <= cut:
        raise ValueError(f"holdout_end ({end.date()}) must be after cutoff ({cut.date()})")
    return cut, end


def _purchase_days(events: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
    """Purchase occasions up to ``end`` (:func:`helpers.data.split.purchase_days`)."""
    if "event_type" not in events.columns:
        events = events.assign(event_type="purchase")
    days = purchase_days(events.assign(user_id=events["user_id"].astype(str)), sort=True)
    days = days.assign(day=days["day"].dt.tz_localize(None))
    return days.loc[days["day"] <= end]


def _summary_days(
    events: Any, cut: pd.Timestamp, end: pd.Timestamp, engine: str, spark: Any
) -> pd.DataFrame:
    """Per-user aggregates of :func:`helpers.engines.queries.btyd_days_sql`, checked."""
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
            ts = pd.Timestamp(int(row["t"]), unit="ns", tz="UTC")
            example = {"user_id": row["user_id"], "ts": ts, "amount": row["amount"]}
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
    """Per-customer RFM summary of calibration and holdout for BTYD models: one SQL text
    (:func:`helpers.engines.queries.btyd_days_sql`) on DuckDB (a Parquet path is read out of
    core) or Spark (``spark``); only per-customer rows reach pandas.

    ``events``: canonical events (``user_id``, ``ts``, ``amount``; ``event_type`` filtered
    to purchases) or a Parquet file; ``cutoff`` / ``holdout_end``: last calibration and
    holdout days; ``freq``: ``"W"`` or ``"D"``, the unit of recency, ``T`` and the horizon.
    Returns, indexed by ``user_id`` (first purchase by the cutoff): ``frequency_cal``
    (repeat purchase days), ``recency_cal``, ``T_cal``, ``monetary_value_cal`` (mean value
    of the repeat days, 0 without), ``frequency_holdout``, ``monetary_value_holdout``,
    ``spend_holdout``, ``duration_holdout``; ``attrs``: dates, unit, customers left out
    and ``mean_spend_per_purchase_day_cal``. As lifetimes'
    ``calibration_and_holdout_data(freq="D", freq_multiplier=7)`` except the holdout
    monetary value (lifetimes averages raw transactions).
    """
    if freq not in _TIME_UNIT_DAYS:
        raise ValueError(f"freq must be one of {sorted(_TIME_UNIT_DAYS)}, got {freq!r}")
    unit = float(_TIME_UNIT_DAYS[freq])
    cut, end = _dates(cutoff, holdout_end)
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
    mean_day = float(cal["cal_spend"].astype(float).sum() / n_cal.sum())
    out.attrs.update(cutoff=str(cut.date()), holdout_end=str(end.date()), freq=freq,
                     time_unit_days=unit, n_customers_first_purchase_in_holdout=int(late.sum()),
                     mean_spend_per_purchase_day_cal=mean_day)  # fmt: skip
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


def _priors(name: str, priors: Any, centres: dict[str, float]) -> tuple[dict | None, str]:
    """PyMC-Marketing ``model_config`` for ``priors`` and its label for reports."""
    from pymc_extras.prior import Prior

    keys = _PARAMS[name]
    if priors == "default":
        return None, "default"
    if priors == "flat":
        return {k: Prior("HalfFlat") for k in keys}, "flat"
    if isinstance(priors, Mapping) and set(priors) == {"width"}:
        width = float(priors["width"])
        if not width > 0:
            raise ValueError(f"prior width must be positive, got {width}")
        mu = {k: float(np.log(centres.get(k, 1.0))) for k in keys}
        return {k: Prior("LogNormal", mu=mu[k], sigma=width) for k in keys}, f"width={width:g}"
    if isinstance(priors, Mapping):  # keys of any model; each model takes its own
        unknown = sorted(set(priors) - {k for keys in _PARAMS.values() for k in keys})
        if unknown:
            raise ValueError(f"no BTYD model has parameter(s) {unknown}")
        config = {k: Prior(v["dist"], **dict(v.get("kwargs", {}))) for k, v in priors.items()
                  if k in keys}  # fmt: skip
        if name in ("bgnbd", "mbgnbd") and len({"a", "b"} & set(config)) == 1:
            raise ValueError(f"{name}: custom priors need both 'a' and 'b' (or neither)")
        return config, "custom"
    raise ValueError(f"priors must be default, flat, {{'width': w}} or a mapping: {priors!r}")


def _check(method: str, penalizer: float) -> None:
    if penalizer:
        raise ValueError("penalizer is not supported (it was lifetimes'); choose priors instead")
    if method not in FIT_METHODS:
        raise ValueError(f"method must be one of {FIT_METHODS}, got {method!r}")


def _fit(name: str, data: pd.DataFrame, method: str, priors: Any, seed: int,
         centres: dict[str, float]) -> BTYDFit:  # fmt: skip
    """Fit ``name`` on ``data`` (PyMC-Marketing's columns); invalid parameters raise."""
    config, label = _priors(name, priors, centres)
    seeding = {"seed": seed} if method == "map" else {"random_seed": seed}
    t0 = time.perf_counter()
    with _quiet():
        clv = _clv_class(name)(model_config=config)
        clv.fit(data, method=method, **_FIT_OPTIONS[method], **seeding)
        model = PosteriorModel(name, {k: clv.idata.posterior[k].values for k in _PARAMS[name]})
    model._clv = clv
    params = model.params_
    if not (np.isfinite(params).all() and (params > 0).all()):
        why = f"invalid parameters ({label} priors)"
        raise BTYDFitError(f"{name}: {why} {params.to_dict()} from the {method} fit on "
                           f"{len(data)} customers", model=name, reason=why)  # fmt: skip
    seconds = time.perf_counter() - t0
    return BTYDFit(name, model, params.to_dict(), seconds, len(data), method, label)


def _fit_transactions(name: str, summary: pd.DataFrame, method: str, priors: Any, seed: int,
                      penalizer: float) -> BTYDFit:  # fmt: skip
    _check(method, penalizer)
    x, t_x, age = _rft(summary)
    if not (x > 0).any():
        reason = "nobody made a repeat purchase"
        raise BTYDFitError(f"{name} could not be fitted on {len(x)} customers: {reason}",
                           model=name, reason=reason)  # fmt: skip
    mean_age = float(age.mean()) or 1.0
    data = _frame(frequency=x, recency=t_x, T=age)
    fit = _fit(name, data, method, priors, seed, {"alpha": mean_age, "beta": mean_age})
    who = (x > 0) if name == "bgnbd" else np.ones(len(x), bool)  # BG/NBD: only repeaters die
    gone = float(1.0 - fit.model.conditional_probability_alive(x[who], t_x[who], age[who]).mean())
    fit.notes["share_gone_at_cutoff"] = gone
    if gone < NEAR_BOUNDARY_SHARE_GONE:
        fit.note = (
            f"almost nobody drops out within the window: the {_LABELS[name]} fit puts "
            f"{gone:.2%} of the customers gone at the cutoff, so it predicts practically "
            "as the NBD (gamma-Poisson purchases, no dropout)."
        )
        warnings.warn(f"{name}: {fit.note}", BTYDBoundaryWarning, stacklevel=3)
    return fit


def fit_bgnbd(summary: pd.DataFrame, method: str = "map", priors: Any = "default",
              seed: int = 0, penalizer: float = 0.0) -> BTYDFit:  # fmt: skip
    """Fit BG/NBD (``BetaGeoModel``) on ``summary``'s ``frequency``, ``recency``, ``T``
    (``_cal`` or not); ``seed`` seeds ADVI / MCMC; ``penalizer`` must be 0 (lifetimes').
    ``notes["share_gone_at_cutoff"]``: mean ``1 - P(alive)`` of the repeaters; below
    :data:`NEAR_BOUNDARY_SHARE_GONE` a ``note`` and a :class:`BTYDBoundaryWarning`. Raises
    :class:`BTYDFitError` when nobody repeats or the parameters are not finite."""
    return _fit_transactions("bgnbd", summary, method, priors, seed, penalizer)


def fit_pareto_nbd(summary: pd.DataFrame, method: str = "map", priors: Any = "default",
                   seed: int = 0, penalizer: float = 0.0) -> BTYDFit:  # fmt: skip
    """Fit Pareto/NBD (Schmittlein, Morrison & Colombo 1987) with ``ParetoNBDModel``;
    as :func:`fit_bgnbd` (the share gone is over all customers)."""
    return _fit_transactions("pareto_nbd", summary, method, priors, seed, penalizer)


def fit_mbgnbd(summary: pd.DataFrame, method: str = "map", priors: Any = "default",
               seed: int = 0, penalizer: float = 0.0) -> BTYDFit:  # fmt: skip
    """Fit MBG/NBD (Batislam et al. 2007: BG/NBD where a customer may also drop out right
    after the first purchase) with ``ModifiedBetaGeoModel``; as :func:`fit_pareto_nbd`."""
    return _fit_transactions("mbgnbd", summary, method, priors, seed, penalizer)


def fit_gamma_gamma(summary: pd.DataFrame, method: str = "map", priors: Any = "default",
                    seed: int = 0, penalizer: float = 0.0) -> BTYDFit:  # fmt: skip
    """Fit Gamma-Gamma (Fader, Hardie & Lee 2005; note 025) on the repeat customers with
    spend (``frequency > 0``, ``monetary_value > 0``; those left out are in ``notes``);
    arguments as :func:`fit_bgnbd` (the library's default priors are flat). Fewer than two
    such customers, or ``q <= 1`` (no finite mean spend), raise :class:`BTYDFitError`."""
    _check(method, penalizer)
    x, m = _column(summary, "frequency"), _column(summary, "monetary_value")
    use = (x > 0) & (m > 0) & np.isfinite(m)
    if use.sum() < 2:
        reason = f"needs at least 2 repeat customers with positive spend, got {use.sum()}"
        raise BTYDFitError(f"gamma_gamma {reason}", model="gamma_gamma", reason=reason)
    data = _frame(frequency=x[use], monetary_value=m[use])
    fit = _fit("gamma_gamma", data, method, priors, seed, {"v": float(m[use].mean())})
    if fit.params["q"] <= 1:
        reason = f"q={fit.params['q']:.3g} <= 1: the population mean spend is undefined"
        raise BTYDFitError(f"gamma_gamma: {reason}", model="gamma_gamma", reason=reason)
    fit.notes["excluded_no_repeat"] = int((x == 0).sum())
    fit.notes["excluded_zero_spend_repeaters"] = int(((x > 0) & ~(m > 0)).sum())
    return fit


def _mean_spend(summary: pd.DataFrame) -> tuple[float, str]:
    """The calibration mean spend per purchase day and where it comes from."""
    stated = summary.attrs.get("mean_spend_per_purchase_day_cal")
    if stated is not None and np.isfinite(stated) and stated >= 0:
        return float(stated), "the calibration mean spend per purchase day"
    x, m = _column(summary, "frequency"), _column(summary, "monetary_value")
    use = (x > 0) & np.isfinite(m) & (m > 0)
    if use.any():
        mean = float((x[use] * m[use]).sum() / x[use].sum())
        return mean, "the calibration mean spend per repeat purchase day"
    why = "no spend per purchase to fall back on"
    detail = "no repeat purchase with spend, no attrs['mean_spend_per_purchase_day_cal']"
    raise BTYDFitError(f"{why}: {detail} (use btyd_summary)", "gamma_gamma", why)


def fit_spend_model(summary: pd.DataFrame, **options: Any) -> BTYDFit:
    """Gamma-Gamma (``options`` as :func:`fit_gamma_gamma`) if it can be fitted, else the
    calibration mean spend per purchase day for everybody (``reduced_to="mean_spend"``,
    ``params={"mean_spend": ...}``, the reason in ``note``, a :class:`BTYDFitWarning`).
    Raises :class:`BTYDFitError` when there is no spend at all to fall back on."""
    t0 = time.perf_counter()
    try:
        return fit_gamma_gamma(summary, **options)
    except BTYDFitError as exc:
        mean, source = _mean_spend(summary)
        note = (
            f"Gamma-Gamma not fitted ({exc.reason}); every customer's expected spend per "
            f"purchase is {source}, {mean:.2f}."
        )
        warnings.warn(f"gamma_gamma: {note}", BTYDFitWarning, stacklevel=2)
        x = _column(summary, "frequency")
        notes = {"spend_source": source, "repeat_customers": int((x > 0).sum())}
        return BTYDFit("gamma_gamma", MeanSpendModel(mean), {"mean_spend": mean},
                       time.perf_counter() - t0, len(x), notes=notes,
                       reduced_to="mean_spend", note=note)  # fmt: skip


FITTERS = {"bgnbd": fit_bgnbd, "pareto_nbd": fit_pareto_nbd, "mbgnbd": fit_mbgnbd}


# --------------------------------------------------------------------------- prediction


def horizon_of(summary: pd.DataFrame, horizon_weeks: float | None = None) -> float:
    """The horizon in the summary's time unit (``attrs["time_unit_days"]``, 7 if absent)."""
    if horizon_weeks is None:
        if "duration_holdout" not in summary.columns:
            raise ValueError("give horizon_weeks or a summary with duration_holdout")
        horizon = float(summary["duration_holdout"].iloc[0])
    else:
        horizon = float(horizon_weeks) * 7.0 / float(summary.attrs.get("time_unit_days", 7.0))
    if not horizon > 0:
        raise ValueError(f"the horizon must be positive, got {horizon}")
    return horizon


def predict_btyd(summary: pd.DataFrame, model: str = "bgnbd", horizon_weeks: float | None = None,
                 penalizer: float = 0.0, gg_penalizer: float = 0.0, fit: BTYDFit | None = None,
                 gg_fit: BTYDFit | None = None) -> pd.DataFrame:  # fmt: skip
    """Per-customer posterior means over a horizon after the cutoff (``horizon_weeks``,
    default ``summary["duration_holdout"]``): ``expected_purchases`` (repeat purchase
    days), ``p_alive`` (at the cutoff), ``p_zero`` (no purchase), ``expected_spend_per_
    purchase`` (Gamma-Gamma) and ``expected_spend``; ``attrs["btyd"]``: both fits. ``fit``
    (a ``model`` fit) and ``gg_fit`` default to MAP fits on ``summary``; the penalizers
    must be 0. Intervals: :func:`helpers.models.btyd_intervals.predictive_intervals`."""
    if model not in FITTERS:
        raise ValueError(f"model must be one of {tuple(FITTERS)}, got {model!r}")
    x, t_x, age = _rft(summary)
    horizon = horizon_of(summary, horizon_weeks)
    if fit is None:
        fit = FITTERS[model](summary, penalizer=penalizer)
    elif fit.name != model:
        raise ValueError(f"fit is a {fit.name} model, but model={model!r}")
    if gg_fit is None:
        gg_fit = fit_spend_model(summary, penalizer=gg_penalizer)
    draws = fit.model.draws(horizon, x, t_x, age)
    spend = gg_fit.model.spend_draws(x, np.where(x > 0, _column(summary, "monetary_value"), 0.0))
    draws["spend"] = draws["purchases"] * spend  # one spend draw, or one per purchase draw
    out = pd.DataFrame(
        {
            "expected_purchases": draws["purchases"].mean(axis=0),
            "p_alive": draws["alive"].mean(axis=0),
            "p_zero": draws["p_zero"].mean(axis=0),
            "expected_spend_per_purchase": spend.mean(axis=0),
            "expected_spend": draws["spend"].mean(axis=0),
        },
        index=summary.index,
    )
    bad = ~np.isfinite(out.to_numpy()).all(axis=1)
    if bad.any():
        raise BTYDFitError(
            f"{model}: non-finite predictions for {int(bad.sum())} customers, e.g. "
            f"{out.index[bad][0]!r}: {out.loc[bad].iloc[0].to_dict()}",
            model=model,
            reason=f"non-finite predictions for {int(bad.sum())} customers",
        )
    out.attrs["btyd"] = {"model": model, "horizon": horizon, "transactions": fit.to_dict(),
                         "gamma_gamma": gg_fit.to_dict()}  # fmt: skip
    return out


def tracking_curve(
    events: pd.DataFrame, cutoff: Any, holdout_end: Any, model: BTYDFit | Any
) -> pd.DataFrame:
    """Weekly cumulative repeat purchase days, ``actual`` vs ``predicted`` (a new
    customer's ``E[X(t)]`` summed over arrivals), of the customers who first bought by
    ``cutoff``, with ``week``, ``week_end`` and ``holdout``: lifetimes'
    ``expected_cumulative_transactions(freq="D", freq_multiplier=7)``."""
    fitted = model.model if isinstance(model, BTYDFit) else model
    cut, end = _dates(cutoff, holdout_end)
    days = _purchase_days(events, end)
    first = days.groupby("user_id")["day"].transform("min")
    days = days.loc[first <= cut].assign(first=first)
    if days.empty:
        raise ValueError(f"no customer made a first purchase on or before {cut.date()}")
    start = days["day"].min()
    n_days = 7 * (((end - start).days + 1) // 7)
    if n_days < 7:
        raise ValueError("the data span less than one week")
    repeat_day = (days.loc[days["day"] > days["first"], "day"] - start).dt.days.to_numpy()
    arrivals = np.bincount((days.drop_duplicates("user_id")["first"] - start).dt.days,
                           minlength=n_days)  # fmt: skip
    new = fitted.expected_number_of_purchases_up_to_time(np.arange(1, n_days + 1) / 7.0)
    weeks = np.arange(1, n_days // 7 + 1)
    out = pd.DataFrame({"week": weeks, "week_end": start + pd.to_timedelta(7 * weeks - 1, "D")})
    out["actual"] = [float((repeat_day < 7 * j).sum()) for j in weeks]
    out["predicted"] = [float((arrivals[: 7 * j][::-1] * new[: 7 * j]).sum()) for j in weeks]
    out["holdout"] = out["week_end"] > cut
    return out
