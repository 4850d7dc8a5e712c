"""Reading the reviews: the truth behind them, and readers of their words (notebook 06b).

:func:`review_experience` matches each review to the latent experience behind it;
:func:`text_reader_features` is ceiling (c')'s reader trained on that truth;
:func:`reader_for_candidates` refits stage 02's rating reader (or one for the
``text_reader`` candidate); :func:`finetuned_text_block` reads the reviews through an
encoder fine-tuned on the star ratings.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from helpers.features.rating_reader import (
    READ_RATING_COLUMNS,
    RatingReader,
    by_reviewer,
    read_rating_features,
    reviewer_frame,
    study_read_ratings,
)
from helpers.studies.text_signal.blocks import compact_columns, text_block_for

#: Per-customer columns of the truth-trained reader (ceiling (c'), report only).
READER_COLUMNS: tuple[str, ...] = (
    "read_experience_last",
    "read_experience_min",
    "read_satisfaction_mean",
)


def review_experience(texts: pd.DataFrame, review_truth: pd.DataFrame) -> np.ndarray:
    """The latent experience behind each row of ``texts`` (matched on ``user_id`` and ``ts``).

    ``review_truth`` is :attr:`helpers.data.shopsim.ShopSimResult.review_truth`. Raises
    ``KeyError`` naming the first review without a match.
    """

    def key(frame: pd.DataFrame) -> pd.Index:
        ts = pd.to_datetime(frame["ts"], utc=True).astype("int64").astype(str)
        return pd.Index(frame["user_id"].astype(str).to_numpy() + "|" + ts.to_numpy())

    truth = pd.Series(review_truth["experience"].to_numpy(dtype=float), index=key(review_truth))
    truth = truth[~truth.index.duplicated()]
    out = truth.reindex(key(texts)).to_numpy()
    missing = np.flatnonzero(np.isnan(out))
    if len(missing):
        row = texts.iloc[missing[0]]
        raise KeyError(
            f"{len(missing)} reviews have no latent experience in review_truth, e.g. "
            f"user_id={row['user_id']!r} ts={row['ts']}"
        )
    return out


def text_reader_features(
    texts: pd.DataFrame,
    experience: np.ndarray,
    satisfaction: pd.Series,
    user_folds: pd.Series,
    alpha: float = 1.0,
) -> pd.DataFrame:
    """What a reader trained on the simulator's truth reads from the review texts.

    A bag-of-words reader (TF-IDF of word 1-2-grams, ridge regression with penalty
    ``alpha``, as in :mod:`helpers.features.rating_reader`) learns each review's latent
    ``experience`` and its writer's ``satisfaction`` from the words. It is **cross-fitted** over
    ``user_folds``: a customer's reviews are read by a reader trained on the other
    folds' customers only. Report only (it needs the truth): an estimate of how much of
    the value signal the words themselves hold, from a strong reader (not a proven best
    one) that text features trained without the truth can be measured against.

    Parameters
    ----------
    texts : DataFrame
        ``user_id``, ``ts`` and ``text`` of the calibration reviews.
    experience : ndarray ``(len(texts),)``
        :func:`review_experience`.
    satisfaction : Series
        True latent satisfaction by ``user_id``.
    user_folds : Series
        Cross-fitting fold by ``user_id`` (every reviewer).

    Returns
    -------
    DataFrame indexed by ``user_id`` (reviewers)
        :data:`READER_COLUMNS`: the read experience of the latest review (ties by row
        order) and the lowest one, and the mean read satisfaction.

    References
    ----------
    Hoerl & Kennard (1970), Technometrics 12(1), 55-67 (ridge regression).
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import Ridge

    users = texts["user_id"].astype(str).to_numpy()
    fold = user_folds.reindex(users).to_numpy()
    if pd.isna(fold).any():
        raise KeyError(f"user_folds lacks reviewer {users[pd.isna(fold)][0]!r}")
    z = satisfaction.reindex(users).to_numpy(dtype=float)
    target = np.column_stack([np.asarray(experience, dtype=float), z])
    if not np.isfinite(target).all():
        raise ValueError("experience or satisfaction is missing for some reviews")
    words = texts["text"].astype(str).to_numpy()
    read = np.full(target.shape, np.nan)
    for k in np.unique(fold):
        test, train = fold == k, fold != k
        if not train.any():
            raise ValueError("the reader needs at least two folds with reviewers")
        min_df = 2 if train.sum() >= 100 else 1  # a tiny world keeps its rare words
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=min_df, sublinear_tf=True)
        reader = Ridge(alpha=alpha, solver="sparse_cg")
        reader.fit(vectorizer.fit_transform(words[train]), target[train])
        read[test] = reader.predict(vectorizer.transform(words[test]))
    grouped = by_reviewer(texts, x=read[:, 0], z=read[:, 1])
    return reviewer_frame(
        {
            READER_COLUMNS[0]: grouped["x"].last(),
            READER_COLUMNS[1]: grouped["x"].min(),
            READER_COLUMNS[2]: grouped["z"].mean(),
        }
    )


