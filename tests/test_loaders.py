"""Tests of helpers.data.loaders: CDNOW, Online Retail (both layouts, CSV/XLSX), event files."""

from __future__ import annotations

import hashlib
import importlib.util
import re
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest

from helpers.data.loaders import (
    BUILTIN_CDNOW,
    BUILTIN_ONLINE_RETAIL,
    cdnow_path,
    load_cdnow,
    load_event_file,
    load_online_retail,
    pseudonymise,
)
from helpers.data.schema import EVENT_COLUMNS, DataError

AS_OF = "2012-01-01"  # Online Retail
NOW = "2024-01-01"  # event files


def _hash(customer: str, salt: str = "clv-study") -> str:
    return hashlib.sha256(f"{salt}:{customer}".encode()).hexdigest()[:16]


def _write_csv(path: Path, text: str) -> Path:
    path.write_text(text.strip() + "\n")
    return path


def _error(path: Path, column: str, problem: str, row: int) -> str:
    """Regex of the start of a data_error message up to 'Example row N: {'."""
    return re.escape(f"{path}: column '{column}': {problem}") + rf".*\. Example row {row}: \{{"


# --------------------------------------------------------------------------- CDNOW


def test_cdnow_is_built_in_byte_for_byte() -> None:
    """The vendored CDNOW file is the one lifetimes shipped (same bytes), and the run path
    reads it from the package, not from lifetimes."""
    path = cdnow_path()
    assert path == BUILTIN_CDNOW and path.is_file()
    assert path.parent.name == "builtin" and "lifetimes" not in path.parts
    digest = "eff6889ed364c5199d6eacbbeb7a6d559971df4406ac876f322c373f00a072ef"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    spec = importlib.util.find_spec("lifetimes")  # the test-only reference, where installed
    if spec is not None and spec.submodule_search_locations:
        shipped = Path(next(iter(spec.submodule_search_locations))) / "datasets" / path.name
        assert shipped.read_bytes() == path.read_bytes()


def test_load_cdnow_real_file() -> None:
    events, report = load_cdnow()
    assert len(events) == 69_659
    assert events["user_id"].nunique() == 23_570
    assert events["ts"].min() == pd.Timestamp("1997-01-01", tz="UTC")
    assert events["ts"].max() == pd.Timestamp("1998-06-30", tz="UTC")
    assert report.rows_in == 69_659
    assert report.rows_kept == 69_659
    assert report.rows_dropped == 0
    assert report.notes["identical_rows_kept"] == 255
    assert report.notes["zero_amount_purchases_kept"] == 80
    assert set(events["event_type"]) == {"purchase"}
    assert list(events.columns) == list(EVENT_COLUMNS)
    first = events.iloc[0]
    assert (first["user_id"], first["amount"], first["quantity"]) == ("00001", 11.77, 1)
    assert events["amount"].sum() == pytest.approx(2_500_315.63, abs=0.01)


def test_load_cdnow_small_file_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "cd.txt"
    path.write_bytes(
        b"customer_id date number_of_cds dollar_value\r\n"
        b"    00007 19970101  2  10.50\r\n"
        b"    00007 19970101  2  10.50\r\n"
        b"    00008 19971301  1   0.00\r\n"
    )
    events, report = load_cdnow(path)
    assert list(events["user_id"]) == ["00007", "00007"]
    assert report.dropped["unparseable_timestamp"] == 1
    assert report.notes["identical_rows_kept"] == 1
    bad = tmp_path / "bad.txt"
    bad.write_text("customer_id date dollar_value\n1 19970101 3.0\n")
    with pytest.raises(DataError, match=_error(bad, "number_of_cds", "required column", 0)):
        load_cdnow(bad)


# --------------------------------------------------------------------------- Online Retail

