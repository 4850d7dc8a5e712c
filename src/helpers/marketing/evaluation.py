"""Paired evaluation of marketing policies on the simulator: incremental profit per customer.

Every policy runs on the same seeds as "contact nobody", so differences are paired; the
mean over seeds gets a t-interval. Used by the study (:mod:`.study`) and the learner
diagnosis (:mod:`.diagnose`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .simulator import ACTIONS, MarketingWorld, run_policy

__all__ = ["evaluate_policies", "mean_interval"]


def mean_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and t-interval of the mean over seeds."""
    v = np.asarray(values, float)
    m = float(v.mean())
    if len(v) < 2:
        return m, m, m
    half = float(stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return m, m - half, m + half


def evaluate_policies(
    world: MarketingWorld,
    policies: dict[str, Any],
    seeds: list[int] | range,
    budget: float | None | str = "config",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run every policy on every seed (paired) and summarise incremental profit.

    ``policies`` must contain ``"nobody"`` (the reference). A policy whose ``disabled``
    attribute is ``True`` (an agent switched off by the safety check) contacts nobody:
    it is not run again, its rows are those of "nobody" on the same seed. Returns ``(table,
    per_seed)``: the table has per policy ``incremental_profit`` (mean over seeds), its
    95 % interval ``ci_lo``/``ci_hi``, ``profit`` (absolute), ``contact_rate`` and the
    share of each action; ``per_seed`` the raw values.
    """
    if "nobody" not in policies:
        raise ValueError("policies must include 'nobody' (the reference)")
    sim = world.simulator()
    order = ["nobody", *(k for k in policies if k != "nobody")]
    rows = []
    for s in seeds:
        reference: dict[str, Any] = {}
        for name in order:
            pol = policies[name]
            if getattr(pol, "disabled", False) is True:
                # a switched-off agent contacts nobody: its run *is* the reference run
                rows.append({**reference, "policy": name})
                continue
            res = run_policy(sim, pol, int(s), budget=budget)
            shares = np.bincount(res.actions.ravel(), minlength=4) / res.actions.size
            rows.append(
                {
                    "policy": name,
                    "seed": int(s),
                    "profit": float(res.discounted_profit.mean()),
                    "contact_rate": res.contact_rate,
                    **{f"share_{a}": float(shares[i]) for i, a in enumerate(ACTIONS)},
                }
            )
            if name == "nobody":
                reference = rows[-1]
    per_seed = pd.DataFrame(rows)
    ref = per_seed.loc[per_seed["policy"] == "nobody"].set_index("seed")["profit"]
    per_seed["incremental_profit"] = per_seed["profit"] - per_seed["seed"].map(ref)
    out = []
    for name in policies:
        g = per_seed.loc[per_seed["policy"] == name]
        m, lo, hi = mean_interval(g["incremental_profit"].to_numpy())
        out.append(
            {
                "policy": name,
                "incremental_profit": m,
                "ci_lo": lo,
                "ci_hi": hi,
                "profit": float(g["profit"].mean()),
                "contact_rate": float(g["contact_rate"].mean()),
                **{f"share_{a}": float(g[f"share_{a}"].mean()) for a in ACTIONS[1:]},
            }
        )
    return pd.DataFrame(out), per_seed
