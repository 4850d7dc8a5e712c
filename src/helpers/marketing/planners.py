"""Planners that split the oracle gap: full-information myopic, posterior MPC, rollout.

The oracle (:class:`helpers.marketing.policies.OraclePolicy`) beats the one-step uplift
rule for two reasons: it *knows* each customer's true traits and alive state
(information), and it *plans* over the remaining months (retention, fatigue, recency).
Three policies separate the two:

* :class:`FullInformationMyopicPolicy` -- the one-step rule computed from the true
  traits and alive state: all the information, no planning;
* :class:`PosteriorMPCPolicy` -- model-predictive (certainty-equivalent) control: each
  month, re-solve the oracle's dynamic programme over the remaining months on each
  customer's *posterior-mean* traits given the observed history, weight by P(alive), and
  act on the advantages. All the planning a marketer can run, none of the hidden
  information;
* :class:`RolloutPolicy` -- one step of policy improvement over the one-step rule
  (Bertsekas 2017 ch. 6; Tesauro & Galperin 1996): for each candidate action, the
  value of taking it now and following the base rule for ``lookahead`` months. The
  rollouts are computed *in expectation* over the customer's (recency, contact
  history, alive) Markov chain on the posterior-mean traits -- what infinitely many
  Monte Carlo rollouts with common random numbers would converge to, without their
  noise. Cost per month: ``lookahead`` backward steps over 13 x 8 states per
  candidate customer; candidates are pruned to the customers the base rule ranks in
  its top ``candidate_share``.

So uplift -> MPC is the *planning* part of the gap, MPC -> full-information myopic
-> oracle the *information* part (plus whatever planning cannot recover without it).

The observed history each policy reads (repeat purchases, their dates, spend,
months since the last purchase, contact history) is what a marketer knows; only the
full-information policy and the oracle read the simulator's hidden traits.

References
----------
Bertsekas, D. P. (2017), *Dynamic Programming and Optimal Control*, vol. 1, 4th ed.,
ch. 6 (rollout, model predictive control, certainty equivalence).
Tesauro, G. & Galperin, G. R. (1996), "On-line policy improvement using Monte-Carlo
search", NIPS 9.
"""

from __future__ import annotations

import numpy as np

from .simulator import (
    MONTH_WEEKS,
    RECENCY_CAP,
    BTYDStateModel,
    MarketingConfig,
    MarketingSimulator,
    TreatmentEffects,
)

__all__ = [
    "FullInformationMyopicPolicy",
    "PosteriorMPCPolicy",
    "RolloutPolicy",
    "dp_q_values",
    "posterior_traits",
]

_N_REC = RECENCY_CAP + 1
_BITS = np.arange(8)
_K3 = (_BITS & 1) + ((_BITS >> 1) & 1) + ((_BITS >> 2) & 1)


