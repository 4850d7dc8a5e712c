"""Sentences of notebook 05 that read its tables: built and tested here, printed there.

Every sentence that compares or ranks is a checked claim (:func:`helpers.claims.claim`,
:func:`helpers.claims.either`): when a re-run changes the numbers so that it no longer
holds, the other sentence is printed, or the stage stops.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from helpers.claims import Claim, claim, either, say

from .study import PLANNERS, RL_AGENTS, StudyResult, best_heuristic
from .summary import PROFIT, raw_split
from .worlds import StudyWorlds


def simulator_note(worlds: StudyWorlds) -> str:
    """Which fitted model each simulator rests on, and why."""
    text = f"Simulator: {worlds.state_reason}\nAlternative simulator: {worlds.alt_reason}"
    if worlds.same_model:
        text += (
            "\nBoth simulators rest on the same model here: the robustness check below is weaker."
        )
    return text


def validation_reading(tracking: pd.DataFrame, seeds: int) -> Claim:
    """How to read the no-action validation, with the last month's numbers."""
    last = tracking.iloc[-1]
    return say(
        "How to read it: left, cumulative repeat purchases (count) per holdout month, simulated "
        "(band over {seeds} seeds) against the actual holdout; right, the share of customers by "
        "number of holdout purchases. After {m} months the simulator predicts {sim:,.0f} repeat "
        "purchases (band {lo:,.0f} to {hi:,.0f}); the holdout had {act:,.0f}.",
        seeds=seeds,
        m=int(last["month"]),
        sim=last["simulated"],
        lo=last["simulated_lo"],
        hi=last["simulated_hi"],
        act=last.get("actual", float("nan")),
    )


def main_reading(study: StudyResult) -> Claim:
    """How to read the main held-out table (checks that "nobody" is the zero)."""
    main = study.tables["main"].set_index("policy")
    return claim(
        main.loc["nobody", "incremental_profit"] == 0.0,
        "How to read it: incremental profit is each policy's discounted profit per customer "
        "over the 12 months minus that of contacting nobody on the same seed (currency per "
        "customer), mean and 95 % interval over {k} seeds; here the one-step uplift rule earns "
        "{up:.2f}, the oracle {orc:.2f}.",
        k=len(study.notes["eval_seeds"]),
        up=main.loc["one_step_uplift", "incremental_profit"],
        orc=main.loc["oracle", "incremental_profit"],
    )


def in_numbers(study: StudyResult, best_learner: str) -> Claim:
    """The rungs of the gap split and the best learner in one sentence, with the run time."""
    split = study.tables["main_split"].set_index("policy")
    profit = split["incremental_profit"]
    return say(
        "In numbers: uplift rule {up:.2f}, posterior MPC {mpc:.2f}, full-information myopic "
        "{fim:.2f}, oracle {orc:.2f}; best learner {bl} {blv:.2f} ({share:.0%} of the planning "
        "gap); the study ran in {sec:.0f} s.",
        up=profit["one_step_uplift"],
        mpc=profit["posterior_mpc"],
        fim=profit["full_info_myopic"],
        orc=profit["oracle"],
        bl=best_learner,
        blv=profit[best_learner],
        share=split.loc[best_learner, "share_of_planning_gap"],
        sec=study.timings["total"],
    )


def recommendation_note(study: StudyResult, rule: str) -> Claim:
    """The recommended policy, the rule that chose it, and the best heuristic."""
    best = best_heuristic(study.tables["main"])
    return say(
        "Recommended policy: {rec}, chosen by the rule: {rule}. Best heuristic: {h}, {hv:.2f} "
        "per customer over 12 months.",
        rec=study.notes["recommended_policy"],
        rule=rule,
        h=best["policy"],
        hv=best["incremental_profit"],
    )


