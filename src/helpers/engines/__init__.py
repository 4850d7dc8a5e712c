"""Where the per-customer aggregations run: embedded DuckDB (default) or Apache Spark.

One SQL text per quantity (:mod:`helpers.engines.queries`), transpiled for Spark by
SQLGlot with every engine quirk in :mod:`helpers.engines.dialect`;
:class:`helpers.engines.runner.EventQueries` runs it over a Parquet file (out of core)
or a frame; :mod:`helpers.engines.spark` builds the session and
:mod:`helpers.apply.spark_scoring` scores customers on Spark. ``params.yaml``:
``base.engine`` picks the engine, the ``spark:`` block configures the session.
"""

from helpers.engines.dialect import ENGINES, Engine, check_engine

__all__ = ["ENGINES", "Engine", "check_engine"]
