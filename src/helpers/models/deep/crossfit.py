"""Cross-fitted deep model over customer folds (the protocol of the GBDT)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from helpers.features.behaviour import FeatureScaler
from helpers.features.sequences import SequenceBatch
from helpers.models.baselines import predictions_frame
from helpers.models.deep.checkpoints import save_checkpoint
from helpers.models.deep.config import DeepConfig
from helpers.models.deep.inputs import prepare_inputs
from helpers.models.deep.training import TrainedDeep, pick_device, predict_deep, train_deep


@dataclass
class DeepResult:
    """Out-of-fold deep-model predictions for every customer, with training records."""

    table: pd.DataFrame
    curves: pd.DataFrame
    best_epochs: list[int]
    fit_seconds: float
    device: str
    config: DeepConfig
    models: list[TrainedDeep] = field(repr=False, default_factory=list)

    @property
    def spend(self) -> pd.Series:
        return self.table["predicted_spend"]

    @property
    def p_zero(self) -> pd.Series:
        return self.table["p_zero"]

    @property
    def seconds_per_epoch(self) -> float:
        return float(self.curves["seconds"].mean())

    def predictions(self, name: str = "deep") -> pd.DataFrame:
        """Tidy predictions (:func:`helpers.models.baselines.predictions_frame`)."""
        return predictions_frame(name, self.spend, p_zero=self.p_zero)

    def intervals(self, name: str = "deep") -> pd.DataFrame:
        """``user_id, model, q10, q90`` (the 80 % ZILN interval; NaN for MSE)."""
        frame = self.table[["q10", "q90"]].rename_axis("user_id").reset_index()
        frame.insert(1, "model", name)
        return frame


def crossfit_deep(
    batch: SequenceBatch,
    tabular: pd.DataFrame | None,
    text: pd.DataFrame | None,
    targets: pd.DataFrame,
    folds: np.ndarray | pd.Series,
    config: DeepConfig,
    seed: int,
    review_sentiment: np.ndarray | None = None,
    scalers: dict[Any, dict[str, Any]] | None = None,
    live_dir: str | Path | None = None,
    checkpoint_dir: str | Path | None = None,
    progress: bool = True,
    device: str | torch.device | None = None,
) -> DeepResult:
    """Cross-fitted deep predictions of holdout spend, P(zero) and an 80 % interval.

    Parameters
    ----------
    batch : SequenceBatch
        Stage-03 sequences; its ``user_ids`` define the customers and their order.
    tabular, text : DataFrame or None
        Behaviour features and text block (index user_id). Switched off by
        ``config.use_tabular`` / ``config.use_text`` or by having no columns.
    targets : DataFrame
        ``holdout_spend`` (and ``holdout_zero``; default ``holdout_spend <= 0``), index
        user_id.
    folds : array or Series
        Fold id per customer (Series: aligned on user_id; array: batch order).
    config : DeepConfig
    seed : int
        Fold ``k`` trains with ``seed + k``; the early-stopping split uses
        ``default_rng(seed + 1)`` exactly as :func:`helpers.models.gbdt.crossfit_gbdt`.
    review_sentiment : array, optional
        ``texts["sentiment"]`` (see :func:`prepare_inputs`).
    scalers : dict, optional
        Saved per-fold :class:`FeatureScaler` dicts for ``tabular`` (keys fold ids, as
        in ``feature_scalers.json``); default: fit per fold on its training customers.
    live_dir, checkpoint_dir : path, optional
        DVCLive logs in ``<live_dir>/fold_<k>``; checkpoints ``fold_<k>.pt`` (+ ``.json``).
    """
    start = time.perf_counter()
    inputs = prepare_inputs(
        batch,
        tabular if config.use_tabular else None,
        text if config.use_text else None,
        review_sentiment=review_sentiment,
        max_len=config.max_len,
        use_browsing=config.use_browsing,
    )
    users = inputs.user_ids
    spend = targets["holdout_spend"].reindex(users).to_numpy(dtype=float)
    if np.isnan(spend).any():
        raise KeyError("targets lack some customers of the sequence batch")
    if "holdout_zero" in targets:
        zero = targets["holdout_zero"].reindex(users).to_numpy(dtype=float)
    else:
        zero = (spend <= 0).astype(float)
    if isinstance(folds, pd.Series):
        folds = folds.reindex(users).to_numpy()
    folds = np.asarray(folds)
    if len(folds) != len(users) or pd.isna(folds).any():
        raise ValueError("folds must give one fold id per customer")
    folds = folds.astype(int)
    n_folds = int(folds.max()) + 1
    rng = np.random.default_rng(seed + 1)
    device = pick_device(device)
    parts, curves, best_epochs, models = [], [], [], []
    for fold in range(n_folds):
        test = folds == fold
        train_idx = np.flatnonzero(~test)
        valid_mask = rng.random(train_idx.size) < config.valid_share
        fit_idx, valid_idx = train_idx[~valid_mask], train_idx[valid_mask]
        scaler = None
        if scalers is not None and inputs.tabular.shape[1]:
            saved = scalers.get(fold, scalers.get(str(fold)))
            scaler = FeatureScaler.from_dict(saved) if saved is not None else None
        trained = train_deep(
            inputs,
            spend,
            zero,
            fit_idx,
            valid_idx,
            config,
            seed=seed + fold,
            device=device,
            progress=progress,
            live_dir=None if live_dir is None else Path(live_dir) / f"fold_{fold}",
            tabular_scaler=scaler,
            desc=f"fold {fold}",
        )
        parts.append(predict_deep(trained, inputs, np.flatnonzero(test)))
        curves.append(trained.curve.assign(fold=fold))
        best_epochs.append(trained.best_epoch)
        if checkpoint_dir is not None:
            save_checkpoint(trained, Path(checkpoint_dir) / f"fold_{fold}.pt")
        trained.model.to("cpu")
        models.append(trained)
    table = pd.concat(parts).reindex(users)
    return DeepResult(
        table=table,
        curves=pd.concat(curves, ignore_index=True)[
            ["fold", "epoch", "train_loss", "valid_loss", "seconds"]
        ],
        best_epochs=best_epochs,
        fit_seconds=time.perf_counter() - start,
        device=str(device),
        config=config,
        models=models,
    )


def plot_loss_curves(curves: pd.DataFrame, title: str = "Deep model") -> plt.Figure:
    """Training and validation loss per epoch, one line per fold."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharey=True)
    for ax, column in zip(axes, ("train_loss", "valid_loss"), strict=True):
        for fold, rows in curves.groupby("fold"):
            ax.plot(rows["epoch"] + 1, rows[column], marker="o", ms=3, label=f"fold {fold}")
        ax.set(title=f"{title}: {column.replace('_', ' ')}", xlabel="epoch", ylabel="loss")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig
