"""Deep CLV model: event-sequence encoder + tabular + text features, ZILN and churn heads.

Architecture (one :class:`DeepCLVModel`)
----------------------------------------
* **Tokens**: each event is the sum-free concatenation of embeddings of its type,
  category and amount bucket (id 0 = padding) and five standardised continuous
  channels (:data:`CONTINUOUS_CHANNELS`: log amount, log gap in hours, log days before
  the cutoff, rating, and the review's sentiment gathered through ``review_index``,
  0 for non-reviews), projected to ``hidden_size``.
* **Encoder**: a GRU (default; Cho et al. 2014), an LSTM (Hochreiter & Schmidhuber
  1997) or a small Transformer encoder (Vaswani et al. 2017) with learned positional
  embeddings counted *from the latest event* and a key padding mask. RNNs read packed
  sequences and are pooled at the last real step; the Transformer is mean-pooled over
  real steps. Padding therefore never changes a prediction.
* **Fusion**: the pooled sequence vector, the scaled tabular behaviour features and the
  per-customer text block are concatenated (each block may have width 0: a dataset
  without text simply gives an empty text frame) and fed to a two-layer MLP.
* **Heads**: a value head — ZILN (3 outputs, :mod:`helpers.ziln`; Wang, Liu & Miao
  2019) or, with ``loss="mse"``, a plain regression of spend scaled by the training
  standard deviation (the background article's choice) — and a churn head, the logit of
  "no purchase in the holdout".

``p_zero`` reported by :func:`predict_deep` is the **churn head's** probability for
both losses (so MSE-vs-ZILN ablations compare the value heads only, with the same
churn model); the ZILN head's own ``1 - p`` is kept as ``p_zero_value``. Expected spend
and the 10 %/90 % quantiles come from the ZILN head.

Protocol (:func:`crossfit_deep`) mirrors :func:`helpers.gbdt.crossfit_gbdt`: fixed
customer folds; fold ``k`` is predicted by a network trained on the other folds; early
stopping uses a seeded share of the *training* customers (drawn exactly as the GBDT
draws its early-stopping customers, so both use the same validation customers);
feature scalers are fit on the fold's training customers only.

Devices: CUDA when available (bf16 autocast for the MLP / Transformer, the recurrent
layers stay in float32, pinned host memory), otherwise CPU with deterministic
algorithms switched on during training. Same code on both.

References
----------
Wang, Liu & Miao (2019), A deep probabilistic model for customer lifetime value
prediction. arXiv:1912.07753.
Cho et al. (2014), Learning phrase representations using RNN encoder-decoder. EMNLP.
Vaswani et al. (2017), Attention is all you need. NeurIPS.
Loshchilov & Hutter (2019), Decoupled weight decay regularization (AdamW). ICLR.
Lundberg & Lee (2017), A unified approach to interpreting model predictions (SHAP). NeurIPS.
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence
from torch.utils.data import BatchSampler, DataLoader, Dataset, SubsetRandomSampler
from tqdm.auto import tqdm

from helpers.baselines import predictions_frame
from helpers.features import BROWSING_COLUMNS, FeatureScaler
from helpers.sequences import EVENT_TYPE_IDS, SequenceBatch
from helpers.ziln import (
    ziln_log_expected_value,
    ziln_loss,
    ziln_params,
    ziln_quantile,
)

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


# ---- inputs ---------------------------------------------------------------------------


@dataclass
class DeepInputs:
    """Model-ready arrays for ``n`` customers (sequences **right**-padded internally).

    ``tokens`` (n, L, 3) int64: event type, category, amount bucket (0 = padding);
    ``cont`` (n, L, 5) float32: :data:`CONTINUOUS_CHANNELS`; ``lengths`` (n,) real events
    per row (events sit at positions ``0 .. length-1``, oldest first); ``tabular`` and
    ``text``: unscaled per-customer frames (possibly zero columns), index = ``user_ids``.
    """

    user_ids: pd.Index
    tokens: np.ndarray
    cont: np.ndarray
    lengths: np.ndarray
    tabular: pd.DataFrame
    text: pd.DataFrame
    n_event_types: int
    n_categories: int
    n_amount_buckets: int

    def __len__(self) -> int:
        return len(self.user_ids)

    @property
    def max_len(self) -> int:
        return int(self.tokens.shape[1])


def browsing_columns(frame: pd.DataFrame) -> list[str]:
    """Behaviour columns computed from browsing (views, carts): dropped with the events."""
    return [c for c in frame.columns if c in BROWSING_COLUMNS or c.startswith(("views_", "carts_"))]


def _block(frame: pd.DataFrame | None, users: pd.Index, name: str) -> pd.DataFrame:
    if frame is None or frame.shape[1] == 0:
        return pd.DataFrame(index=users)
    missing = users.difference(frame.index)
    if len(missing):
        raise KeyError(f"{name} lacks {len(missing)} customers, e.g. {list(missing[:3])}")
    return frame.loc[users]


def prepare_inputs(
    batch: SequenceBatch,
    tabular: pd.DataFrame | None = None,
    text: pd.DataFrame | None = None,
    review_sentiment: np.ndarray | None = None,
    max_len: int | None = None,
    use_browsing: bool = True,
) -> DeepInputs:
    """Turn stage-03 sequences and per-customer frames into :class:`DeepInputs`.

    Parameters
    ----------
    batch : SequenceBatch
        Left-padded sequences (latest event last).
    tabular, text : DataFrame, optional
        Per-customer behaviour features and text block (index = user ids, at least the
        batch's users). ``None`` or zero columns → a zero-width block.
    review_sentiment : array, optional
        Sentiment per row of the texts table (``texts["sentiment"]``), gathered through
        ``batch.review_index``; without it the sentiment channel is 0.
    max_len : int, optional
        Keep only the last ``max_len`` events (default: all ``batch.max_len``).
    use_browsing : bool
        ``False`` drops view and cart events (the remaining events are re-packed and
        their gaps recomputed from ``log_days_before``) and the browsing columns of
        ``tabular`` (:func:`browsing_columns`).
    """
    users = pd.Index(batch.user_ids.astype(str), name="user_id")
    window = slice(-max_len, None) if max_len else slice(None)
    etype = batch.event_type[:, window].astype(np.int64)
    keep = batch.mask[:, window].astype(bool).copy()
    if not use_browsing:
        keep &= ~np.isin(etype, BROWSING_EVENT_IDS)
    n, length = keep.shape
    lengths = keep.sum(axis=1).astype(np.int64)
    rows, cols = np.nonzero(keep)  # row-major: oldest kept event of a row first
    pos = np.cumsum(keep, axis=1)[rows, cols] - 1

    sentiment = np.zeros((n, length), dtype=np.float32)
    review = batch.review_index[:, window]
    if review_sentiment is not None and len(review_sentiment):
        values = np.asarray(review_sentiment, dtype=np.float32)
        has = review >= 0
        if has.any() and int(review[has].max()) >= len(values):
            raise IndexError("review_index points past the end of review_sentiment")
        sentiment[has] = values[review[has]]
    log_gap = batch.log_gap_hours[:, window].astype(np.float32)
    log_days = batch.log_days_before[:, window].astype(np.float32)
    channels = {
        "log_amount": batch.log_amount[:, window].astype(np.float32),
        "log_gap_hours": log_gap,
        "log_days_before": log_days,
        "rating": batch.rating[:, window].astype(np.float32),
        "sentiment": sentiment,
    }

    tokens = np.zeros((n, length, 3), dtype=np.int64)
    cont = np.zeros((n, length, len(CONTINUOUS_CHANNELS)), dtype=np.float32)
    for j, source in enumerate((etype, batch.category[:, window], batch.amount_bucket[:, window])):
        tokens[rows, pos, j] = source[rows, cols]
    for j, name in enumerate(CONTINUOUS_CHANNELS):
        cont[rows, pos, j] = channels[name][rows, cols]
    if not use_browsing:  # gaps between the remaining events, from their days before as_of
        days = np.expm1(cont[:, :, 2].astype(np.float64))
        gap = np.zeros_like(days)
        gap[:, 1:] = np.clip(days[:, :-1] - days[:, 1:], 0, None) * 24.0
        real = np.arange(length)[None, :] < lengths[:, None]
        gap[:, 0] = 0.0
        cont[:, :, 1] = np.where(real, np.log1p(gap), 0.0).astype(np.float32)

    tab = _block(tabular, users, "tabular")
    if not use_browsing:
        tab = tab.drop(columns=browsing_columns(tab))
    return DeepInputs(
        user_ids=users,
        tokens=tokens,
        cont=cont,
        lengths=lengths,
        tabular=tab,
        text=_block(text, users, "text"),
        n_event_types=len(EVENT_TYPE_IDS) + 1,
        n_categories=batch.n_categories,
        n_amount_buckets=batch.n_amount_buckets,
    )


# ---- model ----------------------------------------------------------------------------


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

    def encode(
        self, tokens: torch.Tensor, cont: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        """Pooled sequence representation ``(n, hidden_size)`` (``(n, 0)`` when off)."""
        n = tokens.shape[0]
        if not self.use_sequence:
            return tokens.new_zeros((n, 0), dtype=torch.float32)
        width = max(int(lengths.max()), 1) if n else 1
        tokens, cont = tokens[:, :width], cont[:, :width]
        steps = torch.arange(width, device=tokens.device)
        mask = steps[None, :] < lengths[:, None]
        x = torch.cat(
            [
                self.emb_type(tokens[..., 0]),
                self.emb_category(tokens[..., 1]),
                self.emb_amount(tokens[..., 2]),
                (cont - self.cont_mean) / self.cont_std,
            ],
            dim=-1,
        )
        x = self.token_proj(x) * mask[..., None]
        present = (lengths > 0)[:, None]
        if self.encoder_kind in ("gru", "lstm"):
            packed = pack_padded_sequence(
                x.float(), lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False
            )
            with torch.autocast(device_type=x.device.type, enabled=False):
                _, state = self.rnn(packed)
            hidden = state[0] if self.encoder_kind == "lstm" else state
            return hidden[-1] * present
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


# ---- training -------------------------------------------------------------------------


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


class _Rows(Dataset):
    """Batches by index list (one tensor gather per batch, not per customer)."""

    def __init__(self, tensors: dict[str, torch.Tensor]) -> None:
        self.tensors = tensors

    def __len__(self) -> int:
        return len(next(iter(self.tensors.values())))

    def __getitem__(self, index: list[int]) -> dict[str, torch.Tensor]:
        idx = torch.as_tensor(index, dtype=torch.long)
        return {k: v[idx] for k, v in self.tensors.items()}


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


def _loader(
    data: _Rows,
    idx: np.ndarray,
    batch_size: int,
    device: torch.device,
    generator: torch.Generator | None,
) -> DataLoader:
    if generator is not None:
        sampler: Any = SubsetRandomSampler(idx.tolist(), generator=generator)
    else:
        sampler = idx.tolist()
    return DataLoader(
        data,
        sampler=BatchSampler(sampler, batch_size=batch_size, drop_last=False),
        batch_size=None,
        pin_memory=device.type == "cuda",
        num_workers=0,
    )


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
    train_users = inputs.user_ids[np.concatenate([fit_idx, valid_idx])]
    if tabular_scaler is None:
        tabular_scaler = _fit_scaler(inputs.tabular, train_users)
    elif inputs.tabular.shape[1]:
        tabular_scaler = restrict_scaler(tabular_scaler, list(inputs.tabular.columns))
    if text_scaler is None:
        text_scaler = _fit_scaler(inputs.text, train_users)
    spend = np.asarray(spend, dtype=np.float32)
    zero = np.asarray(zero, dtype=np.float32)
    data = _Rows(_tensors(inputs, tabular_scaler, text_scaler, spend, zero))
    live = None
    if live_dir is not None:
        from dvclive import Live

        live = Live(dir=str(live_dir), save_dvc_exp=False, dvcyaml=None)
    rows = []
    with _deterministic(device):
        torch.manual_seed(seed)
        model = build_model(inputs, config)
        mean, std = _continuous_stats(inputs, fit_idx)
        model.cont_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        model.cont_std.copy_(torch.as_tensor(std, dtype=torch.float32))
        model.init_output_bias(spend[fit_idx], zero[fit_idx])
        model.to(device)
        optimiser = torch.optim.AdamW(
            model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        generator = torch.Generator().manual_seed(seed)
        train_loader = _loader(data, fit_idx, config.batch_size, device, generator)
        valid_loader = _loader(data, valid_idx, max(config.batch_size, 1024), device, None)
        best, best_state, best_epoch, stale = np.inf, None, 0, 0
        epochs = tqdm(range(config.max_epochs), desc=desc, disable=not progress, leave=False)
        for epoch in epochs:
            tick = time.perf_counter()
            model.train()
            total, count = 0.0, 0
            for batch in train_loader:
                loss, n = _batch_loss(model, batch, device, config)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                if config.grad_clip:
                    nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimiser.step()
                total += float(loss.detach()) * n
                count += n
            train_loss = total / count
            valid_loss = _evaluate(model, valid_loader, device, config)
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


@torch.no_grad()
def _evaluate(
    model: DeepCLVModel, loader: DataLoader, device: torch.device, config: DeepConfig
) -> float:
    model.eval()
    total, count = 0.0, 0
    for batch in loader:
        loss, n = _batch_loss(model, batch, device, config)
        total += float(loss) * n
        count += n
    return total / count


def _batch_loss(
    model: DeepCLVModel, batch: dict, device: torch.device, config: DeepConfig
) -> tuple[torch.Tensor, int]:
    """Mean loss of one batch (moved to ``device``, autocast on CUDA) and its size."""
    batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
    with _autocast(device, config):
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
    data = _Rows(_tensors(inputs, trained.tabular_scaler, trained.text_scaler))
    values, churns = [], []
    for batch in _loader(data, idx, batch_size, device, None):
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
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


# ---- cross-fitting --------------------------------------------------------------------


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
        """Tidy predictions (:func:`helpers.baselines.predictions_frame`)."""
        return predictions_frame(name, self.spend, p_zero=self.p_zero)

    def intervals(self, name: str = "deep") -> pd.DataFrame:
        """``user_id, model, q10, q90`` (the 80 % ZILN interval; NaN for MSE)."""
        frame = self.table[["q10", "q90"]].rename_axis("user_id").reset_index()
        frame.insert(1, "model", name)
        return frame


def interval_coverage(actual: pd.Series, lower: pd.Series, upper: pd.Series) -> float:
    """Share of customers whose actual value lies in ``[lower, upper]``.

    Raises
    ------
    ValueError
        When ``actual`` lacks some of the customers of ``lower`` (misaligned indexes
        would otherwise silently count as misses).
    """
    a = actual.reindex(lower.index)
    if a.isna().any() or not lower.index.equals(upper.index):
        raise ValueError("actual, lower and upper must cover the same customers (same index)")
    return float(((a >= lower) & (a <= upper)).mean())


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
        ``default_rng(seed + 1)`` exactly as :func:`helpers.gbdt.crossfit_gbdt`.
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


# ---- checkpoints ----------------------------------------------------------------------


def save_checkpoint(trained: TrainedDeep, path: str | Path) -> Path:
    """State dict to ``path`` and its config / shapes / scalers to ``path.with_suffix('.json')``."""
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
        "seconds": trained.seconds,
        "curve": trained.curve.to_dict(orient="list"),
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
        seconds=float(meta["seconds"]),
        device=str(device),
    )


# ---- explanations ---------------------------------------------------------------------


class _HeadOutput(nn.Module):
    """MLP input → one scalar per customer (for SHAP)."""

    def __init__(self, model: DeepCLVModel, target: str) -> None:
        super().__init__()
        self.model, self.target = model, target

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        value, churn = self.model.head(z)
        if self.target == "churn":
            out = churn
        elif self.model.config.loss == "ziln":
            out = ziln_log_expected_value(value)
            if self.target == "value":
                out = torch.exp(out)
        else:
            out = value.squeeze(-1) * self.model.target_scale
        return out[:, None]


@dataclass
class DeepExplanation:
    """SHAP values of the deep model's MLP inputs (one row per explained customer).

    ``values`` has one column per tabular / text feature plus ``sequence`` (the
    encoded sequence's dimensions summed); ``data`` the scaled feature values the
    network saw (``sequence``: NaN); ``base_value`` the mean output on the background.
    """

    values: pd.DataFrame
    data: pd.DataFrame
    base_value: float
    target: str

    def importance(self) -> pd.Series:
        """Mean absolute SHAP value per feature, largest first."""
        return self.values.abs().mean().sort_values(ascending=False)


def explain_deep(
    trained: TrainedDeep,
    inputs: DeepInputs,
    idx: np.ndarray,
    background_idx: np.ndarray,
    target: str = "log_value",
    n_samples: int = 200,
    seed: int = 0,
) -> DeepExplanation:
    """``shap.GradientExplainer`` attributions of the MLP inputs (sequence held encoded).

    Each customer's sequence is encoded once; the explained function maps the MLP
    input ``[sequence representation, tabular, text]`` to ``target``: ``"log_value"``
    (log expected spend: additive in log space, the default), ``"value"`` (expected
    spend) or ``"churn"`` (logit of no purchase). The sequence dimensions' attributions
    are summed into one ``sequence`` column (Lundberg & Lee 2017, expected gradients).

    Parameters
    ----------
    idx, background_idx : int arrays
        Customers to explain, and background customers (e.g. a sample of the training
        customers of the fold the model was trained on).
    """
    import shap

    if target not in ("log_value", "value", "churn"):
        raise ValueError("target must be 'log_value', 'value' or 'churn'")
    model = copy.deepcopy(trained.model).to("cpu").eval()
    data = _Rows(_tensors(inputs, trained.tabular_scaler, trained.text_scaler))

    def head_inputs(rows: np.ndarray) -> torch.Tensor:
        batch = data[list(np.asarray(rows))]
        with torch.no_grad():
            return model.head_input(*(batch[k] for k in _MODEL_KEYS)).float()

    z, background = head_inputs(idx), head_inputs(background_idx)
    wrapped = _HeadOutput(model, target).eval()
    explainer = shap.GradientExplainer(wrapped, background)
    values = explainer.shap_values(z, nsamples=n_samples, rseed=seed)
    values = np.asarray(values[0] if isinstance(values, list) else values)
    values = values.reshape(len(z), -1)
    rep = model.rep_dim
    names = trained.feature_names
    frame = pd.DataFrame(values[:, rep:], index=inputs.user_ids[idx], columns=names)
    shown = pd.DataFrame(z[:, rep:].numpy(), index=frame.index, columns=names)
    if rep:
        frame.insert(0, "sequence", values[:, :rep].sum(axis=1))
        shown.insert(0, "sequence", np.nan)
    with torch.no_grad():
        base = float(wrapped(background).mean())
    return DeepExplanation(values=frame, data=shown, base_value=base, target=target)
