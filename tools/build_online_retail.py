"""Build the shipped UCI Online Retail file from the R package ``onlineretail``.

The UCI Online Retail data set (Chen, Sain & Guo 2012; UCI Machine Learning Repository)
is distributed under CC0 inside the R package ``onlineretail`` by Allan Quadros
(https://github.com/allanvc/onlineretail, file ``data/onlineretail.rda``). This script
converts that ``.rda`` into a compact Parquet file in the *original* UCI layout, which
:func:`helpers.data.loaders.load_online_retail` reads like the UCI workbook:

===========  =====================  ==================================================
column       dtype                  note
===========  =====================  ==================================================
InvoiceNo    string                 "C..." = cancellation
StockCode    string
Description  string (nullable)
Quantity     int32                  negative on cancellations and adjustments
InvoiceDate  timestamp (naive, ms)   the original UK wall-clock time, whole minutes
UnitPrice    float64                pounds sterling
CustomerID   Int32 (nullable)       missing on 135,080 lines
Country      string
===========  =====================  ==================================================

The ``.rda`` stores InvoiceDate as POSIXct seconds whose UTC reading is the original
wall-clock time (2010-12-01 08:26 .. 2011-12-09 12:50), so it is written as a naive
timestamp, like the source workbook. Rows keep the source order (541,909 rows).

Usage (``rdata`` is needed only here, not at run time: ``pip install rdata``)::

    git --git-dir=<mirror of allanvc/onlineretail> show HEAD:data/onlineretail.rda \
        > /tmp/onlineretail.rda
    python tools/build_online_retail.py /tmp/onlineretail.rda \
        --out src/helpers/data/builtin/online_retail.parquet
"""

from __future__ import annotations

import argparse
import hashlib
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

EXPECTED_ROWS = 541_909
COLUMNS = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)
DEFAULT_OUT = Path("src/helpers/data/builtin/online_retail.parquet")


def _posixct(obj: Any, attrs: dict[str, Any]) -> np.ndarray:
    """POSIXct seconds -> naive wall-clock timestamps, checking the stored time zone."""
    tzone = attrs.get("tzone")
    zone = str(np.asarray(tzone).ravel()[0]) if tzone is not None else ""
    if zone not in ("", "UTC", "GMT"):
        raise ValueError(f"InvoiceDate is stored in time zone {zone!r}, expected UTC")
    seconds = np.asarray(obj, dtype=float)
    if not np.array_equal(seconds, np.round(seconds)):
        raise ValueError("InvoiceDate has fractional seconds; expected whole minutes")
    return seconds.astype("int64").astype("datetime64[s]")


def read_rda(path: str | Path) -> pd.DataFrame:
    """The ``onlineretail`` data frame of the ``.rda`` file with the study's dtypes.

    Parameters
    ----------
    path : path
        ``onlineretail.rda`` from the R package.

    Returns
    -------
    DataFrame
        The UCI columns in their original order, 541,909 rows, source order.
    """
    import rdata  # conversion-time dependency only

    parsed = rdata.parser.parse_file(path)
    constructors = {**rdata.conversion.DEFAULT_CLASS_MAP, "POSIXct": _posixct}
    with warnings.catch_warnings():  # "Missing constructor for R class POSIXt": handled above
        warnings.simplefilter("ignore", UserWarning)
        converted = rdata.conversion.convert(parsed, constructor_dict=constructors)
    raw = converted["onlineretail"].reset_index(drop=True)  # R row names 1..n
    if tuple(raw.columns) != COLUMNS:
        raise ValueError(f"unexpected columns {list(raw.columns)}; expected {list(COLUMNS)}")
    for column in ("Quantity", "CustomerID"):
        values = raw[column].dropna()
        if not np.array_equal(values, np.round(values)):
            raise ValueError(f"{column} holds non-integer values")
    frame = pd.DataFrame(
        {
            "InvoiceNo": raw["InvoiceNo"].astype("string"),
            "StockCode": raw["StockCode"].astype("string"),
            "Description": raw["Description"].astype("string"),
            "Quantity": raw["Quantity"].astype("int32"),
            "InvoiceDate": pd.Series(raw["InvoiceDate"].to_numpy(), dtype="datetime64[s]"),
            "UnitPrice": raw["UnitPrice"].astype("float64"),
            "CustomerID": raw["CustomerID"].astype("Int32"),
            "Country": raw["Country"].astype("string"),
        }
    )
    if len(frame) != EXPECTED_ROWS:
        raise ValueError(f"expected {EXPECTED_ROWS:,} rows, got {len(frame):,}")
    return frame


def write_parquet(frame: pd.DataFrame, out: str | Path, level: int = 19) -> Path:
    """Write ``frame`` as zstd-compressed Parquet (dictionary-encoded, no pandas index)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    schema = pa.schema(
        [
            ("InvoiceNo", pa.string()),
            ("StockCode", pa.string()),
            ("Description", pa.string()),
            ("Quantity", pa.int32()),
            ("InvoiceDate", pa.timestamp("s")),
            ("UnitPrice", pa.float64()),
            ("CustomerID", pa.int32()),
            ("Country", pa.string()),
        ]
    )
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    pq.write_table(
        table,
        out,
        compression="zstd",
        compression_level=level,
        use_dictionary=True,
        row_group_size=len(frame),
    )
    return out


def main(argv: list[str] | None = None) -> int:
    """Convert the ``.rda`` and print what was written (rows, size, SHA-256, seconds)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("rda", help="path of onlineretail.rda")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help=f"default: {DEFAULT_OUT}")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    frame = read_rda(args.rda)
    out = write_parquet(frame, args.out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    print(
        f"{out}: {len(frame):,} rows, {out.stat().st_size:,} bytes, sha256 {digest},"
        f" {time.perf_counter() - start:.1f} s"
    )
    print(
        f"InvoiceDate {frame['InvoiceDate'].min()} .. {frame['InvoiceDate'].max()};"
        f" missing CustomerID {int(frame['CustomerID'].isna().sum()):,};"
        f" missing Description {int(frame['Description'].isna().sum()):,}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
