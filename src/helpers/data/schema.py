"""Canonical event schema, the data-quality report and the shared cleaning step.

Every loader turns its source into a *raw* frame with the canonical column names
(values may still be dirty: strings, missing ids, odd timestamps) and hands it to
:func:`clean_events`, which

* parses and normalises types,
* drops rows that cannot be used, counting each by reason,
* validates the result against :data:`EVENT_SCHEMA` (pandera),

so that ``rows_in == rows_kept + sum(dropped.values())`` holds for every load.
Problems that cannot be repaired raise :class:`DataError`, whose message names the
file, the column and an example offending row.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

EVENT_TYPES: tuple[str, ...] = ("view", "cart", "purchase", "review")
EVENT_COLUMNS: tuple[str, ...] = (
    "user_id",
    "ts",
    "event_type",
    "item_id",
    "category",
    "amount",
    "quantity",
    "text",
    "rating",
)
REQUIRED_COLUMNS: tuple[str, ...] = ("user_id", "ts", "event_type")

# Drop reasons used by clean_events (loaders may add their own, e.g. "cancellation").
MISSING_USER = "missing_user"
UNPARSEABLE_TIMESTAMP = "unparseable_timestamp"
OUT_OF_RANGE_TIMESTAMP = "out_of_range_timestamp"
FUTURE_TIMESTAMP = "future_timestamp"
UNKNOWN_EVENT_TYPE = "unknown_event_type"
NON_POSITIVE_AMOUNT = "non_positive_amount"
UNPARSEABLE_AMOUNT = "unparseable_amount"
MISSING_AMOUNT = "missing_purchase_amount"
DUPLICATE = "duplicate"
# Impossible values (recorded in the report only when they drop a row).
NON_FINITE_AMOUNT = "non_finite_amount"
AMOUNT_TOO_LARGE = "amount_too_large"
NON_FINITE_QUANTITY = "non_finite_quantity"
QUANTITY_TOO_LARGE = "quantity_too_large"
RECORDED_WHEN_SEEN: frozenset[str] = frozenset(
    {NON_FINITE_AMOUNT, AMOUNT_TOO_LARGE, NON_FINITE_QUANTITY, QUANTITY_TOO_LARGE}
)
_EXAMPLE_COLUMNS: dict[str, str] = {
    OUT_OF_RANGE_TIMESTAMP: "ts",
    UNPARSEABLE_AMOUNT: "amount",
    NON_FINITE_AMOUNT: "amount",
    AMOUNT_TOO_LARGE: "amount",
    NON_FINITE_QUANTITY: "quantity",
    QUANTITY_TOO_LARGE: "quantity",
}

#: Largest absolute amount of one event (1e15): float64 keeps cents exact below about
#: 9e13 and integers below 9e15, and a billion such rows still sum to 1e24, far from
#: the float64 overflow at 1.8e308, so no per-customer total can overflow.
MAX_ABS_AMOUNT = 1e15
#: Largest absolute quantity of one event (1e12): int64 sums of a million such rows
#: stay below its 9.2e18 limit.
MAX_ABS_QUANTITY = 1e12

#: Largest share of rows whose ``amount`` may be unreadable (e.g. "1.299,00"): those rows
#: are dropped as ``unparseable_amount``; more stop the load (a wrong column or type).
MAX_UNPARSEABLE_SHARE = 0.01


class DataError(ValueError):
    """Unusable input: the message names the file, the column and an example row."""


def data_error(
    source: str, column: str, problem: str, example: pd.Series | dict | None
) -> DataError:
    """Build a :class:`DataError` with the project's message format.

    ``"<source>: column '<column>': <problem>. Example row <index>: {...}"``
    """
    if example is None:
        return DataError(f"{source}: column '{column}': {problem}.")
    if isinstance(example, pd.Series):
        label = example.name
        values = {k: _plain(v) for k, v in example.items()}
    else:
        label = example.get("__row__", "?")
        values = {k: _plain(v) for k, v in example.items() if k != "__row__"}
    return DataError(f"{source}: column '{column}': {problem}. Example row {label}: {values}")


def _plain(value: Any) -> Any:
    if isinstance(value, float | np.floating) and np.isnan(value):
        return None
    if value is pd.NaT or value is None:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass
class QualityReport:
    """Counts every input row as kept, dropped (by reason) or repaired (by reason).

    ``rows_in == rows_kept + sum(dropped.values())`` always; a repaired row is kept.
    """

    source: str
    rows_in: int = 0
    rows_kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    repaired: dict[str, int] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    def drop(self, reason: str, count: int) -> None:
        """Record ``count`` rows dropped for ``reason`` (zero counts are kept visible)."""
        self.dropped[reason] = self.dropped.get(reason, 0) + int(count)

    def repair(self, reason: str, count: int) -> None:
        """Record ``count`` rows kept after a repair described by ``reason``."""
        self.repaired[reason] = self.repaired.get(reason, 0) + int(count)

    @property
    def rows_dropped(self) -> int:
        return int(sum(self.dropped.values()))

    def check_balance(self) -> None:
        """Raise ``AssertionError`` unless rows in = rows kept + rows dropped."""
        if self.rows_in != self.rows_kept + self.rows_dropped:
            raise AssertionError(
                f"{self.source}: rows_in={self.rows_in} != rows_kept={self.rows_kept}"
                f" + rows_dropped={self.rows_dropped} ({self.dropped})"
            )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["rows_dropped"] = self.rows_dropped
        return out

    def to_frame(self) -> pd.DataFrame:
        """One row per outcome (kept / dropped: reason / repaired: reason) with counts."""
        rows = [("kept", "", self.rows_kept)]
        rows += [("dropped", reason, n) for reason, n in self.dropped.items()]
        rows += [("repaired (kept)", reason, n) for reason, n in self.repaired.items()]
        frame = pd.DataFrame(rows, columns=["outcome", "reason", "rows"])
        frame["share"] = frame["rows"] / max(self.rows_in, 1)
        return frame

    def write_json(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, default=str) + "\n")

    def __str__(self) -> str:
        lines = [f"Data-quality report for {self.source}", f"  rows in     {self.rows_in:>12,}"]
        lines.append(f"  rows kept   {self.rows_kept:>12,}")
        for reason, n in self.dropped.items():
            lines.append(f"  dropped: {reason:<28} {n:>10,}")
        for reason, n in self.repaired.items():
            lines.append(f"  repaired: {reason:<27} {n:>10,}")
        return "\n".join(lines)


EVENT_SCHEMA = pa.DataFrameSchema(
    {
        "user_id": pa.Column(str, nullable=False, checks=pa.Check.str_length(min_value=1)),
        "ts": pa.Column(pd.DatetimeTZDtype("ns", "UTC"), nullable=False),
        "event_type": pa.Column(str, checks=pa.Check.isin(EVENT_TYPES)),
        "item_id": pa.Column(str, nullable=True),
        "category": pa.Column(str, nullable=True),
        "amount": pa.Column(float, nullable=True),
        "quantity": pa.Column(pd.Int64Dtype(), nullable=True),
        "text": pa.Column(str, nullable=True),
        "rating": pa.Column(pd.Int64Dtype(), nullable=True, checks=pa.Check.in_range(1, 5)),
    },
    checks=[
        pa.Check(
            lambda df: ~((df["event_type"] == "purchase") & ~(df["amount"] >= 0)),
            error="every purchase has a non-negative amount",
        )
    ],
    strict=True,
    ordered=True,
    name="canonical events",
)


def empty_events() -> pd.DataFrame:
    """An empty frame with the canonical columns and dtypes."""
    return pd.DataFrame(
        {
            "user_id": pd.Series([], dtype=str),
            "ts": pd.Series([], dtype="datetime64[ns, UTC]"),
            "event_type": pd.Series([], dtype=str),
            "item_id": pd.Series([], dtype=str),
            "category": pd.Series([], dtype=str),
            "amount": pd.Series([], dtype=float),
            "quantity": pd.Series([], dtype="Int64"),
            "text": pd.Series([], dtype=str),
            "rating": pd.Series([], dtype="Int64"),
        }
    )


def _to_nullable_str(values: pd.Series) -> pd.Series:
    out = values.astype(str)  # pandas 3: StringDtype(na_value=nan); NaN stays missing
    out = out.str.strip()
    return out.mask(out == "")


#: The instants a ``datetime64[ns]`` column can hold (about 1677-09-21 .. 2262-04-11).
TIMESTAMP_RANGE: tuple[pd.Timestamp, pd.Timestamp] = (
    pd.Timestamp.min.tz_localize("UTC"),
    pd.Timestamp.max.tz_localize("UTC"),
)


def _parse_timestamps(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """UTC nanosecond timestamps and a mask of the values outside their range.

    Naive times are taken as UTC; unparseable values become NaT. Dates that parse but
    lie outside :data:`TIMESTAMP_RANGE` (typos such as year 2999 or 1500) also become
    NaT and are flagged in the mask, instead of raising ``OutOfBoundsDatetime``.
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        parsed = values.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_any_dtype(values):
        parsed = values.dt.tz_localize("UTC")
    else:
        parsed = pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
    low, high = TIMESTAMP_RANGE
    outside = parsed.notna() & ((parsed < low) | (parsed > high))
    parsed = parsed.mask(outside).astype("datetime64[ns, UTC]")
    return parsed, outside.fillna(False).astype(bool)


