"""Guards of the loaders against input that would otherwise pass silently.

Each guard either stops the load with a :class:`~helpers.data.schema.DataError` (the
message names the file, the column and, where there is one, an example row) or records
what it found in the data-quality report's ``notes``. Documented for users in
``docs/your_data.md``.

Public functions
----------------
file_sha256
    Content hash of the input file (recorded as ``notes["input_sha256"]``).
sniff_format
    What a file holds, from its first bytes (CSV text, JSON, Parquet, ZIP/XLSX, gzip).
check_header
    Duplicate column names (compared after stripping blanks) are an error.
resolve_columns
    Canonical column -> source column of an event file; ambiguous mappings are an error.
infer_ts_unit, numbers_to_timestamps
    The unit of numeric timestamps (epoch s/ms/us/ns or spreadsheet serial days), chosen
    from the values' plausible range.
check_date_range
    Refuse a file whose dates all fall before 1990 or after today.
float_like_ids
    Note (and optionally normalise) ids written as floats of integers (``1.0``).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.data.schema import EVENT_COLUMNS, DataError, data_error

__all__ = [
    "EXTRA_MAPPED_COLUMNS",
    "PLAUSIBLE_START",
    "SERIAL_DAYS",
    "TS_UNITS",
    "check_content",
    "check_date_range",
    "check_header",
    "file_sha256",
    "float_like_ids",
    "infer_ts_unit",
    "numbers_to_timestamps",
    "resolve_columns",
    "sniff_format",
    "unit_name",
]

#: Dates before this are implausible for a shop's event log (unless a param allows them).
PLAUSIBLE_START = pd.Timestamp("1990-01-01", tz="UTC")
#: End of the window used to *infer* a numeric timestamp's unit (typos after today still
#: pick the right unit; they are dropped later as future or out-of-range timestamps).
_INFERENCE_END = pd.Timestamp("2100-01-01", tz="UTC")
#: Spreadsheet serial days (Excel, LibreOffice, Google Sheets): days since 1899-12-30.
SERIAL_DAYS = "serial_days"
_SERIAL_ORIGIN = pd.Timestamp("1899-12-30")
TS_UNITS: tuple[str, ...] = ("s", "ms", "us", "ns", SERIAL_DAYS)
_UNIT_NAMES = {
    "s": "epoch seconds",
    "ms": "epoch milliseconds",
    "us": "epoch microseconds",
    "ns": "epoch nanoseconds",
    SERIAL_DAYS: "spreadsheet serial days",
}
_EPOCH_FACTORS = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}

#: Source columns an event-file mapping may name besides the canonical ones.
EXTRA_MAPPED_COLUMNS: tuple[str, ...] = ("currency",)

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PAR1", "Parquet"),
    (b"PK\x03\x04", "a ZIP archive (an XLSX workbook?)"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"BZh", "bzip2-compressed data"),
    (b"\xfd7zXZ", "xz-compressed data"),
)


# --------------------------------------------------------------------------- files


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of the file's bytes (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sniff_format(head: bytes) -> str:
    """What the first bytes of a file look like: a format name, ``"JSON"`` or ``"text"``."""
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:1] in (b"{", b"["):
        return "JSON"
    return "text"


def check_content(path: Path, expected: str) -> None:
    """Stop when the file's bytes are not the ``expected`` kind (``"text"`` or ``"Parquet"``).

    A JSON-lines file named ``.csv`` or a CSV named ``.parquet`` then gets that reason
    instead of a parser's error (or "file is empty").
    """
    with path.open("rb") as handle:
        head = handle.read(4096)
    found = sniff_format(head)
    if found == expected:
        return
    first = head.splitlines()[0][:60].decode("utf-8", "replace") if head.strip() else ""
    fixes = {
        "JSON": "convert it to CSV or Parquet, e.g. pandas.read_json(path, lines=True)"
        ".to_parquet('events.parquet')",
        "Parquet": "name it .parquet",
        "text": "name it .csv if it is comma-separated text",
    }
    fix = fixes.get(found, "save it as CSV or Parquet and name it accordingly")
    wanted = "CSV text" if expected == "text" else expected
    raise DataError(
        f"{path}: the file is named {path.suffix or '(no suffix)'} but holds {found}, not"
        f" {wanted} (it starts with {first!r}): {fix}."
    )


# --------------------------------------------------------------------------- columns


def check_header(names: list[str], source: str) -> None:
    """Stop on duplicate column names (pandas would rename the copies to ``amount.1``).

    Names are compared after stripping blanks; unnamed columns are ignored.
    """
    stripped = [str(n).strip() for n in names]
    counts = Counter(n for n in stripped if n)
    duplicated = [n for n, k in counts.items() if k > 1]
    if duplicated:
        shown = ", ".join(f"'{n}' ({counts[n]} times)" for n in duplicated)
        raise data_error(
            source,
            duplicated[0],
            f"ambiguous header: column names appear more than once: {shown} (columns:"
            f" {stripped}); rename or remove the copies so that every column has one name",
            None,
        )


def _check_mapping_keys(mapping: Mapping[str, str | None], source: str) -> None:
    allowed = (*EVENT_COLUMNS, *EXTRA_MAPPED_COLUMNS)
    unknown = [c for c in mapping if c not in allowed]
    if unknown:
        problem = f"mapping names no canonical column (use {allowed})"
        raise data_error(source, unknown[0], problem, None)


def resolve_columns(
    columns: list[str], mapping: Mapping[str, str | None], source: str, example: pd.Series
) -> dict[str, str]:
    """Canonical (or extra) column -> source column, refusing ambiguous mappings.

    Canonical columns not in ``mapping`` are read from a source column of the same name
    when there is one; a canonical column mapped to ``None`` is not read at all.

    Raises
    ------
    DataError
        A mapping key that is no canonical column, a mapped source column that does
        not exist, or one source column read by two canonical columns (explicitly, or
        because a column mapped to one canonical name carries another's name).
    """
    _check_mapping_keys(mapping, source)
    for canonical, column in mapping.items():
        if column is not None and column not in columns:
            problem = f"column mapped to '{canonical}' is missing (columns: {list(columns)})"
            raise data_error(source, column, problem, example)
    wanted = {c: mapping.get(c, c) for c in (*EVENT_COLUMNS, *EXTRA_MAPPED_COLUMNS)}
    chosen = {c: s for c, s in wanted.items() if s is not None and s in columns}
    readers = pd.Series(list(chosen), index=list(chosen.values()), dtype=object)
    shared = readers[readers.index.duplicated(keep=False)]
    if len(shared):
        column = str(shared.index[0])
        names = " and ".join(f"'{c}'" for c in shared[shared.index == column])
        raise data_error(
            source,
            column,
            f"ambiguous mapping: canonical columns {names} would both read this column"
            f" (mapping: {dict(mapping)}); map each canonical column to a column of its own,"
            " or map one of them to null to leave it out",
            None,
        )
    return chosen


# --------------------------------------------------------------------------- timestamps


def _plausible_numbers(unit: str) -> tuple[float, float]:
    """The numbers that, read in ``unit``, fall between 1990 and 2100."""
    if unit == SERIAL_DAYS:
        day = pd.Timedelta(days=1)
        start, end = (t.tz_localize(None) for t in (PLAUSIBLE_START, _INFERENCE_END))
        return (start - _SERIAL_ORIGIN) / day, (end - _SERIAL_ORIGIN) / day
    factor = _EPOCH_FACTORS[unit]
    return PLAUSIBLE_START.timestamp() * factor, _INFERENCE_END.timestamp() * factor


def _magnitude_unit(top: float) -> str:
    """Epoch unit from magnitude alone: < 1e11 s, < 1e14 ms, < 1e17 us, else ns."""
    for unit, bound in (("s", 1e11), ("ms", 1e14), ("us", 1e17)):
        if top < bound:
            return unit
    return "ns"


def infer_ts_unit(numbers: pd.Series) -> tuple[str, str]:
    """Unit of numeric timestamps and a sentence saying why it was chosen.

    Each unit of :data:`TS_UNITS` maps a disjoint band of numbers to 1990-2100; the unit
    whose band holds most values wins (45292 is 2024-01-01 as serial days, 1.7e9 a date
    of 2023 as epoch seconds). When no value falls in any band, the unit follows the
    magnitude (as before) and :func:`check_date_range` will usually refuse the dates.
    """
    values = numbers.to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return "s", "no finite numeric timestamps: read as epoch seconds"
    shares = {}
    for unit in TS_UNITS:
        low, high = _plausible_numbers(unit)
        shares[unit] = float(((values >= low) & (values < high)).mean())
    best = max(shares, key=lambda u: shares[u])
    if shares[best] > 0:
        return best, (
            f"inferred from the range: as {_UNIT_NAMES[best]}, {shares[best]:.0%} of the"
            " values fall in 1990-2100"
        )
    unit = _magnitude_unit(float(np.max(np.abs(values))))
    return unit, (f"no unit puts any value in 1990-2100; read as {_UNIT_NAMES[unit]} by magnitude")


def numbers_to_timestamps(numbers: pd.Series, unit: str) -> pd.Series:
    """UTC timestamps of numbers in ``unit`` (one of :data:`TS_UNITS`); unreadable: NaT."""
    if unit == SERIAL_DAYS:
        return pd.to_datetime(numbers, unit="D", origin=_SERIAL_ORIGIN, errors="coerce", utc=True)
    return pd.to_datetime(numbers, unit=unit, errors="coerce", utc=True)


def unit_name(unit: str) -> str:
    """Words for a unit of :data:`TS_UNITS` (``"ms"`` -> ``"epoch milliseconds"``)."""
    return _UNIT_NAMES.get(unit, unit)


def check_date_range(
    ts: pd.Series,
    frame: pd.DataFrame,
    source: str,
    column: str,
    as_of: pd.Timestamp | str | None,
    how_read: str = "",
) -> None:
    """Stop when every parsed date lies before 1990 or after today (``as_of``).

    Parameters
    ----------
    ts : Series
        Parsed timestamps (NaT where unreadable), same index as ``frame``.
    frame : DataFrame
        The source rows (an offending one is quoted).
    source, column : str
        File and source column named in the message.
    as_of : timestamp, optional
        "Today"; defaults to now.
    how_read : str
        How numeric values were read (e.g. ``"read as epoch seconds"``), for the message.
    """
    present = ts.dropna()
    if present.empty:
        return
    if getattr(present.dt, "tz", None) is None:
        present = present.dt.tz_localize("UTC")
    today = pd.Timestamp.now(tz="UTC") if as_of is None else pd.Timestamp(as_of)
    today = today.tz_localize("UTC") if today.tzinfo is None else today
    if ((present >= PLAUSIBLE_START) & (present <= today)).any():
        return
    found = f"{present.min():%Y-%m-%d} .. {present.max():%Y-%m-%d}"
    read = f", {how_read}" if how_read else ""
    problem = (
        f"every date falls before {PLAUSIBLE_START:%Y-%m-%d} or after {today:%Y-%m-%d}"
        f" (found {found}{read}); fix: map `ts` to the right column, give the unit of"
        f" numeric timestamps (ts_unit: {', '.join(TS_UNITS)}), or, if these dates are"
        " right, set allow_implausible_dates: true"
    )
    raise data_error(source, column, problem, frame.loc[present.index[0]])


# --------------------------------------------------------------------------- ids


def float_like_ids(
    values: pd.Series, column: str, notes: dict, normalise: bool = False
) -> pd.Series:
    """Note ids written as floats of integers (``"1.0"``); strip ``.0`` when ``normalise``.

    The note ``<column>_float_like`` gives the rows, an example, and how many of these
    ids also appear without ``.0`` (customers that would be split in two).
    """
    if pd.api.types.is_numeric_dtype(values):
        return values
    text = values.astype(str).str.strip()
    like = text.str.fullmatch(r"-?\d+\.0+").fillna(False).astype(bool)
    if not like.any():
        return values
    stripped = text.str.replace(r"\.0+$", "", regex=True)
    plain = pd.Index(text[~like].dropna().unique())
    split_ids = stripped[like].drop_duplicates().isin(plain)
    notes[f"{column}_float_like"] = {
        "rows": int(like.sum()),
        "example": str(text[like].iloc[0]),
        "ids_also_written_without_.0": int(split_ids.sum()),
        "normalised": bool(normalise),
    }
    if not normalise:
        notes[f"{column}_float_like"]["fix"] = (
            "set normalise_ids: true to read them as integers ('1.0' -> '1')"
        )
    return values.mask(like, stripped) if normalise else values
