"""Marketer heuristics and the dynamic-programming oracle.

Every policy returns action *scores* ``(N, 4)``; the shared budget allocator
(:func:`helpers.marketing.simulator.allocate`) contacts the customers with the largest
advantage over "none", so all policies are compared at equal budget.

References
----------
Sutton, R. S. & Barto, A. G. (2018), *Reinforcement Learning: An Introduction*, ch. 4
(dynamic programming, backward induction over a finite horizon).
Bertsekas, D. P. (2017), *Dynamic Programming and Optimal Control*, vol. 1 (Lagrangian
relaxation of a resource constraint).
"""

from __future__ import annotations

import numpy as np

from .simulator import FEATURE_INDEX as FI
from .simulator import (
    RECENCY_CAP,
    MarketingConfig,
    MarketingSimulator,
    NobodyPolicy,
    TreatmentEffects,
    no_contact_scores,
    run_policy,
)

__all__ = [
    "ChurnRiskPolicy",
    "EverybodyPolicy",
    "NobodyPolicy",
    "OneStepUpliftPolicy",
    "OraclePolicy",
    "RFMPolicy",
    "RandomPolicy",
    "TopCLVPolicy",
    "fit_oracle_price",
    "heuristic_policies",
]


def _contact_scores(n: int, action: int, priority: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Scores contacting ``eligible`` customers with ``action``, ranked by ``priority``."""
    out = np.full((n, 4), -np.inf)
    out[:, 0] = 0.0
    pr = np.asarray(priority, float)
    pr = pr - np.nanmin(pr) + 1.0 if pr.size else pr
    out[:, action] = np.where(eligible, pr, -1.0)
    return out


class EverybodyPolicy:
    """Contact everybody with ``action``; under a budget, a random subset of that size."""

    def __init__(self, action: int = 1):
        self.action = action
        self.name = "everybody"

    def scores(self, obs: np.ndarray, t: int, sim: MarketingSimulator) -> np.ndarray:
        """Equal advantage for all (ties are broken at random by the allocator)."""
        n = obs.shape[0]
        return _contact_scores(n, self.action, np.ones(n), np.ones(n, bool))


class RandomPolicy:
    """Random customers and a random contact action, at the budget."""

    name = "random"

    def scores(self, obs: np.ndarray, t: int, sim: MarketingSimulator) -> np.ndarray:
        """Uniform scores from the run's policy generator (paired across policies)."""
        u = sim.policy_rng.random((obs.shape[0], 4))
        u[:, 0] = 0.0
        return u


class TopCLVPolicy:
    """Top-k by predicted 12-month spend (BTYD, updated), contacted with ``action``."""

    def __init__(self, action: int = 1):
        self.action = action
        self.name = "top_clv"

    def scores(self, obs: np.ndarray, t: int, sim: MarketingSimulator) -> np.ndarray:
        """Priority = ``clv_12m``."""
        n = obs.shape[0]
        return _contact_scores(n, self.action, obs[:, FI["clv_12m"]], np.ones(n, bool))


class ChurnRiskPolicy:
    """Top-k by churn risk ``1 - P(alive)`` among repeat buyers still likely alive.

    Eligible: at least one repeat purchase and ``P(alive) >= min_p_alive`` (no point in
    courting the long gone); contacted with ``action`` (a retention coupon by default).
    """

    def __init__(self, action: int = 2, min_p_alive: float = 0.2):
        self.action = action
        self.min_p_alive = min_p_alive
        self.name = "churn_risk"

    def scores(self, obs: np.ndarray, t: int, sim: MarketingSimulator) -> np.ndarray:
        """Priority = ``1 - p_alive``."""
        pa = obs[:, FI["p_alive"]]
        eligible = (obs[:, FI["frequency"]] >= 1) & (pa >= self.min_p_alive)
        return _contact_scores(obs.shape[0], self.action, 1 - pa, eligible)


class RFMPolicy:
    """A classic RFM rule.

    R score: recency <= 2 months: 3, <= 6: 2, <= 12: 1, else 0; F score: repeat purchases
    >= 5: 3, >= 2: 2, >= 1: 1, else 0; M score: 1 if average spend is above
    ``spend_median`` (the median of the population it was built for). Actions:
    "champions" (R >= 2 and F >= 2) get an email, "at risk" (R = 1, F >= 1) a 10 %
    coupon, "lapsed" (R = 0, F >= 2) a 20 % coupon; priority R + F + M.
    """

    def __init__(self, spend_median: float):
        self.spend_median = float(spend_median)
        self.name = "rfm"

    def scores(self, obs: np.ndarray, t: int, sim: MarketingSimulator) -> np.ndarray:
        """Rule-based scores."""
        rec, f = obs[:, FI["recency"]], obs[:, FI["frequency"]]
        r_s = np.select([rec <= 2, rec <= 6, rec <= 12], [3, 2, 1], 0)
        f_s = np.select([f >= 5, f >= 2, f >= 1], [3, 2, 1], 0)
        m_s = (obs[:, FI["avg_spend"]] > self.spend_median).astype(int)
        prio = (r_s + f_s + m_s).astype(float) + 1.0
        out = no_contact_scores(obs.shape[0])
        champ = (r_s >= 2) & (f_s >= 2)
        risk = (r_s == 1) & (f_s >= 1)
        lapsed = (r_s == 0) & (f_s >= 2)
        out[champ, 1] = prio[champ]
        out[risk, 2] = prio[risk]
        out[lapsed, 3] = prio[lapsed]
        return out


class OneStepUpliftPolicy:
    """Myopic uplift rule: the action with the best expected profit *this month*.

    Expected profit of action ``a`` = ``E[n] m_a s (margin - discount_a) - cost_a`` with
    ``E[n]`` the BTYD expected purchases next month, ``s`` the expected spend per
    purchase and ``m_a`` the assumed purchase-rate multiplier (lift x fatigue x recency
    response of ``effects``, the assumptions the agents were trained under). Contact when
    it beats "none"; retention effects and future fatigue are ignored by design.
    """

    def __init__(self, effects: TreatmentEffects, config: MarketingConfig):
        self.effects = effects
        self.config = config
        self.name = "one_step_uplift"

    def scores(self, obs: np.ndarray, t: int, sim: MarketingSimulator) -> np.ndarray:
        """One-step expected profit per action."""
        c = self.config
        e_n = obs[:, FI["exp_purchases"]]
        value = obs[:, FI["exp_spend"]]  # e_n * spend per purchase
        rec = obs[:, FI["recency"]]
        k3 = obs[:, FI["contacts_3m"]]
        out = np.empty((obs.shape[0], 4))
        for a in range(4):
            mult, _ = self.effects.modifiers(np.full(len(e_n), a), rec, k3)
            out[:, a] = value * mult * (c.margin - c.discount[a]) - c.action_cost[a]
        del e_n
        return out


def heuristic_policies(
    effects: TreatmentEffects, config: MarketingConfig, spend_median: float
) -> dict[str, object]:
    """The standard set of baselines, keyed by name."""
    pols = [
        NobodyPolicy(),
        EverybodyPolicy(),
        RandomPolicy(),
        TopCLVPolicy(),
        ChurnRiskPolicy(),
        RFMPolicy(spend_median),
        OneStepUpliftPolicy(effects, config),
    ]
    return {p.name: p for p in pols}


# --------------------------------------------------------------------------- oracle


_N_REC = RECENCY_CAP + 1
_BITS = np.arange(8)
_K3 = (_BITS & 1) + ((_BITS >> 1) & 1) + ((_BITS >> 2) & 1)


class OraclePolicy:
    """Knows each customer's true traits, alive state and treatment response.

    Solves the finite-horizon MDP of each customer exactly by backward induction over
    the state (alive, recency 0..RECENCY_CAP months, contacts in each of the last three
    months), using the *simulator's* effects, family and economics. A Lagrangian
    ``price`` is charged per contact (0 = the unconstrained optimum); under a budget the
    allocator ranks customers by the oracle's advantage (see :func:`fit_oracle_price`).
    Without a budget and with ``price = 0`` it maximises expected discounted profit, so
    it is an upper bound for every policy in expectation.
    """

    def __init__(self, price: float = 0.0):
        self.price = float(price)
        self.name = "oracle"
        self._sim_id: int | None = None

    def _q(self, sim: MarketingSimulator, v_next: np.ndarray, rec, bits, idx) -> np.ndarray:
        """Q-values (.., 4) for customers ``idx`` in states (rec, bits), given V_{t+1}."""
        p, c, e = sim.pop, sim.config, sim.effects
        lam = p.lam[idx]
        ms, dr = p.mean_spend[idx], p.dropout[idx]
        out = []
        for a in range(4):
            k3 = _K3[bits]
            rate_m, drop_m = e.modifiers(np.int64(a), rec, k3)
            big = lam * rate_m
            reward = big * ms * (c.margin - c.discount[a]) - c.action_cost[a]
            if a:
                reward = reward - self.price
            e0 = np.exp(-big)
            if p.family == "pareto":
                surv = np.exp(-dr * drop_m)
                p_buy, p_none = (1 - e0) * surv, e0 * surv
            else:
                pd_ = np.minimum(dr * drop_m, 1.0)
                p_none = e0
                p_buy = np.exp(-big * pd_) - e0
            nb = ((bits << 1) | int(a > 0)) & 7
            rec_next = np.minimum(rec + 1, RECENCY_CAP)
            cont = p_buy * _gather(v_next, idx, 0, nb) + p_none * _gather(v_next, idx, rec_next, nb)
            out.append(reward + c.gamma * cont)
        return np.stack(out, axis=-1)

    def begin(self, sim: MarketingSimulator) -> None:
        """Backward induction for all customers of ``sim`` (called by ``run_policy``)."""
        key = (id(sim.pop), id(sim.effects), id(sim.config))
        if getattr(self, "_key", None) == key:
            self._sim_id = id(sim)
            return
        n, h = sim.n, sim.config.horizon
        rec = np.arange(_N_REC)[None, :, None]
        bits = _BITS[None, None, :]
        idx = np.arange(n)[:, None, None]
        values = np.zeros((h + 1, n, _N_REC, 8), dtype=np.float64)
        for t in range(h - 1, -1, -1):
            q = self._q(sim, values[t + 1], rec, bits, idx)
            values[t] = q.max(axis=-1)
        self._values = values
        self._sim_id = id(sim)
        self._key = key

    def scores(self, obs: np.ndarray, t: int, sim: MarketingSimulator) -> np.ndarray:
        """Q-values of the true current state (dead customers: "none")."""
        if self._sim_id != id(sim):
            self.begin(sim)
        idx = np.arange(sim.n)
        rec = np.minimum(sim.recency_m, RECENCY_CAP)
        q = self._q(sim, self._values[t + 1], rec, sim.contact_bits, idx)
        dead = ~sim.alive
        q[dead, 0] = 0.0
        q[dead, 1:] = -1.0
        return q

    def value(self) -> np.ndarray:
        """Expected discounted profit of each customer at t = 0 if alive (after begin)."""
        return self._values[0]


def _gather(v: np.ndarray, idx, rec, bits) -> np.ndarray:
    return v[idx, rec, bits]


def fit_oracle_price(
    sim: MarketingSimulator, budget: float, seed: int, iterations: int = 12
) -> float:
    """Lagrangian contact price at which the unconstrained oracle uses about ``budget``.

    Bisection on the price so that the oracle's average monthly contact share (without
    a cap) is at most ``budget``; returns 0 when the budget does not bind.
    """

    def share(price: float) -> float:
        return run_policy(sim, OraclePolicy(price), seed, budget=None).contact_rate

    if share(0.0) <= budget:
        return 0.0
    lo, hi = 0.0, 1.0
    while share(hi) > budget and hi < 1e4:
        lo, hi = hi, hi * 4
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        if share(mid) > budget:
            lo = mid
        else:
            hi = mid
    return hi