def _parse_numeric(
    raw: pd.DataFrame, column: str, source: str, max_bad_share: float = 0.0
) -> tuple[pd.Series, pd.Series]:
    """Floats of ``raw[column]`` and the mask of non-empty values that are not numbers.

    Up to ``max_bad_share`` of the rows may be non-numeric (they become NaN and are
    flagged in the mask, for the caller to drop and count); more raise a
    :class:`DataError` naming the column and the first such row (a wrong column or type).
    """
    values = raw[column]
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.astype(float), pd.Series(False, index=raw.index)
    text = values.astype(str).str.strip()
    text = text.mask(text == "")
    numbers = pd.to_numeric(text, errors="coerce")
    bad = numbers.isna() & text.notna()
    n_bad = int(bad.sum())
    if n_bad > max_bad_share * len(raw):
        problem = f"non-numeric values (wrong type) in {n_bad:,} of {len(raw):,} rows"
        if max_bad_share:
            problem += f" (more than {max_bad_share:.0%}: a wrong column or type?)"
        raise data_error(source, column, problem, raw.loc[bad].iloc[0])
    return numbers.astype(float), bad


def _nothing_usable(
    source: str,
    report: QualityReport,
    has_amount: bool,
    unknown_labels: pd.Series,
    as_of: pd.Timestamp,
) -> str:
    """Message for a load that kept no row: drop counts by reason, then how to fix it."""
    counts = ", ".join(f"{reason}: {n:,}" for reason, n in report.dropped.items() if n)
    message = (
        f"{source}: no usable rows remain after cleaning: {report.rows_in:,} rows in,"
        f" all dropped ({counts})."
    )
    fixes: list[str] = []
    if report.dropped.get(MISSING_AMOUNT):
        if has_amount:
            fixes.append(
                "every purchase needs an amount and the 'amount' column is empty: map `amount`"
                " to the column holding the purchase value (e.g. `--mapping amount=<column>`,"
                " or `mapping: {amount: <column>}` in params.yaml)"
            )
        else:
            fixes.append(
                "every purchase needs an amount and no column is mapped to 'amount': map it"
                " (e.g. `--mapping amount=<column>`, or `mapping: {amount: <column>}` in"
                " params.yaml)"
            )
    if report.dropped.get(UNKNOWN_EVENT_TYPE):
        shown = ", ".join(f"'{k}' ({v:,})" for k, v in unknown_labels.head(5).items())
        label = str(unknown_labels.index[0]) if len(unknown_labels) else "<label>"
        fixes.append(
            f"event labels {shown} are not one of {', '.join(EVENT_TYPES)}: pass"
            f" `--event-type-map` (e.g. `--event-type-map {label}=purchase`, or"
            f" `event_type_map: {{{label}: purchase}}` in params.yaml; map a label to `drop` to"
            " exclude it on purpose)"
        )
    if report.dropped.get(MISSING_USER):
        fixes.append("no row has a user id: map `user_id` (e.g. `--mapping user_id=<column>`)")
    if report.dropped.get(UNPARSEABLE_TIMESTAMP) or report.dropped.get(OUT_OF_RANGE_TIMESTAMP):
        fixes.append("timestamps could not be read: map `ts` (e.g. `--mapping ts=<column>`)")
    if report.dropped.get(FUTURE_TIMESTAMP):
        fixes.append(f"events lie after as_of {as_of.isoformat()}: pass a later `--as-of`")
    if report.dropped.get(NON_POSITIVE_AMOUNT):
        fixes.append("purchase amounts are zero or negative: check the column mapped to `amount`")
    if any(report.dropped.get(reason) for reason in RECORDED_WHEN_SEEN):
        fixes.append(
            "amounts or quantities are infinite or implausibly large (beyond"
            f" {MAX_ABS_AMOUNT:g} / {MAX_ABS_QUANTITY:g}): check the columns mapped to"
            " `amount` and `quantity`"
        )
    if fixes:
        message += " Fix: " + "; ".join(fixes) + "."
    return message


