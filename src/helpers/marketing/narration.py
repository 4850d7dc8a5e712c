"""Sentences of notebook 05 that read its tables: built and tested here, printed there."""

from __future__ import annotations

import pandas as pd

from helpers.claims import Claim, claim

from .study import PLANNERS, RL_AGENTS


def ope_ranking_lesson(summary: pd.DataFrame, n_targets: int) -> str:
    """What the off-policy estimators can be trusted with: ordering the target policies.

    Parameters
    ----------
    summary : DataFrame
        One row per estimator (index), with ``spearman_rank`` (rank correlation of the
        estimates with the true values over the targets) and ``bias`` (mean error per
        customer, currency).
    n_targets : int
        Number of distinct target policies the correlation is over.

    Returns
    -------
    str
        The correlation of each estimator, best first, and the verdict: an estimator
        that orders every target correctly (Spearman 1) could choose a policy; otherwise
        none can, and only an experiment decides.
    """
    ranked = summary.sort_values("spearman_rank", ascending=False)
    listed = ", ".join(f"{name.upper()} {row.spearman_rank:.2f}" for name, row in ranked.iterrows())
    head = (
        f"How well each estimator orders the {n_targets} target policies (Spearman "
        f"correlation of its estimates with the true values, 1 = the right order): {listed}."
    )
    perfect = ranked[ranked["spearman_rank"] >= 1.0 - 1e-9]
    if perfect.empty:
        return (
            f"{head} No estimator here orders these policies correctly, so none can be used "
            "to pick one: that takes an experiment (a randomised test on real customers)."
        )
    best = perfect.index[0]
    bias = float(perfect.loc[best, "bias"])
    return (
        f"{head} {best.upper()} orders them correctly here, but its values are off by "
        f"{bias:+.2f} per customer on average: use it to rank candidates for an experiment, "
        "not to forecast their profit."
    )


def diagnosis_baseline_note(
    diagnosis_uplift: float, main_uplift: float, diagnosis_seeds: int, main_seeds: int
) -> str:
    """Why the diagnosis table's uplift rule differs from the main table's."""
    return (
        f"The uplift rule earns {diagnosis_uplift:.2f} per customer in this table and "
        f"{main_uplift:.2f} in the main table: the diagnosis runs on the first "
        f"{diagnosis_seeds} of the {main_seeds} evaluation seeds (to save time), so the two "
        "are different samples of the same policy. Compare rows within this table only."
    )


def recommendation_headline(
    recommended: str, held_out: pd.DataFrame, best_learner: str, months: int
) -> Claim:
    """05's headline: the recommended policy against the one-step rule, checked.

    ``held_out`` is the main held-out table (``policy``, ``incremental_profit``,
    ``ci_lo``, ``ci_hi``). A planner or learner is said to make planning pay (and must
    beat the one-step rule); a rule is said to be unbeaten by planning; "nobody" means
    no policy earns more than contacting nobody.
    """
    rows = held_out.set_index("policy")
    uplift = float(rows.loc["one_step_uplift", "incremental_profit"])
    if recommended == "nobody":
        return claim(
            True,
            "On held-out customers no policy earns more than contacting nobody: the study "
            "recommends no campaign under these assumed effects.",
        )
    top = rows.loc[recommended]
    if recommended in (*PLANNERS, *RL_AGENTS):
        return claim(
            float(top["incremental_profit"]) > uplift,
            "Planning pays: on held-out customers the recommended policy is {policy}, "
            "{profit:.2f} incremental profit per customer over {months} months (95 % "
            "interval {lo:.2f} to {hi:.2f}) against the one-step uplift rule's {up:.2f}; "
            "the best learner, {bl}, earns {blv:.2f}.",
            policy=recommended,
            profit=top["incremental_profit"],
            months=months,
            lo=top["ci_lo"],
            hi=top["ci_hi"],
            up=uplift,
            bl=best_learner,
            blv=rows.loc[best_learner, "incremental_profit"],
        )
    return claim(
        True,
        "On held-out customers no planner or learner beats {policy}, the recommended "
        "policy ({profit:.2f} incremental profit per customer over {months} months).",
        policy=recommended,
        profit=top["incremental_profit"],
        months=months,
    )
