"""The customer blocks of notebook 06b: variants (a)-(d), candidate text blocks.

Variant blocks (:func:`variant_blocks`), built from the study's text block, the star
ratings (:func:`rating_features`) and, for the ceiling, the simulator's truth
(:func:`experience_features`); the candidate text blocks (:func:`candidate_blocks`); and
stage 02's text block rebuilt for one simulated world (:func:`text_block_for`,
:func:`sweep_sentiment_head`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from helpers.features import text as text_features
from helpers.features.rating_reader import (
    READ_RATING_COLUMNS,
    by_reviewer,
    read_rating_features,
    reviewer_frame,
)

#: The review facts every variant sees (behaviour, not what the words say).
META_COLUMNS: tuple[str, ...] = ("has_review", "review_count", "days_since_last_review")
#: Variant name -> label used in tables and figures.
VARIANTS: dict[str, str] = {
    "no_text": "(a) without text",
    "text": "(b) text features",
    "satisfaction": "(c) true satisfaction",
    "ratings": "(d) star ratings only",
}
#: Candidate block name (:func:`candidate_blocks`) -> label used in sentences and figures.
CANDIDATE_LABELS: dict[str, str] = {
    "text_compact": "compact block",
    "text_plus": "plus block",
    "text_unanswered": "unanswered-review block",
    "text_embeddings": "block with embedding columns",
    "text_reader": "block with a bag-of-words reader of the ratings",
}


def rating_features(reviews: pd.DataFrame) -> pd.DataFrame:
    """Per-reviewer ``rating_mean`` and ``rating_last`` (latest review, ties by row order).

    ``reviews`` holds ``user_id``, ``ts`` and ``rating`` (calibration reviews only).
    """
    rating = pd.to_numeric(reviews["rating"], errors="coerce").to_numpy(dtype=float)
    grouped = by_reviewer(reviews, rating=rating)["rating"]
    return reviewer_frame({"rating_mean": grouped.mean(), "rating_last": grouped.last()})


def experience_features(
    review_truth: pd.DataFrame, as_of: pd.Timestamp, with_mean: bool = False
) -> pd.DataFrame:
    """Per-reviewer latent purchase experience behind the calibration reviews (truth).

    ``review_truth`` is :attr:`helpers.data.shopsim.ShopSimResult.review_truth`
    (``user_id, ts, experience``). Returns ``experience_last`` (latest review, ties by
    row order) and ``experience_min`` by ``user_id``, from reviews before ``as_of``, and
    with ``with_mean`` also ``experience_mean``: with shopsim's ``churn_trigger`` on, a
    bad experience makes a customer stop buying, so these are what a perfect reader of
    the reviews would know (the ceiling (c) adds the satisfaction trait ``z``).
    """
    frame = review_truth[pd.to_datetime(review_truth["ts"], utc=True) < as_of]
    grouped = by_reviewer(frame, experience=frame["experience"])["experience"]
    columns = {"experience_last": grouped.last(), "experience_min": grouped.min()}
    if with_mean:
        columns["experience_mean"] = grouped.mean()
    return reviewer_frame(columns)


def variant_blocks(
    text_block: pd.DataFrame,
    satisfaction: pd.Series | None = None,
    ratings: pd.DataFrame | None = None,
    experience: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """The customer blocks of variants (a)-(d), each indexed like ``text_block``.

    Parameters
    ----------
    text_block : DataFrame
        :func:`helpers.features.text.align_user_text_features` output (every customer,
        ``has_review`` first).
    satisfaction : Series, optional
        True latent satisfaction by ``user_id`` (shopsim's truth). Given only to
        customers with a calibration review; 0 for the others. Without it, no (c).
    ratings : DataFrame, optional
        :func:`rating_features`; non-reviewers get the reviewers' mean. Without it, no (d).
    experience : DataFrame, optional
        :func:`experience_features` (truth), added to (c) (0 for non-reviewers).
    """
    if text_block.empty or not set(META_COLUMNS) <= set(text_block.columns):
        return {}
    meta = text_block[list(META_COLUMNS)]
    has = meta["has_review"].to_numpy() > 0
    blocks = {"no_text": meta, "text": text_block}
    if satisfaction is not None:
        z = satisfaction.reindex(meta.index).to_numpy(dtype=float)
        if np.isnan(z[has]).any():
            raise KeyError("satisfaction lacks some reviewers of the text block")
        blocks["satisfaction"] = meta.assign(true_satisfaction=np.where(has, z, 0.0))
        if experience is not None:
            blocks["satisfaction"] = blocks["satisfaction"].join(
                experience.reindex(meta.index).fillna(0.0)
            )
    if ratings is not None and len(ratings):
        aligned = ratings.reindex(meta.index)
        blocks["ratings"] = meta.join(aligned.fillna(ratings.mean()))
    return blocks


def compact_columns(text_block: pd.DataFrame) -> list[str]:
    """The text block's columns without its PCA-reduced embeddings (``txt_mean_*``, ...)."""
    return [c for c in text_block.columns if not c.startswith(("txt_mean_", "txt_last_"))]


def unanswered_review_features(
    reviews: pd.DataFrame,
    sentiment: np.ndarray,
    as_of: pd.Timestamp,
    days_since_last_purchase: pd.Series,
) -> pd.DataFrame:
    """Reviews no purchase followed: a bad review after the customer's last purchase.

    Parameters
    ----------
    reviews : DataFrame
        ``user_id`` and ``ts`` (before ``as_of``), one row per review.
    sentiment : ndarray ``(len(reviews),)``
        Review sentiment in ``[-1, 1]``.
    days_since_last_purchase : Series
        Days from each customer's last purchase to ``as_of`` by ``user_id`` (the
        behaviour feature ``recency_days``).

    Returns
    -------
    DataFrame indexed by ``user_id`` (reviewers)
        ``unanswered_review`` (1 if a review was written after the last purchase) and
        ``sentiment_unanswered`` (the lowest sentiment among those reviews, 0 without).
    """
    ts = pd.to_datetime(reviews["ts"], utc=True)
    if (ts >= as_of).any():
        raise ValueError(f"reviews at or after as_of={as_of} (leakage guard)")
    users = reviews["user_id"].astype(str).to_numpy()
    age = ((as_of - ts) / pd.Timedelta(days=1)).to_numpy(dtype=float)
    recency = days_since_last_purchase.reindex(users).to_numpy(dtype=float)
    frame = pd.DataFrame({"user_id": users, "s": np.asarray(sentiment, dtype=float)})
    index = pd.Index(np.unique(users), dtype=str, name="user_id")
    unanswered = frame.loc[age < recency].groupby("user_id", sort=True)["s"].min()
    out = pd.DataFrame(index=index)
    out["unanswered_review"] = index.isin(unanswered.index).astype(float)
    out["sentiment_unanswered"] = unanswered.reindex(index).fillna(0.0).to_numpy()
    return out


def candidate_blocks(
    text_block: pd.DataFrame,
    signals: pd.DataFrame,
    cal_purchases: pd.Series,
    embedding_columns: pd.DataFrame | None = None,
    read_ratings: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """Blocks of the candidate text features (reviewers' values, 0 for the others).

    * ``text_compact``: the review facts and the sentiment / rating summaries of today's
      block, without the PCA-reduced embeddings (16 noisy columns for a tree model; the
      study's block itself when ``text.n_components`` resolves to 0);
    * ``text_plus``: ``text_compact`` plus ``signals``
      (:func:`helpers.features.text.review_signal_features`: recency-weighted sentiment,
      sentiment of the lowest-rated review, zero-shot aspect scores, and
      :func:`unanswered_review_features` if joined) and ``review_rate`` (calibration
      reviews per calibration purchase day);
    * ``text_unanswered``: ``text_compact`` plus the two unanswered-review columns of
      ``signals`` (only when ``signals`` has them): a bad review no purchase followed;
    * ``text_embeddings``: ``text_compact`` plus ``embedding_columns`` (only when given):
      the PCA-reduced mean and latest review embedding (``txt_mean_*``, ``txt_last_*``
      of a block built with more than 0 dimensions), after ``has_review`` as stage 02
      orders them, to measure what they add;
    * ``text_reader``: ``text_compact`` plus ``read_ratings`` (only when given and the
      block does not carry them already, as stage 02's does with
      ``text.rating_reader_folds > 0``): :func:`read_rating_features`, what a
      cross-fitted bag-of-words reader of the star ratings reads from each customer's
      latest, lowest and average review (non-reviewers: the reviewers' mean).
    """
    compact = text_block[compact_columns(text_block)]
    extra = signals.reindex(text_block.index).fillna(0.0)
    rate = text_block["review_count"] / cal_purchases.reindex(text_block.index).clip(lower=1)
    out = {"text_compact": compact, "text_plus": compact.join(extra).assign(review_rate=rate)}
    unanswered = ["unanswered_review", "sentiment_unanswered"]
    if set(unanswered) <= set(extra.columns):
        out["text_unanswered"] = compact.join(extra[unanswered])
    if embedding_columns is not None:
        embedded = [c for c in embedding_columns.columns if c not in compact.columns]
        if not embedded:
            raise ValueError("embedding_columns holds no txt_mean_* / txt_last_* column")
        aligned = embedding_columns[embedded].reindex(text_block.index)
        aligned.attrs = {}  # e.g. text_block_for's per-review sentiment: not a column
        if aligned.isna().any().any():
            raise KeyError("embedding_columns lacks some customers of the text block")
        lead = [c for c in compact.columns[:1] if c == "has_review"]  # stage 02's order
        order = [*lead, *embedded, *[c for c in compact.columns if c not in lead]]
        out["text_embeddings"] = compact.join(aligned)[order]
    if read_ratings is not None and not set(READ_RATING_COLUMNS) & set(compact.columns):
        read = read_ratings.reindex(text_block.index)
        if read.isna().any().any():
            raise KeyError("read_ratings lacks some customers of the text block")
        out["text_reader"] = compact.join(read)
    return out


def text_block_for(
    texts: pd.DataFrame,
    embeddings: np.ndarray,
    customers: pd.Index,
    as_of: pd.Timestamp,
    no_review_days: float,
    seed: int,
    sentiment_c: float,
    n_components: int,
    head: text_features.SentimentHead | None = None,
    rating_reader: Any = None,
) -> pd.DataFrame:
    """Stage 02's per-customer text block for one world: sentiment head, user features.

    The sentiment head (:func:`helpers.features.text.fit_sentiment_head`, no refit) is
    trained on this world's rated calibration reviews, as stage 02 does on the study's.
    A ``head`` fitted elsewhere (e.g. :func:`sweep_sentiment_head`) is used as is.
    The block's ``attrs["sentiment"]`` holds the head's score of each row of ``texts``.
    With a ``rating_reader`` (:class:`helpers.features.rating_reader.RatingReader`) the
    block carries its read ratings (:data:`READ_RATING_COLUMNS`), as stage 02's does.
    ``texts`` then needs a ``text`` column.
    """
    if head is None:
        head = sweep_sentiment_head(texts, embeddings, seed, sentiment_c)
    sentiment = head.score(embeddings)
    users = text_features.user_text_features(
        texts, embeddings, sentiment, as_of, n_components, seed
    )
    if rating_reader is not None and len(texts):
        read = rating_reader.score(texts["text"].astype(str), texts["user_id"])
        users = users.join(read_rating_features(texts, read))
    block = text_features.align_user_text_features(users, customers, no_review_days)
    block.attrs["sentiment"] = np.asarray(sentiment)
    return block


def sweep_sentiment_head(
    texts: pd.DataFrame, embeddings: np.ndarray, seed: int, sentiment_c: float
) -> text_features.SentimentHead:
    """The sentiment head of stage 02 (no refit) trained on ``texts``' rated reviews.

    The sweep's worlds share their review texts and ratings (common random numbers), so
    one head trained on one world's calibration reviews scores every world's.
    """
    rated = texts["rating"].notna().to_numpy()
    return text_features.fit_sentiment_head(
        embeddings[rated],
        texts.loc[rated, "rating"].astype(int),
        texts.loc[rated, "user_id"],
        seed=seed,
        c=sentiment_c,
        refit=False,
    )
