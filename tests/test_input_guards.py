"""Nothing silently wrong on the way in (issue 31): impossible values, timestamps that
cannot be meant, float-like ids, wrong formats, ambiguous headers, mixed currencies and
the input file's hash. Each case gets a clear error or a counted repair; rows in = rows
kept + rows dropped by reason, always. User guide: docs/your_data.md."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers import cli
from helpers.data import guards
from helpers.data.loaders import load_event_file, load_online_retail
from helpers.data.registry import load_dataset
from helpers.data.schema import DataError, clean_events

NOW = "2025-01-01"
RETAIL_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID"
CLEAN_REASONS = [
    "missing_user",
    "out_of_range_timestamp",
    "unparseable_timestamp",
    "future_timestamp",
    "unknown_event_type",
    "unparseable_amount",
    "missing_purchase_amount",
    "non_positive_amount",
    "duplicate",
]


def _csv(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def _balanced(report) -> None:
    assert report.rows_in == report.rows_kept + report.rows_dropped


def _message(path: Path, column: str, problem: str) -> str:
    """Regex of a data_error message without an example row (exact)."""
    return "^" + re.escape(f"{path}: column '{column}': {problem}.") + "$"


def _example(path: Path, column: str, problem: str, row: int) -> str:
    """Regex of a data_error message with its example row (exact up to the row's values)."""
    return "^" + re.escape(f"{path}: column '{column}': {problem}. Example row {row}: {{")


# --------------------------------------------------------------------------- values


def test_infinite_amount_is_dropped_and_counted(tmp_path: Path) -> None:
    path = _csv(
        tmp_path / "e.csv",
        "user_id,ts,event_type,amount",
        "u1,2024-01-02,purchase,inf",
        "u1,2024-01-03,purchase,-inf",
        "u2,2024-01-03,purchase,1e400",
        "u2,2024-01-04,purchase,12.5",
    )
    events, report = load_event_file(path, as_of=NOW)
    assert report.dropped["non_finite_amount"] == 3
    assert report.notes["non_finite_amount_examples"] == ["inf", "-inf", "1e400"]
    assert (report.rows_in, report.rows_kept) == (4, 1)
    assert list(events["amount"]) == [12.5]
    _balanced(report)


def test_amounts_that_would_overflow_a_customer_total_are_dropped(tmp_path: Path) -> None:
    path = _csv(
        tmp_path / "e.csv",
        "user_id,ts,event_type,amount",
        "u1,2024-01-02,purchase,1e308",
        "u1,2024-01-03,purchase,1e308",
        "u1,2024-01-04,purchase,20",
        "u2,2024-01-03,purchase,999999999999999",  # 1e15 - 1: kept
    )
    events, report = load_event_file(path, as_of=NOW)
    assert report.dropped["amount_too_large"] == 2
    assert report.notes["amount_too_large_examples"] == ["1e308", "1e308"]
    totals = events.groupby("user_id")["amount"].sum()
    assert np.isfinite(totals).all()
    assert totals.to_dict() == {"u1": 20.0, "u2": 999_999_999_999_999.0}
    _balanced(report)


def test_numeric_parquet_columns_are_checked_too(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "user_id": ["a", "b", "c", "d", "e"],
            "ts": pd.to_datetime(["2024-01-0" + str(i) for i in range(1, 6)]),
            "event_type": "purchase",
            "amount": [np.inf, 5.0, 6.0, 7.0, 8.0],
            "quantity": [1.0, np.inf, -np.inf, 2e12, 3.0],
        }
    )
    frame.to_parquet(tmp_path / "e.parquet")
    events, report = load_event_file(tmp_path / "e.parquet", as_of=NOW)
    assert report.dropped["non_finite_amount"] == 1
    assert report.dropped["non_finite_quantity"] == 2
    assert report.dropped["quantity_too_large"] == 1
    assert report.notes["quantity_too_large_examples"] == ["2000000000000.0"]
    assert list(events["user_id"]) == ["e"] and events["quantity"].tolist() == [3]
    _balanced(report)


def test_an_infinite_rating_stops_the_load(tmp_path: Path) -> None:
    path = _csv(
        tmp_path / "e.csv",
        "user_id,ts,event_type,rating,text",
        "u1,2024-01-02,review,5,fine",
        "u2,2024-01-02,review,inf,great",
    )
    with pytest.raises(
        DataError, match=_example(path, "rating", "ratings must be integers 1-5", 1)
    ):
        load_event_file(path, as_of=NOW)