def reader_for_candidates(
    texts: pd.DataFrame,
    text_block: pd.DataFrame,
    study_folds: int,
    candidate_folds: int,
    seed: int,
    atol: float = 1e-3,
) -> tuple[RatingReader | None, pd.DataFrame | None, bool]:
    """The rating reader 06b's worlds use, and the read ratings of a candidate block.

    When the study's block carries the read ratings (stage 02 fitted its reader with
    ``text.rating_reader_folds > 0``), stage 02's reader is refitted (same texts, folds
    and seed) and must read what stage 02 wrote to ``texts["read_rating"]``, to ``atol``
    (the solver's tolerance: readings move by about 5e-6 with the thread count); no
    candidate adds read ratings then. Otherwise a reader on ``candidate_folds`` gives
    the ``text_reader`` candidate its columns (:func:`read_rating_features`).

    Parameters
    ----------
    texts : DataFrame
        The calibration texts of stage 02: ``user_id``, ``ts``, ``text``, ``rating`` and,
        when the block has read ratings, ``read_rating``.
    text_block : DataFrame
        The study's per-customer text block (``text_features.parquet``).
    study_folds, candidate_folds : int
        ``text.rating_reader_folds`` and ``text_signal.sweep_folds``.
    seed : int

    Returns
    -------
    (reader, candidate_read_ratings, reader_in_block)
        The reader (``None`` when none can be fitted), the ``read_ratings`` argument of
        :func:`~.blocks.candidate_blocks` (``None`` when the block carries them or no reader was
        fitted), and whether the study's block carries them.

    Raises
    ------
    ValueError
        The refitted reader disagrees with stage 02's readings: stage 02's outputs
        are stale, or its reader changed; re-run ``dvc repro 02_text_features``.
    """
    reader_in_block = set(READ_RATING_COLUMNS) <= set(text_block.columns)
    folds = study_folds if reader_in_block else candidate_folds
    reader, read, _ = study_read_ratings(texts, folds, seed)
    if not reader_in_block:
        if reader is None:
            return None, None, False
        return reader, read_rating_features(texts, read, text_block.index), False
    gap = np.abs(np.asarray(read, float) - texts["read_rating"].to_numpy(float))
    if not np.all(gap <= atol):  # NaN (no reader now, readings then) counts as a mismatch
        worst = int(np.nanargmax(np.where(np.isnan(gap), np.inf, gap)))
        raise ValueError(
            f"the refitted rating reader ({folds} folds, seed {seed}) does not read what "
            f"stage 02 wrote to texts.parquet's read_rating (row {worst}: "
            f"{read[worst]:.4f} now, {texts['read_rating'].iloc[worst]:.4f} then); re-run "
            "`dvc repro 02_text_features`"
        )
    return reader, None, True


def finetuned_text_block(
    encoder: Any,
    texts: pd.DataFrame,
    customers: pd.Index,
    as_of: pd.Timestamp,
    no_review_days: float,
    seed: int,
    sentiment_c: float,
    n_components: int,
    steps: int,
    n_layers: int,
    cache: Any = None,
    rating_reader: Any = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The compact text block read through an encoder fine-tuned on the ratings.

    ``encoder`` (a fresh :class:`~helpers.features.text_encoder.TextEncoder`, changed in
    place) is fine-tuned on ``texts``' rated calibration reviews
    (:func:`helpers.features.text_finetune.finetune_on_ratings`), the reviews are
    embedded again (cached under the fine-tuned encoder's own id), and the sentiment
    head and per-customer features are rebuilt as in stage 02 (with the read ratings of
    ``rating_reader`` when given: the words, not the encoder, so unchanged). Returns the
    block without embedding columns (as ``text_compact``) and the fine-tuning summary.
    """
    from helpers.features.text_encoder import embed_texts
    from helpers.features.text_finetune import finetune_on_ratings

    rated = texts["rating"].notna().to_numpy()
    info = finetune_on_ratings(
        encoder,
        texts.loc[rated, "text"].astype(str).tolist(),
        texts.loc[rated, "rating"].to_numpy(dtype=float),
        seed=seed,
        steps=steps,
        n_layers=n_layers,
    )
    embeddings, _ = embed_texts(encoder, texts["text"].astype(str).tolist(), cache=cache)
    block = text_block_for(
        texts,
        embeddings,
        customers,
        as_of,
        no_review_days,
        seed,
        sentiment_c,
        n_components,
        rating_reader=rating_reader,
    )
    return block[compact_columns(block)], info
