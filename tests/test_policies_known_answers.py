"""Known answers of the marketer heuristics (stage 05) on hand-made state tables.

Every policy returns action *scores* ``(N, 4)``; the shared allocator
(:func:`helpers.marketing.simulator.allocate`) contacts, within the budget, the
customers with the largest advantage over "none". The state tables below are chosen so
that each answer (the RFM segment and its action, the contact order of each rule, who is
eligible, who survives the budget cut) can be read off by hand.
"""

from __future__ import annotations

import functools
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from helpers.marketing.policies import (
    ChurnRiskPolicy,
    EverybodyPolicy,
    NobodyPolicy,
    OneStepUpliftPolicy,
    OraclePolicy,
    RandomPolicy,
    RFMPolicy,
    TopCLVPolicy,
    _contact_scores,
    fit_oracle_price,
    heuristic_policies,
)
from helpers.marketing.simulator import (
    FEATURE_INDEX,
    FEATURES,
    MONTH_WEEKS,
    MarketingConfig,
    MarketingSimulator,
    Population,
    TreatmentEffects,
    allocate,
    run_policy,
)
from helpers.marketing.simulator import BTYDStateModel as StateModel

NONE, EMAIL, COUPON10, COUPON20 = 0, 1, 2, 3
INF = np.inf


def _obs(n: int, **columns) -> np.ndarray:
    """An ``(n, len(FEATURES))`` state table: zeros except the named columns."""
    obs = np.zeros((n, len(FEATURES)))
    for name, values in columns.items():
        obs[:, FEATURE_INDEX[name]] = values
    return obs


def _actions(scores: np.ndarray, budget: float | None, seed: int = 0) -> list[int]:
    return allocate(scores, budget, np.random.default_rng(seed)).tolist()


def test_feature_index_is_the_documented_state_layout():
    assert FEATURE_INDEX == {
        "recency": 0,
        "frequency": 1,
        "tenure": 2,
        "avg_spend": 3,
        "months_since_contact": 4,
        "contacts_3m": 5,
        "p_alive": 6,
        "exp_purchases": 7,
        "exp_spend": 8,
        "clv_12m": 9,
        "months_left": 10,
    }


# --------------------------------------------------------------------------- the allocator


def test_budget_cut_contacts_the_k_largest_positive_advantages():
    # advantage over "none" = best contact score - score of "none"
    scores = np.array(
        [
            [0.0, 5.0, -1.0, -1.0],  # 0: adv 5 (email)
            [0.0, -1.0, 9.0, 2.0],  # 1: adv 9 (coupon10)
            [1.0, 2.0, -1.0, 4.0],  # 2: adv 3 (coupon20)
            [0.0, -1.0, -1.0, -1.0],  # 3: adv -1: never contacted
            [0.0, 0.0, 0.0, 0.0],  # 4: adv 0: never contacted
            [0.0, 7.0, 1.0, -1.0],  # 5: adv 7 (email)
            [0.0, 1.0, -INF, -INF],  # 6: adv 1 (email)
            [0.0, -INF, -INF, -INF],  # 7: not finite: never contacted
            [np.nan, 3.0, 3.0, 3.0],  # 8: NaN advantage: never contacted
            [0.0, 0.5, 0.25, -1.0],  # 9: adv 0.5 (email)
        ]
    )
    # k = floor(budget * N): 10 customers, so budget b contacts floor(10 b)
    assert _actions(scores, None) == [1, 2, 3, 0, 0, 1, 1, 0, 0, 1]
    assert _actions(scores, 1.0) == [1, 2, 3, 0, 0, 1, 1, 0, 0, 1]
    assert _actions(scores, 0.1) == [0, 2, 0, 0, 0, 0, 0, 0, 0, 0]
    assert _actions(scores, 0.19) == [0, 2, 0, 0, 0, 0, 0, 0, 0, 0]
    assert _actions(scores, 0.2) == [0, 2, 0, 0, 0, 1, 0, 0, 0, 0]
    assert _actions(scores, 0.3) == [1, 2, 0, 0, 0, 1, 0, 0, 0, 0]
    assert _actions(scores, 0.4) == [1, 2, 3, 0, 0, 1, 0, 0, 0, 0]
    assert _actions(scores, 0.5) == [1, 2, 3, 0, 0, 1, 1, 0, 0, 0]
    # 6 positive advantages: a budget of 7 or more contacts changes nothing
    assert _actions(scores, 0.7) == [1, 2, 3, 0, 0, 1, 1, 0, 0, 1]
    assert _actions(scores, 0.0) == [0] * 10
    assert _actions(scores, 0.09) == [0] * 10


def test_budget_cut_of_a_third_rounds_down_but_not_below_exact_shares():
    scores = np.zeros((3, 4))
    scores[:, 1] = [3.0, 2.0, 1.0]
    assert _actions(scores, 1 / 3) == [1, 0, 0]  # floor(1/3 * 3) = 1, not 0
    assert _actions(scores, 2 / 3) == [1, 1, 0]


