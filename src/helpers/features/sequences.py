"""Per-user event sequences for sequence models (GRU / LSTM / Transformer).

:func:`build_sequences` keeps, for each customer, the **last** ``max_len`` events
strictly before ``as_of`` and lays them out **left-padded**: the most recent event is
always at position ``max_len - 1``, padding (id 0, mask False) fills the start of rows
shorter than ``max_len``. Events of one user are ordered by timestamp; ties keep the
order of the input frame (canonical events are sorted by ``user_id, ts, event_type``).
DuckDB orders and truncates the events out of core (a Parquet file is scanned, not
loaded) and streams back only the kept events in Arrow batches, laid into the arrays by
fancy indexing: memory follows the output, and there is no per-user loop.

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

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from helpers.data.schema import EVENT_TYPES
from helpers.data.split import as_utc
from helpers.engines.dialect import event_columns
from helpers.engines.queries import NS_PER_DAY
from helpers.engines.runner import (
    CHUNK_EVENTS,
    EventSource,
    frame_to_arrow,
    parquet_columns,
    range_filter,
    user_ranges,
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


def _sequence_source(
    events: EventSource, review_key: str | None, review_keys: pd.Series | None
) -> tuple[str, dict[str, pa.Table], list[str], bool]:
    """FROM-clause source, Arrow tables to register, the file's columns, keys usable."""
    tables: dict[str, pa.Table] = {}
    keys_ok = True
    if isinstance(events, pd.DataFrame):
        columns = list(events.columns)
        extra = {"row_nr": np.arange(len(events), dtype=np.int64)}
        if "rating" in events:
            extra["rating"] = events["rating"].to_numpy(dtype=float, na_value=np.nan)
        keys = events[review_key] if review_key is not None else events.index
        keys = np.asarray(keys)
        keys_ok = np.issubdtype(keys.dtype, np.integer)
        extra["review_key"] = keys.astype(np.int64) if keys_ok else np.full(len(events), -1)
        table = frame_to_arrow(events)
        for name, values in extra.items():
            table = table.append_column(name, pa.array(values, from_pandas=True))
        tables["seq_source"] = table
        return "seq_source", tables, columns, keys_ok
    path = Path(events)
    if not path.exists():
        raise FileNotFoundError(f"event file {path} does not exist")
    columns, _ = parquet_columns(path)
    source = f"read_parquet('{str(path).replace(chr(39), chr(39) * 2)}', file_row_number=true)"
    return source, tables, columns, keys_ok


def build_sequences(
    events: EventSource,
    as_of: pd.Timestamp | str,
    max_len: int,
    customers: pd.Index,
    category_vocab: list[str] | None = None,
    amount_bins: tuple[float, ...] = DEFAULT_AMOUNT_BINS,
    review_key: str | None = None,
    review_keys: pd.Series | None = None,
    threads: int | None = None,
    memory_limit: str | None = "2GB",
    batch_rows: int = 1_000_000,
    chunk_events: int | None = CHUNK_EVENTS,
) -> SequenceBatch:
    """The last ``max_len`` events before ``as_of`` of each customer, left-padded.

    DuckDB selects, orders and truncates the events (one window over the events of
    the requested customers before ``as_of``) and streams only the kept ones back in
    Arrow batches of ``batch_rows``, so memory follows the output
    (``n_customers x max_len``), not the event log.

    Parameters
    ----------
    events : DataFrame or path
        Canonical events, or a Parquet file of them (read out of core); ``user_id, ts,
        event_type`` required, ``category, amount, rating`` used when present. Events
        at or after ``as_of`` are ignored.
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
        (DataFrame input) column holding each review's integer key into the reviews
        table; default the row labels of ``events`` (which must then be integers).
    review_keys : Series, optional
        (Parquet input) review key by the event's row position in the file; reviews
        not in it get -1. Default: the row position itself.
    threads, memory_limit :
        DuckDB threads and memory limit (beyond it DuckDB spills to a temporary
        directory that is removed afterwards).
    batch_rows : int
        Rows per Arrow batch fetched from DuckDB.
    chunk_events : int, optional
        A Parquet file sorted by ``user_id`` is processed in ``user_id`` ranges of about
        this many events (:func:`helpers.engines.runner.user_ranges`), each reading only
        its own row groups; None: one query over everything.

    Returns
    -------
    SequenceBatch
    """
    edges, as_of, customers = _checked_arguments(max_len, amount_bins, as_of, customers)
    as_of_ns = int(as_of.value)
    source, tables, columns, keys_ok = _sequence_source(events, review_key, review_keys)
    ranges = _checked_ranges(events, columns, chunk_events)
    from_frame = isinstance(events, pd.DataFrame)
    join_keys = review_keys is not None and not from_frame
    query = _sequence_query(source, columns, from_frame, join_keys, as_of_ns, max_len)
    tables.update(_lookup_tables(customers, review_keys if join_keys else None))
    grids = _Grids.empty(len(customers), max_len)
    with _duckdb_connection(tables, threads, memory_limit) as con:
        for lo, hi in tqdm(ranges, desc="user ranges", leave=False, disable=len(ranges) < 2):
            for rb in con.sql(query(range_filter(lo, hi))).to_arrow_reader(batch_rows):
                grids.add(rb, edges, as_of_ns, keys_ok)
    return grids.to_batch(customers, category_vocab, edges, as_of)


