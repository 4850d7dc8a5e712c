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
import multiprocessing
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .agents import train_dqn, train_tabular
from .diagnose import diagnosis_jobs, merge_diagnosis, run_diagnosis_job
from .evaluation import evaluate_policies, mean_interval
from .fqi import train_fqi
from .ope import SoftenedPolicy, ope_table
from .planners import FullInformationMyopicPolicy, PosteriorMPCPolicy, RolloutPolicy
from .policies import (
    NobodyPolicy,
    OneStepUpliftPolicy,
    OraclePolicy,
    fit_oracle_price,
    heuristic_policies,
)
from .settings import MarketingSettings
from .simulator import (
    ACTIONS,
    BTYDStateModel,
    MarketingConfig,
    MarketingWorld,
    Population,
    TreatmentEffects,
    run_policy,
)
from .simulator import FEATURE_INDEX as FI

__all__ = [
    "PLANNERS",
    "REFERENCES",
    "RL_AGENTS",
    "best_heuristic",
    "dedupe_policies",
    "gap_split",
    "evaluate_raw_agents",
    "raw_agent_results",
    "safety_table",
    "unswitched",
    "recommended_policy_name",
    "evaluation_seeds",
    "StudyResult",
    "budget_curve",
    "evaluate_policies",
    "oracle_gap_share",
    "mean_interval",
    "policy_months",
    "policy_table",
    "run_study",
    "safe_improvement_check",
    "train_agents",
]

#: Learned policies: the textbook tabular agents and DQN, fitted Q-iteration (bootstrapped
#: targets) and fitted Q with full-information targets (see :mod:`.fqi`).
RL_AGENTS = ("q_learning", "sarsa", "dqn", "fqi", "fqi_teacher")
#: Planners a marketer can run on the BTYD posterior (no learning, no hidden traits).
PLANNERS = ("posterior_mpc", "rollout")
#: Yardsticks that read the simulator's hidden traits (not deployable).
REFERENCES = ("full_info_myopic", "oracle")


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
    skip = (*RL_AGENTS, *agents, *PLANNERS, *REFERENCES, "nobody")
    heur = t.drop([p for p in dict.fromkeys(skip) if p in t.index])
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
    world: MarketingWorld,
    policies: dict[str, Any],
    budgets: list[float] | tuple[float, ...],
    seeds: list[int] | range,
) -> pd.DataFrame:
    """Incremental profit (mean, interval) of each policy at each budget share.

    An ``"oracle"`` entry gets its Lagrangian contact price refitted per budget.
    """
    frames = []
    for b in budgets:
        pols = dict(policies)
        if "oracle" in pols:
            sim = world.simulator()
            pols["oracle"] = OraclePolicy(fit_oracle_price(sim, b, int(seeds[0]) + 10**6))
        table, _ = evaluate_policies(world.with_budget(b), pols, seeds)
        frames.append(table.assign(budget=b))
    return pd.concat(frames, ignore_index=True)


def policy_table(policy: Any, world: MarketingWorld, seed: int) -> pd.DataFrame:
    """Who gets which action: action shares by recency x frequency segment.

    Runs the policy (with the budget of ``config``) and groups all customer-months by
    recency (months: 0-1, 2-3, 4-6, 7-12, 13+) and repeat purchases (0, 1-3, 4+).
    """
    res = run_policy(world.simulator(), policy, seed, record_obs=True)
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


def policy_months(policy: Any, world: MarketingWorld, seed: int) -> pd.Series:
    """When a policy contacts: share of its contacted customer-months by the number of
    contacts the customer had in the previous three months (0-3)."""
    res = run_policy(world.simulator(), policy, seed, record_obs=True)
    k3 = res.extra["obs"][..., FI["contacts_3m"]].astype(int)
    contacted = res.actions > 0
    counts = np.bincount(k3[contacted], minlength=4)[:4]
    return pd.Series(counts / max(1, counts.sum()), index=range(4), name="share")


_DEFAULT = MarketingSettings()


