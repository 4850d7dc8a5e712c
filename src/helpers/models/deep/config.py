"""Hyper-parameters and ablation switches of the deep CLV model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from helpers.features.sequences import EVENT_TYPE_IDS

#: Continuous per-event channels, in the order of the ``cont`` array.
CONTINUOUS_CHANNELS: tuple[str, ...] = (
    "log_amount",
    "log_gap_hours",
    "log_days_before",
    "rating",
    "sentiment",
)
#: Event type ids dropped by the "no browsing" ablation (view, cart).
BROWSING_EVENT_IDS: tuple[int, ...] = (EVENT_TYPE_IDS["view"], EVENT_TYPE_IDS["cart"])
ENCODERS: tuple[str, ...] = ("gru", "lstm", "transformer")
LOSSES: tuple[str, ...] = ("ziln", "mse")


@dataclass
class DeepConfig:
    """Hyper-parameters and ablation switches of the deep model (JSON-safe).

    Defaults are sized for a 2-core CPU on ~18k customers (see the benchmark).
    """

    encoder: str = "gru"
    loss: str = "ziln"
    embed_dim: int = 8
    hidden_size: int = 32
    num_layers: int = 1
    n_heads: int = 2
    dropout: float = 0.1
    mlp_hidden: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    batch_size: int = 512
    max_epochs: int = 12
    patience: int = 2
    grad_clip: float = 1.0
    churn_weight: float = 1.0
    valid_share: float = 0.2
    max_len: int | None = 32
    use_sequence: bool = True
    use_tabular: bool = True
    use_text: bool = True
    use_browsing: bool = True
    amp: bool = True

    def __post_init__(self) -> None:
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}, got {self.encoder!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.encoder == "transformer" and self.hidden_size % self.n_heads:
            raise ValueError("hidden_size must be divisible by n_heads for the Transformer")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeepConfig:
        """Build from a dict (e.g. ``params.yaml``); unknown keys raise ``KeyError``."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise KeyError(f"unknown DeepConfig keys: {sorted(unknown)}")
        return cls(**data)

    def replace(self, **changes: Any) -> DeepConfig:
        """Copy with some fields changed (e.g. an ablation)."""
        return replace(self, **changes)
