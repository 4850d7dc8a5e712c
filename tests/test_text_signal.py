"""Tests of the text-value study (notebook 06b): knob, ceilings, recovery rate, sweep."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import HashingVectorizer

from helpers.data.shopsim import ShopSimConfig, simulate_shop
from helpers.evaluation.metrics import normalized_gini
from helpers.features import text as text_features
from helpers.features import text_value

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
    blocks = text_value.variant_blocks(block, z, ratings)
    assert list(blocks) == ["no_text", "text", "satisfaction", "ratings"]
    assert list(blocks["no_text"].columns) == list(text_value.META_COLUMNS)
    assert blocks["satisfaction"]["true_satisfaction"].tolist() == [1.5, -0.7, 0.0]
    assert blocks["ratings"].loc["u3", "rating_mean"] == pytest.approx(3.25)  # reviewers' mean
    assert blocks["ratings"].loc["u3", "rating_last"] == pytest.approx(3.5)
    with pytest.raises(KeyError, match="lacks some reviewers"):
        text_value.variant_blocks(block, pd.Series({"u1": 1.0}))
    assert text_value.variant_blocks(pd.DataFrame(index=block.index)) == {}


def test_rating_features_take_the_latest_review() -> None:
    reviews = pd.DataFrame(
        {
            "user_id": ["a", "a", "b"],
            "ts": pd.to_datetime(["2024-02-01", "2024-01-01", "2024-01-05"], utc=True),
            "rating": pd.array([2, 5, 4], dtype="Int64"),
        }
    )
    out = text_value.rating_features(reviews)
    assert out.loc["a", "rating_last"] == 2 and out.loc["a", "rating_mean"] == 3.5
    assert out.loc["b", "rating_last"] == 4


def test_recovery_rate_known_answers() -> None:
    assert text_value.recovery_rate(0.80, 0.85, 0.90) == pytest.approx(0.5)
    assert text_value.recovery_rate(0.80, 0.78, 0.90) == pytest.approx(-0.2)
    assert np.isnan(text_value.recovery_rate(0.80, 0.85, 0.80))


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
    out = text_value.recovery_summary(spend, predictions, n_boot=100, seed=1)
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
    boot = text_value.bootstrap_gini(spend, predictions, n_boot=20, seed=3)
    assert (boot["x"] == boot["y"]).all()  # same resample for every model
    again = text_value.bootstrap_gini(spend, predictions, n_boot=20, seed=3)
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
    boot = text_value.bootstrap_gini(spend, predictions, n_boot=30, seed=9)
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
        patch.setattr(text_value, "_BOOT_CELLS", 3 * n)
        pd.testing.assert_frame_equal(
            text_value.bootstrap_gini(spend, predictions, n_boot=30, seed=9), boot
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
    out = text_value.recovery_summary(spend, predictions, n_boot=50, seed=1)
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
    read = text_value.text_reader_features(texts, x, z, folds)
    assert list(read.columns) == list(text_value.READER_COLUMNS)
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
    base = text_value.text_reader_features(texts, x, z, folds)
    # change the truth of fold 0's customers: their own readings must not move
    in_fold0 = texts["user_id"].map(folds).to_numpy() == 0
    shifted = text_value.text_reader_features(texts, np.where(in_fold0, -x, x), z, folds)
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
    assert text_value.review_experience(texts, truth).tolist() == [-1.0, 0.5]
    with pytest.raises(KeyError, match=r"1 reviews have no latent experience .*user_id='u2'"):
        text_value.review_experience(texts, truth.iloc[1:])


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
    out = text_value.unanswered_review_features(reviews, sentiment, as_of, recency)
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
    out = text_value.candidate_blocks(block, signals, purchases)
    assert not any(c.startswith("txt_") for c in out["text_compact"].columns)
    assert out["text_plus"]["review_rate"].tolist() == [0.5, 1.0, 0.0]
    assert out["text_plus"]["sentiment_recent"].tolist() == [0.4, 0.0, 0.0]
    assert "text_embeddings" not in out  # only with embedding columns given


def test_candidate_blocks_add_embedding_columns_to_a_compact_study_block() -> None:
    full = _text_block()
    study = full[text_value.compact_columns(full)]  # text.n_components resolved to 0
    signals = pd.DataFrame(index=pd.Index([], name="user_id"))
    purchases = pd.Series({"u1": 4, "u2": 1, "u3": 2})
    embedded = full[["txt_last_0", "txt_mean_0", "review_count"]].iloc[::-1]  # any order
    out = text_value.candidate_blocks(study, signals, purchases, embedded)
    pd.testing.assert_frame_equal(out["text_compact"], study)
    assert list(out["text_embeddings"].columns) == [
        "has_review",
        "txt_last_0",
        "txt_mean_0",
        *study.columns[1:],
    ]
    assert out["text_embeddings"]["txt_mean_0"].tolist() == [0.1, -0.2, 0.0]
    with pytest.raises(KeyError, match="lacks some customers"):
        text_value.candidate_blocks(study, signals, purchases, embedded.iloc[:2])
    with pytest.raises(ValueError, match="no txt_mean_"):
        text_value.candidate_blocks(study, signals, purchases, study[["review_count"]])


def test_text_block_for_carries_the_read_ratings_like_stage_02() -> None:
    from helpers.features.rating_reader import READ_RATING_COLUMNS, fit_rating_reader

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
    plain = text_value.text_block_for(*args)
    read = text_value.text_block_for(*args, rating_reader=reader)
    assert not set(READ_RATING_COLUMNS) & set(plain.columns)
    assert list(read.columns) == [*plain.columns, *READ_RATING_COLUMNS]
    expected = text_value.read_rating_features(
        texts, reader.score(texts["text"], texts["user_id"]), customers
    )
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

    shop = {"n_users": 2_500}
    settings = (shop, 1_200, 7, embed, None, 3, 0.1, 4, 30, {"max_rounds": 200})
    rows = [
        text_value.sweep_point(kappa, *settings, replicates=int(kappa > 0)) for kappa in (0.0, 2.0)
    ]
    assert "replicates" not in rows[0]
    (again,) = rows[1].pop("replicates")  # a further sample of the kappa = 2 world
    assert again["kappa"] == 2.0 and again["n_customers"] > 0.8 * rows[1]["n_customers"]
    assert {"gain_text", "gain_reader", "gain_satisfaction"} <= set(again)
    assert "gain_experience" not in again  # the replicates leave out (c'')
    assert again["gain_text"] != rows[1]["gain_text"]  # other customers, other models
    for row in rows:
        for variant in text_value.VARIANTS:
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
    blocks = text_value.variant_blocks(text_block, pd.Series(rng.normal(size=80), index=users))
    spend = rng.gamma(1.0, 20.0, len(users)) * (rng.random(len(users)) < 0.5)
    customers = pd.DataFrame({"holdout_spend": spend}, index=users)
    folds = np.arange(len(users)) % 4
    config = DeepConfig(hidden_size=8, mlp_hidden=8, max_epochs=2, patience=1, max_len=8)
    kwargs = {"review_sentiment": rng.uniform(-1, 1, 20), "scalers": None, "fold": 1}
    out = text_value.start_deep_variants_on_fold(
        batch, tabular, blocks, customers, folds, config, 5, n_jobs=2, **kwargs
    ).result()
    assert list(out.columns) == ["no_text", "text", "satisfaction"]
    assert out.index.equals(users[folds == 1])
    assert (out.to_numpy() >= 0).all() and np.isfinite(out.to_numpy()).all()
    assert not np.allclose(out["no_text"], out["satisfaction"])  # the block matters
    serial = text_value.start_deep_variants_on_fold(
        batch, tabular, {"text": blocks["text"]}, customers, folds, config, 5, n_jobs=1, **kwargs
    ).result()
    assert np.allclose(serial["text"], out["text"])  # processes change nothing
    # started in the background, the trainings give the same result while the caller works
    import torch
    from threadpoolctl import threadpool_info

    threads_before = torch.get_num_threads()
    pending = text_value.start_deep_variants_on_fold(
        batch, tabular, blocks, customers, folds, config, 5, n_jobs=2, caller_threads=1, **kwargs
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
    out = text_value.experience_features(review_truth, pd.Timestamp("2024-07-01", tz="UTC"))
    assert out.loc["u1", "experience_last"] == 0.5  # the August review is in the holdout
    assert out.loc["u1", "experience_min"] == -1.0
    assert out.loc["u2"].tolist() == [0.2, 0.2]
    with_mean = text_value.experience_features(
        review_truth, pd.Timestamp("2024-07-01", tz="UTC"), with_mean=True
    )
    assert with_mean.loc["u1", "experience_mean"] == -0.25  # mean of -1.0 and 0.5
    assert with_mean[["experience_last", "experience_min"]].equals(out)
    block = pd.DataFrame(
        {"has_review": [1, 1, 0], "review_count": [2, 1, 0], "days_since_last_review": [1, 2, 9]},
        index=pd.Index(["u1", "u2", "u3"], name="user_id"),
    )
    z = pd.Series({"u1": 0.3, "u2": -0.1, "u3": 2.0})
    ceiling = text_value.variant_blocks(block, z, experience=out)["satisfaction"]
    assert ceiling.loc["u3", ["true_satisfaction", "experience_last", "experience_min"]].eq(0).all()
    assert ceiling.loc["u1", "experience_last"] == 0.5


def test_sweep_point_draws_replicates_from_a_bigger_world_when_asked() -> None:
    hashing = HashingVectorizer(n_features=32, alternate_sign=False, norm="l2")

    def embed(texts: list[str]) -> np.ndarray:
        return hashing.transform(texts).toarray().astype(np.float32)

    settings = ({"n_users": 900}, 400, 7, embed, None, 2, 0.1, 0, 5, {"max_rounds": 20})
    with pytest.raises(ValueError, match="2 replicates of 400 customers need 800 users"):
        text_value.sweep_point(1.0, *settings, replicates=2, perfect_reader=False)
    row = text_value.sweep_point(
        1.0, *settings, replicates=2, replicate_users=1_300, perfect_reader=False
    )
    first, second = row.pop("replicates")
    assert 300 < first["n_customers"] <= 400 and 300 < second["n_customers"] <= 400
    assert first["gain_text"] != second["gain_text"] != row["gain_text"]
    assert {"gain_reader", "gain_satisfaction"} <= set(first)  # the second world's own reader


def test_sweep_point_with_the_trigger_scores_the_candidate_block() -> None:
    hashing = HashingVectorizer(n_features=64, alternate_sign=False, norm="l2")

    def embed(texts: list[str]) -> np.ndarray:
        return hashing.transform(texts).toarray().astype(np.float32)

    aspects = embed([s for pair in text_features.ASPECT_DESCRIPTIONS.values() for s in pair])
    row = text_value.sweep_point(
        1.0,
        {"n_users": 2_500, "churn_trigger": 4.0},
        1_200,
        7,
        embed,
        None,
        3,
        0.1,
        4,
        30,
        {"max_rounds": 200},
        aspect_vectors=aspects,
        candidates=("text_compact", "text_plus", "text_embeddings"),
        embedding_dims=4,
    )
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
    with pytest.raises(ValueError, match=r"unknown candidate block\(s\) \['text_fancy'\]"):
        text_value.sweep_point(
            1.0,
            {"n_users": 300},
            300,
            7,
            embed,
            None,
            2,
            0.1,
            0,
            5,
            {"max_rounds": 5},
            aspect_vectors=aspects,
            candidates=("text_fancy",),
        )


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
    assert text_value.strongest_world(sweep)["kappa"] == 3.0  # kappa 2.0 has no result
    with pytest.raises(ValueError, match="no scored world"):
        text_value.strongest_world(sweep.iloc[3:])


def test_gap_split_parts_add_up_to_the_gap() -> None:
    parts = text_value.gap_split(_sweep_table().iloc[2], "text_compact")
    assert parts["gap"] == pytest.approx(0.014)
    assert parts["never_carried"] == pytest.approx(0.012)
    assert parts["lost"] == pytest.approx(0.002)
    assert parts["trait"] == pytest.approx(0.003)
    assert parts["unsaid"] == pytest.approx(0.009)
    assert parts["trait"] + parts["unsaid"] + parts["lost"] == pytest.approx(parts["gap"])
    # without the perfect reader, only the two-way split
    two_way = text_value.gap_split(
        _sweep_table().drop(columns="gain_experience").iloc[2], "text_compact"
    )
    assert set(two_way) == {"gap", "never_carried", "lost"}


def test_best_recovery_keeps_worlds_with_a_real_ceiling_and_the_better_block() -> None:
    best = text_value.best_recovery(_sweep_table(), "text_compact")
    assert best["kappa"].tolist() == [3.0]  # the others' ceilings are below 0.02 Gini
    assert best["best"].tolist() == [0.44]
    assert best["best_vs_reader"].tolist() == [0.85]
    lower = text_value.best_recovery(_sweep_table(), "text_compact", ceiling=0.01)
    assert lower["kappa"].tolist() == [1.0, 3.0]
    assert lower["best"].tolist() == [0.50, 0.44]


# ---- replicates: further disjoint samples of one world ---------------------------------------


def test_replicate_customers_are_disjoint_seeded_and_bounded() -> None:
    truth = pd.DataFrame({"user_id": [f"u{i:03d}" for i in range(50)]})
    first = text_value.sweep_customers(truth, 10, 3)
    samples = text_value.replicate_customers(truth, 10, 4, 3)
    assert [len(s) for s in samples] == [10, 10, 10, 10]
    pooled = first.append(samples)
    assert pooled.is_unique and len(pooled) == 50  # disjoint, and together every user
    again = text_value.replicate_customers(truth, 10, 4, 3)
    assert all(a.equals(b) for a, b in zip(samples, again, strict=True))
    assert not text_value.replicate_customers(truth, 10, 4, 4)[0].equals(samples[0])
    assert text_value.replicate_customers(truth, 10, 0, 3) == []
    with pytest.raises(ValueError, match="5 replicates of 10 customers need 50 users besides"):
        text_value.replicate_customers(truth, 10, 5, 3)


def test_feasible_replicates_caps_at_what_the_world_holds() -> None:
    assert text_value.feasible_replicates(20_000, 4_000, 4) == 4
    assert text_value.feasible_replicates(20_000, 4_000, 9) == 4  # 16,000 users left
    assert text_value.feasible_replicates(400, 300, 4) == 0
    assert text_value.feasible_replicates(400, 200, 4) == 1
    assert text_value.feasible_replicates(300, 4_000, 2) == 0  # the sweep takes every user
    with pytest.raises(ValueError, match="replicates must be >= 0"):
        text_value.feasible_replicates(400, 200, -1)


def test_replicate_table_numbers_the_samples_and_keeps_the_scored_gains() -> None:
    rows = [
        {"n_customers": 90, "gain_satisfaction": 0.02, "gain_text": 0.01, "gain_reader": 0.012,
         "gain_text_reader": 0.015, "recovery": 0.5},
        {"n_customers": 88, "gain_satisfaction": 0.04, "gain_text": -0.01, "gain_reader": 0.02,
         "gain_text_reader": 0.01, "recovery": -0.25},
    ]  # fmt: skip
    table = text_value.replicate_table(rows, "text_reader")
    assert list(table.columns) == [
        "sample", "n_customers", "gain_satisfaction", "gain_text", "gain_text_reader",
        "gain_reader", "share_text",
    ]  # fmt: skip
    assert table["sample"].tolist() == [0, 1]
    assert table["share_text"].tolist() == pytest.approx([0.5, -0.25])
    plain = text_value.replicate_table(rows, "text_plus")  # a candidate not scored
    assert "gain_text_plus" not in plain and "gain_reader" in plain


def test_replicate_summary_pools_the_ratio_of_mean_gains() -> None:
    rows = pd.DataFrame(
        {
            "gain_satisfaction": [0.02, 0.04, 0.03],
            "gain_text": [0.01, 0.01, 0.01],
            "gain_reader": [0.01, 0.02, 0.015],
        }
    )
    out = text_value.replicate_summary(rows, level=0.9)
    assert out["n_samples"] == 3 and out["ceiling_mean"] == pytest.approx(0.03)
    assert out["recovery_mean"] == pytest.approx(1 / 3)  # 0.01 / 0.03, not the mean share
    assert (out["recovery_min"], out["recovery_max"]) == pytest.approx((0.25, 0.5))
    # linearised ratio estimator: residuals 0.01 - r * ceiling = (1/3, -1/3, 0) / 100
    half = 2.919986 * (1 / 300) / (np.sqrt(3) * 0.03)  # t(0.95, 2) * sd / (sqrt(n) mean)
    assert out["recovery_hi"] - out["recovery_mean"] == pytest.approx(half, rel=1e-5)
    assert out["recovery_reader_mean"] == pytest.approx(0.5)
    assert out["recovery_reader_lo"] == pytest.approx(0.5)  # every sample exactly half
    with pytest.raises(ValueError, match="at least two samples"):
        text_value.replicate_summary(rows.iloc[:1])
    with pytest.raises(ValueError, match="mean ceiling gain is not positive"):
        text_value.replicate_summary(rows.assign(gain_satisfaction=[-0.01, 0.0, 0.0]))