RETAIL_V1 = """
InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850.0,United Kingdom
536365,71053,WHITE METAL LANTERN,6,12/1/2010 8:26,3.39,17850.0,United Kingdom
C536379,D,Discount,-1,12/1/2010 9:41,27.50,14527.0,United Kingdom
C536383,35004C,SET OF 3 COLOURED FLYING DUCKS,-1,12/1/2010 9:49,4.65,15311.0,United Kingdom
536414,22139,,56,12/1/2010 11:52,0,,United Kingdom
536589,21777,damaged,-10,12/1/2010 16:50,0,,United Kingdom
536370,POST,POSTAGE,3,12/1/2010 8:45,18.00,12583.0,France
537197,22841,ROUND CAKE TIN,1,12/5/2010 14:02,0,12647.0,Germany
536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850.0,United Kingdom
536366,22633,HAND WARMER UNION JACK,6,12/1/2010 8:28,1.85,17850,United Kingdom
536367,84879,ASSORTED COLOUR BIRD ORNAMENT,32,12/1/2010 8:34,1.69,13047.0,United Kingdom
536368,22960,JAM MAKING SET WITH JARS,6,not a date,4.25,13047.0,United Kingdom
536369,21756,BATH BUILDING BLOCK WORD,3,12/1/2030 8:35,5.95,13047.0,United Kingdom
536370,BANK CHARGES,Bank Charges,1,12/1/2010 8:45,15.00,12583.0,France
C536391,22556,PLASTERS IN TIN CIRCUS PARADE,-2,12/1/2010 10:24,1.25,,United Kingdom
"""

RETAIL_DROPS = {
    "cancellation": 3,
    "negative_quantity_adjustment": 1,
    "missing_customer_id": 1,
    "non_product_line": 2,
    "zero_price": 1,
    "duplicate": 1,
    "missing_user": 0,
    "out_of_range_timestamp": 0,
    "unparseable_timestamp": 1,
    "future_timestamp": 1,
    "unknown_event_type": 0,
    "unparseable_amount": 0,
    "missing_purchase_amount": 0,
    "non_positive_amount": 0,
}
# (customer, stock code, quantity, price) of the kept lines, sorted by time.
RETAIL_KEPT = [
    ("17850", "85123A", 6, 2.55),
    ("17850", "71053", 6, 3.39),
    ("17850", "22633", 6, 1.85),
    ("13047", "84879", 32, 1.69),
]
V2_COLUMNS = {"InvoiceNo": "Invoice", "UnitPrice": "Price", "CustomerID": "Customer ID"}


def _retail_frame() -> pd.DataFrame:
    return pd.read_csv(StringIO(RETAIL_V1.strip()), dtype=str)


def _check_retail(events: pd.DataFrame, report, layout: str) -> None:
    assert report.dropped == RETAIL_DROPS
    assert report.rows_in == 15
    assert report.rows_kept == 4
    assert report.rows_in == report.rows_kept + report.rows_dropped
    assert report.notes["layout"] == layout
    assert report.notes["cancellation_lines"] == 3
    assert report.notes["cancellation_invoices"] == 3
    assert report.notes["cancelled_value"] == 34.65
    assert report.notes["countries"] == 1
    got = events.sort_values("ts", kind="stable")
    expected_ids = [_hash(c) for c, *_ in RETAIL_KEPT]
    assert list(got["user_id"]) == expected_ids
    assert list(got["item_id"]) == [s for _, s, _, _ in RETAIL_KEPT]
    assert list(got["quantity"]) == [q for _, _, q, _ in RETAIL_KEPT]
    assert list(got["amount"]) == [q * p for _, _, q, p in RETAIL_KEPT]
    assert got["text"].iloc[0] == "WHITE HANGING HEART T-LIGHT HOLDER"
    assert got["category"].isna().all()
    assert set(got["event_type"]) == {"purchase"}
    assert got["ts"].iloc[0] == pd.Timestamp("2010-12-01 08:26", tz="UTC")
    assert not set(got["user_id"]) & {"17850", "13047", "17850.0"}


