"""One LightGBM settings object, built from ``params.yaml``'s ``train`` block everywhere."""

import json
from pathlib import Path

import yaml

from helpers.models.gbdt import LightGBMSettings
from helpers.studies.text_signal.settings import gbdt_arguments

ROOT = Path(__file__).resolve().parents[1]
TRAIN = yaml.safe_load((ROOT / "params.yaml").read_text())["train"]


def test_the_defaults_are_the_values_params_yaml_ships_with():
    assert LightGBMSettings.from_params(TRAIN) == LightGBMSettings()


def test_from_params_reads_every_gbdt_key_and_keeps_defaults_for_missing_ones():
    train = {
        "gbdt_valid_share": 0.3,
        "gbdt_max_rounds": 10,
        "gbdt_early_stopping": 3,
        "gbdt_learning_rate": 0.2,
        "gbdt_num_leaves": 7,
        "btyd_penalizer": 1.0,  # not a LightGBM key: ignored
    }
    assert LightGBMSettings.from_params(train) == LightGBMSettings(0.3, 10, 3, 0.2, 7)
    assert LightGBMSettings.from_params({"gbdt_num_leaves": 31}) == LightGBMSettings(num_leaves=31)


def test_the_three_shapes_the_stages_need():
    settings = LightGBMSettings(0.3, 10, 3, 0.2, 7)
    assert settings.crossfit_arguments() == {
        "valid_share": 0.3,
        "params": {"learning_rate": 0.2, "num_leaves": 7},
        "max_rounds": 10,
        "early_stopping_rounds": 3,
    }
    assert settings.scoring_options() == {
        "gbdt_params": {"learning_rate": 0.2, "num_leaves": 7},
        "gbdt_valid_share": 0.3,
        "gbdt_max_rounds": 10,
        "gbdt_early_stopping": 3,
    }
    train = {"gbdt_max_rounds": 10, "gbdt_num_leaves": 7}
    assert gbdt_arguments(train) == LightGBMSettings.from_params(train).crossfit_arguments()


def test_no_notebook_rebuilds_the_lightgbm_settings_by_hand():
    """The notebooks that fit LightGBM take its settings from LightGBMSettings."""
    for name in ("07_apply.ipynb",):
        cells = json.loads((ROOT / "notebooks" / name).read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        assert "LightGBMSettings.from_params(train)" in code, name
        assert 'train["gbdt_learning_rate"]' not in code, name
