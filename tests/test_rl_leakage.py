"""Leakage guard of the RL state: no holdout event reaches stage 05's population or actions.

Stage 05 (``notebooks/05_rl_policy.ipynb``) builds its customers from
``btyd.btyd_summary(events, split.cutoff, split.last_holdout_day)``, a frame that carries
the holdout columns beside the calibration ones, with the BTYD fits of stage 04a; one
wrong column name would let the holdout into the simulated customers' history. Stage 07
acts on the same state (:func:`helpers.apply.actions.recommend_actions`) and backtests
at the study's cutoff, where every later event is the "holdout".

As in the split tamper test (``tests/test_split.py``): every holdout event is changed
(amounts x 100, times moved within the holdout, so purchase days merge), existing
customers get extra holdout purchases, and an intruder appears who buys only in the
holdout. The population, the fits, the month-one actions of the RL policies and stage
07's backtest actions must not move, while the summary's holdout columns do.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest

from helpers import marketing
from helpers.apply.actions import recommend_actions
from helpers.apply.scoring import score_customers
from helpers.data.shopsim import ShopSimConfig, simulate_shop
from helpers.data.split import Split
from helpers.marketing.recommend import month_one_actions, save_policy
from helpers.models import btyd

SEED = 42
RL = {"effects": "mid", "budget": 0.2, "margin": 0.4, "horizon": 12}
SPLIT = Split.from_dates("2023-12-31", "2024-03-31")
HOLDOUT = ["frequency_holdout", "monetary_value_holdout", "spend_holdout"]
CALIBRATION = ["frequency_cal", "recency_cal", "T_cal", "monetary_value_cal"]


def _tamper(events: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Every event in ``[start, end)`` changed, extra purchases there, and an intruder."""
    out = events.copy()
    late = (out["ts"] >= start) & (out["ts"] < end)
    assert late.sum() > 1000, "the sample has holdout events to tamper with"
    out.loc[late, "amount"] = out.loc[late, "amount"] * 100
    out.loc[late, "ts"] = start + (out.loc[late, "ts"] - start) / 2  # still in the holdout
    purchases = out.loc[out["event_type"] == "purchase"]
    first = purchases.groupby("user_id").head(1)
    extra = first.assign(ts=start + pd.Timedelta(days=40, hours=3), amount=500.0)
    intruder = out.loc[late & (out["event_type"] == "purchase")].head(30)
    intruder = intruder.assign(user_id="intruder")
    both = pd.concat([out, extra, intruder], ignore_index=True)
    return both.sort_values(["user_id", "ts", "event_type"], ignore_index=True)


def _fits(summary: pd.DataFrame) -> dict[str, btyd.BTYDFit]:
    """Stage 04a's BTYD fits (calibration columns)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "bgnbd": btyd.fit_bgnbd(summary),
            "pareto_nbd": btyd.fit_pareto_nbd(summary),
            "gamma_gamma": btyd.fit_spend_model(summary),
        }


def _stage05(events: pd.DataFrame, truth: pd.DataFrame) -> dict:
    """Stage 05's population code on ``events`` (as in the notebook)."""
    summary = btyd.btyd_summary(events, SPLIT.cutoff, SPLIT.last_holdout_day)
    fits = {k: f.to_dict() for k, f in _fits(summary).items()}
    main_key, _ = marketing.choose_state_model(fits)
    alt_key, _ = marketing.choose_state_model(fits, prefer=("bgnbd", "pareto_nbd"))
    state = marketing.BTYDStateModel.from_fit(fits[main_key], fits["gamma_gamma"])
    alt = marketing.BTYDStateModel.from_fit(fits[alt_key], fits["gamma_gamma"])
    return {
        "summary": summary,
        "fits": fits,
        "state": state,
        "population": marketing.population_from_btyd(
            summary, state.population_family, state.params, state.gg_params, seed=SEED
        ),
        "alternative": marketing.population_from_btyd(
            summary, alt.population_family, alt.params, alt.gg_params, seed=SEED + 1
        ),
        "truth_population": marketing.population_from_truth(summary, truth),
    }


