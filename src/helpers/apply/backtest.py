"""Backtest consistency: the apply code at the study's cutoff reproduces the leaderboard.

:func:`helpers.apply.scoring.score_customers` with ``as_of`` = the study's cutoff and
``horizon_days`` = its holdout refits the BTYD models on exactly the calibration data of
stage 04a and predicts the same horizon, so their leaderboard figures on the same
customers must agree to rounding (1e-9; ``leaderboard.json`` stores 6 decimals, so the
comparison there is to 5e-7). The supervised production models are trained on an
earlier window than the study's cross-fitted ones; their figures are an out-of-time
check, shown beside the leaderboard's, not expected to be equal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from helpers.apply.scoring import ScoreResult
from helpers.evaluation import leaderboard as evaluation
from helpers.models.baselines import predictions_frame

__all__ = ["apply_predictions", "backtest_table"]

COMPARED: tuple[str, ...] = (
    "mae",
    "rmse",
    "gini",
    "spearman",
    "top10_capture",
    "decile_mape",
    "roc_auc",
    "pr_auc",
    "brier",
)


def apply_predictions(result: ScoreResult, customers: pd.Index) -> pd.DataFrame:
    """Tidy predictions (``user_id, model, predicted_spend, p_zero``) of every model the
    run fitted, for ``customers``."""
    frames = []
    for col in result.scores.columns:
        if not col.startswith("spend__"):
            continue
        name = col.removeprefix("spend__")
        rows = result.scores.reindex(customers)
        frames.append(predictions_frame(name, rows[col], p_zero=rows[f"p_zero__{name}"]))
    return pd.concat(frames, ignore_index=True)


def backtest_table(
    result: ScoreResult,
    customers: pd.DataFrame,
    board: dict[str, Any] | pd.DataFrame,
    metrics: Sequence[str] = COMPARED,
) -> pd.DataFrame:
    """Per (model, metric): the apply run's value, the leaderboard's, and their difference.

    ``customers`` are the study's targets (index user_id, ``holdout_spend``); ``board``
    is ``leaderboard.json`` (dict, 6 decimals) or a full-precision leaderboard frame
    (:func:`helpers.evaluation.leaderboard.leaderboard` of the study's predictions).
    Models missing from the board are left out.
    """
    if isinstance(board, pd.DataFrame):
        board = board.to_dict("index")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ours = evaluation.leaderboard(apply_predictions(result, customers.index), customers)
    rows = []
    for model, row in ours.iterrows():
        theirs = board.get(model)
        if not isinstance(theirs, dict):
            continue
        for metric in metrics:
            if metric not in row or theirs.get(metric) is None:
                continue
            a, b = float(row[metric]), float(theirs[metric])
            rows.append(
                {
                    "model": model,
                    "metric": metric,
                    "apply": a,
                    "leaderboard": b,
                    "abs_difference": abs(a - b) if np.isfinite(a) else np.nan,
                }
            )
    return pd.DataFrame(rows)