def test_clean_data_keeps_the_shape_of_its_report() -> None:
    raw = pd.DataFrame(
        {"user_id": ["a"], "ts": ["2024-01-01"], "event_type": ["purchase"], "amount": [3.0]}
    )
    _, report = clean_events(raw, "x", as_of=NOW)
    assert list(report.dropped) == CLEAN_REASONS  # the value reasons appear only when seen


def test_online_retail_products_that_overflow_are_dropped(tmp_path: Path) -> None:
    path = _csv(
        tmp_path / "retail.csv",
        RETAIL_HEADER,
        "536365,85123A,HEART,6,12/1/2010 8:26,2.55,17850.0",
        "536366,22633,WARMER,1e200,12/1/2010 8:28,1e200,17850.0",
        "536367,22632,WARMER,2,12/1/2010 8:30,inf,13047.0",
    )
    events, report = load_online_retail(path, as_of="2012-01-01")
    assert report.dropped["non_finite_amount"] == 2
    assert report.rows_kept == 1 and events["amount"].tolist() == [pytest.approx(15.3)]
    assert np.isfinite(report.notes["cancelled_value"])
    _balanced(report)


# --------------------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        ("45292", "serial_days", "2024-01-01 00:00"),
        ("45292.5", "serial_days", "2024-01-01 12:00"),
        ("1704067200", "s", "2024-01-01 00:00"),
        ("1704067200000", "ms", "2024-01-01 00:00"),
        ("1704067200000000", "us", "2024-01-01 00:00"),
        ("1704067200000000000", "ns", "2024-01-01 00:00"),
    ],
)
def test_numeric_timestamp_unit_is_inferred_from_the_plausible_range(
    tmp_path: Path, value: str, unit: str, expected: str
) -> None:
    path = _csv(tmp_path / "e.csv", "user_id,ts,amount", f"u1,{value},3")
    events, report = load_event_file(path, default_event_type="purchase", as_of=NOW)
    assert events.loc[0, "ts"] == pd.Timestamp(expected, tz="UTC")
    assert report.notes["ts_epoch_unit"] == unit
    assert report.notes["ts_unit_reason"] == (
        f"inferred from the range: as {guards.unit_name(unit)}, 100% of the values fall in"
        " 1990-2100"
    )


def test_spreadsheet_serial_days_no_longer_land_in_1970(tmp_path: Path) -> None:
    path = _csv(
        tmp_path / "e.csv",
        "user_id,ts,event_type,amount",
        "u1,45292,purchase,10",
        "u2,45300.5,purchase,12.5",
        "u3,45350,view,",
    )
    events, report = load_event_file(path, as_of=NOW)
    assert events["ts"].min() == pd.Timestamp("2024-01-01", tz="UTC")
    assert events["ts"].max() == pd.Timestamp("2024-02-28", tz="UTC")
    assert report.notes["ts_epoch_unit"] == "serial_days"


def test_a_given_ts_unit_wins_and_an_unknown_one_is_refused(tmp_path: Path) -> None:
    path = _csv(tmp_path / "e.csv", "user_id,ts,amount", "u1,1704067200000,3")
    events, report = load_event_file(path, default_event_type="purchase", ts_unit="ms", as_of=NOW)
    assert report.notes["ts_unit_reason"] == "given (ts_unit)"
    problem = "ts_unit 'days' is not one of ('s', 'ms', 'us', 'ns', 'serial_days')"
    with pytest.raises(DataError, match=_message(path, "ts", problem)):
        load_event_file(path, default_event_type="purchase", ts_unit="days")


def test_a_file_whose_dates_all_fall_before_1990_is_refused(tmp_path: Path) -> None:
    path = _csv(tmp_path / "e.csv", "user_id,when,amount", "u1,5,3", "u2,86400,4")
    problem = (
        "every date falls before 1990-01-01 or after 2025-01-01 (found 1970-01-01 .."
        " 1970-01-02, read as epoch seconds); fix: map `ts` to the right column, give the"
        " unit of numeric timestamps (ts_unit: s, ms, us, ns, serial_days), or, if these"
        " dates are right, set allow_implausible_dates: true"
    )
    mapping = {"ts": "when"}
    with pytest.raises(DataError, match=_example(path, "when", problem, 0)):
        load_event_file(path, mapping, default_event_type="purchase", as_of=NOW)
    events, report = load_event_file(
        path, mapping, default_event_type="purchase", as_of=NOW, allow_implausible_dates=True
    )
    assert report.rows_kept == 2
    assert report.notes["ts_unit_reason"] == (
        "no unit puts any value in 1990-2100; read as epoch seconds by magnitude"
    )


