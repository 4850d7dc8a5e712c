"""Text features of stage 02: sentiment, TF-IDF baseline, keywords, per-user features.

* **Sentiment** (:func:`fit_sentiment_head`): a multinomial logistic regression (or a
  ridge regression) on sentence embeddings, trained on the reviews' star ratings. It is
  validated on a *customer-level* hold-out (``GroupShuffleSplit`` by ``user_id``: no
  reviewer is on both sides, so the head cannot score well by memorising a customer's
  wording) and then, by default, refitted on all reviews. The continuous score is the
  expected rating rescaled to ``[-1, 1]``: ``(E[rating] - 3) / 2``.
* **TF-IDF + truncated SVD** (:func:`tfidf_svd`, i.e. latent semantic analysis,
  Deerwester et al. 1990) is the classic baseline; :func:`fit_tfidf_sentiment_head`
  trains the same head on TF-IDF features (vectoriser fitted on the training reviews
  only) so LM and TF-IDF sentiment can be compared on the same split.
* **Keywords** (:func:`top_keywords`): the most distinctive terms of each group by the
  weighted log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi & Quinn
  2008, "Fightin' words").
* **Per-user features** (:func:`user_text_features`) from calibration-period text only,
  by vectorised group-bys.

The embeddings come from :mod:`helpers.features.text_encoder` (Sentence-BERT mean pooling,
Reimers & Gurevych 2019, of a MiniLM encoder, Wang et al. 2020, a distilled BERT,
Devlin et al. 2019).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scipy.sparse as sp
import seaborn as sns
from scipy.stats import spearmanr
from sklearn.decomposition import PCA, TruncatedSVD
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GroupShuffleSplit
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from helpers.data.split import as_utc
from helpers.features.rating_reader import READ_RATING_COLUMNS

#: Token pattern that keeps contractions ("wasn't", "didn't") as one token.
TOKEN_PATTERN = r"(?u)\b\w[\w']*\b"
#: Scalar columns of :func:`user_text_features` (after the embedding blocks).
USER_SCALAR_COLUMNS: tuple[str, ...] = (
    "sentiment_mean",
    "sentiment_min",
    "sentiment_last",
    "sentiment_trend",
    "review_count",
    "days_since_last_review",
    "mean_rating",
)


def has_text(events: pd.DataFrame) -> bool:
    """Whether ``events`` hold any non-blank ``text`` (CDNOW, for one, holds none)."""
    if "text" not in events.columns or events.empty:
        return False
    text = events["text"]
    return bool((text.notna() & (text.astype(str).str.strip() != "")).any())


def text_rows(events: pd.DataFrame) -> pd.DataFrame:
    """Rows carrying text: the reviews if any have text, else every event with text.

    Shopsim has reviews; Online Retail only has product descriptions on purchases.
    """
    if not has_text(events):
        return events.iloc[0:0]
    text = events["text"]
    ok = text.notna() & (text.astype(str).str.strip() != "")
    reviews = ok & (events["event_type"] == "review")
    return events.loc[reviews if reviews.any() else ok]


# ---- sentiment head -------------------------------------------------------------------


@dataclass
class SentimentHead:
    """A fitted rating model whose :meth:`score` is a sentiment in ``[-1, 1]``.

    Attributes
    ----------
    model : sklearn estimator
        Pipeline from the features it was trained on (embeddings, or raw texts for the
        TF-IDF head) to ratings.
    kind : str
        ``"logistic"`` (classes = rating levels, score from the expected rating) or
        ``"ridge"`` (regression on the rating).
    validation : dict
        Customer-level validation: ``accuracy``, ``accuracy_majority``, ``mae``,
        ``mae_constant`` (predicting the training mean), ``spearman``, ``pearson``,
        ``n_train``, ``n_val``, ``n_val_users``.
    """

    model: Any
    kind: str
    rating_range: tuple[int, int] = (1, 5)
    validation: dict = field(default_factory=dict)

    def expected_rating(self, features: Any) -> np.ndarray:
        """Expected rating (continuous) for each row of ``features``."""
        features = _dense64(features)
        if self.kind == "logistic":
            proba = self.model.predict_proba(features)
            classes = np.asarray(self.model.classes_, dtype=float)
            out = proba @ classes
        else:
            out = np.asarray(self.model.predict(features), dtype=float)
        lo, hi = self.rating_range
        return np.clip(out, lo, hi)

    def predict_rating(self, features: Any) -> np.ndarray:
        """Most likely rating (logistic) or the rounded expected rating (ridge)."""
        if self.kind == "logistic":
            return np.asarray(self.model.predict(_dense64(features))).astype(int)
        return np.rint(self.expected_rating(features)).astype(int)

    def score(self, features: Any) -> np.ndarray:
        """Sentiment in ``[-1, 1]``: the expected rating rescaled linearly."""
        lo, hi = self.rating_range
        return (2.0 * (self.expected_rating(features) - lo) / (hi - lo) - 1.0).astype(np.float32)


def _dense64(features: Any) -> Any:
    """Dense float arrays as float64 (lbfgs is several times faster than on float32)."""
    if isinstance(features, np.ndarray) and features.dtype.kind == "f":
        return features.astype(np.float64, copy=False)
    return features


def _make_model(kind: str, c: float, alpha: float, sparse_input: bool, seed: int) -> Pipeline:
    scaler = StandardScaler(with_mean=not sparse_input)
    if kind == "logistic":
        return make_pipeline(scaler, LogisticRegression(C=c, max_iter=2000, random_state=seed))
    if kind == "ridge":
        return make_pipeline(scaler, Ridge(alpha=alpha))
    raise ValueError(f"kind must be 'logistic' or 'ridge', not {kind!r}")


def _fit_head(
    make: Any,
    features: Any,
    ratings: np.ndarray | pd.Series,
    groups: np.ndarray | pd.Series,
    seed: int,
    kind: str,
    val_size: float,
    refit: bool,
) -> SentimentHead:
    y = np.asarray(pd.array(ratings, dtype="Int64").to_numpy(dtype=float, na_value=np.nan))
    if np.isnan(y).any():
        raise ValueError("ratings must not be missing: select the rated reviews first")
    y = y.astype(int)
    features = _dense64(features)
    groups = np.asarray(groups)
    if len(y) != _n_rows(features) or len(groups) != len(y):
        raise ValueError("features, ratings and groups must have the same number of rows")
    splitter = GroupShuffleSplit(n_splits=1, test_size=val_size, random_state=seed)
    train, val = next(splitter.split(np.zeros(len(y)), y, groups))
    head = SentimentHead(make().fit(_rows(features, train), y[train]), kind)
    head.rating_range = (int(min(y.min(), 1)), int(max(y.max(), 5)))
    expected = head.expected_rating(_rows(features, val))
    predicted = head.predict_rating(_rows(features, val))
    y_val, y_train = y[val], y[train]
    majority = np.bincount(y_train).argmax()
    head.validation = {
        "accuracy": float(np.mean(predicted == y_val)),
        "accuracy_majority": float(np.mean(y_val == majority)),
        "mae": float(np.mean(np.abs(expected - y_val))),
        "mae_constant": float(np.mean(np.abs(y_train.mean() - y_val))),
        "spearman": float(spearmanr(expected, y_val).statistic),
        "pearson": float(np.corrcoef(expected, y_val)[0, 1]),
        "n_train": len(train),
        "n_val": len(val),
        "n_val_users": len(np.unique(groups[val])),
        "refit_on_all": bool(refit),
    }
    if refit:
        head.model = make().fit(features, y)
    return head


def _n_rows(features: Any) -> int:
    return features.shape[0] if hasattr(features, "shape") else len(features)


def _rows(features: Any, idx: np.ndarray) -> Any:
    if isinstance(features, pd.Series | pd.DataFrame):
        return features.iloc[idx]
    if isinstance(features, list):
        return [features[i] for i in idx]
    return features[idx]


def fit_sentiment_head(
    embeddings: np.ndarray,
    ratings: np.ndarray | pd.Series,
    groups: np.ndarray | pd.Series,
    seed: int,
    kind: str = "logistic",
    c: float = 0.1,
    alpha: float = 10.0,
    val_size: float = 0.2,
    refit: bool = True,
) -> SentimentHead:
    """Fit a sentiment head on review embeddings and star ratings.

    Parameters
    ----------
    embeddings : ndarray ``(n, dim)`` (or any dense/sparse feature matrix)
    ratings : array of int
        Star ratings (1-5) of the same reviews.
    groups : array
        Customer of each review (``user_id``); the validation split holds out a
        ``val_size`` share of customers (``GroupShuffleSplit``, ``random_state=seed``).
    seed : int
    kind : {"logistic", "ridge"}
        Multinomial logistic regression on standardised features (score = expected
        rating), or ridge regression on the rating.
    c, alpha : float
        Inverse L2 strength of the logistic regression; ridge penalty.
    refit : bool
        Refit on all reviews after validation (the validation figures stay those of
        the held-out customers).

    Returns
    -------
    SentimentHead
        With ``.score(embeddings)`` in ``[-1, 1]`` and ``.validation`` metrics.
    """
    sparse_input = sp.issparse(embeddings)
    return _fit_head(
        lambda: _make_model(kind, c, alpha, sparse_input, seed),
        embeddings,
        ratings,
        groups,
        seed,
        kind,
        val_size,
        refit,
    )


def fit_tfidf_sentiment_head(
    texts: pd.Series | list[str] | np.ndarray,
    ratings: np.ndarray | pd.Series,
    groups: np.ndarray | pd.Series,
    seed: int,
    kind: str = "logistic",
    c: float = 0.1,
    alpha: float = 10.0,
    val_size: float = 0.2,
    refit: bool = True,
    n_components: int | None = None,
) -> SentimentHead:
    """The head of :func:`fit_sentiment_head` on TF-IDF features of the raw texts.

    The vectoriser (word 1-2-grams, sublinear tf, ``min_df=2``; optionally followed by a
    truncated SVD to ``n_components`` dims) is part of the fitted pipeline, so it only
    sees the training customers' texts during validation. ``.score`` takes raw texts.
    """
    texts = pd.Series(list(texts), dtype=object)

    def make() -> Pipeline:
        steps: list[tuple[str, Any]] = [("tfidf", _tfidf())]
        if n_components:
            steps.append(("svd", CappedSVD(n_components, random_state=seed)))
        head = _make_model(kind, c, alpha, sparse_input=not n_components, seed=seed)
        return Pipeline(steps + head.steps)

    return _fit_head(make, texts, ratings, groups, seed, kind, val_size, refit)


# ---- TF-IDF baseline and keywords -----------------------------------------------------


class CappedSVD(TruncatedSVD):
    """Truncated SVD that keeps at most (number of input columns − 1) components.

    A shop whose texts use a small vocabulary (few distinct words) would otherwise stop
    the stage: a TF-IDF matrix of 14 terms cannot give 100 components.
    """

    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
        self.n_components = max(1, min(int(self.n_components), X.shape[1] - 1))
        return super().fit_transform(X, y)


def _tfidf(**kwargs: Any) -> TfidfVectorizer:
    opts = {
        "ngram_range": (1, 2),
        "min_df": 2,
        "sublinear_tf": True,
        "token_pattern": TOKEN_PATTERN,
        "dtype": np.float32,
    }
    return TfidfVectorizer(**(opts | kwargs))


def tfidf_svd(
    texts: pd.Series | list[str] | np.ndarray, n_components: int, seed: int, **tfidf_kwargs: Any
) -> tuple[np.ndarray, Pipeline]:
    """TF-IDF of word 1-2-grams reduced by truncated SVD (latent semantic analysis).

    Parameters
    ----------
    texts : sequence of str
    n_components : int
        SVD dimensions (capped at the vocabulary size minus one).
    seed : int
        ``random_state`` of the randomised SVD.
    **tfidf_kwargs
        Overrides of the ``TfidfVectorizer`` defaults (``ngram_range=(1, 2)``,
        ``min_df=2``, ``sublinear_tf=True``, contractions kept as tokens).

    Returns
    -------
    matrix : ndarray float32 ``(n, k)``
    pipeline : fitted ``Pipeline(tfidf, svd)``; ``pipeline.transform(new_texts)``.

    References
    ----------
    Deerwester et al. (1990), Indexing by latent semantic analysis, JASIS.
    """
    texts = list(texts)
    tfidf = _tfidf(**tfidf_kwargs)
    x = tfidf.fit_transform(texts)
    k = max(1, min(int(n_components), x.shape[1] - 1))
    svd = TruncatedSVD(k, random_state=seed)
    matrix = svd.fit_transform(x).astype(np.float32)
    return matrix, Pipeline([("tfidf", tfidf), ("svd", svd)])


def top_keywords(
    texts: pd.Series | list[str] | np.ndarray,
    groups: pd.Series | list | np.ndarray,
    n: int = 10,
    ngram_range: tuple[int, int] = (1, 2),
    min_df: int = 3,
    prior: float = 0.01,
) -> pd.DataFrame:
    """Most distinctive terms of each group (e.g. rating level) against the others.

    Score: the z-score of the weighted log-odds ratio of a term in the group vs the rest,
    with an informative Dirichlet prior proportional to the term's overall frequency
    (``prior`` times its total count), so rare terms are shrunk and very common terms
    ("the", "was") score near zero without a stop-word list.

    Returns
    -------
    DataFrame
        ``group, rank (1..n), term, z, count`` (count = occurrences in the group), sorted
        by group and rank.

    References
    ----------
    Monroe, Colaresi & Quinn (2008), Fightin' words, Political Analysis 16(4).
    """
    texts = list(texts)
    groups = pd.Series(list(groups))
    if len(texts) != len(groups):
        raise ValueError("texts and groups must have the same length")
    columns = ["group", "rank", "term", "z", "count"]
    if not texts:
        return pd.DataFrame(columns=columns)
    vec = CountVectorizer(
        ngram_range=ngram_range,
        min_df=min(min_df, len(texts)),
        token_pattern=TOKEN_PATTERN,
        lowercase=True,
    )
    x = vec.fit_transform(texts)
    codes, labels = pd.factorize(groups, sort=True)
    member = sp.csr_matrix(
        (np.ones(len(codes)), (codes, np.arange(len(codes)))), shape=(len(labels), len(codes))
    )
    counts = np.asarray((member @ x).todense(), dtype=float)  # (groups, terms)
    total = counts.sum(axis=0)
    a = prior * total + 1e-9  # informative prior: pseudo-counts proportional to frequency
    a0 = a.sum()
    rest = total - counts
    n_g = counts.sum(axis=1, keepdims=True)
    n_r = rest.sum(axis=1, keepdims=True)
    delta = np.log((counts + a) / (n_g + a0 - counts - a)) - np.log(
        (rest + a) / (n_r + a0 - rest - a)
    )
    z = delta / np.sqrt(1.0 / (counts + a) + 1.0 / (rest + a))
    terms = vec.get_feature_names_out()
    k = min(n, len(terms))
    top = np.argsort(-z, axis=1, kind="stable")[:, :k]
    rows = np.repeat(np.arange(len(labels)), k)
    cols = top.ravel()
    return pd.DataFrame(
        {
            "group": np.asarray(labels)[rows],
            "rank": np.tile(np.arange(1, k + 1), len(labels)),
            "term": terms[cols],
            "z": z[rows, cols],
            "count": counts[rows, cols].astype(int),
        }
    )


# ---- per-user features ----------------------------------------------------------------


def fit_text_pca(embeddings: np.ndarray, n_components: int, seed: int) -> PCA:
    """PCA of review embeddings (``svd_solver="full"`` for determinism), capped in size."""
    k = max(1, min(int(n_components), embeddings.shape[0], embeddings.shape[1]))
    return PCA(n_components=k, svd_solver="full", random_state=seed).fit(embeddings)


def _empty_user_features(k: int) -> pd.DataFrame:
    cols = [f"txt_mean_{j}" for j in range(k)] + [f"txt_last_{j}" for j in range(k)]
    frame = pd.DataFrame({c: pd.Series([], dtype=float) for c in cols})
    for c in USER_SCALAR_COLUMNS:
        frame[c] = pd.Series([], dtype="int64" if c == "review_count" else float)
    frame.index = pd.Index([], dtype=str, name="user_id")
    return frame


#: Embedding dimensions that ``text.n_components: auto`` gives texts without star ratings.
AUTO_EMBEDDING_DIMS = 8


def resolve_embedding_dims(
    n_components: int | str, has_ratings: bool, auto_dims: int = AUTO_EMBEDDING_DIMS
) -> int:
    """PCA dimensions of the per-customer embedding columns for ``text.n_components``.

    ``"auto"`` gives 0 (no embedding columns) when the reviews carry star ratings: the
    sentiment head trained on them summarises the text in a few scalars, and on
    ``shopsim`` the 2 x 8 embedding columns cost the deep model Gini (notebook 06b,
    section 2). Without ratings (product descriptions, unrated reviews) no head can be
    trained and the embedding columns are the only text signal, so ``"auto"`` gives
    ``auto_dims``. A whole number ``>= 0`` is used as it is.

    Raises ``ValueError`` naming the parameter for anything else.
    """
    if isinstance(n_components, str) and n_components.strip().lower() == "auto":
        return 0 if has_ratings else int(auto_dims)
    if isinstance(n_components, bool) or not isinstance(n_components, int | np.integer):
        raise ValueError(
            f"text.n_components must be 'auto' or a whole number >= 0, got {n_components!r}"
        )
    if n_components < 0:
        raise ValueError(f"text.n_components must be >= 0, got {n_components}")
    return int(n_components)


def user_text_features(
    reviews: pd.DataFrame,
    embeddings: np.ndarray,
    sentiment: np.ndarray,
    as_of: pd.Timestamp | str,
    n_components: int | str,
    seed: int,
    pca: PCA | None = None,
    trend_prior_days: float = 30.0,
) -> pd.DataFrame:
    """Per-user text features from the reviews written before ``as_of``.

    Parameters
    ----------
    reviews : DataFrame
        ``user_id``, ``ts`` (UTC) and optionally ``rating``; one row per review (or text).
    embeddings : ndarray ``(len(reviews), dim)``
        Row-aligned with ``reviews``.
    sentiment : ndarray ``(len(reviews),)``
        Row-aligned sentiment scores (e.g. :meth:`SentimentHead.score`).
    as_of : timestamp
        End of the calibration period (exclusive). A review at or after it raises
        ``ValueError``: a leakage guard, filter with ``Split.calibration`` first.
    n_components : int or "auto"
        Dimensions of the reduced embeddings; 0 leaves the embedding columns out.
        ``"auto"``: 0 when ``reviews`` carry any rating, else
        :data:`AUTO_EMBEDDING_DIMS` (:func:`resolve_embedding_dims`).
    seed : int
    pca : PCA, optional
        A PCA fitted elsewhere (e.g. on the training customers' reviews). By default a
        PCA is fitted on the given reviews' embeddings.
    trend_prior_days : float
        Shrinkage ``tau`` of the sentiment trend (see below), in days.

    Returns
    -------
    DataFrame indexed by ``user_id`` (users with at least one review)
        ``txt_mean_0..k-1`` (mean of the reduced review embeddings; PCA is linear, so
        equal to the reduced mean embedding), ``txt_last_0..k-1`` (the most recent
        review, ties broken by row order), ``sentiment_mean``, ``sentiment_min``,
        ``sentiment_last``, ``sentiment_trend`` (slope of sentiment against time per 365
        days, ``sum((t - tbar) s) / (sum((t - tbar)^2) + tau^2)``: the least-squares slope
        shrunk towards 0 so that two reviews a few days apart do not give huge slopes;
        ``tau = 0`` is plain least squares; 0 with one review),
        ``review_count``, ``days_since_last_review`` (to ``as_of``), ``mean_rating``
        (NaN without ratings). Columns beyond the PCA's size are 0.
    """
    as_of = as_utc(as_of)
    n = len(reviews)
    embeddings, sentiment, k = _checked_review_inputs(reviews, embeddings, sentiment, n_components)
    if n == 0:
        return _empty_user_features(k)
    ts = pd.to_datetime(reviews["ts"], utc=True)
    _guard_late_reviews(reviews, ts, as_of)
    reduced = _reduced_embeddings(embeddings, k, seed, pca)
    frame = _review_frame(reviews, ts, as_of, sentiment)
    g = frame.groupby("user_id", sort=True)
    agg = g.agg(
        sentiment_mean=("s", "mean"),
        sentiment_min=("s", "min"),
        review_count=("s", "size"),
        t_last=("t", "max"),
        mean_rating=("rating", "mean"),
    )
    last_rows = g["row"].last().to_numpy()
    slope = _sentiment_slope(frame, g, trend_prior_days)
    out = _embedding_columns(agg, reviews, reduced, last_rows, k)
    out["sentiment_mean"] = agg["sentiment_mean"].to_numpy()
    out["sentiment_min"] = agg["sentiment_min"].to_numpy()
    out["sentiment_last"] = sentiment[last_rows]
    out["sentiment_trend"] = slope * 365.0
    out["review_count"] = agg["review_count"].to_numpy().astype("int64")
    out["days_since_last_review"] = -agg["t_last"].to_numpy()
    out["mean_rating"] = agg["mean_rating"].to_numpy()
    out.index = pd.Index(out.index.astype(str), dtype=str, name="user_id")
    return out


def _checked_review_inputs(
    reviews: pd.DataFrame, embeddings: np.ndarray, sentiment: np.ndarray, n_components: int | str
) -> tuple[np.ndarray, np.ndarray, int]:
    """Embeddings and sentiment as arrays, one row per review, and the embedding dims."""
    n = len(reviews)
    embeddings = np.asarray(embeddings)
    sentiment = np.asarray(sentiment, dtype=float)
    if embeddings.ndim != 2 or embeddings.shape[0] != n or sentiment.shape != (n,):
        raise ValueError(
            f"embeddings {embeddings.shape} and sentiment {sentiment.shape} must have one "
            f"row per review ({n})"
        )
    rated = "rating" in reviews and bool(
        pd.to_numeric(reviews["rating"], errors="coerce").notna().any()
    )
    return embeddings, sentiment, resolve_embedding_dims(n_components, has_ratings=rated)


def _guard_late_reviews(reviews: pd.DataFrame, ts: pd.Series, as_of: pd.Timestamp) -> None:
    """Leakage guard: raise ``ValueError`` for any review at or after ``as_of``."""
    late = (ts >= as_of).to_numpy()
    if late.any():
        example = reviews.loc[late].iloc[0]
        raise ValueError(
            f"{int(late.sum())} reviews at or after as_of={as_of} (leakage guard); first: "
            f"user_id={example['user_id']!r}, ts={example['ts']}"
        )


def _reduced_embeddings(embeddings: np.ndarray, k: int, seed: int, pca: PCA | None) -> np.ndarray:
    """The embeddings reduced to ``k`` PCA dimensions (0 beyond the PCA's size)."""
    reduced = np.zeros((len(embeddings), k))
    if k > 0:  # n_components = 0: no embedding columns, only the scalar summaries
        if pca is None:
            pca = fit_text_pca(embeddings, k, seed)
        got = min(k, pca.n_components_)
        reduced[:, :got] = pca.transform(embeddings)[:, :got]
    return reduced


def _review_frame(
    reviews: pd.DataFrame, ts: pd.Series, as_of: pd.Timestamp, sentiment: np.ndarray
) -> pd.DataFrame:
    """One row per review: ``user_id``, days ``t`` to ``as_of``, sentiment ``s``,
    ``rating`` and input ``row``, sorted by user, time and row."""
    n = len(reviews)
    frame = pd.DataFrame(
        {
            "user_id": reviews["user_id"].to_numpy(),
            "t": ((ts - as_of) / pd.Timedelta(days=1)).to_numpy(dtype=float),
            "s": sentiment,
            "rating": (
                pd.to_numeric(reviews["rating"], errors="coerce").to_numpy(dtype=float)
                if "rating" in reviews
                else np.full(n, np.nan)
            ),
            "row": np.arange(n),
        }
    )
    return frame.sort_values(["user_id", "t", "row"], kind="stable")


def _sentiment_slope(
    frame: pd.DataFrame, g: pd.api.typing.DataFrameGroupBy, trend_prior_days: float
) -> np.ndarray:
    """Shrunk least-squares slope per user (per day), grouped by ``g``:
    ``sum((t - tbar) s) / (sum((t - tbar)^2) + tau^2)``."""
    tc = frame["t"] - g["t"].transform("mean")
    sxy = (tc * frame["s"]).groupby(frame["user_id"], sort=True).sum()
    sxx = (tc * tc).groupby(frame["user_id"], sort=True).sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        denom = sxx.to_numpy() + float(trend_prior_days) ** 2
        return np.where(denom > 1e-12, sxy.to_numpy() / denom, 0.0)


def _embedding_columns(
    agg: pd.DataFrame,
    reviews: pd.DataFrame,
    reduced: np.ndarray,
    last_rows: np.ndarray,
    k: int,
) -> pd.DataFrame:
    """``txt_mean_*`` (mean reduced embedding) and ``txt_last_*`` per user of ``agg``."""
    sums = np.zeros((len(agg), k))
    user_codes = pd.Index(agg.index).get_indexer(reviews["user_id"].to_numpy())
    np.add.at(sums, user_codes, reduced)
    means = sums / agg["review_count"].to_numpy()[:, None]
    out = pd.DataFrame(means, index=agg.index, columns=[f"txt_mean_{j}" for j in range(k)])
    last = pd.DataFrame(
        reduced[last_rows], index=agg.index, columns=[f"txt_last_{j}" for j in range(k)]
    )
    return pd.concat([out, last], axis=1)


def plot_sentiment_vs_truth(per_user: pd.DataFrame) -> plt.Figure:
    """Per-user mean sentiment (language model, TF-IDF) against true latent satisfaction.

    ``per_user`` has columns ``lm``, ``tfidf`` and ``satisfaction`` (shopsim's truth).
    """
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    sample = per_user.sample(min(len(per_user), 3000), random_state=0)
    bins = pd.qcut(per_user["satisfaction"], 20, duplicates="drop")
    binned = per_user.groupby(bins, observed=True).mean()
    for ax, column, title in zip(axes, ("lm", "tfidf"), ("language model", "TF-IDF"), strict=True):
        sns.scatterplot(sample, x="satisfaction", y=column, ax=ax, s=6, alpha=0.3)
        ax.plot(
            binned["satisfaction"], binned[column], color="crimson", marker="o", label="bin mean"
        )
        ax.set(
            title=f"{title}: mean review sentiment per user",
            xlabel="true latent satisfaction",
            ylabel="sentiment score",
        )
        ax.legend()
    fig.tight_layout()
    return fig


def align_user_text_features(
    text: pd.DataFrame, customers: pd.Index, no_review_days: float
) -> pd.DataFrame:
    """Text block for every customer: reviewers' features, explicit values for the rest.

    Customers without a calibration review get ``has_review = 0``, ``review_count = 0``,
    ``days_since_last_review = no_review_days`` (e.g. the length of the history), and 0
    for embeddings, sentiment and trend; ``mean_rating`` and the read ratings
    ``read_rating_*`` (if present) get the reviewers' mean, so "no review" is carried by
    ``has_review``, not by an invented rating. An empty ``text`` (no text in the
    dataset) gives an empty frame.
    """
    if text.empty:
        return pd.DataFrame(index=customers)
    out = text.reindex(customers)
    has_review = out["review_count"].notna()
    fills = {column: 0.0 for column in out.columns}
    fills["days_since_last_review"] = float(no_review_days)
    for column in ("mean_rating", *READ_RATING_COLUMNS):
        if column in out.columns:
            fills[column] = float(text[column].mean())
    out = out.fillna(fills)
    out.insert(0, "has_review", has_review.astype("int64"))
    out["review_count"] = out["review_count"].astype("int64")
    return out


# ---- candidate review features (notebook 06b measures whether they pay) ----------------

#: Zero-shot aspect descriptions: (positive, negative) per aspect of shopsim's reviews.
ASPECT_DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "delivery": (
        "fast delivery, the parcel arrived early and well packed",
        "slow delivery, the package arrived late or damaged",
    ),
    "quality": (
        "excellent quality, well made and durable",
        "poor quality, cheap material that broke quickly",
    ),
    "price": ("great value for money, a real bargain", "overpriced and not worth the money"),
    "service": (
        "helpful and friendly customer service",
        "rude and unhelpful customer service, no refund",
    ),
}


def aspect_scores(embeddings: np.ndarray, descriptions: np.ndarray) -> np.ndarray:
    """Zero-shot aspect polarity of each review: ``cos(e, pos_a) - cos(e, neg_a)``.

    Parameters
    ----------
    embeddings : ndarray ``(n, dim)``
        L2-normalised review embeddings.
    descriptions : ndarray ``(2 * k, dim)``
        Embeddings of the positive and negative description of each of ``k`` aspects,
        in the order pos_0, neg_0, pos_1, neg_1, ... (e.g. of
        :data:`ASPECT_DESCRIPTIONS`), L2-normalised.

    Returns
    -------
    ndarray ``(n, k)``
    """
    descriptions = np.asarray(descriptions, dtype=np.float32)
    if descriptions.ndim != 2 or descriptions.shape[0] % 2:
        raise ValueError("descriptions must hold a positive and a negative row per aspect")
    sims = np.asarray(embeddings, dtype=np.float32) @ descriptions.T
    return sims[:, 0::2] - sims[:, 1::2]


def review_signal_features(
    reviews: pd.DataFrame,
    sentiment: np.ndarray,
    as_of: pd.Timestamp | str,
    half_life_days: float = 90.0,
    aspects: np.ndarray | None = None,
    aspect_names: tuple[str, ...] = tuple(ASPECT_DESCRIPTIONS),
) -> pd.DataFrame:
    """Candidate per-customer review features beyond :func:`user_text_features`.

    Parameters
    ----------
    reviews : DataFrame
        ``user_id``, ``ts`` (before ``as_of``) and optionally ``rating``.
    sentiment : ndarray ``(len(reviews),)``
        Review sentiment in ``[-1, 1]``.
    as_of : timestamp
        End of the calibration period; a later review raises ``ValueError``.
    half_life_days : float
        Half-life of the recency weights ``0.5 ** (age / half_life_days)``.
    aspects : ndarray ``(len(reviews), k)``, optional
        :func:`aspect_scores` per review, averaged per customer as ``aspect_<name>``.

    Returns
    -------
    DataFrame indexed by ``user_id``
        ``sentiment_recent`` (recency-weighted mean sentiment), ``sentiment_worst_rated``
        (sentiment of the lowest-rated review, the latest among ties; the minimum
        sentiment without ratings) and ``aspect_<name>`` columns.
    """
    as_of = as_utc(as_of)
    ts = pd.to_datetime(reviews["ts"], utc=True)
    if (ts >= as_of).any():
        raise ValueError(f"reviews at or after as_of={as_of} (leakage guard)")
    age = ((as_of - ts) / pd.Timedelta(days=1)).to_numpy(dtype=float)
    weight = 0.5 ** (age / float(half_life_days))
    s = np.asarray(sentiment, dtype=float)
    rating = (
        pd.to_numeric(reviews["rating"], errors="coerce").to_numpy(dtype=float)
        if "rating" in reviews
        else np.full(len(reviews), np.nan)
    )
    frame = pd.DataFrame(
        {
            "user_id": reviews["user_id"].astype(str).to_numpy(),
            "w": weight,
            "ws": weight * s,
            "s": s,
            # lowest rating first, then the latest review: sort key (rating, age)
            "key_rating": np.where(np.isnan(rating), s, rating),
            "key_age": age,
        }
    )
    grouped = frame.groupby("user_id", sort=True)
    out = pd.DataFrame(index=grouped.size().index)
    out["sentiment_recent"] = grouped["ws"].sum() / grouped["w"].sum()
    worst = frame.sort_values(["user_id", "key_rating", "key_age"], kind="stable")
    out["sentiment_worst_rated"] = worst.groupby("user_id", sort=True)["s"].first()
    if aspects is not None:
        aspects = np.asarray(aspects, dtype=float)
        means = pd.DataFrame(aspects, columns=[f"aspect_{a}" for a in aspect_names])
        means["user_id"] = frame["user_id"].to_numpy()
        out = out.join(means.groupby("user_id", sort=True).mean())
    out.index = pd.Index(out.index.astype(str), dtype=str, name="user_id")
    return out
