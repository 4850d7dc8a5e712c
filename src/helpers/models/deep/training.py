"""Training and prediction of one deep model (early stopping, devices, determinism)."""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from helpers.features.behaviour import FeatureScaler
from helpers.models.deep.config import DeepConfig
from helpers.models.deep.inputs import DeepInputs
from helpers.models.deep.network import DeepCLVModel, build_model
from helpers.models.ziln import (
    ziln_loss,
    ziln_params,
    ziln_quantile,
)


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else CUDA when available, else CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@contextlib.contextmanager
def _deterministic(device: torch.device) -> Iterator[None]:
    """Deterministic algorithms during CPU training (restored afterwards)."""
    if device.type != "cpu":
        yield
        return
    previous = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous, warn_only=warn_only)


def _scaled(frame: pd.DataFrame, scaler: FeatureScaler | None) -> np.ndarray:
    if frame.shape[1] == 0 or scaler is None:
        return np.zeros((len(frame), 0), dtype=np.float32)
    values = scaler.transform(frame).to_numpy(dtype=np.float32)
    return np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)


def restrict_scaler(scaler: FeatureScaler, columns: list[str]) -> FeatureScaler:
    """The same fitted statistics for a subset of the scaler's columns."""
    missing = [c for c in columns if c not in scaler.columns]
    if missing:
        raise KeyError(f"scaler was not fitted on {missing}")
    return FeatureScaler(
        skew_threshold=scaler.skew_threshold,
        columns=list(columns),
        log_columns=[c for c in scaler.log_columns if c in set(columns)],
        mean={c: scaler.mean[c] for c in columns},
        std={c: scaler.std[c] for c in columns},
    )


def _fit_scaler(frame: pd.DataFrame, train_users: pd.Index) -> FeatureScaler | None:
    if frame.shape[1] == 0:
        return None
    return FeatureScaler().fit(frame, train_users)


def _tensors(
    inputs: DeepInputs,
    tab_scaler: FeatureScaler | None,
    text_scaler: FeatureScaler | None,
    spend: np.ndarray | None = None,
    zero: np.ndarray | None = None,
) -> dict[str, torch.Tensor]:
    out = {
        "tokens": torch.from_numpy(inputs.tokens),
        "cont": torch.from_numpy(inputs.cont),
        "lengths": torch.from_numpy(inputs.lengths),
        "tabular": torch.from_numpy(_scaled(inputs.tabular, tab_scaler)),
        "text": torch.from_numpy(_scaled(inputs.text, text_scaler)),
    }
    if spend is not None:
        out["spend"] = torch.as_tensor(np.asarray(spend, dtype=np.float32))
        out["zero"] = torch.as_tensor(np.asarray(zero, dtype=np.float32))
    return out


def _batches(
    data: dict[str, torch.Tensor],
    idx: np.ndarray,
    batch_size: int,
    generator: torch.Generator | None = None,
) -> Iterator[dict[str, torch.Tensor]]:
    """Mini-batches of rows ``idx`` of ``data`` (one gather per tensor and batch).

    With a ``generator`` the rows are shuffled by ``torch.randperm`` each call — the
    order ``SubsetRandomSampler`` + ``BatchSampler`` would give, without a DataLoader's
    per-batch Python lists and collation. The index tensor lives on ``data``'s device.
    """
    # The DataLoader this replaces drew one number from the global torch generator per
    # epoch; drawing it too keeps dropout masks, hence results, identical to before.
    torch.empty((), dtype=torch.int64).random_()
    if len(data) == 0 or len(idx) == 0:
        return
    device = next(iter(data.values())).device
    order = torch.as_tensor(np.asarray(idx), dtype=torch.long)
    if generator is not None:
        order = order[torch.randperm(len(order), generator=generator)]
    order = order.to(device)
    for begin in range(0, len(order), batch_size):
        rows = order[begin : begin + batch_size]
        yield {k: v.index_select(0, rows) for k, v in data.items()}


