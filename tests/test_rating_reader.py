"""Tests of the cross-fitted bag-of-words reader of star ratings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.features.rating_reader import (
    READ_RATING_COLUMNS,
    fit_rating_reader,
    read_rating_features,
    read_validation,
    study_read_ratings,
)
from helpers.studies.text_signal.blocks import candidate_blocks
from helpers.studies.text_signal.readers import reader_for_candidates


def reviews(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Two-aspect reviews whose rating is the number of good aspects (1, 3 or 5 stars)."""
    rng = np.random.default_rng(seed)
    delivery, quality = rng.integers(0, 2, n), rng.integers(0, 2, n)
    words = {
        0: ("delivery was slow", "quality is poor"),
        1: ("delivery was fast", "quality is good"),
    }
    text = [f"{words[d][0]} and {words[q][1]}" for d, q in zip(delivery, quality, strict=True)]
    return pd.DataFrame(
        {
            "user_id": [f"u{i % 200:03d}" for i in range(n)],
            "ts": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.arange(n), "h"),
            "text": text,
            "rating": 1.0 + 2.0 * (delivery + quality),
        }
    )


def test_reader_reads_each_aspect_out_of_fold() -> None:
    frame = reviews()
    reader = fit_rating_reader(frame["text"], frame["rating"], frame["user_id"], 3, seed=1)
    assert reader.n_train == 600 and len(reader.readers) == 3
    assert sorted(reader.user_fold.value_counts()) == [66, 67, 67]  # 200 writers in 3 folds
    read = reader.score(frame["text"], frame["user_id"])
    assert np.corrcoef(read, frame["rating"])[0, 1] > 0.99  # the words say the rating
    mixed = reader.score(["delivery was slow and quality is good"], ["someone new"])
    assert 2.5 < mixed[0] < 3.5  # one good aspect of two: about three stars
    # a known writer is read by the reader of their fold, a new one by all readers' mean
    first = frame.iloc[:1]
    fold = int(reader.user_fold[first["user_id"].iloc[0]])
    own = reader.readers[fold].predict(first["text"])
    assert reader.score(first["text"], first["user_id"]) == pytest.approx(own)
    pooled = np.mean([r.predict(first["text"]) for r in reader.readers])
    assert reader.score(first["text"], ["stranger"])[0] == pytest.approx(pooled)


def test_reader_skips_missing_ratings_and_names_bad_input() -> None:
    frame = reviews()
    rating = frame["rating"].where(np.arange(600) % 2 == 0)  # every second review unrated
    reader = fit_rating_reader(frame["text"], rating, frame["user_id"], 2, seed=1)
    assert reader.n_train == 300
    with pytest.raises(ValueError, match=r"texts \(600\), ratings \(599\) and user_ids \(600\)"):
        fit_rating_reader(frame["text"], frame["rating"][1:], frame["user_id"], 2, seed=1)
    with pytest.raises(ValueError, match="2 customers with a rated review cannot fill 3 folds"):
        fit_rating_reader(["good", "bad"], [5, 1], ["a", "b"], 3, seed=1)
    with pytest.raises(ValueError, match="n_folds must be at least 2, got 1"):
        fit_rating_reader(frame["text"], frame["rating"], frame["user_id"], 1, seed=1)
    with pytest.raises(ValueError, match="2 texts but 1 user ids"):
        reader.score(["a", "b"], ["u000"])


def test_read_rating_features_latest_lowest_mean_and_fill() -> None:
    frame = pd.DataFrame(
        {
            "user_id": ["a", "a", "b", "a"],
            "ts": pd.to_datetime(["2024-01-02", "2024-01-01", "2024-01-05", "2024-01-02"]),
        }
    )
    out = read_rating_features(frame, np.array([4.0, 2.0, 5.0, 3.0]))
    assert list(out.columns) == list(READ_RATING_COLUMNS)
    assert out.loc["a"].tolist() == [3.0, 2.0, 3.0]  # tie on Jan 2: the later row is latest
    assert out.loc["b"].tolist() == [5.0, 5.0, 5.0]
    filled = read_rating_features(frame, np.array([4.0, 2.0, 5.0, 3.0]), pd.Index(["b", "c"]))
    assert filled.loc["c"].tolist() == [4.0, 3.5, 4.0]  # the reviewers' means
    with pytest.raises(ValueError, match="3 read ratings for 4 reviews"):
        read_rating_features(frame, np.zeros(3))


