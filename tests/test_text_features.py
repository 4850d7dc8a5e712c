"""Tests of helpers.features.text_encoder and helpers.features.text (stage 02, text features).

The real bundled all-MiniLM-L6-v2 encoder is used throughout (no mocks); the shopsim
reviews are embedded once per module.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from helpers.data.shopsim import ShopSimConfig, simulate_shop
from helpers.data.split import Split
from helpers.features.text import (
    AUTO_EMBEDDING_DIMS,
    USER_SCALAR_COLUMNS,
    fit_sentiment_head,
    fit_text_pca,
    fit_tfidf_sentiment_head,
    has_text,
    resolve_embedding_dims,
    text_rows,
    tfidf_svd,
    top_keywords,
    user_text_features,
)
from helpers.features.text_encoder import (
    EmbeddingCache,
    TextEncoder,
    default_model_path,
    embed_texts,
    resolve_batch_size,
)

TEXTS = [
    "Great.",
    "Delivery was ridiculously slow and the box arrived crushed, never again.",
    "Worth the money!",
    "Mixed feelings. Build quality is below what I expected, but the help desk fixed "
    "everything within an hour and the parcel showed up two days early.",
    "ok",
    "The seller ignored three emails.",
    "Great.",  # duplicate
    "Absolutely love it, couldn't be happier with the quality and the price.",
    "Not bad at all.",
]


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder(device="cpu", batch_size=4, show_progress=False)


@pytest.fixture(scope="module")
def shop():
    """About 500 simulated reviews of 300 users, embedded once (~3-10 s on 2 cores)."""
    result = simulate_shop(ShopSimConfig(n_users=300), seed=1)
    events = result.events
    reviews = events.loc[events["event_type"] == "review"].reset_index(drop=True)
    enc = TextEncoder(device="cpu", batch_size=64, show_progress=False)
    emb, _ = embed_texts(enc, reviews["text"])
    return result, reviews, emb


# ---- encoder ------------------------------------------------------------------------


def test_encoder_matches_sentence_transformers_and_keeps_order(encoder: TextEncoder) -> None:
    from sentence_transformers import SentenceTransformer

    ours = encoder.encode(TEXTS)
    assert ours.dtype == np.float32 and ours.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)

    st = SentenceTransformer(str(default_model_path()), device="cpu")
    ref = st.encode(TEXTS, batch_size=4, normalize_embeddings=True, convert_to_numpy=True)
    cosine = np.sum(ours * ref, axis=1) / np.linalg.norm(ref, axis=1)
    assert cosine.min() >= 0.9999

    # order is restored despite the batching, and a text's vector does not depend on
    # the texts it is batched with, bit for bit (the cache keeps the first one computed)
    alone = np.vstack([encoder.encode([t]) for t in TEXTS])
    assert np.array_equal(ours, alone)
    reversed_ = encoder.encode(TEXTS[::-1])[::-1]
    assert np.array_equal(ours, reversed_)
    crowded = encoder.encode([*TEXTS, *(t + " Really." for t in TEXTS)])[: len(TEXTS)]
    assert np.array_equal(ours, crowded)
    assert np.array_equal(ours[0], ours[6])  # identical texts, identical vectors
    assert encoder.encode([]).shape == (0, 384)


def test_encoder_rejects_missing_text_and_unknown_model(encoder: TextEncoder) -> None:
    with pytest.raises(ValueError, match="missing or not strings"):
        encoder.encode(["fine", None])
    with pytest.raises(FileNotFoundError, match="local Hugging Face cache"):
        TextEncoder("no-such-org/no-such-model-xyz")


# ---- cache --------------------------------------------------------------------------


def test_cache_second_run_embeds_nothing(encoder: TextEncoder, tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "cache")
    first, info1 = embed_texts(encoder, TEXTS, cache)
    n_unique = len(set(TEXTS))
    assert info1["n_texts"] == len(TEXTS) and info1["n_unique"] == n_unique
    assert info1["cache_hits"] == 0 and info1["embedded"] == n_unique

    again, info2 = embed_texts(encoder, TEXTS, EmbeddingCache(tmp_path / "cache"))  # from disk
    assert info2["cache_hits"] == n_unique and info2["embedded"] == 0
    assert np.array_equal(first, again)
    np.testing.assert_allclose(first, encoder.encode(TEXTS), atol=2e-5)

    more = [*TEXTS[:3], "A brand new review."]
    out, info3 = embed_texts(encoder, more, cache)
    assert info3["cache_hits"] == 3 and info3["embedded"] == 1
    assert np.array_equal(out[:3], first[:3])

    cache.compact(encoder.id)
    assert len(list((tmp_path / "cache").glob("*/shard-*.keys.npy"))) == 1
    assert len(cache) == n_unique + 1
    out2, info4 = embed_texts(encoder, more, cache)
    assert info4["embedded"] == 0 and np.array_equal(out, out2)


def _copy_model(dest: Path) -> Path:
    """Copy the bundled model (hard links where the filesystem allows)."""
    try:
        shutil.copytree(default_model_path(), dest, copy_function=os.link)
    except OSError:
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(default_model_path(), dest)
    return dest


def test_switching_the_encoder_changes_the_cache_key(encoder: TextEncoder, tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "cache")
    base, _ = embed_texts(encoder, TEXTS, cache)

    # truncation changes outputs, so it changes the id: nothing stale is served
    short = TextEncoder(device="cpu", batch_size=4, max_length=8, show_progress=False)
    assert short.id != encoder.id
    trunc, info = embed_texts(short, TEXTS, cache)
    assert info["cache_hits"] == 0 and info["embedded"] == len(set(TEXTS))
    long_text = 3  # far longer than 8 tokens
    assert float(trunc[long_text] @ base[long_text]) < 0.99

    # another model folder is another encoder (id = folder name + fingerprint of files)
    other = TextEncoder(_copy_model(tmp_path / "my-encoder"), device="cpu", show_progress=False)
    assert other.id != encoder.id and other.id.startswith("my-encoder-")
    out, info = embed_texts(other, TEXTS, cache)
    assert info["cache_hits"] == 0
    np.testing.assert_allclose(out, base, atol=2e-5)

    # the id is stable: same files under the same folder name elsewhere, same id
    moved = TextEncoder(_copy_model(tmp_path / "elsewhere" / "my-encoder"), show_progress=False)
    assert moved.id == other.id
    assert TextEncoder(device="cpu", batch_size=4, show_progress=False).id == encoder.id
    # the batch shape changes the vectors in the last bits, so it changes the id too
    assert TextEncoder(device="cpu", batch_size=8, show_progress=False).id != encoder.id


def test_auto_batch_size_is_small_on_a_cpu_and_large_on_a_gpu() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_batch_size("auto", cpu) == 8 and resolve_batch_size(None, cpu) == 8
    assert resolve_batch_size(" Auto", cpu) == 8
    assert resolve_batch_size("auto", cuda) == 64 and resolve_batch_size(16, cuda) == 16
    auto = TextEncoder(device="cpu", show_progress=False)
    assert auto.batch_size == 8
    assert auto.id == TextEncoder(device="cpu", batch_size=8, show_progress=False).id
    for bad, says in [(0, "at least 1, not 0"), ("big", "'auto', not 'big'"), (True, "not True")]:
        with pytest.raises(ValueError, match=f"text.batch_size must be .*{says}"):
            resolve_batch_size(bad, cpu)


# ---- sentiment ----------------------------------------------------------------------


def test_sentiment_head_beats_constant_and_tracks_satisfaction(shop) -> None:
    result, reviews, emb = shop
    head = fit_sentiment_head(emb, reviews["rating"], reviews["user_id"], seed=0)
    v = head.validation
    assert v["n_val"] > 80 and v["n_val_users"] > 25
    assert v["mae"] < 0.85 * v["mae_constant"]
    assert v["spearman"] > 0.4

    score = head.score(emb)
    assert score.shape == (len(reviews),) and score.min() >= -1 and score.max() <= 1
    per_user = pd.Series(score).groupby(reviews["user_id"].to_numpy()).mean()
    truth = result.truth.set_index("user_id")["satisfaction"].reindex(per_user.index)
    assert np.corrcoef(per_user.to_numpy(), truth.to_numpy())[0, 1] > 0.3

    # deterministic, and the customer-level split never puts a user on both sides
    again = fit_sentiment_head(emb, reviews["rating"], reviews["user_id"], seed=0, refit=False)
    assert {k: x for k, x in again.validation.items() if k != "refit_on_all"} == {
        k: x for k, x in v.items() if k != "refit_on_all"
    }

    ridge = fit_sentiment_head(emb, reviews["rating"], reviews["user_id"], seed=0, kind="ridge")
    assert ridge.validation["mae"] < ridge.validation["mae_constant"]


def test_tfidf_baseline(shop) -> None:
    _, reviews, _ = shop
    matrix, pipe = tfidf_svd(reviews["text"], n_components=20, seed=0)
    assert matrix.shape == (len(reviews), 20) and matrix.dtype == np.float32
    again, _ = tfidf_svd(reviews["text"], n_components=20, seed=0)
    np.testing.assert_allclose(matrix, again, atol=1e-5)
    np.testing.assert_allclose(pipe.transform(reviews["text"][:5]), matrix[:5], atol=1e-4)

    head = fit_tfidf_sentiment_head(reviews["text"], reviews["rating"], reviews["user_id"], 0)
    assert head.validation["mae"] < head.validation["mae_constant"]
    score = head.score(reviews["text"])
    assert score.shape == (len(reviews),) and np.abs(score).max() <= 1

    svd_head = fit_sentiment_head(matrix, reviews["rating"], reviews["user_id"], seed=0)
    assert svd_head.validation["mae"] < svd_head.validation["mae_constant"]


def test_top_keywords_on_hand_built_texts() -> None:
    texts = ["great great price", "great fast", "awful slow", "awful price", "awful"]
    groups = [5, 5, 1, 1, 1]
    kw = top_keywords(texts, groups, n=2, ngram_range=(1, 1), min_df=1)
    assert list(kw.columns) == ["group", "rank", "term", "z", "count"]
    assert len(kw) == 4
    top = kw.loc[kw["rank"] == 1].set_index("group")["term"]
    assert top[5] == "great" and top[1] == "awful"
    assert kw.loc[(kw["group"] == 5) & (kw["term"] == "great"), "count"].item() == 3
    assert (kw.groupby("group")["z"].apply(lambda z: z.is_monotonic_decreasing)).all()


# ---- per-user features --------------------------------------------------------------


@pytest.fixture
def hand_reviews() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Three users: ``a`` improves over 3 reviews, ``b`` sours over 2, ``c`` has one."""
    reviews = pd.DataFrame(
        {
            "user_id": ["a", "b", "a", "c", "a", "b"],
            "ts": pd.to_datetime(
                [
                    "2024-01-01 00:00",
                    "2024-01-10 00:00",
                    "2024-01-11 00:00",
                    "2024-01-20 00:00",
                    "2024-01-21 00:00",
                    "2024-01-30 12:00",
                ],
                utc=True,
            ),
            "text": ["meh", "love it", "ok", "fine", "great", "awful"],
            "rating": pd.array([2, 5, 3, 4, 5, 1], dtype="Int64"),
        }
    )
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((6, 5)).astype(np.float32)
    sentiment = np.array([-0.5, 0.9, 0.0, 0.4, 0.8, -0.9])
    return reviews, emb, sentiment


