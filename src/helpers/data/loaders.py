"""Loaders that turn source files into canonical events (see :mod:`helpers.data.schema`).

Every loader reads its source, applies the source-specific rules (each dropped row
counted by reason in a :class:`~helpers.data.schema.QualityReport`), builds a raw frame with
the canonical column names and hands it to :func:`~helpers.data.schema.clean_events`, so
``rows_in == rows_kept + sum(dropped.values())`` holds for every load.

Public functions
----------------
cdnow_path, load_cdnow
    The built-in CDNOW master file (purchases only).
load_online_retail
    UCI Online Retail and Online Retail II (Chen, Sain & Guo 2012), CSV, XLSX or
    Parquet; without a path, the built-in copy of Online Retail.
load_event_file
    Any CSV/Parquet event or transaction file with a column mapping.
pseudonymise
    Salted SHA-256 pseudonyms for personal ids.

Errors that cannot be repaired raise :class:`~helpers.data.schema.DataError`. Column-level
messages use :func:`~helpers.data.schema.data_error`'s format
``"<file>: column '<col>': <problem>. Example row N: {...}"`` where ``N`` is the
0-based data row (header excluded); file-level problems (missing, unreadable,
unsupported or empty file, or one in another format than its name says) read
``"<file>: <problem>."``.

Every file load also runs the guards of :mod:`helpers.data.guards` (duplicate or
ambiguous columns, the unit of numeric timestamps, dates that cannot be meant, float-like
ids, the file's SHA-256 in ``notes["input_sha256"]``) and of :mod:`helpers.data.currency`
(one currency recorded, several refused or converted); ``docs/your_data.md`` is the
user's guide to all of them.

All row-level work is vectorised; the only Python loop runs over *distinct* ids when
hashing them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from helpers.data import currency as money
from helpers.data import guards
from helpers.data.schema import (
    DUPLICATE,
    EVENT_TYPES,
    DataError,
    QualityReport,
    _parse_numeric,
    clean_events,
    data_error,
)

__all__ = [
    "BUILTIN_CDNOW",
    "BUILTIN_ONLINE_RETAIL",
    "CDNOW_AS_OF",
    "NON_PRODUCT_STOCK_CODES",
    "cdnow_path",
    "load_cdnow",
    "load_event_file",
    "load_online_retail",
    "pseudonymise",
]

#: The CDNOW panel ends 1998-06-30; its natural "as of" is the next midnight (UTC).
CDNOW_AS_OF = pd.Timestamp("1998-07-01", tz="UTC")

#: The UCI Online Retail file shipped with the package (541,909 invoice lines, original
#: layout, CC0; built by ``tools/build_online_retail.py`` from the R package
#: ``onlineretail`` by Allan Quadros).
BUILTIN_ONLINE_RETAIL = Path(__file__).resolve().parent / "builtin" / "online_retail.parquet"
#: The CDNOW master file of Fader & Hardie (brucehardie.com/datasets), copied byte for byte
#: from ``lifetimes`` 0.11.3 (``lifetimes/datasets/CDNOW_master.txt``, an MIT-licensed
#: package); sha256 eff6889ed364c5199d6eacbbeb7a6d559971df4406ac876f322c373f00a072ef.
BUILTIN_CDNOW = Path(__file__).resolve().parent / "builtin" / "CDNOW_master.txt"

#: Stock codes of Online Retail lines that are not products (postage, manual entries,
#: discounts, carriage, samples, bad-debt adjustments, fees, tests, ...). Compared
#: case-insensitively after stripping; codes ``TEST<digits>`` and ``ADJUST<digits>``
#: are matched by pattern as well.
NON_PRODUCT_STOCK_CODES: frozenset[str] = frozenset(
    {
        "POST",  # postage
        "DOT",  # dotcom postage
        "C2",  # carriage
        "M",  # manual
        "D",  # discount
        "S",  # samples
        "B",  # adjust bad debt
        "CRUK",  # CRUK commission
        "PADS",  # pads to match all cushions (price 0.001)
        "BANK CHARGES",
        "AMAZONFEE",
        "ADJUST",
    }
)
_NON_PRODUCT_PATTERN = r"(?:TEST|ADJUST)\d*"

_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_EXCEL_SUFFIXES = (".xlsx", ".xlsm")

# Online Retail layouts: canonical role -> source column.
_RETAIL_LAYOUTS: dict[str, dict[str, str]] = {
    "online_retail": {
        "invoice": "InvoiceNo",
        "stock_code": "StockCode",
        "description": "Description",
        "quantity": "Quantity",
        "invoice_date": "InvoiceDate",
        "price": "UnitPrice",
        "customer_id": "CustomerID",
        "country": "Country",
    },
    "online_retail_ii": {
        "invoice": "Invoice",
        "stock_code": "StockCode",
        "description": "Description",
        "quantity": "Quantity",
        "invoice_date": "InvoiceDate",
        "price": "Price",
        "customer_id": "Customer ID",
        "country": "Country",
    },
}
_RETAIL_OPTIONAL = ("description", "country")

# Drop reason of load_event_file: a label mapped to "drop" (or None) in event_type_map.
EXCLUDED_EVENT_LABEL = "excluded_event_label"
DROP = "drop"
# Repair reason: amounts converted to the base currency (helpers.data.currency).
CURRENCY_CONVERTED = "currency_converted"
#: Currency of the Online Retail layouts (UCI: prices "in sterling").
RETAIL_CURRENCY = "GBP"

# Drop reasons specific to Online Retail, in the order they are applied.
CANCELLATION = "cancellation"
NEGATIVE_QUANTITY_ADJUSTMENT = "negative_quantity_adjustment"
MISSING_CUSTOMER_ID = "missing_customer_id"
NON_PRODUCT_LINE = "non_product_line"
ZERO_PRICE = "zero_price"


# --------------------------------------------------------------------------- helpers


def pseudonymise(ids: pd.Series, salt: str, length: int = 16) -> pd.Series:
    """Replace ids by salted SHA-256 pseudonyms (hex prefix), keeping missing values.

    Parameters
    ----------
    ids : Series
        Identifiers (converted to stripped strings first); missing values stay missing.
    salt : str
        Secret-ish salt; the same salt gives the same pseudonym for the same id.
    length : int
        Number of hex characters kept (16 = 64 bits, collisions negligible).

    Returns
    -------
    Series of str
        ``sha256(f"{salt}:{id}").hexdigest()[:length]``, same index as ``ids``.
    """
    text = ids.astype(str).str.strip()
    codes, uniques = pd.factorize(text)  # hash each distinct id once
    hashed = np.array(
        [hashlib.sha256(f"{salt}:{u}".encode()).hexdigest()[:length] for u in uniques],
        dtype=object,
    )
    out = np.full(len(text), None, dtype=object)
    valid = codes >= 0
    out[valid] = hashed[codes[valid]]
    return pd.Series(out, index=ids.index, dtype=str)


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in _CSV_SUFFIXES + _PARQUET_SUFFIXES + _EXCEL_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower() or "(none)"


def _check_file(path: str | Path, allowed: tuple[str, ...]) -> tuple[Path, str]:
    """Resolve ``path``, check it is an existing file with an allowed suffix and content.

    An uncompressed ``.csv`` must hold text and a ``.parquet`` must not hold JSON, a
    ZIP or compressed data (:func:`~helpers.data.guards.check_content`).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found.")
    if not path.is_file():
        raise DataError(f"{path}: not a regular file.")
    suffix = _suffix(path)
    if suffix not in allowed:
        raise DataError(
            f"{path}: unsupported file type '{suffix}' (expected one of {', '.join(allowed)})."
        )
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty.")
    if suffix == ".csv":
        guards.check_content(path, "text")
    elif suffix in _PARQUET_SUFFIXES:
        with path.open("rb") as handle:
            found = guards.sniff_format(handle.read(4096))
        if found not in ("Parquet", "text"):  # text: the Parquet reader says why
            guards.check_content(path, "Parquet")
    return path, suffix