def test_online_retail_csv_v1(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "Online Retail.csv", RETAIL_V1)
    events, report = load_online_retail(path, as_of=AS_OF)
    _check_retail(events, report, "online_retail")


def test_online_retail_csv_v2_latin1_iso_dates(tmp_path: Path) -> None:
    frame = _retail_frame().rename(columns=V2_COLUMNS)
    stamps = pd.to_datetime(frame["InvoiceDate"], format="%m/%d/%Y %H:%M", errors="coerce")
    frame["InvoiceDate"] = stamps.dt.strftime("%Y-%m-%d %H:%M:%S").fillna("not a date")
    frame.loc[1, "Description"] = "WHITE METAL LANTERN \u00e9"  # Latin-1 only byte
    path = tmp_path / "online_retail_II.csv"
    frame.to_csv(path, index=False, encoding="latin-1")
    events, report = load_online_retail(path, as_of=AS_OF)
    _check_retail(events, report, "online_retail_ii")
    assert report.notes["encoding"] == "latin-1"
    assert "WHITE METAL LANTERN \u00e9" in set(events["text"])


def test_online_retail_xlsx_two_sheets(tmp_path: Path) -> None:
    frame = _retail_frame().rename(columns=V2_COLUMNS)
    frame["InvoiceDate"] = pd.to_datetime(
        frame["InvoiceDate"], format="%m/%d/%Y %H:%M", errors="coerce"
    ).astype(object)
    frame.loc[11, "InvoiceDate"] = "not a date"
    for column in ("Quantity", "Price"):
        frame[column] = frame[column].astype(float)
    frame["Customer ID"] = frame["Customer ID"].astype(float)  # 17850.0 as Excel stores it
    path = tmp_path / "online_retail_II.xlsx"
    with pd.ExcelWriter(path) as writer:
        frame.iloc[:8].to_excel(writer, sheet_name="Year 2009-2010", index=False)
        frame.iloc[8:].to_excel(writer, sheet_name="Year 2010-2011", index=False)
    events, report = load_online_retail(path, as_of=AS_OF)
    _check_retail(events, report, "online_retail_ii")
    assert report.notes["sheets"] == {"Year 2009-2010": 8, "Year 2010-2011": 7}


def test_online_retail_pseudonyms_depend_on_salt(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "retail.csv", RETAIL_V1)
    first, _ = load_online_retail(path, as_of=AS_OF, salt="a")
    again, _ = load_online_retail(path, as_of=AS_OF, salt="a")
    other, _ = load_online_retail(path, as_of=AS_OF, salt="b")
    assert list(first["user_id"]) == list(again["user_id"])
    assert set(first["user_id"]) == {_hash("17850", "a"), _hash("13047", "a")}
    assert not set(first["user_id"]) & set(other["user_id"])


def test_pseudonymise_keeps_missing() -> None:
    out = pseudonymise(pd.Series(["1", None, "1", " 2 "]), "s")
    assert list(out[[0, 2, 3]]) == [_hash("1", "s"), _hash("1", "s"), _hash("2", "s")]
    assert pd.isna(out[1])


def test_online_retail_missing_column(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "retail.csv", RETAIL_V1.replace("UnitPrice", "Cost"))
    problem = "required column of the Online Retail layout is missing"
    with pytest.raises(DataError, match=_error(path, "UnitPrice", problem, 0)):
        load_online_retail(path)


def test_online_retail_non_numeric_quantity(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "retail.csv", RETAIL_V1.replace(",32,", ",thirty-two,"))
    with pytest.raises(
        DataError, match=_error(path, "Quantity", "non-numeric values (wrong type)", 10)
    ):
        load_online_retail(path)


