"""The figure of notebook 06b's sweep: Gini gains over (a) against the signal's strength."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from helpers.studies.text_signal.blocks import CANDIDATE_LABELS


def plot_sweep(
    table: pd.DataFrame,
    default_kappa: float | None = None,
    xlabel: str = "kappa: log churn hazard ratio per SD of satisfaction",
    candidate: str | None = None,
) -> plt.Figure:
    """Gini gain of (b) text and (c) true satisfaction over (a), against ``kappa``.

    ``table`` has one row per strength with ``kappa``, ``gain_text``, ``gain_satisfaction``
    and their ``_lo`` / ``_hi`` interval columns (:func:`~.sweep.sweep_point`); ``candidate``
    names a further ``gain_<candidate>`` column to draw (e.g. ``text_compact``).
    """
    fig, ax = plt.subplots(figsize=(9.5, 4))
    table = table.sort_values("kappa")
    styles = {
        "satisfaction": ("(c) true satisfaction and experience (ceiling)", "black", "s"),
        "experience": ("(c'') perfect reader of the reviews' experience", "tab:brown", "P"),
        "reader": ("(c') truth-trained reader of the reviews", "tab:purple", "v"),
        "text": ("(b) text features", "tab:blue", "o"),
        "ratings": ("(d) star ratings only", "tab:orange", "^"),
    }
    if candidate:
        label = CANDIDATE_LABELS.get(candidate, candidate)
        styles[candidate] = (f"candidate: {label}", "tab:green", "D")
    for name, (label, color, marker) in styles.items():
        if f"gain_{name}" not in table:
            continue
        ax.plot(table["kappa"], table[f"gain_{name}"], marker=marker, color=color, label=label)
        ax.fill_between(
            table["kappa"],
            table[f"gain_{name}_lo"],
            table[f"gain_{name}_hi"],
            color=color,
            alpha=0.15,
        )
    ax.axhline(0, color="grey", lw=0.8)
    if default_kappa is not None:
        ax.axvline(default_kappa, color="grey", ls="--", lw=0.8, label="study default")
    ax.set(
        xlabel=xlabel,
        ylabel="normalised Gini gain over (a) (Gini points)",
        title="What reviews add to LightGBM, by strength of the satisfaction signal",
    )
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # clear of the lines
    fig.tight_layout()
    return fig