def _csv_header(path: Path, encoding: str) -> list[str]:
    """The CSV's header as written (pandas renames a second ``amount`` to ``amount.1``)."""
    head = pd.read_csv(
        path, header=None, nrows=1, dtype=str, encoding=encoding, keep_default_na=False
    )
    return [str(v) for v in head.iloc[0]] if len(head) else []


def _check_separator(frame: pd.DataFrame, path: Path) -> None:
    """A one-column CSV whose header holds ';', tab or '|' has the wrong separator."""
    if len(frame.columns) != 1:
        return
    name = str(frame.columns[0])
    found = next((sep for sep in (";", "\t", "|") if sep in name), None)
    if found is not None:
        shown = "tabs" if found == "\t" else f"'{found}'"
        raise DataError(
            f"{path}: the header is one column {name[:60]!r}: the file seems to be separated"
            f" by {shown}, not by commas; save it as comma-separated CSV (or Parquet)."
        )


def _read_csv(path: Path, notes: dict[str, Any], **kwargs: Any) -> pd.DataFrame:
    """Read a CSV as strings; UTF-8 first, Latin-1 as fallback (UCI files use it).

    Duplicate column names in the header and a wrong separator stop the load.
    """
    encoding = "utf-8"
    try:
        try:
            frame = pd.read_csv(path, dtype=str, encoding=encoding, **kwargs)
        except UnicodeDecodeError:
            encoding = "latin-1"
            frame = pd.read_csv(path, dtype=str, encoding=encoding, **kwargs)
            notes["encoding"] = encoding
        header = _csv_header(path, encoding)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path}: file is empty.") from exc
    except Exception as exc:  # parser, OS and codec errors alike: name the file
        raise DataError(f"{path}: cannot read as CSV ({type(exc).__name__}: {exc}).") from exc
    guards.check_header(header, str(path))
    _check_separator(frame, path)
    return frame