def test_online_retail_nothing_usable(tmp_path: Path) -> None:
    lines = RETAIL_V1.strip().splitlines()
    path = _write_csv(tmp_path / "retail.csv", "\n".join([lines[0], *lines[3:6]]))
    message = (
        f"{path}: no usable rows remain after cleaning: 3 rows in, all dropped"
        " (cancellation: 2, missing_customer_id: 1)."
    )
    with pytest.raises(DataError, match=f"^{re.escape(message)}$"):
        load_online_retail(path)


def test_online_retail_out_of_range_years_are_counted(tmp_path: Path) -> None:
    """Typos such as year 2999 or 1500 are dropped and counted, not a crash."""
    typos = [
        "536371,22086,PAPER CHAIN KIT,80,12/1/2999 9:00,2.55,13748.0,United Kingdom",
        "536372,22632,HAND WARMER RED POLKA DOT,6,12/1/1500 9:01,1.85,17850.0,United Kingdom",
    ]
    path = _write_csv(tmp_path / "retail.csv", "\n".join([RETAIL_V1.strip(), *typos]))
    events, report = load_online_retail(path, as_of=AS_OF)
    assert report.dropped == {**RETAIL_DROPS, "out_of_range_timestamp": 2}
    assert (report.rows_in, report.rows_kept, report.rows_dropped) == (17, 4, 13)
    assert report.notes["out_of_range_timestamp_examples"] == [
        "2999-12-01 09:00:00+00:00",
        "1500-12-01 09:01:00+00:00",
    ]
    assert len(events) == 4


def test_online_retail_parquet_in_the_uci_layout(tmp_path: Path) -> None:
    frame = _retail_frame()
    frame["InvoiceDate"] = pd.to_datetime(
        frame["InvoiceDate"], format="%m/%d/%Y %H:%M", errors="coerce"
    ).astype("datetime64[s]")
    for column in ("Quantity", "UnitPrice"):
        frame[column] = frame[column].astype(float)
    frame["CustomerID"] = frame["CustomerID"].astype(float).astype("Int32")
    path = tmp_path / "retail.parquet"
    frame.to_parquet(path)
    events, report = load_online_retail(path, as_of=AS_OF)
    _check_retail(events, report, "online_retail")


def test_builtin_online_retail_accounts_for_every_line() -> None:
    """The shipped UCI file (541,909 lines): 391,150 kept, every other line by reason."""
    assert BUILTIN_ONLINE_RETAIL.is_file()
    events, report = load_online_retail(as_of=AS_OF)
    assert report.source == "online_retail.parquet (built-in)"
    assert (report.rows_in, report.rows_kept) == (541_909, 391_150)
    assert {k: v for k, v in report.dropped.items() if v} == {
        "cancellation": 9_288,
        "negative_quantity_adjustment": 1_336,
        "missing_customer_id": 133_361,
        "non_product_line": 1_554,
        "zero_price": 33,
        "duplicate": 5_187,
    }
    assert report.rows_in == report.rows_kept + report.rows_dropped
    assert report.notes["cancellation_invoices"] == 3_836
    assert report.notes["countries"] == 37
    assert events["user_id"].nunique() == 4_334
    assert events["ts"].min() == pd.Timestamp("2010-12-01 08:26", tz="UTC")
    assert events["ts"].max() == pd.Timestamp("2011-12-09 12:50", tz="UTC")
    assert events["text"].notna().all()
    assert events["rating"].isna().all()


# --------------------------------------------------------------------------- event files

ORDERS = """
customer,order_date,total,sku,kind,review
007,2021-03-01 10:00:00,19.99,A1,transaction,
007,2021-03-01 10:05:00,,A2,addtocart,
008,2021-03-02T09:00:00+01:00,5.00,A1,transaction,
008,2021-03-03 12:00:00,,A1,view,
009,2021-03-04 08:00:00,,A3,Review,great stuff
"""
MAPPING = {
    "user_id": "customer",
    "ts": "order_date",
    "amount": "total",
    "item_id": "sku",
    "event_type": "kind",
    "text": "review",
}
EVENT_MAP = {"addtocart": "cart", "Transaction": "purchase"}