@pytest.fixture(scope="module")
def shop():
    sim = simulate_shop(
        ShopSimConfig(n_users=400, start="2023-01-01", cutoff=SPLIT.cutoff,
                      holdout_end=SPLIT.last_holdout_day),
        seed=3,
    )  # fmt: skip
    tampered = _tamper(sim.events, SPLIT.calibration_end, SPLIT.holdout_end)
    return {
        "events": sim.events,
        "tampered": tampered,
        "clean": _stage05(sim.events, sim.truth),
        "dirty": _stage05(tampered, sim.truth),
    }


def _assert_same_population(a: marketing.Population, b: marketing.Population) -> None:
    for f in dataclasses.fields(marketing.Population):
        left, right = getattr(a, f.name), getattr(b, f.name)
        if isinstance(left, np.ndarray):
            np.testing.assert_array_equal(left, right, err_msg=f.name)
        else:
            assert left == right, f.name


def test_the_tampering_reaches_the_summarys_holdout_columns(shop):
    clean, dirty = shop["clean"]["summary"], shop["dirty"]["summary"]
    assert "intruder" in set(shop["tampered"]["user_id"])
    assert "intruder" not in dirty.index  # first purchase in the holdout: not a customer
    assert dirty.attrs["n_customers_first_purchase_in_holdout"] == (
        clean.attrs["n_customers_first_purchase_in_holdout"] + 1
    )
    assert dirty.index.equals(clean.index)
    for col in HOLDOUT:
        assert not np.array_equal(dirty[col], clean[col]), col
    changed = dirty["frequency_holdout"] != clean["frequency_holdout"]
    assert changed.mean() > 0.5  # purchase counts moved for most customers
    assert dirty["spend_holdout"].sum() > 50 * clean["spend_holdout"].sum()
    pd.testing.assert_frame_equal(dirty[CALIBRATION], clean[CALIBRATION])


def test_rl_population_and_fits_ignore_the_holdout(shop):
    clean, dirty = shop["clean"], shop["dirty"]
    for name in ("bgnbd", "pareto_nbd", "gamma_gamma"):
        assert dirty["fits"][name]["params"] == clean["fits"][name]["params"], name
    assert clean["state"].family in ("pareto_nbd", "bgnbd", "nbd")
    for key in ("population", "alternative", "truth_population"):
        _assert_same_population(dirty[key], clean[key])
    pop = clean["population"]
    assert len(pop) == len(clean["summary"]) and pop.alive0.any() and (pop.x0 > 0).any()
    # the history is exactly the calibration columns
    np.testing.assert_array_equal(pop.x0, clean["summary"]["frequency_cal"])
    np.testing.assert_array_equal(pop.T0, clean["summary"]["T_cal"])


def _month_one(world: dict) -> dict[str, tuple[np.ndarray, np.ndarray, pd.DataFrame]]:
    """Initial state, scores and month-one actions of the stage-05 policies."""
    effects = marketing.TreatmentEffects.preset(RL["effects"])
    config = marketing.MarketingConfig(
        horizon=RL["horizon"], budget=RL["budget"], margin=RL["margin"]
    )
    state, pop = world["state"], world["population"]
    repeat = pop.x0 > 0
    median = float(np.median(pop.m0[repeat]))
    policies = dict(marketing.heuristic_policies(effects, config, median))
    policies["posterior_mpc"] = marketing.PosteriorMPCPolicy(effects, config, state)
    policies["rollout"] = marketing.RolloutPolicy(effects, config, state, lookahead=2)
    out = {}
    for name, policy in policies.items():
        sim = marketing.MarketingSimulator(pop, effects, config, state)
        obs = sim.reset(SEED)
        scores = np.asarray(policy.scores(obs, 0, sim), float)
        month = month_one_actions(
            policy, marketing.MarketingWorld(pop, effects, config, state), seed=SEED
        )
        out[name] = (obs, scores, month)
    return out


