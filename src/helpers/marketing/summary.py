"""Tables of notebook 05, read from a :class:`~helpers.marketing.study.StudyResult`.

Each function builds one table the notebook shows (or writes); the sentences that read
them are in :mod:`.narration`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from .planners import PosteriorMPCPolicy
from .policies import OneStepUpliftPolicy
from .recommend import build_policy
from .settings import MarketingSettings
from .simulator import MarketingWorld
from .study import (
    PLANNERS,
    RL_AGENTS,
    StudyResult,
    best_heuristic,
    gap_split,
    policy_months,
    policy_table,
    unswitched,
)

__all__ = [
    "PROFIT",
    "best_learner",
    "carryover_table",
    "contact_spacing",
    "learned_policies",
    "main_table",
    "ope_values",
    "recommended_policy_object",
    "rl_metrics",
    "robustness_tables",
    "save_tables",
    "segment_table",
    "sweep_table",
]

#: The column name of incremental profit in the shown tables.
PROFIT = "incremental profit (per customer, 12 months)"
#: Columns of the main held-out table.
MAIN_COLUMNS = [
    "policy",
    "incremental_profit",
    "ci_lo",
    "ci_hi",
    "contact_rate",
    "share_email",
    "share_coupon10",
    "share_coupon20",
]


def main_table(study: StudyResult) -> pd.DataFrame:
    """The held-out results at the budget, as shown (incremental profit renamed)."""
    return study.tables["main"][MAIN_COLUMNS].rename(columns={"incremental_profit": PROFIT})


def learned_policies(study: StudyResult) -> list[str]:
    """The learners of the main table, in :data:`RL_AGENTS` order."""
    split = study.tables["main_split"]
    return [a for a in RL_AGENTS if a in set(split["policy"])]


def raw_split(study: StudyResult) -> pd.DataFrame:
    """The gap split (:func:`gap_split`) of the main table plus each learner as learned
    (``<name>_raw``, safety switch ignored), indexed by policy."""
    raw = study.tables["main_raw"]
    both = pd.concat([study.tables["main"], raw[raw["policy"] != "nobody"]], ignore_index=True)
    return gap_split(both).set_index("policy")


def best_learner(study: StudyResult) -> str:
    """The learner with the highest held-out profit *as learned* (switch ignored), so a
    learner the safety check turned off can still be the one described."""
    raw = raw_split(study)
    return max(learned_policies(study), key=lambda a: raw.loc[f"{a}_raw", "incremental_profit"])


def robustness_tables(study: StudyResult, effects: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every learner and planner against the uplift rule, per effects preset (``effects``
    and ``"high"``) and simulator, with the 5 % bar; and the best learner per setting.

    Returns
    -------
    (DataFrame, DataFrame)
        One row per (effects, simulator, policy): incremental profit, the rule's, the
        difference in % with its paired 95 % interval, the share of the planning gap
        closed and ``beats the rule by 5 %`` (at least 5 % and the interval above 0);
        then the best learner of each (effects, simulator), by the difference in %.
    """
    rows = []
    for preset, prefix in ((effects, ""), ("high", "high_")):
        for sim_name in ("main", "alt"):
            key = f"{prefix}{sim_name}_split"
            if key not in study.tables:
                continue
            sp = study.tables[key].set_index("policy")
            for pol in (p for p in (*RL_AGENTS, *PLANNERS) if p in sp.index):
                rows.append(
                    {
                        "effects": preset,
                        "simulator": "training (Pareto/NBD)" if sim_name == "main" else "BG/NBD",
                        "policy": pol,
                        PROFIT: sp.loc[pol, "incremental_profit"],
                        "uplift rule": sp.loc["one_step_uplift", "incremental_profit"],
                        "vs uplift %": 100 * (sp.loc[pol, "ratio_to_uplift"] - 1),
                        "diff lo": sp.loc[pol, "vs_uplift_lo"],
                        "diff hi": sp.loc[pol, "vs_uplift_hi"],
                        "planning gap closed": sp.loc[pol, "share_of_planning_gap"],
                    }
                )
    table = pd.DataFrame(rows)
    table["beats the rule by 5 %"] = (table["vs uplift %"] >= 5) & (table["diff lo"] > 0)
    learners = table[table["policy"].isin(RL_AGENTS)]
    best = (
        learners.sort_values("vs uplift %", kind="stable").groupby(["effects", "simulator"]).tail(1)
    )
    return table, best


def sweep_table(study: StudyResult) -> pd.DataFrame:
    """Incremental profit of every policy (rows) under every effects preset (columns)."""
    return (
        study.tables["sweep"]
        .pivot(index="policy", columns="effects", values="incremental_profit")
        .rename_axis(columns=f"effects -> {PROFIT}")
    )


