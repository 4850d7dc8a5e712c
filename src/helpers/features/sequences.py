"""Per-user event sequences for sequence models (GRU / LSTM / Transformer).

:func:`build_sequences` keeps, for each customer, the **last** ``max_len`` events
strictly before ``as_of`` and lays them out **left-padded**: the most recent event is
always at position ``max_len - 1``, padding (id 0, mask False) fills the start of rows
shorter than ``max_len``. Events of one user are ordered by timestamp; ties keep the
order of the input frame (canonical events are sorted by ``user_id, ts, event_type``).
Everything is vectorised (one sort, per-user positions counted from the end, fancy
indexing): there is no per-user loop.

Encodings (0 always means padding)
----------------------------------
``event_type``     1 view, 2 cart, 3 purchase, 4 review (:data:`EVENT_TYPE_IDS`).
``category``       1 unknown (missing, or not in ``category_vocab``), ``2 + k`` for
                   ``category_vocab[k]``.
``amount_bucket``  1 no amount (non-purchase events), ``2 + k`` where ``k`` is the
                   number of ``amount_bins`` edges <= amount.
``log_amount``     ``log1p(amount)``, 0 without an amount.
``log_gap_hours``  ``log1p`` of the hours since the user's previous event before
                   ``as_of`` (also across the truncation point); 0 for the first event.
``log_days_before`` ``log1p`` of the days from the event to ``as_of``.
``rating``         review rating 1-5, 0 when none.
``review_index``   for review events, the review's key into the reviews table of the
                   text features (by default the event's row label in ``events``, as
                   kept by ``events.loc[events.event_type == "review"]``); -1 otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from helpers.data.schema import EVENT_TYPES
from helpers.data.split import as_utc
from helpers.features.behaviour import (
    NS_PER_DAY,
    encode_strings,
    event_type_codes,
    timestamps_ns,
)

EVENT_TYPE_IDS: dict[str, int] = {name: i + 1 for i, name in enumerate(EVENT_TYPES)}
PAD: int = 0
UNKNOWN_CATEGORY: int = 1
NO_AMOUNT: int = 1
DEFAULT_AMOUNT_BINS: tuple[float, ...] = (5.0, 10.0, 20.0, 35.0, 50.0, 75.0, 100.0, 200.0, 500.0)

_ARRAYS: tuple[str, ...] = (
    "event_type",
    "category",
    "amount_bucket",
    "log_amount",
    "log_gap_hours",
    "log_days_before",
    "rating",
    "review_index",
    "mask",
    "lengths",
)


@dataclass
class SequenceBatch:
    """Padded per-user sequences: arrays of shape ``(n_users, max_len)`` unless noted.

    ``user_ids`` (n_users,) follows the ``customers`` order; ``lengths`` (n_users,) is
    the number of real events per row (``mask.sum(axis=1)``).
    """

    user_ids: np.ndarray
    event_type: np.ndarray
    category: np.ndarray
    amount_bucket: np.ndarray
    log_amount: np.ndarray
    log_gap_hours: np.ndarray
    log_days_before: np.ndarray
    rating: np.ndarray
    review_index: np.ndarray
    mask: np.ndarray
    lengths: np.ndarray
    category_vocab: list[str] = field(default_factory=list)
    amount_bins: tuple[float, ...] = DEFAULT_AMOUNT_BINS
    as_of: str = ""

    @property
    def max_len(self) -> int:
        return int(self.mask.shape[1])

    @property
    def n_categories(self) -> int:
        """Size of the category id space (pad + unknown + vocabulary)."""
        return len(self.category_vocab) + 2

    @property
    def n_amount_buckets(self) -> int:
        """Size of the amount-bucket id space (pad + no amount + bins)."""
        return len(self.amount_bins) + 3

    def __len__(self) -> int:
        return len(self.user_ids)


def _lookup(values: pd.Series, vocabulary: pd.Index | list[str]) -> np.ndarray:
    """Position of each value in ``vocabulary`` (int32, -1 when missing or absent), by Arrow."""
    arr = pa.array(values.astype("str"), from_pandas=True)
    if len(arr) == 0:
        return np.zeros(0, dtype=np.int32)
    vocab = pa.array(pd.Series(vocabulary, dtype="str"), from_pandas=True).cast(arr.type)
    found = pc.index_in(arr, value_set=vocab)
    return np.asarray(pc.fill_null(found, -1).to_numpy(), dtype=np.int32)


def build_sequences(
    events: pd.DataFrame,
    as_of: pd.Timestamp | str,
    max_len: int,
    customers: pd.Index,
    category_vocab: list[str] | None = None,
    amount_bins: tuple[float, ...] = DEFAULT_AMOUNT_BINS,
    review_key: str | None = None,
) -> SequenceBatch:
    """The last ``max_len`` events before ``as_of`` of each customer, left-padded.

    Parameters
    ----------
    events : DataFrame
        Canonical events; ``user_id, ts, event_type`` required, ``category, amount,
        rating`` used when present. Events at or after ``as_of`` are ignored.
    as_of : timestamp
        Prediction instant (exclusive), usually ``Split.calibration_end``.
    max_len : int
        Sequence length ``L``.
    customers : Index
        Users, one row each in this order; users without events get all-padding rows.
    category_vocab : list of str, optional
        Category vocabulary. Default: the sorted categories present in the returned
        sequences (its size varies with the data). Pass the training vocabulary
        when encoding other users.
    amount_bins : tuple of float
        Increasing bucket edges for ``amount_bucket``.
    review_key : str, optional
        Column holding each review's integer key into the reviews table; default the
        row labels of ``events`` (which must then be integers).

    Returns
    -------
    SequenceBatch
    """
    if max_len < 1:
        raise ValueError("max_len must be at least 1")
    edges = np.asarray(amount_bins, dtype=float)
    if edges.ndim != 1 or np.any(np.diff(edges) <= 0):
        raise ValueError("amount_bins must be strictly increasing")
    as_of = as_utc(as_of)
    as_of_ns = int(as_of.value)
    customers = pd.Index(customers)
    if customers.has_duplicates:
        raise ValueError("customers must be unique")
    n_users = len(customers)

    t_all = timestamps_ns(events["ts"])
    user_code = _lookup(events["user_id"], customers)
    # the leakage guard: only events strictly before as_of, of the requested users
    rows = np.flatnonzero((t_all < as_of_ns) & (user_code >= 0))
    code, t = user_code[rows], t_all[rows]
    del user_code
    same_user = code[1:] == code[:-1]
    if not (np.all(code[1:] >= code[:-1]) and np.all(~same_user | (t[1:] >= t[:-1]))):
        order = np.lexsort((t, code))  # stable: ties keep the input order
        rows, code, t = rows[order], code[order], t[order]
    n = len(rows)

    gap_ns = np.zeros(n, dtype=np.int64)
    if n > 1:
        gap_ns[1:] = t[1:] - t[:-1]
        gap_ns[1:][code[1:] != code[:-1]] = 0  # a user's first event
    ends = np.cumsum(np.bincount(code, minlength=n_users))
    from_end = ends[code] - 1 - np.arange(n)
    keep = from_end < max_len
    rows, code, t, gap_ns = rows[keep], code[keep], t[keep], gap_ns[keep]
    pos = max_len - 1 - from_end[keep]
    del from_end, keep

    shape = (n_users, max_len)

    def grid(dtype: type, fill: float, values: np.ndarray) -> np.ndarray:
        out = np.full(shape, fill, dtype=dtype)
        out[code, pos] = values
        return out

    etype = event_type_codes(events["event_type"])[rows].astype(np.int8) + 1
    if np.any(etype == 0):
        raise ValueError(f"event_type outside {EVENT_TYPES}")
    if "category" in events:
        cat_code, dictionary = encode_strings(events["category"])
        cat_code = cat_code[rows]
        if category_vocab is None:
            present = np.unique(cat_code[cat_code >= 0])
            category_vocab = sorted(dictionary.take(pa.array(present)).to_pylist())
        category_vocab = [str(c) for c in category_vocab]
        to_id = np.full(len(dictionary) + 1, UNKNOWN_CATEGORY, dtype=np.int32)  # [-1]: missing
        if len(dictionary) and category_vocab:
            found = pc.index_in(dictionary, value_set=pa.array(category_vocab, dictionary.type))
            found = np.asarray(pc.fill_null(found, -1).to_numpy(), dtype=np.int32)
            to_id[:-1] = np.where(found >= 0, found + 2, UNKNOWN_CATEGORY)
        cat = to_id[cat_code]
    else:
        category_vocab = [] if category_vocab is None else [str(c) for c in category_vocab]
        cat = np.full(len(rows), UNKNOWN_CATEGORY, dtype=np.int32)
    if "amount" in events:
        amount = events["amount"].iloc[rows].to_numpy(dtype=float, na_value=np.nan)
    else:
        amount = np.full(len(rows), np.nan)
    has_amount = ~np.isnan(amount)
    bucket = np.where(has_amount, 2 + np.searchsorted(edges, amount, side="right"), NO_AMOUNT)
    log_amount = np.where(has_amount, np.log1p(np.where(has_amount, amount, 0.0)), 0.0)
    if "rating" in events:
        rating = events["rating"].iloc[rows].to_numpy(dtype=float, na_value=0.0)
    else:
        rating = np.zeros(len(rows))
    is_review = etype == EVENT_TYPE_IDS["review"]
    review_index = np.full(len(rows), -1, dtype=np.int64)
    if is_review.any():
        at = rows[is_review]
        keys = events[review_key].iloc[at] if review_key is not None else events.index[at]
        keys = np.asarray(keys)
        if not np.issubdtype(keys.dtype, np.integer):
            raise TypeError("review keys must be integers (pass review_key=...)")
        review_index[is_review] = keys

    return SequenceBatch(
        user_ids=customers.astype("str").to_numpy(dtype=np.str_),
        event_type=grid(np.int8, PAD, etype),
        category=grid(np.int32, PAD, cat),
        amount_bucket=grid(np.int8, PAD, bucket),
        log_amount=grid(np.float32, 0.0, log_amount),
        log_gap_hours=grid(np.float32, 0.0, np.log1p(gap_ns / 3.6e12)),
        log_days_before=grid(np.float32, 0.0, np.log1p((as_of_ns - t) / NS_PER_DAY)),
        rating=grid(np.int8, 0, rating),
        review_index=grid(np.int64, -1, review_index),
        mask=grid(np.bool_, False, True),
        lengths=np.minimum(np.bincount(code, minlength=n_users), max_len).astype(np.int32),
        category_vocab=category_vocab,
        amount_bins=tuple(float(e) for e in edges),
        as_of=as_of.isoformat(),
    )


def save_sequences(batch: SequenceBatch, path: str | Path) -> None:
    """Write ``batch`` to an uncompressed ``.npz`` (no pickled objects)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        user_ids=batch.user_ids.astype(np.str_),
        category_vocab=np.asarray(batch.category_vocab, dtype=np.str_),
        amount_bins=np.asarray(batch.amount_bins, dtype=float),
        as_of=np.asarray(batch.as_of, dtype=np.str_),
        **{name: getattr(batch, name) for name in _ARRAYS},
    )


def load_sequences(path: str | Path) -> SequenceBatch:
    """Read a batch written by :func:`save_sequences`."""
    with np.load(path, allow_pickle=False) as data:
        return SequenceBatch(
            user_ids=data["user_ids"],
            category_vocab=data["category_vocab"].tolist(),
            amount_bins=tuple(data["amount_bins"].tolist()),
            as_of=str(data["as_of"]),
            **{name: data[name] for name in _ARRAYS},
        )
