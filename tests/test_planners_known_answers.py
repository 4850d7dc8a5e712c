"""Known-answer tests of the planners (:mod:`helpers.marketing.planners`).

The dynamic programme, the conjugate posterior and the three planning policies are
checked against values solved by hand (Bellman backups and closed forms written out as
literal arithmetic below).

The hand-solved MDP (used throughout): one customer with ``lam = 1`` purchase a month,
mean spend 10, margin 0.5, costs (0, 0.2, 0.5, 0.5), coupon discounts (0, 0, 0.1, 0.2),
``gamma = 0.9``; e-mail doubles the purchase rate at full strength (lift 1), coupon 10 %
raises it by half (lift 0.5), e-mail halves the dropout (retention 0.5); fatigue 0.5 per
recent contact and a recency decay of ``ln 2`` (strength ``2 ** -recency``).

So the reward of a month in state (recency ``rec``, ``k`` contacts in three months),
with ``s = (1 - 0.5 k) 2 ** -rec``, is ``5`` (none), ``5 (1 + s) - 0.2`` (e-mail),
``4 (1 + 0.5 s) - 0.5`` (coupon 10) and ``2.5`` (coupon 20).
"""

from __future__ import annotations

import numpy as np
import pytest

from helpers.marketing.planners import (
    FullInformationMyopicPolicy,
    PosteriorMPCPolicy,
    RolloutPolicy,
    _expected_q,
    _one_month,
    dp_q_values,
    posterior_traits,
)
from helpers.marketing.simulator import (
    FEATURES,
    BTYDStateModel,
    MarketingConfig,
    MarketingSimulator,
    Population,
    TreatmentEffects,
)

MW = 365.25 / 12 / 7  # weeks per month
CFG = MarketingConfig(
    horizon=4,
    gamma=0.9,
    margin=0.5,
    action_cost=(0.0, 0.2, 0.5, 0.5),
    discount=(0.0, 0.0, 0.1, 0.2),
    budget=None,
)
EFF = TreatmentEffects(
    lift=(0.0, 1.0, 0.5, 0.0),
    retention=(0.0, 0.5, 0.0, 0.0),
    fatigue=0.5,
    recency_decay=float(np.log(2.0)),
)
NO_EFF = TreatmentEffects()
E = np.exp


def q_hand(
    months: int, rec: int = 1, bits: int = 0b001, family: str = "pareto", **kw: float
) -> np.ndarray:
    """dp_q_values of the hand-solved customer (lam 1, spend 10, dropout 0.2)."""
    return dp_q_values(
        np.array([1.0]),
        np.array([10.0]),
        np.array([0.2]),
        family,
        EFF,
        CFG,
        months,
        np.array([rec]),
        np.array([bits]),
        **kw,
    )[0]


def make_sim(
    x0: list[float],
    t_x0: list[float],
    T0: list[float],
    m0: list[float],
    state_model: BTYDStateModel,
    effects: TreatmentEffects = EFF,
    config: MarketingConfig = CFG,
    lam: list[float] | None = None,
    alive0: list[bool] | None = None,
) -> MarketingSimulator:
    """A reset simulator over customers with the given starting history."""
    n = len(x0)
    pop = Population(
        user_id=np.array([f"c{i}" for i in range(n)]),
        family="pareto",
        lam=np.asarray(lam if lam is not None else [1.0] * n, float),
        dropout=np.full(n, 0.2),
        mean_spend=np.full(n, 10.0),
        alive0=np.asarray(alive0 if alive0 is not None else [True] * n),
        x0=np.asarray(x0, float),
        t_x0=np.asarray(t_x0, float),
        T0=np.asarray(T0, float),
        m0=np.asarray(m0, float),
    )
    sim = MarketingSimulator(pop, effects, config, state_model)
    sim.reset(0)
    return sim


# --------------------------------------------------------------------- one month


