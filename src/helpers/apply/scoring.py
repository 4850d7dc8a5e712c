"""Score today's customers: the one code path of stage 07 and ``python -m helpers score``.

Production protocol (what a shop would run on the morning of ``as_of + 1``):

* ``as_of`` is the last day of data used (inclusive, UTC), like the study's ``cutoff``.
  Every event after it is dropped first, so nothing later can reach a prediction.
* **BTYD models** (Pareto/NBD, BG/NBD, Gamma-Gamma) are refitted on all purchases up to
  ``as_of`` and predict the next ``horizon_days`` (:func:`helpers.models.btyd.predict_btyd`).
* **Supervised models** (LightGBM) are trained the way they would be in production:
  features as of ``as_of - H`` (:func:`helpers.features.behaviour.behaviour_features`),
  targets = spend over ``(as_of - H, as_of]``, ``H = horizon_days`` (the study's holdout
  length); early stopping on a seeded share of held-apart customers
  (:func:`helpers.models.crossfit.early_stopping_split`). They then score features as of
  ``as_of``. Four boosters: Tweedie spend (the mean), binary "no purchase", and the 10 %
  and 90 % quantiles of spend (pinball loss, Koenker & Bassett 1978), which form the
  80 % interval of every customer's spend whatever model gives the point prediction.

With ``as_of`` = the study's cutoff the BTYD predictions are exactly those of stage
04a (same data, same fits, same horizon): the backtest of :mod:`helpers.apply.backtest`
checks it to 1e-9. The supervised models are not the study's cross-fitted ones (those
learned from the other customers' holdout outcomes, which production cannot see); their
backtest is an out-of-time check instead.

References
----------
Fader, Hardie & Lee (2005), "Counting your customers the easy way", Marketing Science.
Ke et al. (2017), LightGBM. NeurIPS. Koenker & Bassett (1978), Regression quantiles.
Econometrica 46(1).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from tqdm import tqdm

from helpers.apply.deep import DeepProduction, fit_score_deep, is_deep_model
from helpers.apply.deployable import (
    BTYD_INPUTS,
    MIN_TRAIN_BUYERS,
    SINGLE_WINDOW,
    TARGETS,
    FeatureCache,
    Recipe,
    scale_to_horizon,
    supervised_columns,
    train_boosters,
    training_set,
    window_spend,
)
from helpers.data.split import as_utc, purchase_days
from helpers.features.behaviour import DEFAULT_WINDOWS
from helpers.models import btyd, btyd_intervals

__all__ = [
    "BTYD_MODELS",
    "REFIT_BTYD_MODELS",
    "SUPERVISED_MODELS",
    "APPLICABLE_MODELS",
    "ApplyError",
    "AsOfError",
    "HistoryError",
    "ProductionWindows",
    "ScoreResult",
    "MIN_TRAIN_BUYERS",
    "production_windows",
    "score_customers",
    "supervised_columns",
    "window_spend",
]

#: BTYD models fitted beside every run (P(alive), the backtest's exact check).
BTYD_MODELS: tuple[str, ...] = ("pareto_nbd", "bgnbd")
#: BTYD models a run can refit when one is the chosen model.
REFIT_BTYD_MODELS: tuple[str, ...] = (*BTYD_MODELS, "mbgnbd")
SUPERVISED_MODELS: tuple[str, ...] = ("gbdt", "gbdt_rfm")
#: Models stage 07 refits without further artifacts (deep rows need ``deep=``, see
#: :mod:`helpers.apply.deep`).
APPLICABLE_MODELS: tuple[str, ...] = (*SUPERVISED_MODELS, *REFIT_BTYD_MODELS)
DAY = pd.Timedelta(days=1)


class ApplyError(ValueError):
    """Scoring cannot run as asked; the message says why and what to change."""


class AsOfError(ApplyError):
    """``as_of`` lies after the end of the data (or before its start)."""


class HistoryError(ApplyError):
    """The data hold too little history before ``as_of`` for the training window."""


@dataclass(frozen=True)
class ProductionWindows:
    """The days of one production run (all UTC calendar days, inclusive).

    ``train_cutoff = as_of - horizon_days``: supervised features are computed as of the
    end of that day and learn spend over ``(train_cutoff, as_of]``.
    """

    as_of: pd.Timestamp
    horizon_days: int
    train_cutoff: pd.Timestamp
    first_day: pd.Timestamp
    last_day: pd.Timestamp

    @property
    def score_instant(self) -> pd.Timestamp:
        """Exclusive end of the scored history (midnight after ``as_of``)."""
        return self.as_of + DAY

    @property
    def train_instant(self) -> pd.Timestamp:
        """Exclusive end of the training features' history."""
        return self.train_cutoff + DAY

    @property
    def horizon_end(self) -> pd.Timestamp:
        """Last day of the predicted period."""
        return self.as_of + pd.Timedelta(days=self.horizon_days)


