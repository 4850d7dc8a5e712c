"""A foreign order export (other names, statuses, local times, bad rows) through `events`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers import cli
from helpers.data.foreign_export import (
    COLUMNS,
    EVENTS_BLOCK,
    expected_report,
    make_foreign_export,
    write_foreign_export,
)
from helpers.data.registry import load_dataset
from helpers.data.split import choose_split

# What a user writes under `datasets:` in params.yaml for such a file.
PARAMS_BLOCK = """
events:
  path: PATH
  mapping:
    user_id: customer_email_hash
    ts: created_at_local
    event_type: status
    amount: total_amount
    item_id: sku
    category: category_name
  event_type_map: {completed: purchase, cancelled: drop, refunded: drop, pending: drop}
  default_event_type: null
  cutoff: null
  holdout_end: null
"""
DROPS = {
    "excluded_event_label": 51,
    "missing_user": 1,
    "out_of_range_timestamp": 1,
    "unparseable_amount": 1,
}


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    path = tmp_path_factory.mktemp("foreign") / "orders_export.csv"
    frame = write_foreign_export(path, np.random.default_rng(7), n_customers=60)
    return path, frame


def test_export_has_the_foreign_layout(export: tuple[Path, pd.DataFrame]) -> None:
    path, frame = export
    assert tuple(pd.read_csv(path, dtype=str).columns) == COLUMNS
    assert len(frame) == 509
    assert frame["status"].value_counts().to_dict() == {
        "completed": 458,
        "cancelled": 31,
        "refunded": 15,
        "pending": 5,
    }
    assert set(frame["currency"]) == {"EUR"}
    offsets = frame["created_at_local"].str[-6:].value_counts()
    assert set(offsets.index) == {"+01:00", "+02:00"}  # winter and summer time
    assert (frame["customer_email_hash"] == "").sum() == 1
    assert frame["created_at_local"].str.startswith("2999-").sum() == 1
    assert (frame["total_amount"] == "1.299,00").sum() == 1
    assert list(frame["status"].tail(5)) == ["pending"] * 5  # the most recent orders


def test_same_seed_same_export() -> None:
    a, b, c = (make_foreign_export(np.random.default_rng(s), n_customers=30) for s in (1, 1, 2))
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_params_block_loads_it_and_accounts_for_every_row(
    export: tuple[Path, pd.DataFrame],
) -> None:
    path, frame = export
    block = yaml.safe_load(PARAMS_BLOCK)["events"]
    assert {**block, "path": None} == EVENTS_BLOCK  # the documented block is this one
    loaded = load_dataset("events", seed=42, **{**block, "path": str(path)})
    report = loaded.quality
    assert (report.rows_in, report.rows_kept) == (509, 455)
    assert {k: v for k, v in report.dropped.items() if v} == DROPS
    assert report.rows_in == report.rows_kept + report.rows_dropped
    assert expected_report(frame) == {"rows_in": 509, "rows_kept": 455, "dropped": DROPS}
    assert report.notes["excluded_event_labels"] == {"cancelled": 31, "refunded": 15, "pending": 5}
    assert report.notes["unparseable_amount_examples"] == ["1.299,00"]
    events = loaded.events
    assert set(events["event_type"]) == {"purchase"} and len(events) == 455
    assert events["user_id"].nunique() == 59
    # local times with offsets become UTC instants
    first = frame.iloc[0]
    assert first["created_at_local"] == "2023-01-02 22:51:34+01:00"
    row = events.loc[events["ts"] == pd.Timestamp("2023-01-02 21:51:34", tz="UTC")]
    assert list(row["user_id"]) == [first["customer_email_hash"]]
    assert list(row["amount"]) == [float(first["total_amount"])]
    assert list(row["category"]) == [first["category_name"]]
    summer = frame.loc[
        (frame["status"] == "completed") & frame["created_at_local"].str.endswith("+02:00")
    ].iloc[0]
    assert summer["created_at_local"] == "2023-03-26 16:30:15+02:00"
    row = events.loc[events["ts"] == pd.Timestamp("2023-03-26 14:30:15", tz="UTC")]
    assert list(row["user_id"]) == [summer["customer_email_hash"]]
    choice = choose_split(events, block["cutoff"], block["holdout_end"], "events")
    assert choice.chosen_by == "data"
    assert (choice.split.cutoff, choice.split.last_holdout_day) == ("2024-06-22", "2024-12-21")


def test_cli_validate_with_the_same_mapping(export: tuple[Path, pd.DataFrame], capsys) -> None:
    path, _ = export
    mapping = ",".join(f"{k}={v}" for k, v in EVENTS_BLOCK["mapping"].items())
    statuses = "completed=purchase,cancelled=drop,refunded=drop,pending=drop"
    argv = ["validate", str(path), "--mapping", mapping, "--event-type-map", statuses]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "  rows in              509\n  rows kept            455\n" in out
    assert "  dropped: excluded_event_label                 51\n" in out
    assert "  dropped: out_of_range_timestamp                1\n" in out
    assert "  dropped: unparseable_amount                    1\n" in out