def test_a_file_whose_dates_all_fall_after_today_is_refused(tmp_path: Path) -> None:
    path = _csv(tmp_path / "e.csv", "user_id,ts,amount", "u1,2031-05-01,3", "u2,2032-01-01,4")
    problem = (
        "every date falls before 1990-01-01 or after 2025-01-01 (found 2031-05-01 .. 2032-01-01)"
    )
    with pytest.raises(DataError, match="^" + re.escape(f"{path}: column 'ts': {problem}; fix:")):
        load_event_file(path, default_event_type="purchase", as_of=NOW)


def test_some_plausible_dates_are_enough(tmp_path: Path) -> None:
    path = _csv(tmp_path / "e.csv", "user_id,ts,amount", "u1,1985-05-01,3", "u2,2020-01-01,4")
    _, report = load_event_file(path, default_event_type="purchase", as_of=NOW)
    assert report.rows_kept == 2


def test_online_retail_dates_are_checked_too(tmp_path: Path) -> None:
    path = _csv(tmp_path / "retail.csv", RETAIL_HEADER, "536365,85123A,HEART,6,0,2.55,17850.0")
    with pytest.raises(DataError, match=re.escape(f"{path}: column 'InvoiceDate': every date")):
        load_online_retail(path, as_of="2012-01-01")
    _, report = load_online_retail(path, as_of="2012-01-01", allow_implausible_dates=True)
    assert report.rows_kept == 1


# --------------------------------------------------------------------------- ids


FLOAT_IDS = ("user_id,ts,event_type,amount,item_id", "1,2024-01-02,purchase,10,7")
FLOAT_ROWS = ("1.0,2024-01-05,purchase,12.5,7.0", "2.00,2024-01-04,purchase,7,8")


def test_float_like_ids_get_a_note(tmp_path: Path) -> None:
    path = _csv(tmp_path / "e.csv", *FLOAT_IDS, *FLOAT_ROWS)
    events, report = load_event_file(path, as_of=NOW)
    assert sorted(events["user_id"].unique()) == ["1", "1.0", "2.00"]  # as written
    assert report.notes["user_id_float_like"] == {
        "rows": 2,
        "example": "1.0",
        "ids_also_written_without_.0": 1,
        "normalised": False,
        "fix": "set normalise_ids: true to read them as integers ('1.0' -> '1')",
    }
    assert report.notes["item_id_float_like"]["rows"] == 1


def test_normalise_ids_reads_them_as_integers(tmp_path: Path) -> None:
    path = _csv(tmp_path / "e.csv", *FLOAT_IDS, *FLOAT_ROWS)
    events, report = load_event_file(path, as_of=NOW, normalise_ids=True)
    assert sorted(events["user_id"].unique()) == ["1", "2"]
    assert set(events["item_id"]) == {"7", "8"}
    assert report.notes["user_id_float_like"]["normalised"] is True


def test_ids_with_decimals_are_not_float_like(tmp_path: Path) -> None:
    path = _csv(tmp_path / "e.csv", *FLOAT_IDS, "1.5,2024-01-05,purchase,12.5,7")
    _, report = load_event_file(path, as_of=NOW, normalise_ids=True)
    assert "user_id_float_like" not in report.notes


# --------------------------------------------------------------------------- formats


def test_json_lines_named_csv_get_the_right_reason(tmp_path: Path) -> None:
    path = _csv(tmp_path / "e.csv", '{"user_id": "u1", "ts": "2024-01-02", "amount": 10}')
    message = (
        f"{path}: the file is named .csv but holds JSON, not CSV text (it starts with"
        """ '{"user_id": "u1", "ts": "2024-01-02", "amount": 10}'): convert it to CSV or"""
        " Parquet, e.g. pandas.read_json(path, lines=True).to_parquet('events.parquet')."
    )
    with pytest.raises(DataError, match="^" + re.escape(message) + "$"):
        load_event_file(path)