def test_budget_ties_are_broken_at_random_not_by_position():
    scores = np.zeros((40, 4))
    scores[:, 1] = 1.0  # everybody ties
    chosen = {tuple(np.flatnonzero(_actions(scores, 0.25, seed=s))) for s in range(6)}
    assert len(chosen) > 1
    assert all(len(c) == 10 for c in chosen)


# --------------------------------------------------------------------------- _contact_scores


def test_contact_scores_shift_priorities_to_start_at_one():
    out = _contact_scores(
        4, COUPON10, np.array([-3.0, 0.0, 2.5, 7.0]), np.array([1, 1, 0, 1], bool)
    )
    np.testing.assert_array_equal(
        out,
        [
            [0.0, -INF, 1.0, -INF],  # the lowest priority still beats "none" by 1
            [0.0, -INF, 4.0, -INF],
            [0.0, -INF, -1.0, -INF],  # not eligible: -1, never contacted
            [0.0, -INF, 11.0, -INF],
        ],
    )


def test_contact_scores_ignore_nan_priorities_for_the_shift_and_handle_no_customer():
    out = _contact_scores(3, EMAIL, np.array([np.nan, 2.0, 5.0]), np.ones(3, bool))
    np.testing.assert_array_equal(out[:, 1], [np.nan, 1.0, 4.0])
    assert _actions(out, None) == [0, 1, 1]  # a NaN priority is never contacted
    empty = _contact_scores(0, EMAIL, np.array([]), np.array([], bool))
    assert empty.shape == (0, 4)


# --------------------------------------------------------------------------- RFM

#: recency (months), repeat purchases, average spend; median spend 50.
RFM_TABLE = pd.DataFrame(
    [
        # rec,   f, spend    R  F  M  segment     action    priority R+F+M+1
        (0.5, 7, 80.0),  # 3  3  1  champion    email     8
        (6.0, 5, 60.0),  # 2  3  1  champion    email     7   (rec = 6, f = 5)
        (2.0, 2, 50.0),  # 3  2  0  champion    email     6   (rec = 2, f = 2, spend = median)
        (12.0, 1, 70.0),  # 1  1  1  at risk     coupon10  4   (rec = 12, f = 1)
        (7.0, 1, 20.0),  # 1  1  0  at risk     coupon10  3
        (13.0, 5, 100.0),  # 0  3  1  lapsed      coupon20  5
        (40.0, 2, 50.0),  # 0  2  0  lapsed      coupon20  3
        (1.0, 1, 200.0),  # 3  1  1  (none: a champion needs F >= 2)
        (8.0, 0, 200.0),  # 1  0  1  (none: at risk needs F >= 1)
        (20.0, 1, 200.0),  # 0  1  1  (none: lapsed needs F >= 2)
        (3.0, 0, 10.0),  # 2  0  0  (none)
        (12.5, 0, 90.0),  # 0  0  1  (none)
    ],
    columns=["recency", "frequency", "avg_spend"],
)
RFM_ACTION = [1, 1, 1, 2, 2, 3, 3, 0, 0, 0, 0, 0]
RFM_PRIORITY = [8.0, 7.0, 6.0, 4.0, 3.0, 5.0, 3.0, 0, 0, 0, 0, 0]


def _rfm_obs() -> np.ndarray:
    return _obs(len(RFM_TABLE), **{c: RFM_TABLE[c].to_numpy() for c in RFM_TABLE})


def test_rfm_segments_actions_and_priorities():
    scores = RFMPolicy(spend_median=50.0).scores(_rfm_obs(), 0, None)
    expected = np.full((len(RFM_TABLE), 4), -1.0)
    expected[:, 0] = 0.0
    for i, (action, prio) in enumerate(zip(RFM_ACTION, RFM_PRIORITY, strict=True)):
        if action:
            expected[i, action] = prio
    np.testing.assert_array_equal(scores, expected)


def test_rfm_action_table_by_segment():
    actions = _actions(RFMPolicy(50.0).scores(_rfm_obs(), 0, None), None)
    assert actions == RFM_ACTION
    segment = {1: "champions", 2: "at risk", 3: "lapsed"}
    by_segment = {segment[a]: [i for i, b in enumerate(actions) if b == a] for a in (1, 2, 3)}
    assert by_segment == {"champions": [0, 1, 2], "at risk": [3, 4], "lapsed": [5, 6]}


def test_rfm_budget_cut_follows_the_priority_across_segments():
    scores = RFMPolicy(50.0).scores(_rfm_obs(), 0, None)
    # 12 customers; priority order 0 (8), 1 (7), 2 (6), 5 (5), 3 (4), then 4 and 6 (3)
    assert _actions(scores, 1 / 12) == [1] + [0] * 11
    assert _actions(scores, 3 / 12) == [1, 1, 1] + [0] * 9
    assert _actions(scores, 4 / 12) == [1, 1, 1, 0, 0, 3, 0, 0, 0, 0, 0, 0]
    assert _actions(scores, 5 / 12) == [1, 1, 1, 2, 0, 3, 0, 0, 0, 0, 0, 0]
    assert _actions(scores, 0.99) == RFM_ACTION