def test_one_month_pareto_by_hand():
    # customers: (rec 1, one contact), (rec 0, none), (rec 0, three contacts: f = -0.5)
    rec, bits = np.array([1, 0, 0]), np.array([0b001, 0b000, 0b111])
    lam, spend, mu = np.array([1.0, 1.0, 1.0]), np.array([10.0] * 3), np.array([0.2] * 3)
    r, pb, pn, nb = _one_month(lam, spend, mu, "pareto", EFF, CFG, 1, rec, bits)
    # rate multipliers 1 + 1 * (0.5 * 0.5, 1 * 1, -0.5 * 1) = (1.25, 2, 0.5)
    # dropout multipliers 1 - 0.5 * (0.5, 1, -0.5) = (0.75, 0.5, 1.25)
    np.testing.assert_allclose(r, [5 * 1.25 - 0.2, 5 * 2 - 0.2, 5 * 0.5 - 0.2], rtol=1e-12)
    surv = E(-0.2 * np.array([0.75, 0.5, 1.25]))
    np.testing.assert_allclose(pb, (1 - E(-np.array([1.25, 2.0, 0.5]))) * surv, rtol=1e-12)
    np.testing.assert_allclose(pn, E(-np.array([1.25, 2.0, 0.5])) * surv, rtol=1e-12)
    np.testing.assert_array_equal(nb, [0b011, 0b001, 0b111])
    r0, pb0, pn0, nb0 = _one_month(lam, spend, mu, "pareto", EFF, CFG, 0, rec, bits)
    np.testing.assert_allclose(r0, 5.0, rtol=1e-12)
    np.testing.assert_allclose(pb0, (1 - E(-1.0)) * E(-0.2), rtol=1e-12)
    np.testing.assert_allclose(pn0, E(-1.0) * E(-0.2), rtol=1e-12)
    np.testing.assert_array_equal(nb0, [0b010, 0b000, 0b110])
    r2, *_ = _one_month(lam, spend, mu, "pareto", EFF, CFG, 2, rec, bits)
    # coupon 10: 10 * (1 + 0.5 s) * (0.5 - 0.1) - 0.5 with s = (0.25, 1, -0.5)
    np.testing.assert_allclose(r2, [4 * 1.125 - 0.5, 4 * 1.5 - 0.5, 4 * 0.75 - 0.5], rtol=1e-12)
    r3, *_ = _one_month(lam, spend, mu, "pareto", EFF, CFG, 3, rec, bits)
    np.testing.assert_allclose(r3, 10 * 0.3 - 0.5, rtol=1e-12)


