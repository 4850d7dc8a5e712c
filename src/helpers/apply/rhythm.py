"""Each customer's history and buying rhythm, the columns a CRM team reads first.

From the purchase days up to ``as_of`` (UTC calendar days, several purchases on a day
are one occasion, as everywhere in the study): total spend so far, days since the last
purchase, the customer's own usual gap between purchases (first to last purchase day
divided by the repeat purchases), the day the next purchase is due by that rhythm, and
how many days overdue it is. A customer with one purchase day has no rhythm yet: the
rhythm columns are empty for them.
"""

from __future__ import annotations

import pandas as pd

from helpers.data.split import purchase_days

__all__ = ["RHYTHM_COLUMNS", "history_and_rhythm"]

#: column -> (type, unit, meaning), in table order (see helpers.apply.table).
RHYTHM_COLUMNS: dict[str, tuple[str, str, str]] = {
    "historic_spend": ("float", "currency", "spend from the first purchase to as_of"),
    "total_value": ("float", "currency", "historic_spend + predicted_spend"),
    "days_since_last_purchase": ("float", "days", "days from the last purchase day to as_of"),
    "usual_days_between_purchases": (
        "float",
        "days",
        "the customer's own mean gap between purchase days (empty: one purchase day so far)",
    ),
    "next_purchase_due": (
        "date",
        "YYYY-MM-DD",
        "last purchase day + usual gap: when this customer's rhythm says they buy again",
    ),
    "days_overdue": (
        "float",
        "days",
        "days since next_purchase_due (negative: not yet due; empty: no rhythm yet)",
    ),
}


def history_and_rhythm(events: pd.DataFrame, as_of: pd.Timestamp, users: pd.Index) -> pd.DataFrame:
    """The columns of :data:`RHYTHM_COLUMNS` (but ``total_value``) for ``users``.

    Parameters
    ----------
    events : DataFrame
        Canonical events; purchases on days after ``as_of`` are ignored.
    as_of : Timestamp
        The last day of data used (UTC midnight).
    users : Index
        The scored customers (index of the result, in this order).
    """
    as_of = pd.Timestamp(as_of)
    as_of = (
        as_of.tz_localize("UTC") if as_of.tzinfo is None else as_of.tz_convert("UTC")
    ).normalize()
    days = purchase_days(events)
    days = days.loc[days["day"] <= as_of]
    per_user = days.groupby("user_id").agg(
        historic_spend=("amount", "sum"),
        first=("day", "min"),
        last=("day", "max"),
        occasions=("day", "size"),
    )
    per_user = per_user.reindex(users)
    since = (as_of - per_user["last"]) / pd.Timedelta(days=1)
    span = (per_user["last"] - per_user["first"]) / pd.Timedelta(days=1)
    repeats = per_user["occasions"] - 1
    gap = (span / repeats).where(repeats > 0)
    due = per_user["last"] + pd.to_timedelta(gap.round(), unit="D")
    out = pd.DataFrame(
        {
            "historic_spend": per_user["historic_spend"].fillna(0.0).astype(float),
            "days_since_last_purchase": since.astype(float),
            "usual_days_between_purchases": gap.astype(float),
            "next_purchase_due": due.dt.strftime("%Y-%m-%d").where(gap.notna()),
            "days_overdue": (since - gap).astype(float),
        },
        index=users,
    )
    return out