def test_event_csv_with_mapping_and_event_type_map(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "orders.csv", ORDERS)
    events, report = load_event_file(path, MAPPING, as_of=NOW, event_type_map=EVENT_MAP)
    assert report.rows_in == report.rows_kept == 5
    assert report.notes["event_types_renamed"] == {"transaction": 2, "addtocart": 1}
    assert list(events["user_id"]) == ["007", "007", "008", "008", "009"]
    assert list(events["event_type"]) == ["purchase", "cart", "purchase", "view", "review"]
    assert events.loc[2, "ts"] == pd.Timestamp("2021-03-02 08:00", tz="UTC")
    assert events.loc[[0, 2], "amount"].tolist() == [19.99, 5.0]
    assert pd.isna(events.loc[1, "amount"])
    assert events.loc[4, "text"] == "great stuff"
    assert list(events.columns) == list(EVENT_COLUMNS)


def test_event_parquet_with_mapping_epoch_ms(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "visitorid": [10, 10, 11],
            "timestamp": [1_433_221_332_117, 1_433_224_214_164, 1_433_221_999_827],
            "event": ["view", "addtocart", "transaction"],
            "itemid": [355908, 248676, 318965],
            "value": [None, None, 12.5],
        }
    )
    path = tmp_path / "events.parquet"
    frame.to_parquet(path)
    mapping = {"user_id": "visitorid", "ts": "timestamp", "event_type": "event"}
    mapping |= {"item_id": "itemid", "amount": "value"}
    events, report = load_event_file(path, mapping, as_of=NOW, event_type_map=EVENT_MAP)
    assert report.rows_kept == 3
    assert report.notes["ts_epoch_unit"] == "ms"
    assert list(events["event_type"]) == ["view", "cart", "purchase"]
    assert list(events["user_id"]) == ["10", "10", "11"]
    assert events.loc[0, "ts"] == pd.Timestamp("2015-06-02 05:02:12.117", tz="UTC")
    assert events.loc[2, "item_id"] == "318965"


def test_event_file_default_event_type_and_float_ids(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"user_id": [17850.0, 13047.0], "ts": ["2011-01-02", "2011-01-03"], "amount": [3, 4]}
    )
    path = tmp_path / "tx.parquet"
    frame.to_parquet(path)
    events, report = load_event_file(path, default_event_type="purchase", as_of=NOW)
    assert list(events["event_type"]) == ["purchase", "purchase"]
    assert list(events["user_id"]) == ["13047", "17850"]
    assert report.rows_kept == 2
    salted, _ = load_event_file(path, default_event_type="purchase", as_of=NOW, salt="x")
    assert list(salted["user_id"]) == sorted([_hash("13047", "x"), _hash("17850", "x")])


def test_event_file_default_fills_blank_labels(tmp_path: Path) -> None:
    path = _write_csv(
        tmp_path / "e.csv", "user_id,ts,event_type,amount\nu1,2020-01-01,,2\nu2,2020-01-02,view,\n"
    )
    events, report = load_event_file(path, default_event_type="purchase", as_of=NOW)
    assert list(events["event_type"]) == ["purchase", "view"]
    assert report.repaired == {"event_type_defaulted": 1}


def test_event_file_yyyymmdd_numbers(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "e.csv", "user_id,ts,amount\nu1,19970101,2\nu2,19980630,3\n")
    events, report = load_event_file(path, default_event_type="purchase", as_of=NOW)
    assert list(events["ts"].dt.strftime("%Y-%m-%d")) == ["1997-01-01", "1998-06-30"]
    assert report.notes["ts_format"] == "%Y%m%d"