def _parse_quantity(raw: pd.DataFrame, source: str) -> tuple[pd.Series, dict[str, pd.Series]]:
    """Nullable integer quantities and the masks of non-finite and too large ones.

    Non-integer finite quantities stop the load (a wrong column); non-finite ones and
    those beyond :data:`MAX_ABS_QUANTITY` become missing, flagged for the caller to drop.
    """
    if "quantity" not in raw:
        return pd.Series(pd.array([pd.NA] * len(raw), dtype="Int64"), index=raw.index), {}
    quantity, _ = _parse_numeric(raw, "quantity", source)
    flags = {
        NON_FINITE_QUANTITY: np.isinf(quantity),
        QUANTITY_TOO_LARGE: np.isfinite(quantity) & (quantity.abs() > MAX_ABS_QUANTITY),
    }
    quantity = quantity.mask(flags[NON_FINITE_QUANTITY] | flags[QUANTITY_TOO_LARGE])
    fractional = quantity.notna() & (quantity != np.round(quantity))
    if fractional.any():
        raise data_error(source, "quantity", "non-integer quantities", raw.loc[fractional].iloc[0])
    return quantity.astype("Int64"), flags


def _parse_rating(raw: pd.DataFrame, source: str) -> pd.Series:
    """Nullable integer ratings; anything but 1-5 (inf included) stops the load."""
    if "rating" not in raw:
        return pd.Series(pd.array([pd.NA] * len(raw), dtype="Int64"), index=raw.index)
    rating, _ = _parse_numeric(raw, "rating", source)
    off_scale = rating.notna() & ~rating.isin([1.0, 2.0, 3.0, 4.0, 5.0])
    if off_scale.any():
        raise data_error(
            source, "rating", "ratings must be integers 1-5", raw.loc[off_scale].iloc[0]
        )
    return rating.astype("Int64")


