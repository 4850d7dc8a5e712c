"""Reading SHAP attributions: global importance, summary plots, a customer's story.

Attributions come from ``shap.TreeExplainer`` (LightGBM) and ``shap.GradientExplainer``
(the deep model, :func:`helpers.models.deep.explain_deep`); each is a frame of customers ×
features whose row sums, plus the explainer's base value, give the model's output.

References
----------
Lundberg & Lee (2017), A unified approach to interpreting model predictions. NeurIPS.
Lundberg et al. (2020), From local explanations to global understanding with
explainable AI for trees. Nature Machine Intelligence 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import shap


def shap_importance(values: pd.DataFrame) -> pd.Series:
    """Mean absolute SHAP value per feature, largest first."""
    return values.abs().mean().sort_values(ascending=False).rename("mean_abs_shap")


def plot_shap_summary(
    values: pd.DataFrame, data: pd.DataFrame, title: str, seed: int, top: int = 12
) -> plt.Figure:
    """SHAP beeswarm summary: each dot a customer, colour the feature's value.

    The beeswarm shuffles and jitters its dots; ``seed`` makes the figure the same on
    every run (SHAP would otherwise draw from the global NumPy state).
    """
    plt.figure()  # shap draws on the current figure: start a fresh one
    shap.summary_plot(
        values.to_numpy(),
        data[values.columns],
        max_display=top,
        show=False,
        plot_size=(8, 5),
        rng=np.random.default_rng(seed),
    )
    axis = plt.gcf().axes[0]
    axis.set_xlabel(f"{axis.get_xlabel()} (the model's output units)")
    fig = plt.gcf()
    fig.suptitle(title)
    return fig


def _describe(feature: str, value: float) -> str:
    if feature.endswith("_days") or feature.startswith("days_since"):
        return f"{feature.replace('_', ' ')} = {value:.0f}"
    if float(value).is_integer():
        return f"{feature.replace('_', ' ')} = {value:.0f}"
    return f"{feature.replace('_', ' ')} = {value:.2f}"


def customer_story(
    values: pd.Series, data: pd.Series, top: int = 3, output: str = "predicted value"
) -> str:
    """A marketer-readable sentence: what pushes one customer's prediction up and down.

    Parameters
    ----------
    values : Series
        One customer's SHAP values (feature → attribution).
    data : Series
        The same customer's feature values (features missing from ``data``, such as the
        deep model's summarised ``sequence`` input, are named without a value).
    top : int
        Drivers listed on each side.
    output : str
        What the attributions explain, for the sentence.
    """
    ordered = values.sort_values()
    ups = ordered[ordered > 0].iloc[::-1].head(top)
    downs = ordered[ordered < 0].head(top)

    def phrase(items: pd.Series) -> str:
        parts = []
        for feature, contribution in items.items():
            label = _describe(feature, data[feature]) if feature in data.index else feature
            parts.append(f"{label} ({contribution:+.2f})")
        return ", ".join(parts) if parts else "nothing notable"

    return f"Raising the {output}: {phrase(ups)}. Lowering it: {phrase(downs)}."


def pick_customers(prediction: pd.Series, n: int = 3) -> list:
    """Customers at the top, the median and the bottom of the predictions (for stories)."""
    ranked = prediction.sort_values()
    positions = np.unique(np.linspace(0, len(ranked) - 1, n).round().astype(int))[::-1]
    return [ranked.index[i] for i in positions]


@dataclass(frozen=True)
class ExplanationSample:
    """Positions of the customers explained and of the explainer's background."""

    explain: np.ndarray
    background: np.ndarray


def explanation_sample(
    folds: np.ndarray, n_explain: int, seed: int, n_background: int = 200, fold: int = 0
) -> ExplanationSample:
    """Customers to explain (from ``fold``, unseen by that fold's models) and a background.

    The explained customers are drawn from ``fold``, whose models never saw them; the
    background (the reference distribution of expected gradients) from the other folds.
    Both are sorted positions, drawn without replacement with ``default_rng(seed)``.
    """
    folds = np.asarray(folds)
    rng = np.random.default_rng(seed)
    inside = np.flatnonzero(folds == fold)
    outside = np.flatnonzero(folds != fold)
    if inside.size == 0 or outside.size == 0:
        raise ValueError(f"fold {fold} and the other folds must both hold customers")
    explain = np.sort(rng.choice(inside, size=min(n_explain, inside.size), replace=False))
    background = np.sort(
        rng.choice(outside, size=min(n_background, inside.size, outside.size), replace=False)
    )
    return ExplanationSample(explain=explain, background=background)


def tree_shap(model: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """Exact TreeSHAP values of a tree model on ``frame`` (same index and columns)."""
    values = shap.TreeExplainer(model).shap_values(frame)
    return pd.DataFrame(np.asarray(values), index=frame.index, columns=frame.columns)


def save_explanation(
    values: pd.DataFrame, data: pd.DataFrame, folder: str | Path, name: str
) -> None:
    """Write ``{name}_values.parquet`` and ``{name}_data.parquet`` (folder created)."""
    if not values.index.equals(data.index):
        raise ValueError("SHAP values and feature data must cover the same customers")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    values.to_parquet(folder / f"{name}_values.parquet")
    data.to_parquet(folder / f"{name}_data.parquet")


def load_explanation(folder: str | Path, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read what :func:`save_explanation` wrote: (values, data)."""
    folder = Path(folder)
    return (
        pd.read_parquet(folder / f"{name}_values.parquet"),
        pd.read_parquet(folder / f"{name}_data.parquet"),
    )
