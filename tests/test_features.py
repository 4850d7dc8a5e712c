"""Behaviour features: exact values on a hand-built log, leakage, the no-browsing path."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from helpers.data.schema import clean_events
from helpers.data.shopsim import ShopSimConfig, simulate_shop
from helpers.data.split import Split, make_targets
from helpers.features.behaviour import (
    FeatureScaler,
    behaviour_features,
    encode_strings,
    event_type_codes,
    feature_groups,
)

AS_OF = pd.Timestamp(
    "2024-02-01", tz="UTC"
)  # = Split.from_dates("2024-01-31", ...).calibration_end
DAY = pd.Timedelta(days=1)


def make_log(rows: list[tuple]) -> pd.DataFrame:
    """(user, ts, event_type, amount, category, rating) tuples -> canonical events."""
    raw = pd.DataFrame(
        rows, columns=["user_id", "ts", "event_type", "amount", "category", "rating"]
    )
    events, _ = clean_events(raw, "fixture", as_of="2030-01-01")
    return events


CALIBRATION = [
    # a: purchase days 2023-12-01 (20), 2024-01-02 (30 + 10 = 40), 2024-01-25 (15)
    ("a", "2023-12-01 10:00", "purchase", 20.0, "books", None),
    ("a", "2024-01-02 12:00", "view", None, "books", None),
    ("a", "2024-01-02 12:30", "cart", None, "books", None),  # bought 30 min later: kept
    ("a", "2024-01-02 13:00", "purchase", 30.0, "books", None),
    ("a", "2024-01-02 20:00", "purchase", 10.0, "toys", None),
    ("a", "2024-01-24 23:59:59", "view", None, "toys", None),  # 1 s before the 7-day window
    ("a", "2024-01-25 00:00", "purchase", 15.0, "books", None),  # exactly as_of - 7 days
    ("a", "2024-01-28 09:00", "cart", None, "toys", None),  # never bought: abandoned
    ("a", "2024-01-31 23:00", "cart", None, "books", None),  # last 24 h: censored
    ("a", "2024-01-31 23:30", "review", None, "books", 4),
    # b: one purchase in the last minute of calibration, no category
    ("b", "2024-01-31 23:59", "purchase", 12.5, None, None),
    # c: browses only (not a customer by default)
    ("c", "2023-11-01 00:00", "view", None, "home", None),
    # e: purchases 2023-10-01 12:00 (the earliest event: H = 123 - 0.5 = 122.5 days),
    #    2023-11-15, 2024-01-10
    ("e", "2023-10-01 12:00", "purchase", 50.0, None, None),
    ("e", "2023-11-15 08:00", "purchase", 50.0, None, None),
    ("e", "2024-01-10 00:00", "purchase", 20.0, None, None),
]
HOLDOUT = [
    ("a", "2024-02-01 00:00", "purchase", 99.0, "toys", None),  # exactly as_of: excluded
    ("a", "2024-02-03 10:00", "view", None, "toys", None),
    ("b", "2024-02-02 10:00", "cart", None, "books", None),
    ("d", "2024-02-05 10:00", "purchase", 40.0, "home", None),
]


@pytest.fixture
def log() -> pd.DataFrame:
    return make_log(CALIBRATION + HOLDOUT)


def test_exact_values_on_hand_built_log(log):
    f = behaviour_features(log, AS_OF, windows=(7, 30))
    assert list(f.index) == ["a", "b", "e"]  # customers: >= 1 purchase before as_of
    assert f.attrs["history_days"] == pytest.approx(122.5)
    a, b, e = f.loc["a"], f.loc["b"], f.loc["e"]
    # a -----------------------------------------------------------------------------
    assert a["recency_days"] == pytest.approx(7.0)  # as_of - 2024-01-25 00:00
    assert a["n_purchase_days"] == 3 and a["frequency"] == 2
    assert a["tenure_days"] == pytest.approx(62 - 10 / 24)  # as_of - 2023-12-01 10:00
    assert a["monetary_total"] == pytest.approx(75.0)
    assert a["monetary_mean"] == pytest.approx(25.0)
    # 7-day window [2024-01-25 00:00, as_of): lower bound inclusive
    assert a["purchases_7d"] == 1 and a["spend_7d"] == pytest.approx(15.0)
    assert a["views_7d"] == 0  # 2024-01-24 23:59:59 is one second too early
    assert a["carts_7d"] == 2 and a["reviews_7d"] == 1
    # 30-day window [2024-01-02 00:00, as_of)
    assert a["purchases_30d"] == 2 and a["spend_30d"] == pytest.approx(55.0)
    assert a["views_30d"] == 2 and a["carts_30d"] == 3 and a["reviews_30d"] == 1
    # gaps between purchase days: 32 and 23 days -> mean 27.5, sd sqrt(40.5)
    assert a["ipt_mean_days"] == pytest.approx(27.5)
    assert a["ipt_std_days"] == pytest.approx(np.sqrt(40.5))
    assert a["activity_trend"] == pytest.approx(1.0)  # 3 purchase days in 90 d, 0 before
    assert a["browse_to_buy"] == pytest.approx(2 / 3)  # 2 views / 3 purchase days
    assert a["days_since_last_view"] == pytest.approx(7 + 1 / 86_400)
    assert a["cart_abandonment"] == pytest.approx(0.5)  # 1 of 2 uncensored carts
    assert a["days_since_last_cart"] == pytest.approx(1 / 24)
    assert a["n_categories"] == 2 and a["top_category_share"] == pytest.approx(0.75)
    # b: one purchase 1 minute before as_of --------------------------------------------
    assert b["recency_days"] == pytest.approx(1 / 1440)
    assert b["tenure_days"] == pytest.approx(1 / 1440)
    assert b["frequency"] == 0 and b["monetary_mean"] == pytest.approx(12.5)
    assert b["ipt_mean_days"] == pytest.approx(1 / 1440)  # < 2 purchase days: tenure
    assert b["ipt_std_days"] == 0.0
    assert b["browse_to_buy"] == 0.0 and b["cart_abandonment"] == 0.0
    assert b["days_since_last_view"] == pytest.approx(122.5)  # never: history length H
    assert b["days_since_last_cart"] == pytest.approx(122.5)
    assert b["n_categories"] == 0 and b["top_category_share"] == 0.0
    # e: gaps 45 and 56 days; trend r = 2 (11-15, 01-10), p = 1 (10-01) -> 1/3 -----------
    assert e["recency_days"] == pytest.approx(22.0)
    assert e["tenure_days"] == pytest.approx(122.5)
    assert e["ipt_mean_days"] == pytest.approx(50.5)
    assert e["ipt_std_days"] == pytest.approx(np.sqrt(60.5))
    assert e["activity_trend"] == pytest.approx(1 / 3)
    assert e["purchases_30d"] == 1 and e["spend_30d"] == pytest.approx(20.0)
    assert not f.isna().any().any()


def test_columns_groups_and_dtypes(log):
    f = behaviour_features(log, AS_OF, windows=(7, 30))
    groups = feature_groups(f)
    assert groups["rfm"] == [
        "recency_days",
        "frequency",
        "n_purchase_days",
        "tenure_days",
        "monetary_mean",
        "monetary_total",
    ]
    assert groups["windows"] == [
        f"{k}_{w}d" for k in ("purchases", "spend", "views", "carts", "reviews") for w in (7, 30)
    ]
    assert groups["timing"] == ["ipt_mean_days", "ipt_std_days", "activity_trend"]
    assert groups["browsing"] == [
        "browse_to_buy",
        "days_since_last_view",
        "cart_abandonment",
        "days_since_last_cart",
    ]
    assert groups["category"] == ["n_categories", "top_category_share"]
    assert sorted(sum(groups.values(), [])) == sorted(f.columns)
    assert f["purchases_7d"].dtype == "int64" and f["spend_7d"].dtype == "float64"


def test_explicit_customers_get_rows_with_documented_fills(log):
    f = behaviour_features(log, AS_OF, windows=(7, 30), customers=pd.Index(["e", "c", "zz"]))
    assert list(f.index) == ["e", "c", "zz"]
    c, zz = f.loc["c"], f.loc["zz"]
    assert c["n_purchase_days"] == 0 and c["frequency"] == 0 and c["monetary_mean"] == 0
    assert c["recency_days"] == pytest.approx(122.5) and c["tenure_days"] == pytest.approx(122.5)
    assert c["browse_to_buy"] == 1.0  # 1 view / max(0, 1)
    assert c["days_since_last_view"] == pytest.approx(92.0)
    assert zz["days_since_last_view"] == pytest.approx(122.5) and zz["views_30d"] == 0
    assert not f.isna().any().any()


def test_events_at_or_after_as_of_never_change_features(log):
    before = behaviour_features(log, AS_OF, windows=(7, 30))
    extra = make_log(
        [
            ("a", "2024-02-01 00:00", "cart", None, "toys", None),
            ("b", "2024-02-01 00:00:01", "purchase", 500.0, "toys", None),
            ("b", "2024-02-02 00:00", "review", None, "toys", 1),
            ("new", "2024-03-01 00:00", "purchase", 9.0, "books", None),
        ]
    )
    edited = log.copy()
    late = edited["ts"] >= AS_OF
    edited.loc[late, "amount"] = edited.loc[late, "amount"] * 10
    edited.loc[late, "ts"] = edited.loc[late, "ts"] + DAY
    changed = pd.concat([edited, extra], ignore_index=True)
    pd.testing.assert_frame_equal(behaviour_features(changed, AS_OF, windows=(7, 30)), before)


def test_shifting_as_of_equals_filtering_the_log(log):
    earlier = pd.Timestamp("2024-01-20", tz="UTC")
    on_full = behaviour_features(log, earlier)
    on_filtered = behaviour_features(log.loc[log["ts"] < earlier], earlier)
    pd.testing.assert_frame_equal(on_full, on_filtered)
    assert "b" not in on_full.index and on_full.loc["a", "recency_days"] == pytest.approx(
        18 - 20 / 24  # 2024-01-20 - 2024-01-02 20:00
    )


def test_purchases_only_data_omits_browsing_columns():
    events = make_log(
        [r for r in CALIBRATION if r[2] == "purchase"]
        + [("a", "2024-02-03 10:00", "view", None, "toys", None)]  # holdout views: no effect
    )
    events["category"] = pd.Series(np.nan, index=events.index, dtype="str")
    f = behaviour_features(events, AS_OF, windows=(7, 30))
    groups = feature_groups(f)
    assert groups["browsing"] == [] and groups["category"] == []
    assert groups["windows"] == [f"{k}_{w}d" for k in ("purchases", "spend") for w in (7, 30)]
    assert f.loc["a", "recency_days"] == pytest.approx(7.0)


def test_agrees_with_make_targets_on_shopsim():
    sim = simulate_shop(ShopSimConfig(n_users=600), seed=3)
    split = Split.from_dates("2024-06-30", "2024-12-31")
    targets = make_targets(sim.events, split)
    f = behaviour_features(sim.events, split.calibration_end)
    pd.testing.assert_index_equal(f.index, targets.index)
    np.testing.assert_array_equal(f["n_purchase_days"], targets["cal_purchases"])
    np.testing.assert_allclose(f["monetary_total"], targets["cal_spend"])
    assert (f["recency_days"] <= f["tenure_days"]).all()
    assert (f["purchases_7d"] <= f["purchases_30d"]).all()
    assert (f["purchases_365d"] <= f["n_purchase_days"]).all()


def test_rejects_empty_history_and_bad_windows(log):
    with pytest.raises(ValueError, match="no events before"):
        behaviour_features(log, "2020-01-01")
    with pytest.raises(ValueError, match="windows"):
        behaviour_features(log, AS_OF, windows=(7, 7))


def test_scaler_fits_on_training_users_only_and_round_trips(log):
    f = behaviour_features(log, AS_OF, windows=(7, 30), customers=pd.Index(["a", "b", "e", "c"]))
    train = pd.Index(["a", "b", "e"])
    scaler = FeatureScaler().fit(f, train)
    other = f.copy()
    other.loc["c"] = other.loc["c"] * 1000 + 7  # a non-training user changes nothing
    assert FeatureScaler().fit(other, train).to_dict() == scaler.to_dict()
    scaled = scaler.transform(f)
    assert scaled.index.equals(f.index) and list(scaled.columns) == list(f.columns)
    np.testing.assert_allclose(scaled.loc[train].mean(), 0.0, atol=1e-12)
    varying = f.loc[train].std(ddof=0) > 0
    np.testing.assert_allclose(scaled.loc[train, varying].std(ddof=0), 1.0)
    assert "monetary_total" not in scaler.log_columns or f["monetary_total"].min() >= 0
    assert all(f.loc[train, c].min() >= 0 for c in scaler.log_columns)
    restored = FeatureScaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
    pd.testing.assert_frame_equal(restored.transform(f), scaled)


def test_scaler_log_rule_explicit_columns():
    frame = pd.DataFrame({"x": [0.0, 1.0, 3.0, 100.0], "y": [-1.0, 0.0, 1.0, 2.0]})
    scaler = FeatureScaler().fit(frame, log_columns=["x"])
    expected = np.log1p(frame["x"])
    expected = (expected - expected.mean()) / expected.std(ddof=0)
    np.testing.assert_allclose(scaler.transform(frame)["x"], expected)
    assert FeatureScaler().fit(frame).log_columns == ["x"]  # skewed, non-negative
    with pytest.raises(ValueError, match="negative"):
        scaler.transform(frame.assign(x=-1.0))


def test_string_encoders_on_chunked_arrow_columns():
    chunked = pa.chunked_array([["b", "a", None], ["a", "c"]], pa.large_string())
    values = pd.Series(pd.arrays.ArrowStringArray(chunked), dtype="str")
    codes, dictionary = encode_strings(values)
    assert codes.dtype == np.int32 and codes[2] == -1
    assert [dictionary[c].as_py() if c >= 0 else None for c in codes] == ["b", "a", None, "a", "c"]
    types = pd.Series(["view", "review", "click", None], dtype="str")
    np.testing.assert_array_equal(event_type_codes(types), [0, 3, -1, -1])


def test_rfm_style_columns_leave_out_browsing_reviews_and_categories():
    from helpers.features.behaviour import rfm_style_columns

    frame = pd.DataFrame(
        columns=[
            "recency_days",
            "frequency",
            "purchases_30d",
            "spend_30d",
            "views_30d",
            "carts_30d",
            "reviews_30d",
            "ipt_mean_days",
            "browse_to_buy",
            "n_categories",
        ]
    )
    assert rfm_style_columns(frame) == [
        "recency_days",
        "frequency",
        "purchases_30d",
        "spend_30d",
        "ipt_mean_days",
    ]
