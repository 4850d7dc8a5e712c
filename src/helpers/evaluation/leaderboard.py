"""Leaderboard, gap-to-oracle and the evaluation figures of notebook 06.

All metrics come from :mod:`helpers.evaluation.metrics` (defined once). Reading guide: MAE/RMSE
say how far predictions are in money; Gini, Spearman and top-decile capture say
whether the valuable customers are ranked first; decile MAPE says whether the
predicted *levels* are right group by group. A rule can rank well and still be badly
calibrated (extrapolating past spend does exactly that), so they are read together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from helpers.evaluation import metrics

BTYD_MODELS: tuple[str, ...] = ("bgnbd", "pareto_nbd", "mbgnbd")
LOWER_IS_BETTER: frozenset[str] = frozenset(
    {"mae", "rmse", "mse", "decile_mape", "weighted_decile_error", "brier"}
)


def _joined(predictions: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    actual = customers["holdout_spend"].rename("actual_spend")
    joined = predictions.join(actual, on="user_id", how="inner")
    counts = joined.groupby("model").size()
    short = counts[counts != len(customers)]
    if len(short):
        raise ValueError(
            f"models must predict every customer ({len(customers)}): {short.to_dict()}"
        )
    return joined


def leaderboard(predictions: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """One row per model, one column per metric.

    Parameters
    ----------
    predictions : DataFrame
        Tidy table ``user_id, model, predicted_spend, p_zero``.
    customers : DataFrame
        Targets from :func:`helpers.data.split.make_targets` (index user_id).
    """
    rows = {}
    for model, group in _joined(predictions, customers).groupby("model", sort=False):
        p_zero = group["p_zero"]
        report = metrics.regression_report(
            group["actual_spend"],
            group["predicted_spend"],
            p_zero=None if p_zero.isna().any() else p_zero,
        )
        report["predicted_total"] = float(group["predicted_spend"].sum())
        report["actual_total"] = float(group["actual_spend"].sum())
        rows[model] = report
    board = pd.DataFrame.from_dict(rows, orient="index")
    board.index.name = "model"
    return board.sort_values("gini", ascending=False)


def gap_closed(
    board: pd.DataFrame,
    metric: str = "gini",
    reference: Sequence[str] = BTYD_MODELS,
    ceiling: str = "oracle",
) -> pd.Series:
    """Share of the gap between the best reference model and the ceiling each model closes.

    ``(m - best_reference) / (ceiling - best_reference)`` for higher-is-better metrics
    (signs flipped for lower-is-better ones): 0 = as good as the best BTYD model,
    1 = as good as the oracle, negative = worse than BTYD.
    """
    if ceiling not in board.index:
        raise ValueError(f"no {ceiling!r} row: the gap needs a ceiling (shopsim only)")
    present = [m for m in reference if m in board.index]
    if not present:
        raise ValueError(f"none of the reference models {list(reference)} is on the board")
    values = board[metric]
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    best = (sign * values[present]).max() * sign
    gap = values[ceiling] - best
    if gap == 0:
        raise ValueError(f"the best reference already equals the {ceiling!r} on {metric}")
    return ((values - best) / gap).rename(f"{metric}_gap_closed")


def highlighted_models(board: pd.DataFrame, metric: str = "gini", top: int = 3) -> list[str]:
    """The few rows a chart should draw in colour: the ``top`` models by ``metric``, the
    best BTYD model (the yardstick) and the oracle (the ceiling), best first."""
    values = board[metric].dropna()
    ascending = metric in LOWER_IS_BETTER
    ranked = values.drop([m for m in ("oracle", "zero") if m in values.index])
    ranked = ranked.sort_values(ascending=ascending)
    chosen = list(ranked.index[:top])
    btyd = ranked[[m for m in ranked.index if m in BTYD_MODELS]]
    if len(btyd) and btyd.index[0] not in chosen:
        chosen.append(btyd.index[0])
    if "oracle" in values.index:
        chosen.insert(0, "oracle")
    return chosen


def metrics_json(board: pd.DataFrame, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Nested ``{model: {metric: value}}`` for ``dvc metrics`` (NaN → None, text kept)."""

    def plain(value: Any) -> Any:
        if isinstance(value, str):
            return value
        return None if pd.isna(value) else round(float(value), 6)

    out: dict[str, Any] = {
        model: {k: plain(v) for k, v in row.items()} for model, row in board.iterrows()
    }
    if extra:
        out.update(extra)
    return out


