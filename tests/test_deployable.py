"""The deployable protocol (:mod:`helpers.apply.deployable`, :mod:`helpers.apply.protocol`).

* rolling anchors and the rate target scaled to the horizon, with known answers;
* the closed-form BG/NBD inputs against the study's own BG/NBD;
* the inner time split reads calibration data only, and CDNOW's 39/39 weeks get a
  validation horizon of half the calibration period;
* **no leakage**: changing every holdout event leaves the deployable predictions, the
  chosen recipe and the fusion weights unchanged;
* several anchors give more training rows than one, and the deep model trains on them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import make_events

from helpers.apply import deployable as dp
from helpers.apply import protocol
from helpers.apply.scoring import score_customers
from helpers.data.registry import load_dataset
from helpers.data.split import Split, make_targets
from helpers.evaluation.metrics import normalized_gini
from helpers.models import btyd

CUTOFF, END = "2024-06-30", "2024-12-31"
FAST = {"gbdt_max_rounds": 60, "gbdt_early_stopping": 10}


def day(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


@pytest.fixture(scope="module")
def shop():
    data = load_dataset("shopsim", seed=7, n_users=900, start="2023-01-01", cutoff=CUTOFF,
                        holdout_end=END)  # fmt: skip
    split = Split.from_dates(CUTOFF, END)
    return data.events, split, make_targets(data.events, split)


# ------------------------------------------------------------------ known answers


def _buyers(n: int, first: str, again: list[str]) -> pd.DataFrame:
    rows = []
    for i in range(n):
        rows.append((f"u{i:02d}", f"{first} 10:00", "purchase", 10.0))
        rows += [(f"u{i:02d}", f"{d} 10:00", "purchase", 5.0 + i) for d in again]
    return make_events(rows)


def test_anchors_step_back_half_a_window_while_history_and_buyers_allow():
    events = _buyers(dp.MIN_TRAIN_BUYERS, "2024-01-01", ["2024-03-05", "2024-04-20", "2024-06-10"])
    anchors = dp.anchor_days(events, "2024-06-30", 40, 5)
    # cutoff - 40 = 2024-05-21; then 20 days back each time
    assert anchors[:2] == [day("2024-05-21"), day("2024-05-01")]
    assert all(a - b == pd.Timedelta(days=20) for a, b in zip(anchors, anchors[1:], strict=False))
    # an anchor needs max(28, 20) days of history after the first purchase (2024-01-01)
    assert min(anchors) >= day("2024-01-29")
    # and MIN_TRAIN_BUYERS repeat buyers in its window: (2024-02-10, 2024-03-21] holds the
    # 2024-03-05 purchases, (2024-01-21, 2024-03-01] none
    assert day("2024-02-10") in anchors and day("2024-01-21") not in anchors
    assert dp.anchor_days(events.iloc[:0], "2024-06-30", 40, 3) == []


def test_the_first_anchor_needs_buyers_only_like_the_former_single_window():
    events = _buyers(dp.MIN_TRAIN_BUYERS, "2024-06-01", ["2024-06-20"])
    assert dp.anchor_days(events, "2024-06-30", 10, 1) == [day("2024-06-20")]
    assert dp.anchor_days(events, "2024-06-30", 20, 1) == []  # nobody bought again


def test_rate_target_scales_spend_and_compounds_p_zero():
    out = dp.scale_to_horizon(
        {"spend": np.array([1.0, 3.0]), "zero": np.array([0.5, 1.2]), "q90": np.array([2.0])},
        window_days=30,
        horizon_days=90,
    )
    np.testing.assert_allclose(out["spend"], [3.0, 9.0])
    np.testing.assert_allclose(out["q90"], [6.0])
    np.testing.assert_allclose(out["zero"], [0.125, 1.0])  # P^(H/h), clipped to [0, 1]
    same = dp.scale_to_horizon({"zero": np.array([0.3])}, 30, 30)
    np.testing.assert_allclose(same["zero"], [0.3])


def test_recipe_window_labels_and_round_trip():
    recipe = dp.Recipe(0.5, 4, True)
    assert recipe.window_days(184) == 92 and dp.Recipe(0.01).window_days(184) == 7
    assert recipe.label == "window H/2, 4 anchors + BTYD inputs"
    assert dp.Recipe.from_dict(recipe.to_dict()) == recipe
    assert dp.SINGLE_WINDOW == dp.Recipe(1.0, 1, False)
    assert len({r.label for r in dp.CANDIDATES}) == len(dp.CANDIDATES)


def test_supervised_columns_keep_the_btyd_inputs():
    frame = pd.DataFrame(columns=["frequency", "views_30d", "btyd_p_alive", "btyd_spend"])
    assert dp.supervised_columns(frame, "gbdt", ["views_30d"]) == [
        "views_30d", "btyd_p_alive", "btyd_spend",
    ]  # fmt: skip
    assert dp.supervised_columns(frame, "gbdt", None)[:2] == ["frequency", "views_30d"]


# ------------------------------------------------------------------ BTYD inputs


def test_closed_form_bgnbd_ranks_like_the_studys_bgnbd(shop):
    events, split, customers = shop
    cut = day(CUTOFF)
    summary = btyd.btyd_summary(events, cut, day(END))
    ours = dp.bgnbd_inputs(summary, split.holdout_days / 7.0)
    theirs = btyd.predict_btyd(summary, "bgnbd")
    assert ours.notna().all().all() and (ours["btyd_p_alive"].between(0, 1)).all()
    assert (ours.loc[summary["frequency_cal"] == 0, "btyd_p_alive"] == 1.0).all()
    y = summary["spend_holdout"]
    gap = normalized_gini(y, ours["btyd_spend"]) - normalized_gini(y, theirs["expected_spend"])
    assert abs(gap) < 0.01
    corr = np.corrcoef(ours["btyd_purchases"], theirs["expected_purchases"])[0, 1]
    assert corr > 0.99


# ------------------------------------------------------------------ the recipe and leakage


def test_training_set_stacks_anchors_with_their_own_targets(shop):
    events, split, _ = shop
    seen = events.loc[events["ts"] < split.calibration_end]
    cache = dp.FeatureCache(seen, (7, 30, 90, 365), 1)
    one = dp.training_set(cache, CUTOFF, 184, dp.Recipe(0.5, 1, False))
    four = dp.training_set(cache, CUTOFF, 184, dp.Recipe(0.5, 4, True))
    assert one.window_days == four.window_days == 92 and len(four.anchors) > 1
    assert len(four.target) == sum(len(f) for f in four.frames.values()) > len(one.target)
    for t, frame in four.frames.items():
        rows = four.anchor == t.value
        expected = dp.window_spend(seen, t, t + pd.Timedelta(days=92)).reindex(frame.index)
        np.testing.assert_allclose(four.target[rows], expected.fillna(0.0).to_numpy())
        assert pd.Timestamp(frame.attrs["as_of"]) == t + pd.Timedelta(days=1)
    assert set(dp.BTYD_INPUTS) <= set(four.features.columns)
    assert not set(dp.BTYD_INPUTS) & set(one.features.columns)


def test_inner_split_of_a_calibration_as_long_as_the_holdout_halves_it():
    """CDNOW's protocol: 39 weeks of calibration, 39 weeks of holdout."""
    rows = []
    for i in range(200):
        for d in pd.date_range("2024-01-01", "2024-09-29", freq=f"{7 + i % 23}D"):
            rows.append((f"c{i:03d}", f"{d.date()} 12:00", "purchase", 1.0 + i % 7))
    events = make_events(rows)
    choice = dp.choose_recipe(events, "2024-09-29", 273, seed=0,
                              candidates=[dp.Recipe(1.0), dp.Recipe(0.5)], **FAST)  # fmt: skip
    assert choice.validation_days == 136  # (2024-09-29 - 2024-01-01) // 2 days
    assert choice.validation_cutoff == day("2024-09-29") - pd.Timedelta(days=136)
    table = choice.table
    assert np.isnan(table.loc["window H, 1 anchor", "validation_gini"])  # no room for H
    assert "no training window" in table.loc["window H, 1 anchor", "note"]
    assert choice.recipe == dp.Recipe(0.5)


