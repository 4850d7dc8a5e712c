"""Every engine quirk of the study's SQL in one place.

The feature, target and BTYD-summary queries (:mod:`helpers.engines.queries`) are
written once, in DuckDB's dialect, over a prepared view ``ev`` of the events. This
module makes that one text run on Spark SQL too, and is the only place that knows how
the engines differ:

* **Transpiling** (:func:`to_engine`): SQLGlot parses the DuckDB text and writes Spark
  SQL. It rewrites integer division (DuckDB ``a // b`` -> Spark ``a DIV b``; plain ``/``
  is floating-point division on both) and makes **NULL ordering** explicit (DuckDB sorts
  NULLs last in ascending order, Spark first, so SQLGlot adds ``NULLS LAST`` to every
  ``ORDER BY``, windows included). DuckDB's ``NOT MATERIALIZED`` CTE hint (it keeps the
  event scan streaming) has no Spark syntax and is dropped; Spark inlines CTEs anyway.
* **Timestamps and time zones** (:func:`event_columns`): the queries never see a
  timestamp type. The view gives ``t``, UTC nanoseconds since the epoch as a 64-bit
  integer, so day bucketing and window bounds are integer arithmetic and no session
  time zone can shift a day. DuckDB reads it with ``epoch_ns(ts)``; Spark reads a
  ``TIMESTAMP(NANOS)`` Parquet column as that integer (``nanosAsLong``) and a
  microsecond one with ``unix_micros(ts) * 1000``. Both sessions run in UTC anyway.
* **Modulo and floor division**: ``%`` truncates towards zero on both engines, so the
  UTC day of ``t`` is written ``(t - ((t % d) + d) % d) // d`` (exact floor, also before
  1970) rather than relying on either engine's rounding.
* **NaN vs NULL**: Parquet doubles may hold NaN, which Spark orders and compares
  unlike DuckDB. The view turns a NaN ``amount`` into NULL, so aggregates skip it on
  both engines, as pandas does.
* **Event types** become small integers (:data:`EVENT_CODE_SQL`, positions in
  :data:`helpers.data.schema.EVENT_TYPES`), so no query compares strings.

Why SQLGlot rather than Ibis: the study's aggregation was already one reviewed SQL
text; SQLGlot keeps it readable as SQL (the form analysts and the Spark UI show),
adds one small pure-Python dependency (Ibis brings its own expression language and a
backend package per engine) and its transpiled output is easy to print and check
(:func:`to_engine`).
"""

from __future__ import annotations

from typing import Literal

import sqlglot
from sqlglot import exp

from helpers.data.schema import EVENT_TYPES

Engine = Literal["duckdb", "spark"]
ENGINES: tuple[str, ...] = ("duckdb", "spark")

#: event type name -> integer code (position in EVENT_TYPES), as one SQL expression
EVENT_CODE_SQL: str = (
    "CASE event_type "
    + " ".join(f"WHEN '{name}' THEN {i}" for i, name in enumerate(EVENT_TYPES))
    + " ELSE -1 END"
)

#: Spark settings every study session needs (see the module docstring)
SPARK_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.legacy.parquet.nanosAsLong": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.ansi.enabled": "false",
}


def check_engine(engine: str) -> Engine:
    """``engine`` if it is a known engine name, else a ValueError naming the choices."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    return engine  # type: ignore[return-value]


def _drop_materialized(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.CTE):
        node.set("materialized", None)
    return node


def to_engine(sql: str, engine: Engine) -> str:
    """The DuckDB-dialect ``sql`` as ``engine`` runs it (unchanged for DuckDB)."""
    if check_engine(engine) == "duckdb":
        return sql
    tree = sqlglot.parse_one(sql, read="duckdb").transform(_drop_materialized)
    return tree.sql(dialect="spark")


def ts_ns_expression(engine: Engine, ts_unit: str | None) -> str:
    """SQL giving UTC epoch nanoseconds (BIGINT) from the column ``ts``.

    ``ts_unit`` is the Parquet/Arrow timestamp unit (``"s"``, ``"ms"``, ``"us"``,
    ``"ns"``), or None when ``ts`` already holds epoch nanoseconds as an integer.
    """
    if ts_unit is None:
        return "CAST(ts AS BIGINT)"
    if engine == "duckdb":
        return "epoch_ns(ts)"
    if ts_unit == "ns":  # read as a long by spark.sql.legacy.parquet.nanosAsLong
        return "CAST(ts AS BIGINT)"
    return "unix_micros(ts) * 1000"


#: Exact type of ``amount`` in the view ``ev`` (6 decimals, up to 10^12 per event).
MONEY_SCALE = 6
MONEY_TYPE = f"DECIMAL(18, {MONEY_SCALE})"
MONEY_BOUND = "1e12"


def event_columns(
    engine: Engine,
    ts_unit: str | None,
    has_category: bool,
    has_amount: bool,
    extra: tuple[str, ...] = (),
) -> list[str]:
    """Select list of the prepared view ``ev`` (``user_id, t, et, category, amount``).

    Missing optional inputs become typed NULL columns, so one query text fits every
    dataset; ``extra`` columns are passed through unchanged.
    """
    string = "VARCHAR" if engine == "duckdb" else "STRING"
    category = f"CAST(category AS {string})" if has_category else f"CAST(NULL AS {string})"
    # Amounts are exact decimals in the view: DuckDB adds doubles in thread order, so a
    # sum of doubles differs in its last bits from run to run; a DECIMAL sum is exact,
    # hence the same on every run and on both engines (results come back as float64,
    # see runner.arrow_to_pandas). Amounts are rounded to MONEY_SCALE decimals.
    amount = (
        # NaN and +-inf compare as not below the bound on both engines, so they
        # become NULL like a missing amount (stage 01's validation reports them)
        f"CASE WHEN abs(CAST(amount AS DOUBLE)) < {MONEY_BOUND} "
        f"THEN CAST(amount AS {MONEY_TYPE}) ELSE NULL END"
        if has_amount
        else f"CAST(NULL AS {MONEY_TYPE})"
    )
    return [
        f"CAST(user_id AS {string}) AS user_id",
        f"{ts_ns_expression(engine, ts_unit)} AS t",
        f"{EVENT_CODE_SQL} AS et",
        f"{category} AS category",
        f"{amount} AS amount",
        *extra,
    ]