def _one_month(
    lam: np.ndarray,
    spend: np.ndarray,
    dropout: np.ndarray,
    family: str,
    effects: TreatmentEffects,
    config: MarketingConfig,
    action: int,
    rec: np.ndarray,
    bits: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Expected reward, P(buy and survive), P(no buy and survive), next contact bits."""
    rate_m, drop_m = effects.modifiers(np.int64(action), rec, _K3[bits])
    big = lam * rate_m
    reward = big * spend * (config.margin - config.discount[action]) - config.action_cost[action]
    e0 = np.exp(-big)
    if family == "bgnbd":
        pd_ = np.minimum(dropout * drop_m, 1.0)
        p_none = e0 * np.ones_like(pd_)
        p_buy = np.exp(-big * pd_) - e0
    else:  # pareto (and the no-dropout nbd: dropout 0)
        surv = np.exp(-dropout * drop_m)
        p_buy, p_none = (1 - e0) * surv, e0 * surv
    nb = ((bits << 1) | int(action > 0)) & 7
    return reward, p_buy, p_none, nb


def dp_q_values(
    lam: np.ndarray,
    spend: np.ndarray,
    dropout: np.ndarray,
    family: str,
    effects: TreatmentEffects,
    config: MarketingConfig,
    months: int,
    rec_now: np.ndarray,
    bits_now: np.ndarray,
    price: float = 0.0,
    base_threshold: float | None = None,
) -> np.ndarray:
    """Q-values ``(N, 4)`` of the current state with ``months`` months left, if alive.

    Backward induction over (recency 0..RECENCY_CAP, last three months' contacts) for
    customers with traits ``lam`` (purchases per month), ``spend`` (mean spend per
    purchase) and ``dropout`` (hazard per month, or per-purchase probability for
    ``family="bgnbd"``). ``price`` is charged per future contact (a Lagrangian budget
    price). With ``base_threshold`` set the future follows the *one-step rule* instead
    of the optimum: contact with the best one-step action when its one-step advantage
    over "none" exceeds the threshold (policy evaluation of the base rule, for rollout).
    """
    lam, spend, dropout = (np.asarray(v, float)[:, None, None] for v in (lam, spend, dropout))
    rec = np.arange(_N_REC)[None, :, None]
    bits = _BITS[None, None, :]
    rec_next = np.minimum(np.arange(_N_REC) + 1, RECENCY_CAP)
    n = lam.shape[0]
    v = np.zeros((n, _N_REC, 8))
    gamma = config.gamma
    steps = []
    for a in range(4):
        r, pb, pn, _ = _one_month(lam, spend, dropout, family, effects, config, a, rec, bits)
        nb = ((_BITS << 1) | int(a > 0)) & 7  # next contact bits, the same for everyone
        steps.append((r - (price if a else 0.0), gamma * pb, gamma * pn, nb))
    if base_threshold is not None:
        one_step = np.stack([s[0] + (price if a else 0.0) for a, s in enumerate(steps)], -1)
        best = 1 + np.argmax(one_step[..., 1:], axis=-1)
        adv = np.take_along_axis(one_step, best[..., None], -1)[..., 0] - one_step[..., 0]
        base_action = np.where(adv > base_threshold, best, 0)
        take = [base_action == a for a in range(4)]
    for _ in range(months - 1):
        v_buy = v[:, :1, :]  # recency resets to 0 after a purchase
        v_none = v[:, rec_next, :]
        qs = [r + pb * v_buy[:, :, nb] + pn * v_none[:, :, nb] for r, pb, pn, nb in steps]
        if base_threshold is None:
            v = np.maximum(np.maximum(qs[0], qs[1]), np.maximum(qs[2], qs[3]))
        else:
            v = np.select(take, qs)
    # Q of the current state only
    rec_i = np.minimum(np.asarray(rec_now, np.int64), RECENCY_CAP)
    bits_i = np.asarray(bits_now, np.int64)
    flat = np.arange(n)
    out = np.empty((n, 4))
    for a in range(4):
        r, pb, pn, nb = _one_month(
            lam[:, 0, 0],
            spend[:, 0, 0],
            dropout[:, 0, 0],
            family,
            effects,
            config,
            a,
            rec_i,
            bits_i,
        )
        cont = pb * v[flat, 0, nb] + pn * v[flat, np.minimum(rec_i + 1, RECENCY_CAP), nb]
        out[:, a] = r + (gamma * cont if months > 1 else 0.0)
    return out


def posterior_traits(
    state_model: BTYDStateModel, sim: MarketingSimulator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """Posterior-mean traits from the observed history: lam, spend, dropout, P(alive), family.

    Given alive, Pareto/NBD: ``lam ~ Gamma(r + x, alpha + T)``, ``mu ~ Gamma(s, beta + T)``
    (per week, converted to months); BG/NBD: ``p ~ Beta(a, b + x)``; NBD: no dropout.
    Spend: the Gamma-Gamma conditional mean. Uses ``x, t_x, T`` and the repeat spend of
    the simulated history (what a marketer has observed), never the hidden traits.
    """
    pr = state_model.params
    x, t_x, age = sim.x, sim.t_x, sim.T
    lam = (pr["r"] + x) / (pr["alpha"] + age) * MONTH_WEEKS
    if state_model.family == "pareto_nbd":
        dropout, family = pr["s"] / (pr["beta"] + age) * MONTH_WEEKS, "pareto"
    elif state_model.family == "bgnbd":
        dropout, family = pr["a"] / (pr["a"] + pr["b"] + x), "bgnbd"
    else:
        dropout, family = np.zeros_like(x), "pareto"
    m_obs = np.where(x > 0, sim.rep_spend / np.maximum(x, 1), 0.0)
    spend = state_model.expected_spend_per_purchase(x, m_obs)
    p_alive = state_model.p_alive(x, t_x, age)
    return lam, spend, dropout, p_alive, family


def _expected_q(q_alive: np.ndarray, p_alive: np.ndarray, config: MarketingConfig) -> np.ndarray:
    """Q weighted by P(alive): a dead customer only costs the contact."""
    cost = np.asarray(config.action_cost)[None, :]
    return p_alive[:, None] * q_alive - (1 - p_alive[:, None]) * cost


class FullInformationMyopicPolicy:
    """The one-step uplift rule with the simulator's true traits and alive state.

    Scores = expected profit this month under the true purchase rate, spend and
    treatment response; dead customers get "none". No planning: it isolates what
    information alone is worth.
    """

    name = "full_info_myopic"

    def scores(self, obs: np.ndarray, t: int, sim: MarketingSimulator) -> np.ndarray:
        """True one-step expected profit per action (privileged)."""
        p = sim.pop
        out = np.empty((sim.n, 4))
        for a in range(4):
            r, *_ = _one_month(
                p.lam, p.mean_spend, p.dropout, p.family, sim.effects, sim.config, a,
                np.minimum(sim.recency_m, RECENCY_CAP), sim.contact_bits,
            )  # fmt: skip
            out[:, a] = r
        out[~sim.alive, 0] = 0.0
        out[~sim.alive, 1:] = -1.0
        return out


class PosteriorMPCPolicy:
    """Certainty-equivalent model-predictive control on the BTYD posterior.

    Each month: posterior-mean traits of every customer given the observed history
    (:func:`posterior_traits`), the oracle's backward induction over the remaining months
    (or ``lookahead`` months if smaller) on those traits under the *assumed* effects,
    Q weighted by P(alive). ``price`` is a Lagrangian charge per future contact, so the
    plan expects the budget to bind later too (0 = plan as if contacts were free).
    """

    def __init__(
        self,
        effects: TreatmentEffects,
        config: MarketingConfig,
        state_model: BTYDStateModel,
        price: float = 0.0,
        lookahead: int | None = None,
        name: str = "posterior_mpc",
    ):
        self.effects = effects
        self.config = config
        self.state_model = state_model
        self.price = float(price)
        self.lookahead = lookahead
        self.name = name

    def scores(self, obs: np.ndarray, t: int, sim: MarketingSimulator) -> np.ndarray:
        """Posterior-mean Q-values of the current state."""
        lam, spend, dropout, p_alive, family = posterior_traits(self.state_model, sim)
        months = self.config.horizon - t
        if self.lookahead is not None:
            months = min(months, self.lookahead)
        q = dp_q_values(
            lam, spend, dropout, family, self.effects, self.config, months,
            sim.recency_m, sim.contact_bits, price=self.price,
        )  # fmt: skip
        return _expected_q(q, p_alive, self.config)


class RolloutPolicy:
    """Rollout over the one-step rule, in expectation on the posterior-mean traits.

    For every candidate customer and action: this month's expected profit plus the
    expected discounted profit of following the base rule for ``lookahead - 1`` more
    months (base = contact with the best one-step action when its one-step advantage
    exceeds this month's budget cut-off of the base rule's advantages, i.e. the base
    rule as the allocator would run it). Candidates: the customers in the top
    ``candidate_share`` of the base rule's advantages (the others are not contacted).
    ``evaluations`` counts the state-action values computed (the cost of the rollouts).
    """

    def __init__(
        self,
        effects: TreatmentEffects,
        config: MarketingConfig,
        state_model: BTYDStateModel,
        lookahead: int = 3,
        candidate_share: float = 0.6,
        name: str = "rollout",
    ):
        if lookahead < 1:
            raise ValueError(f"lookahead must be >= 1, got {lookahead}")
        self.effects = effects
        self.config = config
        self.state_model = state_model
        self.lookahead = int(lookahead)
        self.candidate_share = float(candidate_share)
        self.name = name
        self.evaluations = 0

    def scores(self, obs: np.ndarray, t: int, sim: MarketingSimulator) -> np.ndarray:
        """Rollout Q-values (candidates) or base one-step values (the rest)."""
        lam, spend, dropout, p_alive, family = posterior_traits(self.state_model, sim)
        rec, bits = sim.recency_m, sim.contact_bits
        one = dp_q_values(lam, spend, dropout, family, self.effects, self.config, 1, rec, bits)
        base = _expected_q(one, p_alive, self.config)
        adv = base[:, 1:].max(axis=1) - base[:, 0]
        n = len(adv)
        budget = self.config.budget if self.config.budget is not None else 1.0
        k = min(n, max(1, int(np.floor(budget * n))))
        # the base rule of later months: the same budget cut-off, on alive customers
        adv_alive = one[:, 1:].max(axis=1) - one[:, 0]
        threshold = max(0.0, float(np.sort(adv_alive)[::-1][k - 1]))
        n_cand = max(1, int(np.ceil(self.candidate_share * n)))
        # rounded: customers whose advantages differ only by float noise (1e-15) are tied,
        # and ties go to the lower index, so the candidates do not hang on rounding
        cand = np.argsort(-np.round(adv, 9), kind="stable")[:n_cand]
        months = min(self.config.horizon - t, self.lookahead)
        q = dp_q_values(
            lam[cand], spend[cand], dropout[cand], family, self.effects, self.config, months,
            rec[cand], bits[cand], base_threshold=threshold,
        )  # fmt: skip
        self.evaluations += len(cand) * 4 * (max(0, months - 1) * _N_REC * 8 + 1)
        out = base.copy()
        out[:, 1:] = out[:, :1] - 1.0  # pruned customers are never contacted
        out[cand] = _expected_q(q, p_alive[cand], self.config)
        return out