def _day(value: Any) -> pd.Timestamp:
    return as_utc(value).normalize()


def production_windows(
    events: pd.DataFrame,
    as_of: Any,
    horizon_days: int,
    supervised: bool = True,
    train_days: int | None = None,
) -> ProductionWindows:
    """Check ``as_of`` and the history against the data and return the run's days.

    ``train_days`` is the supervised training window (default ``horizon_days``; a
    :class:`~helpers.apply.deployable.Recipe` may choose a shorter one):
    ``train_cutoff = as_of - train_days``.

    Raises
    ------
    AsOfError
        ``as_of`` after the last day of the data, or before its first purchase.
    HistoryError
        (``supervised`` only) fewer than ``MIN_TRAIN_BUYERS`` customers bought before
        ``as_of - horizon_days`` and again in ``(as_of - horizon_days, as_of]``: the
        data are too short for the training window.
    """
    if int(horizon_days) < 1:
        raise ApplyError(f"horizon_days must be at least 1, got {horizon_days}")
    days = purchase_days(events)
    if days.empty:
        raise HistoryError("the data hold no purchase: nothing to score")
    first, last = days["day"].min(), _day(events["ts"].max())
    day = _day(as_of)
    if day > last:
        raise AsOfError(
            f"as_of {day.date()} is after the end of the data ({last.date()}): a score "
            f"can only use data that exist; use --as-of {last.date()} or earlier"
        )
    if day < first:
        raise AsOfError(f"as_of {day.date()} is before the first purchase ({first.date()})")
    windows = ProductionWindows(
        as_of=day,
        horizon_days=int(horizon_days),
        train_cutoff=day - pd.Timedelta(days=int(train_days or horizon_days)),
        first_day=first,
        last_day=last,
    )
    if supervised:
        before = set(days.loc[days["day"] <= windows.train_cutoff, "user_id"])
        target = days.loc[(days["day"] > windows.train_cutoff) & (days["day"] <= day)]
        buyers = len(before & set(target["user_id"]))
        if buyers < MIN_TRAIN_BUYERS:
            raise HistoryError(
                f"too little history for the training window: the supervised models learn "
                f"spend over ({windows.train_cutoff.date()}, {day.date()}] from customers "
                f"who bought before; {len(before):,} customers bought on or before "
                f"{windows.train_cutoff.date()} and {buyers} of them again in the window "
                f"(at least {MIN_TRAIN_BUYERS} needed; the data start {first.date()}). "
                "Choose a later as_of, a shorter horizon, or a BTYD model."
            )
    return windows


