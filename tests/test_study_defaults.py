"""A stage's settings default to ``params.yaml``, so a reader (or a test) building them
without arguments gets the study's configuration."""

import dataclasses
import inspect
from pathlib import Path

import pytest
import yaml

from helpers.marketing.settings import MarketingSettings
from helpers.marketing.study import run_study, train_agents

ROOT = Path(__file__).resolve().parents[1]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def test_marketing_settings_default_to_params_yaml():
    defaults = {f.name: f.default for f in dataclasses.fields(MarketingSettings)}
    rl = PARAMS["rl"]
    assert set(rl) <= set(defaults)  # every rl key is a setting
    assert {k: defaults[k] for k in rl} == rl
    # and from_params of the rl block is the default object
    assert MarketingSettings.from_params(rl) == MarketingSettings()


def test_run_study_takes_its_defaults_from_the_settings():
    params = inspect.signature(run_study).parameters
    assert params["settings"].default == MarketingSettings()
    assert params["seed"].default == PARAMS["base"]["seed"]
    assert len(params) == 6  # populations, state model, settings, seed: nothing else to drift


@pytest.mark.parametrize("name", ["tabular_episodes", "dqn_episodes", "fqi_episodes"])
def test_train_agents_defaults_are_the_settings(name: str):
    default = inspect.signature(train_agents).parameters[name].default
    assert default == getattr(MarketingSettings(), name) == PARAMS["rl"][name]


def test_from_params_names_an_unknown_key():
    with pytest.raises(ValueError, match=r"unknown rl settings \['dqn_epsiodes'\]"):
        MarketingSettings.from_params({"dqn_epsiodes": 3})


def test_from_params_turns_lists_into_tuples_and_checks_presets():
    s = MarketingSettings.from_params({"budgets": [0.1, 0.5], "sweep": ["none"]})
    assert s.budgets == (0.1, 0.5) and s.sweep == ("none",)
    assert s.presets == ["mid", "high", "none"]
    with pytest.raises(ValueError, match="unknown"):
        MarketingSettings(effects="huge")
    with pytest.raises(ValueError, match=r"rl.n_curve_seeds \(6\) cannot exceed rl.n_eval_seeds"):
        MarketingSettings(n_eval_seeds=5, n_curve_seeds=6)
