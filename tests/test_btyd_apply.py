"""BTYD in production scoring (stage 07): the refit honours the study's fit settings, and
a BTYD model's predictive spend interval is the same scored at once or in batches."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.apply.batch import ProductionModel, score_in_batches, scoring_inputs
from helpers.apply.scoring import _fit_btyd, score_customers
from helpers.data.registry import load_dataset
from helpers.models import btyd
from helpers.models.btyd_intervals import predictive_intervals

AS_OF, HORIZON = "2024-10-31", 92


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    data = load_dataset(
        "shopsim", seed=11, n_users=900, start="2023-01-01", cutoff="2024-06-30",
        holdout_end="2024-12-31",
    )  # fmt: skip
    return data.events


def test_refit_honours_method_and_priors_and_fits_mbgnbd(events):
    summary = btyd.btyd_summary(events[events["ts"] <= "2024-06-30"], "2024-06-30", "2024-12-31")
    fits, failed = _fit_btyd(summary, ["mbgnbd", "bgnbd"], priors="flat")
    assert not failed and set(fits) == {"gamma_gamma", "mbgnbd", "bgnbd"}
    assert {fit.priors for fit in fits.values()} == {"flat"}
    direct = btyd.fit_mbgnbd(summary, priors="flat")
    assert fits["mbgnbd"].params == pytest.approx(direct.params, rel=1e-9)
    plain, _ = _fit_btyd(summary, ["bgnbd"])  # stage 04a's defaults: MAP, default priors
    assert plain["bgnbd"].priors == "default" and plain["bgnbd"].method == "map"
    assert plain["bgnbd"].params != pytest.approx(fits["bgnbd"].params, rel=1e-3)


def test_batches_give_a_btyd_model_its_own_interval(events, tmp_path):
    once = score_customers(events, AS_OF, HORIZON, "pareto_nbd", seed=3, progress=False,
                           gbdt_max_rounds=80)  # fmt: skip
    fits = once.btyd_fits
    bounds = predictive_intervals(once.summary, fits["pareto_nbd"], fits["gamma_gamma"],
                                  HORIZON / 7.0, n_sims=300, seed=3)  # fmt: skip
    once.scores.attrs["btyd_interval"] = bounds.attrs["btyd_interval"]  # as stage 07 records it
    model = ProductionModel.from_result(once)
    assert model.btyd_interval["seed"] == 3 and model.btyd_interval["n_sims"] == 300
    artifact = model.save(tmp_path / "model.json")
    path = tmp_path / "events.parquet"
    events.to_parquet(path, index=False)
    scoring_inputs(path, AS_OF, HORIZON, tmp_path / "inputs.parquet", threads=1)
    score_in_batches(ProductionModel.load(artifact), tmp_path / "inputs.parquet",
                     tmp_path / "scores.parquet", batch_rows=97, progress=False)  # fmt: skip
    scored = pd.read_parquet(tmp_path / "scores.parquet").set_index("user_id")
    np.testing.assert_array_equal(scored["spend_q10"], bounds["spend_lower"])
    np.testing.assert_array_equal(scored["spend_q90"], bounds["spend_upper"])
    np.testing.assert_allclose(scored["predicted_spend"], once.scores["predicted_spend"], 1e-12)
    assert (scored["spend_q10"] <= scored["spend_q90"]).all()
