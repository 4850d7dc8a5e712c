"""Off-policy evaluation (OPE) of marketing policies from logged data, checked against truth.

A known stochastic **behaviour** policy logs customer-months (state, action, reward,
propensity); each **target** policy is a softened (epsilon-greedy) version of a
deterministic policy, so every importance weight exists: with ``epsilon`` the target
takes its greedy (unconstrained, no budget) action with probability ``1 - epsilon +
epsilon / 4`` and every other action with ``epsilon / 4``. The default behaviour is the
softened one-step uplift rule with ``epsilon = 0.5`` (all propensities >= 0.125 >= 0.05).
Because the simulator is known, each target's true value is computed by simulation and
every estimator's error, bias, effective sample size and rank correlation are reported.

Estimators (value = expected discounted profit per customer over the horizon)
------------------------------------------------------------------------------
* PDIS, per-decision importance sampling (Precup, Sutton & Singh 2000);
* WPDIS, its self-normalised (weighted) version;
* DR, doubly robust (Jiang & Li 2016), with the FQE model as Q-hat;
* FQE, fitted-Q evaluation (Le, Voloshin & Yue 2019): backward over the months, a ridge
  regression per action on transformed state features (log1p of skewed ones, squares)
  regresses ``r_t + gamma * sum_a pi(a|s_{t+1}) Q_{t+1}(s_{t+1}, a)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from .simulator import FEATURE_INDEX as FI
from .simulator import MarketingSimulator, MarketingWorld, log_scaled

__all__ = [
    "LoggedData",
    "SoftenedPolicy",
    "collect_logs",
    "estimate_all",
    "fqe",
    "ope_table",
    "pdis",
    "true_value",
    "wpdis",
    "doubly_robust",
]


class SoftenedPolicy:
    """Epsilon-greedy version of a scoring policy (greedy = best action if its advantage
    over "none" is positive, no budget)."""

    def __init__(self, base: object, epsilon: float = 0.1, name: str | None = None):
        if not 0 < epsilon <= 1:
            raise ValueError(f"epsilon must be in (0, 1], got {epsilon}")
        self.base = base
        self.epsilon = float(epsilon)
        self.name = name or f"{getattr(base, 'name', 'policy')}~eps{epsilon:g}"

    def probs(self, obs: np.ndarray, t: int, sim: MarketingSimulator) -> np.ndarray:
        """(N, 4) action probabilities."""
        sc = np.asarray(self.base.scores(obs, t, sim), float)
        best = 1 + np.argmax(sc[:, 1:], axis=1)
        adv = sc[np.arange(len(sc)), best] - sc[:, 0]
        greedy = np.where(np.isfinite(adv) & (adv > 0), best, 0)
        p = np.full((len(sc), 4), self.epsilon / 4)
        p[np.arange(len(sc)), greedy] += 1 - self.epsilon
        return p


class LoggedData:
    """Logged trajectories: obs (N, H+1, F), actions, rewards, propensities (N, H)."""

    def __init__(self, obs, actions, rewards, propensities, gamma):
        self.obs, self.actions, self.rewards = obs, actions, rewards
        self.propensities, self.gamma = propensities, gamma

    @property
    def n(self) -> int:
        """Customers logged."""
        return self.actions.shape[0]


def _run(sim: MarketingSimulator, policy: SoftenedPolicy, seed: int, log: bool):
    obs = sim.reset(seed)
    if hasattr(policy.base, "begin"):
        policy.base.begin(sim)
    rng = np.random.default_rng([seed, 31337])
    h = sim.config.horizon
    obs_all = np.zeros((sim.n, h + 1, obs.shape[1])) if log else None
    acts = np.zeros((sim.n, h), np.int64)
    rews = np.zeros((sim.n, h))
    props = np.zeros((sim.n, h))
    for t in range(h):
        if log:
            obs_all[:, t] = obs
        p = policy.probs(obs, t, sim)
        a = (rng.random(sim.n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
        a = np.minimum(a, 3)
        props[:, t] = p[np.arange(sim.n), a]
        obs, rews[:, t], _ = sim.step(a)
        acts[:, t] = a
    if log:
        obs_all[:, h] = obs
    return obs_all, acts, rews, props


def collect_logs(world: MarketingWorld, behaviour: SoftenedPolicy, seed: int) -> LoggedData:
    """Run the behaviour policy once (no budget) and record everything incl. propensities."""
    sim = world.with_budget(None).simulator()
    obs, acts, rews, props = _run(sim, behaviour, seed, log=True)
    if props.min() < 0.05:
        raise ValueError(f"behaviour propensities must be >= 0.05, got {props.min():.3g}")
    return LoggedData(obs, acts, rews, props, world.config.gamma)


def true_value(world: MarketingWorld, target: SoftenedPolicy, seeds: list[int] | range) -> float:
    """Mean discounted profit per customer of the stochastic target, by simulation."""
    sim = world.with_budget(None).simulator()
    disc = world.config.gamma ** np.arange(world.config.horizon)
    vals = [(_run(sim, target, int(s), log=False)[2] @ disc).mean() for s in seeds]
    return float(np.mean(vals))


def _target_probs(logs: LoggedData, target: SoftenedPolicy) -> np.ndarray:
    """pi_e(a | s) for every logged state: (N, H+1, 4)."""
    n, h1, f = logs.obs.shape
    flat = logs.obs.reshape(-1, f)
    return target.probs(flat, 0, None).reshape(n, h1, 4)  # type: ignore[arg-type]


def _ratios(logs: LoggedData, pe: np.ndarray) -> np.ndarray:
    h = logs.actions.shape[1]
    p_a = np.take_along_axis(pe[:, :h], logs.actions[..., None], axis=2)[..., 0]
    return np.cumprod(p_a / logs.propensities, axis=1)


def pdis(logs: LoggedData, pe: np.ndarray) -> tuple[float, float]:
    """Per-decision importance sampling (Precup et al. 2000); returns (value, ESS)."""
    w = _ratios(logs, pe)
    disc = logs.gamma ** np.arange(w.shape[1])
    value = float(((w * logs.rewards) @ disc).mean())
    wt = w[:, -1]
    return value, float(wt.sum() ** 2 / (wt**2).sum())


def wpdis(logs: LoggedData, pe: np.ndarray) -> float:
    """Weighted (self-normalised) PDIS."""
    w = _ratios(logs, pe)
    disc = logs.gamma ** np.arange(w.shape[1])
    per_t = (w * logs.rewards).sum(axis=0) / w.sum(axis=0)
    return float(per_t @ disc)


def _design(obs: np.ndarray) -> np.ndarray:
    x = log_scaled(obs)
    return np.column_stack([np.ones(len(x)), x, x**2, x[:, FI["p_alive"]] * x[:, FI["exp_spend"]]])


def fqe(logs: LoggedData, pe: np.ndarray, ridge: float = 1.0) -> np.ndarray:
    """Fitted-Q evaluation (Le et al. 2019): Q-hat (N, H, 4) on the logged states."""
    n, h1, f = logs.obs.shape
    h = h1 - 1
    q = np.zeros((n, h + 1, 4))
    for t in range(h - 1, -1, -1):
        v_next = (pe[:, t + 1] * q[:, t + 1]).sum(axis=1) if t + 1 < h else 0.0
        y = logs.rewards[:, t] + logs.gamma * v_next
        x = _design(logs.obs[:, t])
        mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
        mu[0], sd[0] = 0.0, 1.0
        xs = (x - mu) / sd
        for a in range(4):
            m = logs.actions[:, t] == a
            if m.sum() < 5:
                q[:, t, a] = y[m].mean() if m.any() else 0.0
                continue
            xa = xs[m]
            reg = ridge * np.eye(xa.shape[1])
            reg[0, 0] = 0.0
            beta = np.linalg.solve(xa.T @ xa + reg, xa.T @ y[m])
            q[:, t, a] = xs @ beta
    return q[:, :h]


def doubly_robust(logs: LoggedData, pe: np.ndarray, q: np.ndarray) -> float:
    """Doubly robust estimator (Jiang & Li 2016), backward recursion per trajectory."""
    n, h = logs.actions.shape
    v_hat = (pe[:, :h] * q).sum(axis=2)
    q_a = np.take_along_axis(q, logs.actions[..., None], axis=2)[..., 0]
    p_a = np.take_along_axis(pe[:, :h], logs.actions[..., None], axis=2)[..., 0]
    rho = p_a / logs.propensities
    dr = np.zeros(n)
    for t in range(h - 1, -1, -1):
        dr = v_hat[:, t] + rho[:, t] * (logs.rewards[:, t] + logs.gamma * dr - q_a[:, t])
    return float(dr.mean())


def estimate_all(logs: LoggedData, target: SoftenedPolicy) -> dict[str, float]:
    """PDIS, WPDIS, DR and FQE estimates plus the ESS of the trajectory weights."""
    pe = _target_probs(logs, target)
    v_pdis, ess = pdis(logs, pe)
    q = fqe(logs, pe)
    v_fqe = float((pe[:, 0] * q[:, 0]).sum(axis=1).mean())
    return {
        "pdis": v_pdis,
        "wpdis": wpdis(logs, pe),
        "dr": doubly_robust(logs, pe, q),
        "fqe": v_fqe,
        "ess": ess,
    }


def ope_table(
    world: MarketingWorld,
    behaviour: SoftenedPolicy,
    targets: dict[str, SoftenedPolicy],
    log_seed: int,
    truth_seeds: list[int] | range,
    n_log_repeats: int = 1,
) -> dict[str, pd.DataFrame]:
    """Estimate every target from logs and compare with its simulated true value.

    Returns
    -------
    dict
        ``"estimates"``: one row per (target, estimator) with estimate, true value,
        error, plus the ESS of the trajectory weights; ``"summary"``: per estimator the
        RMSE, bias, mean |error| and Spearman rank correlation with the true values.
        With ``n_log_repeats > 1`` logs are drawn from successive seeds and bias/RMSE
        are over repeats as well.
    """
    rows = []
    truths = {name: true_value(world, tp, truth_seeds) for name, tp in targets.items()}
    for rep in range(n_log_repeats):
        logs = collect_logs(world, behaviour, log_seed + rep)
        for name, tp in targets.items():
            est = estimate_all(logs, tp)
            for k in ("pdis", "wpdis", "dr", "fqe"):
                rows.append(
                    {
                        "target": name,
                        "repeat": rep,
                        "estimator": k,
                        "estimate": est[k],
                        "true_value": truths[name],
                        "error": est[k] - truths[name],
                        "ess": est["ess"],
                        "n_logged": logs.n,
                    }
                )
    est_df = pd.DataFrame(rows)
    summ = []
    for k, g in est_df.groupby("estimator", sort=False):
        mean_est = g.groupby("target")[["estimate", "true_value"]].mean()
        rho = spearmanr(mean_est["estimate"], mean_est["true_value"]).statistic
        summ.append(
            {
                "estimator": k,
                "rmse": float(np.sqrt((g["error"] ** 2).mean())),
                "bias": float(g["error"].mean()),
                "mean_abs_error": float(g["error"].abs().mean()),
                "spearman_rank": float(rho),
                "mean_ess": float(g["ess"].mean()),
            }
        )
    return {"estimates": est_df, "summary": pd.DataFrame(summ)}
