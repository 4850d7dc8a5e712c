"""Tests of the text-signal study (notebook 06b): knob, ceilings, recovery rate, sweep."""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError, replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.feature_extraction.text import HashingVectorizer

from helpers.claims import ClaimError
from helpers.data.shopsim import ShopSimConfig, simulate_shop
from helpers.evaluation.metrics import normalized_gini
from helpers.features import text as text_features
from helpers.models.errors import InsufficientDataError
from helpers.studies.text_signal import blocks, bootstrap, readers, summary, sweep, variants
from helpers.studies.text_signal.settings import StudySettings, SweepInputs, SweepSettings
from helpers.studies.text_signal.study import run_study, write_outputs

SMALL = ShopSimConfig(n_users=1_500)
END = pd.Timestamp(SMALL.holdout_end, tz="UTC") + pd.Timedelta(days=1)


# ---- the knob and common random numbers -------------------------------------------------


@pytest.fixture(scope="module")
def worlds() -> dict[float, object]:
    return {k: simulate_shop(ShopSimConfig(n_users=1_500, kappa=k), seed=5) for k in (0.5, 2.0)}


def test_kappa_changes_only_dropout_with_common_random_numbers(worlds) -> None:
    weak, strong = worlds[0.5].truth, worlds[2.0].truth
    for column in ("lam", "satisfaction", "mean_spend", "birth", "browse_only"):
        pd.testing.assert_series_equal(weak[column], strong[column])
    # mu = mu0 exp(-kappa z): the ratio of the two worlds is exp(-(2.0 - 0.5) z) exactly
    assert np.allclose(strong["mu"] / weak["mu"], np.exp(-1.5 * weak["satisfaction"]))
    # users alive to the end of the window in both worlds have identical event logs
    both = weak["death"].isna() & strong["death"].isna()
    users = set(weak.loc[both, "user_id"])
    assert len(users) > 200
    a = worlds[0.5].events
    b = worlds[2.0].events
    a = a[a["user_id"].isin(users)].reset_index(drop=True)
    b = b[b["user_id"].isin(users)].reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    # so most review texts are shared between the worlds (they hit the embedding cache)
    ta, tb = set(worlds[0.5].events["text"].dropna()), set(worlds[2.0].events["text"].dropna())
    assert len(ta & tb) / len(ta | tb) > 0.6


def test_kappa_zero_removes_the_value_signal_but_not_the_ratings() -> None:
    sim = simulate_shop(ShopSimConfig(n_users=3_000, kappa=0.0), seed=2)
    truth = sim.truth
    # churn no longer depends on satisfaction ...
    rho = pd.Series(np.log(truth["mu"])).corr(truth["satisfaction"], method="spearman")
    assert abs(rho) < 0.06
    # ... while reviews still do
    reviews = sim.events[sim.events["event_type"] == "review"].merge(
        truth[["user_id", "satisfaction"]], on="user_id"
    )
    assert reviews["rating"].astype(float).corr(reviews["satisfaction"]) > 0.2


def test_rate_channel_is_mean_preserving_and_follows_satisfaction() -> None:
    base = simulate_shop(ShopSimConfig(n_users=6_000), seed=9).truth
    rated = simulate_shop(ShopSimConfig(n_users=6_000, satisfaction_rate_effect=0.5), seed=9).truth
    buyers = ~base["browse_only"]
    ratio = rated.loc[buyers, "lam"] / base.loc[buyers, "lam"]
    assert np.allclose(ratio, np.exp(0.5 * base.loc[buyers, "satisfaction"] - 0.125))
    assert abs(rated.loc[buyers, "lam"].mean() / base.loc[buyers, "lam"].mean() - 1) < 0.08


# ---- blocks, recovery rate, bootstrap ---------------------------------------------------


def _text_block() -> pd.DataFrame:
    index = pd.Index(["u1", "u2", "u3"], name="user_id")
    return pd.DataFrame(
        {
            "has_review": [1, 1, 0],
            "txt_mean_0": [0.1, -0.2, 0.0],
            "txt_last_0": [0.3, 0.1, 0.0],
            "sentiment_mean": [0.5, -0.5, 0.0],
            "review_count": [2, 1, 0],
            "days_since_last_review": [3.0, 40.0, 500.0],
            "mean_rating": [4.5, 2.0, 3.25],
        },
        index=index,
    )


def test_variant_blocks_give_truth_to_reviewers_only() -> None:
    block = _text_block()
    z = pd.Series({"u1": 1.5, "u2": -0.7, "u3": 2.0})
    ratings = pd.DataFrame(
        {"rating_mean": [4.5, 2.0], "rating_last": [5.0, 2.0]},
        index=pd.Index(["u1", "u2"], name="user_id"),
    )
    out = blocks.variant_blocks(block, z, ratings)
    assert list(out) == ["no_text", "text", "satisfaction", "ratings"]
    assert list(out["no_text"].columns) == list(blocks.META_COLUMNS)
    assert out["satisfaction"]["true_satisfaction"].tolist() == [1.5, -0.7, 0.0]
    assert out["ratings"].loc["u3", "rating_mean"] == pytest.approx(3.25)  # reviewers' mean
    assert out["ratings"].loc["u3", "rating_last"] == pytest.approx(3.5)
    with pytest.raises(KeyError, match="lacks some reviewers"):
        blocks.variant_blocks(block, pd.Series({"u1": 1.0}))
    assert blocks.variant_blocks(pd.DataFrame(index=block.index)) == {}


def test_rating_features_take_the_latest_review() -> None:
    reviews = pd.DataFrame(
        {
            "user_id": ["a", "a", "b"],
            "ts": pd.to_datetime(["2024-02-01", "2024-01-01", "2024-01-05"], utc=True),
            "rating": pd.array([2, 5, 4], dtype="Int64"),
        }
    )
    out = blocks.rating_features(reviews)
    assert out.loc["a", "rating_last"] == 2 and out.loc["a", "rating_mean"] == 3.5
    assert out.loc["b", "rating_last"] == 4


