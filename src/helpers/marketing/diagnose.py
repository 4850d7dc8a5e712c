"""Why do the bootstrapped learners (DQN, plain FQI) lose to the one-step rule?

One experiment, several variants, all trained on the same training customers and
evaluated on the same held-out customers and seeds (paired), each with the budget
allocator **and** unconstrained (every customer gets its greedy action), so the
candidate causes can be told apart:

* **the function class** -- the DQN's network fitted by fitted Q-iteration on FQI's data
  (all four actions branched on common random numbers, expected-reward targets), once
  with bootstrapped targets and once with the full-information teacher's targets. If
  the network does as well as the trees with either target, the network is not the
  problem;
* **the data** -- the online DQN (realised rewards, one action per customer-month)
  against the same network on FQI's branched data;
* **the bootstrapped horizon** -- DQN and FQI with the discount damped to 0.5;
* **too few episodes** -- the DQN with three times the episodes;
* **the budget allocator** -- every variant also evaluated without a budget. If the
  ranking of the variants is the same, the advantage ranking of the allocator is not
  the cause.

The variants run as three independent jobs (:func:`diagnosis_jobs`,
:func:`run_diagnosis_job`), so :func:`helpers.marketing.study.run_study` spreads them
over its worker processes; :func:`merge_diagnosis` joins their tables.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd

from .agents import train_dqn
from .evaluation import evaluate_policies
from .fqi import train_fqi
from .policies import NobodyPolicy, OneStepUpliftPolicy
from .simulator import MarketingWorld

__all__ = ["VARIANTS", "diagnosis_jobs", "merge_diagnosis", "run_diagnosis_job"]

#: variant -> (function class, targets, data, discount) as shown in the table
VARIANTS: dict[str, tuple[str, str, str, str]] = {
    "one_step_uplift": ("-", "this month's expected profit", "-", "-"),
    "dqn (study)": ("network", "bootstrapped", "online, realised rewards", "0.99"),
    "dqn, 3x episodes": ("network", "bootstrapped", "online, realised rewards", "0.99"),
    "dqn, discount 0.5": ("network", "bootstrapped", "online, realised rewards", "0.5"),
    "fqi (study)": ("trees", "bootstrapped", "branched, expected rewards", "0.99"),
    "fqi, discount 0.5": ("trees", "bootstrapped", "branched, expected rewards", "0.5"),
    "fqi with the dqn network": ("network", "bootstrapped", "branched, expected rewards", "0.99"),
    "teacher with the dqn network": ("network", "full information", "branched", "0.99"),
    "fqi_teacher (study)": ("trees", "full information", "branched", "0.99"),
}


def diagnosis_jobs(
    common: dict[str, Any], study_agents: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The three jobs of the experiment; ``common`` holds ``train`` and ``test`` (the
    :class:`MarketingWorld` of the training and of the held-out customers), ``seed``,
    ``seeds`` (evaluation), ``dqn_episodes``, ``fqi_episodes``, ``teacher_episodes``.
    ``study_agents`` (the study's trained ``dqn``, ``fqi``, ``fqi_teacher``, switch
    ignored) joins the first job; without it that job has only the new variants."""
    return [
        {**common, "part": "dqn", "study_agents": study_agents or {}},
        {**common, "part": "fqi"},
        {**common, "part": "network"},
    ]


def _train_part(job: dict[str, Any]) -> dict[str, Any]:
    tr: MarketingWorld = job["train"]
    seed = job["seed"]
    short = tr.with_config(dataclasses.replace(tr.config, gamma=0.5))
    if job["part"] == "dqn":
        out = {}
        names = {"dqn": "dqn (study)", "fqi": "fqi (study)", "fqi_teacher": "fqi_teacher (study)"}
        for k, agent in job["study_agents"].items():
            if k in names:
                out[names[k]] = agent
        out["dqn, 3x episodes"] = train_dqn(tr, 3 * job["dqn_episodes"], seed)
        out["dqn, discount 0.5"] = train_dqn(short, job["dqn_episodes"], seed)
        return out
    if job["part"] == "fqi":
        return {"fqi, discount 0.5": train_fqi(short, job["fqi_episodes"], seed)}
    if job["part"] == "network":
        return {
            "fqi with the dqn network": train_fqi(
                tr, job["fqi_episodes"], seed, function_class="mlp"
            ),
            "teacher with the dqn network": train_fqi(
                tr, job["teacher_episodes"], seed, teacher=True, function_class="mlp"
            ),
        }
    raise ValueError(f"unknown diagnosis part {job['part']!r}")


def run_diagnosis_job(job: dict[str, Any]) -> pd.DataFrame:
    """Train one job's variants and evaluate them with and without the budget.

    Returns one row per policy (``"nobody"``, ``"one_step_uplift"`` and the job's
    variants) with ``incremental_profit``/``ci_lo``/``ci_hi`` at the budget,
    ``unconstrained``/``unconstrained_lo``/``unconstrained_hi`` without it, and the
    share of 20 % coupons at the budget.
    """
    agents = _train_part(job)
    test: MarketingWorld = job["test"]
    uplift = OneStepUpliftPolicy(test.effects, test.config)
    pols = {"nobody": NobodyPolicy(), "one_step_uplift": uplift, **agents}
    for agent in agents.values():  # as learned: the safety switch is not the question here
        agent.disabled = False
    at_budget, _ = evaluate_policies(test, pols, job["seeds"])
    free, _ = evaluate_policies(test, pols, job["seeds"], budget=None)
    out = at_budget[["policy", "incremental_profit", "ci_lo", "ci_hi", "share_coupon20"]].copy()
    f = free.set_index("policy")
    out["unconstrained"] = out["policy"].map(f["incremental_profit"])
    out["unconstrained_lo"] = out["policy"].map(f["ci_lo"])
    out["unconstrained_hi"] = out["policy"].map(f["ci_hi"])
    return out


def merge_diagnosis(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """One table in the order of :data:`VARIANTS` ("nobody" dropped; the shared rows,
    identical in every job, kept once), with the variant's description."""
    table = pd.concat(parts, ignore_index=True).drop_duplicates("policy")
    table = table[table["policy"].isin(list(VARIANTS))]
    order = {k: i for i, k in enumerate(VARIANTS)}
    table = table.sort_values("policy", key=lambda c: c.map(order)).reset_index(drop=True)
    desc = pd.DataFrame(
        [VARIANTS[p] for p in table["policy"]],
        columns=["function class", "targets", "data", "discount"],
    )
    return pd.concat([table[["policy"]], desc, table.drop(columns="policy")], axis=1)