def test_user_text_features_exact_values(hand_reviews) -> None:
    reviews, emb, sentiment = hand_reviews
    as_of = pd.Timestamp("2024-02-01", tz="UTC")
    feats = user_text_features(reviews, emb, sentiment, as_of, n_components=2, seed=0)

    assert list(feats.index) == ["a", "b", "c"] and feats.index.name == "user_id"
    expected_cols = ["txt_mean_0", "txt_mean_1", "txt_last_0", "txt_last_1"]
    assert list(feats.columns) == expected_cols + list(USER_SCALAR_COLUMNS)
    assert feats["review_count"].tolist() == [3, 2, 1]
    assert feats["sentiment_last"].tolist() == pytest.approx([0.8, -0.9, 0.4])
    assert feats["sentiment_min"].tolist() == pytest.approx([-0.5, -0.9, 0.4])
    assert feats["sentiment_mean"].tolist() == pytest.approx([0.1, 0.0, 0.4])
    assert feats["mean_rating"].tolist() == pytest.approx([10 / 3, 3.0, 4.0])
    assert feats["days_since_last_review"].tolist() == pytest.approx([11.0, 1.5, 12.0])
    assert feats.loc["a", "sentiment_trend"] > 0 > feats.loc["b", "sentiment_trend"]
    assert feats.loc["c", "sentiment_trend"] == 0.0
    # b: sentiment falls by 1.8 over 20.5 days: sxy = -1.8 * 20.5 / 2, sxx = 20.5**2 / 2
    sxy, sxx = -1.8 * 20.5 / 2, 20.5**2 / 2
    assert feats.loc["b", "sentiment_trend"] == pytest.approx(sxy / (sxx + 30.0**2) * 365)
    ols = user_text_features(reviews, emb, sentiment, as_of, 2, seed=0, trend_prior_days=0)
    assert ols.loc["b", "sentiment_trend"] == pytest.approx(-1.8 / 20.5 * 365)
    assert ols.loc["c", "sentiment_trend"] == 0.0

    pca = fit_text_pca(emb, 2, seed=0)
    reduced = pca.transform(emb)
    np.testing.assert_allclose(feats.loc["a", expected_cols[2:]], reduced[4], atol=1e-6)
    np.testing.assert_allclose(
        feats.loc["a", expected_cols[:2]], reduced[[0, 2, 4]].mean(axis=0), atol=1e-6
    )
    # a PCA fitted elsewhere is reused as is; columns beyond its size are zero
    small = fit_text_pca(emb, 1, seed=0)
    again = user_text_features(reviews, emb, sentiment, as_of, n_components=2, seed=0, pca=small)
    assert (again["txt_mean_1"] == 0).all()
    np.testing.assert_allclose(again["txt_mean_0"], feats["txt_mean_0"], atol=1e-6)