def test_recovery_rate_known_answers() -> None:
    assert bootstrap.recovery_rate(0.80, 0.85, 0.90) == pytest.approx(0.5)
    assert bootstrap.recovery_rate(0.80, 0.78, 0.90) == pytest.approx(-0.2)
    assert np.isnan(bootstrap.recovery_rate(0.80, 0.85, 0.80))


def test_recovery_summary_on_a_known_ranking() -> None:
    rng = np.random.default_rng(0)
    n = 3_000
    signal = rng.gamma(0.5, 2.0, n)
    spend = pd.Series(signal * rng.gamma(2.0, 0.5, n), index=[f"u{i}" for i in range(n)])
    noise = rng.standard_normal(n)
    predictions = pd.DataFrame(
        {
            "no_text": np.log(signal) + 1.5 * noise,
            "text": np.log(signal) + 0.6 * noise,
            "satisfaction": np.log(signal),
        },
        index=spend.index,
    )
    out = bootstrap.recovery_summary(spend, predictions, n_boot=100, seed=1)
    gini = {c: normalized_gini(spend, predictions[c]) for c in predictions}
    assert out["gini_text"] == pytest.approx(gini["text"])
    expected = (gini["text"] - gini["no_text"]) / (gini["satisfaction"] - gini["no_text"])
    assert out["recovery"] == pytest.approx(expected)
    assert 0.3 < out["recovery"] < 0.95
    assert out["recovery_lo"] <= out["recovery"] <= out["recovery_hi"]
    assert out["gain_satisfaction_lo"] > 0  # a real ceiling, clear of zero
    assert out["n_customers"] == n and out["n_boot"] == 100


def test_bootstrap_is_paired_and_seeded() -> None:
    spend = pd.Series([0.0, 1.0, 5.0, 2.0, 0.0, 9.0] * 20)
    predictions = pd.DataFrame({"x": np.arange(120.0), "y": np.arange(120.0)})
    boot = bootstrap.bootstrap_gini(spend, predictions, n_boot=20, seed=3)
    assert (boot["x"] == boot["y"]).all()  # same resample for every model
    again = bootstrap.bootstrap_gini(spend, predictions, n_boot=20, seed=3)
    pd.testing.assert_frame_equal(boot, again)


def test_bootstrap_gini_equals_scoring_each_resample_with_ties() -> None:
    rng = np.random.default_rng(4)
    n = 400
    spend = pd.Series(np.where(rng.random(n) < 0.5, 0.0, rng.gamma(1.0, 30.0, n)).round())
    predictions = pd.DataFrame(
        {
            "tied": np.round(spend.to_numpy() + rng.normal(0, 15, n), -1),  # many ties
            "noise": rng.normal(size=n),
            "constant": np.zeros(n),
        }
    )
    boot = bootstrap.bootstrap_gini(spend, predictions, n_boot=30, seed=9)
    draw = np.random.default_rng(9)
    for b in range(30):
        idx = draw.integers(0, n, n)
        for column in predictions:
            expected = normalized_gini(spend.to_numpy()[idx], predictions[column].to_numpy()[idx])
            assert boot.loc[b, column] == pytest.approx(expected, abs=1e-12)
    assert (boot["constant"].abs() < 1e-12).all()  # a constant score ranks at random
    # replicates scored in chunks (bounded memory) give the same table
    chunked = pytest.MonkeyPatch.context()
    with chunked as patch:
        patch.setattr(bootstrap, "_BOOT_CELLS", 3 * n)
        pd.testing.assert_frame_equal(
            bootstrap.bootstrap_gini(spend, predictions, n_boot=30, seed=9), boot
        )


def test_recovery_summary_reports_shares_of_the_reader_ceiling() -> None:
    rng = np.random.default_rng(2)
    n = 3_000
    signal = rng.gamma(0.5, 2.0, n)
    spend = pd.Series(signal * rng.gamma(2.0, 0.5, n))
    noise = rng.standard_normal(n)
    predictions = pd.DataFrame(
        {
            "no_text": np.log(signal) + 1.5 * noise,
            "text": np.log(signal) + 0.9 * noise,
            "satisfaction": np.log(signal),
            "reader": np.log(signal) + 0.6 * noise,
        }
    )
    out = bootstrap.recovery_summary(spend, predictions, n_boot=50, seed=1)
    gini = {c: normalized_gini(spend, predictions[c]) for c in predictions}
    gain = {c: gini[c] - gini["no_text"] for c in gini}
    assert out["recovery_vs_reader"] == pytest.approx(gain["text"] / gain["reader"])
    assert out["recovery_reader"] == pytest.approx(gain["reader"] / gain["satisfaction"])
    assert out["recovery"] < out["recovery_vs_reader"]  # the reader's ceiling is lower
    assert "recovery_satisfaction_vs_reader" not in out


# ---- the truth-trained reader (ceiling (c')) -----------------------------------------------


def _reader_texts() -> tuple[pd.DataFrame, np.ndarray, pd.Series, pd.Series]:
    rng = np.random.default_rng(0)
    n_users, per_user = 300, 3
    users = np.repeat([f"u{i}" for i in range(n_users)], per_user)
    x = rng.normal(size=users.size)
    words = np.where(x > 0.5, "great parcel", np.where(x < -0.5, "awful parcel", "okay parcel"))
    texts = pd.DataFrame(
        {
            "user_id": users,
            "ts": pd.Timestamp("2024-01-01", tz="UTC")
            + pd.to_timedelta(np.tile(np.arange(per_user), n_users), unit="D"),
            "text": words,
        }
    )
    unique_users = pd.Index(np.unique(users))
    z = pd.Series(rng.normal(size=n_users), index=unique_users)
    folds = pd.Series(np.arange(n_users) % 3, index=unique_users)
    return texts, x, z, folds