def safety_reading(study: StudyResult) -> Claim:
    """What the safety switch did, and whether each switch agrees with the held-out result,
    in the main preset and over every preset."""
    checks, sweep = study.tables["safe_checks"], study.tables["safe_checks_sweep"]
    switched = checks[checks["disabled"].astype(bool)]
    wrong = checks[checks["verdict"].str.endswith("wrongly")]
    wrong_sweep = sweep[sweep["verdict"].str.endswith("wrongly")]
    shown = switched if wrong.empty else wrong
    raws = "; ".join(
        f"{r.agent} {r.raw_test:.2f} [{r.raw_lo:.2f}, {r.raw_hi:.2f}]" for r in shown.itertuples()
    )
    detail = either(
        wrong.empty,
        "Every switch is right: each switched-off learner's raw held-out interval reaches "
        "zero or below ({raws}).",
        "{k} switch(es) disagree with the held-out result: {raws}.",
        k=len(wrong),
        raws=raws or "none switched off",
    )
    which = ", ".join(f"{r.effects}/{r.agent}" for r in wrong_sweep.itertuples())
    return say(
        "Switched off: {off} of {n} learners ({names}). {detail} Over all {k} effect presets, "
        "{w} of {m} switches disagree with the raw held-out result{which}.",
        off=len(switched),
        n=len(checks),
        names=", ".join(switched["agent"]) or "none",
        detail=detail,
        k=sweep["effects"].nunique(),
        w=len(wrong_sweep),
        m=len(sweep),
        which=f" ({which})" if which else "",
    )


def planning_or_information(study: StudyResult) -> Claim:
    """Which half of the uplift-to-oracle gap is worth more here: planning or information."""
    profit = study.tables["main_split"].set_index("policy")["incremental_profit"]
    up, mpc = profit["one_step_uplift"], profit["posterior_mpc"]
    fim, orc = profit["full_info_myopic"], profit["oracle"]
    return either(
        mpc - up > fim - up,
        "Planning is worth more than information here: posterior MPC earns {mpc:.2f} per "
        "customer against the uplift rule's {up:.2f} ({ratio:.2f}x), while the one-step rule with "
        "full information earns {fim:.2f}; MPC alone covers {share:.0%} of the uplift-to-oracle "
        "gap (oracle {orc:.2f}).",
        "Information is worth more than planning here: the one-step rule with full information "
        "earns {fim:.2f} per customer against posterior MPC's {mpc:.2f} and the uplift rule's "
        "{up:.2f} ({ratio:.2f}x for MPC); MPC covers {share:.0%} of the uplift-to-oracle gap "
        "(oracle {orc:.2f}).",
        mpc=mpc,
        up=up,
        fim=fim,
        orc=orc,
        ratio=mpc / up,
        share=(mpc - up) / (orc - up) if orc > up else float("nan"),
    )


def best_learner_reading(study: StudyResult, best_learner: str) -> Claim:
    """The best learner as deployed and as learned, against the uplift rule and the
    planning gap; and how much of the gap rollout closes."""
    split = study.tables["main_split"].set_index("policy")
    row = split.loc[best_learner]
    return say(
        "Best learner: {name}, {v:.2f} per customer as deployed ({raw:.2f} with the safety switch "
        "ignored), {pct:+.1f} % against the uplift rule (paired 95 % interval of the difference "
        "{lo:.2f} to {hi:.2f}); it closes {share:.0%} of the planning gap. "
        "Rollout closes {rshare:.0%}.",
        name=best_learner,
        v=row["incremental_profit"],
        raw=raw_split(study).loc[f"{best_learner}_raw", "incremental_profit"],
        pct=100 * (row["ratio_to_uplift"] - 1),
        lo=row["vs_uplift_lo"],
        hi=row["vs_uplift_hi"],
        share=row["share_of_planning_gap"],
        rshare=split.loc["rollout", "share_of_planning_gap"],
    )


def robustness_reading(best_per_setting: pd.DataFrame) -> Claim:
    """In how many settings (effects x simulator) the best learner clears the 5 % bar."""
    return say(
        "The best learner clears the 5 % bar in {met} of {n} settings (effects x simulator): "
        "{detail}.",
        met=int(best_per_setting["beats the rule by 5 %"].sum()),
        n=len(best_per_setting),
        detail="; ".join(
            f"{r['effects']}/{r['simulator']}: {r['policy']} {r['vs uplift %']:+.1f} % "
            f"[{r['diff lo']:.2f}, {r['diff hi']:.2f}]"
            for _, r in best_per_setting.iterrows()
        ),
    )


def budget_reading(curve: pd.DataFrame) -> Claim:
    """How to read the budget curve, with the rule and MPC at the largest and smallest budget."""
    wide = curve.pivot(index="policy", columns="budget", values="incremental_profit")
    top, low = wide.columns.max(), wide.columns.min()
    return say(
        "How to read it: incremental profit per customer over 12 months (currency) against the "
        "share of customers contactable per month; at the full budget the uplift rule earns "
        "{u1:.2f} and posterior MPC {m1:.2f}, at {b0:.0%} {u0:.2f} and {m0:.2f}.",
        u1=wide.loc["one_step_uplift", top],
        m1=wide.loc["posterior_mpc", top],
        b0=low,
        u0=wide.loc["one_step_uplift", low],
        m0=wide.loc["posterior_mpc", low],
    )


