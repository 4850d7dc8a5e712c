import numpy as np
import pandas as pd
import pytest

from helpers.features.text import align_user_text_features


def test_customers_without_reviews_get_explicit_values():
    text = pd.DataFrame(
        {
            "txt_mean_0": [0.5],
            "sentiment_mean": [0.8],
            "review_count": [2],
            "days_since_last_review": [10.0],
            "mean_rating": [4.0],
        },
        index=pd.Index(["a"], name="user_id"),
    )
    block = align_user_text_features(text, pd.Index(["b", "a"]), no_review_days=365.0)
    assert list(block.index) == ["b", "a"]
    assert block.loc["a"].to_dict() == {
        "has_review": 1,
        "txt_mean_0": 0.5,
        "sentiment_mean": 0.8,
        "review_count": 2,
        "days_since_last_review": 10.0,
        "mean_rating": 4.0,
    }
    b = block.loc["b"]
    assert b["has_review"] == 0 and b["review_count"] == 0 and b["txt_mean_0"] == 0.0
    assert b["days_since_last_review"] == 365.0 and b["mean_rating"] == pytest.approx(4.0)
    assert not block.isna().any().any()


def test_read_ratings_of_non_reviewers_are_the_reviewers_mean():
    text = pd.DataFrame(
        {
            "review_count": [1, 3],
            "days_since_last_review": [5.0, 9.0],
            "read_rating_last": [4.0, 2.0],
            "read_rating_min": [3.0, 1.0],
            "read_rating_mean": [4.5, 2.5],
        },
        index=pd.Index(["a", "c"], name="user_id"),
    )
    block = align_user_text_features(text, pd.Index(["a", "b", "c"]), no_review_days=100.0)
    assert block.loc["b", ["read_rating_last", "read_rating_min", "read_rating_mean"]].tolist() == [
        3.0,
        2.0,
        3.5,
    ]
    assert block.loc["b", "has_review"] == 0 and block.loc["b", "review_count"] == 0


def test_no_text_dataset_gives_a_zero_width_block():
    block = align_user_text_features(pd.DataFrame(), pd.Index(["a", "b"]), no_review_days=1.0)
    assert block.shape == (2, 0) and list(block.index) == ["a", "b"]
    assert np.array_equal(block.to_numpy().shape, (2, 0))
