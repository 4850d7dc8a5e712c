"""The leaderboard's deployable rows: every learned model trained as a shop would train it.

:func:`deployable_predictions` scores the study's customers at the study's cutoff with the
production code of stage 07 (:func:`helpers.apply.scoring.score_customers`) and the
recipe that the inner time split chose (:func:`helpers.apply.deployable.choose_recipe`):

* ``gbdt`` and ``gbdt_rfm``: LightGBM on the chosen rolling windows;
* deep rows that do not read the text block (``deep_no_text``): the deep model with
  stage 04b's tuned configuration and fixed epoch count, on the most recent of the same
  windows (``deep_anchors``);
* ``stack`` and ``average``: the fusions, fitted on a calibration window: the chosen
  LightGBM's predictions at the validation cutoff and the BG/NBD + Gamma-Gamma
  prediction fitted there, against the spend that followed inside calibration
  (non-negative least squares with an intercept; weights on the simplex). At the
  cutoff the same weights combine the deployable LightGBM and the BG/NBD fitted on all
  calibration purchases.

Rows that cannot be trained this way keep a reason: the deep rows that read the text
block (stage 02 computes text features at the study's cutoff only, so none exist at an
anchor inside calibration). Nothing from the holdout period is read: events after the
cutoff are dropped before anything is computed.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize, nnls

from helpers.apply.deep import DeepProduction, is_deep_model
from helpers.apply.deployable import (
    CANDIDATES,
    DAY,
    FeatureCache,
    Recipe,
    RecipeChoice,
    choose_recipe,
)
from helpers.apply.scoring import ApplyError, score_customers
from helpers.data.split import as_utc
from helpers.features.behaviour import DEFAULT_WINDOWS
from helpers.models.baselines import predictions_frame

__all__ = ["FUSIONS", "DeployableRun", "deployable_predictions", "fusion_weights"]

#: The fused rows and how each is fitted on the calibration window.
FUSIONS: tuple[str, ...] = ("stack", "average")
TEXT_REASON = (
    "reads the text block, which stage 02 computes at the study's cutoff only: no text "
    "features exist at a training anchor inside calibration"
)


@dataclass
class DeployableRun:
    """Deployable predictions of the learned models and how they were made."""

    predictions: pd.DataFrame
    choice: RecipeChoice
    not_fitted: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    weights: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def recipe(self) -> Recipe:
        return self.choice.recipe


def fusion_weights(bases: pd.DataFrame, actual: pd.Series) -> dict[str, dict[str, float]]:
    """Stacking (NNLS with intercept) and simplex weights of ``bases`` for ``actual``."""
    x = bases.to_numpy(dtype=float)
    y = actual.reindex(bases.index, fill_value=0.0).to_numpy(dtype=float)
    coef, _ = nnls(np.column_stack([x, np.ones(len(y))]), y)
    stack = dict(zip([*bases.columns, "intercept"], map(float, coef), strict=True))
    k = x.shape[1]
    result = minimize(
        lambda w: float(np.mean((x @ w - y) ** 2)),
        np.full(k, 1.0 / k),
        method="SLSQP",
        bounds=[(0.0, 1.0)] * k,
        constraints=[{"type": "eq", "fun": lambda w: float(np.sum(w) - 1.0)}],
    )
    average = dict(zip(bases.columns, map(float, np.clip(result.x, 0.0, 1.0)), strict=True))
    return {"stack": stack, "average": average}


def _fused(
    weights: Mapping[str, Mapping[str, float]], bases: pd.DataFrame, scale: float
) -> dict[str, pd.Series]:
    out = {}
    for name, w in weights.items():
        value = sum(bases[c] * w[c] for c in bases.columns)
        if "intercept" in w:
            value = value + w["intercept"] * scale
        out[name] = value.clip(lower=0.0)
    return out


def deployable_predictions(
    events: pd.DataFrame,
    cutoff: Any,
    horizon_days: int,
    customers: pd.Index,
    seed: int,
    selected_features: Sequence[str] | None = None,
    learned: Sequence[str] = ("gbdt", "gbdt_rfm"),
    deep: Mapping[str, DeepProduction | None] | None = None,
    fusions: Sequence[str] = FUSIONS,
    candidates: Sequence[Recipe] = CANDIDATES,
    deep_anchors: int | None = 1,
    **score_options: Any,
) -> DeployableRun:
    """Deployable predictions of the learned models for ``customers`` at ``cutoff``.

    Parameters
    ----------
    events : DataFrame
        Canonical events; those after ``cutoff`` are dropped first.
    cutoff, horizon_days
        The study's last calibration day and holdout length.
    customers : Index
        The study's customers (purchase on or before the cutoff).
    learned : sequence of str
        LightGBM rows (``gbdt``, ``gbdt_rfm``).
    deep : mapping
        Deep row -> its production configuration (or None when there is none: the row
        is left out with the reason).
    fusions : sequence of str
        Fused rows to fit on the calibration window (:data:`FUSIONS`).
    candidates : sequence of Recipe
        The recipes the inner time split chooses from.
    deep_anchors : int, optional
        The deep rows train on the most recent ``deep_anchors`` windows of the chosen
        recipe (default 1: the deep model's cost grows with its rows; None: all).
    **score_options
        Passed to :func:`~helpers.apply.scoring.score_customers` (LightGBM settings,
        ``windows``, ``feature_threads``).
    """
    start = time.perf_counter()
    cut = as_utc(cutoff).normalize()
    events = events.loc[events["ts"] < cut + DAY]
    lgb_options = {k: v for k, v in score_options.items() if k.startswith("gbdt_")}
    choice = choose_recipe(
        events, cutoff, horizon_days, seed, selected_features, candidates,
        windows=score_options.get("windows", DEFAULT_WINDOWS),
        feature_threads=score_options.get("feature_threads", 1), **lgb_options,
    )  # fmt: skip
    seconds = {"choose_recipe": time.perf_counter() - start}
    frames, not_fitted, spend = [], {}, {}
    cache = FeatureCache(
        events,
        score_options.get("windows", DEFAULT_WINDOWS),
        score_options.get("feature_threads", 1),
    )
    common = {
        "seed": seed, "selected_features": selected_features, "progress": False,
        "btyd_models": (), "intervals": False, "recipe": choice.recipe, "feature_cache": cache,
        "deep_anchors": deep_anchors, **score_options,
    }  # fmt: skip
    runs: list[tuple[str, dict[str, Any]]] = [(m, {}) for m in learned]
    for name, production in (deep or {}).items():
        if production is None or not production.applicable:
            not_fitted[name] = TEXT_REASON if production is not None else "no configuration"
            continue
        runs.append((name, {"deep": production}))
    for name, extra in runs:
        begin = time.perf_counter()
        try:
            result = score_customers(events, cutoff, horizon_days, name, **common, **extra)
        except ApplyError as exc:
            not_fitted[name] = str(exc)
            continue
        rows = result.scores.reindex(customers)
        spend[name] = rows[f"spend__{name}"]
        frames.append(predictions_frame(name, rows[f"spend__{name}"], rows[f"p_zero__{name}"]))
        seconds[name] = time.perf_counter() - begin
    weights = {}
    if fusions and "gbdt" in spend:
        begin = time.perf_counter()
        v, days = choice.validation_cutoff, choice.validation_days
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            then = choice.cache.btyd(v, days)["btyd_spend"]
            now = cache.btyd(cut, horizon_days)["btyd_spend"]
        valid = choice.validation
        bases = pd.DataFrame({"gbdt": valid["gbdt"], "bgnbd": then.reindex(valid.index)})
        weights = fusion_weights(bases.fillna(0.0), valid["actual"])
        weights = {k: w for k, w in weights.items() if k in fusions}
        today = pd.DataFrame({"gbdt": spend["gbdt"], "bgnbd": now.reindex(customers)}).fillna(0.0)
        for name, value in _fused(weights, today, horizon_days / days).items():
            frames.append(predictions_frame(name, value))
        seconds["fusions"] = time.perf_counter() - begin
    elif fusions:
        for name in fusions:
            not_fitted[name] = "LightGBM could not be trained on the calibration windows"
    predictions = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    seconds["total"] = time.perf_counter() - start
    return DeployableRun(predictions, choice, not_fitted, seconds, weights)


def deep_rows(models: Sequence[str]) -> list[str]:
    """The deep rows among ``models`` (``deep`` and its ablations)."""
    return [m for m in models if is_deep_model(m)]
