import pytest

from helpers.models.deep.ablations import ablation_configs
from helpers.models.deep.config import DeepConfig


def test_each_ablation_changes_one_thing_of_the_main_config():
    main = DeepConfig(hidden_size=16)
    configs = ablation_configs(main, ["no_text", "mse"])
    assert list(configs) == ["deep", "deep_no_text", "deep_mse"]
    assert configs["deep"] is main
    assert configs["deep_no_text"] == main.replace(use_text=False)
    assert configs["deep_mse"].loss == "mse" and configs["deep_mse"].hidden_size == 16
    with pytest.raises(KeyError, match="unknown ablation"):
        ablation_configs(main, ["no_sleep"])
