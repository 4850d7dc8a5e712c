"""Known-answer tests of off-policy evaluation (:mod:`helpers.marketing.ope`).

Every expected value below is written out by hand (literal numbers and simple
arithmetic), never by re-running the estimator: a PDIS without importance weights, a
WPDIS that averages the raw rewards or a doubly robust estimator with every ratio set to
one must fail here.
"""

from __future__ import annotations

import numpy as np
import pytest

from helpers.marketing.ope import (
    LoggedData,
    SoftenedPolicy,
    _design,
    collect_logs,
    doubly_robust,
    estimate_all,
    fqe,
    ope_table,
    pdis,
    true_value,
    wpdis,
)
from helpers.marketing.simulator import (
    FEATURE_INDEX,
    FEATURES,
    BTYDStateModel,
    MarketingConfig,
    MarketingSimulator,
    MarketingWorld,
    Population,
    TreatmentEffects,
)

F = len(FEATURES)


class TableScores:
    """A base policy returning a fixed scores table (ignores the state)."""

    name = "table"

    def __init__(self, table: np.ndarray):
        self.table = np.asarray(table, float)

    def scores(self, obs: np.ndarray, t: int, sim: object) -> np.ndarray:
        """The fixed table."""
        return self.table


class RowScores:
    """A base policy giving every customer the same scores row."""

    name = "row"

    def __init__(self, row: list[float]):
        self.row = np.asarray(row, float)

    def scores(self, obs: np.ndarray, t: int, sim: object) -> np.ndarray:
        """The row, once per customer."""
        return np.tile(self.row, (len(obs), 1))


class ObsScores:
    """A base policy whose four action scores are the first four state features."""

    name = "obs"

    def __init__(self) -> None:
        self.begun: list[object] = []
        self.calls: list[tuple[int, object]] = []

    def begin(self, sim: object) -> None:
        """Record the simulator (``collect_logs`` must call it once per run)."""
        self.begun.append(sim)

    def scores(self, obs: np.ndarray, t: int, sim: object) -> np.ndarray:
        """Scores = ``obs[:, :4]``; records ``(t, sim)``."""
        self.calls.append((t, sim))
        return np.asarray(obs, float)[:, :4]


# --------------------------------------------------------------------- hand-made logs


def two_by_two() -> tuple[LoggedData, np.ndarray]:
    """2 customers x 2 months, gamma 0.5, hand-picked propensities and target probs.

    customer 0: actions (1, 0), propensities (0.5, 0.25), rewards (2, 4),
                target prob of the logged action (0.6, 0.5) -> rho (1.2, 2.0)
    customer 1: actions (2, 3), propensities (0.4, 0.2), rewards (1, 3),
                target prob of the logged action (0.2, 0.6) -> rho (0.5, 3.0)
    """
    obs = np.zeros((2, 3, F))
    actions = np.array([[1, 0], [2, 3]])
    rewards = np.array([[2.0, 4.0], [1.0, 3.0]])
    props = np.array([[0.5, 0.25], [0.4, 0.2]])
    pe = np.array(
        [
            [[0.1, 0.6, 0.2, 0.1], [0.5, 0.2, 0.2, 0.1], [0.25, 0.25, 0.25, 0.25]],
            [[0.25, 0.25, 0.2, 0.3], [0.1, 0.1, 0.2, 0.6], [0.7, 0.1, 0.1, 0.1]],
        ]
    )
    return LoggedData(obs, actions, rewards, props, 0.5), pe


def two_by_two_q() -> np.ndarray:
    """A hand-picked non-zero Q-hat (2, 2, 4) for :func:`two_by_two`."""
    return np.array(
        [
            [[1.0, 2.0, 0.0, 0.0], [3.0, 0.0, 0.0, 2.0]],
            [[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 1.0, 2.0]],
        ]
    )


def random_log(
    n: int, h: int, seed: int, pe_equals_behaviour: bool
) -> tuple[LoggedData, np.ndarray]:
    """Random log (N customers, H months, gamma 0.9) and target probs (N, H+1, 4).

    With ``pe_equals_behaviour`` the target's probability of every logged action is its
    logged propensity (the other three actions share the rest at random).
    """
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, 4, (n, h))
    props = rng.uniform(0.1, 0.7, (n, h))
    rewards = rng.normal(3.0, 2.0, (n, h))
    pe = rng.dirichlet(np.ones(4), (n, h + 1))
    if pe_equals_behaviour:
        for i in range(n):
            for t in range(h):
                rest = rng.dirichlet(np.ones(3)) * (1 - props[i, t])
                row = np.insert(rest, actions[i, t], props[i, t])
                pe[i, t] = row
    obs = rng.uniform(0, 5, (n, h + 1, F))
    return LoggedData(obs, actions, rewards, props, 0.9), pe


