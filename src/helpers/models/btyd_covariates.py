"""BTYD with customer covariates known at the cutoff (Fader & Hardie, note 019).

Pareto/NBD or BG/NBD (PyMC-Marketing) whose purchase-rate scale and dropout depend on
time-invariant covariates: ``alpha_i = alpha exp(-gamma_1' z_i)`` and, for the
Pareto/NBD, ``beta_i = beta exp(-gamma_2' z_i)`` (BG/NBD: ``a_i``, ``b_i``). Covariates
are standardised over the customers; :func:`cutoff_covariates` builds the behavioural
ones from events up to the cutoff only (browsing intensity, first-purchase category).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from helpers.models.btyd import _FIT_OPTIONS, BTYDFit, _clv_class, _frame, _priors, _quiet, _rft

__all__ = ["covariate_purchases", "cutoff_covariates", "fit_covariate_btyd", "standardise"]


def standardise(frame: pd.DataFrame) -> pd.DataFrame:
    """Z-scores of each column (missing values at the mean); constant columns dropped."""
    frame = frame.astype(float)
    spread = frame.std(ddof=0)
    keep = spread.index[spread > 1e-12]
    return ((frame[keep] - frame[keep].mean()) / spread[keep]).fillna(0.0)


def cutoff_covariates(events: pd.DataFrame, cutoff: Any, customers: pd.Index,
                      top_categories: int = 3) -> pd.DataFrame:  # fmt: skip
    """``log_views`` (browsing intensity: view events) and ``first_<category>`` dummies of
    the first purchase's category (the ``top_categories`` most common) of ``customers``,
    from events on or before the UTC day ``cutoff`` only (later events are ignored)."""
    end = pd.Timestamp(cutoff, tz="UTC").normalize() + pd.Timedelta(days=1)
    past = events.loc[pd.to_datetime(events["ts"], utc=True) < end]
    ids = past["user_id"].astype(str)
    out = pd.DataFrame(index=pd.Index(customers.astype(str), name="user_id"))
    views = ids[past["event_type"] == "view"].value_counts()
    out["log_views"] = np.log1p(views.reindex(out.index, fill_value=0).to_numpy(dtype=float))
    buys = past.loc[past["event_type"] == "purchase"].assign(user_id=ids).sort_values("ts")
    if "category" in buys and buys["category"].notna().any():
        first = buys.drop_duplicates("user_id").set_index("user_id")["category"]
        for category in first.value_counts().index[:top_categories]:
            out[f"first_{category}"] = (first.reindex(out.index) == category).astype(float)
    return out


def _data(summary: pd.DataFrame, covariates: pd.DataFrame) -> pd.DataFrame:
    x, t_x, age = _rft(summary)
    z = covariates.reindex(summary.index.astype(str))
    if z.isna().any().any():
        raise ValueError("covariates lack some customers of the summary (or hold NaN)")
    return _frame(frequency=x, recency=t_x, T=age).assign(**{c: z[c].to_numpy() for c in z})


def fit_covariate_btyd(name: str, summary: pd.DataFrame, covariates: pd.DataFrame,
                       method: str = "map", priors: Any = "default", seed: int = 0,
                       ) -> BTYDFit:  # fmt: skip
    """Fit ``name`` (``"pareto_nbd"`` or ``"bgnbd"``) with every column of ``covariates``
    (indexed by the summary's ``user_id``; see :func:`standardise`) on both the purchase
    rate and the dropout. ``model`` is the fitted PyMC-Marketing model; ``params`` holds
    the posterior means of the scalar parameters and coefficients."""
    if name not in ("pareto_nbd", "bgnbd"):
        raise ValueError(f"covariates are supported for pareto_nbd and bgnbd, got {name!r}")
    columns, age = list(covariates.columns), float(_rft(summary)[2].mean()) or 1.0
    config, label = _priors(name, priors, {"alpha": age, "beta": age})
    config = {**(config or {}), "purchase_covariate_cols": columns,
              "dropout_covariate_cols": columns}  # fmt: skip
    seeding = {"seed": seed} if method == "map" else {"random_seed": seed}
    start = time.perf_counter()
    with _quiet():
        clv = _clv_class(name)(model_config=config)
        clv.fit(_data(summary, covariates), method=method, **_FIT_OPTIONS[method], **seeding)
    params: dict[str, float] = {}
    for key, values in clv.idata.posterior.data_vars.items():
        mean = values.mean(("chain", "draw"))
        if "customer_id" in mean.dims:
            continue
        if mean.ndim == 0:
            params[key] = float(mean)
        else:
            labels = mean[mean.dims[0]].values
            params.update(
                {f"{key}[{c}]": float(v) for c, v in zip(labels, mean.values, strict=True)}
            )
    return BTYDFit(name, clv, params, time.perf_counter() - start, len(summary), method,
                   f"{label}, covariates: {', '.join(columns)}")  # fmt: skip


def covariate_purchases(fit: BTYDFit, summary: pd.DataFrame, covariates: pd.DataFrame,
                        horizon: float) -> np.ndarray:  # fmt: skip
    """Posterior mean expected repeat purchases in ``(T, T + horizon]`` per customer
    (``horizon`` in the summary's time unit)."""
    with _quiet():
        out = fit.model.expected_purchases(_data(summary, covariates), future_t=horizon)
    return np.asarray(out.mean(("chain", "draw")).values, dtype=float)