def train_agents(
    world: MarketingWorld,
    seed: int,
    tabular_episodes: int = _DEFAULT.tabular_episodes,
    dqn_episodes: int = _DEFAULT.dqn_episodes,
    agents: tuple[str, ...] = RL_AGENTS,
    safe_check_seeds: int = _DEFAULT.safe_check_seeds,
    fqi_episodes: int = _DEFAULT.fqi_episodes,
    teacher_episodes: int = _DEFAULT.teacher_episodes,
) -> dict[str, Any]:
    """Train the learners on ``world``'s customers (seeded; see :mod:`.agents`, :mod:`.fqi`).

    Unless ``safe_check_seeds = 0`` each agent then passes :func:`safe_improvement_check`
    on validation seeds ``seed * 100_003 + 50_000 + i`` (recorded in ``agent.safe_check``).
    """
    out: dict[str, Any] = {}
    for name in agents:
        if name in ("q_learning", "sarsa"):
            out[name] = train_tabular(world, name, episodes=tabular_episodes, seed=seed)
        elif name == "dqn":
            out[name] = train_dqn(world, episodes=dqn_episodes, seed=seed)
        elif name == "fqi":
            out[name] = train_fqi(world, episodes=fqi_episodes, seed=seed)
        elif name == "fqi_teacher":
            out[name] = train_fqi(world, teacher_episodes, seed, teacher=True)
            out[name].name = name
        else:
            raise ValueError(f"unknown agent {name!r}")
        if safe_check_seeds:
            seeds = [seed * 100_003 + 50_000 + i for i in range(safe_check_seeds)]
            out[name].safe_check = safe_improvement_check(out[name], world, seeds)
    return out


