"""Run the study's SQL over an event log on DuckDB or Spark, returning pandas frames.

:class:`EventQueries` opens an engine over one event source -- a Parquet file (read
out of core, only the needed columns) or an in-memory DataFrame -- as the prepared view
``ev`` (:func:`helpers.engines.dialect.event_columns`), then runs DuckDB-dialect SQL
on it (transpiled for Spark by :func:`helpers.engines.dialect.to_engine`). Results are
per-customer aggregates, so what comes back to Python follows the output, not the input.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from helpers.data.schema import EVENT_TYPES
from helpers.engines.dialect import Engine, check_engine, event_columns, to_engine

EventSource = pd.DataFrame | str | os.PathLike

#: events per ``user_id`` range of :meth:`EventQueries.per_user` (about 8 row groups
#: of a Parquet file written with pyarrow's default 1M-row groups)
CHUNK_EVENTS: int = 8_000_000


def _timestamps_ns(ts: pd.Series) -> np.ndarray:
    """UTC nanoseconds since the epoch (int64) of a datetime column (naive = UTC)."""
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        values = ts.array if ts.dtype.unit == "ns" else ts.array.as_unit("ns")
        return np.asarray(values.asi8)
    if pd.api.types.is_datetime64_dtype(ts.dtype):
        return np.asarray(ts.astype("datetime64[ns]").to_numpy().view(np.int64))
    raise TypeError(f"ts must be a datetime column, got {ts.dtype}")


def frame_to_arrow(events: pd.DataFrame, extra: tuple[str, ...] = ()) -> pa.Table:
    """The columns the queries read, as Arrow (``ts`` as int64 UTC nanoseconds)."""
    missing = [c for c in ("user_id", "ts") if c not in events.columns]
    if missing:
        raise ValueError(f"events lack required column(s) {missing}")
    columns: dict[str, Any] = {
        "user_id": pa.array(events["user_id"].astype("str"), pa.large_string(), from_pandas=True),
        "ts": _timestamps_ns(events["ts"]),
    }
    for name in ("event_type", "category"):
        if name in events.columns:
            values = events[name].astype("str")
            columns[name] = pa.array(values, pa.large_string(), from_pandas=True)
    if "amount" in events.columns:
        columns["amount"] = pa.array(
            events["amount"].to_numpy(dtype=float, na_value=np.nan), from_pandas=True
        )
    for name in extra:
        columns[name] = pa.array(events[name].to_numpy(), from_pandas=True)
    return pa.table(columns)


def parquet_columns(path: str | os.PathLike) -> tuple[list[str], str | None]:
    """Column names of a Parquet file and the unit of its ``ts`` column (from the footer)."""
    schema = pq.read_schema(path)
    ts_type = schema.field("ts").type if "ts" in schema.names else None
    unit = ts_type.unit if isinstance(ts_type, pa.TimestampType) else None
    return list(schema.names), unit


def user_ranges(
    path: str | os.PathLike, chunk_events: int | None
) -> list[tuple[str | None, str | None]]:
    """``[lo, hi)`` ``user_id`` ranges splitting a Parquet file sorted by ``user_id``
    into runs of whole row groups of about ``chunk_events`` events each.

    The ranges come from the row groups' ``user_id`` statistics (no data is read). A
    file that is not sorted by ``user_id`` (overlapping row groups), lacks statistics,
    or stores ``user_id`` as anything but a string gives one unbounded range
    ``[(None, None)]``; so does ``chunk_events=None``. The first range has no lower
    bound and the last no upper bound, so every user falls in exactly one range.
    """
    meta = pq.ParquetFile(path).metadata
    schema = meta.schema.to_arrow_schema()
    if chunk_events is None or "user_id" not in schema.names:
        return [(None, None)]
    if not (
        pa.types.is_string(schema.field("user_id").type)
        or pa.types.is_large_string(schema.field("user_id").type)
    ):
        return [(None, None)]
    column = schema.names.index("user_id")
    groups: list[tuple[str, str, int]] = []
    for i in range(meta.num_row_groups):
        group = meta.row_group(i)
        if group.num_rows == 0:
            continue
        stats = group.column(column).statistics
        if stats is None or not stats.has_min_max or stats.null_count:
            return [(None, None)]
        groups.append((str(stats.min), str(stats.max), group.num_rows))
    if any(a[1] > b[0] for a, b in zip(groups, groups[1:], strict=False)):
        return [(None, None)]  # not sorted by user_id: one scan of everything
    bounds: list[str] = []
    rows = 0
    for lo, _, n in groups:
        if rows >= chunk_events and (not bounds or lo > bounds[-1]):
            bounds.append(lo)
            rows = 0
        rows += n
    edges: list[str | None] = [None, *bounds, None]
    return list(zip(edges[:-1], edges[1:], strict=True))


def range_filter(lo: str | None, hi: str | None) -> str:
    """SQL condition ``lo <= user_id < hi`` (an open end where a bound is None)."""
    parts = []
    if lo is not None:
        parts.append(f"user_id >= {_quote(lo)}")
    if hi is not None:
        parts.append(f"user_id < {_quote(hi)}")
    return " AND ".join(parts) or "TRUE"


def arrow_to_pandas(table: pa.Table) -> pd.DataFrame:
    """pandas frame of a query result: integers as ``Int64``, decimals as ``float64``."""
    ints = {pa.int8(), pa.int16(), pa.int32(), pa.int64()}
    # exact DECIMAL sums and means of amounts (dialect.MONEY_TYPE) come back as float64
    schema = pa.schema(
        [
            field.with_type(pa.float64()) if pa.types.is_decimal(field.type) else field
            for field in table.schema
        ]
    )
    table = table.cast(schema)

    def mapper(dtype: pa.DataType) -> Any:
        return pd.Int64Dtype() if dtype in ints else None

    return table.to_pandas(types_mapper=mapper)


def _quote(path: str | os.PathLike) -> str:
    return "'" + str(path).replace("'", "''") + "'"


class EventQueries:
    """A context manager holding the view ``ev`` of one event source on one engine.

    Parameters
    ----------
    events : DataFrame or path
        Canonical events, or a Parquet file of them (read lazily: projection and the
        queries' filters are pushed into the scan).
    engine : {"duckdb", "spark"}
    spark : SparkSession, optional
        The session for ``engine="spark"`` (default: :func:`helpers.engines.spark.spark_session`).
    threads, memory_limit :
        DuckDB threads and memory limit (beyond it DuckDB spills to a temporary
        directory removed on exit).
    chunk_events : int, optional
        :meth:`per_user` runs a per-user query on DuckDB over ranges of ``user_id``
        holding about this many events each (:func:`user_ranges`; a Parquet file sorted
        by ``user_id``, as stage 01 writes it). Each range reads only its own row
        groups and keeps small hash tables, so time grows linearly with the events and
        nothing spills. None: one query over everything.
    """

    def __init__(
        self,
        events: EventSource,
        engine: Engine = "duckdb",
        spark: Any = None,
        threads: int | None = None,
        memory_limit: str | None = "2GB",
        chunk_events: int | None = CHUNK_EVENTS,
    ) -> None:
        self.engine = check_engine(engine)
        self.chunk_events = chunk_events
        self.events = events
        self.spark = spark
        self.threads = threads
        self.memory_limit = memory_limit
        self._con: duckdb.DuckDBPyConnection | None = None
        self._spill: tempfile.TemporaryDirectory | None = None
        if isinstance(events, pd.DataFrame):
            self.columns = list(events.columns)
            self.source = "frame"
        else:
            path = Path(events)
            if not path.exists():
                raise FileNotFoundError(f"event file {path} does not exist")
            self.columns, self.ts_unit = parquet_columns(path)
            self.source = "parquet"
        missing = [c for c in ("user_id", "ts") if c not in self.columns]
        if missing:
            raise ValueError(f"events lack required column(s) {missing}")

    def _select(self) -> list[str]:
        ts_unit = None if self.source == "frame" else self.ts_unit
        cols = event_columns(
            self.engine, ts_unit, "category" in self.columns, "amount" in self.columns
        )
        if "event_type" not in self.columns:  # a purchases-only log
            cols[2] = f"{EVENT_TYPES.index('purchase')} AS et"
        return cols

    def __enter__(self) -> EventQueries:
        if self.engine == "duckdb":
            self._spill = tempfile.TemporaryDirectory(prefix="engine_duckdb_")
            config: dict[str, Any] = {"temp_directory": self._spill.name}
            if self.memory_limit is not None:
                config["memory_limit"] = self.memory_limit
            if self.threads is not None:
                config["threads"] = int(self.threads)
            self._con = duckdb.connect(config=config)
            self._con.execute("SET preserve_insertion_order = false")
            if self.source == "frame":
                self._con.register("ev_source", frame_to_arrow(self.events))
            self._duckdb_view()
        else:
            if self.spark is None:
                from helpers.engines.spark import spark_session

                self.spark = spark_session()
            if self.source == "frame":
                frame = self.spark.createDataFrame(frame_to_arrow(self.events))
            else:
                frame = self.spark.read.parquet(str(Path(self.events).resolve()))
            frame.selectExpr(*self._select()).createOrReplaceTempView("ev")
        return self

    def _duckdb_view(self, where: str = "TRUE") -> None:
        """(Re)define the DuckDB view ``ev``, keeping the source rows where ``where``."""
        assert self._con is not None
        source = "ev_source" if self.source == "frame" else f"read_parquet({_quote(self.events)})"
        select = ", ".join(self._select())
        self._con.execute(
            f"CREATE OR REPLACE TEMP VIEW ev AS SELECT {select} FROM {source} WHERE {where}"
        )

    def ranges(self) -> list[tuple[str | None, str | None]]:
        """The ``user_id`` ranges :meth:`per_user` runs over (one on Spark or a frame)."""
        if self.engine != "duckdb" or self.source != "parquet":
            return [(None, None)]
        return user_ranges(self.events, self.chunk_events)

    def per_user(self, query: str, keep: str = "TRUE") -> pd.DataFrame:
        """:meth:`frame` of a query whose rows each depend on one user's events only.

        On DuckDB over a Parquet file the query runs once per ``user_id`` range
        (:meth:`ranges`), each on an in-memory table of that range's events (one read
        of its row groups, however many passes the query makes), and the pieces are
        concatenated: the same rows as one run, in another order. ``keep`` (a condition
        on the view's columns) drops rows the query ignores anyway before they are
        stored, e.g. ``et = 2`` for a query on purchases only.
        """
        ranges = self.ranges()
        if self.engine != "duckdb" or self.source != "parquet":
            return self.frame(query)
        if len(ranges) == 1 and (
            self.chunk_events is None
            or pq.ParquetFile(self.events).metadata.num_rows > self.chunk_events
        ):
            # a file that cannot be split (unsorted, no statistics) and is larger than
            # one range: stream it from Parquet rather than copy it into memory
            return self.frame(query)
        assert self._con is not None, "use EventQueries as a context manager"
        select = ", ".join(self._select())
        source = f"read_parquet({_quote(self.events)})"
        pieces = []
        try:
            for lo, hi in tqdm(ranges, desc="user ranges", leave=False, disable=len(ranges) < 2):
                # one read of the range's row groups into memory; the query's several
                # passes then run on that table (over the file, DuckDB would scan it
                # once per pass)
                self._con.execute(
                    "CREATE OR REPLACE TEMP TABLE ev_range AS SELECT * FROM ("
                    f"SELECT {select} FROM {source} WHERE {range_filter(lo, hi)}"
                    f") WHERE {keep}"
                )
                self._con.execute("CREATE OR REPLACE TEMP VIEW ev AS SELECT * FROM ev_range")
                pieces.append(self.arrow(query))
        finally:
            self._con.execute("DROP TABLE IF EXISTS ev_range")
            self._duckdb_view()
        return arrow_to_pandas(pa.concat_tables(pieces))

    def __exit__(self, *exc: object) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
        if self._spill is not None:
            self._spill.cleanup()
            self._spill = None
        if self.engine == "spark" and self.spark is not None:
            self.spark.catalog.dropTempView("ev")

    def sql(self, query: str) -> str:
        """The query text this engine runs (DuckDB text transpiled for Spark)."""
        return to_engine(query, self.engine)

    def arrow(self, query: str) -> pa.Table:
        """Run ``query`` (DuckDB dialect) and return its result as an Arrow table."""
        text = self.sql(query)
        if self.engine == "duckdb":
            assert self._con is not None, "use EventQueries as a context manager"
            return self._con.sql(text).to_arrow_table()
        return self.spark.sql(text).toArrow()

    def frame(self, query: str) -> pd.DataFrame:
        """Run ``query`` and return its result as pandas, the same types on both engines.

        Integer columns come back as nullable ``Int64`` (epoch nanoseconds would lose
        digits as floats), doubles as ``float64`` with NaN for NULL.
        """
        return arrow_to_pandas(self.arrow(query))

    def row(self, query: str) -> tuple:
        """The single result row of ``query`` as a tuple."""
        text = self.sql(query)
        if self.engine == "duckdb":
            assert self._con is not None, "use EventQueries as a context manager"
            return tuple(self._con.sql(text).fetchall()[0])
        return tuple(self.spark.sql(text).collect()[0])


def event_span(
    events: EventSource, engine: Engine = "duckdb", spark: Any = None
) -> tuple[int, pd.Timestamp, pd.Timestamp]:
    """Number of events and the first and last timestamp (UTC) of an event source."""
    with EventQueries(events, engine, spark) as q:
        n, first, last = q.row("SELECT count(*), min(t), max(t) FROM ev")
    if not n:
        where = "the frame" if isinstance(events, pd.DataFrame) else str(events)
        raise ValueError(f"no events in {where}")
    return (
        int(n),
        pd.Timestamp(int(first), unit="ns", tz="UTC"),
        pd.Timestamp(int(last), unit="ns", tz="UTC"),
    )