def test_one_month_bgnbd_by_hand():
    # lam 2, per-purchase dropout 0.25; e-mail at (rec 1, one contact): rate x1.25,
    # dropout x0.75; a second customer whose dropout 1.5 is capped at 1
    lam, spend, p = np.array([2.0, 2.0]), np.array([10.0, 10.0]), np.array([0.25, 1.5])
    rec, bits = np.array([1, 1]), np.array([0b001, 0b001])
    r, pb, pn, nb = _one_month(lam, spend, p, "bgnbd", EFF, CFG, 1, rec, bits)
    np.testing.assert_allclose(r, 10 * 1.25 - 0.2, rtol=1e-12)
    # P(buy and survive) = sum_n>=1 Pois(n; 2.5) (1 - pd)^n = exp(-2.5 pd) - exp(-2.5)
    pd_ = np.array([0.25 * 0.75, 1.0])
    np.testing.assert_allclose(pb, E(-2.5 * pd_) - E(-2.5), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(pn, E(-2.5), rtol=1e-12)
    np.testing.assert_array_equal(nb, [0b011, 0b011])
    _, pb0, pn0, _ = _one_month(lam, spend, p, "bgnbd", NO_EFF, CFG, 0, rec, bits)
    np.testing.assert_allclose(pb0, [E(-0.5) - E(-2.0), 0.0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(pn0, E(-2.0), rtol=1e-12)


def test_expected_q_by_hand():
    q = np.array([[10.0, 12.0, 8.0, 6.0], [1.0, 2.0, 3.0, 4.0]])
    out = _expected_q(q, np.array([0.75, 0.0]), CFG)
    expected = [
        [7.5, 9.0 - 0.25 * 0.2, 6.0 - 0.25 * 0.5, 4.5 - 0.25 * 0.5],
        [0.0, -0.2, -0.5, -0.5],
    ]
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-15)


# --------------------------------------------------------------------- dynamic programme


def test_dp_one_month_is_the_one_step_reward():
    # rec 1, one contact: s = 0.25
    np.testing.assert_allclose(q_hand(1), [5.0, 6.05, 4.0, 2.5], rtol=1e-12)
    # rec 0, none: s = 1
    np.testing.assert_allclose(q_hand(1, rec=0, bits=0), [5.0, 9.8, 5.5, 2.5], rtol=1e-12)


def test_dp_two_months_by_hand():
    """From (rec 1, one contact), one month left afterwards.

    Next states: none -> bits 010 (k 1), a contact -> bits 011 (k 2, f 0: no effect).
    V1(rec 0, 010) = max(5, 5*1.5 - 0.2 = 7.3, 4*1.25 - 0.5 = 4.5, 2.5) = 7.3
    V1(rec 2, 010) = max(5, 5*1.125 - 0.2 = 5.425, 4*1.0625 - 0.5 = 3.75, 2.5) = 5.425
    V1(rec 0 or 2, 011) = max(5, 4.8, 3.5, 2.5) = 5
    """
    q = q_hand(2)
    expected = [
        5.0 + 0.9 * E(-0.2) * ((1 - E(-1.0)) * 7.3 + E(-1.0) * 5.425),
        6.05 + 0.9 * E(-0.2 * 0.75) * 5.0,  # e-mail: dropout x0.75; 5 after buy or not
        4.0 + 0.9 * E(-0.2) * 5.0,
        2.5 + 0.9 * E(-0.2) * 5.0,
    ]
    np.testing.assert_allclose(q, expected, rtol=1e-12)


def test_dp_two_months_with_a_price_on_future_contacts():
    """Price 1 per future contact: V1(rec 0, 010) = max(5, 7.3 - 1, ...) = 6.3, the rest 5.

    The current action is not charged (its Q is as without the price).
    """
    q = q_hand(2, price=1.0)
    expected = [
        5.0 + 0.9 * E(-0.2) * ((1 - E(-1.0)) * 6.3 + E(-1.0) * 5.0),
        6.05 + 0.9 * E(-0.15) * 5.0,
        4.0 + 0.9 * E(-0.2) * 5.0,
        2.5 + 0.9 * E(-0.2) * 5.0,
    ]
    np.testing.assert_allclose(q, expected, rtol=1e-12)


@pytest.mark.parametrize(
    ("threshold", "price", "after_buy", "after_none", "later_contacts"),
    [
        # advantages of e-mail next month: 2.3 (rec 0, 010), 0.425 (rec 2, 010), -0.2 (011)
        (0.5, 0.0, 7.3, 5.0, 5.0),  # only the 2.3 one contacts
        (3.0, 0.0, 5.0, 5.0, 5.0),  # nobody contacts
        (0.0, 0.0, 7.3, 5.425, 5.0),  # the optimum
        (-1.0, 0.0, 7.3, 5.425, 4.8),  # everybody contacts, even at a loss
        (2.0, 1.0, 6.3, 5.0, 5.0),  # raw advantage 2.3 > 2 decides; the contact pays 1
    ],
)
def test_dp_following_the_one_step_rule(
    threshold: float, price: float, after_buy: float, after_none: float, later_contacts: float
):
    q = q_hand(2, base_threshold=threshold, price=price)
    expected = [
        5.0 + 0.9 * E(-0.2) * ((1 - E(-1.0)) * after_buy + E(-1.0) * after_none),
        6.05 + 0.9 * E(-0.15) * later_contacts,
        4.0 + 0.9 * E(-0.2) * later_contacts,
        2.5 + 0.9 * E(-0.2) * later_contacts,
    ]
    np.testing.assert_allclose(q, expected, rtol=1e-12)


def test_dp_without_effects_by_hand():
    """No effects: rewards (10, 9.8, 7.5, 5.5) anywhere, never contact later.

    Pareto (hazard 0.2): Q_m = r + 0.9 e^-0.2 V_{m-1}, V_1 = 10;
    BG/NBD (p 0.25, lam 2): survival of a month e^(-2 * 0.25).
    """
    args = (np.array([2.0]), np.array([10.0]))
    r = np.array([10.0, 9.8, 7.5, 5.5])
    rec, bits = np.array([3]), np.array([0b101])

    def dp(months: int, family: str, dropout: float, **kw: float) -> np.ndarray:
        """dp_q_values of the no-effect customer."""
        return dp_q_values(
            *args, np.array([dropout]), family, NO_EFF, CFG, months, rec, bits, **kw
        )[0]

    s = 0.9 * E(-0.2)
    np.testing.assert_allclose(dp(1, "pareto", 0.2), r, rtol=1e-12)
    np.testing.assert_allclose(dp(2, "pareto", 0.2), r + s * 10, rtol=1e-12)
    np.testing.assert_allclose(dp(3, "pareto", 0.2), r + s * (10 + s * 10), rtol=1e-12)
    # a price never matters when nobody is contacted later
    np.testing.assert_allclose(dp(3, "pareto", 0.2, price=2.0), r + s * (10 + s * 10), rtol=1e-12)
    # the one-step rule with a negative threshold e-mails (9.8) every later month
    np.testing.assert_allclose(
        dp(3, "pareto", 0.2, base_threshold=-0.5), r + s * (9.8 + s * 9.8), rtol=1e-12
    )
    b = 0.9 * E(-0.5)
    np.testing.assert_allclose(dp(2, "bgnbd", 0.25), r + b * 10, rtol=1e-12)
    np.testing.assert_allclose(dp(3, "bgnbd", 0.25), r + b * (10 + b * 10), rtol=1e-12)
    # dropout 1.5 per purchase is capped at 1: only a month without purchase survives
    np.testing.assert_allclose(dp(2, "bgnbd", 1.5), r + 0.9 * E(-2.0) * 10, rtol=1e-12)


def test_dp_when_the_coupon_is_the_best_contact():
    """Coupon 10 doubles the rate (lift 1), nothing else: rewards (10, 9.8, 15.5, 5.5) with
    lam 2, everywhere. Pareto hazard 0.2, s = 0.9 e^-0.2; V_1 = 15.5 (coupon)."""
    eff = TreatmentEffects(lift=(0.0, 0.0, 1.0, 0.0))
    r = np.array([10.0, 9.8, 15.5, 5.5])
    s = 0.9 * E(-0.2)

    def dp(**kw: float) -> np.ndarray:
        """Three months of the coupon customer."""
        return dp_q_values(
            np.array([2.0]),
            np.array([10.0]),
            np.array([0.2]),
            "pareto",
            eff,
            CFG,
            3,
            np.array([4]),
            np.array([0b010]),
            **kw,
        )[0]

    np.testing.assert_allclose(dp(), r + s * (15.5 + s * 15.5), rtol=1e-12)
    np.testing.assert_allclose(dp(price=3.0), r + s * (12.5 + s * 12.5), rtol=1e-12)
    np.testing.assert_allclose(dp(price=6.0), r + s * (10 + s * 10), rtol=1e-12)
    # the one-step rule: coupon (advantage 5.5) above a threshold of 1, nothing above 6
    np.testing.assert_allclose(dp(base_threshold=1.0), r + s * (15.5 + s * 15.5), rtol=1e-12)
    np.testing.assert_allclose(dp(base_threshold=6.0), r + s * (10 + s * 10), rtol=1e-12)


def test_dp_recency_is_capped():
    np.testing.assert_allclose(q_hand(3, rec=30), q_hand(3, rec=12), rtol=1e-12)
    assert np.abs(q_hand(3, rec=11) - q_hand(3, rec=12)).max() > 1e-6


@pytest.mark.parametrize("family", ["pareto", "bgnbd"])
@pytest.mark.parametrize(("price", "threshold"), [(0.0, None), (0.7, None), (0.0, 0.3), (0.5, 1.0)])
def test_dp_three_months_satisfies_the_bellman_equation(
    family: str, price: float, threshold: float | None
):
    """Q_3(s, a) = r(s, a) + gamma (P(buy) V_2(rec 0, b') + P(none) V_2(rec + 1, b')) for
    every (recency, contact bits), with V_2 the best (or the one-step rule's) Q_2, less the
    price of a contact."""
    rec = np.repeat(np.arange(13), 8)
    bits = np.tile(np.arange(8), 13)
    n = len(rec)
    lam, spend = np.full(n, 1.3), np.full(n, 10.0)
    dropout = np.full(n, 0.2 if family == "pareto" else 0.3)
    kw = {"price": price, "base_threshold": threshold}

    def value(months: int, r: np.ndarray, b: np.ndarray) -> np.ndarray:
        """V_months of the states (r, b) under the optimum or the one-step rule."""
        q = dp_q_values(lam, spend, dropout, family, EFF, CFG, months, r, b, **kw)
        q = q - np.array([0.0, price, price, price])
        if threshold is None:
            return q.max(axis=1)
        one = dp_q_values(lam, spend, dropout, family, EFF, CFG, 1, r, b)
        best = 1 + np.argmax(one[:, 1:], axis=1)
        act = np.where(one[np.arange(n), best] - one[:, 0] > threshold, best, 0)
        return q[np.arange(n), act]

    q3 = dp_q_values(lam, spend, dropout, family, EFF, CFG, 3, rec, bits, **kw)
    for a in range(4):
        r, pb, pn, nb = _one_month(lam, spend, dropout, family, EFF, CFG, a, rec, bits)
        v_buy = value(2, np.zeros(n, np.int64), nb)
        v_none = value(2, np.minimum(rec + 1, 12), nb)
        np.testing.assert_allclose(q3[:, a], r + 0.9 * (pb * v_buy + pn * v_none), rtol=1e-10)


# --------------------------------------------------------------------- posterior traits


def posterior_sim(state_model: BTYDStateModel) -> MarketingSimulator:
    """Three customers: x = 3 (last at week 10, mean repeat spend 20), x = 0, x = 1 (week 5,
    spend 8); all 30 weeks old."""
    return make_sim([3, 0, 1], [10, 0, 5], [30, 30, 30], [20, 0, 8], state_model)


GG = {"p": 6.0, "q": 4.0, "v": 15.0}
# Gamma-Gamma mean spend: w = p x / (p x + q - 1); (1 - w) v p / (q - 1) + w m
#   x 3, m 20: w = 18/21 -> 3/21 * 30 + 18/21 * 20 = 150/7; x 0: 30; x 1, m 8: w = 6/9
GG_SPEND = [150 / 7, 30.0, 3 / 9 * 30 + 6 / 9 * 8]


def test_posterior_traits_pareto_nbd_by_hand():
    sm = BTYDStateModel("pareto_nbd", {"r": 2.0, "alpha": 10.0, "s": 1.5, "beta": 20.0}, GG)
    lam, spend, dropout, p_alive, family = posterior_traits(sm, posterior_sim(sm))
    # lam | alive ~ Gamma(r + x, alpha + T) per week; mu ~ Gamma(s, beta + T)
    np.testing.assert_allclose(lam, np.array([5 / 40, 2 / 40, 3 / 40]) * MW, rtol=1e-12)
    np.testing.assert_allclose(dropout, 1.5 / 50 * MW, rtol=1e-12)
    np.testing.assert_allclose(spend, GG_SPEND, rtol=1e-12)
    np.testing.assert_allclose(p_alive, sm.p_alive([3, 0, 1], [10, 0, 5], [30, 30, 30]), rtol=1e-12)
    assert family == "pareto"


def test_posterior_traits_bgnbd_by_hand():
    sm = BTYDStateModel("bgnbd", {"r": 2.0, "alpha": 10.0, "a": 1.0, "b": 3.0}, GG)
    lam, spend, dropout, p_alive, family = posterior_traits(sm, posterior_sim(sm))
    np.testing.assert_allclose(lam, np.array([5 / 40, 2 / 40, 3 / 40]) * MW, rtol=1e-12)
    # p | alive ~ Beta(a, b + x): mean a / (a + b + x)
    np.testing.assert_allclose(dropout, [1 / 7, 1 / 4, 1 / 5], rtol=1e-12)
    np.testing.assert_allclose(spend, GG_SPEND, rtol=1e-12)
    # P(alive) = 1 / (1 + a / (b + x - 1) ((alpha + T) / (alpha + t_x)) ^ (r + x)); 1 if x = 0
    np.testing.assert_allclose(
        p_alive, [1 / (1 + 1 / 5 * 2.0**5), 1.0, 1 / (1 + 1 / 3 * (40 / 15) ** 3)], rtol=1e-12
    )
    assert family == "bgnbd"


def test_posterior_traits_nbd_and_flat_spend():
    sm = BTYDStateModel("nbd", {"r": 2.0, "alpha": 10.0}, {"mean_spend": 12.0})
    sim = posterior_sim(sm)
    sim.step(np.zeros(3, np.int64))  # one month later: T = 30 + MW, purchases added to x
    lam, spend, dropout, p_alive, family = posterior_traits(sm, sim)
    np.testing.assert_allclose(lam, (2 + sim.x) / (10 + 30 + MW) * MW, rtol=1e-12)
    np.testing.assert_allclose(dropout, 0.0, atol=0)
    np.testing.assert_allclose(spend, 12.0, rtol=1e-12)
    np.testing.assert_allclose(p_alive, 1.0, rtol=1e-12)
    assert family == "pareto"


# --------------------------------------------------------------------- policies


def test_full_information_myopic_scores_by_hand():
    sm = BTYDStateModel("nbd", {"r": 1.0, "alpha": 10.0}, {"mean_spend": 10.0})
    # customer 0: rec 1 (last purchase a month ago), customer 1: rec 0, customer 2: dead
    sim = make_sim(
        [3, 3, 3], [30 - MW, 30, 30], [30, 30, 30], [10, 10, 10], sm, alive0=[True, True, False]
    )
    sim.contact_bits = np.array([0b001, 0b000, 0b000])
    pol = FullInformationMyopicPolicy()
    assert pol.name == "full_info_myopic"
    got = pol.scores(np.zeros((3, len(FEATURES))), 0, sim)
    expected = [[5.0, 6.05, 4.0, 2.5], [5.0, 9.8, 5.5, 2.5], [0.0, -1.0, -1.0, -1.0]]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    sim.recency_m = np.array([40, 40, 40])  # capped at 12: s = 2 ** -12 (no contacts)
    got = pol.scores(np.zeros((3, len(FEATURES))), 0, sim)
    s = 2.0**-12
    np.testing.assert_allclose(got[1], [5.0, 5 * (1 + s) - 0.2, 4 * (1 + 0.5 * s) - 0.5, 2.5])


def mpc_sim() -> tuple[BTYDStateModel, MarketingSimulator]:
    """One customer whose NBD posterior rate is exactly 1 a month (no dropout), rec 1, one
    contact last month: the hand-solved MDP with a zero dropout hazard."""
    sm = BTYDStateModel("nbd", {"r": 1.0, "alpha": 4 * MW - 10}, {"mean_spend": 10.0})
    sim = make_sim([3], [10 - MW], [10], [10], sm)
    sim.contact_bits = np.array([0b001])
    return sm, sim


def test_posterior_mpc_scores_by_hand():
    sm, sim = mpc_sim()
    obs = np.zeros((1, len(FEATURES)))
    # two months left (t = 2 of 4): the two-month Q with survival 1
    pol = PosteriorMPCPolicy(EFF, CFG, sm)
    assert pol.name == "posterior_mpc"
    expected = [
        5.0 + 0.9 * ((1 - E(-1.0)) * 7.3 + E(-1.0) * 5.425),
        6.05 + 0.9 * 5.0,
        4.0 + 0.9 * 5.0,
        2.5 + 0.9 * 5.0,
    ]
    np.testing.assert_allclose(pol.scores(obs, 2, sim)[0], expected, rtol=1e-10)
    # the same from t = 0 with a two-month lookahead
    ahead = PosteriorMPCPolicy(EFF, CFG, sm, lookahead=2)
    np.testing.assert_allclose(ahead.scores(obs, 0, sim)[0], expected, rtol=1e-10)
    # last month: the one-step rewards
    np.testing.assert_allclose(pol.scores(obs, 3, sim)[0], [5.0, 6.05, 4.0, 2.5], rtol=1e-10)
    # a price of 1 per future contact: V1(rec 0, 010) = 6.3 instead of 7.3
    priced = PosteriorMPCPolicy(EFF, CFG, sm, price=1.0)
    # and V1(rec 2, 010) = max(5, 5.425 - 1) = 5
    expected[0] = 5.0 + 0.9 * ((1 - E(-1.0)) * 6.3 + E(-1.0) * 5.0)
    np.testing.assert_allclose(priced.scores(obs, 2, sim)[0], expected, rtol=1e-10)


def test_posterior_mpc_weights_by_p_alive():
    """BG/NBD posterior (x 3 at week 10 of 30): P(alive) = 1 / 7.4, p = 1 / 7, no effects.

    Last month: Q = r; two months: Q = r + 0.9 e^(-lam / 7) r_none (never contact later).
    Scores: P(alive) Q - (1 - P(alive)) cost.
    """
    sm = BTYDStateModel(
        "bgnbd", {"r": 2.0, "alpha": 10.0, "a": 1.0, "b": 3.0}, {"mean_spend": 10.0}
    )
    sim = make_sim([3], [10], [30], [10], sm, effects=NO_EFF)
    lam = 5 / 40 * MW
    r = np.array([5 * lam, 5 * lam - 0.2, 4 * lam - 0.5, 3 * lam - 0.5])
    cost = np.array([0.0, 0.2, 0.5, 0.5])
    pa = 1 / 7.4
    pol = PosteriorMPCPolicy(NO_EFF, CFG, sm, lookahead=2)
    obs = np.zeros((1, len(FEATURES)))
    np.testing.assert_allclose(pol.scores(obs, 3, sim)[0], pa * r - (1 - pa) * cost, rtol=1e-10)
    q2 = r + 0.9 * E(-lam / 7) * 5 * lam
    np.testing.assert_allclose(pol.scores(obs, 0, sim)[0], pa * q2 - (1 - pa) * cost, rtol=1e-10)


def rollout_world(
    cost_email: float, budget: float | None
) -> tuple[BTYDStateModel, MarketingSimulator, MarketingConfig, TreatmentEffects, np.ndarray]:
    """Four customers with x = (0, 3, 1, 2) repeat purchases at 30 weeks: NBD posterior rates
    (1 + x) / 40 per week, spend 10, e-mail lift 0.5 and nothing else (stationary)."""
    sm = BTYDStateModel("nbd", {"r": 1.0, "alpha": 10.0}, {"mean_spend": 10.0})
    eff = TreatmentEffects(lift=(0.0, 0.5, 0.0, 0.0))
    cfg = MarketingConfig(
        horizon=4,
        gamma=0.9,
        margin=0.5,
        action_cost=(0.0, cost_email, 0.5, 0.5),
        discount=(0.0, 0.0, 0.1, 0.2),
        budget=budget,
    )
    sim = make_sim([0, 3, 1, 2], [0, 20, 20, 20], [30] * 4, [0, 10, 10, 10], sm, eff, cfg)
    lam = np.array([1, 4, 2, 3]) / 40 * MW
    return sm, sim, cfg, eff, lam


@pytest.mark.parametrize(("share", "cand"), [(0.5, [1, 3]), (0.1, [1])])
def test_rollout_scores_with_a_budget_by_hand(share: float, cand: list[int]):
    """Budget 1 of 4: the base rule's cut-off is the best advantage (customer 1's); later
    months contact only advantages strictly above it ("exceeds", as documented), so no
    candidate is contacted later; candidates: the top ``share`` by advantage (customers 1,
    3 for a half; at least one, customer 1, for a tenth)."""
    sm, sim, cfg, eff, lam = rollout_world(0.2, 0.25)
    r = np.stack([5 * lam, 7.5 * lam - 0.2, 4 * lam - 0.5, 3 * lam - 0.5], axis=1)
    pol = RolloutPolicy(eff, cfg, sm, lookahead=3, candidate_share=share)
    assert pol.name == "rollout"
    got = pol.scores(np.zeros((4, len(FEATURES))), 0, sim)
    expected = r + (0.9 + 0.81) * r[:, :1]  # three months, "none" in the later two
    for i in set(range(4)) - set(cand):  # pruned: "none" one-step, contacts one below it
        expected[i] = [r[i, 0], r[i, 0] - 1, r[i, 0] - 1, r[i, 0] - 1]
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    assert pol.evaluations == len(cand) * 4 * (2 * 13 * 8 + 1)
    # last month: a one-month rollout is the one-step value
    got = pol.scores(np.zeros((4, len(FEATURES))), 3, sim)
    expected[cand] = r[cand]
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    assert pol.evaluations == len(cand) * 4 * (2 * 13 * 8 + 1) + len(cand) * 4
    # a one-month lookahead is allowed: the one-step values from month 0 as well
    short = RolloutPolicy(eff, cfg, sm, lookahead=1, candidate_share=share)
    np.testing.assert_allclose(short.scores(np.zeros((4, len(FEATURES))), 0, sim), expected)
    assert short.evaluations == len(cand) * 4


def test_rollout_bgnbd_weights_by_p_alive():
    """One BG/NBD customer (x 3 at week 10 of 30): lam = 5/40 per week, p = 1/7,
    P(alive) = 1/7.4. Alone, the customer is the budget cut-off, so the base rule never
    contacts later: Q = r + 0.9 S_a (r_none + 0.9 S r_none), with S = exp(-lam p) the
    survival of a month without contact and S_1 = exp(-1.5 lam p) after an e-mail (its
    extra purchases are extra chances to drop out)."""
    sm = BTYDStateModel(
        "bgnbd", {"r": 2.0, "alpha": 10.0, "a": 1.0, "b": 3.0}, {"mean_spend": 10.0}
    )
    eff = TreatmentEffects(lift=(0.0, 0.5, 0.0, 0.0))
    sim = make_sim([3], [10], [30], [10], sm, eff)
    lam = 5 / 40 * MW
    r = np.array([5 * lam, 7.5 * lam - 0.2, 4 * lam - 0.5, 3 * lam - 0.5])
    s = 0.9 * E(-lam / 7)
    q = r + s * (r[0] + s * r[0])
    q[1] = r[1] + 0.9 * E(-1.5 * lam / 7) * (r[0] + s * r[0])
    pa = 1 / 7.4
    pol = RolloutPolicy(eff, CFG, sm, lookahead=3, candidate_share=0.5)
    got = pol.scores(np.zeros((1, len(FEATURES))), 0, sim)[0]
    np.testing.assert_allclose(got, pa * q - (1 - pa) * np.array([0.0, 0.2, 0.5, 0.5]), rtol=1e-10)


def test_rollout_scores_without_a_budget_by_hand():
    """No budget: the cut-off is max(0, smallest advantage) = 0 (e-mail costs 0.6, so the
    advantages 2.5 lam - 0.6 of customers 0 and 2 are negative); all are candidates.
    Customers 1 and 3 (positive advantage) are e-mailed in the later months."""
    sm, sim, cfg, eff, lam = rollout_world(0.6, None)
    r = np.stack([5 * lam, 7.5 * lam - 0.6, 4 * lam - 0.5, 3 * lam - 0.5], axis=1)
    assert list(np.sign(r[:, 1] - r[:, 0])) == [-1, 1, -1, 1]
    pol = RolloutPolicy(eff, cfg, sm, lookahead=5, candidate_share=1.0)
    got = pol.scores(np.zeros((4, len(FEATURES))), 1, sim)  # three months left
    later = np.where(r[:, 1] > r[:, 0], r[:, 1], r[:, 0])
    np.testing.assert_allclose(got, r + (0.9 + 0.81) * later[:, None], rtol=1e-10)
    assert pol.evaluations == 4 * 4 * (2 * 13 * 8 + 1)


def test_rollout_defaults_and_lookahead_check():
    sm, sim, cfg, eff, lam = rollout_world(0.2, 0.25)
    pol = RolloutPolicy(eff, cfg, sm)
    assert (pol.lookahead, pol.candidate_share, pol.evaluations) == (3, 0.6, 0)
    # default: 3 months, ceil(0.6 * 4) = 3 candidates (customers 1, 3, 2)
    got = pol.scores(np.zeros((4, len(FEATURES))), 0, sim)
    r = np.stack([5 * lam, 7.5 * lam - 0.2, 4 * lam - 0.5, 3 * lam - 0.5], axis=1)
    expected = r + (0.9 + 0.81) * r[:, :1]
    expected[0] = [r[0, 0], r[0, 0] - 1, r[0, 0] - 1, r[0, 0] - 1]
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    assert pol.evaluations == 3 * 4 * (2 * 13 * 8 + 1)
    with pytest.raises(ValueError, match="lookahead must be >= 1, got 0"):
        RolloutPolicy(eff, cfg, sm, lookahead=0)


def test_rollout_candidates_are_the_largest_advantages_not_the_largest_values():
    """A buys often but last bought 4 months ago (the e-mail's lift has decayed: a large
    value, a small advantage); B bought once, this month (a small value, a large
    advantage). With room for one candidate the rollout must go to B, and A keeps its
    pruned one-step scores: "none" at its one-month value, every contact 1 below it."""
    sm = BTYDStateModel("nbd", {"r": 1.0, "alpha": 10.0}, {"mean_spend": 10.0})
    eff = TreatmentEffects(lift=(0.0, 0.5, 0.0, 0.0), recency_decay=0.5)
    cfg = MarketingConfig(
        horizon=4,
        gamma=0.9,
        margin=0.5,
        action_cost=(0.0, 0.2, 0.5, 0.5),
        discount=(0.0, 0.0, 0.1, 0.2),
        budget=0.5,
    )
    sim = make_sim([6, 1], [14, 30], [30, 30], [10, 10], sm, eff, cfg)
    lam, spend, dropout, p_alive, family = posterior_traits(sm, sim)
    one = dp_q_values(lam, spend, dropout, family, eff, cfg, 1, sim.recency_m, sim.contact_bits)
    advantage = one[:, 1:].max(axis=1) - one[:, 0]
    assert advantage[1] > advantage[0] and one[0, 0] > one[1, 0]  # the orders disagree
    got = RolloutPolicy(eff, cfg, sm, lookahead=3, candidate_share=0.5).scores(
        np.zeros((2, len(FEATURES))), 0, sim
    )
    np.testing.assert_allclose(got[0], one[0, 0] - np.array([0.0, 1.0, 1.0, 1.0]), rtol=1e-12)
    assert got[1, 0] > one[1, 0] + 0.5  # B's scores are three-month rollout values
