"""Calibration / holdout split and per-customer targets.

The study predicts, for every customer known at the cutoff, what they will spend in
the holdout period. Days are calendar days in UTC and both period ends are
inclusive: calibration is ``ts < cutoff + 1 day`` and holdout is
``cutoff + 1 day <= ts < holdout_end + 1 day``.

**Who is a customer.** The modelled population is every user with at least one
purchase in the calibration period (their first purchase is their acquisition, as in
the BTYD literature: Fader, Hardie & Lee 2005). Users who only browsed in calibration
or whose first purchase falls in the holdout are *new-customer acquisition*, a
different question; they are excluded from the targets and counted in
:func:`cohort_counts`, never silently lost.

**Purchases are counted by day.** Several transactions by one customer on one day
count as one purchase occasion (the standard CDNOW protocol); spend is summed over
all of them, so no money is lost by merging.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

ONE_DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class Split:
    """Period boundaries: ``[start, calibration_end)`` and ``[calibration_end, holdout_end)``.

    Build with :meth:`from_dates` from the inclusive calendar days used in
    ``params.yaml``; the stored bounds are exclusive UTC instants.
    """

    calibration_end: pd.Timestamp
    holdout_end: pd.Timestamp

    @classmethod
    def from_dates(cls, cutoff: str, holdout_end: str) -> Split:
        """Split whose calibration ends with day ``cutoff`` and holdout with ``holdout_end``."""
        cal_end = _utc_day(cutoff) + ONE_DAY
        hold_end = _utc_day(holdout_end) + ONE_DAY
        if hold_end <= cal_end:
            raise ValueError(f"holdout_end ({holdout_end}) must be after the cutoff ({cutoff})")
        return cls(calibration_end=cal_end, holdout_end=hold_end)

    @property
    def cutoff(self) -> str:
        """The last calendar day of calibration (``YYYY-MM-DD``)."""
        return (self.calibration_end - ONE_DAY).strftime("%Y-%m-%d")

    @property
    def last_holdout_day(self) -> str:
        """The last calendar day of the holdout (``YYYY-MM-DD``)."""
        return (self.holdout_end - ONE_DAY).strftime("%Y-%m-%d")

    def to_json(self, path: str | Path, dataset: str) -> None:
        """Write the split (and the dataset it belongs to) for later stages."""
        info = {
            "dataset": dataset,
            "cutoff": self.cutoff,
            "holdout_end": self.last_holdout_day,
            "calibration_end_exclusive": self.calibration_end.isoformat(),
            "holdout_end_exclusive": self.holdout_end.isoformat(),
            "holdout_days": self.holdout_days,
        }
        Path(path).write_text(json.dumps(info, indent=2) + "\n")

    @classmethod
    def from_json(cls, path: str | Path, dataset: str) -> Split:
        """Read a split written by :meth:`to_json`, checking it belongs to ``dataset``.

        Raises
        ------
        ValueError
            When the file was written for another dataset (stale stage output).
        """
        info = json.loads(Path(path).read_text())
        if info["dataset"] != dataset:
            raise ValueError(
                f"{path} belongs to dataset {info['dataset']!r}, not {dataset!r}: "
                "re-run stage 01 (dvc repro)"
            )
        return cls.from_dates(info["cutoff"], info["holdout_end"])

    @property
    def holdout_days(self) -> int:
        return int((self.holdout_end - self.calibration_end) / ONE_DAY)

    @property
    def holdout_weeks(self) -> float:
        return self.holdout_days / 7.0

    def calibration(self, events: pd.DataFrame) -> pd.DataFrame:
        """Events strictly before the end of the cutoff day: the only input to features."""
        return events.loc[events["ts"] < self.calibration_end]

    def holdout(self, events: pd.DataFrame) -> pd.DataFrame:
        """Events in the holdout period: the only input to targets."""
        ts = events["ts"]
        return events.loc[(ts >= self.calibration_end) & (ts < self.holdout_end)]


def _utc_day(day: str | pd.Timestamp) -> pd.Timestamp:
    stamp = pd.Timestamp(day)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    if stamp != stamp.normalize():
        raise ValueError(f"expected a calendar day, got {day!r}")
    return stamp


def purchase_days(events: pd.DataFrame) -> pd.DataFrame:
    """One row per (user, UTC day) with a purchase: ``user_id, day, amount`` (day's total)."""
    purchases = events.loc[events["event_type"] == "purchase", ["user_id", "ts", "amount"]]
    days = purchases.assign(day=purchases["ts"].dt.floor("D"))
    return days.groupby(["user_id", "day"], as_index=False, sort=False)["amount"].sum()


def make_targets(events: pd.DataFrame, split: Split) -> pd.DataFrame:
    """Per-customer calibration summary and holdout targets.

    Parameters
    ----------
    events : DataFrame
        Canonical events (see :mod:`helpers.data.schema`).
    split : Split
        Period boundaries.

    Returns
    -------
    DataFrame
        Index ``user_id`` (customers with a calibration purchase), columns
        ``first_purchase`` (ts), ``cal_purchases`` (purchase days), ``cal_spend``,
        ``holdout_purchases`` (purchase days), ``holdout_spend``, ``holdout_zero``
        (bool: no purchase in holdout). Only ``holdout_*`` columns read holdout events.
    """
    cal = purchase_days(split.calibration(events))
    hold = purchase_days(split.holdout(events))
    cal_grouped = cal.groupby("user_id", sort=True)
    customers = pd.DataFrame(
        {
            "first_purchase": cal_grouped["day"].min(),
            "cal_purchases": cal_grouped["day"].size().astype("int64"),
            "cal_spend": cal_grouped["amount"].sum(),
        }
    )
    hold_grouped = hold.groupby("user_id")
    customers["holdout_purchases"] = (
        hold_grouped["day"].size().reindex(customers.index, fill_value=0).astype("int64")
    )
    customers["holdout_spend"] = hold_grouped["amount"].sum().reindex(customers.index).fillna(0.0)
    customers["holdout_zero"] = customers["holdout_purchases"] == 0
    customers.index.name = "user_id"
    return customers


def cohort_counts(events: pd.DataFrame, split: Split) -> dict[str, int]:
    """Account for every user: customers modelled vs excluded, by reason.

    ``users_total == customers + browse_only_in_calibration + first_purchase_in_holdout
    + only_after_holdout`` always holds.
    """
    in_window = events["ts"] < split.holdout_end
    users_total = int(events["user_id"].nunique())
    purchase = events["event_type"] == "purchase"
    cal = events["ts"] < split.calibration_end
    customers = set(events.loc[purchase & cal, "user_id"].unique())
    cal_users = set(events.loc[cal, "user_id"].unique())
    window_buyers = set(events.loc[purchase & in_window, "user_id"].unique())
    window_users = set(events.loc[in_window, "user_id"].unique())
    browse_only_cal = cal_users - customers
    first_in_holdout = (window_buyers - customers) - browse_only_cal
    other_window = window_users - customers - browse_only_cal - first_in_holdout
    counts = {
        "users_total": users_total,
        "customers": len(customers),
        "browse_only_in_calibration": len(browse_only_cal),
        "first_purchase_in_holdout": len(first_in_holdout),
        "holdout_browse_only": len(other_window),
        "only_after_holdout": users_total - len(window_users),
    }
    return counts


def replay_split(split: Split, first_day: pd.Timestamp) -> Split:
    """The prediction problem replayed inside the calibration period, for model selection.

    The replayed holdout ends with the real cutoff day and is as long as the real
    holdout, but at most half of the calibration period (from ``first_day``, the first
    day of the data), so that the replayed calibration keeps at least as much history.
    Nothing after the real cutoff is involved.
    """
    first = _utc_day(pd.Timestamp(first_day).normalize())
    calibration_days = int((split.calibration_end - first) / ONE_DAY)
    label_days = min(split.holdout_days, calibration_days // 2)
    if label_days < 1:
        raise ValueError("the calibration period is too short to replay the prediction problem")
    cutoff = split.calibration_end - pd.Timedelta(days=label_days) - ONE_DAY
    return Split.from_dates(cutoff.strftime("%Y-%m-%d"), split.cutoff)
