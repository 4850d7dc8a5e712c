"""Loaders that turn source files into canonical events (see :mod:`helpers.data.schema`).

Every loader reads its source, applies the source-specific rules (each dropped row
counted by reason in a :class:`~helpers.data.schema.QualityReport`), builds a raw frame with
the canonical column names and hands it to :func:`~helpers.data.schema.clean_events`, so
``rows_in == rows_kept + sum(dropped.values())`` holds for every load.

Public functions
----------------
cdnow_path, load_cdnow
    The CDNOW master file shipped with ``lifetimes`` (purchases only).
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
unsupported or empty file) read ``"<file>: <problem>."``.

All row-level work is vectorised; the only Python loop runs over *distinct* ids when
hashing them.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers.data.schema import (
    DUPLICATE,
    EVENT_COLUMNS,
    EVENT_TYPES,
    DataError,
    QualityReport,
    _parse_numeric,
    clean_events,
    data_error,
)

__all__ = [
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
    """Resolve ``path``, check it is an existing file with an allowed suffix."""
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
    return path, suffix


def _read_csv(path: Path, notes: dict[str, Any], **kwargs: Any) -> pd.DataFrame:
    """Read a CSV as strings; UTF-8 first, Latin-1 as fallback (UCI files use it)."""
    try:
        try:
            frame = pd.read_csv(path, dtype=str, encoding="utf-8", **kwargs)
        except UnicodeDecodeError:
            frame = pd.read_csv(path, dtype=str, encoding="latin-1", **kwargs)
            notes["encoding"] = "latin-1"
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path}: file is empty.") from exc
    except Exception as exc:  # parser, OS and codec errors alike: name the file
        raise DataError(f"{path}: cannot read as CSV ({type(exc).__name__}: {exc}).") from exc
    return frame


def _read_table(path: Path, suffix: str, notes: dict[str, Any]) -> pd.DataFrame:
    """Read CSV, Parquet or (all sheets of) XLSX into one frame; at least one data row."""
    if suffix in _CSV_SUFFIXES:
        frame = _read_csv(path, notes)
    elif suffix in _PARQUET_SUFFIXES:
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:
            raise DataError(
                f"{path}: cannot read as Parquet ({type(exc).__name__}: {exc})."
            ) from exc
    else:
        try:
            sheets = pd.read_excel(path, sheet_name=None)
        except Exception as exc:
            raise DataError(f"{path}: cannot read as XLSX ({type(exc).__name__}: {exc}).") from exc
        sheets = {name: sheet for name, sheet in sheets.items() if len(sheet.columns)}
        notes["sheets"] = {str(name): len(sheet) for name, sheet in sheets.items()}
        frame = pd.concat(sheets.values(), ignore_index=True) if sheets else pd.DataFrame()
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise DataError(f"{path}: file is empty (no data rows).")
    return frame.reset_index(drop=True)


def _require(frame: pd.DataFrame, columns: list[str], source: str) -> None:
    for column in columns:
        if column not in frame.columns:
            problem = f"required column is missing (columns: {list(frame.columns)})"
            raise data_error(source, column, problem, frame.iloc[0])


def _infer_epoch_unit(values: pd.Series) -> str:
    """Epoch unit from magnitude: < 1e11 s, < 1e14 ms, < 1e17 us, else ns."""
    top = float(np.nanmax(np.abs(values.to_numpy(dtype=float)))) if values.notna().any() else 0
    if top < 1e11:
        return "s"
    if top < 1e14:
        return "ms"
    if top < 1e17:
        return "us"
    return "ns"


def _parse_ts(values: pd.Series, unit: str | None, notes: dict[str, Any]) -> pd.Series:
    """Parse timestamps fast; what cannot be parsed becomes NaT (counted downstream).

    Datetime columns pass through. Numbers (or all-digit strings) are epoch times in
    ``unit`` (inferred from magnitude when None), except whole 8-digit values without a
    unit, mostly within 19000101..21001231, which are ``YYYYMMDD`` dates. Strings are
    parsed with the format inferred from the first value; leftovers are retried one by
    one (``format="mixed"``). Ambiguous ``1/12/2010`` is read month-first (pandas' default,
    as in the UCI CSV). Naive times are taken as UTC.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.astype(float)
    else:
        text = values.astype(str).str.strip()
        text = text.mask(text == "")
        digits = text.dropna().str.fullmatch(r"-?\d+(?:\.\d*)?")
        if len(digits) and digits.all():
            numbers = pd.to_numeric(text, errors="coerce").astype(float)
        else:
            # Microseconds, not nanoseconds: a typo such as year 2999 still parses here and
            # is counted as out of range by clean_events instead of raising.
            parsed = pd.to_datetime(text, errors="coerce", utc=True).astype("datetime64[us, UTC]")
            retry = parsed.isna() & text.notna()
            if retry.any():
                parsed[retry] = pd.to_datetime(
                    text[retry], errors="coerce", utc=True, format="mixed"
                ).astype("datetime64[us, UTC]")
            return parsed
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
    unit = unit or _infer_epoch_unit(numbers)
    notes["ts_epoch_unit"] = unit
    return pd.to_datetime(numbers, unit=unit, errors="coerce", utc=True)


