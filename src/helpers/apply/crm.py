"""The columns a CRM team expects, made to agree with each other.

:func:`finish_table` takes the scored table of :func:`helpers.apply.table.assemble_table`
and what the last completed window taught (:func:`helpers.apply.conformal.
calibrate_on_window`), and

- replaces the model's 80 % interval by its Mondrian-conformal correction;
- adds P(no purchase in the next 90 days) and its band (``churn_risk``);
- adds the discounted CLV over the horizon at ``discount_rate`` a year;
- re-derives the segment from one rule (:func:`helpers.apply.segments.segment_customers`
  with the 90-day P(no purchase), P(alive) and the customer's own rhythm).

:func:`actionable_churn_list` is the retention list: customers who were valuable and
can still be reached, ranked by predicted P(no purchase); :func:`judge_churn_lists`
compares it on a backtest with the naive list (longest since the last purchase).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from helpers.apply.churn import precision_recall_at_top
from helpers.apply.conformal import WindowCalibration, completed_window_calibration, risk_bands
from helpers.apply.narration import ACTIONABLE, NAIVE
from helpers.apply.scoring import ApplyError, score_customers
from helpers.apply.segments import segment_customers

__all__ = [
    "actionable_churn_list",
    "churn_lists",
    "discount_factor",
    "finish_table",
    "judge_churn_lists",
    "last_window_calibration",
    "reachable_customers",
    "risk_columns",
]


def discount_factor(horizon_days: int, annual_rate: float) -> float:
    """Present value of 1 spent evenly over ``horizon_days``, discounted continuously
    at ``annual_rate`` a year (compounded yearly): ``mean_t (1 + r)^(-t / 365)``.

    Equals ``(1 - v^h) / (h ln(1 + r))`` with ``h = horizon_days / 365`` and
    ``v = 1 / (1 + r)`` (Fader, Hardie & Lee 2005 discount the same way for DERT).
    """
    if annual_rate < 0:
        raise ValueError(f"discount_rate must be 0 or more, got {annual_rate}")
    if annual_rate == 0:
        return 1.0
    years = int(horizon_days) / 365.0
    log_rate = np.log1p(annual_rate)
    return float((1.0 - np.exp(-log_rate * years)) / (years * log_rate))


def finish_table(
    table: pd.DataFrame,
    calibration: WindowCalibration | None,
    segments: Mapping[str, float],
    watch_p_no_purchase: float,
    discount_rate: float,
) -> pd.DataFrame:
    """The table with calibrated interval, churn window, discounted CLV and segment.

    ``segments`` holds ``high_share``, ``medium_share``, ``at_risk_p_no_purchase`` and
    ``lapsed_p_alive`` (``params.yaml`` ``apply.segments``); ``churn_risk`` is "medium"
    from ``watch_p_no_purchase`` and "high" from ``at_risk_p_no_purchase``.
    Without ``calibration`` (no completed window) the interval stays the model's and
    the churn-window columns stay empty; the segment then reads P(no purchase over
    the horizon).
    """
    out = table.copy()
    p_horizon = out["p_no_purchase"].astype(float)
    if calibration is not None:
        low, high = calibration.interval.apply(out["spend_q10"], out["spend_q90"], p_horizon)
        out["spend_q10"], out["spend_q90"] = low.to_numpy(), high.to_numpy()
        if calibration.no_purchase_map is not None:
            out["p_no_purchase_90d"] = calibration.no_purchase_map(p_horizon).to_numpy()
    derived = risk_columns(out, segments, watch_p_no_purchase)
    out["churn_risk"] = derived["churn_risk"].to_numpy()
    out["discounted_clv"] = out["predicted_spend"] * discount_factor(
        int(out["horizon_days"].iloc[0]) if len(out) else 0, discount_rate
    )
    out["segment"] = derived["segment"].to_numpy()
    return out[list(table.columns)]


def risk_columns(
    table: pd.DataFrame, segments: Mapping[str, float], watch_p_no_purchase: float
) -> pd.DataFrame:
    """``churn_risk`` and ``segment`` as the table's own columns imply them: one rule for
    :func:`finish_table` to write and :func:`helpers.apply.consistency.violations` to check.

    The risk is ``p_no_purchase_90d``, else ``p_no_purchase`` (no completed window).
    """
    risk = table["p_no_purchase_90d"].astype(float)
    risk = risk.where(risk.notna(), table["p_no_purchase"].astype(float))
    bands = risk_bands(risk, (watch_p_no_purchase, segments["at_risk_p_no_purchase"]))
    segment = segment_customers(
        table["predicted_spend"].astype(float),
        risk,
        high_share=segments["high_share"],
        medium_share=segments["medium_share"],
        at_risk_p_no_purchase=segments["at_risk_p_no_purchase"],
        p_alive=table["p_alive"].astype(float),
        days_overdue=table["days_overdue"].astype(float),
        lapsed_p_alive=segments["lapsed_p_alive"],
    )
    return pd.DataFrame({"churn_risk": bands, "segment": segment.astype("string")})


def last_window_calibration(
    events: pd.DataFrame,
    as_of: Any,
    horizon_days: int,
    model: str,
    seed: int,
    level: float = 0.8,
    **score_options: Any,
) -> tuple[WindowCalibration | None, str]:
    """Score ``model`` ``horizon_days`` before ``as_of`` and learn from that completed
    window (:func:`helpers.apply.conformal.completed_window_calibration`); None, with
    the reason, where the data cannot hold such a window (too little history before it,
    or before the first purchase): the model's own interval is then kept."""
    start = pd.Timestamp(as_of).tz_localize(None).normalize() - pd.Timedelta(days=int(horizon_days))
    try:
        before = score_customers(
            events, start, horizon_days, model, seed=seed, progress=False, **score_options
        )
    except ApplyError as exc:
        return None, f"no completed window before {start.date()} + {horizon_days} days: {exc}"
    return completed_window_calibration(before.scores, events, start, horizon_days, as_of, level)