def carryover_table(study: StudyResult) -> pd.DataFrame:
    """Learners and planners with carry-over off (one step is all there is): each with its
    interval and whether it overlaps the uplift rule's."""
    off = study.tables["sweep"].query("effects == 'carryover_off'").set_index("policy")
    up = off.loc["one_step_uplift"]
    rows = []
    for a in (p for p in (*RL_AGENTS, *PLANNERS) if p in off.index):
        r = off.loc[a]
        rows.append(
            {
                "policy": a,
                PROFIT: r["incremental_profit"],
                "ci_lo": r["ci_lo"],
                "ci_hi": r["ci_hi"],
                "overlaps uplift interval": bool(
                    r["ci_hi"] >= up["ci_lo"] and r["ci_lo"] <= up["ci_hi"]
                ),
            }
        )
    return pd.DataFrame(rows)


def ope_values(study: StudyResult) -> pd.DataFrame:
    """Each OPE target's estimate per estimator beside its true value (total discounted
    profit per customer over the horizon, softened policy, no budget)."""
    est = study.tables["ope_estimates"]
    return (
        est.pivot(index="target", columns="estimator", values="estimate")
        .join(est.groupby("target")["true_value"].first())
        .rename_axis(columns="value per customer, 12 months (total, not incremental)")
    )


def segment_table(study: StudyResult, learner: str, test: MarketingWorld) -> pd.DataFrame:
    """Action shares per recency x frequency segment of ``learner`` (as learned) beside
    the uplift rule's, on the held-out customers and the first evaluation seed (the
    seed of ``study.tables["policy_one_step_uplift"]``), with ``contacted`` shares."""
    agent = unswitched(study.agents)[f"{learner}_raw"]
    mine = policy_table(agent, test, study.notes["eval_seeds"][0])
    keys = ["recency_months", "repeat_purchases"]
    both = mine.merge(study.tables["policy_one_step_uplift"], on=keys, suffixes=("", "_uplift"))
    both["contacted"] = 1 - both["none"]
    both["contacted_uplift"] = 1 - both["none_uplift"]
    columns = ["customer_months", "contacted", "contacted_uplift", "email", "coupon10"]
    return both[[*keys, *columns, "coupon20"]]


def contact_spacing(test: MarketingWorld, seed: int) -> pd.DataFrame:
    """When posterior MPC and the uplift rule contact: the share of their contacted
    customer-months by contacts in the previous three months (0-3)."""
    mpc = PosteriorMPCPolicy(test.effects, test.config, test.state_model)
    uplift = OneStepUpliftPolicy(test.effects, test.config)
    return pd.DataFrame(
        {
            "posterior_mpc": policy_months(mpc, test, seed),
            "one_step_uplift": policy_months(uplift, test, seed),
        }
    ).rename_axis("contacts in the previous 3 months (of contacted customer-months)")


def rl_metrics(study: StudyResult, settings: MarketingSettings) -> dict[str, Any]:
    """The stage's metrics file (``rl_policy.json``): the held-out tables of both
    simulators, the best heuristic and learner, the recommendation, the planning gap
    closed, the safety switch and the learner diagnosis."""
    split = study.tables["main_split"].set_index("policy")
    kept = ["incremental_profit", "ci_lo", "ci_hi"]
    out: dict[str, Any] = {
        "effects": settings.effects,
        "budget": settings.budget,
        "units": "incremental profit: discounted profit per customer over the horizon minus "
        "that of contacting nobody, same seeds (currency per customer)",
        "horizon_months": settings.horizon,
        "main": study.tables["main"].set_index("policy")[kept].round(4).to_dict("index"),
        "alt": study.tables["alt"].set_index("policy")[kept].round(4).to_dict("index"),
        "best_heuristic": str(best_heuristic(study.tables["main"])["policy"]),
        "best_learner": best_learner(study),
        "recommended_policy": study.notes["recommended_policy"],
        "planning_gap_closed": {
            a: round(float(split.loc[a, "share_of_planning_gap"]), 4)
            for a in [*learned_policies(study), *PLANNERS]
        },
        "safety_switch": {
            r.agent: {
                "disabled": bool(r.disabled),
                "raw_test": round(float(r.raw_test), 4),
                "raw_ci": [round(float(r.raw_lo), 4), round(float(r.raw_hi), 4)],
                "verdict": r.verdict,
            }
            for r in study.tables["safe_checks"].itertuples()
        },
    }
    if "diagnosis" in study.tables:
        out["learner_diagnosis"] = {
            name: {
                "at_budget": round(float(r["incremental_profit"]), 4),
                "unconstrained": round(float(r["unconstrained"]), 4),
            }
            for name, r in study.tables["diagnosis"].set_index("policy").iterrows()
        }
    return out


def save_tables(study: StudyResult, folder: Path) -> None:
    """Every table of the study as ``<name>.csv`` in ``folder`` (created if missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in study.tables.items():
        table.to_csv(folder / f"{name}.csv", index=False)


def recommended_policy_object(study: StudyResult, train: MarketingWorld, seed: int) -> Any:
    """The recommended policy, ready to pickle: the study's trained learner, or the rule or
    planner built for ``train``'s effects and economics."""
    name = study.notes["recommended_policy"]
    if name in study.agents:
        return study.agents[name]
    return build_policy(name, train, seed)
