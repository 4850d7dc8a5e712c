"""Sanity tests of the RL agents (Q-learning, SARSA, DQN) and off-policy evaluation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.marketing import (
    BTYDStateModel,
    MarketingConfig,
    MarketingWorld,
    OneStepUpliftPolicy,
    SoftenedPolicy,
    TreatmentEffects,
    evaluate_policies,
    heuristic_policies,
    ope_table,
    policy_table,
    population_from_btyd,
    train_agents,
    train_dqn,
    train_tabular,
)
from helpers.marketing.study import paired_difference

PARETO = {"r": 0.55, "alpha": 10.6, "s": 0.61, "beta": 11.7}
GG = {"p": 6.25, "q": 3.74, "v": 15.44}


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(0)
    n = 1200
    age = rng.uniform(5, 40, n)
    x = rng.poisson(2.0, n).astype(float)
    summ = pd.DataFrame(
        {
            "frequency_cal": x,
            "recency_cal": np.where(x > 0, age * rng.uniform(0.3, 1.0, n), 0.0),
            "T_cal": age,
            "monetary_value_cal": np.where(x > 0, rng.gamma(5, 8, n), 0.0),
        },
        index=pd.Index([f"c{i}" for i in range(n)], name="user_id"),
    )
    sm = BTYDStateModel("pareto_nbd", PARETO, GG)
    pop = population_from_btyd(summ, "pareto", PARETO, GG, seed=1)
    train, test = pop.split(0)
    return sm, train, test


def test_zero_effects_agents_learn_to_do_nothing(world):
    sm, train, test = world
    cfg, eff = MarketingConfig(), TreatmentEffects.preset("none")
    agents = train_agents(
        MarketingWorld(train, eff, cfg, sm), seed=0, tabular_episodes=30, dqn_episodes=8
    )
    pols = {"nobody": heuristic_policies(eff, cfg, 40.0)["nobody"], **agents}
    table, _ = evaluate_policies(MarketingWorld(test, eff, cfg, sm), pols, range(3))
    t = table.set_index("policy")
    assert (t["contact_rate"] < 0.01).all(), t["contact_rate"]
    assert (t["incremental_profit"] <= 1e-9).all()


def test_rl_does_not_beat_one_step_rule_without_dynamics(world):
    """No retention, no fatigue, no recency response: one step is all there is."""
    sm, train, test = world
    cfg = MarketingConfig()
    eff = TreatmentEffects(lift=(0, 0.1, 0.3, 0.55), name="lift-only")
    agents = train_agents(
        MarketingWorld(train, eff, cfg, sm), 0, 30, 8, agents=("q_learning", "dqn")
    )
    pols = heuristic_policies(eff, cfg, 40.0)
    pols.update(agents)
    _, per_seed = evaluate_policies(MarketingWorld(test, eff, cfg, sm), pols, range(4))
    for a in agents:
        m, lo, hi = paired_difference(per_seed, a, "one_step_uplift")
        assert lo <= 0.0, f"{a} 'beats' the one-step rule ({m:.3f} [{lo:.3f}, {hi:.3f}])"


def test_training_is_deterministic(world):
    sm, train, _ = world
    cfg, eff = MarketingConfig(), TreatmentEffects.preset("mid")
    a = train_tabular(MarketingWorld(train, eff, cfg, sm), "sarsa", episodes=5, seed=3)
    b = train_tabular(MarketingWorld(train, eff, cfg, sm), "sarsa", episodes=5, seed=3)
    np.testing.assert_array_equal(a.q, b.q)
    d1 = train_dqn(MarketingWorld(train, eff, cfg, sm), episodes=2, seed=3)
    d2 = train_dqn(MarketingWorld(train, eff, cfg, sm), episodes=2, seed=3)
    obs = np.abs(np.random.default_rng(0).normal(size=(20, 11)))
    np.testing.assert_allclose(d1.scores(obs, 0), d2.scores(obs, 0))


def test_policy_table_and_ope(world):
    sm, train, test = world
    cfg, eff = MarketingConfig(), TreatmentEffects.preset("mid")
    heur = heuristic_policies(eff, cfg, 40.0)
    tab = policy_table(heur["rfm"], MarketingWorld(test, eff, cfg, sm), seed=0)
    shares = tab[["none", "email", "coupon10", "coupon20"]].sum(axis=1)
    np.testing.assert_allclose(shares, 1.0)
    behaviour = SoftenedPolicy(OneStepUpliftPolicy(eff, cfg), 0.5)
    targets = {k: SoftenedPolicy(heur[k], 0.1, name=k) for k in ("nobody", "top_clv", "rfm")}
    out = ope_table(
        MarketingWorld(test, eff, cfg, sm), behaviour, targets, log_seed=1, truth_seeds=range(3)
    )
    est, summ = out["estimates"], out["summary"]
    assert set(summ["estimator"]) == {"pdis", "wpdis", "dr", "fqe"}
    assert (est["ess"] > 0).all() and (est["ess"] <= len(test)).all()
    # the model-based estimators are far closer to the truth than plain PDIS here
    s = summ.set_index("estimator")
    assert s.loc["fqe", "rmse"] < 0.2 * est["true_value"].abs().mean()
    assert np.isfinite(s["rmse"]).all()


def test_best_heuristic_ignores_agents_oracle_and_nobody_and_seeds_are_fresh():
    from helpers.marketing import best_heuristic, evaluation_seeds

    table = pd.DataFrame(
        {
            "policy": ["nobody", "rfm", "top_clv", "dqn", "oracle"],
            "incremental_profit": [0.0, 1.6, 1.4, 9.0, 9.5],
        }
    )
    assert best_heuristic(table)["policy"] == "rfm"
    with pytest.raises(ValueError, match="no heuristic"):
        best_heuristic(table[table["policy"].isin(["dqn", "oracle"])])
    assert evaluation_seeds(42, 3) == [10_000_042, 10_000_043, 10_000_044]
