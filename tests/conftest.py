"""Shared fixtures: small hand-built event logs with known answers."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pandas as pd
import pytest

from helpers.data.schema import clean_events


def make_events(rows: list[tuple]) -> pd.DataFrame:
    """Canonical events from (user_id, ts, event_type, amount) tuples."""
    raw = pd.DataFrame(rows, columns=["user_id", "ts", "event_type", "amount"])
    events, _ = clean_events(raw, "fixture", as_of="2030-01-01")
    return events


@pytest.fixture
def tiny_log() -> pd.DataFrame:
    """Three customers around a cutoff of 2024-01-31 (holdout to 2024-02-29).

    * ``a``: buys twice on 2024-01-05 (one purchase day, spend 30), once on 2024-01-20
      (spend 5), once in the holdout on 2024-02-10 (spend 7) and again after the
      holdout (ignored);
    * ``b``: buys on 2024-01-31 23:59 (last minute of calibration), nothing after;
    * ``c``: only browses in calibration and buys first in the holdout (not a customer);
    * ``d``: first seen in the holdout, browsing only.
    """
    return make_events(
        [
            ("a", "2024-01-05 10:00", "purchase", 10.0),
            ("a", "2024-01-05 18:00", "purchase", 20.0),
            ("a", "2024-01-19 09:00", "view", None),
            ("a", "2024-01-20 09:30", "purchase", 5.0),
            ("a", "2024-02-10 12:00", "purchase", 7.0),
            ("a", "2024-03-15 12:00", "purchase", 100.0),
            ("b", "2024-01-31 23:59", "purchase", 12.5),
            ("c", "2024-01-10 08:00", "view", None),
            ("c", "2024-02-01 00:00", "purchase", 40.0),
            ("d", "2024-02-02 00:00", "view", None),
        ]
    )
