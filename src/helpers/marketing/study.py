"""Paired-seed evaluation of marketing policies, budget curves, effect sweeps, and the
whole stage-05 study in one call (:func:`run_study`).

Incremental profit of a policy = its discounted profit per customer minus that of
"contact nobody" **on the same seed** (common random numbers, so the difference is
paired); the table reports the mean over seeds and a 95 % t-interval of that mean.

References
----------
Sutton, R. S. & Barto, A. G. (2018), *Reinforcement Learning: An Introduction*.
Law, A. M. (2015), *Simulation Modeling and Analysis*, 5th ed., ch. 11 (common random
numbers, paired-t confidence intervals).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .agents import train_dqn, train_tabular
from .ope import SoftenedPolicy, ope_table
from .policies import (
    NobodyPolicy,
    OneStepUpliftPolicy,
    OraclePolicy,
    fit_oracle_price,
    heuristic_policies,
)
from .simulator import (
    ACTIONS,
    BTYDStateModel,
    MarketingConfig,
    MarketingSimulator,
    Population,
    TreatmentEffects,
    run_policy,
)
from .simulator import FEATURE_INDEX as FI

__all__ = [
    "best_heuristic",
    "evaluate_raw_agents",
    "evaluation_seeds",
    "StudyResult",
    "budget_curve",
    "evaluate_policies",
    "oracle_gap_share",
    "mean_interval",
    "policy_table",
    "run_study",
    "safe_improvement_check",
    "train_agents",
]

RL_AGENTS = ("q_learning", "sarsa", "dqn")


def mean_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and t-interval of the mean over seeds."""
    v = np.asarray(values, float)
    m = float(v.mean())
    if len(v) < 2:
        return m, m, m
    half = float(stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return m, m - half, m + half


def evaluate_policies(
    population: Population,
    policies: dict[str, Any],
    effects: TreatmentEffects,
    config: MarketingConfig,
    state_model: BTYDStateModel,
    seeds: list[int] | range,
    budget: float | None | str = "config",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run every policy on every seed (paired) and summarise incremental profit.

    ``policies`` must contain ``"nobody"`` (the reference). Returns ``(table,
    per_seed)``: the table has per policy ``incremental_profit`` (mean over seeds), its
    95 % interval ``ci_lo``/``ci_hi``, ``profit`` (absolute), ``contact_rate`` and the
    share of each action; ``per_seed`` the raw values.
    """
    if "nobody" not in policies:
        raise ValueError("policies must include 'nobody' (the reference)")
    sim = MarketingSimulator(population, effects, config, state_model)
    rows = []
    for s in seeds:
        for name, pol in policies.items():
            res = run_policy(sim, pol, int(s), budget=budget)
            shares = np.bincount(res.actions.ravel(), minlength=4) / res.actions.size
            rows.append(
                {
                    "policy": name,
                    "seed": int(s),
                    "profit": float(res.discounted_profit.mean()),
                    "contact_rate": res.contact_rate,
                    **{f"share_{a}": float(shares[i]) for i, a in enumerate(ACTIONS)},
                }
            )
    per_seed = pd.DataFrame(rows)
    ref = per_seed.loc[per_seed["policy"] == "nobody"].set_index("seed")["profit"]
    per_seed["incremental_profit"] = per_seed["profit"] - per_seed["seed"].map(ref)
    out = []
    for name in policies:
        g = per_seed.loc[per_seed["policy"] == name]
        m, lo, hi = mean_interval(g["incremental_profit"].to_numpy())
        out.append(
            {
                "policy": name,
                "incremental_profit": m,
                "ci_lo": lo,
                "ci_hi": hi,
                "profit": float(g["profit"].mean()),
                "contact_rate": float(g["contact_rate"].mean()),
                **{f"share_{a}": float(g[f"share_{a}"].mean()) for a in ACTIONS[1:]},
            }
        )
    return pd.DataFrame(out), per_seed


def paired_difference(per_seed: pd.DataFrame, a: str, b: str) -> tuple[float, float, float]:
    """Mean and 95 % interval of profit(a) - profit(b) over the shared seeds."""
    pa = per_seed.loc[per_seed["policy"] == a].set_index("seed")["profit"]
    pb = per_seed.loc[per_seed["policy"] == b].set_index("seed")["profit"]
    return mean_interval((pa - pb.reindex(pa.index)).to_numpy())


def oracle_gap_share(table: pd.DataFrame, agents: tuple[str, ...] = RL_AGENTS) -> pd.DataFrame:
    """Share of the gap (best heuristic -> oracle) each agent closes.

    Heuristics are every row that is neither an agent nor ``"oracle"``.
    """
    t = table.set_index("policy")["incremental_profit"]
    heur = t.drop([p for p in (*agents, "oracle", "nobody") if p in t.index])
    best_name = str(heur.idxmax())
    best, oracle = float(heur.max()), float(t["oracle"])
    rows = []
    for a in agents:
        if a in t.index:
            gap = oracle - best
            rows.append(
                {
                    "agent": a,
                    "best_heuristic": best_name,
                    "share_of_gap_closed": (float(t[a]) - best) / gap if gap > 0 else np.nan,
                    "vs_best_heuristic_pct": 100 * (float(t[a]) - best) / abs(best)
                    if best
                    else np.nan,
                }
            )
    return pd.DataFrame(rows)


def budget_curve(
    population: Population,
    policies: dict[str, Any],
    effects: TreatmentEffects,
    config: MarketingConfig,
    state_model: BTYDStateModel,
    budgets: list[float],
    seeds: list[int] | range,
) -> pd.DataFrame:
    """Incremental profit (mean, interval) of each policy at each budget share.

    An ``"oracle"`` entry gets its Lagrangian contact price refitted per budget.
    """
    frames = []
    for b in budgets:
        pols = dict(policies)
        if "oracle" in pols:
            sim = MarketingSimulator(population, effects, config, state_model)
            pols["oracle"] = OraclePolicy(fit_oracle_price(sim, b, int(seeds[0]) + 10**6))
        table, _ = evaluate_policies(
            population, pols, effects, config.with_budget(b), state_model, seeds
        )
        frames.append(table.assign(budget=b))
    return pd.concat(frames, ignore_index=True)


def policy_table(
    policy: Any,
    population: Population,
    effects: TreatmentEffects,
    config: MarketingConfig,
    state_model: BTYDStateModel,
    seed: int,
) -> pd.DataFrame:
    """Who gets which action: action shares by recency x frequency segment.

    Runs the policy (with the budget of ``config``) and groups all customer-months by
    recency (months: 0-1, 2-3, 4-6, 7-12, 13+) and repeat purchases (0, 1-3, 4+).
    """
    sim = MarketingSimulator(population, effects, config, state_model)
    res = run_policy(sim, policy, seed, record_obs=True)
    obs = res.extra["obs"].reshape(-1, res.extra["obs"].shape[-1])
    rec = pd.cut(
        obs[:, FI["recency"]],
        [-np.inf, 1.5, 3.5, 6.5, 12.5, np.inf],
        labels=["0-1", "2-3", "4-6", "7-12", "13+"],
    )
    freq = pd.cut(obs[:, FI["frequency"]], [-np.inf, 0.5, 3.5, np.inf], labels=["0", "1-3", "4+"])
    frame = pd.DataFrame(
        {
            "recency_months": rec,
            "repeat_purchases": freq,
            "action": np.array(ACTIONS)[res.actions.ravel()],
        }
    )
    tab = pd.crosstab(
        [frame["recency_months"], frame["repeat_purchases"]], frame["action"], normalize="index"
    )
    tab = tab.reindex(columns=list(ACTIONS), fill_value=0.0)
    tab["customer_months"] = frame.groupby(
        ["recency_months", "repeat_purchases"], observed=False
    ).size()
    return tab.loc[tab["customer_months"] > 0].reset_index()


def train_agents(
    population: Population,
    effects: TreatmentEffects,
    config: MarketingConfig,
    state_model: BTYDStateModel,
    seed: int,
    tabular_episodes: int = 100,
    dqn_episodes: int = 30,
    agents: tuple[str, ...] = RL_AGENTS,
    safe_check_seeds: int = 4,
) -> dict[str, Any]:
    """Train the RL agents on ``population`` (seeded; see the agents module).

    Unless ``safe_check_seeds = 0`` each agent then passes :func:`safe_improvement_check`
    on validation seeds ``seed * 100_003 + 50_000 + i`` (recorded in ``agent.safe_check``).
    """
    out: dict[str, Any] = {}
    for name in agents:
        if name in ("q_learning", "sarsa"):
            out[name] = train_tabular(
                population, effects, config, state_model, name, episodes=tabular_episodes, seed=seed
            )
        elif name == "dqn":
            out[name] = train_dqn(
                population, effects, config, state_model, episodes=dqn_episodes, seed=seed
            )
        else:
            raise ValueError(f"unknown agent {name!r}")
        if safe_check_seeds:
            seeds = [seed * 100_003 + 50_000 + i for i in range(safe_check_seeds)]
            out[name].safe_check = safe_improvement_check(
                out[name], population, effects, config, state_model, seeds
            )
    return out


def safe_improvement_check(
    agent: Any,
    population: Population,
    effects: TreatmentEffects,
    config: MarketingConfig,
    state_model: BTYDStateModel,
    seeds: list[int] | range,
) -> dict[str, float]:
    """Safe policy improvement: keep an agent only if it beats "nobody" on validation.

    Runs the agent (at the budget of ``config``) and "contact nobody" on the *training*
    customers with validation seeds distinct from the training seeds (paired); if the
    lower end of the 95 % interval of the improvement is <= 0 the agent is disabled
    (it contacts nobody). This is the fallback-to-baseline idea of safe policy
    improvement (Thomas, Theocharous & Ghavamzadeh 2015; Laroche, Trichelair & Tachet
    des Combes 2019): with realised profits this noisy, a learned policy must prove it
    helps before it is deployed. Uses no test customer and no evaluation seed.
    """
    agent.disabled = False
    _, per_seed = evaluate_policies(
        population, {"nobody": NobodyPolicy(), "agent": agent}, effects, config, state_model, seeds
    )
    m, lo, hi = paired_difference(per_seed, "agent", "nobody")
    agent.disabled = not lo > 0
    return {"improvement": m, "ci_lo": lo, "ci_hi": hi, "disabled": agent.disabled}


def evaluation_seeds(seed: int, n: int) -> list[int]:
    """The fresh seeds policies are evaluated on (disjoint from the training seeds)."""
    return [10**7 + seed + i for i in range(n)]


def best_heuristic(table: pd.DataFrame) -> pd.Series:
    """The row of the best marketer heuristic (not an RL agent, the oracle or "nobody")."""
    heuristics = table.loc[~table["policy"].isin([*RL_AGENTS, "oracle", "nobody"])]
    if heuristics.empty:
        raise ValueError("the table holds no heuristic policy")
    return heuristics.sort_values("incremental_profit").iloc[-1]


def evaluate_raw_agents(
    result: StudyResult,
    population: Population,
    effects: TreatmentEffects,
    config: MarketingConfig,
    state_model: BTYDStateModel,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Each trained agent as learned, with the safety switch ignored (``<name>_raw``).

    Evaluated on the study's own evaluation seeds against "contact nobody", so a reader
    sees what the safety check switched off and why. Returns the evaluation table and
    the raw agents (copies; the study's agents are left as they are).
    """
    raw_agents = {}
    for name, agent in result.agents.items():
        raw = copy.copy(agent)
        raw.disabled = False
        raw_agents[f"{name}_raw"] = raw
    policies = {"nobody": NobodyPolicy(), **raw_agents}
    table, _ = evaluate_policies(
        population, policies, effects, config, state_model, result.notes["eval_seeds"]
    )
    return table, raw_agents


@dataclass
class StudyResult:
    """Everything the stage-05 notebook shows."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    agents: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)


def run_study(
    train_population: Population,
    test_population: Population,
    alt_test_population: Population,
    state_model: BTYDStateModel,
    config: MarketingConfig | None = None,
    effects: str = "mid",
    seed: int = 42,
    n_eval_seeds: int = 10,
    tabular_episodes: int = 100,
    dqn_episodes: int = 30,
    budgets: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4, 1.0),
    n_curve_seeds: int = 5,
    sweep: tuple[str, ...] = ("none", "low", "mid", "high"),
    sweep_tabular_episodes: int = 60,
    sweep_dqn_episodes: int = 15,
    ope_customers: int = 1500,
    ope_truth_seeds: int = 5,
) -> StudyResult:
    """The default stage-05 study.

    1. Train Q-learning, SARSA and DQN on ``train_population`` under ``effects`` on
       training seeds (``seed * 100_003 + episode``).
    2. Evaluate all policies (heuristics, agents, oracle with a Lagrangian price fitted
       for the budget) on ``test_population`` on fresh seeds ``10**7 + seed + i`` --
       table ``"main"``; and on ``alt_test_population`` (the differently specified
       simulator, e.g. the other BTYD family) -- table ``"alt"``; paired RL-vs-best
       heuristic differences in ``"main_vs_best"`` / ``"alt_vs_best"``; gap closed.
    3. Profit-vs-budget curve (``"budget_curve"``), effect sweep with retrained agents
       (``"sweep"``), OPE on the test customers (``"ope_estimates"``, ``"ope_summary"``),
       learning curves and the learned policies' action tables.
    """
    cfg = config or MarketingConfig()
    eff = TreatmentEffects.preset(effects)
    res = StudyResult()
    eval_seeds = evaluation_seeds(seed, n_eval_seeds)
    spend_median = float(np.median(train_population.m0[train_population.x0 > 0]))

    t0 = time.perf_counter()
    agents = train_agents(
        train_population, eff, cfg, state_model, seed, tabular_episodes, dqn_episodes
    )
    res.timings["train"] = time.perf_counter() - t0
    res.agents = agents
    res.tables["safe_checks"] = pd.DataFrame(
        [{"agent": k, **getattr(a, "safe_check", {})} for k, a in agents.items()]
    )
    res.tables["learning_curves"] = pd.concat(
        [a.learning_curve.assign(agent=k) for k, a in agents.items()], ignore_index=True
    )

    def all_policies(pop: Population, e: TreatmentEffects) -> dict[str, Any]:
        pols = heuristic_policies(eff, cfg, spend_median)
        pols.update(agents)
        sim = MarketingSimulator(pop, e, cfg, state_model)
        price = fit_oracle_price(sim, cfg.budget, seed) if cfg.budget is not None else 0.0
        pols["oracle"] = OraclePolicy(price)
        return pols

    for key, pop in (("main", test_population), ("alt", alt_test_population)):
        t0 = time.perf_counter()
        pols = all_policies(pop, eff)
        table, per_seed = evaluate_policies(pop, pols, eff, cfg, state_model, eval_seeds)
        best = str(best_heuristic(table)["policy"])
        diffs = []
        for a in RL_AGENTS:
            m, lo, hi = paired_difference(per_seed, a, best)
            diffs.append(
                {"agent": a, "best_heuristic": best, "difference": m, "ci_lo": lo, "ci_hi": hi}
            )
        res.tables[key] = table
        res.tables[f"{key}_per_seed"] = per_seed
        res.tables[f"{key}_vs_best"] = pd.DataFrame(diffs)
        res.tables[f"{key}_gap"] = oracle_gap_share(table)
        res.timings[f"evaluate_{key}"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    curve_pols = {k: v for k, v in all_policies(test_population, eff).items()}
    res.tables["budget_curve"] = budget_curve(
        test_population,
        curve_pols,
        eff,
        cfg,
        state_model,
        list(budgets),
        eval_seeds[:n_curve_seeds],
    )
    res.timings["budget_curve"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    frames = []
    for name in sweep:
        e = TreatmentEffects.preset(name)
        ag = train_agents(
            train_population, e, cfg, state_model, seed, sweep_tabular_episodes, sweep_dqn_episodes
        )
        pols = heuristic_policies(e, cfg, spend_median)
        pols.update(ag)
        sim = MarketingSimulator(test_population, e, cfg, state_model)
        pols["oracle"] = OraclePolicy(
            fit_oracle_price(sim, cfg.budget, seed) if cfg.budget is not None else 0.0
        )
        table, _ = evaluate_policies(
            test_population, pols, e, cfg, state_model, eval_seeds[:n_curve_seeds]
        )
        frames.append(table.assign(effects=name))
    res.tables["sweep"] = pd.concat(frames, ignore_index=True)
    res.timings["sweep"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    ope_pop = test_population.sample(ope_customers, seed)
    behaviour = SoftenedPolicy(OneStepUpliftPolicy(eff, cfg), 0.5, name="behaviour")
    heur = heuristic_policies(eff, cfg, spend_median)
    targets = {k: SoftenedPolicy(v, 0.1, name=k) for k, v in agents.items()}
    for k in ("top_clv", "rfm", "one_step_uplift", "nobody", "churn_risk"):
        targets[k] = SoftenedPolicy(heur[k], 0.1, name=k)
    ope = ope_table(
        ope_pop,
        behaviour,
        targets,
        eff,
        cfg,
        state_model,
        seed + 7,
        [10**8 + seed + i for i in range(ope_truth_seeds)],
    )
    res.tables["ope_estimates"] = ope["estimates"]
    res.tables["ope_summary"] = ope["summary"]
    res.timings["ope"] = time.perf_counter() - t0

    for k, a in agents.items():
        res.tables[f"policy_{k}"] = policy_table(
            a, test_population, eff, cfg, state_model, eval_seeds[0]
        )
    res.notes = {
        "effects": eff,
        "config": cfg,
        "eval_seeds": eval_seeds,
        "train_size": len(train_population),
        "test_size": len(test_population),
    }
    return res
