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


def test_online_retail_null_path_means_the_built_in_file(tmp_path):
    loaded = load_dataset("online_retail", seed=1, path=None, cutoff=None, holdout_end=None)
    assert loaded.quality.source == "online_retail.parquet (built-in)"
    assert (loaded.quality.rows_in, loaded.quality.rows_kept) == (541_909, 391_150)
    assert loaded.truth is None
    own = tmp_path / "retail.csv"
    own.write_text(
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "536365,85123A,WHITE HANGING HEART,6,12/1/2010 8:26,2.55,17850.0,United Kingdom\n"
        "C536379,22556,PLASTERS IN TIN,-2,12/1/2010 9:41,1.25,14527.0,United Kingdom\n"
    )
    mine = load_dataset("online_retail", path=str(own), as_of="2012-01-01", cutoff=None)
    assert mine.quality.source == str(own)
    assert (mine.quality.rows_in, mine.quality.rows_kept) == (2, 1)
    assert mine.quality.dropped["cancellation"] == 1
