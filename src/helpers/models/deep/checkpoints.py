"""Saving and loading trained deep models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from helpers.features.behaviour import FeatureScaler
from helpers.models.deep.config import DeepConfig
from helpers.models.deep.network import DeepCLVModel
from helpers.models.deep.training import TrainedDeep, pick_device


def save_checkpoint(trained: TrainedDeep, path: str | Path) -> Path:
    """State dict to ``path`` and its config / shapes / scalers to ``path.with_suffix('.json')``.

    No wall-clock time is saved (the training curve keeps its losses, not its seconds),
    so the same training writes the same files on every run and DVC sees no change.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = trained.model
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save(state, path)
    meta = {
        "config": trained.config.to_dict(),
        "shapes": {
            "n_event_types": model.emb_type.num_embeddings if model.use_sequence else 0,
            "n_categories": model.emb_category.num_embeddings if model.use_sequence else 0,
            "n_amount_buckets": model.emb_amount.num_embeddings if model.use_sequence else 0,
            "n_tabular": model.n_tabular,
            "n_text": model.n_text,
            "max_positions": (model.positions.num_embeddings if hasattr(model, "positions") else 1),
        },
        "tabular_scaler": trained.tabular_scaler.to_dict() if trained.tabular_scaler else None,
        "text_scaler": trained.text_scaler.to_dict() if trained.text_scaler else None,
        "best_epoch": trained.best_epoch,
        "curve": trained.curve.drop(columns=["seconds"], errors="ignore").to_dict(orient="list"),
    }
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    return path


def load_checkpoint(path: str | Path, device: str | torch.device | None = None) -> TrainedDeep:
    """Rebuild a :class:`TrainedDeep` saved by :func:`save_checkpoint` (``weights_only``)."""
    path = Path(path)
    meta = json.loads(path.with_suffix(".json").read_text())
    config = DeepConfig.from_dict(meta["config"])
    shapes = meta["shapes"]
    model = DeepCLVModel(config, **shapes)
    device = pick_device(device)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    model.to(device).eval()

    def scaler(data: dict[str, Any] | None) -> FeatureScaler | None:
        return FeatureScaler.from_dict(data) if data else None

    return TrainedDeep(
        model=model,
        config=config,
        tabular_scaler=scaler(meta["tabular_scaler"]),
        text_scaler=scaler(meta["text_scaler"]),
        curve=pd.DataFrame(meta["curve"]),
        best_epoch=int(meta["best_epoch"]),
        seconds=float(meta.get("seconds", "nan")),  # not saved: wall time differs by run
        device=str(device),
    )
