"""This month's action per customer from a stage-05 policy (for later stages).

:func:`build_policy` builds any policy of the study by name (training the learners on
the given customers); :func:`month_one_actions` runs it for the first month of a
population under the contact budget and returns, per customer, the action, the policy's
advantage score and the expected incremental profit of that action this month (the
one-step BTYD expectation under the assumed effects, in currency per customer).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .policies import OneStepUpliftPolicy, heuristic_policies
from .simulator import ACTIONS, MarketingWorld, allocate
from .study import RL_AGENTS, study_policies, train_agents

__all__ = ["build_policy", "load_policy", "month_one_actions", "save_policy", "wants_contact"]


def build_policy(name: str, train: MarketingWorld, seed: int, **episodes: int) -> Any:
    """The study's policy ``name``: a heuristic, a planner, or a learner trained on the
    customers of ``train`` with ``seed`` (``episodes``: ``tabular_episodes``,
    ``dqn_episodes``, ``fqi_episodes``, ``teacher_episodes`` as in :func:`train_agents`).
    """
    pop = train.population
    spend_median = float(np.median(pop.m0[pop.x0 > 0]))
    if name in RL_AGENTS:
        agents = train_agents(train, seed, agents=(name,), safe_check_seeds=0, **episodes)
        return agents[name]
    eff, cfg = train.effects, train.config
    pols = study_policies(eff, cfg, train.state_model, spend_median, {})
    pols.update(heuristic_policies(eff, cfg, spend_median))
    if name not in pols:
        raise ValueError(f"unknown policy {name!r}; choose from {sorted([*pols, *RL_AGENTS])}")
    return pols[name]


def save_policy(policy: Any, path: str | Path) -> None:
    """Pickle a policy (learned ones included) for a later stage."""
    Path(path).write_bytes(pickle.dumps(policy))


def load_policy(path: str | Path) -> Any:
    """A policy written by :func:`save_policy` (a trusted file of this pipeline)."""
    return pickle.loads(Path(path).read_bytes())


def wants_contact(scores: np.ndarray) -> np.ndarray:
    """Per customer: does the policy score some contact above "none" (budget or not)?"""
    scores = np.asarray(scores, float)
    return scores[:, 1:].max(axis=1) > scores[:, 0]


def month_one_actions(policy: Any, world: MarketingWorld, seed: int = 0) -> pd.DataFrame:
    """Month-1 action per customer of ``world`` under its contact budget.

    Columns: ``user_id``, ``action`` (name), ``advantage`` (the policy's score of that
    action minus "none"; units of its own scores), ``expected_incremental_profit``
    (expected profit of the action minus that of "none" this month, from the BTYD
    expectation and the assumed effects; currency per customer), ``wants_contact``
    (the policy scores some contact above "none", budget or not).
    """
    sim = world.simulator()
    obs = sim.reset(seed)
    if hasattr(policy, "begin"):
        policy.begin(sim)
    scores = np.asarray(policy.scores(obs, 0, sim), float)
    act = allocate(scores, world.config.budget, sim.alloc_rng)
    rows = np.arange(len(act))
    one = OneStepUpliftPolicy(world.effects, world.config).scores(obs, 0, sim)
    return pd.DataFrame(
        {
            "user_id": world.population.user_id,
            "action": np.array(ACTIONS)[act],
            "advantage": scores[rows, act] - scores[:, 0],
            "expected_incremental_profit": one[rows, act] - one[:, 0],
            "wants_contact": wants_contact(scores),
        }
    )
