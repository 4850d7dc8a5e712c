"""Churn warning judged on the holdout: precision and recall at the top of a risk list.

A marketer contacts the top ``k`` % of a list ranked by churn risk. The list is good
when those customers really do not come back: precision = share of the contacted who
churned, recall = share of all churners who were contacted, lift = precision / base
rate (Ling & Li 1998; Provost & Fawcett 2013, ch. 8). Churn = no purchase in the holdout.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = ["lift_curve", "plot_lift", "precision_recall_at_top"]


def _ranked(risk: pd.Series, churned: pd.Series) -> np.ndarray:
    churned = churned.reindex(risk.index)
    if churned.isna().any() or risk.isna().any():
        raise ValueError("risk and churned must cover the same customers, without NaN")
    order = np.argsort(-risk.to_numpy(dtype=float), kind="stable")
    return churned.to_numpy(dtype=bool)[order]


def precision_recall_at_top(
    risk: pd.Series, churned: pd.Series, shares: Sequence[float] = (0.05, 0.10, 0.20)
) -> pd.DataFrame:
    """Precision, recall and lift of the top ``share`` of customers ranked by ``risk``.

    Ties are broken by the order of the index (stable sort), so results are repeatable.
    """
    hits = _ranked(risk, churned)
    n, total = hits.size, hits.sum()
    rows = {}
    for share in shares:
        k = max(int(round(share * n)), 1)
        caught = hits[:k].sum()
        precision = caught / k
        rows[f"top {share:.0%}"] = {
            "customers": k,
            "precision": precision,
            "recall": caught / total if total else np.nan,
            "base_rate": total / n,
            "lift": precision / (total / n) if total else np.nan,
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def lift_curve(risk: pd.Series, churned: pd.Series, n_bins: int = 20) -> pd.DataFrame:
    """Cumulative lift at each ``1/n_bins`` share of the ranked list."""
    hits = _ranked(risk, churned)
    n, rate = hits.size, hits.mean()
    shares = np.arange(1, n_bins + 1) / n_bins
    ks = np.maximum(np.round(shares * n).astype(int), 1)
    cum = np.cumsum(hits)[ks - 1]
    return pd.DataFrame({"share": shares, "lift": (cum / ks) / rate if rate else np.nan})


def plot_lift(curves: dict[str, pd.DataFrame]) -> plt.Figure:
    """Cumulative lift curves of several risk scores (1 = a random list)."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, curve in curves.items():
        ax.plot(curve["share"] * 100, curve["lift"], marker="o", ms=3, label=name)
    ax.axhline(1.0, color="grey", lw=1, ls="--", label="random list")
    ax.set(
        xlabel="top of the risk list contacted (% of customers)",
        ylabel="cumulative lift (churn rate / base rate)",
        title="Churn warning on the holdout: lift",
    )
    ax.legend()
    fig.tight_layout()
    return fig