def test_user_text_features_without_embedding_columns(hand_reviews) -> None:
    reviews, emb, sentiment = hand_reviews
    as_of = pd.Timestamp("2024-02-01", tz="UTC")
    compact = user_text_features(reviews, emb, sentiment, as_of, n_components=0, seed=0)
    full = user_text_features(reviews, emb, sentiment, as_of, n_components=2, seed=0)
    assert list(compact.columns) == list(USER_SCALAR_COLUMNS)
    pd.testing.assert_frame_equal(compact, full[list(USER_SCALAR_COLUMNS)])
    empty = user_text_features(reviews.iloc[:0], emb[:0], sentiment[:0], as_of, 0, seed=0)
    assert list(empty.columns) == list(USER_SCALAR_COLUMNS) and empty.empty


def test_resolve_embedding_dims_auto_follows_the_ratings() -> None:
    assert resolve_embedding_dims("auto", has_ratings=True) == 0
    assert resolve_embedding_dims("auto", has_ratings=False) == AUTO_EMBEDDING_DIMS == 8
    assert resolve_embedding_dims(" Auto ", has_ratings=False, auto_dims=3) == 3
    assert resolve_embedding_dims(5, has_ratings=True) == 5
    assert resolve_embedding_dims(np.int64(0), has_ratings=False) == 0
    with pytest.raises(ValueError, match=r"text.n_components must be 'auto' or a whole"):
        resolve_embedding_dims("eight", has_ratings=True)
    with pytest.raises(ValueError, match=r"text.n_components must be 'auto' or a whole"):
        resolve_embedding_dims(2.5, has_ratings=True)
    with pytest.raises(ValueError, match=r"text.n_components must be >= 0, got -1"):
        resolve_embedding_dims(-1, has_ratings=True)


