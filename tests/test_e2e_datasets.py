"""End to end (slow tier, `make test-all`): the whole pipeline on other datasets."""

import json
from pathlib import Path

import pytest
from e2e import dvc, scratch_study

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
