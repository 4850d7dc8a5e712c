"""Known answers of the history and rhythm columns of the scored table."""

import pandas as pd
import pytest
from conftest import make_events

from helpers.apply.rhythm import history_and_rhythm


def test_rhythm_by_hand():
    events = make_events(
        [
            # a: purchase days Jan 1, Jan 11 (two purchases that day), Jan 21: gap 10 days
            ("a", "2024-01-01 09:00", "purchase", 5.0),
            ("a", "2024-01-11 09:00", "purchase", 5.0),
            ("a", "2024-01-11 18:00", "purchase", 2.0),
            ("a", "2024-01-21 09:00", "purchase", 8.0),
            ("a", "2024-02-20 09:00", "purchase", 99.0),  # after as_of: ignored
            # b: one purchase day: no rhythm yet
            ("b", "2024-01-25 12:00", "purchase", 7.5),
            ("c", "2024-01-02 12:00", "view", None),  # never bought
        ]
    )
    out = history_and_rhythm(
        events, pd.Timestamp("2024-02-05", tz="UTC"), pd.Index(["a", "b", "c"])
    )
    assert out.loc["a", "historic_spend"] == 20.0
    assert out.loc["a", "days_since_last_purchase"] == 15
    assert out.loc["a", "usual_days_between_purchases"] == 10.0
    assert out.loc["a", "next_purchase_due"] == "2024-01-31"
    assert out.loc["a", "days_overdue"] == 5.0
    assert out.loc["b", "historic_spend"] == 7.5
    assert out.loc["b", "days_since_last_purchase"] == 11
    assert pd.isna(out.loc["b", "usual_days_between_purchases"])
    assert pd.isna(out.loc["b", "next_purchase_due"]) and pd.isna(out.loc["b", "days_overdue"])
    assert out.loc["c", "historic_spend"] == 0.0
    assert pd.isna(out.loc["c", "days_since_last_purchase"])


def test_not_yet_due_is_negative():
    events = make_events(
        [
            ("a", "2024-01-01 09:00", "purchase", 1.0),
            ("a", "2024-01-31 09:00", "purchase", 1.0),
        ]
    )
    out = history_and_rhythm(events, pd.Timestamp("2024-02-10", tz="UTC"), pd.Index(["a"]))
    assert out.loc["a", "days_overdue"] == pytest.approx(-20.0)  # due on March 1
    assert out.loc["a", "next_purchase_due"] == "2024-03-01"