def test_text_reader_reads_the_experience_and_aggregates_last_and_min() -> None:
    texts, x, z, folds = _reader_texts()
    read = readers.text_reader_features(texts, x, z, folds)
    assert list(read.columns) == list(readers.READER_COLUMNS)
    assert len(read) == 300
    # the words carry the sign of the experience: the reading follows it
    per_review = read["read_experience_last"]
    last_x = pd.Series(x, index=texts["user_id"]).groupby(level=0).last()  # latest review
    last_x = last_x.reindex(read.index)
    assert np.corrcoef(per_review, last_x)[0, 1] > 0.75
    assert (read["read_experience_min"] <= read["read_experience_last"] + 1e-12).all()
    # the words say nothing about the trait z here: its reading is flat
    assert read["read_satisfaction_mean"].std() < 0.1


def test_text_reader_is_cross_fitted() -> None:
    texts, x, z, folds = _reader_texts()
    base = readers.text_reader_features(texts, x, z, folds)
    # change the truth of fold 0's customers: their own readings must not move
    in_fold0 = texts["user_id"].map(folds).to_numpy() == 0
    shifted = readers.text_reader_features(texts, np.where(in_fold0, -x, x), z, folds)
    fold0 = folds.index[folds == 0]
    pd.testing.assert_frame_equal(base.loc[fold0], shifted.loc[fold0])
    assert not np.allclose(base.drop(fold0), shifted.drop(fold0))


def test_review_experience_matches_reviews_and_names_a_missing_one() -> None:
    texts = pd.DataFrame(
        {"user_id": ["u1", "u2"], "ts": pd.to_datetime(["2024-01-01", "2024-01-02"], utc=True)}
    )
    truth = pd.DataFrame(
        {
            "user_id": ["u2", "u1"],
            "ts": pd.to_datetime(["2024-01-02", "2024-01-01"], utc=True),
            "experience": [0.5, -1.0],
        }
    )
    assert readers.review_experience(texts, truth).tolist() == [-1.0, 0.5]
    with pytest.raises(KeyError, match=r"1 reviews have no latent experience .*user_id='u2'"):
        readers.review_experience(texts, truth.iloc[1:])


# ---- candidate features --------------------------------------------------------------------


def test_review_signal_features_known_answers() -> None:
    as_of = pd.Timestamp("2024-07-01", tz="UTC")
    reviews = pd.DataFrame(
        {
            "user_id": ["a", "a", "b", "b"],
            "ts": [as_of - pd.Timedelta(days=d) for d in (90, 0.5, 10, 20)],
            "rating": pd.array([1, 4, 3, 3], dtype="Int64"),
        }
    )
    sentiment = np.array([-1.0, 0.5, 0.2, -0.4])
    aspects = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.5, -0.5]])
    out = text_features.review_signal_features(
        reviews, sentiment, as_of, half_life_days=90.0, aspects=aspects, aspect_names=("p", "q")
    )
    w_old, w_new = 0.5, 0.5 ** (0.5 / 90.0)
    assert out.loc["a", "sentiment_recent"] == pytest.approx(
        (w_old * -1.0 + w_new * 0.5) / (w_old + w_new)
    )
    assert out.loc["a", "sentiment_worst_rated"] == -1.0  # the one-star review
    assert out.loc["b", "sentiment_worst_rated"] == 0.2  # tie on rating: the latest review
    assert out.loc["b", "aspect_q"] == pytest.approx(0.0)
    late = reviews.assign(ts=as_of)
    with pytest.raises(ValueError, match="leakage guard"):
        text_features.review_signal_features(late, sentiment, as_of)
    # a bought 30 days ago: only the review of half a day ago followed that purchase;
    # b bought 5 days ago, after both reviews: nothing unanswered
    recency = pd.Series({"a": 30.0, "b": 5.0})
    out = blocks.unanswered_review_features(reviews, sentiment, as_of, recency)
    assert out["unanswered_review"].to_dict() == {"a": 1.0, "b": 0.0}
    assert out["sentiment_unanswered"].to_dict() == {"a": 0.5, "b": 0.0}


def test_aspect_scores_are_positive_minus_negative_similarity() -> None:
    descriptions = np.eye(4)  # pos_0, neg_0, pos_1, neg_1
    embeddings = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.6, 0.8, 0.0]])
    scores = text_features.aspect_scores(embeddings, descriptions)
    assert np.allclose(scores, [[1.0, 0.0], [-0.6, 0.8]])
    with pytest.raises(ValueError, match="positive and a negative"):
        text_features.aspect_scores(embeddings, np.eye(4)[:3])


def test_candidate_blocks_drop_embeddings_and_add_the_review_rate() -> None:
    block = _text_block()
    signals = pd.DataFrame({"sentiment_recent": [0.4]}, index=pd.Index(["u1"], name="user_id"))
    purchases = pd.Series({"u1": 4, "u2": 1, "u3": 2})
    out = blocks.candidate_blocks(block, signals, purchases)
    assert not any(c.startswith("txt_") for c in out["text_compact"].columns)
    assert out["text_plus"]["review_rate"].tolist() == [0.5, 1.0, 0.0]
    assert out["text_plus"]["sentiment_recent"].tolist() == [0.4, 0.0, 0.0]
    assert "text_embeddings" not in out  # only with embedding columns given


def test_candidate_blocks_add_embedding_columns_to_a_compact_study_block() -> None:
    full = _text_block()
    study = full[blocks.compact_columns(full)]  # text.n_components resolved to 0
    signals = pd.DataFrame(index=pd.Index([], name="user_id"))
    purchases = pd.Series({"u1": 4, "u2": 1, "u3": 2})
    embedded = full[["txt_last_0", "txt_mean_0", "review_count"]].iloc[::-1]  # any order
    out = blocks.candidate_blocks(study, signals, purchases, embedded)
    pd.testing.assert_frame_equal(out["text_compact"], study)
    assert list(out["text_embeddings"].columns) == [
        "has_review",
        "txt_last_0",
        "txt_mean_0",
        *study.columns[1:],
    ]
    assert out["text_embeddings"]["txt_mean_0"].tolist() == [0.1, -0.2, 0.0]
    with pytest.raises(KeyError, match="lacks some customers"):
        blocks.candidate_blocks(study, signals, purchases, embedded.iloc[:2])
    with pytest.raises(ValueError, match="no txt_mean_"):
        blocks.candidate_blocks(study, signals, purchases, study[["review_count"]])


