"""Fine-tune the last layers of the sentence encoder on star ratings (GPU-optional).

The study's text features read frozen sentence embeddings
(:class:`helpers.features.text_encoder.TextEncoder`); a sentiment head is then trained on
top (:func:`helpers.features.text.fit_sentiment_head`). :func:`finetune_on_ratings`
instead updates the encoder itself: the last ``n_layers`` transformer layers and a
linear head on the mean-pooled embedding are trained to predict the standardised star
rating (mean squared error, AdamW), as in the task-specific fine-tuning of BERT (Devlin
et al. 2019; Sun, Qiu, Xu & Huang 2019, "How to fine-tune BERT for text
classification?"). The encoder is changed in place and its cache id gets a suffix that
names the fine-tuning run, so its embeddings never mix with the frozen ones in an
:class:`~helpers.features.text_encoder.EmbeddingCache`.

It runs on the encoder's device (CUDA when present); on a CPU it is slow, so notebook
06b runs it only where a GPU is present or when asked (``text_signal.finetune``).
Only calibration-period reviews and their ratings may be passed in (no leakage).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from helpers.features.text_encoder import TextEncoder


def _layers(model: Any) -> Any:
    """The transformer blocks of a BERT-family model (``encoder.layer``)."""
    encoder = getattr(model, "encoder", None)
    layers = getattr(encoder, "layer", None)
    if layers is None:
        raise ValueError(f"{type(model).__name__} has no encoder.layer blocks to fine-tune")
    return layers


def finetune_on_ratings(
    encoder: TextEncoder,
    texts: Sequence[str],
    ratings: Sequence[float] | np.ndarray,
    seed: int,
    steps: int = 200,
    n_layers: int = 2,
    learning_rate: float = 2e-5,
    batch_size: int = 32,
) -> dict[str, Any]:
    """Train the encoder's last ``n_layers`` layers to predict star ratings, in place.

    Parameters
    ----------
    encoder : TextEncoder
        Changed in place: its last ``n_layers`` layers are updated and ``encoder.id``
        gets a ``-ft<hash>`` suffix naming this run (model, data, settings, seed).
    texts, ratings : sequences of equal length
        Calibration-period review texts and their star ratings.
    seed : int
        Seeds torch (head initialisation, dropout) and the batch sampler: the same
        inputs give the same weights on the same device.
    steps : int
        Optimiser steps (mini-batches drawn with replacement).
    n_layers : int
        Transformer layers trained, counted from the top; the rest stay frozen.

    Returns
    -------
    dict
        ``steps``, ``n_layers``, ``loss_first`` and ``loss_last`` (batch MSE of the
        standardised rating), ``device``, ``id`` (the new cache id).
    """
    texts = [str(t) for t in texts]
    y = np.asarray(ratings, dtype=np.float32)
    if len(texts) != len(y) or len(texts) < 2:
        raise ValueError("need at least two texts, each with a rating")
    if steps < 1 or n_layers < 1:
        raise ValueError("steps and n_layers must be at least 1")
    y_std = float(y.std()) or 1.0
    target = (y - float(y.mean())) / y_std
    model = encoder.model
    layers = _layers(model)
    n_layers = min(int(n_layers), len(layers))
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    trained = _unfreeze_last(model, layers, n_layers)
    head = torch.nn.Linear(encoder.dim, 1).to(encoder.device)
    optimiser = torch.optim.AdamW([*trained, *head.parameters()], lr=learning_rate)
    losses = []
    model.train()
    try:
        for _ in range(int(steps)):
            idx = rng.integers(0, len(texts), min(int(batch_size), len(texts)))
            losses.append(
                _rating_step(encoder, head, optimiser, [texts[i] for i in idx], target[idx])
            )
    finally:
        model.eval()
        for parameter in model.parameters():
            parameter.requires_grad_(False)
    spec = f"{_data_digest(texts, y)}|{steps}|{n_layers}|{learning_rate}|{batch_size}|{seed}"
    encoder.id = f"{encoder.id}-ft{hashlib.sha256(spec.encode()).hexdigest()[:12]}"
    return {
        "steps": int(steps),
        "n_layers": n_layers,
        "loss_first": losses[0],
        "loss_last": losses[-1],
        "device": encoder.device.type,
        "id": encoder.id,
    }


def _unfreeze_last(model: Any, layers: Any, n_layers: int) -> list[torch.nn.Parameter]:
    """Freeze ``model`` but its last ``n_layers`` layers; their parameters."""
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    trained = [p for layer in layers[-n_layers:] for p in layer.parameters()]
    for parameter in trained:
        parameter.requires_grad_(True)
    return trained


def _rating_step(
    encoder: TextEncoder,
    head: torch.nn.Linear,
    optimiser: torch.optim.Optimizer,
    texts: list[str],
    target: np.ndarray,
) -> float:
    """One optimiser step on a mini-batch: MSE of the head on the pooled embedding."""
    batch = encoder.tokenizer(
        texts,
        truncation=True,
        max_length=encoder.max_length,
        padding=True,
        return_tensors="pt",
    ).to(encoder.device)
    hidden = encoder.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])[0]
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
    prediction = head(pooled).squeeze(-1)
    truth = torch.from_numpy(target).to(encoder.device)
    loss = torch.nn.functional.mse_loss(prediction, truth)
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()
    return float(loss.detach())


def _data_digest(texts: list[str], ratings: np.ndarray) -> str:
    """SHA-256 of the texts and their ratings (part of the fine-tuned encoder's id)."""
    digest = hashlib.sha256()
    for text, rating in zip(texts, ratings.tolist(), strict=True):
        digest.update(f"{text}\x1f{rating}\x1e".encode())
    return digest.hexdigest()
