"""Calibration summary and holdout targets per customer, on DuckDB or Spark.

The engine version of :func:`helpers.data.split.make_targets` (same columns, same
values): one SQL text (:func:`helpers.engines.queries.targets_sql`) over an event
Parquet file read out of core or an in-memory frame.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from helpers.data.split import Split
from helpers.engines import queries
from helpers.engines.dialect import Engine
from helpers.engines.runner import EventQueries, EventSource


def make_targets(
    events: EventSource,
    split: Split,
    engine: Engine = "duckdb",
    spark: Any = None,
    threads: int | None = None,
    memory_limit: str | None = "2GB",
) -> pd.DataFrame:
    """Per-customer calibration summary and holdout targets (see
    :func:`helpers.data.split.make_targets`, whose output this equals).

    Parameters
    ----------
    events : DataFrame or path
        Canonical events or a Parquet file of them.
    split : Split
        Period boundaries; only events before ``split.holdout_end`` are read, and only
        ``holdout_*`` columns read events at or after ``split.calibration_end``.
    engine, spark, threads, memory_limit :
        As in :class:`helpers.engines.runner.EventQueries`.

    Returns
    -------
    DataFrame
        Index ``user_id`` (sorted; customers with a calibration purchase), columns
        ``first_purchase`` (UTC midnight), ``cal_purchases``, ``cal_spend``,
        ``holdout_purchases``, ``holdout_spend``, ``holdout_zero``.
    """
    unit = "ns"
    if isinstance(events, pd.DataFrame) and isinstance(events["ts"].dtype, pd.DatetimeTZDtype):
        unit = events["ts"].dtype.unit
    cal_end, hold_end = int(split.calibration_end.value), int(split.holdout_end.value)
    with EventQueries(events, engine, spark, threads, memory_limit) as q:
        raw = q.per_user(queries.targets_sql(cal_end, hold_end), f"et = {queries.PURCHASE}")
    raw = raw.set_index(pd.Index(raw.pop("user_id").astype("str"), name="user_id")).sort_index()
    days = raw["first_day"].astype("int64").to_numpy() * queries.NS_PER_DAY
    out = pd.DataFrame(index=raw.index)
    out["first_purchase"] = pd.to_datetime(days, unit="ns", utc=True).as_unit(unit)
    out["cal_purchases"] = raw["cal_purchases"].astype("int64")
    out["cal_spend"] = raw["cal_spend"].astype(float).fillna(0.0)
    out["holdout_purchases"] = raw["holdout_purchases"].fillna(0).astype("int64")
    out["holdout_spend"] = raw["holdout_spend"].astype(float).fillna(0.0)
    out["holdout_zero"] = out["holdout_purchases"] == 0
    return out
