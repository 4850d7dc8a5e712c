"""Batched production scoring (helpers.apply.batch) equals the one-shot scoring."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.apply.batch import ProductionModel, score_in_batches, scoring_inputs
from helpers.apply.scoring import score_customers
from helpers.data.registry import load_dataset

COLUMNS = ["predicted_spend", "spend_q10", "spend_q90", "p_no_purchase", "p_alive"]


@pytest.fixture(scope="module")
def events():
    data = load_dataset(
        "shopsim", seed=11, n_users=900, start="2023-01-01", cutoff="2024-06-30",
        holdout_end="2024-12-31",
    )  # fmt: skip
    return data.events


@pytest.mark.parametrize("model", ["gbdt", "pareto_nbd"])
def test_batches_read_from_parquet_equal_the_one_shot_scores(events, tmp_path, model):
    as_of = "2024-10-31"
    once = score_customers(events, as_of, 92, model, seed=3, progress=False, gbdt_max_rounds=80)
    artifact = ProductionModel.from_result(once).save(tmp_path / "model.json")
    path = tmp_path / "events.parquet"
    events.to_parquet(path, index=False)
    timings = scoring_inputs(path, as_of, 92, tmp_path / "inputs.parquet", threads=1)
    assert timings["customers"] == len(once.scores)
    n = score_in_batches(
        ProductionModel.load(artifact), tmp_path / "inputs.parquet", tmp_path / "scores.parquet",
        batch_rows=97, progress=False,
    )  # fmt: skip
    scored = pd.read_parquet(tmp_path / "scores.parquet").set_index("user_id")
    assert n == len(once.scores) and scored.index.equals(once.scores.index)
    np.testing.assert_allclose(scored[COLUMNS], once.scores[COLUMNS], rtol=1e-12, atol=1e-12)


def test_a_run_without_boosters_cannot_become_a_batch_model(events):
    short = events[events["ts"] < pd.Timestamp("2023-03-01", tz="UTC")]
    run = score_customers(short, "2023-02-28", 30, "pareto_nbd", seed=3, progress=False,
                          supervised="if_possible")  # fmt: skip
    with pytest.raises(ValueError, match="trained no LightGBM boosters"):
        ProductionModel.from_result(run)


def test_batches_refuse_a_recipe_they_cannot_rebuild():
    """A production fit on several windows (or with BTYD inputs) cannot be scored in
    batches, which rebuild the single window's inputs: a clear error, not other scores."""
    from types import SimpleNamespace

    from helpers.apply.batch import ProductionModel
    from helpers.apply.deployable import Recipe

    fitted = SimpleNamespace(boosters={"spend": None}, model="gbdt", recipe=Recipe(0.5, 4, True))
    with pytest.raises(
        ValueError,
        match=r"^batch scoring supports the single-window recipe only, got window H/2, "
        r"4 anchors \+ BTYD inputs: score with",
    ):
        ProductionModel.from_result(fitted)
