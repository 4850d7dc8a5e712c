"""The cross-dataset benchmark's table and page (:mod:`helpers.benchmark.report`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers.benchmark import report

ROOT = Path(__file__).resolve().parents[1]


def _results(folder: Path, dataset: str, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    users = [f"u{i:03d}" for i in range(400)]
    actual = rng.gamma(0.4, 50.0, 400) * (rng.random(400) < 0.5)
    customers = pd.DataFrame(
        {"holdout_spend": actual, "holdout_purchases": (actual > 0).astype(int)},
        index=pd.Index(users, name="user_id"),
    )
    noise = {"pareto_nbd": 30.0, "bgnbd": 40.0, "gbdt": 10.0, "extrapolation": 80.0}
    frames = []
    for model, scale in noise.items():
        for protocol in ("deployable", "cross_fitted") if model == "gbdt" else ("deployable",):
            shift = 5.0 if protocol == "cross_fitted" else 0.0
            spend = np.clip(actual + rng.normal(shift, scale, 400), 0, None)
            frames.append(pd.DataFrame({"user_id": users, "model": model, "predicted_spend": spend,
                                        "p_zero": np.nan, "protocol": protocol}))  # fmt: skip
    frames.append(pd.DataFrame({"user_id": users, "model": "zero", "predicted_spend": 0.0,
                                "p_zero": 1.0, "protocol": "deployable"}))  # fmt: skip
    out = folder / dataset
    out.mkdir(parents=True)
    pd.concat(frames, ignore_index=True).to_parquet(out / "predictions.parquet")
    customers.to_parquet(out / "customers.parquet")
    facts = {"dataset": dataset, "customers": 400, "cutoff": "2024-06-30",
             "holdout_end": "2024-12-31", "holdout_days": 184,
             "recipe": {"sentence": "Recipe chosen on an inner time split."},
             "not_fitted": {"deep_no_text": "too little history"},
             "deep": {"settings": {"hidden_size": 16}, "epochs": 4}}  # fmt: skip
    (out / "run.json").write_text(json.dumps(facts))
    return out


def test_table_scores_every_row_against_the_best_btyd_model(tmp_path):
    folders = [_results(tmp_path, "alpha", 1), _results(tmp_path, "beta", 2)]
    table = report.benchmark_table(folders, seed=0, n_boot=50)
    assert set(table["dataset"]) == {"alpha", "beta"}
    assert {"gini", "spearman", "mae", "top10_capture", "roc_auc",
            "weighted_decile_error"} <= set(table.columns)  # fmt: skip
    alpha = table[table["dataset"] == "alpha"].set_index(["model", "protocol"])
    assert alpha.loc[("gbdt", "cross_fitted"), "gini"] != alpha.loc[("gbdt", "deployable"), "gini"]
    best = alpha["best_btyd"].iloc[0]
    assert best == "pareto_nbd"  # less noise than bgnbd
    assert np.isnan(alpha.loc[(best, "deployable"), "vs_best_btyd"])
    gbdt = alpha.loc[("gbdt", "deployable")]
    expected = gbdt["gini"] - alpha.loc[(best, "deployable"), "gini"]
    assert gbdt["vs_best_btyd"] == pytest.approx(expected)
    assert gbdt["low"] <= gbdt["vs_best_btyd"] <= gbdt["high"]
    page = report.benchmark_html(table, [json.loads((f / "run.json").read_text()) for f in folders])
    assert page.index("best deployable learned model") < page.index("<h2>alpha</h2>")
    assert "<code>gbdt</code>" in page and "too little history" in page
    assert "hidden size 16 and 4 fixed epochs" in page


def test_benchmark_pipeline_is_outside_make_study_and_covers_every_dataset():
    stages = yaml.safe_load((ROOT / "benchmark" / "dvc.yaml").read_text())["stages"]
    assert stages["run"]["foreach"] == ["shopsim", "cdnow", "online_retail", "foreign_export"]
    root = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert not any("benchmark" in name for name in root)
    assert "benchmark" in yaml.safe_load((ROOT / "params.yaml").read_text())


def test_diagnosis_note_lists_window_counts_and_the_learning_curve():
    diagnosis = {
        "dataset": "online_retail",
        "best_btyd": "pareto_nbd",
        "window_count": [
            {
                "recipe": "window H/2, 2 anchors",
                "rows": 3945,
                "gini": 0.7626,
                "vs_best_btyd": [0.0034, -0.0495, 0.038],
            }
        ],  # fmt: skip
        "learning_curve": [
            {
                "training_share": 0.25,
                "rows": 1307,
                "gini": 0.7292,
                "vs_best_btyd": [-0.0299, -0.1304, 0.0283],
            }
        ],  # fmt: skip
    }
    note = report.diagnosis_html(diagnosis)
    assert "Diagnosis: online_retail" in note and "vs pareto_nbd" in note
    assert "<td>window H/2, 2 anchors</td><td>3,945</td><td>0.763</td>" in note
    assert "-0.030 (-0.130 to +0.028)" in note