def _move_holdout(events: pd.DataFrame, split: Split) -> pd.DataFrame:
    """Every holdout event changed: amounts x 7, shifted a week, and a new big spender."""
    later = events["ts"] >= split.calibration_end
    moved = events.copy()
    moved.loc[later, "amount"] = moved.loc[later, "amount"] * 7.0
    moved.loc[later, "ts"] = moved.loc[later, "ts"] + pd.Timedelta(days=7)
    extra = moved.loc[later & (moved["event_type"] == "purchase")].head(50).copy()
    extra["amount"] = 10_000.0
    return pd.concat([moved, extra], ignore_index=True)


def test_no_holdout_event_reaches_the_deployable_predictions(shop):
    events, split, customers = shop
    kwargs = {"candidates": [dp.Recipe(0.5, 1, False), dp.Recipe(0.5, 4, True)],
              "learned": ("gbdt", "gbdt_rfm"), **FAST}  # fmt: skip
    a = protocol.deployable_predictions(
        events, split.cutoff, split.holdout_days, customers.index, 3, **kwargs
    )
    b = protocol.deployable_predictions(
        _move_holdout(events, split), split.cutoff, split.holdout_days, customers.index, 3,
        **kwargs,
    )  # fmt: skip
    assert a.recipe == b.recipe
    pd.testing.assert_frame_equal(a.choice.table, b.choice.table)
    pd.testing.assert_frame_equal(a.predictions, b.predictions)
    assert a.weights == b.weights and set(a.weights) == {"stack", "average"}
    assert set(a.predictions["model"]) == {"gbdt", "gbdt_rfm", "stack", "average"}
    assert a.predictions.groupby("model").size().eq(len(customers)).all()
    assert sum(a.weights["average"].values()) == pytest.approx(1.0)


