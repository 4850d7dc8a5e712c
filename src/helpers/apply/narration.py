"""Sentences of stage 07, built from its tables (so every number is the table's)."""

from __future__ import annotations

import pandas as pd

from helpers.claims import say

__all__ = ["churn_sentence", "coverage_sentence", "monday_headline"]

ACTIONABLE = "actionable: P(no purchase)"
NAIVE = "naive: longest since last purchase"


def coverage_sentence(raw: pd.DataFrame, calibrated: pd.DataFrame, level: float) -> str:
    """What the interval covered on the backtest, before and after the correction.

    ``raw`` and ``calibrated`` are :func:`helpers.apply.conformal.band_coverage` tables.
    """
    thirds = [name for name in calibrated.index if str(name).startswith("third")]
    top = thirds[-1]
    floor = calibrated.loc[top, "non_buyer_share"]
    text = say(
        "On the backtest the model's own {level:.0%} interval held {raw:.1%} of the "
        "customers' holdout spend; corrected on the last completed window before the "
        "cutoff, it holds {cal:.1%} ({buyers:.1%} of buyers, {non:.1%} of non-buyers), "
        "and {low:.1%} to {high:.1%} within the thirds of customers by predicted "
        "P(no purchase).",
        level=level,
        raw=raw.loc["all", "coverage"],
        cal=calibrated.loc["all", "coverage"],
        buyers=calibrated.loc["buyers", "coverage"],
        non=calibrated.loc["non-buyers", "coverage"],
        low=calibrated.loc[thirds, "coverage"].min(),
        high=calibrated.loc[thirds, "coverage"].max(),
    )
    if floor > level:
        text += say(
            " In the riskiest third {floor:.1%} of the customers bought nothing, so any "
            "interval that holds their most likely outcome, 0, covers at least that share.",
            floor=floor,
        )
    return text


def churn_sentence(judged: pd.DataFrame, share: float) -> str:
    """The actionable churn list against the naive one at the top ``share``.

    ``judged`` is :func:`helpers.apply.crm.judge_churn_lists`'s table.
    """
    top = f"top {share:.0%}"
    ours, naive = judged.loc[(ACTIONABLE, top)], judged.loc[(NAIVE, top)]
    return say(
        "Among the {n:,} valuable customers still reachable at the cutoff, the top "
        "{share:.0%} of the actionable churn list (ranked by the model's P(no purchase)) "
        "really bought nothing in the holdout {precision:.1%} of the time (lift {lift:.2f} "
        "over their base rate {base:.1%}), against {naive:.1%} (lift {naive_lift:.2f}) for "
        "the naive list of those longest since their last purchase.",
        n=int(round(ours["customers"] / share)) if share else 0,
        share=share,
        precision=ours["precision"],
        lift=ours["lift"],
        base=ours["base_rate"],
        naive=naive["precision"],
        naive_lift=naive["lift"],
    )


def monday_headline(
    table: pd.DataFrame,
    day: str,
    budget: float,
    judged: pd.DataFrame,
    share: float,
    coverage: float | None,
) -> str:
    """Stage 07's one-paragraph answer: policy, contacts, churn list, interval."""
    contacted = table["action"] != "none"
    ours = judged.loc[(ACTIONABLE, f"top {share:.0%}")]
    naive = judged.loc[(NAIVE, f"top {share:.0%}")]
    text = say(
        "As of {day}, {n:,} customers scored with {model}; the recommended policy, "
        "{policy}, contacts {contacted:,} this month (budget {budget:.0%}) for {profit:,.0f} "
        "expected incremental profit. The top {share:.0%} of the actionable churn list is "
        "right {precision:.1%} of the time on the backtest (lift {lift:.2f}), against "
        "{naive:.1%} for the longest-since-last-purchase list.",
        day=day,
        n=len(table),
        model=str(table["model"].iloc[0]) if len(table) else "no model",
        policy=str(table["policy"].iloc[0]) if len(table) else "none",
        contacted=int(contacted.sum()),
        budget=budget,
        profit=float(table["expected_incremental_profit"].sum()),
        share=share,
        precision=ours["precision"],
        lift=ours["lift"],
        naive=naive["precision"],
    )
    if coverage is not None:
        text += say(" The 80 % interval held {c:.1%} of customers on the backtest.", c=coverage)
    return text