# --------------------------------------------------------------------------- CDNOW


def cdnow_path() -> Path:
    """Path of ``CDNOW_master.txt`` inside the installed ``lifetimes`` package.

    Found through the import system without importing ``lifetimes`` (whose
    ``datasets`` module needs ``pkg_resources``).
    """
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("lifetimes: package not installed; cannot locate CDNOW_master.txt.")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "CDNOW_master.txt"


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
    report = QualityReport(source=source, rows_in=len(frame))
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


def load_online_retail(
    path: str | Path | None = None,
    as_of: pd.Timestamp | str | None = None,
    salt: str = "clv-study",
) -> tuple[pd.DataFrame, QualityReport]:
    """Load UCI Online Retail / Online Retail II invoice lines as purchase events.

    The data set (Chen, Sain & Guo 2012, "Data mining for the online retail industry",
    J. Database Marketing & Customer Strategy Management 19(3)) lists invoice lines of a
    UK online gift retailer. Both layouts are detected from the columns:
    ``InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID,
    Country`` (Online Retail) and ``Invoice, ..., Price, Customer ID, Country``
    (Online Retail II). CSV (UTF-8 or Latin-1), XLSX and Parquet are read; all sheets
    of a workbook are concatenated (Online Retail II has one per year). Without a path
    the built-in copy of Online Retail is read (:data:`BUILTIN_ONLINE_RETAIL`).

    Each kept line becomes a purchase: ``user_id`` = pseudonymised customer id
    (``17850.0`` normalised to ``17850``, then :func:`pseudonymise` with ``salt``),
    ``ts`` = InvoiceDate (local UK time, taken as UTC), ``item_id`` = StockCode,
    ``amount`` = Quantity x price, ``quantity`` = Quantity, ``text`` = Description;
    ``category`` stays empty and Country is only counted in ``notes``.

    Rows are dropped by the first rule that matches, in this order:

    1. ``cancellation``: invoice number starts with "C" (count and total cancelled
       value, sum of |Quantity x price|, also in ``notes``);
    2. ``negative_quantity_adjustment``: negative quantity on a non-C invoice (stock
       write-offs: damaged, lost, ...);
    3. ``missing_customer_id``: no customer id (the line cannot be tied to a customer);
    4. ``non_product_line``: stock code in :data:`NON_PRODUCT_STOCK_CODES` (postage,
       fees, manual entries, discounts, bad-debt adjustments, tests, ...);
    5. ``zero_price``: price 0 (free samples, adjustments);
    6. ``duplicate``: exact duplicate of an earlier source line (same invoice, item,
       quantity, price, time and customer) - a double entry, not a second purchase;

    then :func:`~helpers.data.schema.clean_events` applies its own rules (unparseable or
    future timestamps, missing or negative amounts).

    Parameters
    ----------
    path : path, optional
        ``.csv``, ``.xlsx`` or ``.parquet`` file; defaults to :data:`BUILTIN_ONLINE_RETAIL`.
    as_of : timestamp, optional
        Events after it are dropped as future; defaults to now.
    salt : str
        Salt of the customer-id pseudonyms.

    Returns
    -------
    events, report
        Canonical purchase events and the data-quality report.

    Raises
    ------
    DataError
        Missing/unreadable/empty file, missing required column, non-numeric Quantity or
        price.
    """
    builtin = path is None
    allowed = _CSV_SUFFIXES + _EXCEL_SUFFIXES + _PARQUET_SUFFIXES
    path, suffix = _check_file(BUILTIN_ONLINE_RETAIL if builtin else path, allowed)
    source = f"{path.name} (built-in)" if builtin else str(path)
    notes: dict[str, Any] = {}
    frame = _read_table(path, suffix, notes)
    layout_name, layout = _detect_retail_layout(frame, source)
    notes = {"layout": layout_name, **notes}
    col = layout

    quantity, _ = _parse_numeric(frame, col["quantity"], source)
    price, _ = _parse_numeric(frame, col["price"], source)
    value = quantity * price
    invoice = frame[col["invoice"]].astype(str).str.strip()
    customer = frame[col["customer_id"]].astype(str).str.strip()
    customer = customer.str.replace(r"\.0+$", "", regex=True)
    customer = customer.mask(customer.isin(["", "nan", "None"]))
    stock = frame[col["stock_code"]].astype(str).str.strip()
    stock_upper = stock.str.upper()
    non_product = stock_upper.isin(NON_PRODUCT_STOCK_CODES) | stock_upper.str.fullmatch(
        _NON_PRODUCT_PATTERN
    ).fillna(False).astype(bool)

    is_cancel = invoice.str.upper().str.startswith("C").fillna(False).astype(bool)
    rules: list[tuple[str, pd.Series]] = [
        (CANCELLATION, is_cancel),
        (NEGATIVE_QUANTITY_ADJUSTMENT, quantity < 0),
        (MISSING_CUSTOMER_ID, customer.isna()),
        (NON_PRODUCT_LINE, non_product),
        (ZERO_PRICE, price == 0),
        (DUPLICATE, frame.duplicated(keep="first")),
    ]
    report = QualityReport(source=source, rows_in=len(frame))
    keep = pd.Series(True, index=frame.index)
    for reason, bad in rules:
        bad = bad.fillna(False).astype(bool) & keep
        report.drop(reason, int(bad.sum()))
        keep &= ~bad

    notes["cancellation_lines"] = int(is_cancel.sum())
    notes["cancellation_invoices"] = int(invoice[is_cancel].nunique())
    notes["cancelled_value"] = round(float(value[is_cancel].abs().sum()), 2)
    if col["country"] in frame.columns:
        notes["countries"] = int(frame.loc[keep, col["country"]].nunique())
    report.notes.update(notes)

    kept = frame.loc[keep]
    raw = pd.DataFrame(
        {
            "user_id": pseudonymise(customer[keep], salt),
            "ts": _parse_ts(kept[col["invoice_date"]], None, report.notes),
            "event_type": "purchase",
            "item_id": stock[keep],
            "amount": value[keep],
            "quantity": quantity[keep],
            "text": (
                kept[col["description"]]
                if col["description"] in kept.columns
                else pd.Series(np.nan, index=kept.index, dtype=str)
            ),
        },
        index=kept.index,
    )
    return clean_events(raw, source, report=report, as_of=as_of, drop_duplicates=False)