@dataclass
class ScoreResult:
    """Scores of one production run.

    Attributes
    ----------
    scores : DataFrame
        Index ``user_id`` (every customer with a purchase on or before ``as_of``),
        columns ``predicted_spend``, ``spend_q10``, ``spend_q90``, ``p_no_purchase``,
        ``p_alive`` and, per fitted model, ``spend__<model>`` / ``p_zero__<model>``.
    model : str
        The model giving ``predicted_spend`` and ``p_no_purchase``.
    windows : ProductionWindows
    summary : DataFrame
        BTYD summary at ``as_of`` (history of the scored customers).
    btyd_fits : dict
        Fitted BTYD models by name (``gamma_gamma`` included).
    not_fitted : dict
        Model name -> reason, for models that could not be fitted here.
    best_iterations : dict
        Boosting rounds kept per supervised target (and ``<deep model>_epochs``).
    recipe : Recipe
        The training recipe of the supervised models (see the attribute).
    boosters : dict
        The production LightGBM boosters by target (``spend``, ``zero``, ``q10``,
        ``q90``), for :class:`helpers.apply.batch.ProductionModel`.
    repairs : dict
        Model name -> customers whose non-finite BTYD prediction was recomputed
        stably (:func:`helpers.models.btyd.predict_btyd`).
    """

    scores: pd.DataFrame
    model: str
    windows: ProductionWindows
    summary: pd.DataFrame
    btyd_fits: dict[str, btyd.BTYDFit] = field(default_factory=dict)
    not_fitted: dict[str, str] = field(default_factory=dict)
    best_iterations: dict[str, int] = field(default_factory=dict)
    p_alive_model: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    repairs: dict[str, int] = field(default_factory=dict)
    boosters: dict[str, lgb.Booster] = field(default_factory=dict, repr=False)
    #: how the supervised models were trained; their predictions for ``horizon_days`` are
    #: the ``recipe.window_days(horizon_days)``-day predictions scaled by
    #: :func:`helpers.apply.deployable.scale_to_horizon` (BTYD inputs among the columns
    #: when ``recipe.btyd_inputs``)
    recipe: Recipe = SINGLE_WINDOW

    @property
    def scoring_seconds(self) -> float:
        """Seconds of the scoring proper (today's features and predictions, no fitting)."""
        keys = ("features_today", "btyd_predict", "boosters_predict", "assemble")
        return sum(self.timings.get(k, 0.0) for k in keys)