def no_effect_reading(sweep: pd.DataFrame) -> Claim:
    """With no treatment effect nothing beats contacting nobody, and every learner learns
    to contact nobody (both checked)."""
    none = sweep[sweep["effects"] == "none"].set_index("policy")
    claim(
        (none["incremental_profit"] <= 1e-9).all(),
        "With no treatment effect no policy beats contacting nobody (best {best:.3f}).",
        best=none["incremental_profit"].max(),
    )
    learners = none.loc[[a for a in RL_AGENTS if a in none.index]]
    return claim(
        (learners["contact_rate"] < 0.01).all(),
        "With no treatment effect every learner contacts nobody (largest contact rate {c:.3f}).",
        c=learners["contact_rate"].max(),
    )


def carryover_reading(table: pd.DataFrame, sweep: pd.DataFrame) -> Claim:
    """Which learners and planners tie the uplift rule when contacts do not carry over."""
    off = sweep[sweep["effects"] == "carryover_off"].set_index("policy")
    up = off.loc["one_step_uplift"]
    tied = table[table["overlaps uplift interval"]]
    outside = table[~table["overlaps uplift interval"]]
    return say(
        "Carry-over off: the uplift rule earns {u:.2f} [{lo:.2f}, {hi:.2f}]; {k} of {n} learners "
        "and planners land within its interval ({names}); outside: {out}.",
        u=up["incremental_profit"],
        lo=up["ci_lo"],
        hi=up["ci_hi"],
        k=len(tied),
        n=len(table),
        names=", ".join(tied["policy"]) or "none",
        out=", ".join(
            f"{p} {v:.2f}" for p, v in zip(outside["policy"], outside[PROFIT], strict=True)
        )
        or "none",
    )


def ope_bias_reading(summary: pd.DataFrame) -> Claim:
    """Whether the model-based estimators (DR, FQE) are less biased than plain PDIS.

    ``summary`` is indexed by estimator, with ``bias`` (or, failing that, ``rmse``).
    """
    err = summary["bias"].abs() if "bias" in summary else summary["rmse"]
    return either(
        err[["dr", "fqe"]].max() < err["pdis"],
        "Here the model-based estimators (DR, FQE) have less bias than PDIS (largest |bias| "
        "{mb:.2f} against {pd:.2f} per customer): the importance weights, not the models, are "
        "the weak link.",
        "Here the model-based estimators (DR, FQE) have more bias than PDIS (largest |bias| "
        "{mb:.2f} against {pd:.2f} per customer).",
        mb=err[["dr", "fqe"]].max(),
        pd=err["pdis"],
    )


def ope_ranking_lesson(summary: pd.DataFrame, estimates: pd.DataFrame) -> Claim:
    """What the off-policy estimators can be trusted with: ordering the target policies.

    Parameters
    ----------
    summary : DataFrame
        One row per estimator (index), with ``spearman_rank`` (rank correlation of the
        estimates with the true values over the targets), ``bias`` and ``mean_abs_error``
        (per customer, currency).
    estimates : DataFrame
        One row per (target, estimator) with the target's ``true_value``.

    Returns
    -------
    Claim
        The correlation of each estimator, best first, and the verdict: an estimator that
        orders every target correctly (Spearman 1) could shortlist policies; otherwise
        none can rank them, and the sentence sets the spread of the true values against
        the smallest mean error, which is why.
    """
    truth = estimates.groupby("target")["true_value"].first()
    ranked = summary.sort_values("spearman_rank", ascending=False)
    listed = ", ".join(f"{name.upper()} {row.spearman_rank:.2f}" for name, row in ranked.iterrows())
    head = (
        f"How well each estimator orders the {len(truth)} target policies (Spearman "
        f"correlation of its estimates with the true values, 1 = the right order): {listed}."
    )
    perfect = ranked[ranked["spearman_rank"] >= 1.0 - 1e-9]
    if perfect.empty:
        closest = summary["mean_abs_error"].idxmin()
        spread = float(truth.max() - truth.min())
        return claim(
            (summary["spearman_rank"] < 1.0 - 1e-9).all(),
            "{head} No off-policy estimator here ranks these policies, so none can be used to "
            "pick one: their true values lie within {spread:.2f} per customer of each other "
            "({lo:.2f} to {hi:.2f}), while even the closest estimator, {best}, is off by "
            "{err:.2f} on average ({ratio:.0f} times that spread). Choosing among them takes an "
            "experiment (a randomised test on real customers).",
            head=head,
            spread=spread,
            lo=truth.min(),
            hi=truth.max(),
            best=str(closest).upper(),
            err=summary.loc[closest, "mean_abs_error"],
            ratio=summary.loc[closest, "mean_abs_error"] / spread if spread else float("inf"),
        )
    best = perfect.index[0]
    return say(
        "{head} {best} orders them correctly here, but its values are off by {bias:+.2f} per "
        "customer on average: use it to rank candidates for an experiment, not to forecast "
        "their profit.",
        head=head,
        best=best.upper(),
        bias=float(perfect.loc[best, "bias"]),
    )


