"""Value deciles and the value x churn-risk segment grid of stage 07.

Value tiers come from each customer's rank by predicted spend (the top
``high_share`` are "high value", the next ``medium_share`` "medium value", the rest
"low value"). The risk state follows one rule, stated in the data dictionary and held
by :func:`helpers.apply.consistency.violations`:

- **lapsed**: P(alive) below ``lapsed_p_alive`` (the BTYD model says the customer has
  most likely left; a win-back, not a retention call);
- **at risk**: not lapsed, and P(no purchase) at or above ``at_risk_p_no_purchase``
  or overdue against the customer's own rhythm (``days_overdue > 0``): people the team
  can still reach;
- **active**: everyone else.

Nine plain names a marketer would use, e.g. "high value, at risk". Thresholds are
parameters.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = [
    "SEGMENTS",
    "plot_segments",
    "segment_customers",
    "segment_summary",
    "value_deciles",
]

TIERS: tuple[str, ...] = ("high value", "medium value", "low value")
RISKS: tuple[str, ...] = ("active", "at risk", "lapsed")
#: All segment names, most valuable first.
SEGMENTS: tuple[str, ...] = tuple(f"{t}, {r}" for t in TIERS for r in RISKS)


def value_deciles(predicted_spend: pd.Series) -> pd.Series:
    """Decile of predicted spend, 10 = the top 10 % (ties share the lower rank's decile)."""
    pct = predicted_spend.rank(method="first", ascending=True, pct=True)
    return np.ceil(pct * 10).clip(1, 10).astype("int64").rename("value_decile")


def segment_customers(
    predicted_spend: pd.Series,
    p_no_purchase: pd.Series,
    high_share: float = 0.2,
    medium_share: float = 0.3,
    at_risk_p_no_purchase: float = 0.6,
    p_alive: pd.Series | None = None,
    days_overdue: pd.Series | None = None,
    lapsed_p_alive: float = 0.5,
) -> pd.Series:
    """Segment name per customer (a categorical with :data:`SEGMENTS` as categories).

    Parameters
    ----------
    predicted_spend, p_no_purchase : Series
        Same index (customers). ``p_no_purchase`` is the risk shown beside the action
        (stage 07 passes P(no purchase in the churn window)).
    high_share, medium_share : float
        Shares of customers, ranked by predicted spend, in the high and medium tiers.
    at_risk_p_no_purchase : float
        P(no purchase) from which a customer is "at risk".
    p_alive, days_overdue : Series, optional
        BTYD P(alive) (below ``lapsed_p_alive``: "lapsed") and days overdue against the
        customer's own rhythm (above 0: "at risk"; NaN: no rhythm yet).
    """
    if not (0 < high_share and medium_share >= 0 and high_share + medium_share <= 1):
        raise ValueError("need 0 < high_share and high_share + medium_share <= 1")
    if not (0 <= at_risk_p_no_purchase <= 1 and 0 <= lapsed_p_alive <= 1):
        raise ValueError("at_risk_p_no_purchase and lapsed_p_alive must be probabilities")
    rank_share = predicted_spend.rank(method="first", ascending=False, pct=True)
    tier = np.where(
        rank_share <= high_share,
        TIERS[0],
        np.where(rank_share <= high_share + medium_share, TIERS[1], TIERS[2]),
    )
    index = predicted_spend.index
    at_risk = p_no_purchase.reindex(index).to_numpy(float) >= at_risk_p_no_purchase
    if days_overdue is not None:
        at_risk |= days_overdue.reindex(index).to_numpy(float) > 0  # NaN: no rhythm
    risk = at_risk.astype(int)
    if p_alive is not None:
        risk[p_alive.reindex(index).to_numpy(float) < lapsed_p_alive] = 2
    names = pd.Series(tier, index=predicted_spend.index).str.cat(
        pd.Series(np.asarray(RISKS)[risk], index=predicted_spend.index), sep=", "
    )
    return names.astype(pd.CategoricalDtype(list(SEGMENTS))).rename("segment")


def segment_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per segment: customers, share, predicted value and its share, mean P(no purchase),
    expected incremental profit and the action mix (share of the segment per action).

    ``table`` needs ``segment``, ``predicted_spend``, ``p_no_purchase`` and, when
    present, ``action`` and ``expected_incremental_profit``.
    """
    grouped = table.groupby("segment", observed=False)
    out = pd.DataFrame(
        {
            "customers": grouped.size(),
            "predicted_spend_total": grouped["predicted_spend"].sum(),
            "mean_p_no_purchase": grouped["p_no_purchase"].mean(),
        }
    )
    out.insert(1, "share_of_customers", out["customers"] / max(len(table), 1))
    total = table["predicted_spend"].sum()
    out.insert(3, "share_of_predicted_value", out["predicted_spend_total"] / total)
    if "expected_incremental_profit" in table:
        out["expected_incremental_profit"] = grouped["expected_incremental_profit"].sum()
    if "action" in table:
        mix = pd.crosstab(table["segment"], table["action"], normalize="index")
        mix.columns = [f"share_{c}" for c in mix.columns]
        out = out.join(mix)
    order = [*SEGMENTS, *sorted(set(out.index.astype(str)) - set(SEGMENTS))]
    out = out.reindex(order)
    out.index.name = "segment"
    return out.fillna(0.0).astype({"customers": "int64"})


def plot_segments(summary: pd.DataFrame) -> plt.Figure:
    """Left: share of customers vs share of predicted value per segment; right: action mix."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
    names = list(summary.index.astype(str))
    y = np.arange(len(names))
    left.barh(y - 0.2, summary["share_of_customers"] * 100, height=0.4, label="customers")
    left.barh(y + 0.2, summary["share_of_predicted_value"] * 100, height=0.4,
              label="predicted value")  # fmt: skip
    left.set(yticks=y, yticklabels=names, xlabel="share of the total (%)", title="Segments")
    left.invert_yaxis()
    left.legend()
    mix = summary[[c for c in summary.columns if c.startswith("share_") and c not in
                   ("share_of_customers", "share_of_predicted_value")]]  # fmt: skip
    start = np.zeros(len(names))
    for col in mix.columns:
        right.barh(y, mix[col] * 100, left=start, label=col.removeprefix("share_"))
        start += mix[col].to_numpy() * 100
    right.set(xlabel="share of the segment (%)", title="Recommended action this month")
    right.legend(loc="lower right")
    fig.tight_layout()
    return fig