def _mangled_duplicates(columns: list[str]) -> list[str]:
    """Names as pandas' Excel reader writes duplicates (``amount``, ``amount.1``), repeated."""
    names = set(columns)
    out: list[str] = []
    for column in columns:
        base, dot, number = column.rpartition(".")
        if dot and number.isdigit() and base in names:
            out += [base, base]
    return out


def _read_parquet(path: Path) -> pd.DataFrame:
    """Read a Parquet file after checking its column names for duplicates."""
    try:
        names = pq.read_schema(path).names
    except Exception as exc:
        raise DataError(f"{path}: cannot read as Parquet ({type(exc).__name__}: {exc}).") from exc
    guards.check_header(names, str(path))
    try:
        return pd.read_parquet(path)
    except Exception as exc:
        raise DataError(f"{path}: cannot read as Parquet ({type(exc).__name__}: {exc}).") from exc


def _read_excel(path: Path, notes: dict[str, Any]) -> pd.DataFrame:
    """Read and concatenate all sheets of a workbook (sheets without columns skipped)."""
    try:
        sheets = pd.read_excel(path, sheet_name=None)
    except Exception as exc:
        raise DataError(f"{path}: cannot read as XLSX ({type(exc).__name__}: {exc}).") from exc
    sheets = {name: sheet for name, sheet in sheets.items() if len(sheet.columns)}
    for sheet in sheets.values():
        guards.check_header(_mangled_duplicates([str(c) for c in sheet.columns]), str(path))
    notes["sheets"] = {str(name): len(sheet) for name, sheet in sheets.items()}
    return pd.concat(sheets.values(), ignore_index=True) if sheets else pd.DataFrame()


def _read_table(path: Path, suffix: str, notes: dict[str, Any]) -> pd.DataFrame:
    """Read CSV, Parquet or (all sheets of) XLSX into one frame; at least one data row.

    Duplicate column names stop the load (read from the header itself for CSV and
    Parquet, from pandas' ``name.1`` renaming for XLSX), also after stripping blanks.
    """
    if suffix in _CSV_SUFFIXES:
        frame = _read_csv(path, notes)
    elif suffix in _PARQUET_SUFFIXES:
        frame = _read_parquet(path)
    else:
        frame = _read_excel(path, notes)
    frame.columns = [str(c).strip() for c in frame.columns]
    guards.check_header(list(frame.columns), str(path))
    if frame.empty:
        raise DataError(f"{path}: file is empty (no data rows).")
    return frame.reset_index(drop=True)


def _require(frame: pd.DataFrame, columns: list[str], source: str) -> None:
    for column in columns:
        if column not in frame.columns:
            problem = f"required column is missing (columns: {list(frame.columns)})"
            raise data_error(source, column, problem, frame.iloc[0])


def _text_numbers(values: pd.Series) -> pd.Series | None:
    """Floats of a text column of numbers (``"1433221332117"``, ``"45292.5"``), else None."""
    text = values.astype(str).str.strip()
    text = text.mask(text == "")
    digits = text.dropna().str.fullmatch(r"-?\d+(?:\.\d*)?")
    if len(digits) and digits.all():
        return pd.to_numeric(text, errors="coerce").astype(float)
    return None


def _parse_text_ts(values: pd.Series) -> pd.Series:
    """Timestamps of date-time text; what cannot be parsed is NaT."""
    text = values.astype(str).str.strip()
    text = text.mask(text == "")
    # Microseconds, not nanoseconds: a typo such as year 2999 still parses here and
    # is counted as out of range by clean_events instead of raising.
    parsed = pd.to_datetime(text, errors="coerce", utc=True).astype("datetime64[us, UTC]")
    retry = parsed.isna() & text.notna()
    if retry.any():
        parsed[retry] = pd.to_datetime(
            text[retry], errors="coerce", utc=True, format="mixed"
        ).astype("datetime64[us, UTC]")
    return parsed