def ope_target_of(study: StudyResult, policy: str) -> str:
    """The OPE target that stands for ``policy`` (itself, or the policy with identical
    greedy actions it was grouped with, e.g. "nobody" for a switched-off learner)."""
    for kept, same in study.tables["ope_groups"].itertuples(index=False, name=None):
        if policy in same.split(", "):
            return kept
    raise KeyError(f"{policy!r} is not an OPE target")


def ope_best_learner(study: StudyResult, best_learner: str) -> Claim:
    """The DR and FQE estimates of the best learner against its true value."""
    target = ope_target_of(study, best_learner)
    est = study.tables["ope_estimates"]
    row = est[est["target"] == target].set_index("estimator")
    return say(
        "OPE of the best learner ({name}, shown as {target}): DR estimates {dr:.2f}, FQE "
        "{fqe:.2f}, against a true value of {tv:.2f} per customer (total discounted profit over "
        "12 months, softened policy, no budget).",
        name=best_learner,
        target=target,
        dr=row.loc["dr", "estimate"],
        fqe=row.loc["fqe", "estimate"],
        tv=row["true_value"].iloc[0],
    )


def segment_reading(segments: pd.DataFrame, learner: str) -> Claim:
    """Where the learner contacts more and less often than the uplift rule
    (:func:`helpers.marketing.summary.segment_table`), and its share of e-mails."""
    diff = segments["contacted"] - segments["contacted_uplift"]
    weights = segments["customer_months"]
    email = (segments["email"] * weights).sum() / max(1e-9, (segments["contacted"] * weights).sum())

    def segment(row: pd.Series) -> str:
        return say(
            "customers with recency {r} months and {f} repeat purchases ({c:.0%} of their "
            "months, uplift rule {u:.0%})",
            r=row["recency_months"],
            f=row["repeat_purchases"],
            c=row["contacted"],
            u=row["contacted_uplift"],
        )

    return either(
        diff.max() > 0 and diff.min() < 0,
        "Relative to the uplift rule, {name} contacts more often {more} and less often {less}; "
        "its contacts are {e:.0%} e-mails.",
        "{name} contacts in one direction only relative to the uplift rule; the largest change "
        "is for {most}; its contacts are {e:.0%} e-mails.",
        name=learner,
        more=segment(segments.loc[diff.idxmax()]),
        less=segment(segments.loc[diff.idxmin()]),
        most=segment(segments.loc[diff.abs().idxmax()]),
        e=email,
    )


def spacing_reading(spacing: pd.DataFrame) -> Claim:
    """Share of contacts that go to customers not contacted in the previous three months."""
    return say(
        "When: {m:.0%} of posterior MPC's contacts go to customers not contacted in the previous "
        "three months, against {u:.0%} of the uplift rule's (fatigue: planning spaces contacts "
        "out).",
        m=spacing["posterior_mpc"].get(0, 0.0),
        u=spacing["one_step_uplift"].get(0, 0.0),
    )


def diagnosis_reading(diagnosis: pd.DataFrame, seeds: int) -> Claim:
    """How to read the diagnosis table and figure."""
    return say(
        "How to read it: incremental profit per customer over 12 months (currency), mean and "
        "95 % interval over {k} seeds, at the budget (left) and without one (right); the uplift "
        "rule earns {up:.2f} at the budget.",
        k=seeds,
        up=diagnosis.set_index("policy").loc["one_step_uplift", "incremental_profit"],
    )


