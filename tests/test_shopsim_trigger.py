"""The acute satisfaction channel of shopsim (``churn_trigger``, silent defection)."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from helpers.data.shopsim import ShopSimConfig, _trigger_probability, simulate_shop


def _digest(frame: pd.DataFrame) -> str:
    values = pd.util.hash_pandas_object(frame, index=True).to_numpy()
    return hashlib.sha256(values.tobytes()).hexdigest()


def test_default_world_is_bit_identical_to_the_simulator_before_the_trigger() -> None:
    # digests of the simulator as it was before churn_trigger existed (same config, seed):
    # the default world, every stage's input and the embedding cache, must not move
    sim = simulate_shop(ShopSimConfig(n_users=400), seed=11)
    assert _digest(sim.events) == (
        "6124d73981e952e73aed5934ee80f43f2f698a6d2afda04cad544ee3bdb8daf8"
    )
    assert _digest(sim.truth) == (
        "8d47243231e53181e57fd44cbead696b7dfe6c14726f520b6e5a3640cfeacf81"
    )


@pytest.fixture(scope="module")
def pair() -> tuple:
    off = simulate_shop(ShopSimConfig(n_users=1_500, churn_trigger=0.0), seed=3)
    on = simulate_shop(ShopSimConfig(n_users=1_500, churn_trigger=6.0), seed=3)
    return off, on


def _rows(events: pd.DataFrame, kind: str) -> pd.DataFrame:
    rows = events[events["event_type"] == kind]
    return rows[["user_id", "ts", "item_id", "amount"]].astype(str)


def test_trigger_only_removes_purchases_and_customers_keep_browsing(pair) -> None:
    off, on = pair
    bought_off, bought_on = _rows(off.events, "purchase"), _rows(on.events, "purchase")
    merged = bought_on.merge(bought_off, how="left", indicator=True)
    assert (merged["_merge"] == "both").all()  # the same potential purchases, cut earlier
    assert len(bought_on) < 0.9 * len(bought_off)
    # death is unchanged: browsing sessions (views outside purchase journeys) stay
    pd.testing.assert_series_equal(off.truth["death"], on.truth["death"])
    views_off = (off.events["event_type"] == "view").sum()
    views_on = (on.events["event_type"] == "view").sum()
    assert 0.7 * views_off < views_on < views_off
    # who stopped buying expects nothing; nobody expects more than without the trigger
    e_off = off.truth["expected_holdout_purchases"].to_numpy()
    e_on = on.truth["expected_holdout_purchases"].to_numpy()
    assert (e_on <= e_off + 1e-12).all() and (e_on < e_off - 1e-9).mean() > 0.2


def test_review_truth_matches_the_review_events_and_the_ratings(pair) -> None:
    _, on = pair
    reviews = on.events[on.events["event_type"] == "review"]
    truth = on.review_truth
    assert len(truth) == len(reviews)
    left = truth[["user_id", "ts"]].astype(str).sort_values(["user_id", "ts"])
    right = reviews[["user_id", "ts"]].astype(str).sort_values(["user_id", "ts"])
    assert left.to_numpy().tolist() == right.to_numpy().tolist()
    joined = reviews.merge(truth, on=["user_id", "ts"])
    assert spearmanr(joined["rating"], joined["experience"])[0] > 0.5


def test_trigger_probability_matches_a_monte_carlo_draw() -> None:
    config = ShopSimConfig(churn_trigger=2.0)
    z = np.array([-1.0, 0.0, 1.5])
    rng = np.random.default_rng(0)
    w = config.experience_weight
    weights = np.array([0.2, 0.4, 0.2, 0.2])
    eps = rng.standard_normal((200_000, 4))
    for zi, p in zip(z, _trigger_probability(config, z), strict=True):
        x = (w * zi + np.sqrt(1 - w**2) * eps) @ weights
        draw = -np.expm1(-2.0 * np.maximum(-x, 0.0)).mean()
        assert abs(draw - p) < 3e-3