# --------------------------------------------------------------------- PDIS / WPDIS / DR


def test_pdis_two_by_two_by_hand():
    logs, pe = two_by_two()
    value, ess = pdis(logs, pe)
    # w = cumulative rho: customer 0 (1.2, 2.4), customer 1 (0.5, 1.5)
    c0 = 1.2 * 2.0 + 0.5 * 2.4 * 4.0  # 7.2
    c1 = 0.5 * 1.0 + 0.5 * 1.5 * 3.0  # 2.75
    np.testing.assert_allclose(value, (c0 + c1) / 2, rtol=1e-12)
    np.testing.assert_allclose(value, 4.975, rtol=1e-12)
    # ESS of the final trajectory weights (2.4, 1.5)
    np.testing.assert_allclose(ess, (2.4 + 1.5) ** 2 / (2.4**2 + 1.5**2), rtol=1e-12)
    np.testing.assert_allclose(ess, 15.21 / 8.01, rtol=1e-12)


def test_wpdis_two_by_two_by_hand():
    logs, pe = two_by_two()
    month0 = (1.2 * 2.0 + 0.5 * 1.0) / (1.2 + 0.5)  # 2.9 / 1.7
    month1 = (2.4 * 4.0 + 1.5 * 3.0) / (2.4 + 1.5)  # 14.1 / 3.9
    np.testing.assert_allclose(wpdis(logs, pe), month0 + 0.5 * month1, rtol=1e-12)
    np.testing.assert_allclose(wpdis(logs, pe), 2.9 / 1.7 + 0.5 * 14.1 / 3.9, rtol=1e-12)


def test_doubly_robust_two_by_two_by_hand():
    logs, pe = two_by_two()
    q = two_by_two_q()
    # v_hat = sum_a pi(a|s) Q(s, a); q_a = Q of the logged action
    # customer 0: v_hat (0.1*1 + 0.6*2 = 1.3, 0.5*3 + 0.1*2 = 1.7), q_a (2, 3)
    c0_t1 = 1.7 + 2.0 * (4.0 - 3.0)  # 3.7
    c0_t0 = 1.3 + 1.2 * (2.0 + 0.5 * c0_t1 - 2.0)  # 3.52
    # customer 1: v_hat (0.2*2 + 0.3*2 = 1.0, 0.1 + 0.1 + 0.2 + 0.6*2 = 1.6), q_a (2, 2)
    c1_t1 = 1.6 + 3.0 * (3.0 - 2.0)  # 4.6
    c1_t0 = 1.0 + 0.5 * (1.0 + 0.5 * c1_t1 - 2.0)  # 1.65
    np.testing.assert_allclose(doubly_robust(logs, pe, q), (c0_t0 + c1_t0) / 2, rtol=1e-12)
    np.testing.assert_allclose(doubly_robust(logs, pe, q), 2.585, rtol=1e-12)