DIRTY = """
user_id,ts,event_type,amount
u1,2020-01-01 10:00,purchase,10
u1,2020-01-01 10:00,purchase,10
,2020-01-02 10:00,view,
u2,yesterday,view,
u2,2099-01-01 00:00,view,
u3,2020-01-03 10:00,click,
u3,2020-01-03 11:00,click,
u3,2020-01-03 12:00,purchase,
u3,2020-01-03 13:00,purchase,-4
u4,2020-01-04 10:00,VIEW,
u5,2999-01-05 10:00,view,
u5,1500-01-05 10:00:30,purchase,3
"""
DIRTY_DROPS = {
    "missing_user": 1,
    "out_of_range_timestamp": 2,
    "unparseable_timestamp": 1,
    "future_timestamp": 1,
    "unknown_event_type": 2,
    "unparseable_amount": 0,
    "missing_purchase_amount": 1,
    "non_positive_amount": 1,
    "duplicate": 1,
}


def _check_dirty(events: pd.DataFrame, report) -> None:
    assert report.dropped == DIRTY_DROPS
    assert (report.rows_in, report.rows_kept, report.rows_dropped) == (12, 2, 10)
    assert report.notes["unknown_event_labels"] == {"click": 2}
    assert list(events["user_id"]) == ["u1", "u4"]
    assert list(events["event_type"]) == ["purchase", "view"]


def test_event_file_rows_counted_by_reason(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "dirty.csv", DIRTY)
    events, report = load_event_file(path, as_of=NOW)
    _check_dirty(events, report)
    assert report.notes["out_of_range_timestamp_examples"] == [
        "2999-01-05 10:00:00+00:00",
        "1500-01-05 10:00:30+00:00",
    ]


def test_event_parquet_string_timestamps_out_of_range(tmp_path: Path) -> None:
    frame = pd.read_csv(StringIO(DIRTY.strip()), dtype=str, keep_default_na=False)
    path = tmp_path / "dirty.parquet"
    frame.to_parquet(path)
    events, report = load_event_file(path, as_of=NOW)
    _check_dirty(events, report)


def test_event_parquet_datetime_column_out_of_range(tmp_path: Path) -> None:
    stamps = ["2020-01-01 10:00", "2999-01-01 00:00", "1500-06-01 00:00", "2020-01-02 09:00"]
    frame = pd.DataFrame(
        {
            "user_id": ["a", "b", "c", "d"],
            "ts": pd.Series(pd.to_datetime(stamps, format="%Y-%m-%d %H:%M"), dtype="M8[us]"),
            "amount": [1.0, 2.0, 3.0, 4.0],
        }
    )
    path = tmp_path / "tx.parquet"
    frame.to_parquet(path)
    events, report = load_event_file(path, default_event_type="purchase", as_of=NOW)
    assert report.dropped["out_of_range_timestamp"] == 2
    assert (report.rows_in, report.rows_kept) == (4, 2)
    assert list(events["user_id"]) == ["a", "d"]


def test_event_file_epoch_and_yyyymmdd_out_of_range(tmp_path: Path) -> None:
    ymd = _write_csv(tmp_path / "ymd.csv", "user_id,ts,amount\nu1,20200101,2\nu2,29990101,3\n")
    events, report = load_event_file(ymd, default_event_type="purchase", as_of=NOW)
    assert report.notes["ts_format"] == "%Y%m%d"
    assert report.dropped["out_of_range_timestamp"] == 1
    assert list(events["ts"]) == [pd.Timestamp("2020-01-01", tz="UTC")]
    epoch = _write_csv(
        tmp_path / "epoch.csv", "user_id,ts,amount\nu1,1577836800000,2\nu2,32503680000000,3\n"
    )
    events, report = load_event_file(epoch, default_event_type="purchase", as_of=NOW)
    assert report.notes["ts_epoch_unit"] == "ms"
    assert report.dropped["out_of_range_timestamp"] == 1
    assert list(events["ts"]) == [pd.Timestamp("2020-01-01", tz="UTC")]


# --------------------------------------------------------------------------- status labels

