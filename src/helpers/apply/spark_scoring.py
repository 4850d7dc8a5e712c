"""Batch scoring on Spark: a fitted model scores customers where the data lives.

:func:`score_on_spark` sends one fitted scorer to the executors once (a Spark
broadcast variable holding its cloudpickle), repartitions the customers' rows by
``user_id`` and applies the scorer to each partition as a pandas frame
(``DataFrame.mapInPandas``): no customer row travels to the driver. A scorer is a
small picklable object with ``columns`` (the input columns it needs), ``schema`` (its
output columns, Spark DDL) and ``__call__(frame) -> frame``; the same code scores a
pandas frame locally, so local and Spark scores are equal bit for bit:

* :class:`GBDTScorer` -- the cross-fitted LightGBM boosters of
  :func:`helpers.models.gbdt.crossfit_gbdt` (mean over the fold models; boosters travel
  as LightGBM model strings);
* :class:`BTYDScorer` -- a fitted BG/NBD, Pareto/NBD or NBD with its spend model,
  applied by :func:`helpers.models.btyd.predict_btyd` to BTYD summary rows.

Usage (the scoring CLI with ``base.engine: spark``)::

    spark = spark_session(**params["spark"])
    rows = spark.read.parquet("data/processed/behaviour_features.parquet")
    scores = score_on_spark(rows, GBDTScorer.from_result(result, columns), spark)
    scores.write.mode("overwrite").parquet("scores.parquet")
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

ID = "user_id"


@dataclass
class GBDTScorer:
    """Mean prediction of LightGBM fold models: ``spend`` and ``p_zero`` per customer."""

    columns: list[str]
    spend_models: list[str]
    zero_models: list[str] = field(default_factory=list)
    _boosters: dict[str, list[Any]] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_result(cls, result: Any, columns: list[str]) -> GBDTScorer:
        """From a :class:`helpers.models.gbdt.GBDTResult` (its fitted fold models)."""
        return cls(
            columns=list(columns),
            spend_models=[b.model_to_string() for b in result.models["spend"]],
            zero_models=[b.model_to_string() for b in result.models.get("zero", [])],
        )

    @property
    def schema(self) -> str:
        return f"{ID} string, spend double, p_zero double"

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_boosters"] = None  # rebuilt from the model strings where it is used
        return state

    def _models(self) -> dict[str, list[Any]]:
        if self._boosters is None:
            import lightgbm as lgb

            self._boosters = {
                kind: [lgb.Booster(model_str=s) for s in strings]
                for kind, strings in (("spend", self.spend_models), ("zero", self.zero_models))
            }
        return self._boosters

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        x = frame[self.columns].to_numpy(dtype=float)
        boosters = self._models()
        out = pd.DataFrame({ID: frame[ID].astype(str).to_numpy()})
        out["spend"] = np.mean([b.predict(x) for b in boosters["spend"]], axis=0) if len(x) else []
        if boosters["zero"] and len(x):
            out["p_zero"] = np.mean([b.predict(x) for b in boosters["zero"]], axis=0)
        else:
            out["p_zero"] = np.nan
        return out


@dataclass
class BTYDScorer:
    """A fitted BTYD transaction model and spend model scoring BTYD summary rows."""

    model: str
    fit: Any
    gg_fit: Any
    horizon_weeks: float
    time_unit_days: float = 7.0
    columns: list[str] = field(
        default_factory=lambda: ["frequency_cal", "recency_cal", "T_cal", "monetary_value_cal"]
    )

    @property
    def schema(self) -> str:
        return (
            f"{ID} string, expected_purchases double, p_alive double, p_zero double, "
            "expected_spend_per_purchase double, expected_spend double"
        )

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        from helpers.models.btyd import predict_btyd

        summary = frame.set_index(frame[ID].astype(str))[self.columns]
        summary.attrs["time_unit_days"] = self.time_unit_days
        if summary.empty:
            cols = [c.split()[0] for c in self.schema.split(", ")]
            return pd.DataFrame(columns=cols)
        pred = predict_btyd(
            summary, self.model, horizon_weeks=self.horizon_weeks, fit=self.fit, gg_fit=self.gg_fit
        )
        return pred.rename_axis(ID).reset_index()


def score_on_spark(
    rows: Any,
    scorer: Any,
    spark: Any,
    partitions: int | None = None,
) -> Any:
    """Score customers on Spark with ``scorer`` broadcast to the executors.

    Parameters
    ----------
    rows : pyspark DataFrame or pandas DataFrame
        One row per customer with ``user_id`` and ``scorer.columns`` (a pandas frame,
        e.g. in tests, is sent to Spark first; its index becomes ``user_id``).
    scorer : GBDTScorer or BTYDScorer
        Any picklable callable with ``columns`` and ``schema`` as described above.
    spark : SparkSession
    partitions : int, optional
        Customer partitions (hash of ``user_id``); default the session's
        ``spark.sql.shuffle.partitions``.

    Returns
    -------
    pyspark DataFrame
        ``scorer.schema`` columns, one row per customer (lazy: write or collect it).
    """
    if isinstance(rows, pd.DataFrame):
        frame = rows if ID in rows.columns else rows.rename_axis(ID).reset_index()
        rows = spark.createDataFrame(frame[[ID, *scorer.columns]])
    n = int(partitions or spark.conf.get("spark.sql.shuffle.partitions"))
    from pyspark import cloudpickle  # pickles by value what pickle cannot (lifetimes' lambdas)

    shared = spark.sparkContext.broadcast(cloudpickle.dumps(scorer))

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        model = cloudpickle.loads(shared.value)
        for batch in batches:
            yield model(batch)

    return rows.select(ID, *scorer.columns).repartition(n, ID).mapInPandas(score, scorer.schema)
