"""Reinforcement-learning agents: tabular Q-learning and SARSA, and a DQN in torch.

All agents are trained on the vectorised simulator: one "episode" runs every training
customer through the horizon on one simulator seed, and each month's ``N`` transitions
update the agent together (batched TD updates for the tables, a replay buffer for the
DQN). Training is **without a contact cap** (the unconstrained MDP, exploring with
epsilon-greedy); at evaluation the budget allocator ranks customers by the learned
advantage ``max_{a>0} Q(s, a) - Q(s, 0)``, i.e. a greedy Lagrangian-free rule.

Discretised state of the tabular agents (:class:`Discretizer`)
--------------------------------------------------------------
recency months: 0 | 1 | 2-3 | 4-6 | 7-12 | 13+ (6); repeat purchases: 0 | 1-3 | 4+ (3);
P(alive): < .5 | .5-.85 | >= .85 (3); expected spend next month: bins cut at the
25/50/75/90 % quantiles of the training customers at the start (5); contacts in the last
3 months: 0..3 (4); months left: 1-2 | 3-6 | 7+ (3). 3,240 states.

Pessimism. Realised monthly profit is very noisy next to the effect of one contact (a
purchase is worth tens of currency units, an e-mail's expected lift a fraction of one),
so a plain greedy table contacts wherever noise made a contact look good. The tabular
agents therefore track the variance of each cell's TD targets and score a contact by a
lower confidence bound, ``Q(s, a) - kappa * sqrt(se(s, a)^2 + se(s, none)^2)``
(``kappa = pessimism``, 2 by default; 0 gives the plain greedy policy) -- the usual
pessimism principle of offline / safe RL (e.g. Jin, Yang & Wang 2021, "Is pessimism
provably efficient for offline RL?", ICML).

References
----------
Watkins, C. J. C. H. & Dayan, P. (1992), "Q-learning", Machine Learning 8.
Rummery, G. A. & Niranjan, M. (1994), "On-line Q-learning using connectionist systems"
(SARSA), Cambridge University CUED/F-INFENG/TR 166.
Sutton, R. S. & Barto, A. G. (2018), *Reinforcement Learning: An Introduction*, ch. 6.
Mnih, V. et al. (2015), "Human-level control through deep reinforcement learning",
Nature 518 (DQN: replay buffer, target network).
van Hasselt, H., Guez, A. & Silver, D. (2016), "Deep reinforcement learning with double
Q-learning", AAAI (the double-DQN target used here, against the max-bias that would
otherwise make noisy contact actions look profitable).
Wang, Z. et al. (2016), "Dueling network architectures for deep RL", ICML.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn

from .simulator import FEATURE_INDEX as FI
from .simulator import FEATURES, MarketingSimulator, MarketingWorld, log_scaled, no_contact_scores

__all__ = [
    "DQNAgent",
    "Discretizer",
    "TabularAgent",
    "train_dqn",
    "train_tabular",
]


def _epsilon(episode: int, episodes: int, start: float, end: float, decay_share: float) -> float:
    span = max(1, int(decay_share * episodes))
    return float(end + (start - end) * max(0.0, 1.0 - episode / span))


def _eps_greedy(q: np.ndarray, eps: float, rng: np.random.Generator) -> np.ndarray:
    greedy = np.argmax(q, axis=1)
    explore = rng.random(len(q)) < eps
    return np.where(explore, rng.integers(0, 4, len(q)), greedy)


# --------------------------------------------------------------------------- tabular


@dataclass
class Discretizer:
    """Maps the state vector to one of ``n_states`` cells (bins in the module notes)."""

    spend_edges: np.ndarray
    rec_edges: tuple[float, ...] = (1, 2, 4, 7, 13)
    freq_edges: tuple[float, ...] = (1, 4)
    alive_edges: tuple[float, ...] = (0.5, 0.85)
    left_edges: tuple[float, ...] = (3, 7)

    @classmethod
    def fit(cls, obs: np.ndarray) -> Discretizer:
        """Spend bins from the 25/50/75/90 % quantiles of ``exp_spend`` in ``obs``."""
        q = np.quantile(obs[:, FI["exp_spend"]], [0.25, 0.5, 0.75, 0.9])
        return cls(spend_edges=np.maximum.accumulate(q + np.arange(4) * 1e-9))

    @property
    def sizes(self) -> tuple[int, ...]:
        """Number of bins per dimension."""
        return (
            len(self.rec_edges) + 1,
            len(self.freq_edges) + 1,
            len(self.alive_edges) + 1,
            len(self.spend_edges) + 1,
            4,
            len(self.left_edges) + 1,
        )

    @property
    def n_states(self) -> int:
        """Cells in the table."""
        return int(np.prod(self.sizes))

    def transform(self, obs: np.ndarray) -> np.ndarray:
        """Cell index per row of ``obs``."""
        parts = (
            np.digitize(obs[:, FI["recency"]], self.rec_edges),
            np.digitize(obs[:, FI["frequency"]], self.freq_edges),
            np.digitize(obs[:, FI["p_alive"]], self.alive_edges),
            np.digitize(obs[:, FI["exp_spend"]], self.spend_edges),
            np.clip(obs[:, FI["contacts_3m"]], 0, 3).astype(int),
            np.digitize(obs[:, FI["months_left"]], self.left_edges),
        )
        return np.ravel_multi_index(parts, self.sizes)


@dataclass
class TabularAgent:
    """A learned Q-table over :class:`Discretizer` cells."""

    name: str
    discretizer: Discretizer
    q: np.ndarray  # (n_states, 4)
    visits: np.ndarray  # (n_states, 4)
    var: np.ndarray  # (n_states, 4) running variance of the TD targets
    pessimism: float = 2.0
    disabled: bool = False
    learning_curve: pd.DataFrame = field(default_factory=pd.DataFrame)
    train_seconds: float = 0.0

    def scores(self, obs: np.ndarray, t: int, sim: MarketingSimulator | None = None) -> np.ndarray:
        """Q-values of the observed cells, contacts at their lower confidence bound.

        Unvisited contacts score -inf; an unvisited "none" scores 0.
        """
        if self.disabled:
            return no_contact_scores(len(obs))
        s = self.discretizer.transform(obs)
        q = self.q[s].copy()
        se2 = self.var[s] / np.maximum(self.visits[s], 1.0)
        q[:, 1:] -= self.pessimism * np.sqrt(se2[:, 1:] + se2[:, :1])
        q[self.visits[s] == 0] = -np.inf
        q[:, 0] = np.where(np.isfinite(q[:, 0]), q[:, 0], 0.0)
        return q


def train_tabular(
    world: MarketingWorld,
    method: str = "q_learning",
    episodes: int = 60,
    seed: int = 0,
    alpha_min: float = 0.0,
    eps_start: float = 1.0,
    eps_end: float = 0.05,
    eps_decay_share: float = 0.6,
    pessimism: float = 2.0,
    n_step: int = 3,
) -> TabularAgent:
    """Train tabular Q-learning (Watkins & Dayan 1992) or SARSA (Rummery & Niranjan 1994).

    Parameters
    ----------
    method : {"q_learning", "sarsa"}
        Off-policy max target or on-policy ``Q(s', a')`` target.
    episodes : int
        Passes over all training customers, each on its own simulator seed
        ``seed * 100_003 + episode``.
    alpha_min : float
        Step size per cell is the batch-average TD error times
        ``max(c / (n + c), alpha_min)`` (``c`` visits in this batch, ``n`` before):
        a running mean early, a constant step later.
    eps_start, eps_end, eps_decay_share : float
        Epsilon-greedy exploration, linear decay over the first share of episodes.
    pessimism : float
        ``kappa`` of the lower confidence bound used when scoring contacts (module notes).
    n_step : int
        Rewards summed before bootstrapping (n-step TD, Sutton & Barto 2018 ch. 7; the
        off-policy n-step Q-learning target is used without importance correction, as in
        Peng's Q(lambda)). ``1`` is the one-step method; larger ``n`` reduces the bias of
        bootstrapping from aliased cells (see module notes), ``n = horizon`` is Monte Carlo.
    """
    if method not in ("q_learning", "sarsa"):
        raise ValueError(f"method must be 'q_learning' or 'sarsa', got {method!r}")
    t0 = time.perf_counter()
    cfg = world.config.with_budget(None)
    sim = world.with_config(cfg).simulator()
    disc = Discretizer.fit(sim.reset(seed))
    table = _TDTable(disc.n_states, alpha_min)
    rng = np.random.default_rng([seed, 17])
    curve = []
    for ep in range(episodes):
        eps = _epsilon(ep, episodes, eps_start, eps_end, eps_decay_share)
        run = _tabular_episode(sim, disc, table, rng, eps, seed * 100_003 + ep, n_step, method)
        curve.append({"episode": ep, "epsilon": eps, **run})
    return TabularAgent(
        name=method,
        discretizer=disc,
        q=table.q.reshape(-1, 4),
        visits=table.visits.reshape(-1, 4),
        var=np.maximum(table.var.reshape(-1, 4), 0.0),
        pessimism=pessimism,
        learning_curve=pd.DataFrame(curve),
        train_seconds=time.perf_counter() - t0,
    )


class _TDTable:
    """Q-value, visits and TD-target variance of every (state, action) cell, flat.

    :meth:`update` moves each cell hit by a batch towards the batch's mean target with
    step ``max(c / (n + c), alpha_min)`` (``c`` visits in this batch, ``n`` before).
    """

    def __init__(self, n_states: int, alpha_min: float):
        self.n_cells = n_states * 4
        self.q = np.zeros(self.n_cells)
        self.visits = np.zeros(self.n_cells)
        self.var = np.zeros(self.n_cells)
        self.alpha_min = alpha_min

    @property
    def qv(self) -> np.ndarray:
        """The Q-values as a ``(n_states, 4)`` view."""
        return self.q.reshape(-1, 4)

    def update(self, s: np.ndarray, a: np.ndarray, target: np.ndarray) -> None:
        """One batched TD update of the cells ``(s, a)`` towards ``target``."""
        flat = s * 4 + a
        delta = target - self.q[flat]
        cnt = np.bincount(flat, minlength=self.n_cells)
        tot = np.bincount(flat, weights=delta, minlength=self.n_cells)
        tot2 = np.bincount(flat, weights=delta**2, minlength=self.n_cells)
        hit = cnt > 0
        step = np.maximum(cnt[hit] / (self.visits[hit] + cnt[hit]), self.alpha_min)
        mean_d = tot[hit] / cnt[hit]
        self.q[hit] += step * mean_d
        self.var[hit] += step * (tot2[hit] / cnt[hit] - mean_d**2 - self.var[hit])
        self.visits[hit] += cnt[hit]


def _tabular_episode(
    sim: MarketingSimulator,
    disc: Discretizer,
    table: _TDTable,
    rng: np.random.Generator,
    eps: float,
    run_seed: int,
    n_step: int,
    method: str,
) -> dict[str, float]:
    """Every training customer through the horizon on ``run_seed``, epsilon-greedy, with
    n-step updates as soon as their rewards are in; returns the mean discounted return
    and the contact rate."""
    qv, gamma, h = table.qv, sim.config.gamma, sim.config.horizon
    obs = sim.reset(run_seed)
    states = np.zeros((h + 1, sim.n), np.int64)
    acts = np.zeros((h + 1, sim.n), np.int64)
    rews = np.zeros((h, sim.n))
    states[0] = disc.transform(obs)
    acts[0] = _eps_greedy(qv[states[0]], eps, rng)
    for t in range(h):
        obs, rews[t], _ = sim.step(acts[t])
        states[t + 1] = disc.transform(obs)
        acts[t + 1] = _eps_greedy(qv[states[t + 1]], eps, rng)
        if t + 1 >= n_step:  # update step t + 1 - n_step
            _nstep_update(
                table.update, qv, states, acts, rews, t + 1 - n_step, n_step, h, gamma, method
            )
    for u in range(max(0, h - n_step + 1), h):
        _nstep_update(table.update, qv, states, acts, rews, u, n_step, h, gamma, method)
    ret = (gamma ** np.arange(h)) @ rews
    return {"mean_return": float(ret.mean()), "contact_rate": float((acts[:h] > 0).mean())}


def _nstep_update(update, qv, states, acts, rews, u, n_step, h, gamma, method) -> None:
    """n-step target for step ``u``: discounted rewards, then bootstrap (if not terminal)."""
    end = min(u + n_step, h)
    disc = gamma ** np.arange(end - u)
    target = disc @ rews[u:end]
    if end < h:
        q_next = qv[states[end]]
        if method == "q_learning":
            boot = q_next.max(axis=1)
        else:
            boot = q_next[np.arange(len(q_next)), acts[end]]
        target = target + gamma ** (end - u) * boot
    update(states[u], acts[u], target)


# --------------------------------------------------------------------------- DQN


class _DuelingQ(nn.Module):
    """MLP with a value head and advantages of the three contacts (A(none) = 0)."""

    def __init__(self, n_in: int, hidden: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
        )
        self.value = nn.Linear(hidden, 1)
        self.adv = nn.Linear(hidden, 3)
        nn.init.zeros_(self.adv.weight)
        nn.init.constant_(self.adv.bias, -0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x)
        v = self.value(h)
        return torch.cat([v, v + self.adv(h)], dim=1)


@dataclass
class DQNAgent:
    """A trained DQN; ``scores`` returns Q-values in profit units."""

    net: nn.Module
    mean: np.ndarray
    std: np.ndarray
    reward_scale: float
    device: str
    name: str = "dqn"
    disabled: bool = False
    learning_curve: pd.DataFrame = field(default_factory=pd.DataFrame)
    train_seconds: float = 0.0

    def features(self, obs: np.ndarray) -> np.ndarray:
        """log1p of the skewed features, then standardised with training statistics."""
        return ((log_scaled(obs) - self.mean) / self.std).astype(np.float32)

    def scores(self, obs: np.ndarray, t: int, sim: MarketingSimulator | None = None) -> np.ndarray:
        """Q(s, .) for every row of ``obs`` (contacts -1 when disabled)."""
        if self.disabled:
            return no_contact_scores(len(obs))
        with torch.no_grad():
            x = torch.from_numpy(self.features(obs)).to(self.device)
            return self.net(x).cpu().numpy().astype(float) * self.reward_scale


@contextmanager
def _one_thread_on_cpu(device: str):
    """Run torch with one CPU thread (tiny matrices: threads only contend; 4x faster on 2
    cores), restoring the previous setting afterwards."""
    threads = torch.get_num_threads()
    if device == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def train_dqn(
    world: MarketingWorld,
    episodes: int = 40,
    seed: int = 0,
    hidden: int = 64,
    lr: float = 1e-3,
    batch_size: int = 512,
    updates_per_step: int = 4,
    replay_ratio: float | None = None,
    buffer_size: int = 200_000,
    target_every: int = 100,
    eps_start: float = 1.0,
    eps_end: float = 0.05,
    eps_decay_share: float = 0.6,
    device: str | None = None,
) -> DQNAgent:
    """Train a double DQN (Mnih et al. 2015; van Hasselt et al. 2016) on the state vector.

    Small dueling MLP (``hidden`` x 2, ReLU), Huber loss, Adam, replay buffer of the last
    ``buffer_size`` customer-month transitions, target network copied every
    ``target_every`` gradient steps, epsilon-greedy with linear decay. Rewards are divided
    by the standard deviation of the first episode's rewards. Gradient steps per month of
    simulation: ``updates_per_step``, or with ``replay_ratio`` set
    ``ceil(replay_ratio * N / batch_size)`` so that each logged transition is replayed
    about ``replay_ratio`` times. Whether its network, its data, its bootstrapped
    targets or the budget allocator makes it lose to the one-step rule is the experiment
    of :mod:`helpers.marketing.diagnose`, shown in notebook 05.
    Seeds: torch, the numpy
    generator of exploration and minibatches, and the simulator seeds
    ``seed * 100_003 + episode``. Runs on CUDA when available (``device`` overrides).
    """
    t0 = time.perf_counter()
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    with _one_thread_on_cpu(dev):
        torch.manual_seed(seed)
        rng = np.random.default_rng([seed, 29])
        cfg = world.config.with_budget(None)
        sim = world.with_config(cfg).simulator()
        mean, std = _start_scaling(sim.reset(seed * 100_003), cfg.horizon)
        net = _DuelingQ(len(FEATURES), hidden).to(dev)
        target = _DuelingQ(len(FEATURES), hidden).to(dev)
        target.load_state_dict(net.state_dict())
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        agent = DQNAgent(net=net, mean=mean, std=std, reward_scale=1.0, device=dev)
        n_updates = (
            max(1, int(np.ceil(replay_ratio * sim.n / batch_size)))
            if replay_ratio
            else updates_per_step
        )
        learner = _DQNLearner(
            net, target, opt, _Replay(buffer_size, len(FEATURES)), rng, cfg.gamma,
            batch_size, n_updates, target_every, dev,
        )  # fmt: skip
        curve = []
        for ep in range(episodes):
            eps = _epsilon(ep, episodes, eps_start, eps_end, eps_decay_share)
            run = _dqn_episode(sim, agent, learner, eps, seed * 100_003 + ep, first=ep == 0)
            curve.append({"episode": ep, "epsilon": eps, **run})
        agent.learning_curve = pd.DataFrame(curve)
        agent.train_seconds = time.perf_counter() - t0
        net.eval()
        return agent


def _start_scaling(obs0: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of the (log-scaled) features at the start."""
    x0 = log_scaled(obs0)
    mean, std = x0.mean(axis=0), x0.std(axis=0)
    # a feature (nearly) constant at the start must not be divided by ~0: its later
    # values would reach millions of standard deviations and the network diverges
    std = np.where(std < 1e-3, 1.0, std)
    # features constant at the start get fixed scales (their start std is 0)
    for name, centre, scale in (
        ("months_left", horizon / 2, horizon / 2),
        ("months_since_contact", 6.0, 6.0),
        ("contacts_3m", 1.5, 1.5),
    ):
        mean[FI[name]], std[FI[name]] = centre, scale
    return mean, std


class _Replay:
    """A ring buffer of the last ``capacity`` transitions (state, action, scaled reward,
    next state, done)."""

    def __init__(self, capacity: int, n_feat: int):
        self.capacity, self.size, self.ptr = capacity, 0, 0
        self.s = np.zeros((capacity, n_feat), np.float32)
        self.s2 = np.zeros((capacity, n_feat), np.float32)
        self.a = np.zeros(capacity, np.int64)
        self.r = np.zeros(capacity, np.float32)
        self.d = np.zeros(capacity, np.float32)

    def add(self, s: np.ndarray, a: np.ndarray, r: np.ndarray, s2: np.ndarray, done: bool) -> None:
        """Store one month of every customer's transitions."""
        n = len(a)
        idx = (self.ptr + np.arange(n)) % self.capacity
        self.s[idx], self.a[idx] = s, a
        self.r[idx] = r
        self.s2[idx], self.d[idx] = s2, float(done)
        self.ptr = (self.ptr + n) % self.capacity
        self.size = min(self.size + n, self.capacity)


@dataclass
class _DQNLearner:
    """The double-DQN update: minibatches from the replay buffer, Huber loss, Adam,
    gradient clipping, the target network copied every ``target_every`` steps."""

    net: nn.Module
    target: nn.Module
    opt: torch.optim.Optimizer
    replay: _Replay
    rng: np.random.Generator
    gamma: float
    batch_size: int
    n_updates: int
    target_every: int
    device: str
    steps: int = 0

    def learn(self) -> list[float]:
        """``n_updates`` gradient steps (none while the buffer holds less than a batch);
        returns their losses."""
        if self.replay.size < self.batch_size:
            return []
        return [self._step() for _ in range(self.n_updates)]

    def _step(self) -> float:
        buf, dev = self.replay, self.device
        b = self.rng.integers(0, buf.size, self.batch_size)
        s_b = torch.from_numpy(buf.s[b]).to(dev)
        s2_b = torch.from_numpy(buf.s2[b]).to(dev)
        a_b = torch.from_numpy(buf.a[b]).to(dev)
        r_b = torch.from_numpy(buf.r[b]).to(dev)
        d_b = torch.from_numpy(buf.d[b]).to(dev)
        with torch.no_grad():
            a_star = self.net(s2_b).argmax(dim=1, keepdim=True)
            boot = self.target(s2_b).gather(1, a_star).squeeze(1)
            y = r_b + self.gamma * (1.0 - d_b) * boot
        pred = self.net(s_b).gather(1, a_b[:, None]).squeeze(1)
        loss = nn.functional.smooth_l1_loss(pred, y)
        self.opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.net.parameters(), 10.0)
        self.opt.step()
        self.steps += 1
        if self.steps % self.target_every == 0:
            self.target.load_state_dict(self.net.state_dict())
        return float(loss.detach())


def _dqn_episode(
    sim: MarketingSimulator,
    agent: DQNAgent,
    learner: _DQNLearner,
    eps: float,
    run_seed: int,
    first: bool,
) -> dict[str, float]:
    """Every training customer through the horizon on ``run_seed``, epsilon-greedy, each
    month's transitions stored and learned from; the first month of the ``first`` episode
    sets the reward scale. Returns the mean discounted return, contact rate and loss."""
    obs = sim.reset(run_seed)
    ret = np.zeros(sim.n)
    contacts, losses = 0, []
    for t in range(sim.config.horizon):
        feats = agent.features(obs)
        a = _eps_greedy(agent.scores(obs, t), eps, learner.rng)
        obs2, r, done = sim.step(a)
        if first and t == 0:
            agent.reward_scale = float(np.std(r)) or 1.0
        ret += learner.gamma**t * r
        contacts += int((a > 0).sum())
        learner.replay.add(feats, a, r / agent.reward_scale, agent.features(obs2), done)
        obs = obs2
        losses += learner.learn()
    return {
        "mean_return": float(ret.mean()),
        "contact_rate": contacts / (sim.n * sim.config.horizon),
        "loss": float(np.mean(losses)) if losses else np.nan,
    }
