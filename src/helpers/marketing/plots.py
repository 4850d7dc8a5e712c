"""Figures of notebook 05: validation, learning curves, budget curve, effect sweep."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.ticker import NullLocator, PercentFormatter


def plot_no_action_validation(tracking: pd.DataFrame, histogram: pd.DataFrame) -> plt.Figure:
    """Simulated (band over seeds) vs actual cumulative repeat purchases and count shares."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    ax = axes[0]
    ax.plot(tracking["month"], tracking["simulated"], label="simulated, no action")
    ax.fill_between(
        tracking["month"], tracking["simulated_lo"], tracking["simulated_hi"], alpha=0.3
    )
    if "actual" in tracking:
        ax.plot(tracking["month"], tracking["actual"], "k--", label="actual holdout")
    ax.set(title="Cumulative repeat purchases", xlabel="holdout month", ylabel="purchases")
    ax.legend()
    long = histogram.melt(id_vars="purchases", var_name="source", value_name="share")
    sns.barplot(long, x="purchases", y="share", hue="source", ax=axes[1])
    axes[1].set(title="Customers by holdout purchases", xlabel="purchases", ylabel="share")
    fig.tight_layout()
    return fig


def plot_learning_curves(curves: pd.DataFrame) -> plt.Figure:
    """Mean discounted return per training episode and contact rate, per agent."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    sns.lineplot(curves, x="episode", y="mean_return", hue="agent", ax=axes[0])
    axes[0].set(title="Training: mean discounted return per customer", ylabel="return")
    sns.lineplot(curves, x="episode", y="contact_rate", hue="agent", ax=axes[1])
    axes[1].set(title="Training: share of customer-months contacted", ylabel="contact rate")
    fig.tight_layout()
    return fig


def plot_policy_intervals(table: pd.DataFrame, title: str) -> plt.Figure:
    """Incremental profit per customer vs contact nobody, with 95 % intervals."""
    rows = table.sort_values("incremental_profit")
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(rows) + 1.5))
    ax.errorbar(
        rows["incremental_profit"],
        rows["policy"],
        xerr=[
            rows["incremental_profit"] - rows["ci_lo"],
            rows["ci_hi"] - rows["incremental_profit"],
        ],
        fmt="o",
        capsize=3,
    )
    ax.axvline(0, color="grey", ls=":")
    ax.set(
        title=title,
        xlabel="incremental profit vs contact nobody (currency per customer, 12 months)",
    )
    return fig


#: The policies every comparison figure shows in colour: the rule, the planners, the ceiling.
KEY_POLICIES = ("one_step_uplift", "posterior_mpc", "rollout", "oracle")


def key_policies(frame: pd.DataFrame, extra: int = 1) -> list[str]:
    """The key policies present in ``frame``, plus the ``extra`` best others by mean
    incremental profit (the best learner, usually), in that order."""
    present = [p for p in KEY_POLICIES if p in set(frame["policy"])]
    others = (
        frame[~frame["policy"].isin([*present, "nobody"])]
        .groupby("policy")["incremental_profit"]
        .mean()
        .sort_values(ascending=False)
    )
    return present + list(others.index[:extra])


def plot_budget_curve(curve: pd.DataFrame) -> plt.Figure:
    """Incremental profit per customer against the contact budget.

    The key policies (:func:`key_policies`) in colour, every other policy as a thin grey
    line; the y axis spans the key policies, so one poor policy cannot squash the rest
    (lines below it are cut, and the legend says how many).
    """
    shown = key_policies(curve)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    others = curve[~curve["policy"].isin([*shown, "nobody"])]
    for i, (_, group) in enumerate(others.groupby("policy")):
        group = group.sort_values("budget")
        ax.plot(
            group["budget"],
            group["incremental_profit"],
            color="0.8",
            lw=0.8,
            label=f"other policies ({others['policy'].nunique()})" if i == 0 else None,
        )
    for policy, marker in zip(shown, "osD^v", strict=False):
        group = curve[curve["policy"] == policy].sort_values("budget")
        ax.plot(group["budget"], group["incremental_profit"], marker=marker, lw=1.8, label=policy)
    key = curve[curve["policy"].isin(shown)]["incremental_profit"]
    span = float(key.max() - min(0.0, key.min())) or 1.0
    low = min(0.0, float(key.min())) - 0.1 * span
    cut = int((others.groupby("policy")["incremental_profit"].min() < low).sum())
    ax.set_ylim(low, float(key.max()) + 0.1 * span)
    ax.axhline(0, color="grey", ls=":")
    budgets = sorted(curve["budget"].unique())
    ax.set_xscale("log")
    ax.set_xticks(budgets)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set(
        title="Profit vs budget (equal budget for every policy)",
        xlabel="share of customers contactable per month (log scale)",
        ylabel="incremental profit (currency per customer, 12 months)",
    )
    ax.legend(
        fontsize=8,
        title=f"{cut} line{' falls' if cut == 1 else 's fall'} below the axis" if cut else None,
        title_fontsize=7,
    )
    return fig


def plot_sweep(sweep: pd.DataFrame) -> plt.Figure:
    """Incremental profit by assumed effect size, for the key policies."""
    presets = ("none", "low", "mid", "high", "carryover_off")
    order = [e for e in presets if e in set(sweep["effects"])]
    shown = key_policies(sweep)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    sns.barplot(
        sweep[sweep["policy"].isin(shown)],
        x="effects",
        y="incremental_profit",
        hue="policy",
        hue_order=shown,
        order=order,
        ax=ax,
    )
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(
        title="Effect-size sweep: where does planning help?",
        xlabel="assumed treatment effects (preset)",
        ylabel="incremental profit (currency per customer, 12 months)",
    )
    ax.legend(fontsize=8)
    return fig


def plot_gap_split(split: pd.DataFrame) -> plt.Figure:
    """The uplift -> oracle ladder: planning (posterior MPC) vs information (full-info
    myopic), with every learner and planner as a bar against the rungs."""
    rungs = ["one_step_uplift", "posterior_mpc", "full_info_myopic", "oracle"]
    others = [p for p in split.index if p not in rungs and p != "nobody"]
    order = rungs + sorted(others, key=lambda p: split.loc[p, "incremental_profit"])
    values = split.loc[[p for p in order if p in split.index], "incremental_profit"]
    colours = ["tab:grey" if p in rungs else "tab:blue" for p in values.index]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(values) + 1.5))
    ax.barh(values.index, values.to_numpy(), color=colours)
    for name, style in (("one_step_uplift", ":"), ("posterior_mpc", "--"), ("oracle", "-")):
        if name in split.index:
            ax.axvline(split.loc[name, "incremental_profit"], color="k", ls=style, lw=0.8)
    ax.set(
        title="Information or planning? (grey: the rungs; lines: uplift, MPC, oracle)",
        xlabel="incremental profit vs contact nobody (currency per customer, 12 months)",
    )
    fig.tight_layout()
    return fig


def plot_diagnosis(diag: pd.DataFrame) -> plt.Figure:
    """The learner diagnosis: each variant's incremental profit with 95 % intervals, at the
    budget and without one; the uplift rule as a dashed line (index: variant names)."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.45 * len(diag) + 1.8), sharey=True)
    names = list(diag.index)
    for ax, (col, lo, hi, title) in zip(
        axes,
        (
            ("incremental_profit", "ci_lo", "ci_hi", "at the budget"),
            ("unconstrained", "unconstrained_lo", "unconstrained_hi", "without a budget"),
        ),
        strict=True,
    ):
        ax.errorbar(
            diag[col],
            names,
            xerr=[diag[col] - diag[lo], diag[hi] - diag[col]],
            fmt="o",
            capsize=3,
        )
        if "one_step_uplift" in diag.index:
            ax.axvline(diag.loc["one_step_uplift", col], color="C1", ls="--", label="uplift rule")
            ax.legend(loc="lower right")
        ax.axvline(0, color="grey", ls=":")
        ax.set(title=title, xlabel="incremental profit (currency per customer, 12 months)")
    axes[0].invert_yaxis()
    fig.tight_layout()
    return fig