def test_parquet_and_xlsx_named_csv(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    pd.DataFrame({"user_id": ["a"]}).to_parquet(path)
    with pytest.raises(DataError, match=re.escape("holds Parquet, not CSV text (it starts with")):
        load_event_file(path)
    path.write_bytes(b"PK\x03\x04rest of a workbook")
    with pytest.raises(DataError, match=re.escape("holds a ZIP archive (an XLSX workbook?)")):
        load_online_retail(path)


def test_json_named_parquet(tmp_path: Path) -> None:
    path = _csv(tmp_path / "e.parquet", '[{"user_id": "u1"}]')
    with pytest.raises(
        DataError,
        match=re.escape(f"{path}: the file is named .parquet but holds JSON, not Parquet"),
    ):
        load_event_file(path)


def test_semicolon_separated_csv(tmp_path: Path) -> None:
    path = _csv(tmp_path / "e.csv", "user_id;ts;event_type;amount", "u1;2024-01-02;purchase;3")
    message = (
        f"{path}: the header is one column 'user_id;ts;event_type;amount': the file seems to"
        " be separated by ';', not by commas; save it as comma-separated CSV (or Parquet)."
    )
    with pytest.raises(DataError, match="^" + re.escape(message) + "$"):
        load_event_file(path)


# --------------------------------------------------------------------------- headers


def _duplicated(path: Path, name: str, columns: list[str]) -> str:
    problem = (
        f"ambiguous header: column names appear more than once: '{name}' (2 times) (columns:"
        f" {columns}); rename or remove the copies so that every column has one name"
    )
    return _message(path, name, problem)


def test_duplicate_header_in_csv_is_an_error(tmp_path: Path) -> None:
    path = _csv(
        tmp_path / "e.csv", "user_id,ts,event_type,amount,amount", "u1,2024-01-02,purchase,10,99"
    )
    columns = ["user_id", "ts", "event_type", "amount", "amount"]
    with pytest.raises(DataError, match=_duplicated(path, "amount", columns)):
        load_event_file(path)
    blank = _csv(tmp_path / "b.csv", "user_id,ts, ts,amount", "u1,2024-01-02,x,10")
    with pytest.raises(
        DataError, match=_duplicated(blank, "ts", ["user_id", "ts", "ts", "amount"])
    ):
        load_event_file(blank, default_event_type="purchase")


def test_a_real_column_named_like_a_pandas_copy_is_fine(tmp_path: Path) -> None:
    path = _csv(tmp_path / "e.csv", "user_id,ts,amount,amount.1", "u1,2024-01-02,10,99")
    _, report = load_event_file(path, default_event_type="purchase", as_of=NOW)
    assert report.rows_kept == 1


def test_duplicate_header_in_parquet_and_xlsx(tmp_path: Path) -> None:
    table = pa.table(
        [pa.array(["u1"]), pa.array(["2024-01-02"]), pa.array([1.0]), pa.array([2.0])],
        names=["user_id", "ts", "amount", "amount"],
    )
    pq.write_table(table, tmp_path / "e.parquet")
    columns = ["user_id", "ts", "amount", "amount"]
    with pytest.raises(DataError, match=_duplicated(tmp_path / "e.parquet", "amount", columns)):
        load_event_file(tmp_path / "e.parquet", default_event_type="purchase")
    rows = [
        RETAIL_HEADER.split(",") + ["Quantity"],
        ["536365", "85123A", "HEART", 6, "12/1/2010 8:26", 2.55, 17850, 9],
    ]
    pd.DataFrame(rows[1:], columns=rows[0]).to_excel(tmp_path / "r.xlsx", index=False)
    with pytest.raises(
        DataError, match=re.escape(f"{tmp_path / 'r.xlsx'}: column 'Quantity': ambiguous header")
    ):
        load_online_retail(tmp_path / "r.xlsx")


def test_a_mapping_may_not_send_two_columns_to_one(tmp_path: Path) -> None:
    path = _csv(tmp_path / "e.csv", "id,ts,event_type,amount", "u1,2024-01-02,purchase,10")
    mapping = {"user_id": "id", "item_id": "id"}
    problem = (
        "ambiguous mapping: canonical columns 'user_id' and 'item_id' would both read this"
        f" column (mapping: {mapping}); map each canonical column to a column of its own, or"
        " map one of them to null to leave it out"
    )
    with pytest.raises(DataError, match=_message(path, "id", problem)):
        load_event_file(path, mapping)


def test_a_mapped_column_named_like_another_canonical_one(tmp_path: Path) -> None:
    path = _csv(tmp_path / "e.csv", "user_id,ts,event_type,category", "u1,2024-01-02,view,Toys")
    with pytest.raises(DataError, match=re.escape("canonical columns 'item_id' and 'category'")):
        load_event_file(path, {"item_id": "category"})
    events, _ = load_event_file(path, {"item_id": "category", "category": None}, as_of=NOW)
    assert events.loc[0, "item_id"] == "Toys" and pd.isna(events.loc[0, "category"])


def test_a_mapping_to_a_missing_column_names_it(tmp_path: Path) -> None:
    path = _csv(tmp_path / "e.csv", "user_id,ts,event_type", "u1,2024-01-02,view")
    problem = "column mapped to 'amount' is missing (columns: ['user_id', 'ts', 'event_type'])"
    with pytest.raises(DataError, match=_example(path, "total", problem, 0)):
        load_event_file(path, {"amount": "total"})


# --------------------------------------------------------------------------- currency


MIXED = (
    "user_id,ts,event_type,amount,currency",
    "u1,2024-01-02,purchase,10,EUR",
    "u2,2024-01-03,purchase,12.5,usd",
    "u3,2024-01-04,purchase,7,EUR",
    "u3,2024-01-04,view,,GBP",  # no amount: does not count
)


def test_mixed_currencies_stop_the_load(tmp_path: Path) -> None:
    path = _csv(tmp_path / "e.csv", *MIXED)
    problem = (
        "more than one currency among the rows with an amount: EUR (2 rows), USD (1 row);"
        " amounts in different currencies cannot be summed: convert them before loading, or"
        " give a conversion table in params.yaml (currency: {base: EUR, rates: {USD: <EUR"
        " per USD>}})"
    )
    with pytest.raises(DataError, match=_example(path, "currency", problem, 1)):
        load_event_file(path, as_of=NOW)


def test_a_conversion_table_converts_and_counts(tmp_path: Path) -> None:
    path = _csv(tmp_path / "e.csv", *MIXED)
    table = {"base": "EUR", "rates": {"USD": 0.92}}
    events, report = load_event_file(path, as_of=NOW, currency=table)
    assert events.set_index("user_id").loc["u2", "amount"] == pytest.approx(11.5)
    assert events.loc[events["event_type"] == "purchase", "amount"].sum() == pytest.approx(28.5)
    assert report.repaired == {"currency_converted": 1}
    assert report.notes["currency"] == "EUR"
    assert report.notes["currency_converted"] == {"USD": 1}
    assert report.notes["currency_rates"] == {"USD": 0.92}
    _balanced(report)


def test_a_currency_without_a_rate_is_named(tmp_path: Path) -> None:
    path = _csv(tmp_path / "e.csv", *MIXED)
    problem = (
        "no conversion rate for USD (1 row) (base EUR, rates for ['GBP']): add them to"
        " currency.rates"
    )
    with pytest.raises(DataError, match=_example(path, "currency", problem, 1)):
        load_event_file(path, as_of=NOW, currency={"base": "EUR", "rates": {"GBP": 1.2}})
    with pytest.raises(DataError, match=re.escape("currency rates must be positive finite")):
        load_event_file(path, as_of=NOW, currency={"base": "EUR", "rates": {"USD": "inf"}})


def test_one_currency_is_recorded(tmp_path: Path) -> None:
    path = _csv(tmp_path / "e.csv", *MIXED[:2], "u3,2024-01-04,purchase,7,", "u4,2024-01-04,view,,")
    _, report = load_event_file(path, as_of=NOW)
    assert report.notes["currency"] == "EUR"
    assert report.notes["currency_blank_rows"] == 1
    assert report.repaired == {}


def test_a_mapped_currency_column_and_a_declared_currency(tmp_path: Path) -> None:
    path = _csv(
        tmp_path / "e.csv", "user_id,ts,event_type,amount,cur", "u1,2024-01-02,purchase,3,CHF"
    )
    _, report = load_event_file(path, {"currency": "cur"}, as_of=NOW)
    assert report.notes["currency"] == "CHF"
    plain = _csv(tmp_path / "p.csv", "user_id,ts,event_type,amount", "u1,2024-01-02,purchase,3")
    _, report = load_event_file(plain, as_of=NOW)
    assert "currency" not in report.notes
    _, report = load_event_file(plain, as_of=NOW, currency="SEK")
    assert report.notes["currency"] == "SEK"


def test_online_retail_is_in_sterling_unless_told_otherwise(tmp_path: Path) -> None:
    path = _csv(
        tmp_path / "retail.csv", RETAIL_HEADER, "536365,85123A,HEART,6,12/1/2010 8:26,2.55,17850.0"
    )
    _, report = load_online_retail(path, as_of="2012-01-01")
    assert report.notes["currency"] == "GBP"
    mixed = _csv(
        tmp_path / "mixed.csv",
        RETAIL_HEADER + ",Currency",
        "536365,85123A,HEART,6,12/1/2010 8:26,2.55,17850.0,GBP",
        "536366,85123A,HEART,2,12/1/2010 8:26,3.00,17850.0,EUR",
    )
    with pytest.raises(DataError, match=re.escape("column 'Currency': more than one currency")):
        load_online_retail(mixed, as_of="2012-01-01")
    events, report = load_online_retail(
        mixed, as_of="2012-01-01", currency={"base": "GBP", "rates": {"EUR": 0.85}}
    )
    assert sorted(events["amount"]) == pytest.approx([5.1, 15.3])
    assert report.repaired == {"currency_converted": 1}


# --------------------------------------------------------------------------- provenance


def test_the_report_records_the_file_hash(tmp_path: Path) -> None:
    path = _csv(tmp_path / "e.csv", "user_id,ts,event_type,amount", "u1,2024-01-02,purchase,3")
    _, report = load_event_file(path, as_of=NOW)
    assert report.notes["input_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    pd.read_csv(path).to_parquet(tmp_path / "e.parquet")
    _, report = load_event_file(tmp_path / "e.parquet", as_of=NOW)
    assert report.notes["input_sha256"] == guards.file_sha256(tmp_path / "e.parquet")


def test_relative_paths_are_read_from_the_project_root(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    _csv(tmp_path / "raw" / "e.csv", "user_id,ts,event_type,amount", "u1,2024-01-02,purchase,3")
    loaded = load_dataset("events", root=tmp_path, path="raw/e.csv", as_of=NOW, cutoff=None)
    assert loaded.quality.source == str(tmp_path / "raw" / "e.csv")


def test_the_params_default_names_the_built_in_online_retail_file() -> None:
    root = Path(__file__).resolve().parents[1]
    import yaml

    params = yaml.safe_load((root / "params.yaml").read_text())["datasets"]
    for name in ("online_retail", "events"):
        assert (root / params[name]["path"]).is_file(), f"datasets.{name}.path must exist"
    retail = guards.file_sha256(root / params["online_retail"]["path"])
    loaded = load_dataset("events", root=root, **{**params["events"], "as_of": "2025-01-01"})
    assert loaded.quality.rows_kept == loaded.quality.rows_in > 20_000
    assert retail == guards.file_sha256(root / "src/helpers/data/builtin/online_retail.parquet")


# --------------------------------------------------------------------------- the CLI


def test_validate_prints_the_new_notes(tmp_path: Path, capsys) -> None:
    path = _csv(tmp_path / "e.csv", *FLOAT_IDS, *FLOAT_ROWS)
    assert cli.main(["validate", str(path), "--normalise-ids", "--as-of", NOW]) == 0
    out = capsys.readouterr().out
    assert re.search(r"note: input_sha256 +[0-9a-f]{64}\n", out)
    assert "note: user_id_float_like" in out and "'normalised': True" in out
    assert "users                  2\n" in out


def test_validate_converts_with_rates_and_refuses_a_mix_without(tmp_path: Path, capsys) -> None:
    path = _csv(tmp_path / "e.csv", *MIXED)
    assert cli.main(["validate", str(path), "--as-of", NOW]) == 2
    assert capsys.readouterr().err.startswith(f"error: {path}: column 'currency': more than one")
    argv = ["validate", str(path), "--as-of", NOW, "--currency", "EUR", "--rates", "USD=0.92"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert re.search(r"repaired: currency_converted +1\n", out)
    assert "note: currency_converted" in out


def test_a_currency_column_mapped_to_null_is_ignored(tmp_path: Path) -> None:
    path = _csv(tmp_path / "e.csv", *MIXED)
    _, report = load_event_file(path, {"currency": None}, as_of=NOW, currency="EUR")
    assert report.notes["currency"] == "EUR" and report.repaired == {}
