"""End to end (slow tier): degenerate datasets either finish with clear notes or stop
in stage 01 with a message naming what the data lacks and what to change.

Each case is a small event file derived from :func:`e2e.shop_events`, run through the
whole `dvc repro` from params alone. No traceback from library internals may reach the
user: a stop must come from stage 01 with the project's own message.
"""

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from e2e import dvc, scratch_study, shop_events, use_event_file

pytestmark = pytest.mark.slow

CUTOFF, HOLDOUT_END = "2024-02-29", "2024-06-30"


def few_customers(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["user_id"].isin(frame["user_id"].unique()[:30])]


def no_repeat_purchases(frame: pd.DataFrame) -> pd.DataFrame:
    purchases = frame[frame["event_type"] == "purchase"]
    first = purchases.sort_values("ts").drop_duplicates("user_id")
    return pd.concat([frame[frame["event_type"] != "purchase"], first])


def one_category(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(category="everything")


def purchases_only(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["event_type"] == "purchase"].drop(columns=["text", "rating"])


def every_purchase_on_one_day(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(ts="2024-01-15 12:00:00")


def no_holdout_purchase(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[pd.to_datetime(frame["ts"]) <= pd.Timestamp(CUTOFF)]


COMPLETES: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "30_customers": few_customers,
    "one_category": one_category,
    "purchases_only": purchases_only,
}
STOPS: dict[str, tuple[Callable, str | None, str | None, str]] = {
    "every_purchase_on_one_day": (every_purchase_on_one_day, CUTOFF, HOLDOUT_END, "distinct day"),
    "holdout_without_purchases": (no_holdout_purchase, CUTOFF, "2024-02-29", "holdout"),
    "no_repeat_purchases": (no_repeat_purchases, CUTOFF, HOLDOUT_END, "buys again"),
    "cutoff_before_first_event": (lambda f: f, "2022-06-30", "2022-12-31", "cutoff"),
    "cutoff_after_last_event": (lambda f: f, "2025-01-31", "2025-06-30", "cutoff"),
}


def _study(tmp_path: Path, frame: pd.DataFrame, cutoff, holdout_end) -> Path:
    path = tmp_path / "events.csv"
    frame.to_csv(path, index=False)
    return scratch_study(tmp_path, lambda p: use_event_file(p, path, cutoff, holdout_end))


@pytest.mark.exhaustive  # three whole runs (about 3 min each here): `make test-exhaustive`
@pytest.mark.parametrize("case", sorted(COMPLETES))
def test_degenerate_data_runs_to_the_leaderboard(case: str, tmp_path: Path):
    frame = COMPLETES[case](shop_events(300, seed=7))
    work = _study(tmp_path, frame, CUTOFF, HOLDOUT_END)
    done = dvc(["repro"], work, check=False)
    assert done.returncode == 0, (
        f"{case}: dvc repro failed\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    quality = json.loads((work / "reports/metrics/data_quality.json").read_text())
    assert quality["rows_in"] == quality["rows_kept"] + quality["rows_dropped"]
    board = json.loads((work / "reports/metrics/leaderboard.json").read_text())
    assert {"zero", "gbdt"} <= set(board)
    assert {"bgnbd", "pareto_nbd"} <= set(board), "BTYD appears, fitted or reported"
    rows = [row for row in board.values() if isinstance(row, dict) and "status" in row]
    assert rows, "the leaderboard has model rows"
    assert all(row["reason"] for row in rows if row["status"] == "not fitted")


@pytest.mark.parametrize("case", sorted(STOPS))
def test_unusable_data_stops_in_stage_01_with_a_clear_message(case: str, tmp_path: Path):
    change, cutoff, holdout_end, word = STOPS[case]
    work = _study(tmp_path, change(shop_events(120, seed=7)), cutoff, holdout_end)
    done = dvc(["repro"], work, check=False)
    assert done.returncode != 0
    assert "Running stage '02_text_features'" not in done.stdout, "it must stop in stage 01"
    message = done.stdout + done.stderr
    assert "stage failed: 01_prepare_data.ipynb" in message, message[-2000:]
    assert "Traceback" not in message and "----> " not in message, "no traceback for bad data"
    reason = message.split("stage failed: 01_prepare_data.ipynb", 1)[1]
    assert "DataError" in reason or "SplitError" in reason
    assert word in reason.lower()
