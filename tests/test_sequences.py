"""Event sequences: shapes, left padding, last-L truncation, exact gaps, leakage, npz."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pandas as pd
import pytest

from helpers.data.schema import clean_events
from helpers.data.shopsim import ShopSimConfig, simulate_shop
from helpers.features.sequences import (
    EVENT_TYPE_IDS,
    build_sequences,
    load_sequences,
    save_sequences,
)

AS_OF = pd.Timestamp("2024-02-01", tz="UTC")
V, C, P, R = (EVENT_TYPE_IDS[k] for k in ("view", "cart", "purchase", "review"))


def make_log(rows: list[tuple]) -> pd.DataFrame:
    raw = pd.DataFrame(
        rows, columns=["user_id", "ts", "event_type", "amount", "category", "rating"]
    )
    events, _ = clean_events(raw, "fixture", as_of="2030-01-01")
    return events


ROWS = [
    ("u1", "2024-01-01 00:00", "view", None, "books", None),
    ("u1", "2024-01-01 02:00", "cart", None, "books", None),
    ("u1", "2024-01-01 03:00", "purchase", 30.0, "books", None),
    ("u1", "2024-01-05 03:00", "review", None, "books", 5),
    ("u1", "2024-01-30 00:00", "view", None, "garden", None),
    ("u1", "2024-02-02 00:00", "purchase", 99.0, "books", None),  # after as_of
    ("u2", "2024-01-31 12:00", "purchase", 7.0, None, None),
    ("u2", "2024-02-01 00:00", "view", None, "books", None),  # exactly as_of: excluded
]


@pytest.fixture
def log() -> pd.DataFrame:
    return make_log(ROWS)


def assert_batches_equal(left, right) -> None:
    for f in fields(left):
        a, b = getattr(left, f.name), getattr(right, f.name)
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b, err_msg=f.name)
            assert a.dtype == b.dtype, f.name
        else:
            assert a == b, f.name


def test_last_events_left_padded_with_exact_values(log):
    b = build_sequences(log, AS_OF, max_len=3, customers=pd.Index(["u1", "u2", "u3"]))
    assert b.user_ids.tolist() == ["u1", "u2", "u3"]
    assert b.event_type.shape == (3, 3) and b.log_gap_hours.dtype == np.float32
    # u1 keeps its last 3 events (purchase, review, view); u2 one; u3 none
    np.testing.assert_array_equal(b.event_type, [[P, R, V], [0, 0, P], [0, 0, 0]])
    np.testing.assert_array_equal(b.mask, b.event_type > 0)
    np.testing.assert_array_equal(b.lengths, [3, 1, 0])
    assert b.category_vocab == ["books", "garden"]
    np.testing.assert_array_equal(b.category, [[2, 2, 3], [0, 0, 1], [0, 0, 0]])
    # default edges (5, 10, 20, ...): 30 -> 3 edges <= 30 -> id 5; 7 -> id 3; none -> 1
    np.testing.assert_array_equal(b.amount_bucket, [[5, 1, 1], [0, 0, 3], [0, 0, 0]])
    np.testing.assert_allclose(b.log_amount[:, 2], [0.0, np.log1p(7.0), 0.0], rtol=1e-6)
    assert b.log_amount[0, 0] == pytest.approx(np.log1p(30.0))
    # gaps: 1 h after the (truncated) cart, 96 h, 24 d 21 h = 597 h; a first event: 0
    np.testing.assert_allclose(
        b.log_gap_hours, np.log1p([[1.0, 96.0, 597.0], [0, 0, 0], [0, 0, 0]]), rtol=1e-6
    )
    # days before as_of: 31 d - 3 h, 27 d - 3 h, 2 d; u2: 12 h
    np.testing.assert_allclose(
        b.log_days_before, np.log1p([[30.875, 26.875, 2.0], [0, 0, 0.5], [0, 0, 0]]), rtol=1e-6
    )
    np.testing.assert_array_equal(b.rating, [[0, 5, 0], [0, 0, 0], [0, 0, 0]])
    review_row = log.index[(log["user_id"] == "u1") & (log["event_type"] == "review")][0]
    np.testing.assert_array_equal(b.review_index, [[-1, review_row, -1], [-1] * 3, [-1] * 3])
    assert b.n_categories == 4 and b.n_amount_buckets == 12 and b.max_len == 3


def test_long_rows_keep_everything_and_first_gap_is_zero(log):
    b = build_sequences(log, AS_OF, max_len=6, customers=pd.Index(["u1"]))
    np.testing.assert_array_equal(b.event_type, [[0, V, C, P, R, V]])
    np.testing.assert_allclose(b.log_gap_hours[0, :3], np.log1p([0.0, 0.0, 2.0]), rtol=1e-6)


def test_vocabulary_customers_order_and_input_order(log):
    b = build_sequences(
        log, AS_OF, max_len=3, customers=pd.Index(["u3", "u2", "u1"]), category_vocab=["books"]
    )
    assert b.user_ids.tolist() == ["u3", "u2", "u1"]
    np.testing.assert_array_equal(b.category[2], [2, 2, 1])  # garden is unknown here
    shuffled = log.sample(frac=1.0, random_state=0)  # row labels (review keys) kept
    again = build_sequences(
        shuffled, AS_OF, max_len=3, customers=pd.Index(["u3", "u2", "u1"]), category_vocab=["books"]
    )
    assert_batches_equal(again, b)


def test_events_at_or_after_as_of_never_reach_sequences(log):
    customers = pd.Index(["u1", "u2"])
    before = build_sequences(log, AS_OF, 4, customers, category_vocab=["books", "garden"])
    extra = make_log(
        [
            ("u1", "2024-02-01 00:00", "review", None, "books", 1),
            ("u2", "2024-03-01 00:00", "purchase", 500.0, "garden", None),
        ]
    )
    extra.index = extra.index + 1000
    after = build_sequences(
        pd.concat([log, extra]), AS_OF, 4, customers, category_vocab=["books", "garden"]
    )
    assert_batches_equal(after, before)


def test_save_and_load_round_trip(log, tmp_path):
    b = build_sequences(log, AS_OF, max_len=3, customers=pd.Index(["u1", "u2", "u3"]))
    path = tmp_path / "seq" / "calibration.npz"
    save_sequences(b, path)
    assert_batches_equal(load_sequences(path), b)


def test_matches_event_counts_on_shopsim():
    events = simulate_shop(ShopSimConfig(n_users=300), seed=5).events
    as_of = pd.Timestamp("2024-07-01", tz="UTC")
    customers = pd.Index(sorted(events["user_id"].unique()))
    b = build_sequences(events, as_of, max_len=16, customers=customers)
    cal = events.loc[events["ts"] < as_of]
    counts = cal.groupby("user_id").size().reindex(customers, fill_value=0).to_numpy()
    np.testing.assert_array_equal(b.lengths, np.minimum(counts, 16))
    np.testing.assert_array_equal(b.mask.sum(axis=1), b.lengths)
    last = cal.groupby("user_id")["event_type"].last().map(EVENT_TYPE_IDS)
    has = b.lengths > 0
    np.testing.assert_array_equal(b.event_type[has, -1], last.reindex(customers[has]).to_numpy())
    assert (b.log_days_before[b.mask] >= 0).all() and (b.event_type[~b.mask] == 0).all()
    assert ((b.review_index >= 0) == (b.event_type == EVENT_TYPE_IDS["review"])).all()


def test_rejects_bad_arguments(log):
    with pytest.raises(ValueError, match="max_len"):
        build_sequences(log, AS_OF, 0, pd.Index(["u1"]))
    with pytest.raises(ValueError, match="unique"):
        build_sequences(log, AS_OF, 2, pd.Index(["u1", "u1"]))
    with pytest.raises(ValueError, match="increasing"):
        build_sequences(log, AS_OF, 2, pd.Index(["u1"]), amount_bins=(10.0, 5.0))


def test_parquet_file_read_out_of_core_equals_the_frame(tmp_path):
    events = simulate_shop(ShopSimConfig(n_users=300), seed=5).events
    as_of = pd.Timestamp("2024-07-01", tz="UTC")
    customers = pd.Index(sorted(events["user_id"].unique())[::2])  # every other user
    reviews = np.flatnonzero(events["event_type"].to_numpy() == "review")
    keys = pd.Series(np.arange(len(reviews))[::-1], index=reviews)  # any integer keys
    events["text_row"] = -1
    events.loc[events.index[reviews], "text_row"] = keys.to_numpy()
    path = tmp_path / "events.parquet"
    events.drop(columns="text_row").to_parquet(path, index=False)
    from_frame = build_sequences(events, as_of, 8, customers, review_key="text_row")
    from_file = build_sequences(path, as_of, 8, customers, review_keys=keys, batch_rows=500)
    assert_batches_equal(from_frame, from_file)
    assert (from_file.review_index >= 0).sum() > 10  # reviews were keyed
    # without keys, a file's review key is the event's row number in the file
    rows = build_sequences(path, as_of, 8, customers).review_index
    assert set(rows[rows >= 0]) <= set(reviews.tolist())
