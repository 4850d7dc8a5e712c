"""Fitted Q-iteration with gradient-boosted trees on simulated customer-months.

Fitted Q-iteration (Ernst, Geurts & Wehenkel 2005) turns reinforcement learning into a
sequence of supervised regressions: with a finite horizon, backward over the months,
``Q_t(s, a)`` is regressed on ``r + gamma max_a' Q_{t+1}(s', a')`` (Theocharous,
Thomas & Ghavamzadeh 2015 used it, with tree ensembles, for customer lifetime value).

How the simulator is used
-------------------------
Data: ``episodes`` passes over the training customers on training seeds. Each month,
from each customer's state, **every** action is tried in a branch of the simulator that
shares the month's random numbers (common random numbers,
:meth:`MarketingSimulator.snapshot`); the trajectory then continues with an exploratory
behaviour action (``none`` with probability ``p_none``, each contact otherwise), so
contact histories of every kind (fatigue) are visited. The realised profit of one
customer-month is very noisy next to the effect of one contact; the branches cancel
most of that noise: the model of "none", ``Q_t(s, none)``, is regressed on the "none"
branch, and each contact's *advantage* ``Q_t(s, a) - Q_t(s, none)`` on the paired
difference of the branches' targets. Regressors: scikit-learn's histogram gradient
boosting over the full state vector (RFM, contact history, BTYD posterior features,
months left); 13 x 8 x 4 regressions for a 12-month horizon.

At decision time the policy scores ``Q_t(s, .)``; the budget allocator ranks customers
by the advantage of their best contact.

Bootstrapping from the next state's *features* has a bias here: a contact-induced
purchase raises the BTYD features (frequency, P(alive), CLV) as if the customer were
better, so a contact can appear to create future value (notebook 05 tests this by
damping the discount). ``teacher=True`` replaces the bootstrapped targets by the
full-information oracle's Q-values (see :func:`train_fqi`).

References
----------
Ernst, D., Geurts, P. & Wehenkel, L. (2005), "Tree-based batch mode reinforcement
learning", JMLR 6.
Theocharous, G., Thomas, P. S. & Ghavamzadeh, M. (2015), "Personalized ad
recommendation systems for life-time value optimization with guarantees", IJCAI.
Glasserman, P. & Yao, D. D. (1992), "Some guidelines and guarantees for common random
numbers", Management Science 38(6).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits
from torch import nn

from .agents import _one_thread_on_cpu
from .policies import OraclePolicy
from .simulator import FEATURE_INDEX as FI
from .simulator import MarketingSimulator, MarketingWorld, log_scaled, no_contact_scores

__all__ = ["FQIAgent", "MLPRegressor", "collect_branches", "train_fqi"]


@dataclass
class FQIAgent:
    """Per-month regressors: ``base[t]`` for "none", ``advantage[t][a-1]`` for contacts."""

    base: list[Any]
    advantage: list[list[Any]]
    name: str = "fqi"
    disabled: bool = False
    learning_curve: pd.DataFrame = field(default_factory=pd.DataFrame)
    train_seconds: float = 0.0
    n_samples: int = 0

    def q_values(self, obs: np.ndarray, t: int | None = None) -> np.ndarray:
        """``(N, 4)`` fitted Q-values; the month of each row is read from its
        ``months_left`` feature (``t`` is ignored), so logged rows of any month mix."""
        x = log_scaled(obs)
        h = len(self.base)
        month = np.clip(h - np.rint(x[:, FI["months_left"]]).astype(int), 0, h - 1)
        out = np.empty((len(x), 4))
        with threadpool_limits(1):
            for m in np.unique(month):
                rows = month == m
                q0 = self.base[m].predict(x[rows])
                out[rows, 0] = q0
                for a in range(1, 4):
                    out[rows, a] = q0 + self.advantage[m][a - 1].predict(x[rows])
        return out

    def scores(self, obs: np.ndarray, t: int, sim: MarketingSimulator | None = None) -> np.ndarray:
        """Q-values (contacts -1 below "none" when switched off)."""
        if self.disabled:
            return no_contact_scores(len(obs))
        return self.q_values(obs, t)


def collect_branches(
    world: MarketingWorld,
    seeds: list[int],
    p_none: float = 0.55,
    behaviour_seed: int = 0,
    expected_reward: bool = True,
) -> dict[str, np.ndarray]:
    """Simulated customer-months with all four actions branched on common random numbers.

    Returns arrays indexed ``[month, sample]``: ``obs`` (state features), ``reward``
    (``[..., action]``) and ``next_obs`` (``[..., action, feature]``); one sample per
    customer and seed. Runs without a contact cap (the unconstrained MDP). With
    ``expected_reward`` the reward is the month's *expected* profit given the
    simulated customer's traits and alive state (the simulator knows them; the learner
    still only sees the state features), instead of the realised one -- a
    Rao-Blackwellised target with the same conditional mean and far less noise.
    """
    cfg = world.config.with_budget(None)
    sim = world.with_config(cfg).simulator()
    rng = np.random.default_rng([behaviour_seed, 31])
    h, n = cfg.horizon, sim.n
    obs_all = np.zeros((h, len(seeds) * n, 11), np.float32)
    rew_all = np.zeros((h, len(seeds) * n, 4), np.float32)
    nxt_all = np.zeros((h, len(seeds) * n, 4, 11), np.float32)
    probs = np.array([p_none, *(3 * [(1 - p_none) / 3])])
    for e, s in enumerate(seeds):
        obs = sim.reset(int(s))
        rows = slice(e * n, (e + 1) * n)
        for t in range(h):
            obs_all[t, rows] = obs
            snap = sim.snapshot()
            for a in range(4):
                sim.restore(snap)
                if expected_reward:
                    rew_all[t, rows, a] = _expected_reward(sim, a)
                nxt, r, _ = sim.step(np.full(n, a))
                if not expected_reward:
                    rew_all[t, rows, a] = r
                nxt_all[t, rows, a] = nxt
            sim.restore(snap)
            obs, _, _ = sim.step(rng.choice(4, size=n, p=probs))
    return {"obs": obs_all, "reward": rew_all, "next_obs": nxt_all}


def _expected_reward(sim: MarketingSimulator, action: int) -> np.ndarray:
    """Expected profit of ``action`` this month for every simulated customer."""
    p, c = sim.pop, sim.config
    a = np.full(sim.n, action)
    rate_mult, _ = sim.effects.modifiers(a, sim.recency_m, sim.contacts_3m)
    spend = np.where(sim.alive, p.lam * rate_mult * p.mean_spend, 0.0)
    return spend * (c.margin - c.discount[action]) - c.action_cost[action]


def _regressor(seed: int, max_iter: int) -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(
        max_iter=max_iter,
        learning_rate=0.1,
        max_leaf_nodes=15,
        min_samples_leaf=200,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=seed,
    )


class MLPRegressor:
    """The DQN's function class as a batch regressor: a ReLU MLP (``hidden`` x 2) with
    four outputs, fitted by Adam on the mean squared error of standardised targets.

    Used by :func:`train_fqi` with ``function_class="mlp"`` to ask whether the DQN
    fails because of its network or because of its data and targets.
    """

    def __init__(self, seed: int, hidden: int = 64, epochs: int = 30, lr: float = 1e-3):
        self.seed, self.hidden, self.epochs, self.lr = seed, hidden, epochs, lr

    def fit(self, x: np.ndarray, y: np.ndarray) -> MLPRegressor:
        """Fit ``y`` (``(N, k)``) on ``x`` (``(N, d)``), minibatches of 512, seeded."""
        x = np.asarray(x, np.float32)
        y = np.asarray(y, np.float32).reshape(len(x), -1)
        self.x_mean, self.x_std = x.mean(0), x.std(0)
        self.x_std = np.where(self.x_std < 1e-3, 1.0, self.x_std)
        self.y_mean, self.y_std = y.mean(0), y.std(0)
        self.y_std = np.where(self.y_std < 1e-9, 1.0, self.y_std)
        xs = torch.from_numpy((x - self.x_mean) / self.x_std)
        ys = torch.from_numpy((y - self.y_mean) / self.y_std)
        rng = np.random.default_rng([self.seed, 41])
        with _one_thread_on_cpu("cpu"):
            self._train(xs, ys, rng)
        return self

    def _train(self, xs: torch.Tensor, ys: torch.Tensor, rng: np.random.Generator) -> None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.net = nn.Sequential(
                nn.Linear(xs.shape[1], self.hidden),
                nn.ReLU(),
                nn.Linear(self.hidden, self.hidden),
                nn.ReLU(),
                nn.Linear(self.hidden, ys.shape[1]),
            )
        opt = torch.optim.Adam(self.net.parameters(), lr=self.lr)
        for _ in range(self.epochs):
            order = torch.from_numpy(rng.permutation(len(xs)))
            for b in range(0, len(xs), 512):
                idx = order[b : b + 512]
                loss = nn.functional.mse_loss(self.net(xs[idx]), ys[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        self.net.eval()

    def predict(self, x: np.ndarray) -> np.ndarray:
        """``(N, k)`` predictions in the units of ``y``."""
        with torch.no_grad(), _one_thread_on_cpu("cpu"):
            z = torch.from_numpy((np.asarray(x, np.float32) - self.x_mean) / self.x_std)
            return self.net(z).numpy().astype(float) * self.y_std + self.y_mean


@dataclass
class _Head:
    """One output of a multi-output regressor, with the single-output ``predict``."""

    model: Any
    column: int

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict(x)[:, self.column]


def _fit_month(x, y_none, y_adv, seed, max_iter, function_class):
    """Regressors of one month: "none" and the three advantages."""
    if function_class == "mlp":
        model = MLPRegressor(seed).fit(x, np.column_stack([y_none, y_adv]))
        return _Head(model, 0), [_Head(model, k) for k in (1, 2, 3)]
    if function_class != "trees":
        raise ValueError(f"function_class must be 'trees' or 'mlp', got {function_class!r}")
    base = _regressor(seed, max_iter).fit(x, y_none)
    adv = [_regressor(seed + 100 * a, max_iter).fit(x, y_adv[:, a - 1]) for a in range(1, 4)]
    return base, adv


def train_fqi(
    world: MarketingWorld,
    episodes: int = 20,
    seed: int = 0,
    max_iter: int = 60,
    p_none: float = 0.55,
    teacher: bool = False,
    function_class: str = "trees",
) -> FQIAgent:
    """Fitted Q-iteration, backward over the months (module notes).

    Parameters
    ----------
    episodes : int
        Passes over the training customers (seeds ``seed * 100_003 + 20_000 + e``);
        samples = customers x episodes x months, each with four branches.
    max_iter : int
        Boosting iterations per regression.
    p_none : float
        Probability of "none" in the behaviour policy that continues the trajectories.
    teacher : bool
        Fitted Q with **full-information targets** instead of bootstrapped ones: each
        month's regressions fit the oracle's Q-values (true traits, exact dynamic
        programme, no budget) on the observed state of the behaviour trajectories, so a
        learner taught by a privileged teacher (the asymmetric actor-critic idea, Pinto
        et al. 2018, "Asymmetric actor critic for image-based robot learning", RSS). The
        hidden traits are read only in training; the policy sees what a marketer sees.
    function_class : {"trees", "mlp"}
        Histogram gradient boosting (default), or the DQN's network as a batch
        regressor (:class:`MLPRegressor`; one four-output network per month).
    """
    args = (world, episodes, seed, max_iter, p_none)
    with threadpool_limits(1):  # small regressions: threads only contend on a shared box
        if teacher:
            return _train_teacher(*args, function_class)
        return _train_fqi(*args, function_class)


def _train_teacher(
    world: MarketingWorld,
    episodes: int,
    seed: int,
    max_iter: int,
    p_none: float,
    function_class: str,
) -> FQIAgent:
    """Regress the full-information oracle's Q-values on the observed state, per month."""
    t0 = time.perf_counter()
    cfg = world.config.with_budget(None)
    sim = world.with_config(cfg).simulator()
    oracle = OraclePolicy(0.0)
    rng = np.random.default_rng([seed, 37])
    probs = np.array([p_none, *(3 * [(1 - p_none) / 3])])
    h, n = cfg.horizon, sim.n
    xs = np.zeros((h, episodes * n, 11))
    qs = np.zeros((h, episodes * n, 4))
    for e in range(episodes):
        obs = sim.reset(seed * 100_003 + 20_000 + e)
        rows = slice(e * n, (e + 1) * n)
        for t in range(h):
            xs[t, rows] = log_scaled(obs)
            qs[t, rows] = oracle.scores(obs, t, sim)
            obs, _, _ = sim.step(rng.choice(4, size=n, p=probs))
    base: list[Any] = []
    adv: list[list[Any]] = []
    for t in range(h):
        m0, m_adv = _fit_month(
            xs[t], qs[t, :, 0], qs[t, :, 1:] - qs[t, :, :1], seed + t, max_iter, function_class
        )
        base.append(m0)
        adv.append(m_adv)
    agent = FQIAgent(base=base, advantage=adv, name="fitted_teacher")
    agent.n_samples = episodes * n * h
    agent.train_seconds = time.perf_counter() - t0
    return agent