def diagnosis_baseline_note(
    diagnosis: pd.DataFrame, main_per_seed: pd.DataFrame, diagnosis_seeds: Sequence[int]
) -> Claim:
    """Why the diagnosis table's uplift rule differs from the main table's, checked.

    The diagnosis evaluates on ``diagnosis_seeds``, the first of the main table's
    evaluation seeds. The sentence states both figures and checks that the diagnosis'
    uplift equals the main table's on those same seeds (recomputed from
    ``main_per_seed``), so the difference is the seeds and nothing else.
    """
    rule = main_per_seed[main_per_seed["policy"] == "one_step_uplift"].set_index("seed")
    profit = rule["incremental_profit"]
    here = float(diagnosis.set_index("policy").loc["one_step_uplift", "incremental_profit"])
    same = float(profit.loc[list(diagnosis_seeds)].mean())
    return claim(
        abs(here - same) < 1e-9,
        "The uplift rule earns {here:.2f} per customer in this table and {main:.2f} in the main "
        "table only because of the seeds: the diagnosis runs on the first {k} of the {n} "
        "evaluation seeds (to save time), and on those {k} seeds the main table's uplift rule "
        "earns {same:.2f} too. Compare rows within this table only.",
        here=here,
        main=float(profit.mean()),
        k=len(diagnosis_seeds),
        n=len(profit),
        same=same,
    )


def diagnosis_findings(diagnosis: pd.DataFrame) -> Claim:
    """What the diagnosis finds, one checked sentence per candidate cause."""
    diag = diagnosis.set_index("policy")
    d, free = diag["incremental_profit"], diag["unconstrained"]
    up = d["one_step_uplift"]
    net_teacher, tree_teacher = d["teacher with the dqn network"], d["fqi_teacher (study)"]
    net_boot, tree_boot = d["fqi with the dqn network"], d["fqi (study)"]
    findings = [
        either(
            net_teacher >= up,
            "Not the function class: the DQN's network fitted to the full-information teacher's "
            "targets earns {nt:.2f} (trees {tt:.2f}), at least the uplift rule's {up:.2f}.",
            "The function class may matter: the DQN's network fitted to the teacher's targets "
            "earns {nt:.2f} (trees {tt:.2f}), below the uplift rule's {up:.2f}.",
            nt=net_teacher,
            tt=tree_teacher,
            up=up,
        ),
        either(
            net_boot < up and tree_boot < up,
            "The bootstrapped targets are what fails: on the same branched data with expected "
            "rewards, the same network with bootstrapped targets earns {nb:.2f} and the trees "
            "{tb:.2f}, both below the rule.",
            "Bootstrapped targets do not fail by themselves here: on the branched data the "
            "network earns {nb:.2f} and the trees {tb:.2f} (rule {up:.2f}).",
            nb=net_boot,
            tb=tree_boot,
            up=up,
        ),
        either(
            d["dqn, discount 0.5"] > d["dqn (study)"] and d["fqi, discount 0.5"] > tree_boot,
            "Damping the bootstrapped horizon helps both: with discount 0.5 the DQN earns "
            "{d5:.2f} (from {d99:.2f}) and FQI {f5:.2f} (from {f99:.2f}).",
            "Damping the discount to 0.5 does not help both: DQN {d5:.2f} (from {d99:.2f}), "
            "FQI {f5:.2f} (from {f99:.2f}).",
            d5=d["dqn, discount 0.5"],
            d99=d["dqn (study)"],
            f5=d["fqi, discount 0.5"],
            f99=tree_boot,
        ),
        either(
            d["dqn, 3x episodes"] < up,
            "More episodes do not close the gap: three times the episodes gives {m:.2f} "
            "(study {s:.2f}, rule {up:.2f}).",
            "More episodes close the gap: three times the episodes gives {m:.2f} (study "
            "{s:.2f}, rule {up:.2f}).",
            m=d["dqn, 3x episodes"],
            s=d["dqn (study)"],
            up=up,
        ),
        either(
            (free["dqn (study)"] < free["one_step_uplift"]) == (d["dqn (study)"] < up),
            "Not the budget allocator: without a budget the DQN earns {fd:.2f} against the "
            "rule's {fu:.2f}, the same order as at the budget.",
            "The budget allocator changes the order: without a budget the DQN earns {fd:.2f} "
            "against the rule's {fu:.2f}.",
            fd=free["dqn (study)"],
            fu=free["one_step_uplift"],
        ),
        say(
            "The data: online with realised rewards the DQN earns {on:.2f}; its network on "
            "FQI's branched data with expected rewards earns {br:.2f}.",
            on=d["dqn (study)"],
            br=net_boot,
        ),
    ]
    return say("{text}", text=" ".join(findings))


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
