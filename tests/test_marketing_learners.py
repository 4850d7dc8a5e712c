"""Learners must find a known optimal policy where the myopic rule is wrong.

The tiny MDP: identical, alive customers; a contact has **no** lift and costs money this
month, but halves the dropout hazard. Dynamic programming says: contact (by e-mail,
the cheapest) every month but the last; the one-step rule never contacts. A learner
passes :func:`assert_learns_retention` when its value is above the myopic rule's by at
least half of the optimum's gain; a learner that learns nothing (never contacts, or
contacts at random) must fail it.
"""

from __future__ import annotations

import numpy as np
import pytest

from helpers.marketing import (
    BTYDStateModel,
    MarketingConfig,
    MarketingSimulator,
    MarketingWorld,
    OneStepUpliftPolicy,
    OraclePolicy,
    PosteriorMPCPolicy,
    RolloutPolicy,
    TreatmentEffects,
    run_policy,
    train_agents,
)
from helpers.marketing.policies import NobodyPolicy, RandomPolicy
from helpers.marketing.simulator import Population

H = 6
SEEDS = range(500, 504)


@pytest.fixture(scope="module")
def tiny():
    n = 400
    pop = Population(
        user_id=np.array([f"c{i}" for i in range(n)]),
        family="pareto",
        lam=np.full(n, 1.5),
        dropout=np.full(n, 0.35),
        mean_spend=np.full(n, 30.0),
        alive0=np.ones(n, bool),
        x0=np.full(n, 3.0),
        t_x0=np.full(n, 18.0),
        T0=np.full(n, 20.0),
        m0=np.full(n, 30.0),
        spend_shape=50.0,
    )
    # a state model whose posterior means match the true traits (1.5 / month, 0.35 / month)
    sm = BTYDStateModel(
        "pareto_nbd",
        {"r": 4.0, "alpha": 0.29, "s": 4.0, "beta": 29.7},
        {"mean_spend": 30.0},
    )
    eff = TreatmentEffects(retention=(0, 0.5, 0.5, 0.5), name="retention-only")
    cfg = MarketingConfig(horizon=H, action_cost=(0.0, 1.0, 1.0, 1.0), budget=None)
    return pop, sm, eff, cfg


def value(policy, tiny) -> float:
    pop, sm, eff, cfg = tiny
    sim = MarketingSimulator(pop, eff, cfg, sm)
    return float(np.mean([run_policy(sim, policy, s).discounted_profit.mean() for s in SEEDS]))


def assert_learns_retention(policy, tiny) -> None:
    """The learner's value closes at least half of the myopic -> optimum gap."""
    pop, sm, eff, cfg = tiny
    myopic = value(OneStepUpliftPolicy(eff, cfg), tiny)
    best = value(OraclePolicy(), tiny)
    got = value(policy, tiny)
    assert got - myopic >= 0.5 * (best - myopic), (
        f"{getattr(policy, 'name', policy)}: value {got:.2f}, myopic {myopic:.2f}, "
        f"optimum {best:.2f}"
    )


def test_the_tiny_mdp_is_one_where_myopic_is_wrong(tiny):
    pop, sm, eff, cfg = tiny
    sim = MarketingSimulator(pop, eff, cfg, sm)
    oracle = run_policy(sim, OraclePolicy(), 500)
    myopic = run_policy(sim, OneStepUpliftPolicy(eff, cfg), 500)
    assert myopic.contact_rate == 0.0
    # optimum: e-mail every month but the last (alive customers), never in the last
    alive_first = oracle.actions[:, 0]
    assert (alive_first == 1).all()
    assert (oracle.actions[:, -1] == 0).all()
    assert value(OraclePolicy(), tiny) > value(OneStepUpliftPolicy(eff, cfg), tiny) + 5.0


@pytest.mark.parametrize("planner", ["posterior_mpc", "rollout"])
def test_planners_find_the_retention_policy(tiny, planner):
    pop, sm, eff, cfg = tiny
    # every customer of the tiny MDP is alike, so rollout's cut to the top 60 % of
    # advantages (its default) is a cut among ties: roll out everybody
    policy = (
        PosteriorMPCPolicy(eff, cfg, sm)
        if planner == "posterior_mpc"
        else RolloutPolicy(eff, cfg, sm, lookahead=3, candidate_share=1.0)
    )
    assert_learns_retention(policy, tiny)


@pytest.mark.parametrize("learner", ["q_learning", "sarsa", "dqn", "fqi", "fqi_teacher"])
def test_learners_find_the_retention_policy(tiny, learner):
    pop, sm, eff, cfg = tiny
    agents = train_agents(
        MarketingWorld(pop, eff, cfg, sm), seed=1, tabular_episodes=40, dqn_episodes=15,
        agents=(learner,), safe_check_seeds=0, fqi_episodes=3, teacher_episodes=2,
    )  # fmt: skip
    assert_learns_retention(agents[learner], tiny)


@pytest.mark.parametrize("policy", [NobodyPolicy(), RandomPolicy()], ids=["never", "random"])
def test_a_learner_that_learns_nothing_fails(tiny, policy):
    with pytest.raises(AssertionError, match="optimum"):
        assert_learns_retention(policy, tiny)
