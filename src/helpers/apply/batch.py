"""Batched production scoring: fit once, then score any number of customers in batches.

A nightly job for millions of customers should not hold them all in memory at once.
:class:`ProductionModel` keeps what one production fit of
:func:`helpers.apply.scoring.score_customers` learned (the four LightGBM boosters as
model strings, their feature columns, the BTYD fits as parameters) and saves it as one
JSON artifact. :func:`scoring_inputs` builds today's inputs out of core (behaviour
features and the BTYD summary as of ``as_of``, both on DuckDB from the event Parquet
file) into one Parquet file; :func:`score_in_batches` then reads that file in Arrow
record batches, scores each batch and appends it to the output Parquet file, so the
scoring's memory follows the batch, not the population. The scores equal those of
:func:`~helpers.apply.scoring.score_customers` for the same fit (tested).

A BTYD model's spend interval is its own predictive interval
(:func:`helpers.models.btyd_intervals.predictive_intervals`, from the stored parameters and
the run's seed, so it equals the one-shot interval) when the run recorded one. Only LightGBM
and BTYD models are scored this way; the deep model reads event
sequences and is refitted and scored in stage 07 (:mod:`helpers.apply.deep`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from helpers.apply.deployable import SINGLE_WINDOW
from helpers.apply.scoring import BTYD_MODELS, DAY, ScoreResult
from helpers.data.split import as_utc
from helpers.features.behaviour import DEFAULT_WINDOWS, behaviour_features
from helpers.models import btyd, btyd_intervals

__all__ = ["ProductionModel", "scoring_inputs", "score_batch", "score_in_batches"]

SUMMARY_COLUMNS: tuple[str, ...] = ("frequency_cal", "recency_cal", "T_cal", "monetary_value_cal")
SCORE_COLUMNS: tuple[str, ...] = (
    "user_id",
    "predicted_spend",
    "spend_q10",
    "spend_q90",
    "p_no_purchase",
    "p_alive",
)


@dataclass
class ProductionModel:
    """One production fit, ready to score new rows (JSON-safe)."""

    model: str
    as_of: str
    horizon_days: int
    columns: list[str]
    boosters: dict[str, str]
    btyd_fits: dict[str, dict[str, Any]] = field(default_factory=dict)
    p_alive_model: str | None = None
    time_unit_days: float = 7.0
    #: Settings of a BTYD model's predictive spend interval (``level``, ``n_sims``, ``seed``:
    #: ``scores.attrs["btyd_interval"]`` of the run); None: the quantile boosters' interval.
    btyd_interval: dict[str, Any] | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_result(cls, result: ScoreResult) -> ProductionModel:
        """From a :func:`~helpers.apply.scoring.score_customers` run with boosters."""
        if not result.boosters:
            raise ValueError("the run trained no LightGBM boosters (too little history?)")
        if result.model not in (*BTYD_MODELS, "gbdt", "gbdt_rfm"):
            raise ValueError(f"{result.model!r} is not scored in batches (LightGBM or BTYD)")
        if result.recipe != SINGLE_WINDOW:  # batches rebuild the single window's inputs only
            raise ValueError(
                f"batch scoring supports the single-window recipe only, got "
                f"{result.recipe.label}: "
                "score with helpers.apply.scoring.score_customers, or fit with "
                "recipe=SINGLE_WINDOW"
            )
        return cls(
            model=result.model,
            as_of=str(result.windows.as_of.date()),
            horizon_days=result.windows.horizon_days,
            columns=list(result.scores.attrs["feature_columns"]),
            boosters={k: b.model_to_string() for k, b in result.boosters.items()},
            btyd_fits={k: f.to_dict() for k, f in result.btyd_fits.items()},
            p_alive_model=result.p_alive_model,
            time_unit_days=float(result.summary.attrs.get("time_unit_days", 7.0)),
            btyd_interval=result.scores.attrs.get("btyd_interval"),
        )

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        data = {k: v for k, v in self.__dict__.items() if k != "_cache"}
        path.write_text(json.dumps(data) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> ProductionModel:
        return cls(**json.loads(Path(path).read_text()))

    def _boosters(self) -> dict[str, Any]:
        if "boosters" not in self._cache:
            import lightgbm as lgb

            self._cache["boosters"] = {
                k: lgb.Booster(model_str=s) for k, s in self.boosters.items()
            }
        return self._cache["boosters"]

    def _fits(self) -> dict[str, btyd.BTYDFit]:
        if "fits" not in self._cache:
            self._cache["fits"] = {k: btyd.BTYDFit.from_dict(v) for k, v in self.btyd_fits.items()}
        return self._cache["fits"]


def score_batch(model: ProductionModel, rows: pd.DataFrame) -> pd.DataFrame:
    """Scores of one batch of input rows (``user_id``, the feature and summary columns)."""
    out = pd.DataFrame({"user_id": rows["user_id"].astype(str).to_numpy()})
    x = rows[model.columns].to_numpy(dtype=float)
    pred = {k: b.predict(x, num_iteration=b.best_iteration) for k, b in model._boosters().items()}
    fits = model._fits()
    summary = rows[list(SUMMARY_COLUMNS)].set_axis(pd.Index(out["user_id"], name="user_id"))
    summary.attrs["time_unit_days"] = model.time_unit_days

    def predict(name: str, rows: Any = slice(None)) -> pd.DataFrame:
        return btyd.predict_btyd(
            summary.iloc[rows],
            name,
            horizon_weeks=model.horizon_days / 7.0,
            fit=fits[name],
            gg_fit=fits["gamma_gamma"],
        )

    if model.model in BTYD_MODELS:
        full = predict(model.model)
        out["predicted_spend"] = full["expected_spend"].to_numpy()
        out["p_no_purchase"] = full["p_zero"].to_numpy()
    else:
        out["predicted_spend"] = np.maximum(pred["spend"], 0.0)
        out["p_no_purchase"] = np.clip(pred["zero"], 0.0, 1.0)
    if model.model in BTYD_MODELS and model.btyd_interval:  # the model's own interval
        options = {k: model.btyd_interval[k] for k in ("level", "n_sims", "seed")}
        bounds = btyd_intervals.predictive_intervals(
            summary, fits[model.model], fits["gamma_gamma"], model.horizon_days / 7.0, **options
        )
        out["spend_q10"] = bounds["spend_lower"].to_numpy()
        out["spend_q90"] = bounds["spend_upper"].to_numpy()
    else:
        low = np.maximum(pred["q10"], 0.0)
        out["spend_q10"], out["spend_q90"] = low, np.maximum(pred["q90"], low)
    alive = model.p_alive_model
    if alive is None or alive not in fits:
        out["p_alive"] = np.nan
    elif alive == model.model:
        out["p_alive"] = full["p_alive"].to_numpy()
    else:  # P(alive) alone (the other predictions cost ~6x more); same call as predict_btyd
        x, t_x, age = (summary[c].to_numpy() for c in SUMMARY_COLUMNS[:3])
        with np.errstate(all="ignore"):
            p_alive = np.asarray(fits[alive].model.conditional_probability_alive(x, t_x, age))
        bad = np.flatnonzero(~np.isfinite(p_alive))
        if len(bad):  # the stable recomputation of predict_btyd for those rows
            p_alive[bad] = predict(alive, bad)["p_alive"].to_numpy()
        out["p_alive"] = p_alive
    return out[list(SCORE_COLUMNS)]


def scoring_inputs(
    events: str | Path | pd.DataFrame,
    as_of: Any,
    horizon_days: int,
    out_path: str | Path,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    threads: int | None = None,
) -> dict[str, float]:
    """Today's inputs of every customer with a purchase up to ``as_of``, to Parquet.

    Behaviour features as of ``as_of`` (exclusive end: the midnight after it) and the
    BTYD summary at ``as_of``, both computed by DuckDB (a Parquet ``events`` path is read
    out of core), joined on ``user_id``. Returns the seconds of each part.
    """
    day = as_utc(as_of).normalize()
    timings = {}
    start = time.perf_counter()
    summary = btyd.btyd_summary(events, day, day + pd.Timedelta(days=int(horizon_days)))
    timings["btyd_summary_s"] = time.perf_counter() - start
    start = time.perf_counter()
    features = behaviour_features(
        events, day + DAY, tuple(windows), customers=summary.index, threads=threads
    )
    timings["features_s"] = time.perf_counter() - start
    start = time.perf_counter()
    frame = features.join(summary[list(SUMMARY_COLUMNS)]).rename_axis("user_id").reset_index()
    del features, summary
    frame.to_parquet(out_path, index=False)
    timings["write_s"] = time.perf_counter() - start
    timings["customers"] = float(len(frame))
    return timings


def score_in_batches(
    model: ProductionModel,
    inputs_path: str | Path,
    out_path: str | Path,
    batch_rows: int = 200_000,
    progress: bool = True,
) -> int:
    """Score the Parquet file of :func:`scoring_inputs` batch by batch into ``out_path``.

    Returns the number of customers scored.
    """
    from tqdm import tqdm

    source = pq.ParquetFile(inputs_path)
    columns = ["user_id", *model.columns, *SUMMARY_COLUMNS]
    writer, n = None, 0
    bar = tqdm(total=source.metadata.num_rows, desc="score", disable=not progress, leave=False)
    try:
        for batch in source.iter_batches(batch_size=batch_rows, columns=columns):
            scored = score_batch(model, batch.to_pandas())
            table = pa.Table.from_pandas(scored, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(out_path, table.schema)
            writer.write_table(table)
            n += len(scored)
            bar.update(len(scored))
    finally:
        bar.close()
        if writer is not None:
            writer.close()
    return n