def test_rfm_monetary_score_uses_the_given_median():
    # with a median of 100 nobody has M = 1 except customers 7-9 (spend 200): priorities drop
    scores = RFMPolicy(spend_median=100.0).scores(_rfm_obs(), 0, None)
    contact = scores[np.arange(len(RFM_TABLE)), np.maximum(RFM_ACTION, 1)]
    np.testing.assert_array_equal(contact[:7], [7.0, 6.0, 6.0, 3.0, 3.0, 4.0, 3.0])
    assert RFMPolicy(np.float32(42.5)).spend_median == 42.5
    assert isinstance(RFMPolicy(np.float32(42.5)).spend_median, float)


def test_rfm_recency_and_frequency_bands():
    # two repeat purchases (F = 2), no M: champion / at risk / lapsed by recency alone
    rec = np.array([0.0, 2.0, 2.5, 6.0, 6.5, 12.0, 12.5, 99.0])
    scores = RFMPolicy(1e9).scores(_obs(8, recency=rec, frequency=2.0), 0, None)
    #           R = 3    3    2    2    1    1    0    0
    assert _actions(scores, None) == [1, 1, 1, 1, 2, 2, 3, 3]
    best = scores[np.arange(8), _actions(scores, None)]
    np.testing.assert_array_equal(best, [6.0, 6.0, 5.0, 5.0, 4.0, 4.0, 3.0, 3.0])
    # just bought (R = 3): F from repeat purchases 0, 1 | 2, 4 | 5, 9
    f = np.array([0.0, 1.0, 2.0, 4.0, 5.0, 9.0])
    scores = RFMPolicy(1e9).scores(_obs(6, recency=0.0, frequency=f), 0, None)
    np.testing.assert_array_equal(scores[:, 1], [-1.0, -1.0, 6.0, 6.0, 7.0, 7.0])
    np.testing.assert_array_equal(scores[:, 2:], np.full((6, 2), -1.0))


# --------------------------------------------------------------------------- top CLV

CLV = np.array([120.0, 5.0, 300.0, 40.0, 0.0, 75.0, 299.0, 1.0, 60.0, 10.0])


def test_top_clv_scores_and_contact_order():
    obs = _obs(len(CLV), clv_12m=CLV, p_alive=1 - CLV / 1000, recency=CLV)
    scores = TopCLVPolicy().scores(obs, 0, None)
    expected = np.full((len(CLV), 4), -INF)
    expected[:, 0] = 0.0
    expected[:, 1] = CLV + 1.0  # shifted so the lowest CLV still scores 1
    np.testing.assert_array_equal(scores, expected)
    # contact order: 300 (2), 299 (6), 120 (0), 75 (5), 60 (8), 40 (3) ...
    assert _actions(scores, 0.1) == [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    assert _actions(scores, 0.2) == [0, 0, 1, 0, 0, 0, 1, 0, 0, 0]
    assert _actions(scores, 0.4) == [1, 0, 1, 0, 0, 1, 1, 0, 0, 0]
    assert _actions(scores, 0.6) == [1, 0, 1, 1, 0, 1, 1, 0, 1, 0]
    # everybody has a positive advantage: without a budget all are contacted
    assert _actions(scores, None) == [1] * 10


def test_top_clv_with_another_action_and_a_missing_clv():
    clv = np.array([10.0, np.nan, 30.0, 20.0])
    scores = TopCLVPolicy(action=COUPON20).scores(_obs(4, clv_12m=clv), 0, None)
    np.testing.assert_array_equal(scores[:, 3], [1.0, np.nan, 21.0, 11.0])
    np.testing.assert_array_equal(scores[:, :3], [[0.0, -INF, -INF]] * 4)
    assert _actions(scores, 0.5) == [0, 0, 3, 3]
    assert _actions(scores, None) == [3, 0, 3, 3]


# --------------------------------------------------------------------------- churn risk

#                    0     1     2     3     4     5     6
P_ALIVE = np.array([0.9, 0.2, 0.5, 0.15, 0.3, 0.99, 0.6])
REPEATS = np.array([3.0, 1.0, 0.0, 4.0, 2.0, 5.0, 1.0])


def test_churn_risk_eligibility_and_ranking_by_one_minus_p_alive():
    obs = _obs(7, p_alive=P_ALIVE, frequency=REPEATS, clv_12m=100 * P_ALIVE)
    scores = ChurnRiskPolicy().scores(obs, 0, None)
    # priority 1 - P(alive) shifted so its minimum (over everybody: 1 - 0.99) is 1
    expected = np.full((7, 4), -INF)
    expected[:, 0] = 0.0
    expected[:, 2] = [1.09, 1.79, -1.0, -1.0, 1.69, 1.0, 1.39]
    #  2: no repeat purchase; 3: P(alive) 0.15 < 0.2 (long gone): not eligible
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-12)
    # most at risk first: 1 (0.2, exactly the threshold), 4 (0.3), 6 (0.6), 0 (0.9), 5 (0.99)
    assert _actions(scores, 1 / 7) == [0, 2, 0, 0, 0, 0, 0]
    assert _actions(scores, 2 / 7) == [0, 2, 0, 0, 2, 0, 0]
    assert _actions(scores, 3 / 7) == [0, 2, 0, 0, 2, 0, 2]
    assert _actions(scores, 4 / 7) == [2, 2, 0, 0, 2, 0, 2]
    assert _actions(scores, None) == [2, 2, 0, 0, 2, 2, 2]


