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
#: Longest holdout :func:`default_split` chooses (26 weeks).
MAX_DEFAULT_HOLDOUT_DAYS = 26 * 7


class SplitError(ValueError):
    """The data cannot be split as configured.

    Like :class:`helpers.data.schema.DataError`, the message says what the data lack
    and which parameter to change. (Defined here, not imported, so that the stages
    reading ``split.json`` do not depend on the cleaning code.)
    """


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

    def to_json(self, path: str | Path, dataset: str, chosen_by: str | None = None) -> None:
        """Write the split (and the dataset it belongs to) for later stages.

        ``chosen_by`` (e.g. ``"params"`` or ``"data"``) is recorded when given.
        """
        info = {
            "dataset": dataset,
            "cutoff": self.cutoff,
            "holdout_end": self.last_holdout_day,
            "calibration_end_exclusive": self.calibration_end.isoformat(),
            "holdout_end_exclusive": self.holdout_end.isoformat(),
            "holdout_days": self.holdout_days,
        }
        if chosen_by is not None:
            info["chosen_by"] = chosen_by
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


def as_utc(stamp: str | pd.Timestamp) -> pd.Timestamp:
    """A timestamp in UTC (a naive one is read as UTC)."""
    stamp = pd.Timestamp(stamp)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def utc_days(ts: pd.Series) -> pd.Series:
    """The UTC calendar day (midnight, tz-aware) of each timestamp (naive read as UTC)."""
    ts = pd.to_datetime(ts)
    ts = ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts.dt.tz_convert("UTC")
    return ts.dt.floor("D")


def _utc_day(day: str | pd.Timestamp) -> pd.Timestamp:
    stamp = as_utc(day)
    if stamp != stamp.normalize():
        raise ValueError(f"expected a calendar day, got {day!r}")
    return stamp


def purchase_days(events: pd.DataFrame, sort: bool = False) -> pd.DataFrame:
    """Purchase occasions: one row per (user, UTC day) with a purchase.

    Several transactions of a customer on one day are one occasion (the study's
    protocol, as in the BTYD literature); ``amount`` is the day's total. Columns
    ``user_id, day, amount``; ``day`` is the UTC midnight (tz-aware).
    """
    purchases = events.loc[events["event_type"] == "purchase", ["user_id", "ts", "amount"]]
    days = purchases.assign(day=utc_days(purchases["ts"]))
    return days.groupby(["user_id", "day"], as_index=False, sort=sort)["amount"].sum()


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


def check_targets(customers: pd.DataFrame, split: Split, dataset: str) -> None:
    """Stop early when the holdout holds nothing to predict.

    Raises
    ------
    SplitError
        When there is no customer, or when none of the calibration customers buys in the
        holdout (e.g. a shop where nobody ever comes back): every model would predict
        zero and every ranking metric would be undefined.
    """
    if len(customers) == 0:
        raise SplitError(
            f"no customer: nobody buys on or before the cutoff {split.cutoff}. Set "
            f"datasets.{dataset}.cutoff later, or to null to choose it from the data."
        )
    if not (customers["holdout_spend"] > 0).any():
        raise SplitError(
            f"none of the {len(customers):,} customers of the calibration period (to "
            f"{split.cutoff}) buys again in the holdout (to {split.last_holdout_day}): there is "
            "no customer value to predict. CLV needs repeat purchases after the cutoff; set "
            f"datasets.{dataset}.cutoff earlier (or to null), or check that the file holds "
            "returning customers under stable ids."
        )


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


# --------------------------------------------------------------------------- choosing


def _day(stamp: pd.Timestamp) -> str:
    return stamp.strftime("%Y-%m-%d")


def _purchase_day_range(events: pd.DataFrame) -> tuple[pd.Series, pd.Timestamp, pd.Timestamp]:
    """Distinct UTC purchase days and the first and last day of any event.

    Raises :class:`SplitError` unless purchases fall on at least 2 distinct days.
    """
    days = events["ts"].dt.floor("D")
    purchase_days = days[events["event_type"] == "purchase"].drop_duplicates().sort_values()
    if len(purchase_days) < 2:
        found = ", ".join(_day(d) for d in purchase_days) or "none"
        raise SplitError(
            "cannot split calibration from holdout: the data need purchases on at least"
            f" 2 distinct days, found {len(purchase_days)} ({found}). Check the file and"
            " its mapping (purchase labels via event_type_map, the amount column)."
        )
    return purchase_days, days.min(), days.max()


@dataclass(frozen=True)
class SplitChoice:
    """A split with the sentence that says what was chosen and why.

    ``chosen_by`` is ``"params"`` (both days configured), ``"data"`` (both chosen from
    the data) or ``"params+data"`` (one of each).
    """

    split: Split
    sentence: str
    chosen_by: str

    def to_note(self) -> dict[str, str | int]:
        """The choice as a data-quality note (JSON-ready)."""
        return {
            "cutoff": self.split.cutoff,
            "holdout_end": self.split.last_holdout_day,
            "holdout_days": self.split.holdout_days,
            "chosen_by": self.chosen_by,
            "sentence": self.sentence,
        }