def _parse_ts(values: pd.Series, unit: str | None, notes: dict[str, Any]) -> pd.Series:
    """Parse timestamps fast; what cannot be parsed becomes NaT (counted downstream).

    Datetime columns pass through. Numbers (or all-digit strings) are read in ``unit``
    (one of :data:`~helpers.data.guards.TS_UNITS`), or, without a unit, as ``YYYYMMDD``
    dates when they are whole 8-digit values mostly within 19000101..21001231, else in
    the unit that puts most of them in 1990-2100 (:func:`~helpers.data.guards.infer_ts_unit`:
    epoch s/ms/us/ns or spreadsheet serial days); ``notes["ts_epoch_unit"]`` says which
    and ``notes["ts_unit_reason"]`` why. Strings are parsed with the format inferred from
    the first value; leftovers are retried one by one (``format="mixed"``). Ambiguous
    ``1/12/2010`` is read month-first (pandas' default, as in the UCI CSV). Naive times
    are taken as UTC.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.astype(float)
    else:
        numbers = _text_numbers(values)
        if numbers is None:
            return _parse_text_ts(values)
    present = numbers.dropna()
    if unit is None and len(present) and present.between(10000101, 99991231).all():
        # 8-digit whole numbers are YYYYMMDD dates (as epoch seconds they would all fall in
        # 1970-1973) as long as most are plausible; a typo like 29990101 is then one
        # out-of-range date rather than a reason to read the whole column as epochs.
        plausible = present.between(19000101, 21001231).mean() >= 0.5
        if plausible and (present == np.round(present)).all():
            notes["ts_format"] = "%Y%m%d"
            ints = numbers.astype("Int64").astype(str)
            return pd.to_datetime(ints, format="%Y%m%d", errors="coerce", utc=True)
    unit, reason = (unit, "given (ts_unit)") if unit else guards.infer_ts_unit(numbers)
    notes["ts_epoch_unit"], notes["ts_unit_reason"] = unit, reason
    return guards.numbers_to_timestamps(numbers, unit)


def _how_ts_read(notes: dict[str, Any]) -> str:
    """How numeric timestamps were read, for messages (empty for date-time text)."""
    if "ts_epoch_unit" in notes:
        return f"read as {guards.unit_name(notes['ts_epoch_unit'])}"
    if "ts_format" in notes:
        return f"read as {notes['ts_format']}"
    return ""


# --------------------------------------------------------------------------- CDNOW


def cdnow_path() -> Path:
    """Path of the built-in ``CDNOW_master.txt`` (:data:`BUILTIN_CDNOW`)."""
    return BUILTIN_CDNOW


def load_cdnow(
    path: str | Path | None = None, as_of: pd.Timestamp | str | None = None
) -> tuple[pd.DataFrame, QualityReport]:
    """Load the CDNOW master file (Fader & Hardie's CD retailer panel) as purchases.

    The file is whitespace separated with header
    ``customer_id date number_of_cds dollar_value``; ids are kept as zero-padded
    strings, ``YYYYMMDD`` dates become UTC midnights, every row is a purchase with
    ``amount = dollar_value`` and ``quantity = number_of_cds``.

    CDNOW has no transaction id, so its 255 exact-duplicate rows are genuine separate
    purchases by the same customer on the same day, and its 80 purchases of $0.00 are
    real (free) orders. Both are therefore *kept* (``drop_duplicates=False``,
    ``allow_zero_amount=True``) and counted in ``report.notes``; same-day transactions
    are merged later, at the summary step, as in the standard protocol, not silently
    at load time.

    Parameters
    ----------
    path : path, optional
        Defaults to :func:`cdnow_path`.
    as_of : timestamp, optional
        Events after it are dropped as future; defaults to :data:`CDNOW_AS_OF`.

    Returns
    -------
    events, report
        69,659 purchases of 23,570 customers, 1997-01-01 .. 1998-06-30, nothing dropped.
    """
    path, _ = _check_file(cdnow_path() if path is None else path, (".txt", ".csv"))
    source = str(path)
    try:
        frame = pd.read_csv(
            path, sep=r"\s+", dtype={"customer_id": str, "date": str}, encoding="ascii"
        )
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{source}: file is empty.") from exc
    except Exception as exc:
        raise DataError(
            f"{source}: cannot read as CDNOW text ({type(exc).__name__}: {exc})."
        ) from exc
    if frame.empty:
        raise DataError(f"{source}: file is empty (no data rows).")
    _require(frame, ["customer_id", "date", "number_of_cds", "dollar_value"], source)
    raw = pd.DataFrame(
        {
            "user_id": frame["customer_id"],
            "ts": pd.to_datetime(frame["date"], format="%Y%m%d", errors="coerce", utc=True),
            "event_type": "purchase",
            "amount": frame["dollar_value"],
            "quantity": frame["number_of_cds"],
        }
    )
    notes = {"input_sha256": guards.file_sha256(path), "currency": "USD"}  # dollar_value
    report = QualityReport(source=source, rows_in=len(frame), notes=notes)
    return clean_events(
        raw,
        source,
        report=report,
        as_of=CDNOW_AS_OF if as_of is None else as_of,
        drop_duplicates=False,
        allow_zero_amount=True,
    )


# --------------------------------------------------------------------------- Online Retail


def _detect_retail_layout(frame: pd.DataFrame, source: str) -> tuple[str, dict[str, str]]:
    """Pick the layout whose columns match best; name the first missing required one."""

    def missing(layout: dict[str, str]) -> list[str]:
        return [
            col
            for role, col in layout.items()
            if role not in _RETAIL_OPTIONAL and col not in frame.columns
        ]

    name = min(_RETAIL_LAYOUTS, key=lambda n: len(missing(_RETAIL_LAYOUTS[n])))
    layout = _RETAIL_LAYOUTS[name]
    absent = missing(layout)
    if absent:
        problem = (
            f"required column of the {name.replace('_', ' ').title()} layout is missing"
            f" (columns: {list(frame.columns)})"
        )
        raise data_error(source, absent[0], problem, frame.iloc[0])
    return name, layout


def _is_builtin(path: Path) -> bool:
    """Whether ``path`` is the shipped Online Retail file (here or in a copy of the study)."""
    return path.resolve() == BUILTIN_ONLINE_RETAIL or path.resolve().parts[-4:] == (
        "helpers",
        "data",
        "builtin",
        BUILTIN_ONLINE_RETAIL.name,
    )


def _retail_parts(frame: pd.DataFrame, col: dict[str, str], source: str) -> dict[str, pd.Series]:
    """Numbers, ids and flags of Online Retail lines that the drop rules and events use."""
    quantity, _ = _parse_numeric(frame, col["quantity"], source)
    price, _ = _parse_numeric(frame, col["price"], source)
    customer = frame[col["customer_id"]].astype(str).str.strip()
    customer = customer.str.replace(r"\.0+$", "", regex=True)
    stock = frame[col["stock_code"]].astype(str).str.strip()
    stock_upper = stock.str.upper()
    non_product = stock_upper.isin(NON_PRODUCT_STOCK_CODES) | stock_upper.str.fullmatch(
        _NON_PRODUCT_PATTERN
    ).fillna(False).astype(bool)
    invoice = frame[col["invoice"]].astype(str).str.strip()
    return {
        "quantity": quantity,
        "price": price,
        "value": quantity * price,
        "invoice": invoice,
        "customer": customer.mask(customer.isin(["", "nan", "None"])),
        "stock": stock,
        "non_product": non_product,
        "is_cancel": invoice.str.upper().str.startswith("C").fillna(False).astype(bool),
    }


def _retail_keep(
    frame: pd.DataFrame, parts: dict[str, pd.Series], report: QualityReport
) -> pd.Series:
    """Apply the Online Retail drop rules in order, counting each; returns the keep mask."""
    rules: list[tuple[str, pd.Series]] = [
        (CANCELLATION, parts["is_cancel"]),
        (NEGATIVE_QUANTITY_ADJUSTMENT, parts["quantity"] < 0),
        (MISSING_CUSTOMER_ID, parts["customer"].isna()),
        (NON_PRODUCT_LINE, parts["non_product"]),
        (ZERO_PRICE, parts["price"] == 0),
        (DUPLICATE, frame.duplicated(keep="first")),
    ]
    keep = pd.Series(True, index=frame.index)
    for reason, bad in rules:
        bad = bad.fillna(False).astype(bool) & keep
        report.drop(reason, int(bad.sum()))
        keep &= ~bad
    return keep


def _retail_notes(
    frame: pd.DataFrame, parts: dict[str, pd.Series], keep: pd.Series, col: dict[str, str]
) -> dict[str, Any]:
    """Cancellations (lines, invoices, value) and countries of the kept lines."""
    is_cancel, value = parts["is_cancel"], parts["value"]
    notes: dict[str, Any] = {
        "cancellation_lines": int(is_cancel.sum()),
        "cancellation_invoices": int(parts["invoice"][is_cancel].nunique()),
        "cancelled_value": round(float(value[is_cancel & np.isfinite(value)].abs().sum()), 2),
    }
    if col["country"] in frame.columns:
        notes["countries"] = int(frame.loc[keep, col["country"]].nunique())
    return notes


def _retail_currency(
    frame: pd.DataFrame,
    parts: dict[str, pd.Series],
    config: str | Mapping[str, Any] | None,
    report: QualityReport,
    notes: dict[str, Any],
) -> None:
    """Check (or convert) the currency of the line values; the layout's own is sterling."""
    column = money.currency_column(list(frame.columns))
    if config is None and column is None:
        config = RETAIL_CURRENCY  # UCI: "UnitPrice: product price per unit in sterling"
    has_amount = parts["price"].notna()
    factors = money.currency_factors(frame, column, has_amount, config, report.source, notes)
    if factors is not None:
        parts["value"] = parts["value"] * factors
        report.repair(CURRENCY_CONVERTED, int(sum(notes["currency_converted"].values())))


def _retail_raw(
    frame: pd.DataFrame,
    parts: dict[str, pd.Series],
    keep: pd.Series,
    col: dict[str, str],
    salt: str,
    notes: dict[str, Any],
) -> pd.DataFrame:
    """Canonical raw purchases of the kept lines (timestamps parsed, ids pseudonymised)."""
    kept = frame.loc[keep]
    return pd.DataFrame(
        {
            "user_id": pseudonymise(parts["customer"][keep], salt),
            "ts": _parse_ts(kept[col["invoice_date"]], None, notes),
            "event_type": "purchase",
            "item_id": parts["stock"][keep],
            "amount": parts["value"][keep],
            "quantity": parts["quantity"][keep],
            "text": (
                kept[col["description"]]
                if col["description"] in kept.columns
                else pd.Series(np.nan, index=kept.index, dtype=str)
            ),
        },
        index=kept.index,
    )


def load_online_retail(
    path: str | Path | None = None,
    as_of: pd.Timestamp | str | None = None,
    salt: str = "clv-study",
    currency: str | Mapping[str, Any] | None = None,
    allow_implausible_dates: bool = False,
) -> tuple[pd.DataFrame, QualityReport]:
    """Load UCI Online Retail / Online Retail II invoice lines as purchase events.

    The data set (Chen, Sain & Guo 2012, "Data mining for the online retail industry",
    J. Database Marketing & Customer Strategy Management 19(3)) lists invoice lines of a
    UK online gift retailer. Both layouts (:data:`_RETAIL_LAYOUTS`: Online Retail and
    Online Retail II) are detected from the columns. CSV (UTF-8 or Latin-1), XLSX (all
    sheets) and Parquet are read. Without a path (or with the path of the shipped file)
    the built-in copy is read (:data:`BUILTIN_ONLINE_RETAIL`, "online_retail.parquet
    (built-in)").

    Each kept line becomes a purchase: ``user_id`` = pseudonymised customer id
    (``17850.0`` normalised to ``17850``, then :func:`pseudonymise` with ``salt``),
    ``ts`` = InvoiceDate (local UK time, taken as UTC), ``item_id`` = StockCode,
    ``amount`` = Quantity x price, ``quantity`` = Quantity, ``text`` = Description;
    ``category`` stays empty and Country is only counted in ``notes``. Prices are in
    sterling (``notes["currency"]`` = GBP) unless a currency column or ``currency``
    says otherwise (:mod:`helpers.data.currency`); ``notes["input_sha256"]`` is the
    file's content hash.

    Rows are dropped by the first rule that matches: ``cancellation`` (invoice number
    starts with "C"; lines, invoices and value also in ``notes``),
    ``negative_quantity_adjustment`` (negative quantity on a non-C invoice: stock
    write-offs), ``missing_customer_id``, ``non_product_line`` (stock code in
    :data:`NON_PRODUCT_STOCK_CODES`: postage, fees, discounts, tests, ...), ``zero_price``,
    ``duplicate`` (exact duplicate of an earlier source line: a double entry); then
    :func:`~helpers.data.schema.clean_events` applies its own rules (unparseable or
    future timestamps, missing, negative, infinite or too large amounts).

    Parameters
    ----------
    path : path, optional
        ``.csv``, ``.xlsx`` or ``.parquet`` file; defaults to :data:`BUILTIN_ONLINE_RETAIL`.
    as_of : timestamp, optional
        Events after it are dropped as future; defaults to now.
    salt : str
        Salt of the customer-id pseudonyms.
    currency : str or dict, optional
        The file's currency (``"EUR"``) or a conversion table ``{"base": "EUR",
        "rates": {"USD": 0.92}}`` (see :mod:`helpers.data.currency`).
    allow_implausible_dates : bool
        Accept a file whose dates all fall before 1990 or after today.

    Returns
    -------
    events, report
        Canonical purchase events and the data-quality report.

    Raises
    ------
    DataError
        Missing/unreadable/empty file, duplicate column names, missing required column,
        non-numeric Quantity or price, several currencies, implausible dates.
    """
    builtin = path is None or _is_builtin(Path(path))
    allowed = _CSV_SUFFIXES + _EXCEL_SUFFIXES + _PARQUET_SUFFIXES
    path, suffix = _check_file(BUILTIN_ONLINE_RETAIL if path is None else path, allowed)
    source = f"{path.name} (built-in)" if builtin else str(path)
    notes: dict[str, Any] = {"input_sha256": guards.file_sha256(path)}
    frame = _read_table(path, suffix, notes)
    layout_name, col = _detect_retail_layout(frame, source)
    notes = {"layout": layout_name, **notes}
    report = QualityReport(source=source, rows_in=len(frame))
    parts = _retail_parts(frame, col, source)
    _retail_currency(frame, parts, currency, report, notes)
    keep = _retail_keep(frame, parts, report)
    notes.update(_retail_notes(frame, parts, keep, col))
    report.notes.update(notes)
    raw = _retail_raw(frame, parts, keep, col, salt, report.notes)
    if not allow_implausible_dates:
        how = _how_ts_read(report.notes)
        guards.check_date_range(raw["ts"], frame, source, col["invoice_date"], as_of, how)
    return clean_events(raw, source, report=report, as_of=as_of, drop_duplicates=False)


# --------------------------------------------------------------------------- generic events


def _check_event_options(source: str, default_event_type: str | None, ts_unit: str | None) -> None:
    """Stop on a ``default_event_type`` or ``ts_unit`` the loader does not know."""
    if default_event_type is not None and default_event_type not in EVENT_TYPES:
        raise data_error(
            source,
            "event_type",
            f"default_event_type {default_event_type!r} is not one of {EVENT_TYPES}",
            None,
        )
    if ts_unit is not None and ts_unit not in guards.TS_UNITS:
        raise data_error(source, "ts", f"ts_unit {ts_unit!r} is not one of {guards.TS_UNITS}", None)


def _event_columns(
    frame: pd.DataFrame, mapping: Mapping[str, str | None], default: str | None, source: str
) -> dict[str, str]:
    """Canonical column -> source column (:func:`~helpers.data.guards.resolve_columns`),
    with the required ones present."""
    columns = guards.resolve_columns(list(frame.columns), mapping, source, frame.iloc[0])
    for canonical in ["user_id", "ts"] + ([] if default else ["event_type"]):
        if canonical not in columns:
            problem = "required column is missing (map it with mapping=)"
            if canonical == "event_type":
                problem += " or pass default_event_type="
            raise data_error(
                source, canonical, f"{problem} (columns: {list(frame.columns)})", frame.iloc[0]
            )
    return columns


def _event_ids(raw: pd.DataFrame, notes: dict[str, Any], normalise: bool, salt: str | None) -> None:
    """Whole-number float ids to integers, float-like text ids noted (or normalised),
    then pseudonyms when ``salt`` is given; edits ``raw`` in place."""
    if pd.api.types.is_float_dtype(raw["user_id"]):  # 17850.0 -> "17850"
        ids = raw["user_id"]
        if (ids.dropna() == np.round(ids.dropna())).all():
            raw["user_id"] = ids.astype("Int64")
    for column in ("user_id", "item_id"):
        if column in raw:
            raw[column] = guards.float_like_ids(raw[column], column, notes, normalise)
    if salt is not None:
        raw["user_id"] = pseudonymise(raw["user_id"], salt)


def _currency_source(
    frame: pd.DataFrame, columns: dict[str, str], mapping: Mapping[str, str | None]
) -> str | None:
    """The currency column: mapped, else found by name; none when mapped to null."""
    if "currency" in mapping and mapping["currency"] is None:
        return None
    return money.currency_column(list(frame.columns), columns.get("currency"))


def _event_currency(
    raw: pd.DataFrame,
    frame: pd.DataFrame,
    column: str | None,
    config: str | Mapping[str, Any] | None,
    report: QualityReport,
    notes: dict[str, Any],
) -> None:
    """Check the currency column (one currency) or convert amounts to the base one."""
    if "amount" not in raw:  # nothing to sum: only a declared currency is recorded
        no_amount = pd.Series(False, index=frame.index)
        money.currency_factors(frame, None, no_amount, config, report.source, notes)
        return
    amount = raw["amount"]
    numbers = amount if pd.api.types.is_numeric_dtype(amount) else _text_numbers_loose(amount)
    factors = money.currency_factors(frame, column, numbers.notna(), config, report.source, notes)
    if factors is None:
        return
    converted = numbers * factors
    raw["amount"] = (
        converted if amount is numbers else amount.astype(object).mask(numbers.notna(), converted)
    )
    report.repair(CURRENCY_CONVERTED, int(sum(notes["currency_converted"].values())))


def _text_numbers_loose(values: pd.Series) -> pd.Series:
    """Floats of the values that read as numbers; NaN elsewhere (blank or unreadable)."""
    return pd.to_numeric(values.astype(str).str.strip(), errors="coerce").astype(float)


def _event_labels(
    raw: pd.DataFrame,
    report: QualityReport,
    notes: dict[str, Any],
    event_type_map: Mapping[str, str] | None,
    default_event_type: str | None,
) -> pd.DataFrame:
    """Event types from the labels: defaulted, renamed or excluded, each counted.

    A label mapped to ``None`` or ``"drop"`` is excluded (``excluded_event_label``,
    counted by label in ``notes``); labels still unknown afterwards are listed in
    ``notes["unknown_event_labels"]`` (``clean_events`` drops them).
    """
    if "event_type" not in raw:
        raw["event_type"] = default_event_type
        return raw
    labels = raw["event_type"].astype(str).str.strip().str.lower()
    labels = labels.mask(labels == "")
    if default_event_type is not None:
        blank = labels.isna()
        report.repair("event_type_defaulted", int(blank.sum()))
        labels = labels.fillna(default_event_type)
    if event_type_map:
        lowered = {str(k).strip().lower(): v for k, v in event_type_map.items()}
        dropped = {k for k, v in lowered.items() if v is None or str(v).lower() == DROP}
        excluded = labels.isin(list(dropped))
        counts = labels[excluded].value_counts()
        notes["excluded_event_labels"] = {str(k): int(v) for k, v in counts.items()}
        report.drop(EXCLUDED_EVENT_LABEL, int(excluded.sum()))
        renames = {k: str(v).strip() for k, v in lowered.items() if k not in dropped}
        renamed = labels.isin(list(renames))
        counts = labels[renamed].value_counts()
        notes["event_types_renamed"] = {str(k): int(v) for k, v in counts.items()}
        labels = labels.mask(renamed, labels.map(renames))
        raw, labels = raw.loc[~excluded], labels[~excluded]
    unknown_labels = labels[labels.notna() & ~labels.isin(EVENT_TYPES)]
    if len(unknown_labels):
        top = unknown_labels.value_counts().head(10)
        notes["unknown_event_labels"] = {str(k): int(v) for k, v in top.items()}
    raw["event_type"] = labels
    return raw


def load_event_file(
    path: str | Path,
    mapping: Mapping[str, str | None] | None = None,
    as_of: pd.Timestamp | str | None = None,
    event_type_map: Mapping[str, str] | None = None,
    default_event_type: str | None = None,
    ts_unit: str | None = None,
    salt: str | None = None,
    currency: str | Mapping[str, Any] | None = None,
    normalise_ids: bool = False,
    allow_implausible_dates: bool = False,
) -> tuple[pd.DataFrame, QualityReport]:
    """Load any CSV or Parquet event (or transaction) file into canonical events.

    Parameters
    ----------
    path : path
        ``.csv`` (optionally compressed, read as text so ids keep leading zeros) or
        ``.parquet``. Its SHA-256 goes to ``notes["input_sha256"]``.
    mapping : dict, optional
        Canonical column -> source column, e.g. ``{"user_id": "customer", "ts":
        "order_date", "amount": "total"}``, plus optionally ``currency``. Canonical
        columns not mapped are read from a source column of the same name when there is
        one (``None`` leaves one out); other source columns are ignored. Duplicate column
        names and ambiguous mappings stop the load (:mod:`helpers.data.guards`).
    as_of : timestamp, optional
        Events after it are dropped as future; defaults to now.
    event_type_map : dict, optional
        Renames source event labels (case-insensitive), e.g. ``{"addtocart": "cart",
        "transaction": "purchase"}``; a label mapped to ``None`` or ``"drop"`` is
        excluded on purpose, counted as ``excluded_event_label`` (see ``_event_labels``).
    default_event_type : str, optional
        Event type of every row when the file has no event column (e.g. ``"purchase"``
        for a pure transaction file), and of rows whose event label is blank
        (counted as repaired).
    ts_unit : {"s", "ms", "us", "ns", "serial_days"}, optional
        Unit of numeric timestamps; inferred from their range when omitted.
    salt : str, optional
        When given, user ids are replaced by :func:`pseudonymise` pseudonyms.
    currency : str or dict, optional
        The file's currency, or ``{"base": "EUR", "rates": {"USD": 0.92}}`` to convert a
        currency column's amounts (:mod:`helpers.data.currency`).
    normalise_ids : bool
        Read ids written as floats of integers (``"1.0"``) as integers (``"1"``); they
        are noted either way.
    allow_implausible_dates : bool
        Accept a file whose dates all fall before 1990 or after today.

    Returns
    -------
    events, report
        Canonical events and the data-quality report.

    Raises
    ------
    DataError
        Missing/unreadable/unsupported/empty file or one in another format, duplicate or
        ambiguous columns, mapped or required column missing, non-numeric amount or
        quantity, several currencies, dates that cannot be meant.
    """
    path, suffix = _check_file(path, _CSV_SUFFIXES + _PARQUET_SUFFIXES)
    source = str(path)
    _check_event_options(source, default_event_type, ts_unit)
    notes: dict[str, Any] = {"input_sha256": guards.file_sha256(path)}
    frame = _read_table(path, suffix, notes)
    columns = _event_columns(frame, mapping or {}, default_event_type, source)
    raw = pd.DataFrame({c: frame[s] for c, s in columns.items() if c != "currency"})
    report = QualityReport(source=source, rows_in=len(frame))
    _event_ids(raw, notes, normalise_ids, salt)
    raw["ts"] = _parse_ts(raw["ts"], ts_unit, notes)
    if not allow_implausible_dates:
        guards.check_date_range(raw["ts"], frame, source, columns["ts"], as_of, _how_ts_read(notes))
    column = _currency_source(frame, columns, mapping or {})
    _event_currency(raw, frame, column, currency, report, notes)
    raw = _event_labels(raw, report, notes, event_type_map, default_event_type)
    report.notes.update(notes)
    return clean_events(raw, source, report=report, as_of=as_of)
