import pytest

from helpers.data.registry import load_dataset, load_events
from helpers.data.schema import DataError


def test_shopsim_through_the_dispatcher_is_deterministic_and_complete():
    options = {
        "n_users": 300,
        "start": "2023-01-01",
        "cutoff": "2023-12-31",
        "holdout_end": "2024-03-31",
    }
    first = load_dataset("shopsim", seed=3, **options)
    second = load_dataset("shopsim", seed=3, **options)
    assert first.events.equals(second.events)
    assert first.quality.rows_in == first.quality.rows_kept == len(first.events)
    assert first.truth["user_id"].nunique() == 300


def test_shopsim_needs_a_seed_and_known_options():
    with pytest.raises(ValueError, match="needs an explicit seed"):
        load_dataset("shopsim", n_users=10)
    with pytest.raises(ValueError, match=r"unknown shopsim option\(s\) \['n_user'\]"):
        load_dataset("shopsim", seed=1, n_user=10)


def test_file_datasets_need_a_path_and_unknown_names_fail():
    with pytest.raises(DataError, match="dataset 'events': set `path`"):
        load_events("events", path=None, cutoff="2020-01-01")
    with pytest.raises(ValueError, match="unknown dataset 'cdnowz'"):
        load_events("cdnowz")


def test_cdnow_through_the_dispatcher_ignores_split_keys():
    loaded = load_dataset("cdnow", seed=1, cutoff="1997-09-30", holdout_end="1998-06-30")
    assert len(loaded.events) == 69_659 and loaded.truth is None
