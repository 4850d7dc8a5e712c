"""Score, segment, act, recommend: the one function behind stage 07 and ``helpers score``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from helpers.apply import recommend
from helpers.apply.actions import ActionPlan, recommend_actions, uninformative_plan
from helpers.apply.rhythm import history_and_rhythm
from helpers.apply.scoring import (
    BTYD_MODELS,
    SUPERVISED_MODELS,
    ApplyError,
    ScoreResult,
    score_customers,
)
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


def _score_with_fallback(
    failure: ApplyError,
    events: pd.DataFrame,
    as_of: Any,
    horizon_days: int,
    model: str,
    seed: int,
    selected_features: Sequence[str] | None,
    progress: bool,
    score_options: Mapping[str, Any],
) -> ScoreResult:
    """Score with the first BTYD model that can be fitted, after ``model`` failed.

    Too little history for a supervised training window (:class:`HistoryError`), or a
    chosen model that cannot be fitted on the production window (e.g. a Pareto/NBD fit
    at its boundary): BTYD models need no training window, so each is tried first
    (``model`` first when it is one), then the supervised models. Every reason is kept
    in ``result.not_fitted``. Raises :class:`ApplyError` naming every reason when none
    fits.
    """
    reasons = {model: str(failure)}
    btyd = ([model] if model in BTYD_MODELS else []) + [m for m in BTYD_MODELS if m != model]
    supervised = [m for m in SUPERVISED_MODELS if m != model]
    for candidate in btyd + supervised:
        options = dict(score_options)
        if candidate in BTYD_MODELS:  # no training window needed: LightGBM is skipped
            options["supervised"] = "if_possible"
        try:
            result = score_customers(
                events,
                as_of,
                horizon_days,
                candidate,
                seed=seed,
                selected_features=selected_features,
                progress=progress,
                **options,
            )
        except ApplyError as exc:
            reasons[candidate] = str(exc)
            continue
        for name, why in reasons.items():
            if name != candidate:
                result.not_fitted[name] = f"{why} (scored with {candidate} instead)"
        return result
    raise ApplyError(
        "no model could be fitted for production: "
        + "; ".join(f"{name}: {why}" for name, why in reasons.items())
    ) from failure


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
    informative: bool = True,
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
    except ApplyError as exc:
        if not fallback_to_btyd or score_options.get("supervised") == "if_possible":
            raise  # the CLI fails clearly; the stage (fallback_to_btyd) scores with BTYD
        result = _score_with_fallback(
            exc,
            events,
            as_of,
            horizon_days,
            model,
            seed,
            selected_features,
            progress,
            score_options,
        )
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
    if not informative:  # the model predicts no more than a rule of thumb: act on nothing
        plan = uninformative_plan(plan)
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
        policy=plan.policy,
        informative=informative,
        history=history_and_rhythm(events, result.windows.as_of, scores.index),
    )
    return Applied(table=table, result=result, plan=plan, recommender=used)