def _train_fqi(
    world: MarketingWorld,
    episodes: int,
    seed: int,
    max_iter: int,
    p_none: float,
    function_class: str,
) -> FQIAgent:
    """Fitted Q-iteration with bootstrapped targets on branched data, backward in time."""
    t0 = time.perf_counter()
    seeds = [seed * 100_003 + 20_000 + e for e in range(episodes)]
    data = collect_branches(world, seeds, p_none=p_none, behaviour_seed=seed)
    h = world.config.horizon
    gamma = world.config.gamma
    base: list[Any] = [None] * h
    adv: list[list[Any]] = [[] for _ in range(h)]
    agent = FQIAgent(base=base, advantage=adv)
    curve = []
    for t in range(h - 1, -1, -1):
        x = log_scaled(data["obs"][t])
        y = data["reward"][t].astype(float)
        if t < h - 1:
            nxt = data["next_obs"][t]
            for a in range(4):
                y[:, a] += gamma * agent.q_values(nxt[:, a], t + 1).max(axis=1)
        base[t], adv[t] = _fit_month(
            x, y[:, 0], y[:, 1:] - y[:, :1], seed + t, max_iter, function_class
        )
        q = agent.q_values(data["obs"][t], t)
        curve.append(
            {
                "month": t + 1,
                "mean_q_none": float(q[:, 0].mean()),
                "share_contact_better": float((q[:, 1:].max(axis=1) > q[:, 0]).mean()),
                "advantage_target_sd": float((y[:, 1:] - y[:, :1]).std()),
            }
        )
    agent.learning_curve = pd.DataFrame(curve[::-1])
    agent.n_samples = int(data["obs"].shape[0] * data["obs"].shape[1])
    agent.train_seconds = time.perf_counter() - t0
    return agent