STATUS_ORDERS = """
customer,created,total,status
c1,2021-03-01 10:00,19.99,Completed
c1,2021-03-02 10:00,5.00,cancelled
c2,2021-03-03 10:00,7.50,refunded
c2,2021-03-04 10:00,8.00,completed
c3,2021-03-05 10:00,1.00,on_hold
"""
STATUS_MAPPING = {"user_id": "customer", "ts": "created", "amount": "total", "event_type": "status"}


def test_event_type_map_drop_excludes_labels_on_purpose(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "orders.csv", STATUS_ORDERS)
    status_map = {"completed": "purchase", "Cancelled": "drop", "refunded": None}
    events, report = load_event_file(path, STATUS_MAPPING, as_of=NOW, event_type_map=status_map)
    assert report.dropped["excluded_event_label"] == 2
    assert report.dropped["unknown_event_type"] == 1
    assert (report.rows_in, report.rows_kept, report.rows_dropped) == (5, 2, 3)
    assert report.notes["excluded_event_labels"] == {"cancelled": 1, "refunded": 1}
    assert report.notes["event_types_renamed"] == {"completed": 2}
    assert report.notes["unknown_event_labels"] == {"on_hold": 1}
    assert list(events["amount"]) == [19.99, 8.0]


# --------------------------------------------------------------------------- nothing usable


def test_nothing_usable_without_an_amount_column(tmp_path: Path) -> None:
    path = _write_csv(
        tmp_path / "tx.csv", "customer,day,total\nc1,2021-03-01,9.5\nc2,2021-03-02,3\n"
    )
    mapping = {"user_id": "customer", "ts": "day"}
    message = (
        f"{path}: no usable rows remain after cleaning: 2 rows in, all dropped"
        " (missing_purchase_amount: 2). Fix: every purchase needs an amount and no column"
        " is mapped to 'amount': map it (e.g. `--mapping amount=<column>`, or"
        " `mapping: {amount: <column>}` in params.yaml)."
    )
    with pytest.raises(DataError, match=f"^{re.escape(message)}$"):
        load_event_file(path, mapping, default_event_type="purchase", as_of=NOW)


def test_nothing_usable_when_no_status_label_is_mapped(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "orders.csv", STATUS_ORDERS)
    message = (
        f"{path}: no usable rows remain after cleaning: 5 rows in, all dropped"
        " (unknown_event_type: 5). Fix: event labels 'completed' (2), 'cancelled' (1),"
        " 'refunded' (1), 'on_hold' (1) are not one of view, cart, purchase, review: pass"
        " `--event-type-map` (e.g. `--event-type-map completed=purchase`, or"
        " `event_type_map: {completed: purchase}` in params.yaml; map a label to `drop` to"
        " exclude it on purpose)."
    )
    with pytest.raises(DataError, match=f"^{re.escape(message)}$"):
        load_event_file(path, STATUS_MAPPING, as_of=NOW)


# --------------------------------------------------------------------------- amounts


def test_rare_unparseable_amounts_are_dropped_and_counted(tmp_path: Path) -> None:
    rows = [f"u{i},2021-03-01 10:{i % 60:02d},{i + 1}.50" for i in range(199)]
    rows.append('u199,2021-03-01 11:00,"1.299,00"')  # 1 of 200 rows (0.5%)
    path = _write_csv(tmp_path / "tx.csv", "\n".join(["user_id,ts,amount", *rows]))
    events, report = load_event_file(path, default_event_type="purchase", as_of=NOW)
    assert report.dropped["unparseable_amount"] == 1
    assert (report.rows_in, report.rows_kept, report.rows_dropped) == (200, 199, 1)
    assert report.notes["unparseable_amount_examples"] == ["1.299,00"]
    assert "u199" not in set(events["user_id"])


# --------------------------------------------------------------------------- bad input