def test_text_block_for_carries_the_read_ratings_like_stage_02() -> None:
    from helpers.features.rating_reader import (
        READ_RATING_COLUMNS,
        fit_rating_reader,
        read_rating_features,
    )

    rng = np.random.default_rng(3)
    n = 300
    good = rng.integers(0, 2, n)
    texts = pd.DataFrame(
        {
            "user_id": [f"u{i % 60:02d}" for i in range(n)],
            "ts": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.arange(n), "h"),
            "text": np.where(good == 1, "quality is good", "quality is poor"),
            "rating": np.where(good == 1, 5.0, 1.0),
        }
    )
    embeddings = np.column_stack([good, 1 - good, rng.normal(size=(n, 2))]).astype(np.float32)
    reader = fit_rating_reader(texts["text"], texts["rating"], texts["user_id"], 3, seed=0)
    customers = pd.Index([*sorted(texts["user_id"].unique()), "silent"])
    as_of = pd.Timestamp("2025-01-01", tz="UTC")
    args = (texts, embeddings, customers, as_of, 400.0, 0, 0.1, 0)
    plain = blocks.text_block_for(*args)
    read = blocks.text_block_for(*args, rating_reader=reader)
    assert not set(READ_RATING_COLUMNS) & set(plain.columns)
    assert list(read.columns) == [*plain.columns, *READ_RATING_COLUMNS]
    expected = read_rating_features(texts, reader.score(texts["text"], texts["user_id"]), customers)
    pd.testing.assert_frame_equal(
        read[list(READ_RATING_COLUMNS)], expected, check_names=False, check_index_type=False
    )
    reviewers = read.drop(index="silent")[list(READ_RATING_COLUMNS)].mean()
    assert read.loc["silent", list(READ_RATING_COLUMNS)].to_numpy() == pytest.approx(reviewers)


# ---- one sweep world, end to end (a stand-in embedding: the encoder is not under test) ----


def test_sweep_point_scores_all_variants_on_the_same_customers() -> None:
    hashing = HashingVectorizer(n_features=64, alternate_sign=False, norm="l2")

    def embed(texts: list[str]) -> np.ndarray:
        return hashing.transform(texts).toarray().astype(np.float32)

    settings = SweepSettings(
        seed=7, n_customers=1_200, n_folds=3, n_components=4, n_boot=30, gbdt={"max_rounds": 200}
    )
    rows = [
        sweep.sweep_point(
            kappa,
            {"n_users": 2_500},
            replace(settings, replicates=int(kappa > 0)),
            SweepInputs(embed),
        )
        for kappa in (0.0, 2.0)
    ]
    assert "replicates" not in rows[0]
    (again,) = rows[1].pop("replicates")  # a further sample of the kappa = 2 world
    assert again["kappa"] == 2.0 and again["n_customers"] > 0.8 * rows[1]["n_customers"]
    assert {"gain_text", "gain_reader", "gain_satisfaction"} <= set(again)
    assert "gain_experience" not in again  # the replicates leave out (c'')
    assert again["gain_text"] != rows[1]["gain_text"]  # other customers, other models
    for row in rows:
        for variant in blocks.VARIANTS:
            assert 0.3 < row[f"gini_{variant}"] < 1.0
        assert row["gain_text_lo"] <= row["gain_text"] <= row["gain_text_hi"]
        assert row["n_reviewers"] > 100
    assert rows[0]["kappa"] == 0.0 and rows[1]["kappa"] == 2.0
    # the same simulated users in both worlds; who buys in the calibration period differs
    assert abs(rows[0]["n_customers"] - rows[1]["n_customers"]) < 0.1 * rows[0]["n_customers"]


# ---- the deep model on one fold ------------------------------------------------------------


def test_deep_variants_on_fold_predict_the_fold_and_reproduce_a_serial_run() -> None:
    from test_deep_clv import make_batch

    from helpers.models.deep import DeepConfig

    batch = make_batch(n=80, length=8, seed=3)
    users = pd.Index(batch.user_ids, name="user_id")
    rng = np.random.default_rng(4)
    tabular = pd.DataFrame({"f": rng.normal(size=len(users))}, index=users)
    text_block = pd.DataFrame(
        {
            "has_review": rng.integers(0, 2, len(users)),
            "review_count": rng.integers(0, 3, len(users)),
            "days_since_last_review": rng.uniform(0, 100, len(users)),
            "sentiment_mean": rng.normal(size=len(users)),
        },
        index=users,
    )
    variant = blocks.variant_blocks(text_block, pd.Series(rng.normal(size=80), index=users))
    spend = rng.gamma(1.0, 20.0, len(users)) * (rng.random(len(users)) < 0.5)
    customers = pd.DataFrame({"holdout_spend": spend}, index=users)
    folds = np.arange(len(users)) % 4
    config = DeepConfig(hidden_size=8, mlp_hidden=8, max_epochs=2, patience=1, max_len=8)
    kwargs = {"review_sentiment": rng.uniform(-1, 1, 20), "scalers": None, "fold": 1}
    out = variants.start_deep_variants_on_fold(
        batch, tabular, variant, customers, folds, config, 5, n_jobs=2, **kwargs
    ).result()
    assert list(out.columns) == ["no_text", "text", "satisfaction"]
    assert out.index.equals(users[folds == 1])
    assert (out.to_numpy() >= 0).all() and np.isfinite(out.to_numpy()).all()
    assert not np.allclose(out["no_text"], out["satisfaction"])  # the block matters
    serial = variants.start_deep_variants_on_fold(
        batch, tabular, {"text": variant["text"]}, customers, folds, config, 5, n_jobs=1, **kwargs
    ).result()
    assert np.allclose(serial["text"], out["text"])  # processes change nothing
    # started in the background, the trainings give the same result while the caller works
    import torch
    from threadpoolctl import threadpool_info

    threads_before = torch.get_num_threads()
    pending = variants.start_deep_variants_on_fold(
        batch, tabular, variant, customers, folds, config, 5, n_jobs=2, caller_threads=1, **kwargs
    )
    # the caller's own pools are capped while the workers train, then restored
    assert torch.get_num_threads() == 1
    assert all(pool["num_threads"] == 1 for pool in threadpool_info())
    busy = sum(i * i for i in range(200_000))  # the caller's own work meanwhile
    assert busy > 0 and isinstance(pending.done(), bool)
    pd.testing.assert_frame_equal(pending.result(), out)
    assert torch.get_num_threads() == threads_before


