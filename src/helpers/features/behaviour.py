"""Tabular behaviour features per user (RFM, windows, browsing, timing, category).

Everything is computed by one SQL text (:func:`helpers.engines.queries.behaviour_sql`)
on DuckDB (default; a Parquet file is scanned out of core) or on Spark
(``engine="spark"``, the same text transpiled by SQLGlot, :mod:`helpers.engines`), with
no per-user Python loop, from events **strictly before** ``as_of`` only: the first SQL
step is ``WHERE t < as_of`` and the result is checked against it. Nothing at or
after ``as_of`` (the holdout) can reach a feature; appending or editing such events
leaves the frame unchanged, and the set of columns is decided from pre-``as_of`` data
too.

Conventions
-----------
* Times are exact (nanosecond timestamps); "days" are ``timedelta / 24 h`` as floats.
* A **purchase day** is a UTC calendar day with at least one purchase (the CDNOW
  protocol of :mod:`helpers.data.split`): several transactions on one day are one purchase
  occasion whose spend is their sum.
* **Windows** ``w`` cover ``[as_of - w days, as_of)``: the lower bound is *inclusive*,
  ``as_of`` itself excluded. With ``as_of`` at midnight (``Split.calibration_end``) a
  window is exactly the last ``w`` calendar days. A purchase day belongs to a window
  when its last purchase does.
* **History length** ``H`` = days from the earliest event in the data (any user, before
  ``as_of``) to ``as_of``. It is the sentinel for "never happened": a time-since column
  of an event the user never had is set to ``H`` (longer than anything observable).

Columns (present only when the data supports them)
--------------------------------------------------
rfm (always; Fader, Hardie & Lee 2005)
    ``recency_days``     as_of - last purchase (days; ``H`` if none). It is also the
                         "days since last purchase".
    ``frequency``        purchase days - 1 (the BTYD repeat count; 0 if none).
    ``n_purchase_days``  purchase days.
    ``tenure_days``      as_of - first purchase (days; ``H`` if none).
    ``monetary_mean``    mean spend per purchase day (0 if none).
    ``monetary_total``   total spend.
windows (for each ``w`` in ``windows``)
    ``purchases_{w}d``, ``spend_{w}d`` always; ``views_{w}d``, ``carts_{w}d``,
    ``reviews_{w}d`` (event counts) when the data holds views / carts / reviews.
timing (always)
    ``ipt_mean_days``    mean gap between consecutive purchase days (days). With fewer
                         than 2 purchase days it is filled with ``tenure_days`` (no
                         repeat seen for that long: a lower bound of the gap).
    ``ipt_std_days``     sample standard deviation (ddof=1) of those gaps; 0 with
                         fewer than 3 purchase days.
    ``activity_trend``   ``(r - p) / (r + p)`` with ``r`` purchase days in the last 90
                         days and ``p`` in the 90 days before; in [-1, 1], 0 if both 0.
browsing (when the data holds views, resp. carts)
    ``browse_to_buy``          views / max(purchase days, 1): browsing per purchase.
    ``days_since_last_view``   days (``H`` if never).
    ``cart_abandonment``       share of carts not followed by a purchase of the same
                               user within 24 h. Carts in the last 24 h before as_of
                               are censored (their outcome is unknown at as_of) and
                               left out; 0 when no eligible cart.
    ``days_since_last_cart``   days (``H`` if never).
category (when purchases carry a category)
    ``n_categories``        distinct categories purchased.
    ``top_category_share``  share of (categorised) purchases in the most bought one
                            (0 if none).

Datasets that lack an input (CDNOW: purchases only, no category) get no column for
it: inputs are switched off by the data, not by code edits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from helpers.data.schema import EVENT_TYPES
from helpers.data.split import as_utc
from helpers.engines import queries
from helpers.engines.dialect import Engine
from helpers.engines.runner import EventQueries, EventSource

NS_PER_DAY: int = queries.NS_PER_DAY
DEFAULT_WINDOWS: tuple[int, ...] = (7, 30, 90, 365)
TREND_DAYS: int = queries.TREND_DAYS
VIEW, CART, PURCHASE, REVIEW = queries.VIEW, queries.CART, queries.PURCHASE, queries.REVIEW

RFM_COLUMNS: tuple[str, ...] = (
    "recency_days",
    "frequency",
    "n_purchase_days",
    "tenure_days",
    "monetary_mean",
    "monetary_total",
)
TIMING_COLUMNS: tuple[str, ...] = ("ipt_mean_days", "ipt_std_days", "activity_trend")
WINDOW_KINDS: tuple[str, ...] = ("purchases", "spend", "views", "carts", "reviews")
CATEGORY_COLUMNS: tuple[str, ...] = ("n_categories", "top_category_share")
BROWSING_COLUMNS: tuple[str, ...] = (
    "browse_to_buy",
    "days_since_last_view",
    "cart_abandonment",
    "days_since_last_cart",
)


def timestamps_ns(ts: pd.Series) -> np.ndarray:
    """UTC nanoseconds since the epoch (int64; a view, no copy, for ``datetime64[ns, UTC]``)."""
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        values = ts.array if ts.dtype.unit == "ns" else ts.array.as_unit("ns")
        return np.asarray(values.asi8)
    if pd.api.types.is_datetime64_dtype(ts.dtype):  # naive: taken as UTC
        return np.asarray(ts.astype("datetime64[ns]").to_numpy().view(np.int64))
    raise TypeError(f"ts must be a datetime column, got {ts.dtype}")


def _same_buffers(a: pa.Array, b: pa.Array) -> bool:
    if len(a) != len(b):
        return False
    return all(
        x is y or (x is not None and y is not None and x.address == y.address)
        for x, y in zip(a.buffers(), b.buffers(), strict=True)
    )


def encode_strings(values: pd.Series) -> tuple[np.ndarray, pa.Array]:
    """Integer codes (int32, -1 for missing) and the dictionary of a string column.

    (No longer used by the feature SQL, which groups on ``user_id`` itself; kept as a
    tested utility.)

    Uses Arrow's hash kernel (no Python loop, no copy of the strings).
    """
    arr = pa.array(values.astype("str"), from_pandas=True)
    encoded = pc.dictionary_encode(arr)
    if isinstance(encoded, pa.ChunkedArray):
        if encoded.num_chunks == 0:
            return np.zeros(0, dtype=np.int32), pa.array([], pa.large_string())
        dictionary = encoded.chunk(0).dictionary
        # Arrow's hash kernel gives every chunk the same final dictionary; unify only
        # when it did not (unifying 1M-entry dictionaries chunk by chunk is slow)
        if any(not _same_buffers(c.dictionary, dictionary) for c in encoded.chunks):
            encoded = encoded.unify_dictionaries()
            dictionary = encoded.chunk(0).dictionary
        indices = pa.chunked_array([c.indices for c in encoded.chunks], pa.int32())
    else:
        dictionary, indices = encoded.dictionary, encoded.indices
    codes = pc.fill_null(indices, -1).to_numpy()
    return np.asarray(codes, dtype=np.int32), dictionary


def event_type_codes(values: pd.Series) -> np.ndarray:
    """Position of each event type in :data:`helpers.data.schema.EVENT_TYPES` (-1 if unknown)."""
    arr = pa.array(values.astype("str"), from_pandas=True)
    found = pc.index_in(arr, value_set=pa.array(EVENT_TYPES, arr.type))
    if isinstance(found, pa.ChunkedArray):
        found = found.combine_chunks() if found.num_chunks else pa.array([], pa.int32())
    return np.asarray(pc.fill_null(found, -1).to_numpy(), dtype=np.int8)


def behaviour_features(
    events: EventSource,
    as_of: pd.Timestamp | str,
    windows: tuple[int, ...] = DEFAULT_WINDOWS,
    customers: pd.Index | None = None,
    threads: int | None = None,
    memory_limit: str | None = "2GB",
    engine: Engine = "duckdb",
    spark: Any = None,
) -> pd.DataFrame:
    """Per-user behaviour features from events strictly before ``as_of``.

    Parameters
    ----------
    events : DataFrame or path
        Canonical events (:mod:`helpers.data.schema`), or a Parquet file of them (read
        out of core: only ``user_id, ts, event_type, category, amount`` are scanned).
        ``user_id, ts, event_type`` required, ``amount`` and ``category`` used when
        present. Events at or after ``as_of`` are ignored (filtered in SQL), so the
        full log may be passed.
    as_of : timestamp
        The prediction instant, usually ``Split.calibration_end`` (exclusive).
    windows : tuple of int
        Window lengths in days for the ``*_{w}d`` columns.
    customers : Index, optional
        Users to return, in this order (users without events get zero counts and the
        documented fills). Default: users with at least one purchase before ``as_of``,
        sorted by ``user_id``.
    threads : int, optional
        DuckDB threads (default: DuckDB's choice, all cores).
    memory_limit : str, optional
        DuckDB memory limit (DuckDB syntax, e.g. ``"2GB"``; None: DuckDB's default of
        80% of RAM). Beyond it DuckDB spills to a temporary directory that is removed
        afterwards. The limit trades a little speed for a bounded peak.
    engine : {"duckdb", "spark"}
        Where the aggregation runs: the same SQL (:func:`helpers.engines.queries.behaviour_sql`)
        on embedded DuckDB or on Spark (:mod:`helpers.engines`).
    spark : SparkSession, optional
        Session for ``engine="spark"`` (default: :func:`helpers.engines.spark.spark_session`).

    Returns
    -------
    DataFrame
        Index ``user_id``; the columns of the module docstring that the data supports
        (counts ``int64``, the rest ``float64``; no missing values). ``attrs`` holds
        ``as_of`` and ``history_days``.
    """
    as_of = as_utc(as_of)
    as_of_ns = int(as_of.value)
    windows = tuple(int(w) for w in windows)
    if any(w <= 0 for w in windows) or len(set(windows)) != len(windows):
        raise ValueError(f"windows must be distinct positive day counts, got {windows}")
    raw, present, history_days = _raw_aggregates(
        events, as_of, windows, engine, spark, threads, memory_limit
    )
    raw = _select_users(raw, customers)
    out = _rfm_columns(raw, as_of_ns, history_days)
    out.update(_window_columns(raw, windows, present))
    out.update(_timing_columns(raw, out["tenure_days"]))
    out.update(_browsing_columns(raw, out["n_purchase_days"], as_of_ns, history_days, present))
    if present["category"]:
        out["n_categories"] = _count(raw, "n_categories")
        out["top_category_share"] = raw["top_category_share"].astype(float).fillna(0.0)
    frame = pd.DataFrame(out, index=raw.index)
    frame.attrs = {"as_of": as_of.isoformat(), "history_days": float(history_days)}
    return frame


def _raw_aggregates(
    events: EventSource,
    as_of: pd.Timestamp,
    windows: tuple[int, ...],
    engine: Engine,
    spark: Any,
    threads: int | None,
    memory_limit: str | None,
) -> tuple[pd.DataFrame, dict[str, bool], float]:
    """The raw per-user aggregates, which inputs the data holds, and the history length.

    Runs :func:`helpers.engines.queries.presence_sql` and
    :func:`~helpers.engines.queries.behaviour_sql`; ``present`` maps ``views, carts,
    reviews, category`` to whether the events before ``as_of`` hold them.
    """
    as_of_ns = int(as_of.value)
    with EventQueries(events, engine, spark, threads, memory_limit) as q:
        if "event_type" not in q.columns:
            raise ValueError("events lack required column(s) ['event_type']")
        first_t, last_t, has_view, has_cart, has_review, has_category = q.row(
            queries.presence_sql(as_of_ns)
        )
        if first_t is None or pd.isna(first_t):
            raise ValueError(f"no events before as_of={as_of}")
        raw = q.per_user(queries.behaviour_sql(as_of_ns, windows))
    first_t, last_t = int(first_t), int(last_t)
    if last_t >= as_of_ns:  # defensive: the filter above is the leakage guard
        raise AssertionError("an event at or after as_of reached the features")
    history_days = (as_of_ns - first_t) / NS_PER_DAY
    present = {
        "views": has_view,
        "carts": has_cart,
        "reviews": has_review,
        "category": has_category,
    }
    return raw, present, history_days


def _select_users(raw: pd.DataFrame, customers: pd.Index | None) -> pd.DataFrame:
    """``raw`` indexed by ``user_id``: ``customers`` in order, or by default the buyers."""
    raw.index = pd.Index(raw.pop("user_id").astype("str"), name="user_id")
    if customers is None:
        raw = raw.loc[raw["n_purchase_days"].fillna(0) > 0].sort_index()
    else:
        raw = raw.reindex(pd.Index(customers, name="user_id"))
    raw.index.name = "user_id"
    return raw


def _count(raw: pd.DataFrame, col: str) -> pd.Series:
    """A count column (``int64``, 0 for users without any)."""
    return raw[col].fillna(0).astype("int64")


def _days_since(raw: pd.DataFrame, col: str, as_of_ns: int, history_days: float) -> pd.Series:
    """Days from the epoch-ns time column ``col`` to ``as_of`` (``history_days`` if none)."""
    ns = raw[col].astype("float64")  # int64 ns are exact in float64 below 2**53 ns
    elapsed = (as_of_ns - raw[col].astype("Int64")).astype("float64")
    return (elapsed / NS_PER_DAY).where(ns.notna()).fillna(history_days).astype(float)


def _rfm_columns(raw: pd.DataFrame, as_of_ns: int, history_days: float) -> dict[str, pd.Series]:
    """The ``rfm`` group of the module docstring."""
    out: dict[str, pd.Series] = {}
    n_days = _count(raw, "n_purchase_days")
    out["recency_days"] = _days_since(raw, "last_purchase_t", as_of_ns, history_days)
    out["frequency"] = (n_days - 1).clip(lower=0)
    out["n_purchase_days"] = n_days
    out["tenure_days"] = _days_since(raw, "first_purchase_t", as_of_ns, history_days)
    total = raw["monetary_total"].astype(float).fillna(0.0)
    out["monetary_mean"] = (total / n_days.where(n_days > 0)).fillna(0.0)
    out["monetary_total"] = total
    return out


def _window_columns(
    raw: pd.DataFrame, windows: tuple[int, ...], present: dict[str, bool]
) -> dict[str, pd.Series]:
    """The ``windows`` group: purchases and spend always, views, carts, reviews if held."""
    kinds = ["purchases", "spend"]
    kinds += [k for k in ("views", "carts", "reviews") if present[k]]
    kinds = [k for k in WINDOW_KINDS if k in kinds]
    out: dict[str, pd.Series] = {}
    for kind in kinds:
        for w in windows:
            col = f"{kind}_{w}d"
            out[col] = raw[col].astype(float).fillna(0.0) if kind == "spend" else _count(raw, col)
    return out


def _timing_columns(raw: pd.DataFrame, tenure_days: pd.Series) -> dict[str, pd.Series]:
    """The ``timing`` group (``ipt_mean_days`` filled with the tenure)."""
    out: dict[str, pd.Series] = {}
    out["ipt_mean_days"] = raw["ipt_mean_days"].astype(float).fillna(tenure_days)
    out["ipt_std_days"] = raw["ipt_std_days"].astype(float).fillna(0.0)
    recent, before = _count(raw, "trend_recent"), _count(raw, "trend_before")
    both = (recent + before).astype(float)
    out["activity_trend"] = ((recent - before) / both.where(both > 0)).fillna(0.0)
    return out


def _browsing_columns(
    raw: pd.DataFrame,
    n_days: pd.Series,
    as_of_ns: int,
    history_days: float,
    present: dict[str, bool],
) -> dict[str, pd.Series]:
    """The ``browsing`` group: view columns if the data holds views, cart ones if carts."""
    out: dict[str, pd.Series] = {}
    if present["views"]:
        out["browse_to_buy"] = _count(raw, "n_views") / n_days.clip(lower=1)
        out["days_since_last_view"] = _days_since(raw, "last_view_t", as_of_ns, history_days)
    if present["carts"]:
        eligible = _count(raw, "eligible_carts").astype(float)
        share = _count(raw, "abandoned_carts") / eligible.where(eligible > 0)
        out["cart_abandonment"] = share.fillna(0.0)
        out["days_since_last_cart"] = _days_since(raw, "last_cart_t", as_of_ns, history_days)
    return out


def feature_groups(frame: pd.DataFrame) -> dict[str, list[str]]:
    """Columns of a :func:`behaviour_features` frame by group.

    Groups: ``rfm``, ``windows``, ``browsing``, ``timing``, ``category``; a group lists
    only the columns present (an empty list where the data lacks the input).
    """
    cols = list(frame.columns)
    windows = [c for c in cols if c.split("_")[0] in WINDOW_KINDS and c.endswith("d")]
    return {
        "rfm": [c for c in cols if c in RFM_COLUMNS],
        "windows": windows,
        "browsing": [c for c in cols if c in BROWSING_COLUMNS],
        "timing": [c for c in cols if c in TIMING_COLUMNS],
        "category": [c for c in cols if c in CATEGORY_COLUMNS],
    }


def rfm_style_columns(frame: pd.DataFrame) -> list[str]:
    """What a classic RFM model knows: RFM, purchase/spend windows and purchase timing.

    No browsing, carts, reviews or categories (the ``gbdt_rfm`` baseline's inputs).
    """
    groups = feature_groups(frame)
    windows = [c for c in groups["windows"] if c.startswith(("purchases_", "spend_"))]
    return groups["rfm"] + windows + groups["timing"]


def _skewness(values: np.ndarray) -> float:
    centred = values - values.mean()
    sd = np.sqrt(np.mean(centred**2))
    return float(np.mean(centred**3) / sd**3) if sd > 0 else 0.0


@dataclass
class FeatureScaler:
    """``log1p`` for heavy-tailed non-negative columns, then standardisation.

    Fit on **training users only** (:meth:`fit` takes their index); the statistics are
    then frozen and applied to any frame by :meth:`transform`, and saved as JSON with
    :meth:`to_dict` / :meth:`from_dict`.

    Rule for ``log1p`` (when ``log_columns`` is not given): a column is logged when it
    is non-negative on the training users and its skewness there exceeds
    ``skew_threshold`` (counts, spends and day counts typically are).
    """

    skew_threshold: float = 1.0
    columns: list[str] = field(default_factory=list)
    log_columns: list[str] = field(default_factory=list)
    mean: dict[str, float] = field(default_factory=dict)
    std: dict[str, float] = field(default_factory=dict)

    def fit(
        self,
        frame: pd.DataFrame,
        train_index: pd.Index | None = None,
        log_columns: list[str] | None = None,
    ) -> FeatureScaler:
        """Learn the log rule and mean/std from ``frame.loc[train_index]`` only."""
        train = frame if train_index is None else frame.loc[train_index]
        if len(train) == 0:
            raise ValueError("no training rows to fit the scaler on")
        self.columns = list(frame.columns)
        if log_columns is None:
            log_columns = [
                c
                for c in self.columns
                if train[c].min() >= 0
                and _skewness(train[c].to_numpy(dtype=float)) > self.skew_threshold
            ]
        self.log_columns = [c for c in self.columns if c in set(log_columns)]
        values = self._logged(train)
        self.mean = {c: float(values[c].mean()) for c in self.columns}
        std = values.std(ddof=0)
        self.std = {c: float(std[c]) if std[c] > 0 else 1.0 for c in self.columns}
        return self

    def _logged(self, frame: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise KeyError(f"columns missing from the frame: {missing}")
        values = frame[self.columns].astype(float)
        if self.log_columns:
            logged = values[self.log_columns]
            if (logged < 0).to_numpy().any():
                bad = logged.columns[(logged < 0).any()].tolist()
                raise ValueError(f"negative values in log1p columns {bad}")
            values[self.log_columns] = np.log1p(logged)
        return values

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Scaled copy of ``frame[columns]`` (same index) with the frozen statistics."""
        if not self.columns:
            raise RuntimeError("FeatureScaler is not fitted")
        values = self._logged(frame)
        mean = pd.Series(self.mean)[self.columns]
        std = pd.Series(self.std)[self.columns]
        return (values - mean) / std

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe description (see :meth:`from_dict`)."""
        return {
            "skew_threshold": float(self.skew_threshold),
            "columns": list(self.columns),
            "log_columns": list(self.log_columns),
            "mean": dict(self.mean),
            "std": dict(self.std),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureScaler:
        """Rebuild a fitted scaler from :meth:`to_dict` output."""
        return cls(
            skew_threshold=float(data["skew_threshold"]),
            columns=list(data["columns"]),
            log_columns=list(data["log_columns"]),
            mean={k: float(v) for k, v in data["mean"].items()},
            std={k: float(v) for k, v in data["std"].items()},
        )
