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
    monthly = [f"2024-{m:02d}-05" for m in range(2, 7)] + ["2024-06-25"]
    events = _buyers(dp.MIN_TRAIN_BUYERS, "2024-01-01", monthly)
    # cutoff - 40 = 2024-05-21, then 20 days back each time, while an anchor keeps
    # max(28, 40 // 2) days of history after the first purchase (2024-01-01)
    assert dp.anchor_days(events, "2024-06-30", 40, 8) == [
        day(d) for d in ("2024-05-21", "2024-05-01", "2024-04-11", "2024-03-22", "2024-03-02",
                         "2024-02-11")
    ]  # fmt: skip
    assert dp.anchor_days(events, "2024-06-30", 40, 2) == [day("2024-05-21"), day("2024-05-01")]
    assert dp.anchor_days(events, "2024-06-30", 40, 8, min_history_days=60)[-1] == day("2024-03-02")
    # and each window needs MIN_TRAIN_BUYERS repeat buyers: (2024-04-11, 2024-05-21] holds
    # none here, so the anchors stop there
    sparse = _buyers(dp.MIN_TRAIN_BUYERS, "2024-01-01", ["2024-03-05", "2024-06-10"])
    assert dp.anchor_days(sparse, "2024-06-30", 40, 8) == [day("2024-05-21"), day("2024-05-01")]
    assert dp.anchor_days(events.iloc[:0], "2024-06-30", 40, 3) == []


def test_the_first_anchor_needs_buyers_only_like_the_former_single_window():
    events = _buyers(dp.MIN_TRAIN_BUYERS, "2024-06-01", ["2024-06-25"])
    # 19 days of history are enough for the first anchor (not for a further one)
    assert dp.anchor_days(events, "2024-06-30", 10, 3) == [day("2024-06-20")]
    assert dp.anchor_days(events, "2024-06-30", 30, 1) == []  # nobody bought before


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


def test_closed_form_bgnbd_recovers_the_parameters_it_was_simulated_with():
    """BG/NBD (Fader, Hardie & Lee 2005): rate ~ Gamma(r, alpha), drop-out after each
    purchase with p ~ Beta(a, b); the maximum-likelihood fit recovers the four."""
    rng = np.random.default_rng(5)
    r, alpha, a, b, n = 0.6, 4.0, 0.8, 2.5, 6000
    rate, p = rng.gamma(r, 1.0 / alpha, n), rng.beta(a, b, n)
    age = rng.uniform(20.0, 40.0, n)
    x, t_x = np.zeros(n), np.zeros(n)
    for i in range(n):
        t = 0.0
        while True:
            t += rng.exponential(1.0 / rate[i])
            if t > age[i]:
                break
            x[i], t_x[i] = x[i] + 1, t
            if rng.random() < p[i]:
                break
    summary = pd.DataFrame({"frequency_cal": x, "recency_cal": t_x, "T_cal": age,
                            "monetary_value_cal": np.where(x > 0, 20.0, 0.0)})  # fmt: skip
    out = dp.bgnbd_inputs(summary, 10.0)
    fitted = out.attrs["bgnbd"]
    for name, true in {"r": r, "alpha": alpha, "a": a, "b": b}.items():
        assert fitted[name] == pytest.approx(true, rel=0.25), name
    assert out.notna().all().all() and out["btyd_p_alive"].between(0, 1).all()
    assert (out.loc[x == 0, "btyd_p_alive"] == 1.0).all()
    assert out["btyd_purchases"].corr(pd.Series(x)) > 0.5
    np.testing.assert_allclose(out["btyd_spend"], out["btyd_purchases"] * 20.0, rtol=0.2)


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
        assert pd.Timestamp(cache.features(t).attrs["as_of"]) == t + pd.Timedelta(days=1)
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
    # a window of H_v days starts on the first day of data: features of one day
    assert table.loc["window H, 1 anchor", "rows"] == 200
    assert table["validation_gini"].idxmax() == "window H/2, 1 anchor"
    assert choice.recipe == dp.Recipe(0.5)
    # no customer before the only anchor: the candidate says so; none left: an error
    later = events.loc[events["ts"] >= day("2024-01-10")]
    short = dp.choose_recipe(later, "2024-09-29", 273, seed=0,
                             candidates=[dp.Recipe(1.0), dp.Recipe(0.5)], **FAST)  # fmt: skip
    assert np.isnan(short.table.loc["window H, 1 anchor", "validation_gini"])
    assert "no training window" in short.table.loc["window H, 1 anchor", "note"]
    with pytest.raises(ValueError, match="no deployable recipe"):
        dp.choose_recipe(later, "2024-09-29", 273, seed=0, candidates=[dp.Recipe(1.0)], **FAST)


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
              "learned": ("gbdt",), **FAST}  # fmt: skip
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
    assert set(a.predictions["model"]) == {"gbdt", "stack", "average"}
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


def test_deep_model_trains_on_every_anchor_with_the_btyd_inputs(shop, monkeypatch):
    from helpers.apply import scoring
    from helpers.apply.deep import DeepProduction

    facts = []
    real = scoring.fit_score_deep

    def spy(*args, **kwargs):  # the real training, its facts recorded
        out = real(*args, **kwargs)
        facts.append(out[1])
        return out

    monkeypatch.setattr(scoring, "fit_score_deep", spy)
    events, split, customers = shop
    production = DeepProduction("deep_no_text", {"use_text": False, "hidden_size": 8,
                                                 "max_len": 8}, 1, "test")  # fmt: skip
    run = score_customers(events, split.cutoff, split.holdout_days, "deep_no_text", seed=1,
                          progress=False, deep=production, recipe=dp.Recipe(0.5, 3, True),
                          btyd_models=(), intervals=False, **FAST)  # fmt: skip
    s = run.scores
    assert s["spend__deep_no_text"].notna().all() and (s["spend__deep_no_text"] >= 0).all()
    assert s["p_zero__deep_no_text"].between(0, 1).all()
    assert s["spend_q10"].notna().all()  # the deep row's own interval
    assert set(run.boosters) == {"spend", "zero"}  # no quantile boosters asked for
    seen = events.loc[events["ts"] < split.calibration_end]
    cache = dp.FeatureCache(seen, (7, 30, 90, 365), 1)
    rows = dp.training_set(cache, split.cutoff, split.holdout_days, dp.Recipe(0.5, 3, True))
    assert len(rows.anchors) == 3 and facts[0]["train_rows"] == len(rows.target)
    assert facts[0]["train_customers"] == len(rows.frames[rows.anchors[0]])
