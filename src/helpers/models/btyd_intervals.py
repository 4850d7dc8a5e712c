"""Per-customer predictive intervals of BTYD models: purchases and spend over a horizon.

An interval of the *expected* value (the posterior of ``E[X]``) is far narrower than the
spread of what a customer does, so it rarely holds the realised outcome. These intervals
are *predictive*: each of ``n_sims`` simulated futures per customer draws the population
parameters from the fit's posterior (ADVI / MCMC draws; a MAP fit has one), then the
customer's latent state given their history, then the outcome:

* alive at the cutoff with P(alive); purchase rate ``lambda ~ Gamma(r + x, alpha + T)``;
* Pareto/NBD: lifetime ``tau ~ Exp(mu)``, ``mu ~ Gamma(s, beta + T)``; purchases
  ``~ Poisson(lambda * min(tau, t))``;
* BG/NBD (MBG/NBD): ``p ~ Beta(a, b + x)`` (``b + x + 1``); purchases ``min(K, G)`` with
  ``K ~ Poisson(lambda t)`` and ``G ~ Geometric(p)`` (dropout after a purchase);
* spend (Gamma-Gamma, Fader, Hardie & Lee 2005, note 025): ``nu ~ Gamma(p x + q,
  v + x m)``, the sum of ``N`` purchases ``~ Gamma(N p, nu)``; the mean-spend fallback
  gives ``N`` times the mean.

Common random numbers: every customer's futures use the same uniforms (one stream per
step), transformed exactly by the customer's own parameters (inverse CDFs on the distinct
frequencies, a shared rate-1 Poisson process for the counts), so a customer's interval
depends on the seed and their own history only, not on who else is scored or in which
batch. Vectorised over (simulations, customers), in blocks of customers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import betaincinv, gammaincinv

from helpers.models.btyd import _PARAMS, BTYDFit, _column, _rft, horizon_of, pareto_log_a0

__all__ = ["interval_coverage", "predictive_intervals"]


def _flat(fit: BTYDFit, key: str) -> np.ndarray:
    return np.asarray(fit.model.posterior[key], dtype=float).reshape(-1)


def _on_distinct(values: np.ndarray, shape: Any, quantile: Any) -> np.ndarray:
    """``quantile(shape(v))`` (n_sims, distinct v) computed once per distinct value."""
    distinct, back = np.unique(values, return_inverse=True)
    return quantile(shape(distinct))[:, back]


def _p_alive(name: str, par: dict, k: np.ndarray, x: Any, t_x: Any, age: Any) -> np.ndarray:
    """P(alive at T) per simulation's posterior draw and customer, closed form (Fader,
    Hardie & Lee 2005 eq. 7; Batislam et al. 2007; note 009 for the Pareto/NBD)."""
    r, alpha = par["r"], par["alpha"]
    with np.errstate(all="ignore"):
        if name == "pareto_nbd":
            s, beta = par["s"], par["beta"]
            log_a0 = np.empty((len(k), len(x)))
            for draw in np.unique(k):  # one closed form per distinct posterior draw
                at = k == draw
                log_a0[at] = pareto_log_a0([v[at][0, 0] for v in (r, alpha, s, beta)], x, t_x, age)
            z = np.log(s) - np.log(r + s + x) + (r + x) * np.log(alpha + age)
            z = z + s * np.log(beta + age) + log_a0
        else:
            shift = 0.0 if name == "mbgnbd" else 1.0
            z = np.log(par["a"]) - np.log(np.maximum(par["b"] + x - shift, 1e-300))
            z = z + (r + x) * (np.log(alpha + age) - np.log(alpha + t_x))
            z = np.where((x > 0) | (name == "mbgnbd"), z, -np.inf)
        return np.clip(1.0 / (1.0 + np.exp(np.minimum(z, 700.0))), 0.0, 1.0)


def _counts(seq: np.random.SeedSequence, mean: np.ndarray) -> np.ndarray:
    """Poisson(``mean``) counts from one rate-1 Poisson process per simulation (row),
    drawn in fixed chunks, so a longer process extends a shorter one."""
    rng, chunks = np.random.default_rng(seq), [np.zeros((1, len(mean)))]
    while chunks[-1][-1].min() <= mean.max():
        chunks.append(chunks[-1][-1] + np.cumsum(rng.standard_exponential((256, len(mean))), 0))
    times = np.concatenate(chunks[1:])
    return np.stack([np.searchsorted(times[:, j], mean[j], "right") for j in range(len(mean))])


def _simulate(fit: BTYDFit, gg_fit: BTYDFit, x: Any, t_x: Any, age: Any, m: Any, t: float,
              n_sims: int, seed: int) -> dict[str, np.ndarray]:  # fmt: skip
    """Simulated ``purchases`` and ``spend`` (n_sims, customers) in ``(T, T + t]`` and the
    P(alive) (``alive``) of each simulation's posterior draw."""
    seqs = np.random.SeedSequence(seed).spawn(9)
    u = [np.clip(np.random.default_rng(q).random((n_sims, 1)), 1e-12, 1 - 1e-12) for q in seqs[:6]]
    k = np.random.default_rng(seqs[6]).integers(_flat(fit, "r").size, size=n_sims)
    par = {name: _flat(fit, name)[k][:, None] for name in _PARAMS[fit.name]}
    p_alive = _p_alive(fit.name, par, k, x, t_x, age)
    lam = _on_distinct(x, lambda d: par["r"] + d, lambda a: gammaincinv(a, u[1]))
    lam = lam / (par["alpha"] + age)
    if fit.name == "pareto_nbd":  # lifetime beyond T: Lomax, P(tau > y) = (B / (B + y))^s
        with np.errstate(over="ignore"):  # s -> 0: nobody leaves within the horizon
            life = np.minimum((par["beta"] + age) * (u[2] ** (-1.0 / par["s"]) - 1.0), t)
        most = np.inf
    else:  # dropout after the G-th purchase, G ~ Geometric(p), p ~ Beta(a, b + x (+1))
        extra = 1.0 if fit.name == "mbgnbd" else 0.0
        p = _on_distinct(x, lambda d: par["b"] + d + extra, lambda b: betaincinv(par["a"], b, u[2]))
        life, most = t, np.ceil(np.log(u[3]) / np.log1p(-np.clip(p, 1e-12, 1 - 1e-12)))
    mean = np.where(u[0] < p_alive, lam * life, 0.0)
    purchases = np.minimum(_counts(seqs[8], mean), most)
    if gg_fit.reduced_to == "mean_spend":
        spend = purchases * gg_fit.params["mean_spend"]
        return {"purchases": purchases, "spend": spend, "alive": p_alive}
    j = np.random.default_rng(seqs[7]).integers(_flat(gg_fit, "p").size, size=n_sims)
    gg = {name: _flat(gg_fit, name)[j][:, None] for name in ("p", "q", "v")}
    nu = _on_distinct(x, lambda d: gg["q"] + gg["p"] * d, lambda a: gammaincinv(a, u[4]))
    nu = nu / (gg["v"] + x * m)  # Gamma-Gamma posterior of the spend rate (prior if x = 0)
    grid = gammaincinv(gg["p"] * np.arange(purchases.max() + 1), u[5])  # sum of N purchases
    spend = np.take_along_axis(np.nan_to_num(grid), purchases.astype(int), axis=1) / nu
    return {"purchases": purchases, "spend": spend, "alive": p_alive}