# ---- the ceiling of the acute channel: latent experience behind the reviews ------------------


def test_experience_features_use_calibration_reviews_only() -> None:
    review_truth = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u2", "u1"],
            "ts": pd.to_datetime(
                ["2024-01-01", "2024-03-01", "2024-02-01", "2024-08-01"], utc=True
            ),
            "experience": [-1.0, 0.5, 0.2, -3.0],
        }
    )
    out = blocks.experience_features(review_truth, pd.Timestamp("2024-07-01", tz="UTC"))
    assert out.loc["u1", "experience_last"] == 0.5  # the August review is in the holdout
    assert out.loc["u1", "experience_min"] == -1.0
    assert out.loc["u2"].tolist() == [0.2, 0.2]
    with_mean = blocks.experience_features(
        review_truth, pd.Timestamp("2024-07-01", tz="UTC"), with_mean=True
    )
    assert with_mean.loc["u1", "experience_mean"] == -0.25  # mean of -1.0 and 0.5
    assert with_mean[["experience_last", "experience_min"]].equals(out)
    block = pd.DataFrame(
        {"has_review": [1, 1, 0], "review_count": [2, 1, 0], "days_since_last_review": [1, 2, 9]},
        index=pd.Index(["u1", "u2", "u3"], name="user_id"),
    )
    z = pd.Series({"u1": 0.3, "u2": -0.1, "u3": 2.0})
    ceiling = blocks.variant_blocks(block, z, experience=out)["satisfaction"]
    assert ceiling.loc["u3", ["true_satisfaction", "experience_last", "experience_min"]].eq(0).all()
    assert ceiling.loc["u1", "experience_last"] == 0.5


def test_sweep_point_draws_replicates_from_a_bigger_world_when_asked() -> None:
    hashing = HashingVectorizer(n_features=32, alternate_sign=False, norm="l2")

    def embed(texts: list[str]) -> np.ndarray:
        return hashing.transform(texts).toarray().astype(np.float32)

    settings = SweepSettings(
        seed=7,
        n_customers=400,
        n_folds=2,
        n_components=0,
        n_boot=5,
        gbdt={"max_rounds": 20},
        replicates=2,
        perfect_reader=False,
    )
    with pytest.raises(ValueError, match="2 replicates of 400 customers need 800 users"):
        sweep.sweep_point(1.0, {"n_users": 900}, settings, SweepInputs(embed))
    bigger = replace(settings, replicate_users=1_300)
    row = sweep.sweep_point(1.0, {"n_users": 900}, bigger, SweepInputs(embed))
    first, second = row.pop("replicates")
    assert 300 < first["n_customers"] <= 400 and 300 < second["n_customers"] <= 400
    assert first["gain_text"] != second["gain_text"] != row["gain_text"]
    assert {"gain_reader", "gain_satisfaction"} <= set(first)  # the second world's own reader


def test_sweep_point_with_the_trigger_scores_the_candidate_block() -> None:
    hashing = HashingVectorizer(n_features=64, alternate_sign=False, norm="l2")

    def embed(texts: list[str]) -> np.ndarray:
        return hashing.transform(texts).toarray().astype(np.float32)

    aspects = embed([s for pair in text_features.ASPECT_DESCRIPTIONS.values() for s in pair])
    settings = SweepSettings(
        seed=7,
        n_customers=1_200,
        n_folds=3,
        n_components=4,
        n_boot=30,
        gbdt={"max_rounds": 200},
        candidates=("text_compact", "text_plus", "text_embeddings"),
        embedding_dims=4,
        replicates=0,
    )
    inputs = SweepInputs(embed, aspect_vectors=aspects)
    row = sweep.sweep_point(1.0, {"n_users": 2_500, "churn_trigger": 4.0}, settings, inputs)
    assert row["churn_trigger"] == 4.0
    for name in ("text_compact", "text_plus", "text_embeddings"):
        assert 0.3 < row[f"gini_{name}"] < 1.0
        assert row[f"gain_{name}_lo"] <= row[f"gain_{name}"] <= row[f"gain_{name}_hi"]
    # the ceiling knows the latent experience: with the trigger on it beats (a)
    assert row["gain_satisfaction"] > 0
    # the truth-trained reader of the texts sits between (a) and the latent ceiling
    assert 0 < row["gain_reader"] < row["gain_satisfaction"]
    assert 0 < row["recovery_reader"] < 1
    # a perfect reader of the reviews' experience gets more out of them than the words give
    assert row["gain_reader"] < row["gain_experience"]
    assert "recovery_experience_vs_reader" not in row  # a ceiling, not a text feature
    # (b) was built with 4 embedding dimensions: the embeddings candidate is (b) itself
    assert row["gini_text_embeddings"] == pytest.approx(row["gini_text"])
    # the report's sentences read a real world's row (its ceiling raised to be worth reading)
    world = pd.DataFrame([{**row, "gain_satisfaction": max(row["gain_satisfaction"], 0.03)}])
    assert len(summary.reader_sentences(world, "text_plus")) == 2
    assert len(summary.gap_sentences(world)) == 2
    assert "(1 of 1 strengths)" in summary.best_block_sentence(world, "text_plus")
    assert "the plus block" in summary.sweep_sentence(world, "text_plus", 0.9)
    with pytest.raises(ValueError, match=r"unknown candidate block\(s\) \['text_fancy'\]"):
        sweep.sweep_point(
            1.0,
            {"n_users": 300},
            SweepSettings(
                seed=7,
                n_customers=300,
                n_folds=2,
                n_boot=5,
                gbdt={"max_rounds": 5},
                candidates=("text_fancy",),
                replicates=0,
            ),
            inputs,
        )