def _fit_btyd(
    summary: pd.DataFrame,
    models: Sequence[str],
    penalizer: float = 0.0,
    method: str = "map",
    priors: Any = "default",
    seed: int = 0,
) -> tuple[dict[str, btyd.BTYDFit], dict[str, str]]:
    """Fit the spend model and each of ``models`` (any of :data:`helpers.models.btyd.FITTERS`:
    BG/NBD, Pareto/NBD, MBG/NBD) as stage 04a does: ``method`` and ``priors`` are the
    study's ``train.btyd_method`` / ``train.btyd_priors``, ``seed`` its seed (ADVI / MCMC
    draws; a MAP fit does not depend on it). Returns the fits and, for a model that could
    not be fitted, the reason."""
    fits: dict[str, btyd.BTYDFit] = {}
    failed: dict[str, str] = {}
    options: dict[str, Any] = {"penalizer": penalizer}  # the defaults stay implicit
    if (method, priors) != ("map", "default"):
        options.update(method=method, priors=priors, **({} if method == "map" else {"seed": seed}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", btyd.BTYDFitWarning)
        try:
            fits["gamma_gamma"] = btyd.fit_spend_model(summary, **options)
        except btyd.BTYDFitError as exc:
            failed["gamma_gamma"] = exc.reason
        for name in models:
            try:
                fitter = getattr(btyd, f"fit_{name}")  # btyd.FITTERS, looked up at call time
                fits[name] = fitter(summary, **options)
            except btyd.BTYDFitError as exc:
                failed[name] = exc.reason
    return fits, failed


class _SupervisedRun:
    """The supervised part of one run: training rows of ``recipe`` and today's features."""

    def __init__(
        self,
        events: pd.DataFrame,
        win: ProductionWindows,
        recipe: Recipe,
        windows: Sequence[int],
        threads: int | None,
        selected: Sequence[str] | None,
        customers: pd.Index,
        lap: Any,
        cache: FeatureCache | None = None,
        deep_anchors: int | None = None,
    ):
        self.events, self.win, self.recipe, self.threads = events, win, recipe, threads
        self.selected, self.deep_anchors = selected, deep_anchors
        usable = cache is not None and cache.windows == tuple(windows)
        usable = usable and len(cache.events) == len(events)
        usable = usable and cache.events["ts"].max() == events["ts"].max()
        self.cache = cache if usable else FeatureCache(events, windows, threads)
        self.train = training_set(self.cache, win.as_of, win.horizon_days, recipe)
        lap("features_train")
        self.today = self.cache.frame(
            win.as_of, self.train.window_days, recipe.btyd_inputs, customers=customers
        )
        lap("features_today")

    def _scaled(self, predictions: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return scale_to_horizon(predictions, self.train.window_days, self.win.horizon_days)

    def boosters(
        self,
        model: str,
        seed: int,
        valid_share: float,
        params: dict[str, Any] | None,
        max_rounds: int,
        early_stopping: int,
        lap: Any,
        intervals: bool = True,
    ) -> tuple[list[str], dict[str, lgb.Booster], dict[str, int], dict[str, np.ndarray]]:
        """Fit the four LightGBM boosters and predict today (scaled to the horizon)."""
        learner = model if model in SUPERVISED_MODELS else "gbdt"
        columns = supervised_columns(self.train.features, learner, self.selected)
        columns = [c for c in columns if c in self.today]
        several = len(self.train.anchors) > 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            boosters, best = train_boosters(
                self.train.features[columns].to_numpy(dtype=float), self.train.target, columns,
                seed, valid_share, params, max_rounds, early_stopping,
                groups=self.train.features.index.to_numpy() if several else None,
                targets=TARGETS if intervals else ("spend", "zero"),
            )  # fmt: skip
        lap("boosters_fit")
        x_today = self.today[columns].to_numpy(dtype=float)
        pred = {
            name: booster.predict(x_today, num_iteration=booster.best_iteration)
            for name, booster in boosters.items()
        }
        return columns, boosters, best, self._scaled(pred)

    def deep(
        self, production: DeepProduction, selected: Sequence[str], seed: int, progress: bool
    ) -> tuple[dict[str, np.ndarray], int]:
        """Fit the deep row on the same windows and predict today (scaled)."""
        first = self.train.anchors[0]
        train = self.train.frames[first]
        y = window_spend(self.events, first, first + pd.Timedelta(days=self.train.window_days))
        y = y.reindex(train.index, fill_value=0.0)
        inputs = list(dict.fromkeys([*selected, *(c for c in BTYD_INPUTS if c in train)]))
        h = pd.Timedelta(days=self.train.window_days)
        anchors = self.train.anchors[1 : self.deep_anchors]  # most recent first
        more = [
            (t + DAY, self.train.frames[t], window_spend(self.events, t, t + h)) for t in anchors
        ]
        options = {"more_windows": more} if more else {}
        predicted, facts = fit_score_deep(
            self.events, first + DAY, self.win.score_instant, train, self.today, y, inputs,
            production, seed, threads=self.threads, progress=progress, **options,
        )  # fmt: skip
        raw = {
            "spend": predicted["predicted_spend"].to_numpy(),
            "zero": predicted["p_zero"].to_numpy(),
            "q10": predicted["q10"].to_numpy(),
            "q90": predicted["q90"].to_numpy(),
        }
        scaled = self._scaled(raw)
        scaled["p_zero"] = scaled.pop("zero")
        return scaled, int(facts["kept_epoch"])


def score_customers(
    events: pd.DataFrame,
    as_of: Any,
    horizon_days: int,
    model: str,
    seed: int,
    selected_features: Sequence[str] | None = None,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    btyd_models: Sequence[str] = BTYD_MODELS,
    btyd_penalizer: float = 0.0,
    gbdt_params: dict[str, Any] | None = None,
    gbdt_valid_share: float = 0.2,
    gbdt_max_rounds: int = 2000,
    gbdt_early_stopping: int = 50,
    feature_threads: int | None = 1,
    progress: bool = True,
    supervised: str = "required",
    deep: DeepProduction | None = None,
    recipe: Recipe = SINGLE_WINDOW,
    intervals: bool = True,
    deep_anchors: int | None = None,
    feature_cache: FeatureCache | None = None,
    btyd_method: str = "map",
    btyd_priors: Any = "default",
) -> ScoreResult:
    """Predict every customer's spend over the next ``horizon_days`` after ``as_of``.

    Parameters
    ----------
    events : DataFrame
        Canonical events (validated); events after ``as_of`` are dropped first.
    as_of : date-like
        Last day of data used (inclusive, UTC).
    horizon_days : int
        Days predicted (the study's holdout length ``H``); also the supervised models'
        training window.
    model : str
        One of :data:`APPLICABLE_MODELS`, or a deep row (``deep_no_text``, ...) with
        ``deep`` given: it gives ``predicted_spend`` and ``p_no_purchase``.
    seed : int
        The study's seed (early-stopping split and LightGBM).
    selected_features : sequence of str, optional
        The study's selected behaviour features (for ``gbdt``).
    btyd_models : sequence of str
        BTYD transaction models to fit (P(alive) comes from the first one fitted, or
        from ``model`` when it is one of them).
    supervised : {"required", "if_possible"}
        With ``"if_possible"`` and a BTYD ``model``, data too short for the supervised
        training window skip LightGBM (recorded in ``not_fitted["gbdt"]``; the interval
        columns are then NaN) instead of raising :class:`HistoryError`.
    deep : DeepProduction, optional
        Configuration and fixed epochs of the deep ``model``
        (:func:`helpers.apply.deep.production_deep_config`); the deep model is trained
        on the same window as LightGBM and its ZILN 10 %/90 % quantiles give the
        interval.
    recipe : Recipe
        How the supervised models are trained (:mod:`helpers.apply.deployable`): the
        training window (a share of ``horizon_days``), the number of rolling anchors and
        the BTYD inputs. The default is one window of ``horizon_days`` ending at
        ``as_of``; stage 06's deployable rows and stage 07 pass the recipe chosen by
        :func:`helpers.apply.deployable.choose_recipe`.
    intervals : bool
        False skips LightGBM's two quantile boosters (``spend_q10`` / ``spend_q90`` are
        then NaN unless a deep row gives its own): the leaderboard's deployable rows need
        the point prediction and P(no purchase) only.
    deep_anchors : int, optional
        Train a deep row on the most recent ``deep_anchors`` windows of ``recipe`` only
        (its cost grows with the rows; None: all of them, like LightGBM).
    feature_cache : FeatureCache, optional
        Features and BTYD inputs already computed for these events (several models
        scored at the same ``as_of``, :mod:`helpers.apply.protocol`); used only when it
        holds the same events (up to ``as_of``) and feature windows.

    Returns
    -------
    ScoreResult

    Raises
    ------
    AsOfError, HistoryError
        See :func:`production_windows`.
    ApplyError
        When ``model`` is unknown or could not be fitted on these data.
    """
    if is_deep_model(model):
        if deep is None or deep.model != model:
            raise ApplyError(
                f"model {model!r} needs its production configuration (deep=..., from stage "
                "04b's checkpoints: helpers.apply.deep.production_deep_config)"
            )
        if not deep.applicable:
            raise ApplyError(
                f"model {model!r} reads the text block, which stage 02 computes at the "
                "study's cutoff only; it cannot be refitted for production"
            )
    elif model not in APPLICABLE_MODELS:
        raise ApplyError(
            f"model {model!r} cannot be refitted by stage 07; choose one of "
            f"{APPLICABLE_MODELS} or a deep row without text"
        )
    fit_btyd = list(dict.fromkeys([m for m in (model, *btyd_models) if m in REFIT_BTYD_MODELS]))
    if supervised not in ("required", "if_possible"):
        raise ApplyError(f"supervised must be 'required' or 'if_possible', got {supervised!r}")
    skipped: dict[str, str] = {}
    train_days = recipe.window_days(int(horizon_days)) if int(horizon_days) >= 1 else None
    try:
        # fails before any work
        win = production_windows(events, as_of, horizon_days, train_days=train_days)
    except HistoryError as exc:
        if supervised == "required" or model not in REFIT_BTYD_MODELS:
            raise
        win = production_windows(
            events, as_of, horizon_days, supervised=False, train_days=train_days
        )
        skipped["gbdt"] = str(exc)
    steps = [
        "btyd",
        "features",
        "boosters",
        *(["deep"] if is_deep_model(model) else []),
        "assemble",
    ]
    bar = tqdm(total=len(steps), desc="score", disable=not progress, leave=False)

    timings: dict[str, float] = {}
    clock = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        timings[name] = timings.get(name, 0.0) + now - clock[0]
        clock[0] = now

    def step(name: str) -> None:
        bar.set_postfix_str(name)
        bar.update(1)

    if events["ts"].max() >= win.score_instant:
        events = events.loc[events["ts"] < win.score_instant]

    lap("check")
    summary = btyd.btyd_summary(events, win.as_of, win.horizon_end)
    # nothing to fit (stage 06's deployable rows take the BTYD rows from 04a): no spend model
    fits, not_fitted = (
        _fit_btyd(summary, fit_btyd, btyd_penalizer, btyd_method, btyd_priors, seed)
        if fit_btyd
        else ({}, {})
    )
    not_fitted.update(skipped)
    lap("btyd_fit")
    out = pd.DataFrame(index=summary.index)
    repairs: dict[str, int] = {}
    btyd_interval = None
    horizon_weeks = win.horizon_days / 7.0
    for name in fit_btyd:
        if name not in fits or "gamma_gamma" not in fits:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", btyd.BTYDFitWarning)  # counted just below
                predicted = btyd.predict_btyd(
                    summary,
                    model=name,
                    horizon_weeks=horizon_weeks,
                    fit=fits[name],
                    gg_fit=fits["gamma_gamma"],
                )
            if predicted.attrs.get("repaired_non_finite"):
                repairs[name] = int(predicted.attrs["repaired_non_finite"])
        except btyd.BTYDFitError as exc:
            not_fitted[name] = exc.reason
            continue
        out[f"spend__{name}"] = predicted["expected_spend"]
        out[f"p_zero__{name}"] = predicted["p_zero"]
        out[f"p_alive__{name}"] = predicted["p_alive"]
        if name == model and intervals:  # the chosen BTYD model's own predictive interval
            bounds = btyd_intervals.predictive_intervals(
                summary, fits[name], fits["gamma_gamma"], horizon_weeks, seed=seed
            )
            out[f"q10__{name}"] = bounds["spend_lower"]
            out[f"q90__{name}"] = bounds["spend_upper"]
            btyd_interval = bounds.attrs.get("btyd_interval")
    lap("btyd_predict")
    step("btyd")

    pred: dict[str, np.ndarray] = {}
    best: dict[str, int] = {}
    columns: list[str] = []
    boosters: dict[str, lgb.Booster] = {}
    if not skipped:
        supervised_fit = _SupervisedRun(
            events, win, recipe, windows, feature_threads, selected_features, summary.index, lap,
            cache=feature_cache, deep_anchors=deep_anchors,
        )  # fmt: skip
        columns, boosters, best, pred = supervised_fit.boosters(
            model,
            seed,
            gbdt_valid_share,
            gbdt_params,
            gbdt_max_rounds,
            gbdt_early_stopping,
            lap,
            intervals,
        )
        learner = model if model in SUPERVISED_MODELS else "gbdt"
        out[f"spend__{learner}"] = np.maximum(pred["spend"], 0.0)
        out[f"p_zero__{learner}"] = np.clip(pred["zero"], 0.0, 1.0)
        lap("boosters_predict")
        step("features")
        step("boosters")
        if is_deep_model(model):
            inputs = selected_features or columns
            deep_pred, kept = supervised_fit.deep(deep, inputs, seed, progress)
            for name in ("spend", "p_zero", "q10", "q90"):
                out[f"{name}__{model}"] = deep_pred[name]
            best[f"{model}_epochs"] = kept
            lap("deep_fit_predict")
            step("deep")
    if f"spend__{model}" not in out:
        bar.close()
        raise ApplyError(
            f"model {model!r} could not be fitted on the data up to {win.as_of.date()}: "
            f"{not_fitted.get(model, 'no prediction')}"
        )
    alive_model = next((m for m in (model, *fit_btyd) if f"p_alive__{m}" in out), None)
    out["predicted_spend"] = out[f"spend__{model}"]
    if f"q10__{model}" in out:  # the model's own: ZILN (deep) or predictive (BTYD)
        out["spend_q10"] = out[f"q10__{model}"]
        out["spend_q90"] = np.maximum(out[f"q90__{model}"], out["spend_q10"])
    elif "q10" in pred:
        low = np.maximum(pred["q10"], 0.0)
        out["spend_q10"], out["spend_q90"] = low, np.maximum(pred["q90"], low)
    else:
        out["spend_q10"] = out["spend_q90"] = np.nan
    out["p_no_purchase"] = out[f"p_zero__{model}"]
    out["p_alive"] = out[f"p_alive__{alive_model}"] if alive_model else np.nan
    step("assemble")
    bar.close()
    first = ["predicted_spend", "spend_q10", "spend_q90", "p_no_purchase", "p_alive"]
    out = out[first + [c for c in out.columns if c not in first]]
    out.attrs["feature_columns"] = columns
    if btyd_interval is not None:  # settings of the BTYD interval, for batch scoring
        out.attrs["btyd_interval"] = btyd_interval
    lap("assemble")
    return ScoreResult(
        scores=out,
        model=model,
        windows=win,
        summary=summary,
        btyd_fits=fits,
        not_fitted=not_fitted,
        best_iterations=best,
        p_alive_model=alive_model,
        timings=timings,
        repairs=repairs,
        boosters=boosters,
        recipe=recipe,
    )