# --------------------------------------------------------------------------- generic events


def load_event_file(
    path: str | Path,
    mapping: Mapping[str, str] | None = None,
    as_of: pd.Timestamp | str | None = None,
    event_type_map: Mapping[str, str] | None = None,
    default_event_type: str | None = None,
    ts_unit: str | None = None,
    salt: str | None = None,
) -> tuple[pd.DataFrame, QualityReport]:
    """Load any CSV or Parquet event (or transaction) file into canonical events.

    Parameters
    ----------
    path : path
        ``.csv`` (optionally compressed, read as text so ids keep leading zeros) or
        ``.parquet``.
    mapping : dict, optional
        Canonical column -> source column, e.g. ``{"user_id": "customer", "ts":
        "order_date", "amount": "total"}``. Canonical columns not mapped are taken from
        a source column of the same name when there is one; other source columns are
        ignored.
    as_of : timestamp, optional
        Events after it are dropped as future; defaults to now.
    event_type_map : dict, optional
        Renames source event labels (case-insensitive), e.g. ``{"addtocart": "cart",
        "transaction": "purchase"}``. A label mapped to ``None`` (YAML ``null``) or
        ``"drop"`` is excluded on purpose (e.g. order statuses ``cancelled``,
        ``refunded``, ``pending``): its rows are dropped as ``excluded_event_label`` and
        counted by label in ``notes["excluded_event_labels"]``. Labels still unknown
        afterwards are dropped as ``unknown_event_type`` and listed in
        ``notes["unknown_event_labels"]``.
    default_event_type : str, optional
        Event type of every row when the file has no event column (e.g. ``"purchase"``
        for a pure transaction file), and of rows whose event label is blank
        (counted as repaired).
    ts_unit : {"s", "ms", "us", "ns"}, optional
        Unit of numeric (epoch) timestamps; inferred from their magnitude when omitted.
    salt : str, optional
        When given, user ids are replaced by :func:`pseudonymise` pseudonyms.

    Returns
    -------
    events, report
        Canonical events and the data-quality report.

    Raises
    ------
    DataError
        Missing/unreadable/unsupported/empty file, unknown canonical name in
        ``mapping``, mapped or required column missing, non-numeric amount/quantity.
    """
    path, suffix = _check_file(path, _CSV_SUFFIXES + _PARQUET_SUFFIXES)
    source = str(path)
    notes: dict[str, Any] = {}
    mapping = dict(mapping or {})
    unknown = [c for c in mapping if c not in EVENT_COLUMNS]
    if unknown:
        raise data_error(
            source, unknown[0], f"mapping names no canonical column (use {EVENT_COLUMNS})", None
        )
    if default_event_type is not None and default_event_type not in EVENT_TYPES:
        raise data_error(
            source,
            "event_type",
            f"default_event_type {default_event_type!r} is not one of {EVENT_TYPES}",
            None,
        )
    frame = _read_table(path, suffix, notes)

    for canonical, column in mapping.items():
        if column not in frame.columns:
            problem = f"column mapped to '{canonical}' is missing (columns: {list(frame.columns)})"
            raise data_error(source, column, problem, frame.iloc[0])
    columns = {c: mapping.get(c, c) for c in EVENT_COLUMNS}
    columns = {c: s for c, s in columns.items() if s in frame.columns}
    required = ["user_id", "ts"] + ([] if default_event_type else ["event_type"])
    for canonical in required:
        if canonical not in columns:
            problem = "required column is missing (map it with mapping=)"
            if canonical == "event_type":
                problem += " or pass default_event_type="
            raise data_error(
                source, canonical, f"{problem} (columns: {list(frame.columns)})", frame.iloc[0]
            )

    raw = pd.DataFrame({c: frame[s] for c, s in columns.items()}, index=frame.index)
    report = QualityReport(source=source, rows_in=len(frame))
    if pd.api.types.is_float_dtype(raw["user_id"]):  # 17850.0 -> "17850"
        ids = raw["user_id"]
        if (ids.dropna() == np.round(ids.dropna())).all():
            raw["user_id"] = ids.astype("Int64")
    if salt is not None:
        raw["user_id"] = pseudonymise(raw["user_id"], salt)
    raw["ts"] = _parse_ts(raw["ts"], ts_unit, notes)

    if "event_type" not in raw:
        raw["event_type"] = default_event_type
    else:
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
    report.notes.update(notes)
    return clean_events(raw, source, report=report, as_of=as_of)