# ---- the sweep's settings, and the loop over its worlds -------------------------------------


def test_sweep_settings_defaults_are_those_of_params_yaml() -> None:
    params = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    assert SweepSettings.from_params(params) == SweepSettings()
    assert SweepSettings.from_params({}) == SweepSettings()  # a block not given: the defaults


def test_sweep_settings_from_params_read_the_three_blocks() -> None:
    params = {
        "base": {"seed": 3},
        "text_signal": {
            "strengths": [0, 2],
            "sweep_customers": 500,
            "sweep_folds": 2,
            "interval_level": 0.8,
            "candidate": "text_reader",
            "replicate_users": 9000,
        },
        "text": {"n_components": "auto", "sentiment_c": 0.5},
        "train": {"gbdt_num_leaves": 7},
    }
    settings = SweepSettings.from_params(params, has_ratings=False)
    assert settings.seed == 3 and settings.strengths == (0.0, 2.0)
    assert (settings.n_customers, settings.n_folds, settings.level) == (500, 2, 0.8)
    assert settings.candidates == ("text_reader",) and settings.replicate_users == 9000
    assert settings.sentiment_c == 0.5
    assert settings.n_components == text_features.AUTO_EMBEDDING_DIMS  # auto, unrated reviews
    assert SweepSettings.from_params(params).n_components == 0  # auto, rated reviews
    assert settings.gbdt["params"] == {"learning_rate": 0.05, "num_leaves": 7}
    assert settings.replicates == SweepSettings().replicates  # a key not given: the default
    with pytest.raises(FrozenInstanceError, match="cannot assign to field .seed."):
        settings.seed = 1  # type: ignore[misc]
    assert settings.world({"n_users": 10}, 2.0) == {
        "n_users": 10,
        "churn_trigger": 6.0,
        "satisfaction_rate_effect": 0.0,
    }


def test_run_sweep_draws_replicates_in_the_strongest_world_only(monkeypatch) -> None:
    calls = []

    def point(kappa, shop, settings, inputs):
        calls.append((kappa, shop["churn_trigger"], settings.replicates))
        if kappa == 1.0:
            raise InsufficientDataError("too few buyers")
        row = {"kappa": kappa, "gain_text": kappa}
        if settings.replicates:
            row["replicates"] = [{"kappa": kappa, "gain_text": -1.0}] * settings.replicates
        return row

    monkeypatch.setattr(sweep, "sweep_point", point)
    settings = SweepSettings(strengths=(0.0, 1.0, 3.0, 2.0), replicates=2)
    rows, samples = sweep.run_sweep({"n_users": 10}, settings, SweepInputs(len), progress=False)
    assert calls == [(0.0, 0.0, 0), (1.0, 3.0, 0), (3.0, 9.0, 2), (2.0, 6.0, 0)]
    assert [row["kappa"] for row in rows] == [0.0, 1.0, 3.0, 2.0]
    assert rows[1] == {"kappa": 1.0, "error": "too few buyers"}
    assert "replicates" not in rows[2] and len(samples) == 3 and samples[0] is rows[2]


# ---- reading the sweep: strongest world, the split of the gap, the best block ---------------


def _sweep_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "kappa": [0.0, 1.0, 3.0, 2.0],
            "gain_text": [0.0, 0.004, 0.007, np.nan],  # the last world failed (error row)
            "gain_satisfaction": [0.0002, 0.016, 0.025, np.nan],
            "gain_reader": [0.0, 0.009, 0.013, np.nan],
            "gain_experience": [0.0, 0.020, 0.022, np.nan],
            "gain_text_compact": [0.0, 0.008, 0.011, np.nan],
            "recovery": [np.nan, 0.25, 0.28, np.nan],
            "recovery_text_compact": [np.nan, 0.50, 0.44, np.nan],
            "recovery_vs_reader": [np.nan, 0.44, 0.54, np.nan],
            "recovery_text_compact_vs_reader": [np.nan, 0.89, 0.85, np.nan],
        }
    )


def test_strongest_world_skips_failed_worlds_and_names_an_empty_sweep() -> None:
    sweep = _sweep_table()
    assert summary.strongest_world(sweep)["kappa"] == 3.0  # kappa 2.0 has no result
    with pytest.raises(ValueError, match="no scored world"):
        summary.strongest_world(sweep.iloc[3:])


def test_gap_split_parts_add_up_to_the_gap() -> None:
    parts = summary.gap_split(_sweep_table().iloc[2], "text_compact")
    assert parts["gap"] == pytest.approx(0.014)
    assert parts["never_carried"] == pytest.approx(0.012)
    assert parts["lost"] == pytest.approx(0.002)
    assert parts["trait"] == pytest.approx(0.003)
    assert parts["unsaid"] == pytest.approx(0.009)
    assert parts["trait"] + parts["unsaid"] + parts["lost"] == pytest.approx(parts["gap"])
    # without the perfect reader, only the two-way split
    two_way = summary.gap_split(
        _sweep_table().drop(columns="gain_experience").iloc[2], "text_compact"
    )
    assert set(two_way) == {"gap", "never_carried", "lost"}


def test_best_recovery_keeps_worlds_with_a_real_ceiling_and_the_better_block() -> None:
    best = summary.best_recovery(_sweep_table(), "text_compact")
    assert best["kappa"].tolist() == [3.0]  # the others' ceilings are below 0.02 Gini
    assert best["best"].tolist() == [0.44]
    assert best["best_vs_reader"].tolist() == [0.85]
    lower = summary.best_recovery(_sweep_table(), "text_compact", ceiling=0.01)
    assert lower["kappa"].tolist() == [1.0, 3.0]
    assert lower["best"].tolist() == [0.50, 0.44]