def _parse_columns(
    raw: pd.DataFrame, source: str
) -> tuple[pd.DataFrame, pd.Series, dict[str, pd.Series]]:
    """Typed canonical columns, the out-of-range timestamp mask and the value flags.

    The flags map a drop reason (unparseable, non-finite or too large amounts and
    quantities) to the mask of its rows.
    """
    out = pd.DataFrame(index=raw.index)
    out["user_id"] = _to_nullable_str(raw["user_id"])
    out["ts"], out_of_range = _parse_timestamps(raw["ts"])
    out["event_type"] = _to_nullable_str(raw["event_type"]).str.lower()
    for column in ("item_id", "category", "text"):
        out[column] = (
            _to_nullable_str(raw[column])
            if column in raw
            else pd.Series(np.nan, index=raw.index, dtype=str)
        )
    flags = {UNPARSEABLE_AMOUNT: pd.Series(False, index=raw.index)}
    out["amount"] = np.nan
    if "amount" in raw:
        amount, flags[UNPARSEABLE_AMOUNT] = _parse_numeric(
            raw, "amount", source, MAX_UNPARSEABLE_SHARE
        )
        flags[NON_FINITE_AMOUNT] = np.isinf(amount)
        flags[AMOUNT_TOO_LARGE] = np.isfinite(amount) & (amount.abs() > MAX_ABS_AMOUNT)
        out["amount"] = amount.mask(flags[NON_FINITE_AMOUNT] | flags[AMOUNT_TOO_LARGE])
    out["quantity"], quantity_flags = _parse_quantity(raw, source)
    flags.update(quantity_flags)
    out["rating"] = _parse_rating(raw, source)
    return out, out_of_range, flags


