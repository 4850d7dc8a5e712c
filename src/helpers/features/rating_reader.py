"""A bag-of-words reader of star ratings, cross-fitted by customer.

The language-model sentiment head of stage 02 reads a review through one mean-pooled
sentence embedding, which blurs a review that praises one aspect and damns another. A
linear model on word 1-2-grams (TF-IDF, ridge regression on the star rating) keeps the
phrases apart. :func:`fit_rating_reader` trains one such reader per fold of customers,
and :meth:`RatingReader.score` reads each review with the reader that never saw its
writer's ratings, so the score of a customer's own review is not an echo of its star.
Only calibration-period reviews and their ratings are used: no holdout information.
:func:`read_rating_features` condenses each customer's read ratings (latest, lowest,
mean) into the columns stage 02 adds to the text block (:func:`study_read_ratings`).

References
----------
Hoerl & Kennard (1970), Technometrics 12(1), 55-67 (ridge regression); Pang, Lee &
Vaithyanathan (2002), "Thumbs up? Sentiment classification using machine learning
techniques", EMNLP, 79-86 (bag-of-n-grams sentiment models).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline, make_pipeline

#: per-customer columns of a reader's read ratings (latest review, lowest, mean)
READ_RATING_COLUMNS: tuple[str, ...] = ("read_rating_last", "read_rating_min", "read_rating_mean")


@dataclass
class RatingReader:
    """Per-fold TF-IDF ridge readers of the star rating and the fold of each customer.

    Attributes
    ----------
    readers : list of fitted ``Pipeline(TfidfVectorizer, Ridge)``
        ``readers[k]`` was trained on the customers outside fold ``k``.
    user_fold : Series
        Fold of every customer whose reviews trained the readers, by ``user_id``.
    n_train : int
        Rated reviews used.
    """

    readers: list[Pipeline]
    user_fold: pd.Series
    n_train: int = 0

    def score(self, texts: Sequence[str], user_ids: Sequence[Any]) -> np.ndarray:
        """Read rating of each text: the reader of its writer's fold (out of fold);
        writers the readers never saw get the mean of all readers.
        """
        texts = pd.Series([str(t) for t in texts], dtype=object)
        users = pd.Index([str(u) for u in user_ids])
        if len(texts) != len(users):
            raise ValueError(f"{len(texts)} texts but {len(users)} user ids")
        fold = self.user_fold.reindex(users).to_numpy(dtype=float)
        out = np.full(len(texts), np.nan)
        unseen = np.isnan(fold)
        for k, reader in enumerate(self.readers):
            rows = np.flatnonzero(fold == k)
            if len(rows):
                out[rows] = reader.predict(texts.iloc[rows])
        if unseen.any():
            rows = np.flatnonzero(unseen)
            out[rows] = np.mean([r.predict(texts.iloc[rows]) for r in self.readers], axis=0)
        return out


def fit_rating_reader(
    texts: Sequence[str],
    ratings: Sequence[float] | np.ndarray,
    user_ids: Sequence[Any],
    n_folds: int,
    seed: int,
    alpha: float = 1.0,
) -> RatingReader:
    """Train ``n_folds`` readers of the star rating, each without one fold of customers.

    Parameters
    ----------
    texts, ratings, user_ids : sequences of equal length
        Calibration-period reviews; rows whose rating is missing are skipped.
    n_folds : int
        Customer folds (at least 2), drawn with ``seed``.
    alpha : float
        Ridge penalty.
    """
    texts = pd.Series([str(t) for t in texts], dtype=object)
    y = pd.to_numeric(pd.Series(np.asarray(ratings, dtype=object)), errors="coerce")
    users = pd.Series([str(u) for u in user_ids], dtype=object)
    if not len(texts) == len(y) == len(users):
        raise ValueError(
            f"texts ({len(texts)}), ratings ({len(y)}) and user_ids ({len(users)}) differ"
        )
    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2, got {n_folds}")
    rated = y.notna().to_numpy()
    writers = pd.Index(users[rated].unique())
    if len(writers) < n_folds:
        raise ValueError(
            f"{len(writers)} customers with a rated review cannot fill {n_folds} folds"
        )
    user_fold = pd.Series(
        np.random.default_rng(seed).permutation(len(writers)) % n_folds, index=writers
    )
    fold = user_fold.reindex(users).to_numpy(dtype=float)
    readers = []
    for k in range(n_folds):
        train = rated & (fold != k)
        reader = make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
            Ridge(alpha=alpha, solver="sparse_cg"),
        )
        readers.append(reader.fit(texts[train], y[train].to_numpy(dtype=float)))
    return RatingReader(readers, user_fold, int(rated.sum()))


def by_reviewer(reviews: pd.DataFrame, **values: Any) -> Any:
    """``values`` (arrays row-aligned with ``reviews``) grouped by ``user_id`` (sorted).

    Within a group the rows run in time order (``ts``, ties by row order), so ``last()``
    is the latest review. Rows with a missing value are dropped.
    """
    frame = pd.DataFrame(
        {
            "user_id": reviews["user_id"].astype(str).to_numpy(),
            "ts": pd.to_datetime(reviews["ts"], utc=True).to_numpy(),
            "row": np.arange(len(reviews)),
            **{name: np.asarray(v, dtype=float) for name, v in values.items()},
        }
    ).dropna(subset=list(values))
    return frame.sort_values(["user_id", "ts", "row"], kind="stable").groupby("user_id", sort=True)


def reviewer_frame(columns: Mapping[str, pd.Series]) -> pd.DataFrame:
    """Per-reviewer columns as one frame indexed by ``user_id`` (as strings)."""
    out = pd.DataFrame(dict(columns))
    out.index = pd.Index(out.index.astype(str), dtype=str, name="user_id")
    return out


def read_rating_features(
    reviews: pd.DataFrame, read: np.ndarray, reviewers_mean_for: pd.Index | None = None
) -> pd.DataFrame:
    """Per-customer read ratings (:data:`READ_RATING_COLUMNS`): latest review (ties by row
    order), lowest and mean, e.g. of :meth:`RatingReader.score`.

    ``reviews`` has ``user_id`` and ``ts``, row-aligned with ``read``; rows whose read
    rating is missing are skipped. With ``reviewers_mean_for``, the frame is reindexed to
    those customers and the ones without a review get the reviewers' mean (absence is
    the text block's ``has_review``).
    """
    read = np.asarray(read, dtype=float)
    if len(read) != len(reviews):
        raise ValueError(f"{len(read)} read ratings for {len(reviews)} reviews")
    grouped = by_reviewer(reviews, read=read)["read"]
    out = reviewer_frame(
        dict(zip(READ_RATING_COLUMNS, (grouped.last(), grouped.min(), grouped.mean()), strict=True))
    )
    if reviewers_mean_for is not None:
        out = out.reindex(reviewers_mean_for.astype(str)).fillna(out.mean())
    return out


def study_read_ratings(
    texts: pd.DataFrame, n_folds: int, seed: int
) -> tuple[RatingReader | None, np.ndarray, str]:
    """Stage 02's rating reader: fit it on the rated calibration texts and read every text.

    Parameters
    ----------
    texts : DataFrame
        ``user_id``, ``ts``, ``text`` and ``rating`` (NaN where unrated) of the calibration
        texts.
    n_folds : int
        Customer folds of the reader (``text.rating_reader_folds``); 0 turns it off.
    seed : int

    Returns
    -------
    (reader, read, note)
        The fitted :class:`RatingReader` and each text's out-of-fold read rating, or
        ``None`` and NaNs when no reader is fitted, with ``note`` saying why (empty when
        one is): it is off, no text carries a rating, or fewer customers wrote a rated
        text than there are folds.
    """
    if isinstance(n_folds, bool) or not isinstance(n_folds, int | np.integer) or n_folds < 0:
        raise ValueError(
            f"text.rating_reader_folds must be 0 (off) or a whole number >= 2, got {n_folds!r}"
        )
    if n_folds == 1:
        raise ValueError("text.rating_reader_folds must be 0 (off) or at least 2, got 1")
    missing = np.full(len(texts), np.nan)
    if n_folds == 0:
        return None, missing, "text.rating_reader_folds is 0: no rating reader"
    rating = pd.to_numeric(texts["rating"], errors="coerce") if "rating" in texts else None
    if rating is None or rating.isna().all():
        return None, missing, "no text carries a star rating: no rating reader"
    writers = texts.loc[rating.notna(), "user_id"].astype(str).nunique()
    if writers < n_folds:
        return (
            None,
            missing,
            (
                f"{writers} customers wrote a rated text, fewer than the reader's {n_folds} "
                "folds: no rating reader"
            ),
        )
    reader = fit_rating_reader(texts["text"], rating, texts["user_id"], int(n_folds), seed)
    return reader, reader.score(texts["text"], texts["user_id"]), ""


def read_validation(read: np.ndarray, ratings: Sequence[float] | np.ndarray) -> dict[str, float]:
    """How well out-of-fold read ratings match the star ratings of the rated texts.

    Returns ``mae`` (stars), ``mae_constant`` (predicting the mean rating for every
    text), ``spearman``, ``pearson`` and ``n`` (rated texts with a read rating).
    """
    read = np.asarray(read, dtype=float)
    y = pd.to_numeric(pd.Series(np.asarray(ratings, dtype=object)), errors="coerce")
    y = y.to_numpy(dtype=float)
    if read.shape != y.shape:
        raise ValueError(f"{len(read)} read ratings for {len(y)} ratings")
    keep = ~(np.isnan(read) | np.isnan(y))
    if keep.sum() < 2:
        raise ValueError(f"{int(keep.sum())} rated texts with a read rating: need at least 2")
    read, y = read[keep], y[keep]
    return {
        "mae": float(np.mean(np.abs(read - y))),
        "mae_constant": float(np.mean(np.abs(y.mean() - y))),
        "spearman": float(pd.Series(read).corr(pd.Series(y), method="spearman")),
        "pearson": float(np.corrcoef(read, y)[0, 1]),
        "n": int(keep.sum()),
    }