# ---- replicates: further disjoint samples of one world ---------------------------------------


def test_replicate_customers_are_disjoint_seeded_and_bounded() -> None:
    truth = pd.DataFrame({"user_id": [f"u{i:03d}" for i in range(50)]})
    first = sweep.sweep_customers(truth, 10, 3)
    samples = sweep.replicate_customers(truth, 10, 4, 3)
    assert [len(s) for s in samples] == [10, 10, 10, 10]
    pooled = first.append(samples)
    assert pooled.is_unique and len(pooled) == 50  # disjoint, and together every user
    again = sweep.replicate_customers(truth, 10, 4, 3)
    assert all(a.equals(b) for a, b in zip(samples, again, strict=True))
    assert not sweep.replicate_customers(truth, 10, 4, 4)[0].equals(samples[0])
    assert sweep.replicate_customers(truth, 10, 0, 3) == []
    with pytest.raises(ValueError, match="5 replicates of 10 customers need 50 users besides"):
        sweep.replicate_customers(truth, 10, 5, 3)


def test_feasible_replicates_caps_at_what_the_world_holds() -> None:
    assert sweep.feasible_replicates(20_000, 4_000, 4) == 4
    assert sweep.feasible_replicates(20_000, 4_000, 9) == 4  # 16,000 users left
    assert sweep.feasible_replicates(400, 300, 4) == 0
    assert sweep.feasible_replicates(400, 200, 4) == 1
    assert sweep.feasible_replicates(300, 4_000, 2) == 0  # the sweep takes every user
    with pytest.raises(ValueError, match="replicates must be >= 0"):
        sweep.feasible_replicates(400, 200, -1)


def test_replicate_table_numbers_the_samples_and_keeps_the_scored_gains() -> None:
    rows = [
        {"n_customers": 90, "gain_satisfaction": 0.02, "gain_text": 0.01, "gain_reader": 0.012,
         "gain_text_reader": 0.015, "recovery": 0.5},
        {"n_customers": 88, "gain_satisfaction": 0.04, "gain_text": -0.01, "gain_reader": 0.02,
         "gain_text_reader": 0.01, "recovery": -0.25},
    ]  # fmt: skip
    table = bootstrap.replicate_table(rows, "text_reader")
    assert list(table.columns) == [
        "sample", "n_customers", "gain_satisfaction", "gain_text", "gain_text_reader",
        "gain_reader", "share_text",
    ]  # fmt: skip
    assert table["sample"].tolist() == [0, 1]
    assert table["share_text"].tolist() == pytest.approx([0.5, -0.25])
    plain = bootstrap.replicate_table(rows, "text_plus")  # a candidate not scored
    assert "gain_text_plus" not in plain and "gain_reader" in plain


def test_replicate_summary_pools_the_ratio_of_mean_gains() -> None:
    rows = pd.DataFrame(
        {
            "gain_satisfaction": [0.02, 0.04, 0.03],
            "gain_text": [0.01, 0.01, 0.01],
            "gain_reader": [0.01, 0.02, 0.015],
        }
    )
    out = bootstrap.replicate_summary(rows, level=0.9)
    assert out["n_samples"] == 3 and out["ceiling_mean"] == pytest.approx(0.03)
    assert out["recovery_mean"] == pytest.approx(1 / 3)  # 0.01 / 0.03, not the mean share
    assert (out["recovery_min"], out["recovery_max"]) == pytest.approx((0.25, 0.5))
    # linearised ratio estimator: residuals 0.01 - r * ceiling = (1/3, -1/3, 0) / 100
    half = 2.919986 * (1 / 300) / (np.sqrt(3) * 0.03)  # t(0.95, 2) * sd / (sqrt(n) mean)
    assert out["recovery_hi"] - out["recovery_mean"] == pytest.approx(half, rel=1e-5)
    assert out["recovery_reader_mean"] == pytest.approx(0.5)
    assert out["recovery_reader_lo"] == pytest.approx(0.5)  # every sample exactly half
    with pytest.raises(ValueError, match="at least two samples"):
        bootstrap.replicate_summary(rows.iloc[:1])
    with pytest.raises(ValueError, match="mean ceiling gain is not positive"):
        bootstrap.replicate_summary(rows.assign(gain_satisfaction=[-0.01, 0.0, 0.0]))


# ---- the study's settings, runner and report ------------------------------------------------


def test_study_settings_from_params_and_their_checks() -> None:
    params = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    settings = StudySettings.from_params(params)
    assert settings == StudySettings(shop=params["datasets"]["shopsim"])  # defaults agree
    assert settings.candidate == params["text_signal"]["candidate"]
    skipped = StudySettings.from_params({"text_signal": {"deep_fold": None, "finetune": False}})
    assert skipped.deep_fold is None and skipped.finetune is False  # null is a value here
    unrated = StudySettings.from_params({"text": {"n_components": "auto"}}).for_reviews(False)
    assert unrated.sweep.n_components == text_features.AUTO_EMBEDDING_DIMS
    with pytest.raises(ValueError, match="text_reader is the study's own text block"):
        StudySettings.from_params({"text_signal": {"candidate": "text_reader"}})
    assert StudySettings.from_params(
        {"text": {"rating_reader_folds": 0}, "text_signal": {"candidate": "text_reader"}}
    ).sweep.candidates == ("text_reader",)


def test_run_study_records_that_it_does_not_apply_without_truth(tmp_path: Path) -> None:
    customers = pd.DataFrame({"holdout_spend": [1.0, 0.0]}, index=pd.Index(["a", "b"]))
    customers.to_parquet(tmp_path / "customers.parquet")
    pd.DataFrame({"user_id": pd.Series([], dtype=str)}).to_parquet(tmp_path / "truth.parquet")
    pd.DataFrame(index=customers.index).to_parquet(tmp_path / "text_features.parquet")
    results = run_study(tmp_path, tmp_path, tmp_path, "cdnow", StudySettings())
    assert not results.applicable and results.n_customers == 2
    assert list(results.stable) == [
        "applicable", "kappa_default", "candidate", "candidate_label", "sweep"
    ]  # fmt: skip
    assert "seconds" in results.timings
    write_outputs(results, tmp_path / "metrics")
    written = json.loads((tmp_path / "metrics" / "text_signal.json").read_text())
    assert written == {**results.stable, "candidate_label": "plus block"}
    assert (tmp_path / "metrics" / "text_signal_sweep.csv").exists()
    assert summary.answer(results) == "cdnow: no simulator truth, so no ceilings for text."