def _apply_rules(
    out: pd.DataFrame,
    raw: pd.DataFrame,
    rules: list[tuple[str, pd.Series]],
    report: QualityReport,
) -> tuple[pd.Series, dict[str, pd.Series]]:
    """Drop rows by the first matching rule, count them; returns the keep mask.

    Reasons of :data:`RECORDED_WHEN_SEEN` enter the report only when they drop a row
    (so reports of clean data keep their shape); the others always do. Examples of
    offending values go to ``report.notes["<reason>_examples"]``.
    """
    keep = pd.Series(True, index=out.index)
    dropped: dict[str, pd.Series] = {}
    for reason, bad in rules:
        bad = bad.fillna(False).astype(bool) & keep
        if reason not in RECORDED_WHEN_SEEN or bad.any():
            report.drop(reason, int(bad.sum()))
        dropped[reason] = bad
        keep &= ~bad
    for reason, column in _EXAMPLE_COLUMNS.items():
        if reason in dropped and dropped[reason].any():
            examples = raw.loc[dropped[reason], column].head(3)
            report.notes[f"{reason}_examples"] = [str(v) for v in examples]
    return keep, dropped


def _as_of(as_of: pd.Timestamp | str | None) -> pd.Timestamp:
    """``as_of`` as a UTC instant (naive: taken as UTC); now when None."""
    now = pd.Timestamp.now(tz="UTC") if as_of is None else pd.Timestamp(as_of)
    return now.tz_localize("UTC") if now.tzinfo is None else now


def _drop_rules(
    out: pd.DataFrame,
    out_of_range: pd.Series,
    flags: dict[str, pd.Series],
    now: pd.Timestamp,
    allow_zero_amount: bool,
) -> list[tuple[str, pd.Series]]:
    """The drop rules of :func:`clean_events`, in the order they apply."""
    is_purchase = out["event_type"] == "purchase"
    non_positive = (out["amount"] < 0) | ((out["amount"] == 0) & ~allow_zero_amount)
    return [
        (MISSING_USER, out["user_id"].isna()),
        (OUT_OF_RANGE_TIMESTAMP, out_of_range),
        (UNPARSEABLE_TIMESTAMP, out["ts"].isna()),
        (FUTURE_TIMESTAMP, out["ts"] > now),
        (UNKNOWN_EVENT_TYPE, ~out["event_type"].isin(EVENT_TYPES)),
        *flags.items(),
        (MISSING_AMOUNT, is_purchase & out["amount"].isna()),
        (NON_POSITIVE_AMOUNT, is_purchase & non_positive),
    ]


def _after_rules(
    out: pd.DataFrame, report: QualityReport, drop_duplicates: bool, allow_zero_amount: bool
) -> pd.DataFrame:
    """Count kept free purchases; drop (or count) exact duplicates."""
    if allow_zero_amount:
        report.notes["zero_amount_purchases_kept"] = int(
            ((out["event_type"] == "purchase") & (out["amount"] == 0)).sum()
        )
    duplicated = out.duplicated(keep="first")
    if not drop_duplicates:
        report.notes["identical_rows_kept"] = int(duplicated.sum())
        return out
    report.drop(DUPLICATE, int(duplicated.sum()))
    return out.loc[~duplicated]