def test_the_deployable_rows_are_stage_07s_production_code(shop):
    """One code path: the deployable LightGBM row is score_customers at the cutoff."""
    events, split, customers = shop
    recipe = dp.Recipe(0.5, 4, True)
    run = protocol.deployable_predictions(
        events, split.cutoff, split.holdout_days, customers.index, 3, learned=("gbdt",),
        fusions=(), candidates=[recipe], **FAST,
    )  # fmt: skip
    direct = score_customers(events, split.cutoff, split.holdout_days, "gbdt", seed=3,
                             progress=False, recipe=recipe, btyd_models=(), **FAST)  # fmt: skip
    ours = run.predictions.set_index("user_id")["predicted_spend"]
    np.testing.assert_allclose(ours, direct.scores["spend__gbdt"].reindex(customers.index))


def test_text_rows_are_not_deployable_and_say_why(shop):
    from helpers.apply.deep import DeepProduction

    events, split, customers = shop
    run = protocol.deployable_predictions(
        events, split.cutoff, split.holdout_days, customers.index, 3, learned=(),
        deep={"deep": DeepProduction("deep", {"use_text": True}, 1, "t"), "deep_mse": None},
        fusions=("stack",), candidates=[dp.Recipe(0.5)], **FAST,
    )  # fmt: skip
    assert run.not_fitted["deep"] == protocol.TEXT_REASON
    assert run.not_fitted["deep_mse"] == "no configuration"
    assert "LightGBM" in run.not_fitted["stack"] and run.predictions.empty


def test_deep_model_trains_on_every_anchor(shop):
    from helpers.apply.deep import DeepProduction

    events, split, customers = shop
    production = DeepProduction("deep_no_text", {"use_text": False, "hidden_size": 8,
                                                 "max_len": 8}, 1, "test")  # fmt: skip
    run = score_customers(events, split.cutoff, split.holdout_days, "deep_no_text", seed=1,
                          progress=False, deep=production, recipe=dp.Recipe(0.5, 3, False),
                          btyd_models=(), intervals=False, **FAST)  # fmt: skip
    s = run.scores
    assert s["spend__deep_no_text"].notna().all() and (s["spend__deep_no_text"] >= 0).all()
    assert s["p_zero__deep_no_text"].between(0, 1).all()
    assert s["spend_q10"].notna().all()  # the deep row's own interval
    assert set(run.boosters) == {"spend", "zero"}  # no quantile boosters asked for
