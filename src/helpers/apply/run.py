"""Score, segment, act, recommend: the one function behind stage 07 and ``helpers score``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from helpers.apply import recommend
from helpers.apply.actions import ActionPlan, recommend_actions
from helpers.apply.scoring import BTYD_MODELS, HistoryError, ScoreResult, score_customers
from helpers.apply.segments import segment_customers, value_deciles
from helpers.apply.table import assemble_table

__all__ = ["Applied", "apply_models"]


@dataclass
class Applied:
    """Everything one production run produced (``table`` is what gets written)."""

    table: pd.DataFrame
    result: ScoreResult
    plan: ActionPlan
    recommender: str | None


def apply_models(
    events: pd.DataFrame,
    as_of: Any,
    horizon_days: int,
    model: str,
    seed: int,
    rl_params: Mapping[str, Any],
    segments: Mapping[str, float],
    rl_summary: Mapping[str, Any] | None = None,
    selected_features: Sequence[str] | None = None,
    recommender: str = "recent_interest",
    recommender_params: recommend.RecentInterest | None = None,
    progress: bool = True,
    fallback_to_btyd: bool = False,
    policy_file: str | Path | None = None,
    policy_newer_than: Sequence[str | Path] = (),
    **score_options: Any,
) -> Applied:
    """Score every customer at ``as_of`` and build the CRM table.

    Steps: :func:`~helpers.apply.scoring.score_customers` (the models),
    :func:`~helpers.apply.segments.segment_customers` (``segments``: ``high_share``,
    ``medium_share``, ``at_risk_p_no_purchase``), this month's actions under the ``rl``
    budget (:func:`~helpers.apply.actions.recommend_actions`: stage 05's pickled
    ``policy_file`` when present and not older than ``policy_newer_than``, else a
    heuristic fallback, with the reason), and the top three next
    categories of ``recommender`` (skipped when the data have no categories; without
    ``recommender_params`` they are chosen by
    :func:`~helpers.apply.recommend.tune_recent_interest` on a replay ending at ``as_of``).
    With ``fallback_to_btyd`` (stage 07), data too short for a production training
    window are scored with the BTYD model instead of raising :class:`HistoryError`
    (the reason is kept in ``result.not_fitted``); the CLI leaves it off and fails.
    """
    try:
        result = score_customers(
            events,
            as_of,
            horizon_days,
            model,
            seed=seed,
            selected_features=selected_features,
            progress=progress,
            **score_options,
        )
    except HistoryError as exc:
        if not fallback_to_btyd or score_options.get("supervised") == "if_possible":
            raise  # the CLI fails clearly; the stage (fallback_to_btyd) scores with BTYD
        # Too little history to train a supervised model for production: score with a
        # BTYD model (it needs no training window), skip LightGBM, and record why.
        fallback = model if model in BTYD_MODELS else BTYD_MODELS[0]
        options = {**score_options, "supervised": "if_possible"}
        result = score_customers(
            events,
            as_of,
            horizon_days,
            fallback,
            seed=seed,
            selected_features=selected_features,
            progress=progress,
            **options,
        )
        if fallback != model:
            result.not_fitted[model] = f"{exc} (scored with {fallback} instead)"
    scores = result.scores
    segment = segment_customers(scores["predicted_spend"], scores["p_no_purchase"], **segments)
    deciles = value_deciles(scores["predicted_spend"])
    plan = recommend_actions(
        result.summary,
        result.btyd_fits,
        rl_params,
        seed,
        rl_summary,
        policy_file=policy_file,
        newer_than=policy_newer_than,
    )
    categories, used = None, None
    if recommend.has_categories(events):
        if recommender_params is None:  # chosen on a replay that ends at as_of
            recommender_params, _ = recommend.tune_recent_interest(
                events, scores.index, result.windows.score_instant, result.windows.horizon_days
            )
        categories = recommend.recommend(
            events, scores.index, result.windows.score_instant, recommender, recommender_params
        )
        used = recommender
    table = assemble_table(
        scores,
        result.windows.as_of,
        result.windows.horizon_days,
        result.model,
        segment,
        deciles,
        plan.table,
        categories,
    )
    return Applied(table=table, result=result, plan=plan, recommender=used)
