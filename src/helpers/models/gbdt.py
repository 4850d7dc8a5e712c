"""Gradient-boosted trees (LightGBM) baseline for holdout spend and P(no purchase).

Protocol: **cross-fitting over customers**. Customers are split into ``n_folds`` folds
(seeded); each fold is predicted by models trained on the other folds only, so every
customer gets an out-of-fold prediction from models that never saw their holdout.
Inside the training folds, a further seeded share of *customers* is held apart for
early stopping (model selection never touches the predicted fold). Features come from
the calibration period only; labels are the training customers' holdout outcomes.

Two models per fold: a Tweedie regression of holdout spend (a compound Poisson-gamma
likelihood suited to spend that is exactly zero for many customers and skewed for the
rest; it predicts the mean) and a binary classifier of "no purchase in holdout".

References
----------
Ke et al. (2017), LightGBM: a highly efficient gradient boosting decision tree. NeurIPS.
Jørgensen (1987), Exponential dispersion models (Tweedie family). JRSS B.
Chernozhukov et al. (2018), Double/debiased machine learning (cross-fitting). Econ. J.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from helpers.models.baselines import predictions_frame
from helpers.models.crossfit import FoldSplit, crossfit_splits, customer_folds, fold_array
from helpers.models.errors import InsufficientDataError

DEFAULT_PARAMS: dict[str, Any] = {
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.9,
    "lambda_l2": 1.0,
    "verbose": -1,
    "deterministic": True,
    "force_row_wise": True,
    # One thread (benchmarks/bench_stage04.py, 18k customers, 2-core CPU): 4.4 s against
    # 3.0 s for two threads on an idle machine, but 5-7 s against 30-67 s when other
    # processes keep a core busy (LightGBM's OpenMP threads spin-wait for each other).
    # The predictions are the same bit for bit.
    "num_threads": 1,
}


@dataclass(frozen=True)
class LightGBMSettings:
    """The LightGBM knobs of ``params.yaml``'s ``train`` block, in one place.

    Every stage that fits LightGBM (04a's baselines, 06b's sweep, 07's production
    models) builds its settings with :meth:`from_params`; the defaults are the values
    ``params.yaml`` ships with (``tests/test_lightgbm_settings.py`` holds them equal).
    """

    valid_share: float = 0.2
    max_rounds: int = 2000
    early_stopping_rounds: int = 50
    learning_rate: float = 0.05
    num_leaves: int = 15

    @classmethod
    def from_params(cls, train: Mapping[str, Any]) -> LightGBMSettings:
        """Settings from a ``train`` block (``gbdt_*`` keys); missing keys keep defaults."""
        names = {
            "gbdt_valid_share": "valid_share",
            "gbdt_max_rounds": "max_rounds",
            "gbdt_early_stopping": "early_stopping_rounds",
            "gbdt_learning_rate": "learning_rate",
            "gbdt_num_leaves": "num_leaves",
        }
        return cls(**{field_: train[key] for key, field_ in names.items() if key in train})

    @property
    def params(self) -> dict[str, Any]:
        """The booster parameters set here (on top of :data:`DEFAULT_PARAMS`)."""
        return {"learning_rate": self.learning_rate, "num_leaves": self.num_leaves}

    def crossfit_arguments(self) -> dict[str, Any]:
        """Keyword arguments of :func:`crossfit_gbdt`."""
        return {
            "valid_share": self.valid_share,
            "params": self.params,
            "max_rounds": self.max_rounds,
            "early_stopping_rounds": self.early_stopping_rounds,
        }

    def scoring_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`helpers.apply.scoring.score_customers`."""
        return {
            "gbdt_params": self.params,
            "gbdt_valid_share": self.valid_share,
            "gbdt_max_rounds": self.max_rounds,
            "gbdt_early_stopping": self.early_stopping_rounds,
        }


@dataclass
class GBDTResult:
    """Out-of-fold predictions, gain importances and the fitted fold models."""

    spend: pd.Series
    p_zero: pd.Series
    importance: pd.DataFrame
    best_iterations: dict[str, list[int]]
    fit_seconds: float
    models: dict[str, list[lgb.Booster]] = field(repr=False, default_factory=dict)

    def predictions(self, name: str = "gbdt") -> pd.DataFrame:
        """Tidy predictions table (see :func:`helpers.models.baselines.predictions_frame`)."""
        return predictions_frame(name, self.spend, p_zero=self.p_zero)


def fit_early_stopped(
    x: np.ndarray,
    y: np.ndarray,
    fit_idx: np.ndarray,
    valid_idx: np.ndarray,
    params: dict[str, Any],
    columns: list[str],
    max_rounds: int,
    early_stopping_rounds: int,
) -> lgb.Booster:
    """One LightGBM booster on rows ``fit_idx``, early-stopped on rows ``valid_idx``."""
    train_set = lgb.Dataset(x[fit_idx], y[fit_idx], feature_name=columns)
    valid_set = lgb.Dataset(x[valid_idx], y[valid_idx], reference=train_set)
    return lgb.train(
        params,
        train_set,
        num_boost_round=max_rounds,
        valid_sets=[valid_set],
        callbacks=[lgb.early_stopping(early_stopping_rounds, verbose=False)],
    )


