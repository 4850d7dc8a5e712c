"""Fine-tuning the encoder's last layers on ratings: a tiny real run (all-MiniLM-L6-v2)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers.features.text_encoder import TextEncoder
from helpers.features.text_finetune import finetune_on_ratings

TEXTS = [
    "great quality, arrived fast, love it",
    "terrible service and the item broke after a day",
    "ok value for the price",
    "slow delivery but friendly support",
    "awful, never again",
    "excellent, would buy again",
]
RATINGS = [5, 1, 3, 3, 1, 5]


def _tuned(seed: int) -> tuple[TextEncoder, dict]:
    encoder = TextEncoder(device="cpu", batch_size=8, show_progress=False)
    info = finetune_on_ratings(
        encoder, TEXTS, RATINGS, seed=seed, steps=1, n_layers=1, learning_rate=1e-3, batch_size=4
    )
    return encoder, info


def test_one_step_changes_the_last_layer_only_and_is_deterministic() -> None:
    frozen = TextEncoder(device="cpu", batch_size=8, show_progress=False)
    tuned, info = _tuned(seed=3)
    last = dict(frozen.model.encoder.layer[-1].named_parameters())
    for name, parameter in tuned.model.encoder.layer[-1].named_parameters():
        if name.endswith("attention.self.query.weight"):
            assert not torch.equal(parameter, last[name])  # the trained layer moved
    first_frozen = dict(frozen.model.encoder.layer[0].named_parameters())
    for name, parameter in tuned.model.encoder.layer[0].named_parameters():
        assert torch.equal(parameter, first_frozen[name])  # lower layers stay frozen
    before, after = frozen.encode(TEXTS), tuned.encode(TEXTS)
    assert np.abs(before - after).max() > 1e-5
    assert np.allclose(np.linalg.norm(after, axis=1), 1.0, atol=1e-5)
    assert info["steps"] == 1 and info["device"] == "cpu"
    assert tuned.id != frozen.id and tuned.id.startswith(frozen.id + "-ft")
    again, info_again = _tuned(seed=3)
    assert np.array_equal(again.encode(TEXTS), after)  # same seed, same weights
    assert info_again["id"] == info["id"]
    other, info_other = _tuned(seed=4)
    assert info_other["id"] != info["id"]


def test_finetune_rejects_bad_input() -> None:
    encoder = TextEncoder(device="cpu", batch_size=8, show_progress=False)
    with pytest.raises(ValueError, match="at least two texts"):
        finetune_on_ratings(encoder, TEXTS[:1], RATINGS[:1], seed=0)
    with pytest.raises(ValueError, match="at least two texts"):
        finetune_on_ratings(encoder, TEXTS, RATINGS[:3], seed=0)
