"""This month's recommended action per customer, from the stage-05 marketing policy.

:func:`recommend_actions` builds the marketing state of every customer at ``as_of``
from the BTYD fits (:class:`helpers.marketing.BTYDStateModel`), asks the chosen policy
for its action scores and allocates contacts under the budget with the shared
allocator (:func:`helpers.marketing.allocate`), exactly as the stage-05 study does in
its first month. The expected incremental profit of the chosen action this month is the
one-step formula of :class:`helpers.marketing.OneStepUpliftPolicy` minus that of "no
action": ``E[spend next month] (m_a (margin - discount_a) - margin) - cost_a``, under
the stated treatment-effect assumptions (``rl.effects``).

:func:`choose_policy` is the one place that decides which policy is used: the
``recommended_policy`` of ``rl_policy.json`` when it names a policy that can be built
here, else its ``best_heuristic``, else the one-step uplift rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from helpers import marketing
from helpers.marketing.policies import heuristic_policies
from helpers.marketing.simulator import FEATURE_INDEX

__all__ = ["ActionPlan", "choose_policy", "one_step_profit", "recommend_actions"]


@dataclass
class ActionPlan:
    """Actions of one month: per customer ``action`` and ``expected_incremental_profit``."""

    table: pd.DataFrame
    policy: str
    policy_reason: str
    state_reason: str


def choose_policy(
    rl_summary: Mapping[str, Any] | None,
    effects: marketing.TreatmentEffects,
    config: marketing.MarketingConfig,
    spend_median: float,
) -> tuple[Any, str]:
    """The policy to apply and why (the one switch the lead may repoint).

    Order: ``rl_summary["recommended_policy"]`` if buildable from heuristics, else
    ``rl_summary["best_heuristic"]``, else ``one_step_uplift``.
    """
    available = heuristic_policies(effects, config, spend_median)
    summary = dict(rl_summary or {})
    for key in ("recommended_policy", "best_heuristic"):
        name = summary.get(key)
        if isinstance(name, str) and name in available and name != "nobody":
            return available[name], f"{name} ({key} of the stage-05 study)"
        if isinstance(name, str):
            wanted = f"{key} {name!r} of the stage-05 study cannot be built here"
            summary.setdefault("_skipped", []).append(wanted)
    why = "; ".join(summary.get("_skipped", [])) or "no stage-05 summary"
    return available["one_step_uplift"], f"one_step_uplift (fallback: {why})"


def one_step_profit(
    obs: np.ndarray, effects: marketing.TreatmentEffects, config: marketing.MarketingConfig
) -> np.ndarray:
    """Expected profit this month of each action minus that of no action, ``(N, 4)``."""
    value = obs[:, FEATURE_INDEX["exp_spend"]]
    rec = obs[:, FEATURE_INDEX["recency"]]
    k3 = obs[:, FEATURE_INDEX["contacts_3m"]]
    out = np.empty((obs.shape[0], len(marketing.ACTIONS)))
    for a in range(len(marketing.ACTIONS)):
        mult, _ = effects.modifiers(np.full(len(value), a), rec, k3)
        out[:, a] = value * mult * (config.margin - config.discount[a]) - config.action_cost[a]
    return out - out[:, [0]]


def recommend_actions(
    summary: pd.DataFrame,
    fits: Mapping[str, Any],
    rl_params: Mapping[str, Any],
    seed: int,
    rl_summary: Mapping[str, Any] | None = None,
) -> ActionPlan:
    """This month's action per customer under the contact budget.

    Parameters
    ----------
    summary : DataFrame
        BTYD summary at ``as_of`` (:func:`helpers.models.btyd.btyd_summary`).
    fits : mapping
        BTYD fits at ``as_of`` (``BTYDFit`` or dicts), ``gamma_gamma`` included.
    rl_params : mapping
        The ``rl`` block of params.yaml (``effects``, ``budget``, ``margin``, ``horizon``).
    seed : int
        Seeds the population draw (unused by the heuristics' scores) and tie-breaking.
    rl_summary : mapping, optional
        ``reports/metrics/rl_policy.json``.
    """
    effects = marketing.TreatmentEffects.preset(rl_params["effects"])
    config = marketing.MarketingConfig(
        horizon=int(rl_params["horizon"]),
        budget=rl_params["budget"],
        margin=float(rl_params["margin"]),
    )
    try:
        key, state_reason = marketing.choose_state_model(fits)
        if "gamma_gamma" not in fits:
            raise ValueError("no Gamma-Gamma spend model was fitted")
    except ValueError as exc:  # nothing to simulate customers with: contact nobody, say why
        table = pd.DataFrame(
            {"action": marketing.ACTIONS[0], "expected_incremental_profit": 0.0},
            index=summary.index,
        )
        return ActionPlan(table, "nobody", f"no action can be scored on these data: {exc}", "")
    state = marketing.BTYDStateModel.from_fit(fits[key], fits["gamma_gamma"])
    population = marketing.population_from_btyd(
        summary, state.population_family, state.params, state.gg_params, seed=seed
    )
    sim = marketing.MarketingSimulator(population, effects, config, state)
    obs = sim.reset(seed)
    repeat = population.x0 > 0
    spend_median = float(np.median(population.m0[repeat])) if repeat.any() else 0.0
    policy, reason = choose_policy(rl_summary, effects, config, spend_median)
    scores = policy.scores(obs, 0, sim)
    actions = marketing.allocate(scores, config.budget, np.random.default_rng(seed))
    gain = one_step_profit(obs, effects, config)[np.arange(len(actions)), actions]
    table = pd.DataFrame(
        {
            "action": np.asarray(marketing.ACTIONS)[actions],
            "expected_incremental_profit": gain,
        },
        index=summary.index,
    )
    return ActionPlan(table, getattr(policy, "name", type(policy).__name__), reason, state_reason)