def clean_events(
    raw: pd.DataFrame,
    source: str,
    report: QualityReport | None = None,
    as_of: pd.Timestamp | str | None = None,
    drop_duplicates: bool = True,
    allow_zero_amount: bool = False,
) -> tuple[pd.DataFrame, QualityReport]:
    """Normalise a raw canonical-named frame into validated events, counting every row.

    Parameters
    ----------
    raw : DataFrame
        Columns named as in :data:`EVENT_COLUMNS`; ``user_id``, ``ts`` and
        ``event_type`` are required, the rest optional (filled with missing).
    source : str
        Name of the file or dataset, used in error messages and the report.
    report : QualityReport, optional
        A report already holding loader-specific drops (its ``rows_in`` must count
        those rows too); a new one is made when omitted.
    as_of : timestamp, optional
        Events after this instant are dropped as ``future_timestamp``. Defaults to now.
    drop_duplicates : bool
        Drop exact duplicate rows (``duplicate``). Sources without transaction ids,
        where two identical rows are two real same-day purchases (CDNOW), pass False.
    allow_zero_amount : bool
        Keep purchases of amount 0 (free items; counted in ``notes``) instead of
        dropping them as ``non_positive_amount``. Negative amounts are always dropped:
        loaders must handle returns explicitly before this step.

    Returns
    -------
    events, report
        Events sorted by (user_id, ts, event_type), index reset, validated by
        :data:`EVENT_SCHEMA`; the report satisfies ``rows_in = kept + dropped``.

    Raises
    ------
    DataError
        Missing required column, non-numeric or non-integer ``quantity``, a rating
        other than 1-5, non-numeric ``amount`` in more than
        :data:`MAX_UNPARSEABLE_SHARE` of the rows, or no usable row (the message then
        gives the drop counts by reason and how to fix the input).

    Notes
    -----
    Rows are dropped by the first rule that matches: ``missing_user``,
    ``out_of_range_timestamp`` (parses, but outside :data:`TIMESTAMP_RANGE`, e.g. year
    2999), ``unparseable_timestamp``, ``future_timestamp``, ``unknown_event_type``,
    ``unparseable_amount``, ``non_finite_amount`` (``inf``), ``amount_too_large``
    (beyond :data:`MAX_ABS_AMOUNT`, where sums lose cents and can overflow),
    ``non_finite_quantity``, ``quantity_too_large`` (beyond :data:`MAX_ABS_QUANTITY`),
    ``missing_purchase_amount``, ``non_positive_amount``, then ``duplicate``. The four
    value reasons appear in the report only when they drop a row. Examples of
    out-of-range timestamps and of unreadable, non-finite or too large values go to
    ``report.notes``.
    """
    if report is None:
        report = QualityReport(source=source, rows_in=len(raw))
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        example = raw.iloc[0] if len(raw) else None
        raise data_error(source, missing[0], "required column is missing", example)
    raw = raw.reset_index(drop=True)
    out, out_of_range, flags = _parse_columns(raw, source)
    now = _as_of(as_of)
    rules = _drop_rules(out, out_of_range, flags, now, allow_zero_amount)
    keep, dropped = _apply_rules(out, raw, rules, report)
    unknown_labels = out.loc[dropped[UNKNOWN_EVENT_TYPE], "event_type"].value_counts()
    out = _after_rules(out.loc[keep], report, drop_duplicates, allow_zero_amount)
    if out.empty:
        raise DataError(_nothing_usable(source, report, "amount" in raw, unknown_labels, now))
    out = out.sort_values(["user_id", "ts", "event_type"], kind="stable").reset_index(drop=True)
    out = out[list(EVENT_COLUMNS)]
    report.rows_kept = len(out)
    report.check_balance()
    return EVENT_SCHEMA.validate(out), report
