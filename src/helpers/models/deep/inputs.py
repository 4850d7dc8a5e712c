"""Model inputs: sequences, tabular behaviour and text blocks aligned per customer."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.features.behaviour import BROWSING_COLUMNS
from helpers.features.sequences import EVENT_TYPE_IDS, SequenceBatch
from helpers.models.deep.config import BROWSING_EVENT_IDS, CONTINUOUS_CHANNELS


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
    lengths = keep.sum(axis=1).astype(np.int64)
    tokens, cont = _packed_channels(batch, window, etype, keep, review_sentiment)
    if not use_browsing:  # gaps between the remaining events, from their days before as_of
        _recompute_gaps(cont, lengths)
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


def _packed_channels(
    batch: SequenceBatch,
    window: slice,
    etype: np.ndarray,
    keep: np.ndarray,
    review_sentiment: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """``tokens`` and ``cont`` of the ``keep`` events of ``batch[:, window]``, moved to
    positions ``0 .. length-1`` of each row (oldest first), zeros after."""
    n, length = keep.shape
    rows, cols = np.nonzero(keep)  # row-major: oldest kept event of a row first
    pos = np.cumsum(keep, axis=1)[rows, cols] - 1
    channels = {
        "log_amount": batch.log_amount[:, window].astype(np.float32),
        "log_gap_hours": batch.log_gap_hours[:, window].astype(np.float32),
        "log_days_before": batch.log_days_before[:, window].astype(np.float32),
        "rating": batch.rating[:, window].astype(np.float32),
        "sentiment": _sentiment_grid(batch.review_index[:, window], review_sentiment, (n, length)),
    }
    tokens = np.zeros((n, length, 3), dtype=np.int64)
    cont = np.zeros((n, length, len(CONTINUOUS_CHANNELS)), dtype=np.float32)
    for j, source in enumerate((etype, batch.category[:, window], batch.amount_bucket[:, window])):
        tokens[rows, pos, j] = source[rows, cols]
    for j, name in enumerate(CONTINUOUS_CHANNELS):
        cont[rows, pos, j] = channels[name][rows, cols]
    return tokens, cont


def _sentiment_grid(
    review: np.ndarray, review_sentiment: np.ndarray | None, shape: tuple[int, int]
) -> np.ndarray:
    """Sentiment of each review event (by its ``review`` index), 0 elsewhere."""
    sentiment = np.zeros(shape, dtype=np.float32)
    if review_sentiment is not None and len(review_sentiment):
        values = np.asarray(review_sentiment, dtype=np.float32)
        has = review >= 0
        if has.any() and int(review[has].max()) >= len(values):
            raise IndexError("review_index points past the end of review_sentiment")
        sentiment[has] = values[review[has]]
    return sentiment


def _recompute_gaps(cont: np.ndarray, lengths: np.ndarray) -> None:
    """Set the ``log_gap_hours`` channel (in place) from ``log_days_before`` of the
    packed events: the hours since the previous remaining event, 0 for the first."""
    length = cont.shape[1]
    days = np.expm1(cont[:, :, 2].astype(np.float64))
    gap = np.zeros_like(days)
    gap[:, 1:] = np.clip(days[:, :-1] - days[:, 1:], 0, None) * 24.0
    real = np.arange(length)[None, :] < lengths[:, None]
    gap[:, 0] = 0.0
    cont[:, :, 1] = np.where(real, np.log1p(gap), 0.0).astype(np.float32)