def predictive_intervals(summary: pd.DataFrame, fit: BTYDFit, gg_fit: BTYDFit,
                         horizon_weeks: float | None = None, level: float = 0.8,
                         n_sims: int = 500, seed: int = 0, block: int = 10_000,
                         ) -> pd.DataFrame:  # fmt: skip
    """Predictive ``level`` intervals per customer of ``summary``.

    ``fit``: a BG/NBD, Pareto/NBD or MBG/NBD :class:`~helpers.models.btyd.BTYDFit`, and
    ``gg_fit`` its spend model (Gamma-Gamma or the mean-spend fallback), fitted on
    ``summary``'s calibration columns; ``horizon_weeks`` as in
    :func:`~helpers.models.btyd.predict_btyd`; ``n_sims`` futures per customer, seeded by
    ``seed``; ``block`` customers at a time (memory).

    Returns, indexed as ``summary``: ``purchases_lower`` / ``_upper`` (repeat purchase
    days in the horizon) and ``spend_lower`` / ``_upper`` (spend in the horizon, the
    CLV): the central interval, or ``[0, q(level)]`` when the chance of nothing exceeds the
    lower tail, with ``*_level`` the model's probability of it (more than ``level`` only
    where ``P(0)`` is: an interval that holds 0 holds all of that atom); ``p_alive_lower`` /
    ``_upper``: P(alive) at the cutoff over the posterior draws (a point for MAP).
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    if n_sims < 10:
        raise ValueError(f"n_sims must be at least 10, got {n_sims}")
    x, t_x, age = _rft(summary)
    m = np.where(x > 0, np.nan_to_num(_column(summary, "monetary_value")), 0.0)
    t = horizon_of(summary, horizon_weeks)
    tails = [(1.0 - level) / 2.0, (1.0 + level) / 2.0, level]
    parts = []
    for start in range(0, len(x), block):
        at = slice(start, start + block)
        sims = _simulate(fit, gg_fit, x[at], t_x[at], age[at], m[at], t, n_sims, seed)
        bounds: dict[str, Any] = {}
        for key in ("purchases", "spend", "alive"):
            low, high, top = np.quantile(sims[key], tails, 0, method="inverted_cdf")
            if key != "alive":
                high = np.where(low <= 0.0, top, high)
                bounds[f"{key}_level"] = ((sims[key] >= low) & (sims[key] <= high)).mean(0)
            name = "p_alive" if key == "alive" else key
            bounds[f"{name}_lower"], bounds[f"{name}_upper"] = low, high
        parts.append(pd.DataFrame(bounds))
    out = pd.concat(parts, ignore_index=True).set_axis(summary.index)
    facts = {"level": level, "n_sims": n_sims, "seed": seed, "horizon": t, "model": fit.name}
    out.attrs["btyd_interval"] = {**facts, "method": fit.method}
    return out


def interval_coverage(intervals: pd.DataFrame, purchases: Any, spend: Any) -> pd.DataFrame:
    """Share of customers whose realised ``purchases`` and ``spend`` lie inside their
    interval (bounds included) beside the share the model claims (``*_claimed``: the mean
    ``*_level``), overall, for buyers and non-buyers, with the median spend interval width.
    """
    realised = {"purchases": np.asarray(purchases, dtype=float),
                "spend": np.asarray(spend, dtype=float)}  # fmt: skip
    rows: dict[str, dict[str, float]] = {}
    for group, who in (("all", realised["purchases"] >= 0), ("buyers", realised["purchases"] > 0),
                       ("non-buyers", realised["purchases"] == 0)):  # fmt: skip
        rows[group] = row = {"customers": float(who.sum())}  # the rest NaN without customers
        if not who.any():
            continue
        for key, y in realised.items():
            low, high = (intervals[f"{key}_{e}"].to_numpy()[who] for e in ("lower", "upper"))
            row[f"{key}_coverage"] = float(((low <= y[who]) & (y[who] <= high)).mean())
            row[f"{key}_claimed"] = float(intervals[f"{key}_level"].to_numpy()[who].mean())
        row["spend_width_median"] = float(np.median(high - low))
    return pd.DataFrame(rows).T.rename_axis("customers_in")