def _checked_arguments(
    max_len: int, amount_bins: tuple[float, ...], as_of: pd.Timestamp | str, customers: pd.Index
) -> tuple[np.ndarray, pd.Timestamp, pd.Index]:
    """Validated ``amount_bins`` edges, UTC ``as_of`` and unique ``customers``."""
    if max_len < 1:
        raise ValueError("max_len must be at least 1")
    edges = np.asarray(amount_bins, dtype=float)
    if edges.ndim != 1 or np.any(np.diff(edges) <= 0):
        raise ValueError("amount_bins must be strictly increasing")
    as_of = as_utc(as_of)
    customers = pd.Index(customers)
    if customers.has_duplicates:
        raise ValueError("customers must be unique")
    return edges, as_of, customers


def _checked_ranges(
    events: EventSource, columns: list[str], chunk_events: int | None
) -> list[tuple]:
    """The ``user_id`` ranges to query (one for a frame), once the required columns are
    known to be there."""
    ranges = (
        [(None, None)] if isinstance(events, pd.DataFrame) else user_ranges(events, chunk_events)
    )
    missing = [c for c in ("user_id", "ts", "event_type") if c not in columns]
    if missing:
        raise ValueError(f"events lack required column(s) {missing}")
    return ranges


def _sequence_query(
    source: str, columns: list[str], from_frame: bool, join_keys: bool, as_of_ns: int, max_len: int
) -> Callable[[str], str]:
    """The window query over the events of ``source`` matching a ``WHERE`` condition.

    It keeps the requested customers' last ``max_len`` events before ``as_of_ns``, with
    the review key: a frame's column; for a file, the row number or (``join_keys``) the
    ``seq_review_keys`` table.
    """
    ts_unit = None if from_frame else "ns"
    select = event_columns("duckdb", ts_unit, "category" in columns, "amount" in columns)
    rating_sql = "CAST(rating AS DOUBLE)" if "rating" in columns else "CAST(NULL AS DOUBLE)"
    row_nr = "row_nr" if from_frame else "file_row_number"
    source_key = "review_key" if from_frame else ("NULL" if join_keys else "file_row_number")
    final_key = "coalesce(k.review_key, -1)" if join_keys else "e.review_key"
    join_sql = "LEFT JOIN seq_review_keys k ON k.row_nr = e.row_nr" if join_keys else ""

    def query(where: str) -> str:
        return f"""
        WITH ev AS (
            SELECT {", ".join(select)}, {rating_sql} AS rating, {row_nr} AS row_nr,
                {source_key} AS review_key
            FROM {source} WHERE {where}
        ),
        e AS (              -- the leakage guard: strictly before as_of, requested users
            SELECT c.code, ev.t, ev.row_nr, ev.et, ev.category, ev.amount, ev.rating,
                ev.review_key
            FROM ev JOIN seq_customers c ON ev.user_id = c.user_id
            WHERE ev.t < {as_of_ns}
        ),
        w AS (              -- per user, newest first (ties: later input rows first)
            SELECT e.*,
                t - lead(t) OVER u AS gap,
                row_number() OVER u - 1 AS from_end
            FROM e WINDOW u AS (PARTITION BY code ORDER BY t DESC, row_nr DESC)
        )
        SELECT e.code, e.from_end, e.t, coalesce(e.gap, 0) AS gap, e.et, e.category,
            CAST(e.amount AS DOUBLE) AS amount, e.rating, {final_key} AS review_key
        FROM w e {join_sql}
        WHERE e.from_end < {int(max_len)}
        """

    return query


def _lookup_tables(customers: pd.Index, review_keys: pd.Series | None) -> dict[str, pa.Table]:
    """``seq_customers`` (user id → row code) and, when given, ``seq_review_keys``."""
    tables = {
        "seq_customers": pa.table(
            {
                "user_id": pa.array(customers.astype("str"), pa.large_string()),
                "code": np.arange(len(customers), dtype=np.int32),
            }
        )
    }
    if review_keys is not None:
        tables["seq_review_keys"] = pa.table(
            {
                "row_nr": np.asarray(review_keys.index, dtype=np.int64),
                "review_key": np.asarray(review_keys.to_numpy(), dtype=np.int64),
            }
        )
    return tables


@contextlib.contextmanager
def _duckdb_connection(
    tables: dict[str, pa.Table], threads: int | None, memory_limit: str | None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection with ``tables`` registered, spilling to a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="sequences_duckdb_") as spill:
        config: dict[str, object] = {"temp_directory": spill}
        if memory_limit is not None:
            config["memory_limit"] = memory_limit
        if threads is not None:
            config["threads"] = int(threads)
        con = duckdb.connect(config=config)
        try:
            for name, table in tables.items():
                con.register(name, table)
            con.execute("SET preserve_insertion_order = false")
            yield con
        finally:
            con.close()