def calibration_holdout_by_frequency(
    summary: pd.DataFrame, expected_purchases: pd.Series, max_frequency: int = 7
) -> pd.DataFrame:
    """Mean actual vs predicted holdout purchases, grouped by calibration repeat purchases.

    The classic BTYD diagnostic (Fader, Hardie & Lee 2005, fig. 4): customers with
    ``frequency_cal`` ≥ ``max_frequency`` are pooled in the last group.
    """
    group = summary["frequency_cal"].clip(upper=max_frequency).astype(int)
    frame = pd.DataFrame(
        {
            "frequency_cal": group,
            "actual": summary["frequency_holdout"],
            "predicted": expected_purchases.reindex(summary.index),
        }
    )
    table = frame.groupby("frequency_cal").agg(
        customers=("actual", "size"), actual=("actual", "mean"), predicted=("predicted", "mean")
    )
    return table.reset_index()


def p_alive_matrix(model: Any, max_frequency: int, max_recency: int, age: float) -> pd.DataFrame:
    """P(alive) of a fitted lifetimes model on a (frequency, recency) grid at a given age."""
    frequency = np.arange(max_frequency + 1)
    recency = np.arange(max_recency + 1, dtype=float)
    f_grid, r_grid = np.meshgrid(frequency, recency, indexing="ij")
    p = model.conditional_probability_alive(
        f_grid.ravel(), r_grid.ravel(), np.full(f_grid.size, age)
    )
    table = pd.DataFrame(np.asarray(p).reshape(f_grid.shape), index=frequency, columns=recency)
    table.index.name, table.columns.name = "frequency", "recency"
    # recency cannot be 0 for a repeat buyer, nor positive without one
    table = table.where(~((f_grid > 0) & (r_grid == 0)) & ~((f_grid == 0) & (r_grid > 0)))
    return table


def plot_gains(
    predictions: pd.DataFrame,
    customers: pd.DataFrame,
    models: Sequence[str],
    highlight: Sequence[str] | None = None,
) -> plt.Figure:
    """Cumulative share of holdout value vs share of customers, ranked by each model.

    Models in ``highlight`` (default: all) are drawn in colour and named in the legend;
    the others as thin grey lines, so a chart of many models still reads.
    """
    joined = _joined(predictions, customers)
    highlight = list(models) if highlight is None else [m for m in highlight if m in models]
    fig, ax = plt.subplots(figsize=(6.5, 5))
    perfect = None
    others = [m for m in models if m not in highlight]
    styles = ["-", "--", "-.", ":", (0, (5, 1, 1, 1))]  # lines that coincide stay visible
    for i, model in enumerate([*others, *highlight]):
        group = joined[joined["model"] == model]
        curve = metrics.gains_curve(group["actual_spend"], group["predicted_spend"])
        if model in highlight:
            k = highlight.index(model)
            ax.plot(
                curve["share_customers"],
                curve["share_value"],
                label=model,
                lw=2.4 - 0.3 * (k % len(styles)),
                ls=styles[k % len(styles)],
            )
        else:
            label = f"other models ({len(others)})" if i == 0 else None
            ax.plot(
                curve["share_customers"], curve["share_value"], color="0.75", lw=0.8, label=label
            )
        perfect = curve
    if perfect is not None:
        ax.plot(perfect["share_customers"], perfect["share_value_perfect"], "k--", label="perfect")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, label="random")
    ax.set(
        title="Gains: share of holdout value captured",
        xlabel="share of customers, ranked by prediction",
        ylabel="share of all holdout spend",
    )
    ax.legend(fontsize=8)
    return fig