def _results(**metrics) -> SimpleNamespace:
    sweep = _sweep_table().assign(
        n_customers=4000,
        recovery_lo=[np.nan, 0.1, 0.2, np.nan],
        recovery_hi=[np.nan, 0.4, 0.4, np.nan],
        recovery_reader=[np.nan, 0.56, 0.52, np.nan],
        recovery_reader_lo=[np.nan, 0.3, 0.4, np.nan],
        recovery_reader_hi=[np.nan, 0.8, 0.64, np.nan],
    )
    gbdt = {"gain_text": 0.0026, "gain_text_lo": -0.002, "gain_text_hi": 0.0072}
    return SimpleNamespace(
        applicable=True,
        dataset="shopsim",
        settings=StudySettings(),
        sweep=sweep,
        metrics={"kappa_default": 0.5, "gbdt": gbdt, **metrics},
    )


def test_answer_states_the_default_gain_and_the_strongest_shares() -> None:
    pooled = {
        "kappa": 3.0,
        "n_samples": 5.0,
        "recovery_mean": 0.43,
        "recovery_lo": 0.35,
        "recovery_hi": 0.51,
        "recovery_reader_mean": 0.55,
        "recovery_reader_lo": 0.47,
        "recovery_reader_hi": 0.64,
    }
    text = summary.answer(_results(replicates=pooled))
    assert text.startswith("On the default data (kappa = 0.5) review text adds no gain")
    assert "+0.0026 Gini (90% interval -0.0020 to +0.0072)" in text
    assert "pooled over 5 samples, the study's text features recover 43% of the ceiling " in text
    assert "[35%, 51%] while the words themselves hold 55% [47%, 64%]." in text
    one = summary.answer(_results())  # no pooled samples: the strongest world's own intervals
    assert (
        "(s = 3.0, one sample of 4,000 customers)" in one
        and "recover 28% of the ceiling [20%, 40%]" in one
    )
    assert "52% [40%, 64%]" in one
    gained = _results()
    gained.metrics["gbdt"] = {"gain_text": 0.01, "gain_text_lo": 0.004, "gain_text_hi": 0.02}
    assert "review text changes LightGBM's Gini by +0.0100" in summary.answer(gained)
    flat = _results()
    flat.sweep = flat.sweep.assign(gain_satisfaction=-0.001)
    assert "the ceiling is -0.0010 Gini, not above zero" in summary.answer(flat)


def test_section_sentences_follow_the_numbers() -> None:
    g = {
        "gain_satisfaction": 0.03,
        "recovery": 0.5,
        "recovery_lo": 0.2,
        "recovery_hi": 0.7,
    }
    assert "recovers 50% of it (20% to 70%)" in summary.ceiling_sentence(g)
    assert "below 0.02 Gini" in summary.ceiling_sentence({**g, "gain_satisfaction": 0.01})
    assert "not above zero" in summary.ceiling_sentence({**g, "gain_satisfaction": 0.0})
    gains = {"gain_text": 0.001, "gain_text_plus": 0.004}
    gains.update({f"{k}_{b}": v for k, v in gains.items() for b in ("lo", "hi")})
    names = {"text": "study's text block (b)", "text_plus": "plus block"}
    assert summary.candidates_sentence(gains, names).endswith("The largest is the plus block.")
    assert list(summary.candidates_table(gains, names).index) == list(names.values())
    sweep = summary.scored_worlds(_sweep_table())
    assert len(sweep) == 3  # the failed world is left out
    best = summary.best_block_sentence(sweep, "text_compact")
    assert "(1 of 3 strengths)" in best and "recovers 44% of it" in best
    low = summary.best_block_sentence(sweep.assign(gain_satisfaction=0.01), "text_compact")
    assert low.startswith("At none of the 3 strengths (s 0.0 to 3.0)")
    first, split = summary.gap_sentences(sweep)
    assert "more is signal the texts never carried (+0.0120 Gini" in first
    assert "((c) − (c″), +0.0030)" in split and "((c′) − block, +0.0060)" in split


def test_samples_sentence_pools_or_says_why_not() -> None:
    samples = pd.DataFrame(
        {"n_customers": [400, 398], "gain_satisfaction": [-0.01, 0.0], "gain_text": [0.0, 0.0]}
    )
    none = summary.samples_sentence(samples, None, "text_plus", 2.0)
    assert none.startswith("Over 2 samples the mean ceiling is -0.0050 Gini, not above zero")
    with pytest.raises(ClaimError, match="the narration says"):  # needs the pooled figures
        summary.samples_sentence(samples.assign(gain_satisfaction=0.02), None, "text_plus", 2.0)


def test_samples_sentence_reads_the_pooled_share() -> None:
    rows = [
        {"n_customers": 400, "gain_satisfaction": g, "gain_text": t, "gain_reader": r,
         "gain_text_plus": p}
        for g, t, r, p in [
            (0.02, 0.01, 0.012, 0.011), (0.04, 0.01, 0.02, 0.02), (0.03, 0.01, 0.015, 0.012)
        ]
    ]  # fmt: skip
    samples = bootstrap.replicate_table(rows, "text_plus")
    pooled = bootstrap.replicate_summary(samples, 0.9, ("text", "reader", "text_plus"))
    text = summary.samples_sentence(samples, pooled, "text_plus", 3.0)
    assert text.startswith("At s = 3.0, over 3 samples of about 400 customers: mean ceiling")
    assert "The study's text block recovers 33% of it" in text
    assert "the words, read by the truth-trained reader, hold 52%" in text
    assert "gave the study's block 50%." in text
