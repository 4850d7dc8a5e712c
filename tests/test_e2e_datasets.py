"""End to end (slow tier, `make test-all`): the whole pipeline on other datasets."""

import json
from pathlib import Path

import numpy as np
import pytest
from e2e import dvc, monday_answer_problems, scratch_study

from helpers.data.foreign_export import EVENTS_BLOCK, expected_report, write_foreign_export

pytestmark = pytest.mark.slow


def test_cdnow_runs_to_the_leaderboard_on_the_real_file(tmp_path: Path):
    def cdnow(params: dict) -> None:
        params["base"]["dataset"] = "cdnow"

    work = scratch_study(tmp_path, cdnow)
    dvc(["repro"], work)
    quality = json.loads((work / "reports/metrics/data_quality.json").read_text())
    assert quality["rows_in"] == 69_659 and quality["rows_kept"] == 69_659
    assert quality["notes"]["cohort"]["users_total"] == 23_570
    text = json.loads((work / "reports/metrics/text_features.json").read_text())
    assert text["has_text"] is False  # CDNOW has no text: the text block is switched off
    board = json.loads((work / "reports/metrics/leaderboard.json").read_text())
    assert "oracle" not in board and 0.6 < board["pareto_nbd"]["gini"] < 0.75


def test_the_real_online_retail_file_runs_to_the_end_with_btyd_reported(tmp_path: Path):
    def online_retail(params: dict) -> None:
        params["base"]["dataset"] = "online_retail"  # the built-in UCI file, default split

    work = scratch_study(tmp_path, online_retail)
    dvc(["repro"], work)
    quality = json.loads((work / "reports/metrics/data_quality.json").read_text())
    assert quality["rows_in"] == 541_909 and quality["rows_kept"] == 391_150
    assert quality["rows_in"] == quality["rows_kept"] + quality["rows_dropped"]
    text = json.loads((work / "reports/metrics/text_features.json").read_text())
    # product descriptions carry no ratings: n_components auto keeps 8 embedding dims
    assert not text["has_ratings"] and text["embedding_dims"] == 8
    assert "txt_mean_7" in text["text_feature_columns"]
    board = json.loads((work / "reports/metrics/leaderboard.json").read_text())
    assert {"bgnbd", "pareto_nbd", "gbdt", "deep"} <= set(board)
    assert monday_answer_problems(work) == []


def test_a_foreign_order_export_runs_from_params_alone(tmp_path: Path):
    export = tmp_path / "orders.csv"
    frame = write_foreign_export(export, np.random.default_rng(42), n_customers=600)
    expected = expected_report(frame)

    def foreign(params: dict) -> None:
        params["base"]["dataset"] = "events"
        params["datasets"]["events"] = {**EVENTS_BLOCK, "path": str(export)}

    work = scratch_study(tmp_path, foreign)
    dvc(["repro"], work)
    quality = json.loads((work / "reports/metrics/data_quality.json").read_text())
    assert quality["rows_in"] == len(frame) == expected["rows_in"]
    assert quality["rows_kept"] == expected["rows_kept"]
    assert quality["rows_in"] == quality["rows_kept"] + quality["rows_dropped"]
    board = json.loads((work / "reports/metrics/leaderboard.json").read_text())
    assert {"bgnbd", "pareto_nbd", "gbdt", "deep", "zero"} <= set(board)
    assert monday_answer_problems(work) == []
