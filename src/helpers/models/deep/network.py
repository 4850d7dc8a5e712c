"""The network: event-token embeddings, sequence encoder, fusion MLP, value and churn heads."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from helpers.models.deep.config import CONTINUOUS_CHANNELS, DeepConfig
from helpers.models.deep.inputs import DeepInputs


class DeepCLVModel(nn.Module):
    """Sequence encoder + tabular + text → MLP → value head and churn head.

    Build it from the data's shapes (:func:`build_model`); ``forward`` returns
    ``(value_outputs (n, 3 or 1), churn_logit (n,))``.
    """

    def __init__(
        self,
        config: DeepConfig,
        n_event_types: int,
        n_categories: int,
        n_amount_buckets: int,
        n_tabular: int,
        n_text: int,
        max_positions: int,
    ) -> None:
        super().__init__()
        self.config = config
        self.encoder_kind = config.encoder
        self.use_sequence = config.use_sequence
        e, h = config.embed_dim, config.hidden_size
        n_cont = len(CONTINUOUS_CHANNELS)
        self.register_buffer("cont_mean", torch.zeros(n_cont))
        self.register_buffer("cont_std", torch.ones(n_cont))
        self.register_buffer("target_scale", torch.ones(()))
        self.rep_dim = h if config.use_sequence else 0
        if config.use_sequence:
            self.emb_type = nn.Embedding(n_event_types, e, padding_idx=0)
            self.emb_category = nn.Embedding(n_categories, e, padding_idx=0)
            self.emb_amount = nn.Embedding(n_amount_buckets, e, padding_idx=0)
            self.token_proj = nn.Linear(3 * e + n_cont, h)
            if config.encoder in ("gru", "lstm"):
                rnn = nn.GRU if config.encoder == "gru" else nn.LSTM
                self.rnn = rnn(
                    h,
                    h,
                    num_layers=config.num_layers,
                    batch_first=True,
                    dropout=config.dropout if config.num_layers > 1 else 0.0,
                )
            else:
                self.positions = nn.Embedding(max_positions, h)
                layer = nn.TransformerEncoderLayer(
                    d_model=h,
                    nhead=config.n_heads,
                    dim_feedforward=2 * h,
                    dropout=config.dropout,
                    batch_first=True,
                    norm_first=True,
                )
                self.transformer = nn.TransformerEncoder(
                    layer, num_layers=config.num_layers, enable_nested_tensor=False
                )
        in_dim = self.rep_dim + n_tabular + n_text
        if in_dim == 0:
            raise ValueError("the model has no input: sequence, tabular and text are all off")
        self.n_tabular, self.n_text = n_tabular, n_text
        m = config.mlp_hidden
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, m),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(m, m),
            nn.ReLU(),
            nn.Dropout(config.dropout),
        )
        self.value_head = nn.Linear(m, 3 if config.loss == "ziln" else 1)
        self.churn_head = nn.Linear(m, 1)

    def event_vectors(
        self, tokens: torch.Tensor, cont: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        """Projected events ``(n, width, hidden_size)``, zero after each customer's last.

        ``width`` is the longest sequence of the batch (at least 1): the encoder's input.
        """
        n = tokens.shape[0]
        width = max(int(lengths.max()), 1) if n else 1
        tokens, cont = tokens[:, :width], cont[:, :width]
        mask = torch.arange(width, device=tokens.device)[None, :] < lengths[:, None]
        x = torch.cat(
            [
                self.emb_type(tokens[..., 0]),
                self.emb_category(tokens[..., 1]),
                self.emb_amount(tokens[..., 2]),
                (cont - self.cont_mean) / self.cont_std,
            ],
            dim=-1,
        )
        return self.token_proj(x) * mask[..., None]

    def encode(
        self, tokens: torch.Tensor, cont: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        """Pooled sequence representation ``(n, hidden_size)`` (``(n, 0)`` when off)."""
        n = tokens.shape[0]
        if not self.use_sequence:
            return tokens.new_zeros((n, 0), dtype=torch.float32)
        x = self.event_vectors(tokens, cont, lengths)
        present = (lengths > 0)[:, None]
        if self.encoder_kind in ("gru", "lstm"):
            # Events are left-aligned and the recurrence is causal, so the output at step
            # ``length - 1`` is the state after the customer's last event: the final state
            # a packed sequence would give, without packing's sort and shrinking per-step
            # batches (an epoch 1.3x faster on one CPU thread, 1.1x on two; bench_deep_training;
            # the padded steps after it are computed and ignored).
            with torch.autocast(device_type=x.device.type, enabled=False):
                outputs, _ = self.rnn(x.float())
            last = (lengths.clamp(min=1) - 1).to(outputs.device)
            return outputs[torch.arange(n, device=outputs.device), last] * present
        steps = torch.arange(x.shape[1], device=x.device)
        mask = steps[None, :] < lengths[:, None]
        from_end = (lengths[:, None] - 1 - steps[None, :]).clamp(min=0)
        x = x + self.positions(from_end)
        padding = ~mask
        padding[:, 0] &= lengths > 0  # an empty row attends to one (zero) token, not none
        out = self.transformer(x, src_key_padding_mask=padding)
        pooled = (out * mask[..., None]).sum(dim=1) / lengths.clamp(min=1)[:, None]
        return pooled * present

    def head_input(
        self,
        tokens: torch.Tensor,
        cont: torch.Tensor,
        lengths: torch.Tensor,
        tabular: torch.Tensor,
        text: torch.Tensor,
    ) -> torch.Tensor:
        """MLP input: ``[sequence representation, tabular, text]`` (what SHAP explains)."""
        rep = self.encode(tokens, cont, lengths)
        return torch.cat([rep.to(tabular.dtype), tabular, text], dim=-1)

    def head(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Value outputs and churn logit from the MLP input ``z``."""
        hidden = self.mlp(z)
        return self.value_head(hidden), self.churn_head(hidden).squeeze(-1)

    def forward(
        self,
        tokens: torch.Tensor,
        cont: torch.Tensor,
        lengths: torch.Tensor,
        tabular: torch.Tensor,
        text: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(self.head_input(tokens, cont, lengths, tabular, text))

    @torch.no_grad()
    def init_output_bias(self, spend: np.ndarray, zero: np.ndarray) -> None:
        """Start the heads at the training marginals (faster, steadier early epochs)."""
        spend = np.asarray(spend, dtype=float)
        share_zero = float(np.clip(np.mean(zero), 1e-3, 1 - 1e-3))
        self.churn_head.bias.fill_(float(np.log(share_zero / (1 - share_zero))))
        if self.config.loss == "ziln":
            positive = spend[spend > 0]
            logs = np.log(positive) if positive.size else np.zeros(1)
            share_pos = float(np.clip(positive.size / max(spend.size, 1), 1e-3, 1 - 1e-3))
            sd = max(float(logs.std()), 0.1)
            self.value_head.bias.copy_(
                torch.tensor(
                    [np.log(share_pos / (1 - share_pos)), float(logs.mean()), np.log(np.expm1(sd))],
                    dtype=self.value_head.bias.dtype,
                )
            )
        else:
            scale = float(spend.std()) if spend.std() > 0 else 1.0
            self.target_scale.fill_(scale)
            self.value_head.bias.fill_(float(spend.mean()) / scale)


def build_model(
    inputs: DeepInputs, config: DeepConfig, max_positions: int | None = None
) -> DeepCLVModel:
    """A :class:`DeepCLVModel` sized from the data (vocabularies, block widths, length)."""
    return DeepCLVModel(
        config,
        n_event_types=inputs.n_event_types,
        n_categories=inputs.n_categories,
        n_amount_buckets=inputs.n_amount_buckets,
        n_tabular=inputs.tabular.shape[1],
        n_text=inputs.text.shape[1],
        max_positions=max_positions or max(inputs.max_len, 1),
    )