def safe_improvement_check(
    agent: Any, world: MarketingWorld, seeds: list[int] | range
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
    _, per_seed = evaluate_policies(world, {"nobody": NobodyPolicy(), "agent": agent}, seeds)
    m, lo, hi = paired_difference(per_seed, "agent", "nobody")
    agent.disabled = not lo > 0
    return {"improvement": m, "ci_lo": lo, "ci_hi": hi, "disabled": agent.disabled}


def evaluation_seeds(seed: int, n: int) -> list[int]:
    """The fresh seeds policies are evaluated on (disjoint from the training seeds)."""
    return [10**7 + seed + i for i in range(n)]


def best_heuristic(table: pd.DataFrame) -> pd.Series:
    """The row of the best marketer heuristic (not a learner, planner, reference or "nobody")."""
    not_heuristic = [*RL_AGENTS, *PLANNERS, *REFERENCES, "nobody"]
    heuristics = table.loc[
        ~table["policy"].isin(not_heuristic) & ~table["policy"].str.endswith("_raw")
    ]
    if heuristics.empty:
        raise ValueError("the table holds no heuristic policy")
    return heuristics.sort_values("incremental_profit").iloc[-1]


def evaluate_raw_agents(
    result: StudyResult, world: MarketingWorld
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Each trained agent as learned, with the safety switch ignored (``<name>_raw``).

    Evaluated on the study's own evaluation seeds against "contact nobody", so a reader
    sees what the safety check switched off and why. Returns the evaluation table and
    the raw agents (copies; the study's agents are left as they are).
    """
    raw_agents = unswitched(result.agents)
    policies = {"nobody": NobodyPolicy(), **raw_agents}
    table, _ = evaluate_policies(world, policies, result.notes["eval_seeds"])
    return table, raw_agents


def unswitched(agents: dict[str, Any]) -> dict[str, Any]:
    """Copies of the agents with the safety switch ignored, named ``<name>_raw``."""
    out = {}
    for name, agent in agents.items():
        raw = copy.copy(agent)
        raw.disabled = False
        out[f"{name}_raw"] = raw
    return out


def raw_agent_results(
    agents: dict[str, Any],
    table: pd.DataFrame,
    per_seed: pd.DataFrame,
    world: MarketingWorld,
    seeds: list[int] | range,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each agent's result as learned (``<name>_raw``), beside the switch.

    An agent the safety check kept is its own raw policy, so its rows are copied from
    ``table`` / ``per_seed`` (evaluated in ``world`` on ``seeds``); only the
    switched-off agents are run again with the switch ignored, paired with "contact
    nobody" on the same seeds. Returns ``(table, per_seed)`` of the ``_raw`` rows and
    "nobody".
    """
    raw = unswitched(agents)
    off = {k: a for k, a in raw.items() if agents[k[: -len("_raw")]].disabled}
    run_table, run_per_seed = evaluate_policies(world, {"nobody": NobodyPolicy(), **off}, seeds)
    kept = [k[: -len("_raw")] for k in raw if k not in off]
    rename = {k: f"{k}_raw" for k in kept}
    tables = [run_table, table[table["policy"].isin(kept)].replace({"policy": rename})]
    seeds_ = [run_per_seed, per_seed[per_seed["policy"].isin(kept)].replace({"policy": rename})]
    order = {k: i for i, k in enumerate(["nobody", *raw])}
    out = pd.concat(tables, ignore_index=True).sort_values("policy", key=lambda c: c.map(order))
    return out.reset_index(drop=True), pd.concat(seeds_, ignore_index=True)


def safety_table(checks: pd.DataFrame, raw: pd.DataFrame) -> pd.DataFrame:
    """The safety check beside each learner's raw held-out result, with a verdict.

    ``checks`` holds one row per agent (``improvement``, ``ci_lo``, ``ci_hi`` on the
    validation seeds, ``disabled``); ``raw`` the ``<agent>_raw`` rows of
    :func:`raw_agent_results`. Verdicts: ``"off, fails"`` (switched off and its raw
    held-out interval does not lie above 0: it truly fails to beat "contact nobody"),
    ``"off, wrongly"`` (switched off although its raw held-out interval lies above 0),
    ``"on, works"`` / ``"on, wrongly"`` (kept; wrongly when the raw held-out interval
    lies below 0).
    """
    r = raw.set_index("policy")
    out = checks.copy()
    if "disabled" not in out:  # no safety check was run: every agent is on
        out["disabled"] = False
    for col, src in (("raw_test", "incremental_profit"), ("raw_lo", "ci_lo"), ("raw_hi", "ci_hi")):
        out[col] = [float(r[src].get(f"{a}_raw", np.nan)) for a in out["agent"]]
    off = out["disabled"].astype(bool)
    out["verdict"] = np.where(
        off,
        np.where(out["raw_lo"] > 0, "off, wrongly", "off, fails"),
        np.where(out["raw_hi"] < 0, "on, wrongly", "on, works"),
    )
    return out


def gap_split(table: pd.DataFrame, per_seed: pd.DataFrame | None = None) -> pd.DataFrame:
    """The uplift -> oracle gap split into planning and information, per policy.

    Rungs: one-step uplift rule -> posterior MPC (planning a marketer can run) ->
    full-information myopic (information, no planning) -> oracle (both). For every
    policy: incremental profit, its ratio to the uplift rule, the share of the planning
    gap (uplift -> MPC) it closes and, with ``per_seed``, the paired 95 % interval of its
    difference to the uplift rule.
    """
    t = table.set_index("policy")["incremental_profit"]
    up, mpc = float(t["one_step_uplift"]), float(t["posterior_mpc"])
    rows = []
    for name, value in t.items():
        row = {
            "policy": name,
            "incremental_profit": float(value),
            "ratio_to_uplift": float(value) / up if up else np.nan,
            "share_of_planning_gap": (float(value) - up) / (mpc - up) if mpc != up else np.nan,
        }
        if per_seed is not None and name != "one_step_uplift":
            m, lo, hi = paired_difference(per_seed, str(name), "one_step_uplift")
            row.update(vs_uplift=m, vs_uplift_lo=lo, vs_uplift_hi=hi)
        rows.append(row)
    return pd.DataFrame(rows)


def dedupe_policies(names_to_scores: dict[str, np.ndarray]) -> dict[str, list[str]]:
    """Group policies whose greedy actions are identical on the same states.

    ``names_to_scores`` maps a policy name to its ``(N, 4)`` scores on a common sample of
    states; returns ``{kept name: [names it stands for]}`` in input order (the first of
    a group is kept). Used to show a switched-off agent once, as "nobody".
    """
    groups: dict[str, list[str]] = {}
    keys: dict[bytes, str] = {}
    for name, sc in names_to_scores.items():
        sc = np.asarray(sc, float)
        best = 1 + np.argmax(sc[:, 1:], axis=1)
        adv = sc[np.arange(len(sc)), best] - sc[:, 0]
        act = np.where(np.isfinite(adv) & (adv > 0), best, 0).astype(np.int8)
        key = act.tobytes()
        if key in keys:
            groups[keys[key]].append(name)
        else:
            keys[key] = name
            groups[name] = [name]
    return groups


#: The policies a shop can run at decision time on today's data, simplest (and cheapest
#: to run) first: the rules, the one-step rule, the planners on the BTYD posterior, the
#: learners. Not the oracle nor the full-information rule (they read the simulator's
#: truth), not "nobody" (the baseline every profit is measured against).
DEPLOYABLE = (
    "everybody",
    "random",
    "top_clv",
    "churn_risk",
    "rfm",
    "one_step_uplift",
    "rollout",
    "posterior_mpc",
    *RL_AGENTS,
)

#: The rule, in words, for the reports.
RECOMMENDATION_RULE = (
    "the highest held-out incremental profit at the budget among the policies a shop can "
    "run on today's data (rules, the one-step rule, the planners and the learners that "
    "passed their safety check); a tie goes to the simpler policy"
)


def recommended_policy_name(table: pd.DataFrame, agents: dict[str, Any]) -> str:
    """The policy the study recommends, by :data:`RECOMMENDATION_RULE`.

    Parameters
    ----------
    table : DataFrame
        Held-out results at the budget: ``policy``, ``incremental_profit``.
    agents : dict
        The trained learners; one switched off by its safety check (``disabled``) is
        not a candidate.

    Returns
    -------
    str
        The candidate with the highest mean incremental profit; among equal means (to
        1e-9), the one listed first in :data:`DEPLOYABLE`. "nobody" when no candidate
        earns more than contacting nobody.
    """
    profit = table.set_index("policy")["incremental_profit"]
    disabled = {k for k, a in agents.items() if getattr(a, "disabled", False)}
    candidates = [p for p in DEPLOYABLE if p in profit.index and p not in disabled]
    if not candidates:
        return "nobody"
    best = max(float(profit[p]) for p in candidates)
    if best <= 0.0:
        return "nobody"
    return next(p for p in candidates if float(profit[p]) >= best - 1e-9)


@dataclass
class StudyResult:
    """Everything the stage-05 notebook shows."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    agents: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)


def study_policies(
    effects: TreatmentEffects,
    config: MarketingConfig,
    state_model: BTYDStateModel,
    spend_median: float,
    agents: dict[str, Any],
    rollout_lookahead: int = 3,
) -> dict[str, Any]:
    """Heuristics, learners, planners and the full-information myopic rule (no oracle)."""
    pols = heuristic_policies(effects, config, spend_median)
    pols.update(agents)
    pols["full_info_myopic"] = FullInformationMyopicPolicy()
    pols["posterior_mpc"] = PosteriorMPCPolicy(effects, config, state_model)
    pols["rollout"] = RolloutPolicy(effects, config, state_model, lookahead=rollout_lookahead)
    return pols


def _with_oracle(pols: dict[str, Any], world: MarketingWorld, seed: int) -> dict[str, Any]:
    """``pols`` plus the oracle, its contact price fitted to ``world``'s budget."""
    out = dict(pols)
    budget = world.config.budget
    fit = budget is not None
    price = fit_oracle_price(world.simulator(), budget, seed, iterations=8) if fit else 0.0
    out["oracle"] = OraclePolicy(price)
    return out


@dataclass(frozen=True)
class _PresetJob:
    """One effects preset of :func:`run_study`: train the learners, evaluate every policy."""

    preset: str
    train: MarketingWorld  # the training customers; effects replaced by the preset's
    populations: dict[str, Population]  # "main" (held out), optionally "alt"
    seeds: list[int]
    tabular_episodes: int
    dqn_episodes: int
    agents: tuple[str, ...]
    settings: MarketingSettings
    spend_median: float
    seed: int


def _preset_task(job: _PresetJob) -> dict[str, Any]:
    """Train the learners under one effects preset and evaluate every policy (a worker)."""
    with _one_thread():
        t0 = time.perf_counter()
        s, seed = job.settings, job.seed
        eff = TreatmentEffects.preset(job.preset)
        train = job.train.with_effects(eff)
        agents = train_agents(
            train, seed, job.tabular_episodes, job.dqn_episodes, agents=job.agents,
            safe_check_seeds=s.safe_check_seeds, fqi_episodes=s.fqi_episodes,
            teacher_episodes=s.teacher_episodes,
        )  # fmt: skip
        out: dict[str, Any] = {"preset": job.preset, "tables": {}, "timings": {}}
        out["timings"]["train"] = time.perf_counter() - t0
        cfg, sm = train.config, train.state_model
        base = study_policies(eff, cfg, sm, job.spend_median, agents, s.rollout_lookahead)
        for key, pop in job.populations.items():
            t0 = time.perf_counter()
            world = train.with_population(pop)
            table, per_seed = evaluate_policies(world, _with_oracle(base, world, seed), job.seeds)
            out["tables"][key] = table
            out["tables"][f"{key}_per_seed"] = per_seed
            if key == "main":
                raw, raw_per_seed = raw_agent_results(agents, table, per_seed, world, job.seeds)
                out["tables"]["main_raw"] = raw
                out["tables"]["main_raw_per_seed"] = raw_per_seed
            out["timings"][f"evaluate_{key}"] = time.perf_counter() - t0
        out["agents"] = agents
        return out


@contextmanager
def _one_thread() -> Iterator[None]:
    """One torch and one BLAS thread in a worker (the workers already fill the cores)."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield


def _curve_task(job: dict[str, Any]) -> dict[str, Any]:
    with _one_thread():
        t0 = time.perf_counter()
        table = budget_curve(job["world"], job["policies"], job["budgets"], job["seeds"])
        return {"table": table, "seconds": time.perf_counter() - t0}


def _ope_task(job: dict[str, Any]) -> dict[str, Any]:
    with _one_thread():
        t0 = time.perf_counter()
        ope = ope_table(
            job["world"], job["behaviour"], job["targets"], job["log_seed"], job["truth_seeds"]
        )
        return {**ope, "seconds": time.perf_counter() - t0}


def _diagnosis_task(job: dict[str, Any]) -> dict[str, Any]:
    with _one_thread():
        t0 = time.perf_counter()
        table = run_diagnosis_job(job)
        return {"table": table, "seconds": time.perf_counter() - t0}


class _Serial:
    """Runs submitted jobs at once (``n_jobs = 1``), with the executor's interface."""

    def __enter__(self) -> _Serial:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def submit(self, fn, job):
        class _Done:
            def __init__(self, value):
                self.value = value

            def result(self):
                return self.value

        return _Done(fn(job))


def _executor(n_jobs: int) -> ProcessPoolExecutor | _Serial:
    if n_jobs > 1:
        return ProcessPoolExecutor(n_jobs, mp_context=multiprocessing.get_context("spawn"))
    return _Serial()


def run_study(
    train_population: Population,
    test_population: Population,
    alt_test_population: Population,
    state_model: BTYDStateModel,
    settings: MarketingSettings = _DEFAULT,
    seed: int = 42,
) -> StudyResult:
    """The default stage-05 study (``settings``: :class:`MarketingSettings`).

    1. For the main preset ``settings.effects`` and every ``settings.full_presets``
       entry: train the learners on ``train_population`` (training seeds
       ``seed * 100_003 + ...``), each passes :func:`safe_improvement_check`, then
       evaluate heuristics, learners, planners, the full-information myopic rule and the
       oracle (Lagrangian price fitted for the budget) on ``test_population`` **and** on
       ``alt_test_population`` (the differently specified simulator) on the fresh seeds
       ``10**7 + seed + i`` (``n_eval_seeds`` of them). Tables ``"main"``, ``"alt"``
       (and ``"<preset>_main"``, ``"<preset>_alt"``), per-seed values, paired
       differences to the best heuristic, the gap split (:func:`gap_split`).
    2. The other ``sweep`` presets (fewer training episodes, the first ``n_curve_seeds``
       evaluation seeds, held-out customers only, no plain FQI): table ``"sweep"``.
    3. Profit-vs-budget curve (first ``n_curve_seeds`` seeds) and off-policy evaluation
       of the main preset.
    4. With ``diagnose``: why the bootstrapped learners lose (:mod:`.diagnose`), on the
       main preset's held-out customers and the first ``n_curve_seeds`` evaluation
       seeds: table ``"diagnosis"``.

    Pieces run in ``n_jobs`` worker processes; seeds are fixed per job, so ``n_jobs``
    changes no number.
    """
    s = settings
    train = MarketingWorld(train_population, s.treatment_effects, s.config, state_model)
    test = train.with_population(test_population)
    eval_seeds = evaluation_seeds(seed, s.n_eval_seeds)
    curve_seeds = eval_seeds[: s.n_curve_seeds]
    spend_median = float(np.median(train_population.m0[train_population.x0 > 0]))
    res, t_all = StudyResult(), time.perf_counter()
    with _executor(s.n_jobs) as pool:
        futures = {
            p: pool.submit(
                _preset_task,
                _preset_job(p, train, test_population, alt_test_population, s, seed, spend_median),
            )
            for p in s.presets
        }
        episodes = _episodes(s, "dqn", "fqi", "teacher")
        diag_common = dict(train=train, test=test, seed=seed, seeds=curve_seeds, **episodes)
        diag_futures = (
            [pool.submit(_diagnosis_task, job) for job in diagnosis_jobs(diag_common)[1:]]
            if s.diagnose
            else []
        )
        agents = futures[s.effects].result()["agents"]
        if s.diagnose:  # the part that compares with the study's own agents, once trained
            raw = {k[: -len("_raw")]: a for k, a in unswitched(agents).items()}
            job = diagnosis_jobs(diag_common, raw)[0]
            diag_futures.insert(0, pool.submit(_diagnosis_task, job))
        curve_jobs = _curve_jobs(test, agents, s, spend_median, curve_seeds)
        curve_futures = [pool.submit(_curve_task, job) for job in curve_jobs]
        ope_job, groups = _ope_job(test, agents, s, seed, spend_median)
        ope_future = pool.submit(_ope_task, ope_job)
        outs = {p: f.result() for p, f in futures.items()}
        curves = [f.result() for f in curve_futures]
        diags = [f.result() for f in diag_futures]
        ope = ope_future.result()
    res.timings["total"] = time.perf_counter() - t_all
    res.agents = agents
    _merge(res, outs, s.effects, curves, ope, groups, diags)
    res.tables.update(_action_tables(agents, test, eval_seeds[0]))
    res.notes = {
        "effects": test.effects,
        "config": test.config,
        "eval_seeds": eval_seeds,
        "curve_seeds": curve_seeds,
        "train_size": len(train_population),
        "test_size": len(test_population),
        "recommended_policy": recommended_policy_name(res.tables["main"], agents),
        "spend_median": spend_median,
    }
    return res


def _episodes(settings: MarketingSettings, *learners: str) -> dict[str, int]:
    """``<learner>_episodes`` of the main presets, by name."""
    return {f"{k}_episodes": getattr(settings, f"{k}_episodes") for k in learners}


def _curve_jobs(
    test: MarketingWorld,
    agents: dict[str, Any],
    settings: MarketingSettings,
    spend_median: float,
    seeds: list[int],
) -> list[dict[str, Any]]:
    """One budget-curve job per budget (small jobs keep every worker busy): the study's
    policies without the full-information rule, the oracle refitted per budget."""
    pols = study_policies(
        test.effects, test.config, test.state_model, spend_median, agents,
        settings.rollout_lookahead,
    )  # fmt: skip
    pols.pop("full_info_myopic")
    pols["oracle"] = OraclePolicy()
    return [dict(world=test, policies=pols, budgets=[b], seeds=seeds) for b in settings.budgets]


def _merge(
    res: StudyResult,
    outs: dict[str, dict[str, Any]],
    effects: str,
    curves: list[dict[str, Any]],
    ope: dict[str, Any],
    groups: dict[str, list[str]],
    diags: list[dict[str, Any]],
) -> None:
    """The workers' tables and timings into ``res``: the learners' checks, every preset's
    tables (the main preset unprefixed), the sweep, budget curve, OPE and diagnosis."""
    res.tables.update(_learner_tables(res.agents, outs, effects))
    for p, out in outs.items():
        for k, v in out["timings"].items():
            res.timings[f"{p}:{k}"] = v
        res.tables.update(_preset_tables(out, "" if p == effects else f"{p}_"))
    res.tables["sweep"] = pd.concat(
        [out["tables"]["main"].assign(effects=p) for p, out in outs.items()], ignore_index=True
    )
    res.tables["budget_curve"] = pd.concat([c["table"] for c in curves], ignore_index=True)
    res.timings["budget_curve"] = float(sum(c["seconds"] for c in curves))
    res.tables["ope_estimates"] = ope["estimates"]
    res.tables["ope_summary"] = ope["summary"]
    res.tables["ope_groups"] = pd.DataFrame(
        [{"target": k, "same_actions_as": ", ".join(v)} for k, v in groups.items()]
    )
    res.timings["ope"] = ope["seconds"]
    if diags:
        res.tables["diagnosis"] = merge_diagnosis([d["table"] for d in diags])
        res.timings["diagnosis"] = float(sum(d["seconds"] for d in diags))


def _preset_job(
    preset: str,
    train: MarketingWorld,
    test_population: Population,
    alt_test_population: Population,
    settings: MarketingSettings,
    seed: int,
    spend_median: float,
) -> _PresetJob:
    """The main and full presets: both simulators, every evaluation seed, the main
    episodes; the rest of the sweep: held-out customers, the curve seeds, the sweep's
    episodes and no plain FQI."""
    s = settings
    seeds = evaluation_seeds(seed, s.n_eval_seeds)
    if preset == s.effects or preset in s.full_presets:
        populations = {"main": test_population, "alt": alt_test_population}
        return _PresetJob(
            preset, train, populations, seeds, s.tabular_episodes, s.dqn_episodes, RL_AGENTS,
            s, spend_median, seed,
        )  # fmt: skip
    agents = tuple(a for a in RL_AGENTS if a != "fqi")  # plain FQI: main presets only
    return _PresetJob(
        preset, train, {"main": test_population}, seeds[: s.n_curve_seeds],
        s.sweep_tabular_episodes, s.sweep_dqn_episodes, agents, s, spend_median, seed,
    )  # fmt: skip


def _ope_job(
    test: MarketingWorld,
    agents: dict[str, Any],
    settings: MarketingSettings,
    seed: int,
    spend_median: float,
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The off-policy evaluation job on a sample of held-out customers, and the groups of
    candidates with identical greedy actions (each group is estimated once)."""
    ope_world = test.with_population(test.population.sample(settings.ope_customers, seed))
    heur = heuristic_policies(test.effects, test.config, spend_median)
    # heuristics first, so a switched-off learner is shown as the "nobody" it equals
    candidates = {k: heur[k] for k in ("nobody", "top_clv", "rfm", "one_step_uplift")}
    candidates.update(agents)
    groups = _dedupe_on_sample(candidates, ope_world, seed)
    behaviour = SoftenedPolicy(OneStepUpliftPolicy(test.effects, test.config), 0.5, "behaviour")
    job = dict(
        world=ope_world,
        behaviour=behaviour,
        targets={k: SoftenedPolicy(candidates[k], 0.1, name=k) for k in groups},
        log_seed=seed + 7,
        truth_seeds=[10**8 + seed + i for i in range(settings.ope_truth_seeds)],
    )
    return job, groups


def _learner_tables(
    agents: dict[str, Any], outs: dict[str, dict[str, Any]], effects: str
) -> dict[str, pd.DataFrame]:
    """The safety checks (main preset and every preset) and the learning curves."""

    def checks(trained: dict[str, Any], **extra: str) -> pd.DataFrame:
        rows = [{**extra, "agent": k, **getattr(a, "safe_check", {})} for k, a in trained.items()]
        return pd.DataFrame(rows)

    curves = [
        a.learning_curve.assign(agent=k)
        for k, a in agents.items()
        if k in ("q_learning", "sarsa", "dqn")
    ]
    return {
        "safe_checks": safety_table(checks(agents), outs[effects]["tables"]["main_raw"]),
        "learning_curves": pd.concat(curves, ignore_index=True),
        "fqi_curve": agents["fqi"].learning_curve if "fqi" in agents else pd.DataFrame(),
        "safe_checks_sweep": pd.concat(
            [
                safety_table(checks(out["agents"], effects=p), out["tables"]["main_raw"])
                for p, out in outs.items()
            ],
            ignore_index=True,
        ),
    }


def _preset_tables(out: dict[str, Any], prefix: str) -> dict[str, pd.DataFrame]:
    """One preset's tables per simulator: results, per seed, against the best heuristic,
    the oracle-gap shares, the gap split and (held-out customers) the raw learners."""
    tables: dict[str, pd.DataFrame] = {}
    for key in ("main", "alt"):
        if key not in out["tables"]:
            continue
        table, per_seed = out["tables"][key], out["tables"][f"{key}_per_seed"]
        name = f"{prefix}{key}"
        tables[name] = table
        tables[f"{name}_per_seed"] = per_seed
        best = str(best_heuristic(table)["policy"])
        diffs = []
        for a in (*RL_AGENTS, *PLANNERS):
            if a not in set(per_seed["policy"]):
                continue  # e.g. plain FQI, trained for the main presets only
            m, lo, hi = paired_difference(per_seed, a, best)
            diffs.append(
                {"policy": a, "best_heuristic": best, "difference": m, "ci_lo": lo, "ci_hi": hi}
            )
        tables[f"{name}_vs_best"] = pd.DataFrame(diffs)
        tables[f"{name}_gap"] = oracle_gap_share(table)
        tables[f"{name}_split"] = gap_split(table, per_seed)
        if key == "main":
            tables[f"{name}_raw"] = out["tables"]["main_raw"]
            tables[f"{name}_raw_per_seed"] = out["tables"]["main_raw_per_seed"]
    return tables


def _action_tables(
    agents: dict[str, Any], test: MarketingWorld, seed: int
) -> dict[str, pd.DataFrame]:
    """Who gets which action (:func:`policy_table`) under each learner, the uplift rule
    and posterior MPC, on the held-out customers and one evaluation seed."""
    pols = {
        **agents,
        "one_step_uplift": OneStepUpliftPolicy(test.effects, test.config),
        "posterior_mpc": PosteriorMPCPolicy(test.effects, test.config, test.state_model),
    }
    return {f"policy_{k}": policy_table(p, test, seed) for k, p in pols.items()}


def _dedupe_on_sample(
    candidates: dict[str, Any], world: MarketingWorld, seed: int
) -> dict[str, list[str]]:
    """:func:`dedupe_policies` on the states the behaviour rule visits in one run."""
    sim = world.with_budget(None).simulator()
    beh = OneStepUpliftPolicy(world.effects, world.config)
    res = run_policy(sim, beh, seed + 7, budget=None, record_obs=True)
    obs = res.extra["obs"]
    scores: dict[str, np.ndarray] = {}
    for name, pol in candidates.items():
        parts = []
        sim.reset(seed + 7)
        for t in range(world.config.horizon):
            parts.append(np.asarray(pol.scores(obs[:, t], t, sim), float))
            sim.step(res.actions[:, t])
        scores[name] = np.concatenate(parts)
    return dedupe_policies(scores)