@dataclass
class _Grids:
    """The ``(n_users, max_len)`` output arrays, filled batch by batch by :meth:`add`."""

    etype: np.ndarray
    cat_global: np.ndarray  #: -2 pad, -1 missing, else a code into ``names``
    bucket: np.ndarray
    log_amount: np.ndarray
    log_gap: np.ndarray
    log_days: np.ndarray
    rating: np.ndarray
    review_index: np.ndarray
    mask: np.ndarray
    lengths: np.ndarray
    names: dict[str, int] = field(default_factory=dict)  #: category → global code

    @classmethod
    def empty(cls, n_users: int, max_len: int) -> _Grids:
        shape = (n_users, max_len)
        return cls(
            etype=np.zeros(shape, dtype=np.int8),
            cat_global=np.full(shape, -2, dtype=np.int32),
            bucket=np.zeros(shape, dtype=np.int8),
            log_amount=np.zeros(shape, dtype=np.float32),
            log_gap=np.zeros(shape, dtype=np.float32),
            log_days=np.zeros(shape, dtype=np.float32),
            rating=np.zeros(shape, dtype=np.int8),
            review_index=np.full(shape, -1, dtype=np.int64),
            mask=np.zeros(shape, dtype=np.bool_),
            lengths=np.zeros(n_users, dtype=np.int64),
        )

    def add(self, rb: pa.RecordBatch, edges: np.ndarray, as_of_ns: int, keys_ok: bool) -> None:
        """Lay the events of one Arrow batch of the query into the arrays."""
        code = rb.column("code").to_numpy().astype(np.int64)
        if len(code) == 0:
            return
        pos = self.mask.shape[1] - 1 - rb.column("from_end").to_numpy().astype(np.int64)
        et = rb.column("et").to_numpy().astype(np.int64)
        if np.any(et < 0):
            raise ValueError(f"event_type outside {EVENT_TYPES}")
        self.etype[code, pos] = et + 1
        categories = pc.dictionary_encode(rb.column("category"))
        names = self.names
        local = [names.setdefault(c, len(names)) for c in categories.dictionary.to_pylist()]
        to_global = np.asarray(local + [-1], dtype=np.int32)  # [-1]: missing
        idx = pc.fill_null(categories.indices, -1).to_numpy()
        self.cat_global[code, pos] = to_global[idx]
        amount = rb.column("amount").to_numpy(zero_copy_only=False)
        amount = np.asarray(amount, dtype=float)
        has_amount = ~np.isnan(amount)
        self.bucket[code, pos] = np.where(
            has_amount, 2 + np.searchsorted(edges, amount, side="right"), NO_AMOUNT
        )
        self.log_amount[code, pos] = np.where(
            has_amount, np.log1p(np.where(has_amount, amount, 0.0)), 0.0
        )
        gap_ns = rb.column("gap").to_numpy().astype(np.int64)
        self.log_gap[code, pos] = np.log1p(gap_ns / 3.6e12)
        t = rb.column("t").to_numpy().astype(np.int64)
        self.log_days[code, pos] = np.log1p((as_of_ns - t) / NS_PER_DAY)
        rating = np.asarray(rb.column("rating").to_numpy(zero_copy_only=False), float)
        self.rating[code, pos] = np.nan_to_num(rating, nan=0.0)
        is_review = et + 1 == EVENT_TYPE_IDS["review"]
        if is_review.any():
            if not keys_ok:
                raise TypeError("review keys must be integers (pass review_key=...)")
            keys = rb.column("review_key").to_numpy(zero_copy_only=False)
            keys = np.asarray(keys, dtype=np.int64)
            self.review_index[code[is_review], pos[is_review]] = keys[is_review]
        self.mask[code, pos] = True
        self.lengths += np.bincount(code, minlength=len(self.lengths))

    def to_batch(
        self,
        customers: pd.Index,
        category_vocab: list[str] | None,
        edges: np.ndarray,
        as_of: pd.Timestamp,
    ) -> SequenceBatch:
        """The filled arrays as a batch, categories encoded by ``category_vocab``."""
        present = np.unique(self.cat_global[self.cat_global >= 0])
        global_names = np.asarray(list(self.names), dtype=object)
        if category_vocab is None:
            category_vocab = sorted(str(c) for c in global_names[present])
        category_vocab = [str(c) for c in category_vocab]
        vocab_id = {c: i + 2 for i, c in enumerate(category_vocab)}
        # [-1] missing, [-2] pad
        to_id = np.full(len(self.names) + 2, UNKNOWN_CATEGORY, dtype=np.int32)
        to_id[-2] = PAD
        for i, c in enumerate(global_names):
            to_id[i] = vocab_id.get(str(c), UNKNOWN_CATEGORY)
        return SequenceBatch(
            user_ids=customers.astype("str").to_numpy(dtype=np.str_),
            event_type=self.etype,
            category=to_id[self.cat_global],
            amount_bucket=self.bucket,
            log_amount=self.log_amount,
            log_gap_hours=self.log_gap,
            log_days_before=self.log_days,
            rating=self.rating,
            review_index=self.review_index,
            mask=self.mask,
            lengths=self.lengths.astype(np.int32),
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
