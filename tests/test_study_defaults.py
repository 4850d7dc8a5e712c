"""Functions a stage calls with ``params.yaml`` values default to those same values, so a
reader (or a test) calling them without arguments gets the study's configuration."""

import inspect
from pathlib import Path

import pytest
import yaml

from helpers.marketing.study import run_study

ROOT = Path(__file__).resolve().parents[1]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


@pytest.mark.parametrize(("function", "section"), [(run_study, "rl")])
def test_defaults_equal_params_yaml(function, section: str):
    defaults = {
        name: p.default
        for name, p in inspect.signature(function).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    shared = sorted(set(defaults) & set(PARAMS[section]))
    assert len(shared) >= 10  # the test compares something
    differing = {
        k: (defaults[k], PARAMS[section][k]) for k in shared if defaults[k] != PARAMS[section][k]
    }
    assert differing == {}
