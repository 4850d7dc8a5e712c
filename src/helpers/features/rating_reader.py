"""A bag-of-words reader of star ratings, cross-fitted by customer.

The language-model sentiment head of stage 02 reads a review through one mean-pooled
sentence embedding, which blurs a review that praises one aspect and damns another. A
linear model on word 1-2-grams (TF-IDF, ridge regression on the star rating) keeps the
phrases apart. :func:`fit_rating_reader` trains one such reader per fold of customers,
and :meth:`RatingReader.score` reads each review with the reader that never saw its
writer's ratings, so the score of a customer's own review is not an echo of its star.
Only calibration-period reviews and their ratings are used: no holdout information.

References
----------
Hoerl & Kennard (1970), Technometrics 12(1), 55-67 (ridge regression); Pang, Lee &
Vaithyanathan (2002), "Thumbs up? Sentiment classification using machine learning
techniques", EMNLP, 79-86 (bag-of-n-grams sentiment models).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline, make_pipeline


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