def test_missing_required_column(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "no_user.csv", "customer,ts,event_type\nc1,2020-01-01,view\n")
    with pytest.raises(DataError, match=_error(path, "user_id", "required column is missing", 0)):
        load_event_file(path)
    with pytest.raises(DataError, match=r"Example row 0: \{'customer': 'c1', 'ts': '2020-01-01'"):
        load_event_file(path)


def test_missing_event_type_column_suggests_default(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "tx.csv", "user_id,ts,amount\nc1,2020-01-01,3\n")
    with pytest.raises(DataError, match=_error(path, "event_type", "required column", 0)):
        load_event_file(path)


def test_missing_mapped_column(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "orders.csv", ORDERS)
    mapping = {**MAPPING, "amount": "price"}
    with pytest.raises(
        DataError, match=_error(path, "price", "column mapped to 'amount' is missing", 0)
    ):
        load_event_file(path, mapping)


def test_mapping_to_unknown_canonical_column(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "orders.csv", ORDERS)
    with pytest.raises(DataError, match=re.escape(f"{path}: column 'customer_id': mapping")):
        load_event_file(path, {"customer_id": "customer"})


def test_bad_default_event_type(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "tx.csv", "user_id,ts,amount\nc1,2020-01-01,3\n")
    with pytest.raises(DataError, match=re.escape(f"{path}: column 'event_type': default_")):
        load_event_file(path, default_event_type="order")


def test_nonexistent_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    with pytest.raises(DataError, match=re.escape(f"{path}: file not found.")):
        load_event_file(path)
    with pytest.raises(DataError, match=re.escape(f"{path}: file not found.")):
        load_online_retail(path)
    with pytest.raises(DataError, match=re.escape(f"{tmp_path / 'cd.txt'}: file not found.")):
        load_cdnow(tmp_path / "cd.txt")


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=re.escape(f"{tmp_path}: not a regular file.")):
        load_event_file(tmp_path)


def test_unsupported_extension(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    path.write_text("[]")
    with pytest.raises(DataError, match=re.escape(f"{path}: unsupported file type '.json'")):
        load_event_file(path)
    xlsx = tmp_path / "events.xlsx"
    xlsx.write_text("x")
    with pytest.raises(DataError, match=re.escape(f"{xlsx}: unsupported file type '.xlsx'")):
        load_event_file(xlsx)


def test_unreadable_files(tmp_path: Path) -> None:
    parquet = tmp_path / "events.parquet"
    parquet.write_bytes(b"this is not parquet at all")
    with pytest.raises(DataError, match=re.escape(f"{parquet}: cannot read as Parquet (")):
        load_event_file(parquet)
    xlsx = tmp_path / "retail.xlsx"
    xlsx.write_bytes(b"PK\x03\x04 broken zip")
    with pytest.raises(DataError, match=re.escape(f"{xlsx}: cannot read as XLSX (")):
        load_online_retail(xlsx)


def test_empty_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match=re.escape(f"{empty}: file is empty.")):
        load_event_file(empty)
    header = _write_csv(tmp_path / "header.csv", "user_id,ts,event_type")
    with pytest.raises(DataError, match=re.escape(f"{header}: file is empty (no data rows).")):
        load_event_file(header)
    blank = tmp_path / "blank.csv"
    blank.write_text("\n\n")
    with pytest.raises(DataError, match=re.escape(f"{blank}: file is empty.")):
        load_online_retail(blank)


def test_non_numeric_amount(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "orders.csv", ORDERS.replace("5.00", "five"))
    problem = "non-numeric values (wrong type) in 1 of 5 rows (more than 1%: a wrong column"
    with pytest.raises(DataError, match=_error(path, "amount", problem, 2)):
        load_event_file(path, MAPPING, event_type_map=EVENT_MAP)
    with pytest.raises(DataError, match=r"Example row 2: \{'user_id': '008', .*'amount': 'five'"):
        load_event_file(path, MAPPING, event_type_map=EVENT_MAP)