def plot_decile_calibration(
    predictions: pd.DataFrame, customers: pd.DataFrame, models: Sequence[str]
) -> plt.Figure:
    """Mean predicted vs mean actual holdout spend per prediction decile, one panel a model."""
    joined = _joined(predictions, customers)
    n = len(models)
    cols = min(3, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax, model in zip(axes.ravel(), models, strict=False):
        group = joined[joined["model"] == model]
        table = metrics.decile_table(group["actual_spend"], group["predicted_spend"])
        long = table.melt(id_vars="bin", value_vars=["mean_predicted", "mean_actual"])
        sns.barplot(long, x="bin", y="value", hue="variable", ax=ax)
        wde = metrics.weighted_decile_error(group["actual_spend"], group["predicted_spend"])
        ax.set_yscale("symlog", linthresh=1.0)  # the low deciles hold most customers
        ax.set(title=f"{model} (weighted decile error {wde:.2f})", xlabel="", ylabel="")
        ax.legend(fontsize=7)
    for i, ax in enumerate(axes.ravel()[:n]):
        if i + cols >= n:  # the lowest panel of its column
            ax.set_xlabel("prediction decile (1 = lowest)")
    for ax in axes[:, 0]:
        ax.set_ylabel("mean spend per customer\n(currency, symlog scale)")
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    fig.suptitle("Calibration by decile: mean predicted vs mean actual holdout spend")
    fig.tight_layout()
    return fig


def plot_tracking(curves: dict[str, pd.DataFrame]) -> plt.Figure:
    """Cumulative repeat transactions per week, actual vs each BTYD model."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    first = next(iter(curves.values()))
    ax.plot(first["week"], first["actual"], color="black", label="actual")
    for name, curve in curves.items():
        ax.plot(curve["week"], curve["predicted"], ls="--", label=name)
    start = first.loc[first["holdout"], "week"].min()
    if pd.notna(start):
        ax.axvline(start - 0.5, color="grey", ls=":", label="cutoff")
    ax.set(
        title="Tracking: cumulative repeat transactions",
        xlabel="week",
        ylabel="cumulative repeat purchases (purchase days)",
    )
    ax.legend()
    return fig


def plot_calibration_holdout(tables: dict[str, pd.DataFrame]) -> plt.Figure:
    """Mean holdout purchases by calibration frequency, actual vs each model."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    first = next(iter(tables.values()))
    ax.plot(first["frequency_cal"], first["actual"], "ko-", label="actual")
    for name, table in tables.items():
        ax.plot(table["frequency_cal"], table["predicted"], "--o", label=name)
    ticks = first["frequency_cal"].tolist()
    ax.set_xticks(ticks, [str(t) if t < ticks[-1] else f"{t}+" for t in ticks])
    ax.set(
        title="Holdout purchases by calibration repeat purchases",
        xlabel="repeat purchases in calibration",
        ylabel="mean holdout purchases per customer",
    )
    ax.legend()
    return fig


def plot_p_alive(matrix: pd.DataFrame, title: str) -> plt.Figure:
    """Heatmap of P(alive) by frequency and recency."""
    fig, ax = plt.subplots(figsize=(8, 5))
    sns.heatmap(matrix, cmap="viridis", vmin=0, vmax=1, ax=ax, cbar_kws={"label": "P(alive)"})
    ax.invert_yaxis()
    ystep = max(1, matrix.shape[0] // 10)
    ax.set_yticks(np.arange(0, matrix.shape[0], ystep) + 0.5, matrix.index[::ystep], rotation=0)
    step = max(1, matrix.shape[1] // 10)
    ax.set_xticks(np.arange(0, matrix.shape[1], step) + 0.5, matrix.columns[::step].astype(int))
    ax.set(
        title=title,
        xlabel="recency (weeks, time of last repeat purchase)",
        ylabel="repeat purchases",
    )
    return fig


def best_btyd(gini: pd.Series) -> str | None:
    """The fitted BTYD model with the highest normalised Gini, or None if none was fitted."""
    rows = gini[gini.index.isin(BTYD_MODELS)].dropna()
    return None if rows.empty else str(rows.idxmax())


def comparison_pairs(gini: pd.Series) -> list[tuple[str, str]]:
    """The (model, reference) pairs notebook 06 puts paired intervals on.

    Every ablation ``deep_*`` against the main ``deep`` model, then ``deep``,
    ``deep_no_text``, ``gbdt``, ``gbdt_rfm``, ``stack`` and ``average`` against the best
    BTYD model (:func:`best_btyd`; an ablation already compared with ``deep`` is not
    repeated), then ``deep`` against ``gbdt``. A pair is listed only when both of its
    models were fitted.

    Parameters
    ----------
    gini : Series
        Normalised Gini of the fitted models, indexed by model name.
    """
    fitted = set(gini.dropna().index)
    pairs: list[tuple[str, str]] = []
    if "deep" in fitted:
        pairs += [(m, "deep") for m in gini.index if m.startswith("deep_") and m in fitted]
    reference = best_btyd(gini)
    if reference is not None:
        learned = ("deep", "deep_no_text", "gbdt", "gbdt_rfm", "stack", "average")
        pairs += [(m, reference) for m in learned if m in fitted and (m, "deep") not in pairs]
    if {"deep", "gbdt"} <= fitted:
        pairs.append(("deep", "gbdt"))
    return pairs


#: The rule of thumb every model must beat to count as a signal (see :func:`signal_pairs`).
SIGNAL_REFERENCE = "extrapolation"


def signal_pairs(gini: pd.Series) -> list[tuple[str, str]]:
    """(model, "extrapolation") for every fitted model but the yardsticks.

    Whether a model predicts anything a rule of thumb does not: its paired Gini
    difference against the extrapolation rule (spend so far, per day, times the
    horizon). Stage 07 reads it to decide whether its model is informative.
    """
    fitted = set(gini.dropna().index)
    if SIGNAL_REFERENCE not in fitted:
        return []
    skip = {SIGNAL_REFERENCE, "oracle", "zero"}
    return [(m, SIGNAL_REFERENCE) for m in gini.index if m in fitted and m not in skip]


def metric_winners(board: pd.DataFrame) -> dict[str, str]:
    """Best model for money (MAE), ranking (Gini) and calibration (weighted decile error).

    Columns missing from ``board`` or entirely NaN are left out.
    """
    wanted = {"mae": "idxmin", "gini": "idxmax", "weighted_decile_error": "idxmin"}
    return {
        column: str(getattr(board[column].dropna(), how)())
        for column, how in wanted.items()
        if column in board and board[column].notna().any()
    }


def paired_differences(
    predictions: pd.DataFrame,
    customers: pd.DataFrame,
    pairs: Sequence[tuple[str, str]],
    seed: int,
    metric: str = "gini",
    n_boot: int = 500,
) -> pd.DataFrame:
    """Paired bootstrap intervals of metric differences between models, over customers.

    Parameters
    ----------
    pairs : sequence of (model, reference)
        Each row is ``metric(model) - metric(reference)`` on the same customers, with
        its 95 % percentile interval (:func:`helpers.evaluation.metrics.paired_bootstrap`,
        the same resamples for every pair). Pairs naming a model that is not in
        ``predictions`` are skipped.
    metric : str
        ``"gini"`` (normalised Gini), ``"mae"`` or ``"weighted_decile_error"``.

    Returns
    -------
    DataFrame
        Index ``model``, columns ``reference``, ``difference``, ``low``, ``high``,
        ``distinguishable`` (the interval excludes 0).
    """
    functions = {
        "gini": metrics.normalized_gini,
        "mae": metrics.mae,
        "weighted_decile_error": metrics.weighted_decile_error,
    }
    if metric not in functions:
        raise ValueError(f"metric must be one of {sorted(functions)}, got {metric!r}")
    wide = _joined(predictions, customers).pivot(
        index="user_id", columns="model", values="predicted_spend"
    )
    actual = customers["holdout_spend"].reindex(wide.index).to_numpy()
    rows = []
    for model, reference in pairs:
        if model not in wide.columns or reference not in wide.columns:
            continue
        result = metrics.paired_bootstrap(
            actual,
            wide[model].to_numpy(),
            wide[reference].to_numpy(),
            functions[metric],
            seed=seed,
            n_boot=n_boot,
        )
        rows.append({"model": model, "reference": reference, **result})
    columns = ["model", "reference", "difference", "low", "high", "share_above_zero"]
    table = pd.DataFrame(rows, columns=columns).set_index("model")
    table["distinguishable"] = (table["low"] > 0) | (table["high"] < 0)
    return table.rename(columns={"difference": f"{metric}_difference"})


def holdout_tracking_error(curve: pd.DataFrame) -> dict[str, float]:
    """Repeat purchases over the holdout from a tracking curve: expected, observed, error.

    ``curve`` is :func:`helpers.models.btyd.tracking_curve` (cumulative ``actual`` and
    ``predicted`` per week, ``holdout`` flag). Returns ``pred``, ``actual`` (purchases
    in the holdout weeks) and ``error`` (``pred / actual - 1``).
    """
    calibration = curve.loc[~curve["holdout"].astype(bool)]
    start = calibration.iloc[-1] if len(calibration) else curve.iloc[0] * 0
    end = curve.iloc[-1]
    pred = float(end["predicted"] - start["predicted"])
    actual = float(end["actual"] - start["actual"])
    return {"pred": pred, "actual": actual, "error": pred / actual - 1 if actual else np.nan}


def p_alive_reading(matrix: pd.DataFrame, frequency: int = 10, gap: float = 26.0) -> dict:
    """One row of a P(alive) matrix read aloud: bought at the cutoff vs ``gap`` before it.

    ``matrix`` is :func:`p_alive_matrix` (columns = recency in the fit's time unit,
    weeks in this study; the last column is the age at the cutoff). The gap, in the
    same unit, is capped at half the age.
    """
    row = min(frequency, int(matrix.index.max()))
    ages = matrix.columns.astype(float)
    age = float(ages.max())
    gap = min(gap, round(age / 2))
    older = float(ages[np.abs(ages - (age - gap)).argmin()])
    return {
        "frequency": row,
        "recent": float(matrix.loc[row, age]),
        "old": float(matrix.loc[row, older]),
        "gap": age - older,
    }


# --------------------------------------------------------------------------- two protocols

#: How a row was trained. ``deployable``: only data up to the cutoff (BTYD models, the
#: rules, and the learned models trained on windows inside calibration); ``cross_fitted``:
#: a learned model trained over customer folds on other customers' holdout outcomes,
#: which no shop has when it scores today; ``ceiling``: the oracle.
PROTOCOLS: tuple[str, ...] = ("deployable", "cross_fitted", "ceiling")
#: Key suffix of a cross-fitted row in ``leaderboard.json`` (plain names are deployable).
CROSS_FITTED_SUFFIX = "@cross_fitted"
#: Rows that are learned from holdout-like targets (supervised, deep, fusions).
LEARNED_PREFIXES: tuple[str, ...] = ("gbdt", "deep", "stack", "average")


def is_learned(model: str) -> bool:
    """A supervised, deep or fused row (the ones with two protocols)."""
    return model.startswith(LEARNED_PREFIXES)


def row_protocol(key: str, row: Any = None) -> str:
    """The protocol of a leaderboard row (its ``protocol`` field, else from its key)."""
    if isinstance(row, dict) and row.get("protocol") in PROTOCOLS:
        return str(row["protocol"])
    if key.endswith(CROSS_FITTED_SUFFIX):
        return "cross_fitted"
    return "ceiling" if key == "oracle" else "deployable"


def protocol_board(
    cross_fitted: pd.DataFrame,
    deployable: pd.DataFrame,
    not_fitted: dict[str, str] | None = None,
) -> pd.DataFrame:
    """One board of both protocols, keyed for ``leaderboard.json``.

    Parameters
    ----------
    cross_fitted : DataFrame
        The leaderboard of the study's predictions (index model; learned rows there are
        cross-fitted; BTYD rows and rules use calibration data only).
    deployable : DataFrame
        The leaderboard of the learned models' deployable predictions.
    not_fitted : dict
        Learned model -> why it has no deployable prediction.

    Returns
    -------
    DataFrame
        Index = row key: a learned model's cross-fitted row is ``<model>@cross_fitted``,
        its deployable row the plain name; columns ``model``, ``protocol``, ``status``,
        ``reason`` and the metrics. Sorted by protocol (deployable first), then Gini.
    """
    cross = cross_fitted.copy()
    learned = [m for m in cross.index if is_learned(m)]
    cross["model"] = cross.index
    cross["protocol"] = [
        "cross_fitted" if m in learned else ("ceiling" if m == "oracle" else "deployable")
        for m in cross.index
    ]
    cross.index = [f"{m}{CROSS_FITTED_SUFFIX}" if m in learned else m for m in cross.index]
    ours = deployable.copy()
    ours["model"], ours["protocol"] = ours.index, "deployable"
    if "status" in cross.columns:
        ours["status"], ours["reason"] = "fitted", ""
    missing = [m for m in learned if m not in ours.index]
    why = not_fitted or {}
    gaps = pd.DataFrame(
        {
            "model": missing,
            "protocol": "deployable",
            "status": "not_fitted",
            "reason": [why.get(m, "not trained under the deployable protocol") for m in missing],
        },
        index=missing,
    )
    board = pd.concat([cross, ours, gaps.reindex(columns=ours.columns.union(gaps.columns))])
    order = {"deployable": 0, "ceiling": 1, "cross_fitted": 2}
    rank = board["protocol"].map(order)
    board = board.assign(_rank=rank).sort_values(["_rank", "gini"], ascending=[True, False])
    board.index.name = "row"
    return board.drop(columns="_rank")


def deployable_rows(board: pd.DataFrame | dict[str, Any]) -> pd.DataFrame:
    """The rows a headline, a model choice or an RL state may read: deployable, fitted.

    Accepts :func:`protocol_board`'s frame or ``leaderboard.json`` as a dict (summary
    entries without metrics are skipped). The oracle (a ceiling) is left out.
    """
    if isinstance(board, dict):
        rows = {
            k: v for k, v in board.items() if isinstance(v, dict) and ({"gini", "mae"} & set(v))
        }
        board = pd.DataFrame.from_dict(rows, orient="index")
    if board.empty:
        return board
    protocols = board["protocol"] if "protocol" in board else pd.Series(None, index=board.index)
    keep = [
        row_protocol(str(k), {"protocol": p}) == "deployable"
        for k, p in zip(board.index, protocols, strict=True)
    ]
    out = board.loc[keep]
    if "status" in out.columns:
        out = out[out["status"].fillna("fitted") == "fitted"]
    return out


def protocol_gaps(
    cross_fitted: pd.DataFrame,
    deployable: pd.DataFrame,
    customers: pd.DataFrame,
    seed: int,
    n_boot: int = 500,
) -> pd.DataFrame:
    """Per learned model: deployable minus cross-fitted Gini, with a paired interval.

    Both tidy prediction tables (``user_id, model, predicted_spend, p_zero``) are scored
    on the same customers and the same resamples
    (:func:`helpers.evaluation.metrics.paired_bootstrap`). Index ``model``; columns
    ``cross_fitted``, ``deployable`` (Gini), ``gap`` (deployable - cross-fitted), ``low``,
    ``high``. Models missing from either table are left out.
    """
    actual = customers["holdout_spend"]
    wide = {}
    for name, table in (("cross_fitted", cross_fitted), ("deployable", deployable)):
        joined = _joined(table, customers)
        wide[name] = joined.pivot(index="user_id", columns="model", values="predicted_spend")
    both = [m for m in wide["deployable"].columns if m in wide["cross_fitted"].columns]
    rows = []
    y = actual.reindex(wide["deployable"].index).to_numpy()
    for model in both:
        a = wide["deployable"][model].to_numpy()
        b = wide["cross_fitted"][model].reindex(wide["deployable"].index).to_numpy()
        result = metrics.paired_bootstrap(y, a, b, metrics.normalized_gini, seed, n_boot)
        rows.append(
            {
                "model": model,
                "cross_fitted": metrics.normalized_gini(y, b),
                "deployable": metrics.normalized_gini(y, a),
                "gap": result["difference"],
                "low": result["low"],
                "high": result["high"],
            }
        )
    columns = ["model", "cross_fitted", "deployable", "gap", "low", "high"]
    return pd.DataFrame(rows, columns=columns).set_index("model")


@dataclass(frozen=True)
class Headline:
    """The facts of stage 06's headline, read from deployable rows only."""

    best: str
    gini: float
    btyd: str | None
    btyd_gini: float | None

    @property
    def beats_btyd(self) -> bool:
        return self.btyd_gini is None or self.gini >= self.btyd_gini


def headline_facts(board: pd.DataFrame | dict[str, Any], metric: str = "gini") -> Headline:
    """Best deployable row by ``metric`` and the best BTYD row (cross-fitted rows and the
    oracle are never read)."""
    rows = deployable_rows(board)
    values = rows[metric].dropna().astype(float)
    if values.empty:
        raise ValueError("no fitted deployable row on the board")
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    best = str((sign * values).idxmax())
    names = rows["model"] if "model" in rows else pd.Series(rows.index, index=rows.index)
    btyd = values[names.reindex(values.index).isin(BTYD_MODELS).to_numpy()]
    top = str((sign * btyd).idxmax()) if len(btyd) else None
    return Headline(best, float(values[best]), top, float(btyd[top]) if top else None)


def protocol_gap_sentence(gaps: pd.DataFrame) -> str:
    """One sentence on :func:`protocol_gaps`: each model's deployable minus cross-fitted
    Gini with its interval, and whether the interval excludes 0."""
    if gaps.empty:
        return "No learned model has both a cross-fitted and a deployable row."
    parts = []
    for model, row in gaps.iterrows():
        verdict = (
            "deployable better" if row["low"] > 0 else
            "cross-fitted better" if row["high"] < 0 else "not distinguishable"
        )  # fmt: skip
        parts.append(
            f"{model} {row['deployable']:.3f} against {row['cross_fitted']:.3f} "
            f"({row['gap']:+.3f}, 95 % interval {row['low']:+.3f} to {row['high']:+.3f}: "
            f"{verdict})"
        )
    return (
        "Deployable minus cross-fitted normalised Gini, paired over the same customers: "
        + "; ".join(parts)
        + "."
    )