def test_rl_month_one_actions_ignore_the_holdout(shop):
    clean, dirty = _month_one(shop["clean"]), _month_one(shop["dirty"])
    assert list(clean) == list(dirty)
    for name in clean:
        (obs_a, scores_a, month_a), (obs_b, scores_b, month_b) = clean[name], dirty[name]
        np.testing.assert_array_equal(obs_a, obs_b, err_msg=name)
        np.testing.assert_array_equal(scores_a, scores_b, err_msg=name)
        pd.testing.assert_frame_equal(month_a, month_b, obj=name)
    # the comparisons are not vacuous: the RL rules contact the budget's 20 %
    n = len(shop["clean"]["population"])
    for name in ("one_step_uplift", "posterior_mpc", "rollout"):
        contacted = (clean[name][2]["action"] != "none").sum()
        assert contacted == int(np.floor(0.2 * n + 1e-9)), name


def _stage07(events: pd.DataFrame, policy_file) -> tuple:
    """Stage 07's backtest at the study's cutoff and its month-one actions."""
    past = score_customers(
        events, SPLIT.cutoff, SPLIT.holdout_days, "pareto_nbd", seed=SEED, progress=False,
        supervised="if_possible", gbdt_max_rounds=30, gbdt_early_stopping=5,
    )  # fmt: skip
    heuristic = recommend_actions(past.summary, past.btyd_fits, RL, SEED)
    learned = recommend_actions(
        past.summary, past.btyd_fits, RL, SEED, {"recommended_policy": "posterior_mpc"},
        policy_file=policy_file,
    )  # fmt: skip
    return past, heuristic, learned


def test_stage07_backtest_actions_ignore_events_after_as_of(shop, tmp_path):
    clean = shop["clean"]
    effects = marketing.TreatmentEffects.preset(RL["effects"])
    config = marketing.MarketingConfig(horizon=12, budget=0.2, margin=0.4)
    policy_file = tmp_path / "recommended_policy.pkl"
    save_policy(marketing.PosteriorMPCPolicy(effects, config, clean["state"]), policy_file)
    past_a, heur_a, learn_a = _stage07(shop["events"], policy_file)
    past_b, heur_b, learn_b = _stage07(shop["tampered"], policy_file)
    pd.testing.assert_frame_equal(past_a.summary, past_b.summary)
    pd.testing.assert_frame_equal(past_a.scores, past_b.scores)
    assert {k: f.params for k, f in past_a.btyd_fits.items()} == {
        k: f.params for k, f in past_b.btyd_fits.items()
    }
    for a, b in ((heur_a, heur_b), (learn_a, learn_b)):
        pd.testing.assert_frame_equal(a.table, b.table)
        assert (a.policy, a.policy_reason, a.state_reason) == (
            b.policy, b.policy_reason, b.state_reason,
        )  # fmt: skip
    assert heur_a.policy == "one_step_uplift" and learn_a.policy == "posterior_mpc"
    n = len(past_a.summary)
    for plan in (heur_a, learn_a):
        assert (plan.table["action"] != "none").sum() == int(np.floor(0.2 * n + 1e-9))
    # the backtest scores exactly stage 05's customers, from the calibration columns
    assert past_a.summary.index.equals(clean["summary"].index)
    pd.testing.assert_frame_equal(past_a.summary[CALIBRATION], clean["summary"][CALIBRATION])
    assert (past_a.summary["frequency_holdout"] == 0).all()  # later events were dropped


def test_the_tampered_events_do_move_a_later_score(shop):
    """The same tampering moves a score whose as_of lies after it: the test above can fail."""
    last = str(shop["tampered"]["ts"].max().date())  # the tampered data end in the holdout
    a = score_customers(
        shop["events"], last, 30, "pareto_nbd", seed=SEED, progress=False,
        supervised="if_possible", gbdt_max_rounds=30, gbdt_early_stopping=5,
    )  # fmt: skip
    b = score_customers(
        shop["tampered"], last, 30, "pareto_nbd", seed=SEED, progress=False,
        supervised="if_possible", gbdt_max_rounds=30, gbdt_early_stopping=5,
    )  # fmt: skip
    assert "intruder" in b.scores.index and "intruder" not in a.scores.index
    common = a.scores.index
    assert not np.allclose(a.scores["spend__pareto_nbd"], b.scores.loc[common, "spend__pareto_nbd"])