def test_user_text_features_resolve_auto_from_the_reviews_ratings(hand_reviews) -> None:
    reviews, emb, sentiment = hand_reviews
    as_of = pd.Timestamp("2024-02-01", tz="UTC")
    rated = user_text_features(reviews, emb, sentiment, as_of, "auto", seed=0)
    assert list(rated.columns) == list(USER_SCALAR_COLUMNS)  # ratings: no embedding columns
    unrated = reviews.drop(columns="rating")
    described = user_text_features(unrated, emb, sentiment, as_of, "auto", seed=0)
    assert sum(c.startswith("txt_mean_") for c in described.columns) == AUTO_EMBEDDING_DIMS
    with pytest.raises(ValueError, match="text.n_components must be 'auto' or a whole"):
        user_text_features(reviews, emb, sentiment, as_of, "eight", seed=0)


def test_user_text_features_guards_against_leakage(hand_reviews) -> None:
    reviews, emb, sentiment = hand_reviews
    as_of = pd.Timestamp("2024-01-30 12:00", tz="UTC")  # exactly b's last review
    with pytest.raises(ValueError, match="leakage"):
        user_text_features(reviews, emb, sentiment, as_of, n_components=2, seed=0)
    # calibration-period text only: the split keeps what is strictly before its end
    split = Split.from_dates("2024-01-29", "2024-02-29")
    keep = split.calibration(reviews).index.to_numpy()
    feats = user_text_features(
        reviews.loc[keep], emb[keep], sentiment[keep], split.calibration_end, 2, seed=0
    )
    assert feats.loc["b", "review_count"] == 1


def test_no_text_path(shop) -> None:
    result, _, _ = shop
    assert has_text(result.events)
    no_text = result.events.assign(text=pd.Series(np.nan, index=result.events.index, dtype=str))
    assert not has_text(no_text)
    assert not has_text(result.events.drop(columns="text"))
    assert text_rows(no_text).empty
    assert len(text_rows(result.events)) == (result.events["event_type"] == "review").sum()

    empty = user_text_features(
        text_rows(no_text), np.zeros((0, 384)), np.zeros(0), "2024-07-01", 3, seed=0
    )
    assert empty.empty and empty.index.name == "user_id"
    assert list(empty.columns[:6]) == [f"txt_{b}_{j}" for b in ("mean", "last") for j in range(3)]
    assert list(empty.columns[6:]) == list(USER_SCALAR_COLUMNS)


def test_tfidf_head_copes_with_a_tiny_vocabulary():
    from helpers.features.text import fit_tfidf_sentiment_head

    rng = np.random.default_rng(0)
    good, bad = "great value fast delivery", "broke after a week"
    ratings = rng.integers(1, 6, size=200)
    texts = [good if r >= 4 else bad for r in ratings]
    head = fit_tfidf_sentiment_head(texts, ratings, np.arange(200) % 40, seed=0, n_components=100)
    scores = head.score([good, bad])
    assert scores[0] > scores[1]