def _on_device(data: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """All rows moved once to ``device`` (small: customers × events × a few channels)."""
    return {k: v.to(device) for k, v in data.items()}


_MODEL_KEYS = ("tokens", "cont", "lengths", "tabular", "text")


def _autocast(device: torch.device, config: DeepConfig) -> contextlib.AbstractContextManager:
    if device.type == "cuda" and config.amp:
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _loss(
    model: DeepCLVModel,
    value: torch.Tensor,
    churn: torch.Tensor,
    spend: torch.Tensor,
    zero: torch.Tensor,
) -> torch.Tensor:
    value, churn = value.float(), churn.float()
    if model.config.loss == "ziln":
        value_loss = ziln_loss(value, spend)
    else:
        value_loss = F.mse_loss(value.squeeze(-1), spend / model.target_scale)
    churn_loss = F.binary_cross_entropy_with_logits(churn, zero)
    return value_loss + model.config.churn_weight * churn_loss


def _continuous_stats(inputs: DeepInputs, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    real = np.arange(inputs.max_len)[None, :] < inputs.lengths[idx, None]
    values = inputs.cont[idx][real]
    if len(values) == 0:
        return np.zeros(inputs.cont.shape[-1]), np.ones(inputs.cont.shape[-1])
    std = values.std(axis=0)
    return values.mean(axis=0), np.where(std > 0, std, 1.0)


@dataclass
class TrainedDeep:
    """A trained network with what is needed to apply it to new customers."""

    model: DeepCLVModel
    config: DeepConfig
    tabular_scaler: FeatureScaler | None
    text_scaler: FeatureScaler | None
    curve: pd.DataFrame
    best_epoch: int
    seconds: float
    device: str

    @property
    def feature_names(self) -> list[str]:
        """Columns of the tabular and text blocks, in MLP-input order."""
        tab = self.tabular_scaler.columns if self.tabular_scaler else []
        text = self.text_scaler.columns if self.text_scaler else []
        return [*tab, *text]


def train_deep(
    inputs: DeepInputs,
    spend: np.ndarray,
    zero: np.ndarray,
    fit_idx: np.ndarray,
    valid_idx: np.ndarray,
    config: DeepConfig,
    seed: int,
    device: str | torch.device | None = None,
    progress: bool = True,
    live_dir: str | Path | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
    tabular_scaler: FeatureScaler | None = None,
    text_scaler: FeatureScaler | None = None,
    desc: str = "deep",
) -> TrainedDeep:
    """Train one network on ``fit_idx`` with early stopping on ``valid_idx`` customers.

    AdamW, gradient-norm clipping, early stopping on the validation loss with
    ``config.patience`` and the best epoch's weights restored.

    Parameters
    ----------
    inputs : DeepInputs
        All customers (rows are addressed by the index arrays).
    spend, zero : array (n,)
        Holdout spend and "no purchase in holdout" (0/1) per row of ``inputs``.
    fit_idx, valid_idx : int arrays
        Training and early-stopping rows (disjoint, both from the training customers).
    config : DeepConfig
    seed : int
        Seeds initialisation, dropout and the batch order (a ``torch.Generator``).
    device : optional
        Default :func:`pick_device`.
    live_dir : path, optional
        DVCLive directory: ``train_loss`` and ``valid_loss`` per epoch (plots under
        ``<live_dir>/plots/metrics``).
    on_epoch : callable, optional
        ``on_epoch(epoch, valid_loss)`` after each epoch (Optuna pruning raises here).
    tabular_scaler, text_scaler : FeatureScaler, optional
        Fitted scalers; default fit on ``fit_idx`` ∪ ``valid_idx`` customers only.
    """
    fit_idx, valid_idx = np.asarray(fit_idx), np.asarray(valid_idx)
    if len(fit_idx) == 0 or len(valid_idx) == 0:
        raise ValueError("train_deep needs training and validation customers")
    start = time.perf_counter()
    device = pick_device(device)
    tabular_scaler, text_scaler = _training_scalers(
        inputs, np.concatenate([fit_idx, valid_idx]), tabular_scaler, text_scaler
    )
    spend = np.asarray(spend, dtype=np.float32)
    zero = np.asarray(zero, dtype=np.float32)
    data = _on_device(_tensors(inputs, tabular_scaler, text_scaler, spend, zero), device)
    live = _open_live(live_dir)
    with _deterministic(device):
        torch.manual_seed(seed)
        model = _initial_model(inputs, config, fit_idx, spend, zero, device)
        rows, best_epoch = _fit_epochs(
            model, data, fit_idx, valid_idx, config, seed, progress, desc, live, on_epoch
        )
    if live is not None:
        live.end()
    model.eval()
    curve = pd.DataFrame(rows, columns=["epoch", "train_loss", "valid_loss", "seconds"])
    return TrainedDeep(
        model=model,
        config=config,
        tabular_scaler=tabular_scaler,
        text_scaler=text_scaler,
        curve=curve,
        best_epoch=best_epoch,
        seconds=time.perf_counter() - start,
        device=str(device),
    )


def _training_scalers(
    inputs: DeepInputs,
    train_idx: np.ndarray,
    tabular_scaler: FeatureScaler | None,
    text_scaler: FeatureScaler | None,
) -> tuple[FeatureScaler | None, FeatureScaler | None]:
    """The given scalers (tabular restricted to the inputs' columns), or scalers fitted on
    the customers of rows ``train_idx``."""
    train_users = inputs.user_ids[train_idx]
    if tabular_scaler is None:
        tabular_scaler = _fit_scaler(inputs.tabular, train_users)
    elif inputs.tabular.shape[1]:
        tabular_scaler = restrict_scaler(tabular_scaler, list(inputs.tabular.columns))
    if text_scaler is None:
        text_scaler = _fit_scaler(inputs.text, train_users)
    return tabular_scaler, text_scaler


def _open_live(live_dir: str | Path | None) -> Any:
    """A DVCLive logger writing to ``live_dir`` (None without one)."""
    if live_dir is None:
        return None
    from dvclive import Live

    return Live(dir=str(live_dir), save_dvc_exp=False, dvcyaml=None)


def _initial_model(
    inputs: DeepInputs,
    config: DeepConfig,
    fit_idx: np.ndarray,
    spend: np.ndarray,
    zero: np.ndarray,
    device: torch.device,
) -> DeepCLVModel:
    """A freshly initialised network (torch's global seed set by the caller) with the
    continuous-channel statistics and output biases of the ``fit_idx`` rows, on ``device``."""
    model = build_model(inputs, config)
    mean, std = _continuous_stats(inputs, fit_idx)
    model.cont_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
    model.cont_std.copy_(torch.as_tensor(std, dtype=torch.float32))
    model.init_output_bias(spend[fit_idx], zero[fit_idx])
    model.to(device)
    return model


def _fit_epochs(
    model: DeepCLVModel,
    data: dict[str, torch.Tensor],
    fit_idx: np.ndarray,
    valid_idx: np.ndarray,
    config: DeepConfig,
    seed: int,
    progress: bool,
    desc: str,
    live: Any,
    on_epoch: Callable[[int, float], None] | None,
) -> tuple[list[tuple[int, float, float, float]], int]:
    """AdamW epochs with early stopping on ``valid_idx``; the best epoch's weights restored.

    Returns the ``(epoch, train_loss, valid_loss, seconds)`` rows and the best epoch.
    """
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    generator = torch.Generator().manual_seed(seed)
    valid_size = max(config.batch_size, 1024)
    rows = []
    best, best_state, best_epoch, stale = np.inf, None, 0, 0
    epochs = tqdm(range(config.max_epochs), desc=desc, disable=not progress, leave=False)
    for epoch in epochs:
        tick = time.perf_counter()
        batches = _batches(data, fit_idx, config.batch_size, generator)
        train_loss = _train_epoch(model, optimiser, batches, config)
        valid_loss = _evaluate(model, _batches(data, valid_idx, valid_size), config)
        seconds = time.perf_counter() - tick
        rows.append((epoch, train_loss, valid_loss, seconds))
        epochs.set_postfix(train=f"{train_loss:.4f}", valid=f"{valid_loss:.4f}")
        if live is not None:
            live.log_metric("train_loss", train_loss)
            live.log_metric("valid_loss", valid_loss)
            live.next_step()
        if valid_loss < best - 1e-6:
            best, best_epoch, stale = valid_loss, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
        if on_epoch is not None:
            on_epoch(epoch, valid_loss)
        if stale >= config.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return rows, best_epoch


def _train_epoch(
    model: DeepCLVModel,
    optimiser: torch.optim.Optimizer,
    batches: Iterator[dict[str, torch.Tensor]],
    config: DeepConfig,
) -> float:
    """One pass of optimiser steps over ``batches``; the mean training loss."""
    model.train()
    total, count = 0.0, 0
    for batch in batches:
        loss, n = _batch_loss(model, batch, config)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimiser.step()
        total += float(loss.detach()) * n
        count += n
    return total / count


@torch.no_grad()
def _evaluate(
    model: DeepCLVModel, batches: Iterator[dict[str, torch.Tensor]], config: DeepConfig
) -> float:
    model.eval()
    total, count = 0.0, 0
    for batch in batches:
        loss, n = _batch_loss(model, batch, config)
        total += float(loss) * n
        count += n
    return total / count


def _batch_loss(
    model: DeepCLVModel, batch: dict[str, torch.Tensor], config: DeepConfig
) -> tuple[torch.Tensor, int]:
    """Mean loss of one batch (already on the model's device; autocast on CUDA) and its size."""
    with _autocast(batch["spend"].device, config):
        value, churn = model(*(batch[k] for k in _MODEL_KEYS))
    return _loss(model, value, churn, batch["spend"], batch["zero"]), len(batch["spend"])


@torch.no_grad()
def predict_deep(
    trained: TrainedDeep,
    inputs: DeepInputs,
    idx: np.ndarray | None = None,
    batch_size: int = 2048,
    quantiles: tuple[float, float] = (0.1, 0.9),
) -> pd.DataFrame:
    """Predictions for rows ``idx`` of ``inputs`` (default all), index = user ids.

    Columns: ``predicted_spend`` (ZILN expected value, or the MSE head clipped at 0),
    ``p_zero`` (churn head), ``p_zero_value`` (ZILN ``1 - p``; NaN for MSE), ``q10`` and
    ``q90`` (ZILN quantiles at ``quantiles``; NaN for MSE), ``mu``, ``sigma``.
    """
    idx = np.arange(len(inputs)) if idx is None else np.asarray(idx)
    model = trained.model.eval()
    device = next(model.parameters()).device
    data = _on_device(_tensors(inputs, trained.tabular_scaler, trained.text_scaler), device)
    values, churns = [], []
    for batch in _batches(data, idx, batch_size):
        with _autocast(device, trained.config):
            value, churn = model(*(batch[k] for k in _MODEL_KEYS))
        values.append(value.float().cpu())
        churns.append(churn.float().cpu())
    value = torch.cat(values) if values else torch.zeros((0, model.value_head.out_features))
    churn = torch.cat(churns) if churns else torch.zeros(0)
    out = pd.DataFrame(index=inputs.user_ids[idx])
    out["p_zero"] = torch.sigmoid(churn).double().numpy()
    if trained.config.loss == "ziln":
        p, mu, sigma = (t.double().numpy() for t in ziln_params(value))
        out["predicted_spend"] = p * np.exp(mu + 0.5 * sigma**2)
        out["p_zero_value"] = 1.0 - p
        out["q10"] = ziln_quantile(p, mu, sigma, quantiles[0])
        out["q90"] = ziln_quantile(p, mu, sigma, quantiles[1])
        out["mu"], out["sigma"] = mu, sigma
    else:
        scale = float(model.target_scale)
        out["predicted_spend"] = np.clip(value.squeeze(-1).double().numpy() * scale, 0, None)
        for column in ("p_zero_value", "q10", "q90", "mu", "sigma"):
            out[column] = np.nan
    return out[["predicted_spend", "p_zero", "p_zero_value", "q10", "q90", "mu", "sigma"]]