def test_churn_risk_threshold_and_action_are_parameters():
    obs = _obs(7, p_alive=P_ALIVE, frequency=REPEATS)
    scores = ChurnRiskPolicy(action=EMAIL, min_p_alive=0.6).scores(obs, 0, None)
    np.testing.assert_allclose(scores[:, 1], [1.09, -1, -1, -1, -1, 1.0, 1.39], atol=1e-12)
    np.testing.assert_array_equal(scores[:, 2:], np.full((7, 2), -INF))
    assert _actions(scores, None) == [1, 0, 0, 0, 0, 1, 1]
    assert _actions(scores, 1 / 7) == [0, 0, 0, 0, 0, 0, 1]


# --------------------------------------------------------------------------- everybody / random


def test_everybody_scores_and_budget():
    scores = EverybodyPolicy().scores(_obs(5), 0, None)
    np.testing.assert_array_equal(scores, [[0.0, 1.0, -INF, -INF]] * 5)
    assert _actions(scores, None) == [1] * 5
    assert sum(_actions(scores, 0.4)) == 2  # a random subset of the budget's size
    coupon = EverybodyPolicy(action=COUPON20).scores(_obs(2), 0, None)
    np.testing.assert_array_equal(coupon, [[0.0, -INF, -INF, 1.0]] * 2)


def test_random_policy_draws_from_the_runs_policy_generator():
    sim = SimpleNamespace(policy_rng=np.random.default_rng(5))
    scores = RandomPolicy().scores(_obs(6), 0, sim)
    expected = np.random.default_rng(5).random((6, 4))
    expected[:, 0] = 0.0
    np.testing.assert_array_equal(scores, expected)


# --------------------------------------------------------------------------- one-step uplift

EFFECTS = TreatmentEffects(
    lift=(0.0, 0.1, 0.3, 0.5), retention=(0.0, 0.2, 0.2, 0.2), fatigue=0.25,
    recency_decay=float(np.log(2)),
)  # fmt: skip
CONFIG = MarketingConfig(
    margin=0.4, discount=(0.0, 0.0, 0.1, 0.2), action_cost=(0.0, 0.05, 0.1, 0.1), budget=None
)
#: customers: A (spend 100, just bought, no contacts), B (spend 10, one month ago, 2
#: contacts: lift x 0.5 fatigue x 0.5 recency), C (nothing expected), D (spend 50, 20 months:
#: recency capped at 12 months, so the lift is x 2^-12)
UPLIFT_OBS = _obs(
    4,
    exp_spend=[100.0, 10.0, 0.0, 50.0],
    exp_purchases=[9.0, 9.0, 9.0, 9.0],  # not used: exp_spend already holds E[n] x spend
    recency=[0.0, 1.0, 0.0, 20.0],
    contacts_3m=[0.0, 2.0, 0.0, 0.0],
)
UPLIFT_EXPECTED = np.array(
    [
        # none      email                    coupon10                 coupon20
        [40.0, 100 * 1.1 * 0.4 - 0.05, 100 * 1.3 * 0.3 - 0.1, 100 * 1.5 * 0.2 - 0.1],
        [4.0, 10 * 1.025 * 0.4 - 0.05, 10 * 1.075 * 0.3 - 0.1, 10 * 1.125 * 0.2 - 0.1],
        [0.0, -0.05, -0.1, -0.1],
        [
            20.0,
            50 * (1 + 0.1 / 4096) * 0.4 - 0.05,
            50 * (1 + 0.3 / 4096) * 0.3 - 0.1,
            50 * (1 + 0.5 / 4096) * 0.2 - 0.1,
        ],
    ]
)


def test_one_step_uplift_known_answers():
    scores = OneStepUpliftPolicy(EFFECTS, CONFIG).scores(UPLIFT_OBS, 0, None)
    np.testing.assert_allclose(scores, UPLIFT_EXPECTED, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(scores[0], [40.0, 43.95, 38.9, 29.9], rtol=1e-12)
    np.testing.assert_allclose(scores[1], [4.0, 4.05, 3.125, 2.15], rtol=1e-12)
    # A gains 3.95 by an email, B 0.05; C and D lose by any contact
    assert _actions(scores, None) == [1, 1, 0, 0]
    assert _actions(scores, 0.25) == [1, 0, 0, 0]


def test_one_step_uplift_coupon_wins_when_margin_is_high():
    config = MarketingConfig(margin=0.9, budget=None)
    scores = OneStepUpliftPolicy(EFFECTS, config).scores(UPLIFT_OBS[:1], 0, None)
    # none 90; email 110 x 0.9 - 0.05 = 98.95; coupon10 130 x 0.8 - 0.1 = 103.9;
    # coupon20 150 x 0.7 - 0.1 = 104.9
    np.testing.assert_allclose(scores, [[90.0, 98.95, 103.9, 104.9]], rtol=1e-12)
    assert _actions(scores, None) == [3]


# --------------------------------------------------------------------------- the standard set


def test_heuristic_policies_are_the_standard_baselines_with_their_defaults():
    pols = heuristic_policies(EFFECTS, CONFIG, spend_median=37.5)
    assert list(pols) == [
        "nobody", "everybody", "random", "top_clv", "churn_risk", "rfm", "one_step_uplift",
    ]  # fmt: skip
    assert [type(p) for p in pols.values()] == [
        NobodyPolicy, EverybodyPolicy, RandomPolicy, TopCLVPolicy, ChurnRiskPolicy, RFMPolicy,
        OneStepUpliftPolicy,
    ]  # fmt: skip
    assert all(p.name == k for k, p in pols.items())
    assert pols["everybody"].action == EMAIL
    assert pols["top_clv"].action == EMAIL
    assert (pols["churn_risk"].action, pols["churn_risk"].min_p_alive) == (COUPON10, 0.2)
    assert pols["rfm"].spend_median == 37.5
    assert pols["one_step_uplift"].effects is EFFECTS
    assert pols["one_step_uplift"].config is CONFIG
    np.testing.assert_array_equal(
        pols["nobody"].scores(_obs(2), 0, None), [[0.0, -1.0, -1.0, -1.0]] * 2
    )


# --------------------------------------------------------------------------- in the simulator


def test_run_policy_applies_the_budget_cut_to_the_policys_month_one_scores():
    """Month 1 of a simulator run contacts exactly the top-CLV customers the budget allows."""
    n = 10
    x = np.arange(n, dtype=float)  # more repeat purchases: higher expected CLV
    population = Population(
        user_id=np.array([f"c{i}" for i in range(n)]),
        family="pareto",
        lam=np.full(n, 0.5),
        dropout=np.full(n, 0.05),
        mean_spend=np.full(n, 30.0),
        alive0=np.ones(n, bool),
        x0=x[::-1].copy(),  # c0 has 9 repeat purchases, c9 none
        t_x0=np.full(n, 20.0),
        T0=np.full(n, 20.0),
        m0=np.where(x[::-1] > 0, 30.0, 0.0),
    )
    state = StateModel("nbd", {"r": 1.0, "alpha": 10.0}, {"mean_spend": 30.0})
    config = MarketingConfig(horizon=2, budget=0.3)
    sim = MarketingSimulator(population, TreatmentEffects.preset("mid"), config, state)
    result = run_policy(sim, TopCLVPolicy(), seed=3, record_obs=True)
    clv = result.extra["obs"][:, 0, FEATURE_INDEX["clv_12m"]]
    # NBD: E[12 months] = (r + x) / (alpha + T) x 12 months, x spend 30
    np.testing.assert_allclose(clv, (1 + x[::-1]) / 30 * 12 * MONTH_WEEKS * 30, rtol=1e-12)
    assert result.actions[:, 0].tolist() == [1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    assert result.actions[:, 1].tolist().count(1) == 3
    # NBD: P(alive) = 1 for all, so the churn rule ties its 9 repeat buyers: 3 of them
    churn = run_policy(sim, ChurnRiskPolicy(), seed=3).actions[:, 0]
    assert sorted(churn.tolist()) == [0] * 7 + [2] * 3
    assert churn[9] == 0  # no repeat purchase: never eligible


# --------------------------------------------------------------------------- the oracle


def _population(n: int, lam, dropout, mean_spend=10.0, family="pareto", alive=True, rec_weeks=0.0):
    def col(v):
        return np.broadcast_to(np.asarray(v, float), (n,)).copy()

    return Population(
        user_id=np.array([f"c{i}" for i in range(n)]),
        family=family,
        lam=col(lam),
        dropout=col(dropout),
        mean_spend=col(mean_spend),
        alive0=np.broadcast_to(np.asarray(alive, bool), (n,)).copy(),
        x0=np.ones(n),
        t_x0=col(40.0) - col(rec_weeks),
        T0=np.full(n, 40.0),
        m0=np.full(n, 10.0),
    )


def _sim(population, effects, config) -> MarketingSimulator:
    state = StateModel("nbd", {"r": 1.0, "alpha": 10.0}, {"mean_spend": 10.0})
    return MarketingSimulator(population, effects, config, state)


def test_oracle_two_month_known_answer():
    """Horizon 2, retention only: Q = this month's profit + gamma P(survive) x next month's."""
    # lam 2 purchases a month, spend 10, margin 0.4: 8 a month when not contacted;
    # dropout ln 2 a month: survives "none" with 1/2, a contact (retention 0.5) with 2^-0.5
    effects = TreatmentEffects(lift=(0, 0, 0, 0), retention=(0, 0.5, 0.5, 0.5))
    config = MarketingConfig(horizon=2, gamma=0.9, budget=None)
    sim = _sim(_population(2, 2.0, np.log(2), alive=[True, False]), effects, config)
    obs = sim.reset(0)
    oracle = OraclePolicy()
    keep = 0.9 * 2**-0.5 * 8  # discounted value of next month after a contact
    expected = np.array(
        [
            [8 + 0.9 * 0.5 * 8, 8 - 0.05 + keep, 20 * 0.3 - 0.1 + keep, 20 * 0.2 - 0.1 + keep],
            [0.0, -1.0, -1.0, -1.0],  # dead: "none"
        ]
    )
    np.testing.assert_allclose(oracle.scores(obs, 0, sim), expected, rtol=1e-12)
    np.testing.assert_allclose(expected[0], [11.6, 13.0411688, 10.9911688, 8.9911688], atol=1e-7)
    np.testing.assert_allclose(oracle.value()[:, 0, 0], [expected[0, 1]] * 2, rtol=1e-12)
    np.testing.assert_allclose(oracle.value()[:, 5, 3], [expected[0, 1]] * 2, rtol=1e-12)
    assert oracle.value().shape == (2, 13, 8)
    # the last month: retention is worth nothing any more, "none" earns 8
    np.testing.assert_allclose(oracle.scores(obs, 1, sim)[0], [8.0, 7.95, 5.9, 3.9], rtol=1e-12)
    # a price per contact is charged now and in the plan of later months
    priced = OraclePolicy(price=1.0).scores(obs, 0, sim)
    np.testing.assert_allclose(priced[0], expected[0] - [0, 1, 1, 1], rtol=1e-12)
    assert OraclePolicy(price=np.float32(2.5)).price == 2.5 and OraclePolicy().name == "oracle"


def _brute_q(lam, spend, dropout, family, effects, config, months, rec, bits):
    """Q-values by brute force: the Poisson series of purchases, month by month."""

    @functools.cache
    def value(m, rec, bits):
        return max(q(m, rec, bits)) if m > 0 else 0.0

    def q(m, rec, bits):
        out = []
        for a in range(4):
            k3 = bin(bits).count("1")
            fatigue = 1 - effects.fatigue * k3
            lift = effects.lift[a] * fatigue * math.exp(-effects.recency_decay * min(rec, 12))
            rate = lam * max(0.0, 1 + lift)
            drop = max(0.0, 1 - effects.retention[a] * fatigue)
            reward = rate * spend * (config.margin - config.discount[a]) - config.action_cost[a]
            # P(n purchases this month and still alive next month), summed over n >= 1
            pmf, bought = math.exp(-rate), 0.0
            for n in range(1, 80):
                pmf *= rate / n
                if family == "pareto":
                    bought += pmf * math.exp(-dropout * drop)
                else:
                    bought += pmf * (1 - min(dropout * drop, 1.0)) ** n
            none = math.exp(-rate) * (math.exp(-dropout * drop) if family == "pareto" else 1.0)
            nb = ((bits << 1) | (a > 0)) & 7
            cont = bought * value(m - 1, 0, nb) + none * value(m - 1, min(rec + 1, 12), nb)
            out.append(reward + config.gamma * cont)
        return out

    return q(months, rec, bits)


@pytest.mark.parametrize("family", ["pareto", "bgnbd"])
def test_oracle_matches_brute_force_planning(family):
    effects = TreatmentEffects.preset("mid")
    config = MarketingConfig(horizon=3, gamma=0.95, budget=None)
    lam = np.array([0.8, 1.5, 0.3, 2.0])
    dropout = (
        np.array([0.1, 0.3, 0.05, 0.9]) if family == "bgnbd" else np.array([0.2, 0.05, 1.0, 0.4])
    )
    rec_weeks = np.array([0.0, 3 * MONTH_WEEKS, 15 * MONTH_WEEKS, MONTH_WEEKS])
    pop = _population(4, lam, dropout, mean_spend=[12.0, 30.0, 8.0, 20.0], family=family,
                      rec_weeks=rec_weeks)  # fmt: skip
    sim = _sim(pop, effects, config)
    obs = sim.reset(1)
    assert sim.recency_m.tolist() == [0, 3, 15, 1]  # 15 responds like 12
    oracle = OraclePolicy()
    got = oracle.scores(obs, 0, sim)
    for i in range(4):
        want = _brute_q(lam[i], pop.mean_spend[i], dropout[i], family, effects, config, 3,
                        int(sim.recency_m[i]), 0)  # fmt: skip
        np.testing.assert_allclose(got[i], want, rtol=1e-9, err_msg=f"customer {i}")
    # a month later, after contacts: the state (recency, contact bits) moves the plan
    obs, _, _ = sim.step(np.array([1, 2, 0, 3]))
    assert sim.contact_bits.tolist() == [1, 1, 0, 1]
    got = oracle.scores(obs, 1, sim)
    for i in range(4):
        if not sim.alive[i]:
            np.testing.assert_array_equal(got[i], [0.0, -1.0, -1.0, -1.0])
            continue
        want = _brute_q(lam[i], pop.mean_spend[i], dropout[i], family, effects, config, 2,
                        int(sim.recency_m[i]), int(sim.contact_bits[i]))  # fmt: skip
        np.testing.assert_allclose(got[i], want, rtol=1e-9, err_msg=f"customer {i}, month 2")


def test_oracle_replans_for_another_simulator():
    effects = TreatmentEffects(lift=(0, 0, 0, 0), retention=(0, 0.5, 0.5, 0.5))
    config = MarketingConfig(horizon=2, gamma=0.9, budget=None)
    low = _sim(_population(1, 2.0, np.log(2)), effects, config)
    high = _sim(_population(1, 4.0, np.log(2)), effects, config)
    oracle = OraclePolicy()
    a = oracle.scores(low.reset(0), 0, low)[0, 0]
    b = oracle.scores(high.reset(0), 0, high)[0, 0]
    c = oracle.scores(low.reset(0), 0, low)[0, 0]
    assert (a, b, c) == pytest.approx((11.6, 23.2, 11.6), rel=1e-12)
    run = run_policy(high, oracle, seed=0)
    assert run.actions[:, 0].tolist() == [1]  # the retention email pays: 13.04 x 2 > 11.6 x 2


@pytest.mark.parametrize("family", ["pareto", "bgnbd"])
def test_oracle_with_strong_fatigue_and_three_recent_contacts(family):
    """Fatigue 0.6: after 2-3 contacts the effects turn negative (dropout x more than 1)."""
    effects = TreatmentEffects(
        lift=(0, 0.2, 0.4, 0.6), retention=(0, 0.3, 0.4, 0.5), fatigue=0.6, recency_decay=0.1
    )
    config = MarketingConfig(horizon=3, gamma=0.9, budget=None)
    lam, dropout, spend = np.array([1.2, 0.6]), np.array([0.95, 0.5]), np.array([15.0, 40.0])
    sim = _sim(_population(2, lam, dropout, mean_spend=spend, family=family), effects, config)
    obs = sim.reset(0)
    sim.contact_bits = np.array([3, 5])  # contacted 1 and 2 months ago / 1 and 3 months ago
    got = OraclePolicy().scores(obs, 0, sim)
    for i in range(2):
        want = _brute_q(lam[i], spend[i], dropout[i], family, effects, config, 3, 0, [3, 5][i])
        np.testing.assert_allclose(got[i], want, rtol=1e-9, err_msg=f"customer {i}")


def test_oracle_replans_when_effects_or_economics_change():
    """One oracle object, the same customers: each new config or effects is planned anew."""
    pop = _population(1, 2.0, np.log(2))
    retain = TreatmentEffects(lift=(0, 0, 0, 0), retention=(0, 0.5, 0.5, 0.5))
    oracle = OraclePolicy()
    first = _sim(pop, retain, MarketingConfig(horizon=2, gamma=0.9, budget=None))
    assert oracle.scores(first.reset(0), 0, first)[0, 1] == pytest.approx(13.0411688, abs=1e-7)
    # same effects, margin 0.5: 9.95 + 0.9 x 2^-0.5 x 10
    rich_config = MarketingConfig(horizon=2, gamma=0.9, margin=0.5, budget=None)
    rich = _sim(pop, retain, rich_config)
    assert oracle.scores(rich.reset(0), 0, rich)[0, 1] == pytest.approx(
        9.95 + 9 * 2**-0.5, rel=1e-12
    )
    # same config, an email lift of 0.5 and no retention: next month's best is an email
    # too (2 x 1.5 x 10 x 0.5 - 0.05 = 14.95), so the email now is worth 14.95 (1 + 0.9 x 0.5)
    lift = _sim(pop, TreatmentEffects(lift=(0, 0.5, 0, 0)), rich_config)
    assert oracle.scores(lift.reset(0), 0, lift)[0, 1] == pytest.approx(21.6775, rel=1e-12)


def _email_world(lam) -> MarketingSimulator:
    """Four customers; one month; an email gains lam x 10 x 0.4 x 0.25 - 0.05.

    The config's budget (a quarter) is not the one the oracle's price is fitted for.
    """
    effects = TreatmentEffects(lift=(0, 0.25, 0, 0), retention=(0, 0, 0, 0))
    config = MarketingConfig(horizon=1, budget=0.25)
    return _sim(_population(4, lam, 0.0), effects, config)


def _bisection(lo: float, hi: float, threshold: float, iterations: int = 12) -> float:
    """Bisection on a step function that is "over budget" below ``threshold``."""
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if mid < threshold else (lo, mid)
    return hi


def test_fit_oracle_price_bisects_to_the_email_gain():
    sim = _email_world(2.0)  # email gain 1.95
    assert fit_oracle_price(sim, 1.0, seed=0) == 0.0  # the budget does not bind
    # bracket [1, 4] (share(1) = 1, share(4) = 0), then bisection
    assert fit_oracle_price(sim, 0.5, seed=0, iterations=0) == 4.0
    assert fit_oracle_price(sim, 0.5, seed=0, iterations=1) == 2.5
    assert fit_oracle_price(sim, 0.5, seed=0, iterations=2) == 2.5
    assert fit_oracle_price(sim, 0.5, seed=0, iterations=3) == 2.125
    price = fit_oracle_price(sim, 0.5, seed=0)
    assert price == _bisection(1.0, 4.0, 1.95) == 1.95068359375
    assert run_policy(sim, OraclePolicy(price), 0, budget=None).contact_rate == 0.0
    assert run_policy(sim, OraclePolicy(price - 0.01), 0, budget=None).contact_rate == 1.0


def test_fit_oracle_price_below_one():
    sim = _email_world(0.5)  # email gain 0.45: share(1) = 0 already, bisection on [0, 1]
    assert fit_oracle_price(sim, 0.5, seed=0, iterations=0) == 1.0
    assert fit_oracle_price(sim, 0.5, seed=0, iterations=1) == 0.5
    assert fit_oracle_price(sim, 0.5, seed=0) == _bisection(0.0, 1.0, 0.45)


def test_fit_oracle_price_stops_when_the_share_meets_the_budget():
    sim = _email_world([2.0, 2.0, 20.0, 20.0])  # gains 1.95, 1.95, 19.95, 19.95
    # share(4) = 0.5 is within the budget: the bracket is [1, 4], not wider
    assert fit_oracle_price(sim, 0.5, seed=0, iterations=0) == 4.0
    assert fit_oracle_price(sim, 0.5, seed=0, iterations=1) == 2.5  # share(2.5) = 0.5: hi
    assert fit_oracle_price(sim, 0.5, seed=0) == _bisection(1.0, 4.0, 1.95)
    assert fit_oracle_price(sim, 0.25, seed=0) == _bisection(16.0, 64.0, 19.95)


def test_fit_oracle_price_widens_the_bracket_up_to_a_cap():
    assert fit_oracle_price(_email_world(20.0), 0.5, seed=0, iterations=0) == 64.0  # gain 19.95
    assert fit_oracle_price(_email_world(20.0), 0.5, seed=0) == _bisection(16.0, 64.0, 19.95)
    # a gain of about 1e5: the bracket stops growing at 4^7 = 16384 >= 1e4
    assert fit_oracle_price(_email_world(1e5), 0.5, seed=0, iterations=0) == 16384.0


# ----------------------------------------------------------------- the recommendation rule


def _held_out(**profits: float) -> pd.DataFrame:
    return pd.DataFrame({"policy": list(profits), "incremental_profit": list(profits.values())})


class _Agent:
    def __init__(self, disabled: bool):
        self.disabled = disabled


def test_recommendation_is_the_most_profitable_policy_a_shop_can_run():
    from helpers.marketing.study import recommended_policy_name

    table = _held_out(
        nobody=0.0,
        rfm=1.2,
        one_step_uplift=1.89,
        posterior_mpc=2.33,
        rollout=2.10,
        fqi_teacher=2.20,
        oracle=2.60,  # reads the simulator's truth: never recommended
        full_info_myopic=2.40,  # likewise
    )
    agents = {"fqi_teacher": _Agent(False)}
    assert recommended_policy_name(table, agents) == "posterior_mpc"
    # a learner that earns most but failed its safety check is not a candidate
    table.loc[table["policy"] == "fqi_teacher", "incremental_profit"] = 2.5
    assert recommended_policy_name(table, agents) == "fqi_teacher"
    assert recommended_policy_name(table, {"fqi_teacher": _Agent(True)}) == "posterior_mpc"


def test_recommendation_ties_go_to_the_simpler_policy_and_losses_to_nobody():
    from helpers.marketing.study import recommended_policy_name

    tie = _held_out(nobody=0.0, one_step_uplift=2.0, posterior_mpc=2.0, rfm=1.0)
    assert recommended_policy_name(tie, {}) == "one_step_uplift"
    tie_rule = _held_out(nobody=0.0, rfm=2.0, one_step_uplift=2.0)
    assert recommended_policy_name(tie_rule, {}) == "rfm"
    losing = _held_out(nobody=0.0, one_step_uplift=-0.3, everybody=-2.0, oracle=0.5)
    assert recommended_policy_name(losing, {}) == "nobody"
    assert recommended_policy_name(_held_out(nobody=0.0, oracle=1.0), {}) == "nobody"