def test_candidate_block_with_the_reader_adds_its_columns() -> None:
    users = pd.Index(["a", "b", "c"], name="user_id")
    block = pd.DataFrame(
        {"has_review": [1, 1, 0], "review_count": [2, 1, 0], "sentiment_mean": [0.5, -0.2, 0.0]},
        index=users,
    )
    signals = pd.DataFrame(index=users)
    read = pd.DataFrame({c: [4.0, 2.0, 3.0] for c in READ_RATING_COLUMNS}, index=users.astype(str))
    out = candidate_blocks(block, signals, pd.Series(1, index=users), None, read)
    assert list(out["text_reader"].columns) == [*block.columns, *READ_RATING_COLUMNS]
    assert out["text_reader"].loc["b", "read_rating_min"] == 2.0
    with pytest.raises(KeyError, match="read_ratings lacks some customers"):
        candidate_blocks(block, signals, pd.Series(1, index=users), None, read[:2])


def test_candidate_reader_is_left_out_when_the_block_carries_the_read_ratings() -> None:
    users = pd.Index(["a", "b"], name="user_id")
    read = pd.DataFrame({c: [4.0, 2.0] for c in READ_RATING_COLUMNS}, index=users)
    block = pd.DataFrame({"has_review": [1, 1], "review_count": [1, 2]}, index=users).join(read)
    out = candidate_blocks(block, pd.DataFrame(index=users), block["review_count"], None, read)
    assert "text_reader" not in out  # the study's block is that candidate already
    assert list(out["text_compact"].columns) == list(block.columns)


def test_study_read_ratings_matches_the_reader_and_says_why_when_off() -> None:
    frame = reviews()
    reader, read, note = study_read_ratings(frame, 3, seed=1)
    assert note == "" and reader is not None
    again = fit_rating_reader(frame["text"], frame["rating"], frame["user_id"], 3, seed=1)
    assert np.array_equal(read, again.score(frame["text"], frame["user_id"]))
    off, missing, why = study_read_ratings(frame, 0, seed=1)
    assert off is None and np.isnan(missing).all() and len(missing) == 600
    assert why == "text.rating_reader_folds is 0: no rating reader"
    unrated = frame.assign(rating=np.nan)
    assert study_read_ratings(unrated, 3, 1)[2] == "no text carries a star rating: no rating reader"
    few = frame[frame["user_id"].isin(["u000", "u001"])]
    assert study_read_ratings(few, 3, 1)[2] == (
        "2 customers wrote a rated text, fewer than the reader's 3 folds: no rating reader"
    )
    for bad in (1, -1, True, 2.5):
        with pytest.raises(ValueError, match="text.rating_reader_folds must be 0"):
            study_read_ratings(frame, bad, seed=1)


def test_read_validation_known_answers() -> None:
    out = read_validation(np.array([1.0, 3.0, np.nan, 5.0]), [2.0, 3.0, 4.0, 4.0])
    assert out["n"] == 3  # the unread text is skipped
    assert out["mae"] == pytest.approx(2.0 / 3.0)  # |1-2| + |3-3| + |5-4|
    assert out["mae_constant"] == pytest.approx((1.0 + 0.0 + 1.0) / 3.0)  # mean rating 3
    assert out["spearman"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="2 read ratings for 3 ratings"):
        read_validation(np.zeros(2), [1, 2, 3])
    with pytest.raises(ValueError, match="1 rated texts with a read rating: need at least 2"):
        read_validation(np.array([1.0, np.nan]), [1, 2])


def test_reader_for_candidates_refits_stage_02s_reader_or_fits_one_for_the_candidate() -> None:
    frame = reviews()
    users = pd.Index(sorted(frame["user_id"].unique()))
    _, read, _ = study_read_ratings(frame, 3, seed=1)
    studied = frame.assign(read_rating=read)  # what stage 02 writes to texts.parquet
    block = read_rating_features(frame, read, users).assign(has_review=1)
    reader, extra, in_block = reader_for_candidates(studied, block, 3, 2, seed=1)
    assert in_block and extra is None and len(reader.readers) == 3
    stale = studied.assign(read_rating=studied["read_rating"] + 0.01 * (np.arange(600) == 7))
    with pytest.raises(ValueError, match=r"\(row 7: .*re-run `dvc repro 02_text_features`"):
        reader_for_candidates(stale, block, 3, 2, seed=1)
    with pytest.raises(ValueError, match=r"does not read what stage 02 wrote"):
        reader_for_candidates(studied, block, 0, 2, seed=1)  # reader now off

    plain = block.drop(columns=list(READ_RATING_COLUMNS))  # the candidate gets a reader
    reader, extra, in_block = reader_for_candidates(frame, plain, 3, 2, seed=1)
    assert not in_block and len(reader.readers) == 2
    _, read_2_folds, _ = study_read_ratings(frame, 2, seed=1)
    pd.testing.assert_frame_equal(extra, read_rating_features(frame, read_2_folds, users))
    unrated = frame.assign(rating=np.nan)
    assert reader_for_candidates(unrated, plain, 3, 2, seed=1) == (None, None, False)