def crossfit_gbdt(
    features: pd.DataFrame,
    holdout_spend: pd.Series,
    seed: int,
    n_folds: int = 5,
    valid_share: float = 0.2,
    params: dict[str, Any] | None = None,
    max_rounds: int = 2000,
    early_stopping_rounds: int = 50,
    folds: np.ndarray | pd.Series | None = None,
    fit_p_zero: bool = True,
) -> GBDTResult:
    """Cross-fitted LightGBM predictions of holdout spend and P(zero) for every customer.

    Parameters
    ----------
    features : DataFrame
        Calibration-period features, index = customers.
    holdout_spend : Series
        Target per customer (same index as ``features``).
    seed : int
        Seeds the folds, the early-stopping split and LightGBM.
    n_folds, valid_share : int, float
        Cross-fitting folds; share of training customers held apart for early stopping.
    params : dict, optional
        LightGBM parameters overriding :data:`DEFAULT_PARAMS`.
    max_rounds, early_stopping_rounds : int
        Boosting budget and patience on the held-apart customers.
    folds : array or Series, optional
        Fold id per customer (e.g. saved by stage 03; a Series is aligned on the
        index); default :func:`customer_folds` of the index with ``seed``.
    fit_p_zero : bool
        Also fit the P(zero) classifier (the default). ``False`` fits the spend model
        only, half the boosting, for callers that use the predicted spend alone; the
        spend predictions are the same bit for bit, ``p_zero`` is then all NaN.

    Notes
    -----
    The per-fold training and early-stopping customers come from
    :func:`helpers.models.crossfit.crossfit_splits` (``seed``, ``valid_share``): the
    same customers as the deep model's with the same folds, seed and share.
    """
    if not features.index.equals(holdout_spend.index):
        raise ValueError("features and holdout_spend must share the same customer index")
    start = time.perf_counter()
    base = {**DEFAULT_PARAMS, **(params or {}), "seed": seed}
    objectives, targets = _objectives_and_targets(holdout_spend, fit_p_zero)
    x = features.to_numpy(dtype=float)
    if folds is None:
        folds = customer_folds(features.index, n_folds, seed)
    folds = fold_array(folds, features.index)
    out = {name: np.full(len(features), np.nan) for name in targets}
    models: dict[str, list[lgb.Booster]] = {name: [] for name in objectives}
    gains = []
    for split in crossfit_splits(folds, seed, valid_share):
        boosters = _fit_fold(
            x, targets, split, objectives, base, list(features.columns),
            max_rounds, early_stopping_rounds,
        )  # fmt: skip
        for name, booster in boosters.items():
            test = split.test
            out[name][test] = booster.predict(x[test], num_iteration=booster.best_iteration)
            models[name].append(booster)
            gains.append(_gain_frame(features.columns, booster, name, split.fold))
    return GBDTResult(
        spend=pd.Series(out["spend"], index=features.index, name="predicted_spend"),
        p_zero=pd.Series(out["zero"], index=features.index, name="p_zero"),
        importance=_mean_gains(gains),
        best_iterations={
            name: [int(b.best_iteration) for b in fitted] for name, fitted in models.items()
        },
        fit_seconds=time.perf_counter() - start,
        models=models,
    )


def _objectives_and_targets(
    holdout_spend: pd.Series, fit_p_zero: bool
) -> tuple[dict[str, dict[str, Any]], dict[str, np.ndarray]]:
    """LightGBM objective per model (``spend``, and ``zero`` if fitted) and the targets."""
    objectives = {
        "spend": {"objective": "tweedie", "tweedie_variance_power": 1.5, "metric": "tweedie"},
        "zero": {"objective": "binary", "metric": "binary_logloss"},
    }
    if not fit_p_zero:
        del objectives["zero"]
    targets = {
        "spend": holdout_spend.to_numpy(dtype=float),
        "zero": (holdout_spend.to_numpy() <= 0).astype(float),
    }
    return objectives, targets


def _fit_fold(
    x: np.ndarray,
    targets: dict[str, np.ndarray],
    split: FoldSplit,
    objectives: dict[str, dict[str, Any]],
    params: dict[str, Any],
    columns: list[str],
    max_rounds: int,
    early_stopping_rounds: int,
) -> dict[str, lgb.Booster]:
    """One early-stopped booster per objective on the fold's training customers."""
    fold, fit_idx, valid_idx = split.fold, split.fit, split.valid
    if not (targets["spend"][fit_idx] > 0).any():
        raise InsufficientDataError(
            f"none of fold {fold}'s {fit_idx.size} training customers buys in the holdout: "
            "too few buyers for a supervised model"
        )
    return {
        name: fit_early_stopped(
            x,
            targets[name],
            fit_idx,
            valid_idx,
            {**params, **objective},
            columns,
            max_rounds,
            early_stopping_rounds,
        )
        for name, objective in objectives.items()
    }


def _gain_frame(columns: pd.Index, booster: lgb.Booster, target: str, fold: int) -> pd.DataFrame:
    """Gain importance of each feature in one fold's booster."""
    return pd.DataFrame(
        {
            "feature": columns,
            "gain": booster.feature_importance("gain"),
            "target": target,
            "fold": fold,
        }
    )


def _mean_gains(gains: list[pd.DataFrame]) -> pd.DataFrame:
    """Mean gain per target and feature over the folds, largest first per target."""
    return (
        pd.concat(gains)
        .groupby(["target", "feature"], as_index=False)["gain"]
        .mean()
        .sort_values(["target", "gain"], ascending=[True, False], ignore_index=True)
    )


def plot_importance(importance: pd.DataFrame, top: int = 12) -> plt.Figure:
    """Bar charts of the ``top`` features by mean gain, one panel per target model."""
    targets = list(importance["target"].unique())
    fig, axes = plt.subplots(1, len(targets), figsize=(5 * len(targets), 0.3 * top + 1.5))
    for ax, target in zip(np.atleast_1d(axes), targets, strict=True):
        rows = importance[importance["target"] == target].head(top)
        sns.barplot(rows, x="gain", y="feature", ax=ax, color="seagreen")
        ax.set(title=f"LightGBM gain importance — {target} model", ylabel="")
    fig.tight_layout()
    return fig