def reachable_customers(
    p_alive: pd.Series, historic_spend: pd.Series, lapsed_p_alive: float = 0.5
) -> pd.Series:
    """Customers a retention team can still win: not lapsed (P(alive) at least
    ``lapsed_p_alive``) and valuable (historic spend at or above the median)."""
    spend = historic_spend.reindex(p_alive.index).fillna(0.0)
    return (p_alive >= lapsed_p_alive) & (spend >= spend.median())


def actionable_churn_list(table: pd.DataFrame, lapsed_p_alive: float = 0.5) -> pd.DataFrame:
    """Reachable, valuable customers ranked by predicted P(no purchase), highest first."""
    keep = reachable_customers(
        table["p_alive"].astype(float), table["historic_spend"].astype(float), lapsed_p_alive
    )
    return table[keep.to_numpy()].sort_values("p_no_purchase", ascending=False, kind="stable")


def churn_lists(
    p_no_purchase: pd.Series,
    p_alive: pd.Series,
    historic_spend: pd.Series,
    days_since_last_purchase: pd.Series,
    lapsed_p_alive: float = 0.5,
) -> dict[str, pd.Series]:
    """The two retention lists over the same reachable customers, as risk scores.

    ``actionable``: the model's P(no purchase); ``naive``: days since the last purchase
    (customers who never bought rank first). Both cover :func:`reachable_customers`.
    """
    keep = reachable_customers(p_alive, historic_spend, lapsed_p_alive)
    who = keep[keep].index
    return {
        ACTIONABLE: p_no_purchase.reindex(who),
        NAIVE: days_since_last_purchase.reindex(who).fillna(np.inf),
    }


def judge_churn_lists(
    lists: Mapping[str, pd.Series], churned: pd.Series, shares: Sequence[float] = (0.05, 0.1, 0.2)
) -> pd.DataFrame:
    """Precision, recall and lift of each list (:func:`churn_lists`) at its top ``shares``.

    Rows are indexed by (list, top share); ``churned`` = no purchase in the window.
    """
    table = pd.concat(
        {
            name: precision_recall_at_top(risk, churned.reindex(risk.index), shares)
            for name, risk in lists.items()
        }
    )
    table.index.names = ["list", "top"]
    return table
