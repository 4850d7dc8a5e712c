"""This month's recommended action per customer, from the stage-05 marketing policy.

:func:`recommend_actions` builds the marketing state of every customer at ``as_of``
from the BTYD fits (:class:`helpers.marketing.BTYDStateModel`), asks the chosen policy
for its action scores and allocates contacts under the budget with the shared
allocator (:func:`helpers.marketing.allocate`), exactly as the stage-05 study does in
its first month. The expected incremental profit of the chosen action this month is the
one-step formula of :class:`helpers.marketing.OneStepUpliftPolicy` minus that of "no
action": ``E[spend next month] (m_a (margin - discount_a) - margin) - cost_a``, under
the stated treatment-effect assumptions (``rl.effects``).

:func:`load_recommended_policy` reads the policy stage 05 recommends and pickled
(``data/processed/rl/recommended_policy.pkl``, e.g. the fitted FQI teacher): when it is
there and not stale, :func:`recommend_actions` applies it through
:func:`helpers.marketing.recommend.month_one_actions` (the study's own month-1 code).
Only when it is missing, unreadable or stale does :func:`choose_policy` fall back to a
heuristic: the ``recommended_policy`` of ``rl_policy.json`` when it is one, else its
``best_heuristic``, else the one-step uplift rule; the reason is printed.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers import marketing
from helpers.marketing.policies import heuristic_policies
from helpers.marketing.recommend import load_policy, month_one_actions
from helpers.marketing.simulator import FEATURE_INDEX

__all__ = [
    "ActionPlan",
    "choose_policy",
    "load_recommended_policy",
    "one_step_profit",
    "recommend_actions",
]


@dataclass
class ActionPlan:
    """Actions of one month: per customer ``action``, ``expected_incremental_profit`` and
    ``action_reason`` (see :func:`action_reasons`), and the ``policy`` that chose them."""

    table: pd.DataFrame
    policy: str
    policy_reason: str
    state_reason: str


def load_recommended_policy(
    path: str | Path | None,
    rl_summary: Mapping[str, Any] | None = None,
    newer_than: Sequence[str | Path] = (),
) -> tuple[Any | None, str]:
    """Stage 05's pickled recommended policy, or ``None`` and why it cannot be used.

    Parameters
    ----------
    path : path, optional
        ``data/processed/rl/recommended_policy.pkl`` (written by stage 05 with
        :func:`helpers.marketing.recommend.save_policy`).
    rl_summary : mapping, optional
        ``rl_policy.json``: its ``recommended_policy`` names the policy in the reason.
    newer_than : paths
        Inputs the pickle must not be older than (e.g. the events file): an older pickle
        was learned on other data and is **stale**.
    """
    name = (rl_summary or {}).get("recommended_policy", "the recommended policy")
    if path is None or not Path(path).is_file():
        return None, f"{name} of stage 05 is missing ({path}); run `dvc repro 05_rl_policy`"
    path = Path(path)
    for other in map(Path, newer_than):
        if other.is_file() and other.stat().st_mtime > path.stat().st_mtime:
            return None, f"{path} is stale: older than {other}; run `dvc repro 05_rl_policy`"
    try:
        policy = load_policy(path)
    except (  # RuntimeError: e.g. a CUDA tensor pickled on a GPU machine, read on a CPU
        pickle.UnpicklingError,
        EOFError,
        AttributeError,
        ImportError,
        RuntimeError,
        TypeError,
        ValueError,
    ) as exc:
        return None, f"{path} is unreadable ({type(exc).__name__}: {exc})"
    if not callable(getattr(policy, "scores", None)):
        return None, f"{path} holds no policy (no scores method)"
    return policy, f"{name} (recommended by the stage-05 study, {path.name})"


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


def action_reasons(
    actions: np.ndarray, gain: np.ndarray, wants_contact: np.ndarray, budget: float | None
) -> np.ndarray:
    """Why each customer gets their action, in words with the numbers.

    Parameters
    ----------
    actions : array of str
        The action of each customer (``"none"`` or a contact).
    gain : array of float
        Expected incremental profit of that action this month (currency).
    wants_contact : array of bool
        Whether the policy scores some contact above "none" for the customer.
    budget : float or None
        Share of customers that may be contacted this month (None: no limit).
    """
    share = "no limit" if budget is None else f"{budget:.0%} of customers"
    contacted = np.asarray(actions) != "none"
    reasons = np.where(
        np.asarray(wants_contact, bool),
        f"none: the policy ranks others higher for the budget ({share})",
        "none: the policy expects no contact to pay this month",
    ).astype(object)
    for i in np.flatnonzero(contacted):
        reasons[i] = (
            f"{actions[i]}: expected incremental profit {gain[i]:+.2f} this month, within "
            f"the budget ({share})"
        )
    return reasons


def uninformative_plan(plan: ActionPlan) -> ActionPlan:
    """``plan`` with every action withdrawn: the model behind it predicts no more than a
    rule of thumb (see :func:`helpers.apply.choice.signal_verdict`), so no contact is
    recommended on its word."""
    table = plan.table.assign(
        action=marketing.ACTIONS[0],
        expected_incremental_profit=0.0,
        action_reason="none: the model predicts no better than a rule of thumb, so no "
        "action list is recommended",
    )
    reason = f"{plan.policy_reason}; withdrawn: the model is uninformative"
    return ActionPlan(table, plan.policy, reason, plan.state_reason)


def recommend_actions(
    summary: pd.DataFrame,
    fits: Mapping[str, Any],
    rl_params: Mapping[str, Any],
    seed: int,
    rl_summary: Mapping[str, Any] | None = None,
    policy_file: str | Path | None = None,
    newer_than: Sequence[str | Path] = (),
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
    policy_file : path, optional
        Stage 05's ``recommended_policy.pkl`` (:func:`load_recommended_policy`; with
        ``newer_than`` for the staleness check). Missing or stale: the heuristic
        fallback of :func:`choose_policy`, with the reason in ``policy_reason``.
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
            {
                "action": marketing.ACTIONS[0],
                "expected_incremental_profit": 0.0,
                "action_reason": "none: no action can be scored on these data",
            },
            index=summary.index,
        )
        return ActionPlan(table, "nobody", f"no action can be scored on these data: {exc}", "")
    state = marketing.BTYDStateModel.from_fit(fits[key], fits["gamma_gamma"])
    population = marketing.population_from_btyd(
        summary, state.population_family, state.params, state.gg_params, seed=seed
    )
    learned, why = load_recommended_policy(policy_file, rl_summary, newer_than)
    if learned is not None:
        world = marketing.MarketingWorld(population, effects, config, state)
        month = month_one_actions(learned, world, seed=seed)
        month["user_id"] = month["user_id"].astype(str)
        table = month.set_index("user_id").reindex(summary.index.astype(str))
        if table["action"].isna().any():
            raise ValueError("the policy's month-1 actions miss customers of the summary")
        table["action_reason"] = action_reasons(
            table["action"].to_numpy(),
            table["expected_incremental_profit"].to_numpy(float),
            table["wants_contact"].to_numpy(bool),
            config.budget,
        )
        table = table[["action", "expected_incremental_profit", "action_reason"]].set_axis(
            summary.index
        )
        name = getattr(learned, "name", type(learned).__name__)
        return ActionPlan(table, str(name), why, state_reason)
    sim = marketing.MarketingSimulator(population, effects, config, state)
    obs = sim.reset(seed)
    repeat = population.x0 > 0
    spend_median = float(np.median(population.m0[repeat])) if repeat.any() else 0.0
    policy, reason = choose_policy(rl_summary, effects, config, spend_median)
    reason = f"{reason}; the learned policy is not used: {why}"
    scores = policy.scores(obs, 0, sim)
    actions = marketing.allocate(scores, config.budget, np.random.default_rng(seed))
    gain = one_step_profit(obs, effects, config)[np.arange(len(actions)), actions]
    names = np.asarray(marketing.ACTIONS)[actions]
    wants = marketing.recommend.wants_contact(scores)
    table = pd.DataFrame(
        {
            "action": names,
            "expected_incremental_profit": gain,
            "action_reason": action_reasons(names, gain, wants, config.budget),
        },
        index=summary.index,
    )
    return ActionPlan(table, getattr(policy, "name", type(policy).__name__), reason, state_reason)