def test_doubly_robust_with_zero_q_is_pdis_by_hand():
    logs, pe = two_by_two()
    np.testing.assert_allclose(doubly_robust(logs, pe, np.zeros((2, 2, 4))), 4.975, rtol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_doubly_robust_with_zero_q_equals_pdis(seed: int):
    logs, pe = random_log(9, 4, seed, pe_equals_behaviour=False)
    value, _ = pdis(logs, pe)
    np.testing.assert_allclose(doubly_robust(logs, pe, np.zeros((9, 4, 4))), value, rtol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_on_policy_weights_give_the_mean_discounted_return(seed: int):
    n, h = 7, 3
    logs, pe = random_log(n, h, seed, pe_equals_behaviour=True)
    # mean logged discounted return, written out month by month (gamma 0.9)
    r = logs.rewards
    mean_return = np.mean(r[:, 0] + 0.9 * r[:, 1] + 0.81 * r[:, 2])
    value, ess = pdis(logs, pe)
    np.testing.assert_allclose(value, mean_return, rtol=1e-12)
    np.testing.assert_allclose(ess, n, rtol=1e-12)
    np.testing.assert_allclose(wpdis(logs, pe), mean_return, rtol=1e-12)


@pytest.mark.parametrize("seed", [3, 4])
def test_off_policy_random_log_differs_from_the_plain_return(seed: int):
    """Guards the on-policy test: with other target probs the weights matter."""
    logs, pe = random_log(7, 3, seed, pe_equals_behaviour=False)
    r = logs.rewards
    mean_return = np.mean(r[:, 0] + 0.9 * r[:, 1] + 0.81 * r[:, 2])
    assert abs(pdis(logs, pe)[0] - mean_return) > 0.1
    assert abs(wpdis(logs, pe) - mean_return) > 0.01
    assert pdis(logs, pe)[1] < 7 - 0.1


def test_doubly_robust_with_the_true_q_is_exact_for_any_weights():
    """Constant reward 2 per month, gamma 0.5, two months: Q_0 = 3, Q_1 = 2 for all."""
    logs, pe = two_by_two()
    logs.rewards = np.full((2, 2), 2.0)
    q = np.stack([np.full((2, 4), 3.0), np.full((2, 4), 2.0)], axis=1)
    np.testing.assert_allclose(doubly_robust(logs, pe, q), 3.0, rtol=1e-12)
    np.testing.assert_allclose(wpdis(logs, pe), 3.0, rtol=1e-12)
    # PDIS still carries the weights: (2*1.2 + 1*2.4 + 2*0.5 + 1*1.5) / 2
    np.testing.assert_allclose(pdis(logs, pe)[0], (2.4 + 2.4 + 1.0 + 1.5) / 2, rtol=1e-12)


def test_ess_uses_the_final_trajectory_weights():
    """Three months, target prob / propensity of the logged actions:
    customer 0: (0.5/0.25, 0.3/0.3, 0.2/0.4) -> w (2, 2, 1); customer 1: all 1 -> (1, 1, 1).
    ESS = (1 + 1)^2 / (1 + 1) = 2 (the weights after two months would give 9 / 5)."""
    actions = np.array([[0, 1, 2], [3, 3, 3]])
    props = np.array([[0.25, 0.3, 0.4], [0.25, 0.25, 0.25]])
    pe = np.full((2, 4, 4), 0.25)
    pe[0, 0] = [0.5, 0.2, 0.2, 0.1]
    pe[0, 1] = [0.3, 0.3, 0.2, 0.2]
    pe[0, 2] = [0.4, 0.2, 0.2, 0.2]
    rewards = np.array([[1.0, 1.0, 1.0], [2.0, 0.0, 4.0]])
    logs = LoggedData(np.zeros((2, 4, F)), actions, rewards, props, 0.5)
    value, ess = pdis(logs, pe)
    np.testing.assert_allclose(ess, 2.0, rtol=1e-12)
    # (2 + 0.5 * 2 + 0.25 * 1) and (2 + 0 + 0.25 * 4)
    np.testing.assert_allclose(value, (3.25 + 3.0) / 2, rtol=1e-12)
    month = [(2 * 1 + 1 * 2) / 3, (2 * 1 + 1 * 0) / 3, (1 * 1 + 1 * 4) / 2]
    np.testing.assert_allclose(
        wpdis(logs, pe), month[0] + 0.5 * month[1] + 0.25 * month[2], rtol=1e-12
    )


def test_logged_data_n_is_the_number_of_customers():
    logs, _ = random_log(6, 3, 0, pe_equals_behaviour=False)
    assert logs.n == 6
    assert logs.gamma == 0.9


# --------------------------------------------------------------------- FQE


def balanced_actions(n: int, h: int, seed: int) -> np.ndarray:
    """(N, H) actions with every action taken by exactly N/4 customers each month."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(np.arange(n) % 4) for _ in range(h)], axis=1)


@pytest.mark.parametrize("ridge", [1.0, 5.0])
def test_fqe_constant_reward_gives_the_discounted_sum(ridge: float):
    n, h = 40, 3
    rng = np.random.default_rng(7)
    obs = rng.uniform(0, 5, (n, h + 1, F))
    actions = balanced_actions(n, h, 8)
    pe = rng.dirichlet(np.ones(4), (n, h + 1))
    logs = LoggedData(obs, actions, np.full((n, h), 2.0), np.full((n, h), 0.25), 0.9)
    q = fqe(logs, pe, ridge=ridge)
    assert q.shape == (n, h, 4)
    np.testing.assert_allclose(q[:, 0], 2.0 * (1 + 0.9 + 0.81), rtol=1e-9)
    np.testing.assert_allclose(q[:, 1], 2.0 * (1 + 0.9), rtol=1e-9)
    np.testing.assert_allclose(q[:, 2], 2.0, rtol=1e-9)


def test_fqe_action_rewards_small_groups_use_the_mean_and_empty_groups_zero():
    """12 customers a month: action 0 x6 (regression), 1 x4 and 2 x2 (mean), 3 never.

    Reward 1, 2, 3 for actions 0, 1, 2; target probs (0.4, 0.3, 0.2, 0.1) in month 1
    (0.1, 0.2, 0.3, 0.4 in months 0 and 2), gamma 0.5. Month 1: Q = (1, 2, 3, 0); its
    target value 0.4 + 0.6 + 0.6 + 0 = 1.6; month 0: Q = r + 0.5 * 1.6 = (1.8, 2.8, 3.8, 0).
    """
    n, h = 12, 2
    rng = np.random.default_rng(3)
    month = np.array([0] * 6 + [1] * 4 + [2] * 2)
    actions = np.stack([rng.permutation(month), rng.permutation(month)], axis=1)
    rewards = np.array([1.0, 2.0, 3.0, 99.0])[actions]
    pe = np.broadcast_to(np.array([0.1, 0.2, 0.3, 0.4]), (n, h + 1, 4)).copy()
    pe[:, 1] = [0.4, 0.3, 0.2, 0.1]
    logs = LoggedData(
        rng.uniform(0, 5, (n, h + 1, F)), actions, rewards, np.full((n, h), 0.25), 0.5
    )
    q = fqe(logs, pe)
    np.testing.assert_allclose(
        q[:, 1], np.tile([1.0, 2.0, 3.0, 0.0], (n, 1)), rtol=1e-9, atol=1e-12
    )
    np.testing.assert_allclose(
        q[:, 0], np.tile([1.8, 2.8, 3.8, 0.0], (n, 1)), rtol=1e-9, atol=1e-12
    )


def test_fqe_four_samples_average_five_samples_regress():
    """The small-group rule: under 5 samples of an action its Q is the plain mean."""
    n = 9
    rng = np.random.default_rng(11)
    obs = rng.uniform(0, 5, (n, 2, F))
    actions = np.array([[1], [1], [1], [1], [2], [2], [2], [2], [2]])
    rewards = np.array([[1.0], [2.0], [4.0], [9.0], [1.0], [2.0], [4.0], [9.0], [20.0]])
    pe = np.full((n, 2, 4), 0.25)
    q = fqe(LoggedData(obs, actions, rewards, np.full((n, 1), 0.25), 0.9), pe)
    np.testing.assert_allclose(q[:, 0, 1], (1.0 + 2.0 + 4.0 + 9.0) / 4, rtol=1e-12)
    np.testing.assert_allclose(q[:, 0, 0], 0.0, atol=0)
    np.testing.assert_allclose(q[:, 0, 3], 0.0, atol=0)
    # five samples: a ridge fit on the state, so the prediction varies with the state
    assert np.ptp(q[:, 0, 2]) > 1.0
    # the default ridge is 1
    np.testing.assert_allclose(
        q, fqe(LoggedData(obs, actions, rewards, np.full((n, 1), 0.25), 0.9), pe, ridge=1.0)
    )
    assert np.abs(q - fqe(LoggedData(obs, actions, rewards, None, 0.9), pe, ridge=3.0)).max() > 0.01


@pytest.mark.parametrize("ridge", [None, 1.0, 5.0])
def test_fqe_ridge_fit_by_hand(ridge: float | None):
    """One month, six customers, all with action 0; every feature 0 but
    months_since_contact = -2, 2, -2, 2, -2, 2 (its square is constant), reward 3 + 2 x.

    Standardised feature z = x / sd with sd = 2 + 1e-9, i.e. z = +-c, c = 2 / (2 + 1e-9).
    Ridge with an unpenalised intercept: intercept 3 (mean), slope b = z.y / (z.z + lam)
    = 24 c / (6 c^2 + lam); prediction 3 +- 24 c^2 / (6 c^2 + lam). Default lam = 1.
    """
    n = 6
    x = np.array([-2.0, 2.0, -2.0, 2.0, -2.0, 2.0])
    obs = np.zeros((n, 2, F))
    obs[:, 0, FEATURE_INDEX["months_since_contact"]] = x
    logs = LoggedData(obs, np.zeros((n, 1), np.int64), (3 + 2 * x)[:, None], None, 0.9)
    pe = np.full((n, 2, 4), 0.25)
    q = fqe(logs, pe) if ridge is None else fqe(logs, pe, ridge=ridge)
    lam = 1.0 if ridge is None else ridge
    c = 2 / (2 + 1e-9)
    half = 24 * c**2 / (6 * c**2 + lam)
    np.testing.assert_allclose(q[:, 0, 0], 3 + np.sign(x) * half, rtol=1e-13)
    np.testing.assert_allclose(q[:, 0, 1:], 0.0, atol=0)


def known_function(obs: np.ndarray) -> np.ndarray:
    """1 + 2 log1p(recency) - 0.5 contacts_3m^2 + 0.3 p_alive log1p(exp_spend)."""
    fi = FEATURE_INDEX
    return (
        1.0
        + 2.0 * np.log1p(obs[:, fi["recency"]])
        - 0.5 * obs[:, fi["contacts_3m"]] ** 2
        + 0.3 * obs[:, fi["p_alive"]] * np.log1p(obs[:, fi["exp_spend"]])
    )


def test_fqe_without_ridge_recovers_a_function_in_its_feature_space():
    """State constant over two months, reward f(s) + c_a; target probs (0.4, 0.3, 0.2, 0.1).

    Month 1: Q = f(s) + c_a; month 0: Q = f(s) + c_a + 0.5 (f(s) + c_bar) with
    c = (0, 1, -1, 2) and c_bar = 0.3 - 0.2 + 0.2 = 0.3 (OLS reproduces it exactly).
    """
    n, h = 160, 2
    rng = np.random.default_rng(5)
    s = rng.uniform(0, 3, (n, F))
    obs = np.repeat(s[:, None, :], h + 1, axis=1)
    actions = balanced_actions(n, h, 6)
    c = np.array([0.0, 1.0, -1.0, 2.0])
    f = known_function(s)
    rewards = f[:, None] + c[actions]
    pe = np.broadcast_to(np.array([0.4, 0.3, 0.2, 0.1]), (n, h + 1, 4)).copy()
    q = fqe(LoggedData(obs, actions, rewards, np.full((n, h), 0.25), 0.5), pe, ridge=0.0)
    np.testing.assert_allclose(q[:, 1], f[:, None] + c[None, :], rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(
        q[:, 0], f[:, None] + c[None, :] + 0.5 * (f[:, None] + 0.3), rtol=1e-7, atol=1e-7
    )


# --------------------------------------------------------------------- SoftenedPolicy


def test_softened_policy_probs_from_a_scores_table():
    table = [
        [0.0, 1.0, 3.0, 2.0],  # best contact 2, advantage 3 > 0 -> greedy 2
        [5.0, 1.0, 3.0, 2.0],  # advantage 3 - 5 < 0 -> greedy 0
        [1.0, 1.0, 1.0, 1.0],  # advantage 0 (not positive) -> greedy 0
        [0.0, 2.0, 2.0, 1.0],  # tie of 1 and 2 -> the first, 1
        [0.0, 0.0, 0.0, 0.5],  # greedy 3
        [-np.inf, 0.0, 0.0, 3.0],  # infinite advantage -> greedy 0
        [np.nan, 1.0, 0.0, 0.0],  # undefined advantage -> greedy 0
    ]
    pol = SoftenedPolicy(TableScores(table), epsilon=0.2)
    g, o = 1 - 0.2 + 0.05, 0.05
    expected = np.array(
        [
            [o, o, g, o],
            [g, o, o, o],
            [g, o, o, o],
            [o, g, o, o],
            [o, o, o, g],
            [g, o, o, o],
            [g, o, o, o],
        ]
    )
    np.testing.assert_allclose(pol.probs(np.zeros((7, F)), 0, None), expected, rtol=1e-12)


def test_softened_policy_epsilon_one_is_uniform_and_names():
    pol = SoftenedPolicy(TableScores([[0.0, 1.0, 0.0, 0.0]] * 2), epsilon=1.0)
    np.testing.assert_allclose(pol.probs(np.zeros((2, F)), 0, None), 0.25, rtol=1e-12)
    assert pol.epsilon == 1.0
    assert pol.name == "table~eps1"
    assert SoftenedPolicy(TableScores([[0.0] * 4]), 0.25).name == "table~eps0.25"
    assert SoftenedPolicy(object(), 0.1).name == "policy~eps0.1"
    assert SoftenedPolicy(object(), name="mine").name == "mine"
    assert SoftenedPolicy(object()).epsilon == 0.1


@pytest.mark.parametrize("eps", [0.0, -0.1, 1.0001, 2.0])
def test_softened_policy_rejects_epsilon_out_of_range(eps: float):
    with pytest.raises(ValueError, match=r"epsilon must be in \(0, 1\]"):
        SoftenedPolicy(object(), epsilon=eps)


# --------------------------------------------------------------------- estimate_all


def four_by_two() -> LoggedData:
    """4 customers x 2 months, reward 2 every month, gamma 0.5, target ObsScores~eps0.5.

    Greedy action g (target prob 0.625; others 0.125) set through one-hot scores.
    customer 0: g (1, 0), actions (1, 3), propensities (0.25, 0.5)  -> rho (2.5, 0.25)
    customer 1: g (2, 3), actions (0, 2), propensities (0.125, 0.125) -> rho (1, 1)
    customer 2: g (0, 0), actions (2, 0), propensities (0.25, 0.25) -> rho (0.5, 2.5)
    customer 3: g (3, 1), actions (3, 1), propensities (0.5, 0.625) -> rho (1.25, 1)
    """
    greedy = np.array([[1, 0, 0], [2, 3, 0], [0, 0, 0], [3, 1, 0]])
    obs = np.zeros((4, 3, F))
    for i in range(4):
        for t in range(3):
            obs[i, t, greedy[i, t]] = 1.0
    actions = np.array([[1, 3], [0, 2], [2, 0], [3, 1]])
    props = np.array([[0.25, 0.5], [0.125, 0.125], [0.25, 0.25], [0.5, 0.625]])
    return LoggedData(obs, actions, np.full((4, 2), 2.0), props, 0.5)


def test_estimate_all_by_hand():
    base = ObsScores()
    est = estimate_all(four_by_two(), SoftenedPolicy(base, epsilon=0.5))
    # the target is asked once, for all 4 x 3 logged states, as month 0 without simulator
    assert base.calls == [(0, None)]
    # trajectory weights: (2.5, 0.625), (1, 1), (0.5, 1.25), (1.25, 1.25)
    per_customer = [2 * 2.5 + 0.625, 2 * 1 + 1, 2 * 0.5 + 1.25, 2 * 1.25 + 1.25]
    np.testing.assert_allclose(est["pdis"], sum(per_customer) / 4, rtol=1e-12)
    np.testing.assert_allclose(est["pdis"], 3.65625, rtol=1e-12)
    np.testing.assert_allclose(
        est["ess"], 4.125**2 / (0.625**2 + 1 + 1.25**2 + 1.25**2), rtol=1e-12
    )
    # constant reward 2: WPDIS, FQE and DR (with the exact FQE) give 2 + 0.5 * 2 = 3
    np.testing.assert_allclose(est["wpdis"], 3.0, rtol=1e-12)
    np.testing.assert_allclose(est["fqe"], 3.0, rtol=1e-9)
    np.testing.assert_allclose(est["dr"], 3.0, rtol=1e-9)
    assert set(est) == {"pdis", "wpdis", "dr", "fqe", "ess"}


# --------------------------------------------------------------------- simulation side


@pytest.fixture(scope="module")
def flat_world() -> tuple[Population, BTYDStateModel, TreatmentEffects, MarketingConfig]:
    """40 customers who never buy; every action (none included) costs 1 a month.

    Each month's reward is -1 whatever the policy does, so with gamma 0.5 over three
    months every policy is worth -(1 + 0.5 + 0.25) = -1.75 per customer.
    """
    n = 40
    pop = Population(
        user_id=np.array([f"c{i}" for i in range(n)]),
        family="pareto",
        lam=np.zeros(n),
        dropout=np.full(n, 0.1),
        mean_spend=np.full(n, 10.0),
        alive0=np.arange(n) % 2 == 0,
        x0=np.full(n, 2.0),
        t_x0=np.full(n, 10.0),
        T0=np.full(n, 20.0),
        m0=np.full(n, 10.0),
    )
    sm = BTYDStateModel("nbd", {"r": 1.0, "alpha": 10.0}, {"mean_spend": 10.0})
    eff = TreatmentEffects.preset("mid")
    cfg = MarketingConfig(horizon=3, gamma=0.5, action_cost=(1.0, 1.0, 1.0, 1.0), budget=0.1)
    return pop, sm, eff, cfg


def test_collect_logs_uniform_behaviour(flat_world):
    pop, sm, eff, cfg = flat_world
    base = ObsScores()
    logs = collect_logs(
        MarketingWorld(pop, eff, cfg, sm), SoftenedPolicy(base, epsilon=1.0), seed=4
    )
    assert len(base.begun) == 1 and isinstance(base.begun[0], MarketingSimulator)
    assert [t for t, _ in base.calls] == [0, 1, 2]
    assert all(sim is base.begun[0] for _, sim in base.calls)
    np.testing.assert_allclose(logs.propensities, 0.25, rtol=0)
    np.testing.assert_allclose(logs.rewards, -1.0, rtol=0)
    assert logs.gamma == 0.5
    assert logs.obs.shape == (40, 4, F)
    # months left is logged for every month, the final state included
    np.testing.assert_allclose(logs.obs[:, :, FEATURE_INDEX["months_left"]], [[3, 2, 1, 0]] * 40)
    # uniform draws u of default_rng([seed, 31337]) pick action floor(4 u)
    rng = np.random.default_rng([4, 31337])
    expected = np.stack([np.floor(4 * rng.random(40)).astype(int) for _ in range(3)], axis=1)
    np.testing.assert_array_equal(logs.actions, expected)


def test_collect_logs_rejects_small_propensities(flat_world):
    pop, sm, eff, cfg = flat_world
    # epsilon 0.2: the smallest propensity is 0.2 / 4 = 0.05, just allowed
    logs = collect_logs(
        MarketingWorld(pop, eff, cfg, sm), SoftenedPolicy(ObsScores(), epsilon=0.2), seed=4
    )
    assert logs.propensities.min() == 0.05
    assert set(np.unique(logs.propensities)) == {0.05, 1 - 0.2 + 0.05}
    with pytest.raises(ValueError, match=r"behaviour propensities must be >= 0.05, got 0.025"):
        collect_logs(
            MarketingWorld(pop, eff, cfg, sm), SoftenedPolicy(ObsScores(), epsilon=0.1), seed=4
        )


def test_true_value_of_a_flat_world(flat_world):
    pop, sm, eff, cfg = flat_world
    target = SoftenedPolicy(ObsScores(), epsilon=0.3)
    np.testing.assert_allclose(
        true_value(MarketingWorld(pop, eff, cfg, sm), target, [1, 2]), -1.75, rtol=1e-12
    )
    cfg2 = MarketingConfig(horizon=2, gamma=0.8, action_cost=(2.0, 2.0, 2.0, 2.0))
    np.testing.assert_allclose(
        true_value(MarketingWorld(pop, eff, cfg2, sm), target, [5]), -2.0 * 1.8, rtol=1e-12
    )


@pytest.mark.filterwarnings("ignore:An input array is constant")
def test_ope_table_on_a_flat_world(flat_world):
    pop, sm, eff, cfg = flat_world
    behaviour = SoftenedPolicy(ObsScores(), epsilon=1.0)
    targets = {
        "a": SoftenedPolicy(ObsScores(), epsilon=0.2),
        "b": SoftenedPolicy(RowScores([0.0, 1.0, 0.0, 0.0]), epsilon=0.5),
    }
    out = ope_table(
        MarketingWorld(pop, eff, cfg, sm),
        behaviour,
        targets,
        log_seed=3,
        truth_seeds=[1],
        n_log_repeats=2,
    )
    est, summ = out["estimates"], out["summary"]
    assert len(est) == 2 * 2 * 4
    assert sorted(set(est["repeat"])) == [0, 1]
    np.testing.assert_allclose(est["true_value"], -1.75, rtol=1e-12)
    np.testing.assert_array_equal(est["n_logged"], 40)
    # reward -1 every month: WPDIS, FQE and DR are exact, PDIS carries the weights
    exact = est[est["estimator"] != "pdis"]
    np.testing.assert_allclose(exact["estimate"], -1.75, rtol=1e-9)
    np.testing.assert_allclose(exact["error"], 0.0, atol=1e-9)
    # the PDIS rows are the PDIS of the logs of seeds 3 and 4
    for rep in (0, 1):
        logs = collect_logs(MarketingWorld(pop, eff, cfg, sm), behaviour, 3 + rep)
        for name, tp in targets.items():
            pe = tp.probs(logs.obs.reshape(-1, F), 0, None).reshape(40, 4, 4)
            value, ess = pdis(logs, pe)
            row = est[(est["target"] == name) & (est["repeat"] == rep)]
            got = row.set_index("estimator")
            np.testing.assert_allclose(got.loc["pdis", "estimate"], value, rtol=1e-12)
            np.testing.assert_allclose(got.loc["pdis", "error"], value + 1.75, rtol=1e-12)
            np.testing.assert_allclose(row["ess"], ess, rtol=1e-12)
    s = summ.set_index("estimator")
    assert list(s.index) == ["pdis", "wpdis", "dr", "fqe"]
    for k in ("wpdis", "dr", "fqe"):
        np.testing.assert_allclose(s.loc[k, ["rmse", "bias", "mean_abs_error"]], 0.0, atol=1e-9)
    err = est.loc[est["estimator"] == "pdis", "error"].to_numpy()
    assert np.abs(err).max() > 0.01
    np.testing.assert_allclose(s.loc["pdis", "rmse"], np.sqrt(np.mean(err**2)), rtol=1e-12)
    np.testing.assert_allclose(s.loc["pdis", "bias"], np.mean(err), rtol=1e-12)
    np.testing.assert_allclose(s.loc["pdis", "mean_abs_error"], np.mean(np.abs(err)), rtol=1e-12)
    # one log by default
    single = ope_table(
        MarketingWorld(pop, eff, cfg, sm), behaviour, targets, log_seed=3, truth_seeds=[1]
    )
    assert len(single["estimates"]) == 2 * 4
    assert set(single["estimates"]["repeat"]) == {0}
    np.testing.assert_allclose(
        single["estimates"]["estimate"], est.loc[est["repeat"] == 0, "estimate"], rtol=1e-12
    )
    # every target's true value is -1.75: the rank correlation is undefined
    assert s["spearman_rank"].isna().all()
    pdis_ess = est.loc[est["estimator"] == "pdis", "ess"].to_numpy()
    np.testing.assert_allclose(s.loc["pdis", "mean_ess"], pdis_ess.mean(), rtol=1e-12)


def test_estimate_all_fqe_value_is_the_month_zero_expected_q():
    """Rewards equal to the action taken make Q differ by action, and the target's greedy
    action changes between months, so month 0's probabilities are the only right ones."""
    logs = four_by_two()
    logs = LoggedData(logs.obs, logs.actions, logs.actions.astype(float), logs.propensities, 0.5)
    target = SoftenedPolicy(ObsScores(), epsilon=0.5)
    pe = target.probs(logs.obs.reshape(-1, F), 0, None).reshape(4, 3, 4)
    q = fqe(logs, pe)
    month0 = float((pe[:, 0] * q[:, 0]).sum(axis=1).mean())
    month1 = float((pe[:, 1] * q[:, 0]).sum(axis=1).mean())
    assert abs(month0 - month1) > 0.1  # the test can tell the months apart
    assert estimate_all(logs, target)["fqe"] == pytest.approx(month0, rel=1e-12)


def test_collect_logs_draws_each_customer_from_its_own_probabilities(flat_world):
    """Customer i's scores favour action i % 4 (epsilon 0.2: 0.85 for it, 0.05 for the
    others); the logged action is the inverse-CDF draw of that customer's own row."""
    pop, sm, eff, cfg = flat_world
    n = 40
    table = np.zeros((n, 4))
    table[np.arange(n), np.arange(n) % 4] = 1.0
    table[np.arange(n) % 4 == 0, 1:] = -1.0  # "none" wins: every contact scores below it
    logs = collect_logs(
        MarketingWorld(pop, eff, cfg, sm), SoftenedPolicy(TableScores(table), epsilon=0.2), 7
    )
    p = np.full((n, 4), 0.05)
    p[np.arange(n), np.arange(n) % 4] = 0.85
    rng = np.random.default_rng([7, 31337])
    expected = np.stack(
        [(rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1) for _ in range(3)], axis=1
    )
    np.testing.assert_array_equal(logs.actions, expected)
    np.testing.assert_allclose(logs.propensities, p[np.arange(n)[:, None], expected])
    assert (logs.actions == (np.arange(n) % 4)[:, None]).mean() > 0.7  # mostly the favourite


def test_fqe_standardises_every_feature_but_the_intercept_before_the_ridge():
    """Ridge on standardised columns with an unpenalised intercept (the documented fit),
    written out for one month of 40 customers whose first feature (recency) is spread
    far wider than 1: leaving any column unstandardised changes its penalty."""
    rng = np.random.default_rng(5)
    n = 40
    obs = np.zeros((n, 2, F))
    obs[:, 0, :] = rng.gamma(2.0, 3.0, (n, F))
    obs[:, 0, FEATURE_INDEX["recency"]] = rng.uniform(0.0, 400.0, n)  # log1p spread ~1.3
    actions = np.zeros((n, 1), np.int64)
    rewards = rng.normal(5.0, 2.0, (n, 1)) + obs[:, 0, :1] / 50
    pe = np.full((n, 2, 4), 0.25)
    q = fqe(LoggedData(obs, actions, rewards, None, 0.9), pe, ridge=3.0)
    x = _design(obs[:, 0])
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    mu[0], sd[0] = 0.0, 1.0
    xs = (x - mu) / sd
    reg = 3.0 * np.eye(xs.shape[1])
    reg[0, 0] = 0.0
    hand = xs @ np.linalg.solve(xs.T @ xs + reg, xs.T @ rewards[:, 0])
    np.testing.assert_allclose(q[:, 0, 0], hand, rtol=1e-9)
    sd_raw = sd.copy()
    sd_raw[1] = 1.0  # recency left unstandardised: a different penalty, a different fit
    xr = (x - mu) / sd_raw
    other = xr @ np.linalg.solve(xr.T @ xr + reg, xr.T @ rewards[:, 0])
    assert np.abs(other - hand).max() > 1e-3