def default_split(events: pd.DataFrame, holdout_end: str | None = None) -> SplitChoice:
    """Calibration/holdout split chosen from the data, with a sentence saying why.

    The holdout is the last third of the span of days (first to last day of data, both
    inclusive), or 26 weeks if that is shorter, and at least one day; it ends with the
    last day of data (or with ``holdout_end`` when given). The cutoff is the day before
    the holdout starts.

    Parameters
    ----------
    events : DataFrame
        Canonical events (see :mod:`helpers.data.schema`).
    holdout_end : str, optional
        Last holdout day to use instead of the last day of data.

    Returns
    -------
    SplitChoice
        The split and a human sentence naming the days chosen and the rule.

    Raises
    ------
    SplitError
        When there are purchases on fewer than 2 distinct days, or ``holdout_end`` is
        not after the first day of data.
    """
    _, first, last = _purchase_day_range(events)
    end = last if holdout_end is None else _utc_day(holdout_end)
    if end <= first:
        raise SplitError(
            f"holdout_end {_day(end)} is not after the first event ({_day(first)}):"
            " there is nothing to split."
        )
    span_days = int((end - first) / ONE_DAY) + 1
    third = span_days // 3
    holdout_days = max(1, min(third, MAX_DEFAULT_HOLDOUT_DAYS))
    cutoff = end - pd.Timedelta(days=holdout_days)
    split = Split.from_dates(_day(cutoff), _day(end))
    rule = (
        "26 weeks, shorter than a third of the span"
        if third > MAX_DEFAULT_HOLDOUT_DAYS
        else "the last third of the span"
    )
    ends_with = "the last day of data" if holdout_end is None else "the configured holdout_end"
    sentence = (
        f"Split chosen from the data ({_day(first)} .. {_day(end)}, {span_days} days):"
        f" holdout {_day(cutoff + ONE_DAY)} .. {_day(end)} ({holdout_days} days,"
        f" {holdout_days / 7:.1f} weeks: {rule}, ending with {ends_with}),"
        f" calibration up to the cutoff {_day(cutoff)}."
    )
    return SplitChoice(split, sentence, "data" if holdout_end is None else "params+data")


def choose_split(
    events: pd.DataFrame,
    cutoff: str | None,
    holdout_end: str | None,
    dataset: str = "dataset",
) -> SplitChoice:
    """The split of a dataset block: configured days, or :func:`default_split` for nulls.

    A configured ``cutoff`` must leave events on both sides: not before the first day of
    data and before the last one. With ``cutoff`` null the data choose it (see
    :func:`default_split`); with only ``holdout_end`` null it is the last day of data.
    Either way both periods must hold at least one purchase.

    Parameters
    ----------
    events : DataFrame
        Canonical events.
    cutoff, holdout_end : str or None
        The dataset block's values (``YYYY-MM-DD``); None = choose from the data.
    dataset : str
        Dataset name, used in messages (``datasets.<dataset>.cutoff``).

    Returns
    -------
    SplitChoice
        The split, a sentence saying what was chosen and why, and who chose it.

    Raises
    ------
    SplitError
        Naming what the data lack and which parameter to change.
    """
    param = f"datasets.{dataset}"
    purchase_days, first, last = _purchase_day_range(events)
    if cutoff is None:
        choice = default_split(events, holdout_end)
        split, chosen_by = choice.split, choice.chosen_by
        sentence = (
            f"{choice.sentence} Set {param}.cutoff and holdout_end in params.yaml to choose"
            " other days."
        )
    else:
        cut = _utc_day(cutoff)
        if cut < first:
            raise SplitError(
                f"{param}.cutoff {cutoff} is before the first event ({_day(first)}): the"
                f" calibration period would be empty. Set {param}.cutoff to a day from"
                f" {_day(first)} to {_day(last - ONE_DAY)}, or to null to choose it from the data."
            )
        if cut >= last:
            raise SplitError(
                f"{param}.cutoff {cutoff} is on or after the last event ({_day(last)}): the"
                f" holdout period would be empty. Set {param}.cutoff to a day from"
                f" {_day(first)} to {_day(last - ONE_DAY)}, or to null to choose it from the data."
            )
        end = _day(last) if holdout_end is None else holdout_end
        if _utc_day(end) <= cut:
            raise SplitError(
                f"{param}.holdout_end {end} is not after {param}.cutoff {cutoff}:"
                f" set holdout_end to a later day (the data end on {_day(last)}) or to null."
            )
        split = Split.from_dates(cutoff, end)
        chosen_by = "params" if holdout_end is not None else "params+data"
        ends = "" if holdout_end is not None else " (the last day of data)"
        sentence = (
            f"Split from params.yaml: calibration up to the cutoff {split.cutoff}, holdout"
            f" {_day(split.calibration_end)} .. {split.last_holdout_day}{ends}"
            f" ({split.holdout_days} days, {split.holdout_weeks:.1f} weeks); the data span"
            f" {_day(first)} .. {_day(last)}."
        )
        if split.holdout_end - ONE_DAY > last:
            gap = int((split.holdout_end - ONE_DAY - last) / ONE_DAY)
            sentence += (
                f" The data end {gap} days before holdout_end: holdout purchases after"
                f" {_day(last)} are missing, not zero."
            )
    in_cal = purchase_days < split.calibration_end
    in_hold = (purchase_days >= split.calibration_end) & (purchase_days < split.holdout_end)
    for name, inside, where in (
        ("calibration", in_cal, f"up to the cutoff {split.cutoff}"),
        (
            "holdout",
            in_hold,
            f"from {_day(split.calibration_end)} to {split.last_holdout_day}",
        ),
    ):
        if not inside.any():
            known = f"{_day(purchase_days.min())} .. {_day(purchase_days.max())}"
            raise SplitError(
                f"no purchase in the {name} period ({where}); purchases fall on {known}."
                f" Change {param}.cutoff / holdout_end in params.yaml (null chooses them"
                " from the data)."
            )
    return SplitChoice(split, sentence, chosen_by)
