"""When do reviews pay? Ceilings for text and the satisfaction-signal sweep (notebook 06b).

On ``shopsim`` the value signal in review text is known: the simulator's latent
satisfaction ``z`` changes how long a customer stays (:mod:`helpers.data.shopsim`, knob
``kappa``). The same model is trained four times, with four customer blocks added to
the behaviour features:

* (a) ``no_text`` — the *fact* of reviewing only (``has_review``, ``review_count``,
  ``days_since_last_review``): a customer who writes reviews is alive, whatever the
  words say, so this is behaviour, not text;
* (b) ``text`` — today's text features (:func:`helpers.features.text.user_text_features`);
* (c) ``satisfaction`` — the fact of reviewing plus the reviewer's **true** latent
  satisfaction (0 for customers without a calibration review): what the customers
  felt, an upper bound on what their reviews could reveal. Report only, never an input
  of the study's models;
* (d) ``ratings`` — the fact of reviewing plus the star ratings (mean, last).

A second ceiling, (c') ``reader``, is used in the sweep: the compact text block plus what
a bag-of-words model trained on the truth reads from the review words
(:func:`text_reader_features`). (c) - (c') is value signal the texts never carried;
(c') - (b) is signal the text features lose. A third, (c'') ``experience``, replaces the
reader's readings by the true experience behind each review (:func:`sweep_point`):
(c) - (c'') is satisfaction no review reveals, (c'') - (c') experience the words leave
unsaid.

The **text recovery rate** is ``(G_b - G_a) / (G_c - G_a)`` with ``G`` the normalised
Gini of holdout spend; its interval comes from a paired bootstrap over customers (the
same resampled customers for every variant). When the ceiling ``G_c - G_a`` is near 0
the ratio is unstable and says little; the gains themselves are reported too.

The sweep (:func:`sweep_point`) re-simulates the shop at several ``kappa`` with the
same seed (common random numbers: the same customers, purchases and review texts, see
:mod:`helpers.data.shopsim`) and evaluates (a)-(d) with cross-fitted LightGBM on a
random subset of customers.

References
----------
Efron & Tibshirani (1993), An Introduction to the Bootstrap (percentile intervals).
Bolton (1998), Marketing Science 17(1), 45-65 (satisfaction and relationship duration).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers.data.shopsim import ShopSimConfig, simulate_shop
from helpers.data.split import Split, make_targets
from helpers.evaluation.metrics import gini_raw_of_resamples, normalized_gini
from helpers.features import text as text_features
from helpers.features.behaviour import FeatureScaler, behaviour_features
from helpers.features.rating_reader import (
    READ_RATING_COLUMNS,
    RatingReader,
    by_reviewer,
    read_rating_features,
    reviewer_frame,
    study_read_ratings,
)
from helpers.models.crossfit import crossfit_splits, customer_folds
from helpers.models.deep import CONTINUOUS_CHANNELS, predict_deep, prepare_inputs, train_deep
from helpers.models.deep.parallel import WorkerJobs, shared, start_in_workers
from helpers.models.gbdt import crossfit_gbdt

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


# ---- variant blocks -------------------------------------------------------------------


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


#: Variants that know the simulator's truth (ceilings): never measured against (c').
CEILINGS: tuple[str, ...] = ("satisfaction", "experience")

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


def compact_columns(text_block: pd.DataFrame) -> list[str]:
    """The text block's columns without its PCA-reduced embeddings (``txt_mean_*``, ...)."""
    return [c for c in text_block.columns if not c.startswith(("txt_mean_", "txt_last_"))]


# ---- scores and the recovery rate -----------------------------------------------------


def recovery_rate(gini_a: float, gini_b: float, gini_c: float) -> float:
    """``(G_b - G_a) / (G_c - G_a)``: the share of the text ceiling that text recovers.

    ``nan`` when the ceiling is not positive (there is nothing to recover).
    """
    ceiling = gini_c - gini_a
    return float((gini_b - gini_a) / ceiling) if ceiling > 0 else float("nan")


#: Resampling counts held in memory at once by :func:`bootstrap_gini` (replicates x customers).
_BOOT_CELLS = 4_000_000


def bootstrap_gini(
    actual: pd.Series, predictions: pd.DataFrame, n_boot: int, seed: int
) -> pd.DataFrame:
    """Normalised Gini of every column of ``predictions`` on paired bootstrap samples.

    Each replicate resamples customers with replacement (``default_rng(seed)``) and
    scores every model on the same sample, so differences between columns are paired.
    The replicates are scored at once from their resampling counts
    (:func:`helpers.evaluation.metrics.gini_raw_of_resamples`), with the same result as
    scoring each resample.

    Returns
    -------
    DataFrame ``(n_boot, models)``; ``nan`` where a resample's spend sums to zero or is
    constant.
    """
    y = actual.reindex(predictions.index).to_numpy(dtype=float)
    scores = {c: predictions[c].to_numpy(dtype=float) for c in predictions.columns}
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_boot, _BOOT_CELLS // max(len(y), 1)))  # bounded memory
    parts: list[pd.DataFrame] = []
    for start in range(0, n_boot, chunk):
        weights = np.stack(
            [
                np.bincount(rng.integers(0, len(y), len(y)), minlength=len(y))
                for _ in range(min(chunk, n_boot - start))
            ]
        ).astype(float)
        perfect = gini_raw_of_resamples(y, y, weights)
        with np.errstate(divide="ignore", invalid="ignore"):
            parts.append(
                pd.DataFrame(
                    {
                        c: np.where(
                            perfect > 0, gini_raw_of_resamples(y, s, weights) / perfect, np.nan
                        )
                        for c, s in scores.items()
                    }
                )
            )
    if not parts:  # n_boot = 0
        return pd.DataFrame(columns=predictions.columns, dtype=float)
    return pd.concat(parts, ignore_index=True)[list(predictions.columns)]


def recovery_summary(
    actual: pd.Series,
    predictions: pd.DataFrame,
    n_boot: int,
    seed: int,
    level: float = 0.9,
) -> dict[str, float]:
    """Ginis, gains over (a), the recovery rate and their paired bootstrap intervals.

    ``predictions`` has columns ``no_text``, ``text``, ``satisfaction`` and optionally
    ``ratings``, ``reader`` (ceiling (c'), :func:`text_reader_features`),
    ``experience`` (ceiling (c''), the perfect reader of :func:`sweep_point`) and
    candidate blocks (predicted holdout spend per customer).

    Returns
    -------
    dict
        ``gini_<variant>``; ``gain_<variant>`` (Gini over (a)) with ``_lo`` / ``_hi``
        (``level`` percentile interval); ``recovery`` (of ``text``) and
        ``recovery_<variant>`` (of any further column) with ``_lo`` / ``_hi`` (nan when
        fewer than half the replicates have a positive ceiling); with a ``reader`` column,
        the same shares of its ceiling as ``recovery_vs_reader`` and
        ``recovery_<variant>_vs_reader`` (``recovery_reader`` is then the share of (c)
        that the words hold, ``recovery_experience`` the share a perfect reader of the
        reviews would get); ``n_customers``, ``n_boot``.
    """
    y = actual.reindex(predictions.index)
    point = {c: normalized_gini(y, predictions[c]) for c in predictions.columns}
    boot = bootstrap_gini(y, predictions, n_boot, seed)
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    out: dict[str, float] = {f"gini_{c}": float(v) for c, v in point.items()}
    for c in predictions.columns:
        if c == "no_text":
            continue
        gains = boot[c] - boot["no_text"]
        out[f"gain_{c}"] = float(point[c] - point["no_text"])
        out[f"gain_{c}_lo"], out[f"gain_{c}_hi"] = (float(q) for q in gains.quantile([lo_q, hi_q]))
    for ceiling_name, suffix in (("satisfaction", ""), ("reader", "_vs_reader")):
        if ceiling_name not in predictions.columns:
            continue
        ceiling = (boot[ceiling_name] - boot["no_text"]).to_numpy()
        for c in predictions.columns:
            if c in ("no_text", ceiling_name) or (suffix and c in CEILINGS):
                continue
            key = ("recovery" if c == "text" else f"recovery_{c}") + suffix
            out[key] = recovery_rate(point["no_text"], point[c], point[ceiling_name])
            with np.errstate(divide="ignore", invalid="ignore"):
                gained = (boot[c] - boot["no_text"]).to_numpy()
                boot_rate = np.where(ceiling > 0, gained / ceiling, np.nan)
            finite = boot_rate[np.isfinite(boot_rate)]
            out[f"{key}_lo"], out[f"{key}_hi"] = (
                (float(np.quantile(finite, lo_q)), float(np.quantile(finite, hi_q)))
                if len(finite) > n_boot // 2
                else (float("nan"), float("nan"))
            )
    out["n_customers"] = len(y)
    out["n_boot"] = int(n_boot)
    return out


# ---- model runs -----------------------------------------------------------------------


def gbdt_variants(
    behaviour: pd.DataFrame,
    blocks: Mapping[str, pd.DataFrame],
    holdout_spend: pd.Series,
    folds: np.ndarray,
    seed: int,
    **gbdt_kwargs: Any,
) -> pd.DataFrame:
    """Cross-fitted LightGBM predictions of holdout spend for each variant block.

    Every variant uses the same folds, seed and early-stopping customers
    (:func:`helpers.models.gbdt.crossfit_gbdt`), so the variants differ only in the
    block added to ``behaviour``. Only the spend model is fitted (the variants are
    ranked by predicted spend; its predictions are those of the full cross-fit).
    Returns one column per variant, index = customers.
    """
    out = {}
    for name, block in blocks.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            result = crossfit_gbdt(
                behaviour.join(block),
                holdout_spend,
                seed=seed,
                folds=folds,
                fit_p_zero=False,
                **gbdt_kwargs,
            )
        out[name] = result.spend
    return pd.DataFrame(out, index=behaviour.index)


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
        :func:`candidate_blocks` (``None`` when the block carries them or no reader was
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


# ---- the deep model on one fold ---------------------------------------------------------


def _deep_variant_task(name: str) -> pd.Series:
    """Worker task: train the deep model with variant ``name``'s inputs on one fold."""
    data = shared()
    config = data["config"]
    keep_reviews = name in ("text", "ratings")  # the rating channel of review events
    inputs = prepare_inputs(
        data["batch"],
        data["tabular"],
        data["blocks"][name],
        review_sentiment=data["review_sentiment"] if name == "text" else None,
        max_len=config.max_len,
    )
    if not keep_reviews:
        inputs.cont[:, :, CONTINUOUS_CHANNELS.index("rating")] = 0.0
    split = data["split"]
    scaler = data["scaler"]
    trained = train_deep(
        inputs,
        data["spend"],
        data["zero"],
        split.fit,
        split.valid,
        config,
        seed=data["seed"] + split.fold,
        progress=False,
        tabular_scaler=FeatureScaler.from_dict(scaler) if scaler else None,
    )
    return predict_deep(trained, inputs, split.test)["predicted_spend"]


class PendingDeepVariants:
    """Deep-model variants training in worker processes (:func:`start_deep_variants_on_fold`).

    :meth:`result` waits for them and returns the fold's predictions, one column per
    variant.
    """

    def __init__(self, jobs: WorkerJobs, names: list[str], restore: Any = None) -> None:
        self._jobs, self._names, self._restore = jobs, names, restore

    def done(self) -> bool:
        """Whether every training has finished (without waiting)."""
        return self._jobs.done()

    def result(self) -> pd.DataFrame:
        """Wait for the trainings; predicted holdout spend of the fold's customers."""
        try:
            results = self._jobs.results()
        finally:
            if self._restore is not None:
                self._restore()
                self._restore = None
        return pd.DataFrame(dict(zip(self._names, results, strict=True)))


def start_deep_variants_on_fold(
    batch: Any,
    tabular: pd.DataFrame,
    blocks: Mapping[str, pd.DataFrame],
    customers: pd.DataFrame,
    folds: np.ndarray,
    config: Any,
    seed: int,
    review_sentiment: np.ndarray | None,
    scalers: Mapping[Any, Any] | None,
    fold: int = 0,
    n_jobs: int = 2,
    threads: int = 1,
    caller_threads: int | None = None,
) -> PendingDeepVariants:
    """Start the deep model of notebook 04b once per variant, on one fold, and return at once.

    The fold's training and early-stopping customers are those of the study
    (:func:`helpers.models.crossfit.crossfit_splits` with ``seed`` and
    ``config.valid_share``), its seed ``seed + fold``, so variant ``text`` reproduces
    04b's main model on that fold. Variants other than ``text`` get no review sentiment
    in the event sequence; ``no_text`` and ``satisfaction`` also lose the rating
    channel (ratings are not part of their information). One fold costs a fifth of a
    full cross-fit; the trainings run in ``n_jobs`` worker processes with ``threads``
    torch threads each (:func:`helpers.models.deep.parallel.start_in_workers`), so the
    caller can fit other models meanwhile; every training is seeded, so the results do
    not depend on what else runs. :meth:`PendingDeepVariants.result` collects them.

    ``caller_threads``, if given, caps the calling process's own thread pools (BLAS,
    OpenMP and torch) until the result is collected, so that the caller's work and the
    workers do not oversubscribe the cores (spinning BLAS threads waste a small CPU).
    """
    split = crossfit_splits(folds, seed, config.valid_share)[fold]
    spend = customers["holdout_spend"].to_numpy(dtype=float)
    data = {
        "batch": batch,
        "tabular": tabular,
        "blocks": dict(blocks),
        "review_sentiment": review_sentiment,
        "config": config,
        "split": split,
        "spend": spend,
        "zero": (spend <= 0).astype(float),
        "seed": seed,
        "scaler": None if scalers is None else scalers.get(str(fold), scalers.get(fold)),
    }
    names = list(blocks)
    jobs = start_in_workers(
        _deep_variant_task, [(n,) for n in names], data, n_jobs=n_jobs, threads=threads
    )
    return PendingDeepVariants(jobs, names, _cap_threads(caller_threads))


def _cap_threads(n: int | None) -> Any:
    """Cap this process's BLAS/OpenMP and torch threads at ``n``; return the undo (or None)."""
    if n is None:
        return None
    import torch
    from threadpoolctl import threadpool_limits

    torch_before = torch.get_num_threads()
    limits = threadpool_limits(limits=int(n))
    torch.set_num_threads(int(n))

    def restore() -> None:
        limits.restore_original_limits()
        torch.set_num_threads(torch_before)

    return restore


# ---- the sweep ------------------------------------------------------------------------


def sweep_customers(truth: pd.DataFrame, n: int, seed: int) -> pd.Index:
    """A seeded random subset of ``n`` simulated users (the same for every strength)."""
    users = truth["user_id"].astype(str).to_numpy()
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(users), size=min(int(n), len(users)), replace=False))
    return pd.Index(users[pick], name="user_id")


def replicate_customers(truth: pd.DataFrame, n: int, replicates: int, seed: int) -> list[pd.Index]:
    """``replicates`` further seeded subsets of ``n`` users, disjoint from each other and
    from :func:`sweep_customers` ``(truth, n, seed)``.

    Raises ``ValueError`` when the simulated users cannot fill them all.
    """
    if replicates < 0:
        raise ValueError(f"replicates must be >= 0, got {replicates}")
    users = truth["user_id"].astype(str)
    rest = users[~users.isin(sweep_customers(truth, n, seed))].to_numpy()
    if feasible_replicates(len(users), n, replicates) < replicates:
        raise ValueError(
            f"{replicates} replicates of {n:,} customers need {int(n) * int(replicates):,} "
            f"users besides the sweep's own {int(n):,}; the world has {len(rest):,} more "
            "(lower text_signal.replicates or sweep_customers, or raise n_users)"
        )
    order = np.random.default_rng([seed, 1]).permutation(len(rest))
    return [
        pd.Index(np.sort(rest[order[i * int(n) : (i + 1) * int(n)]]), name="user_id")
        for i in range(int(replicates))
    ]


def feasible_replicates(n_users: int, n_customers: int, replicates: int) -> int:
    """How many of ``replicates`` further disjoint samples of ``n_customers`` users fit in
    a world of ``n_users`` beside the sweep's own sample (:func:`replicate_customers`)."""
    if replicates < 0 or n_customers < 1:
        raise ValueError(
            f"replicates must be >= 0 and n_customers >= 1, got {replicates}, {n_customers}"
        )
    return int(min(replicates, max(0, int(n_users) - int(n_customers)) // int(n_customers)))


def replicate_table(rows: list[Mapping[str, Any]], candidate: str | None = None) -> pd.DataFrame:
    """One line per sample of a world (the sweep's own first, numbered from 0): its
    customers, the gains over (a) of the ceiling, the study's block, ``candidate`` and
    (c') where scored, and the study's block's share of the ceiling (``share_text``).
    """
    frame = pd.DataFrame([dict(row) for row in rows])
    gains = ["gain_satisfaction", "gain_text", f"gain_{candidate}", "gain_reader"]
    table = frame[["n_customers", *[g for g in gains if g in frame]]].copy()
    table.insert(0, "sample", np.arange(len(table)))
    table["share_text"] = table["gain_text"] / table["gain_satisfaction"]
    return table


def replicate_summary(
    rows: pd.DataFrame, level: float = 0.9, variants: tuple[str, ...] = ("text", "reader")
) -> dict[str, float]:
    """Share of the ceiling over independent customer samples of one world.

    ``rows`` holds one :func:`recovery_summary` per sample (``gain_satisfaction`` and
    ``gain_<variant>``). For each of ``variants`` present (default the study's block
    ``text`` and the reader ``reader``; keys ``recovery_...`` for ``text``,
    ``recovery_<variant>_...`` for the others) it returns the ratio of the mean gain to
    the mean ceiling gain (``recovery_mean``, ``recovery_reader_mean``) with a Student-t
    interval from the linearised ratio estimator (``_lo``, ``_hi``), the smallest and
    largest per-sample share (``_min``, ``_max``), plus ``ceiling_mean``,
    ``gain_<variant>_mean`` and ``n_samples``. Unlike the paired bootstrap of one sample,
    which resamples customers around one set of fitted models, the spread over samples
    also holds the noise of fitting them. The ratio of means is used because a
    per-sample share divides by a noisy ceiling.

    References
    ----------
    Cochran (1977), *Sampling Techniques*, 3rd ed., Wiley, ch. 6 (the ratio estimator
    and its variance); Student (1908), Biometrika 6(1), 1-25.
    """
    from scipy import stats

    n = len(rows)
    if n < 2:
        raise ValueError(f"need at least two samples for an interval, got {n}")
    ceiling = rows["gain_satisfaction"].to_numpy(dtype=float)
    if ceiling.mean() <= 0:
        raise ValueError(f"the mean ceiling gain is not positive ({ceiling.mean():+.4f})")
    out: dict[str, float] = {"n_samples": float(n), "ceiling_mean": float(ceiling.mean())}
    t = float(stats.t.ppf(0.5 + level / 2, n - 1))
    for variant in variants:
        if f"gain_{variant}" not in rows:
            continue
        key = "recovery" if variant == "text" else f"recovery_{variant}"
        gain = rows[f"gain_{variant}"].to_numpy(dtype=float)
        ratio = float(gain.mean() / ceiling.mean())
        half = t * float((gain - ratio * ceiling).std(ddof=1) / (np.sqrt(n) * ceiling.mean()))
        share = gain / ceiling
        out[f"gain_{variant}_mean"] = float(gain.mean())
        out[f"{key}_mean"], out[f"{key}_lo"], out[f"{key}_hi"] = ratio, ratio - half, ratio + half
        out[f"{key}_min"], out[f"{key}_max"] = float(share.min()), float(share.max())
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


def sweep_point(
    kappa: float,
    shop: Mapping[str, Any],
    n_customers: int,
    seed: int,
    embed: Any,
    selected: list[str] | None,
    n_folds: int,
    sentiment_c: float,
    n_components: int,
    n_boot: int,
    gbdt_kwargs: Mapping[str, Any] | None = None,
    aspect_vectors: np.ndarray | None = None,
    half_life_days: float = 90.0,
    level: float = 0.9,
    head: text_features.SentimentHead | None = None,
    candidates: tuple[str, ...] = ("text_compact", "text_plus"),
    reader: bool = True,
    perfect_reader: bool = True,
    embedding_dims: int = text_features.AUTO_EMBEDDING_DIMS,
    replicates: int = 0,
    rating_reader: Any = None,
    reader_in_block: bool = False,
    replicate_users: int | None = None,
) -> dict[str, Any]:
    """Simulate the shop at ``kappa`` and score variants (a)-(d) with LightGBM.

    Parameters
    ----------
    kappa : float
        Satisfaction-signal strength (:attr:`ShopSimConfig.kappa`).
    shop : mapping
        The study's ``ShopSimConfig`` options (``datasets.shopsim``) with ``kappa`` set
        here and, optionally, the other satisfaction channels (``churn_trigger``,
        ``satisfaction_rate_effect``). With the study's seed and size the sweep's worlds
        share its customers and review texts (common random numbers).
    n_customers : int
        Simulated users kept (a seeded random subset, the same at every ``kappa``).
    embed : callable
        ``texts -> embeddings`` (e.g. :func:`helpers.features.text_encoder.embed_texts`
        with the study's encoder and cache, wrapped).
    selected : list of str, optional
        Behaviour columns (stage 03's selection); default all.
    aspect_vectors : ndarray, optional
        Embedded :data:`helpers.features.text.ASPECT_DESCRIPTIONS`; given, the candidate
        blocks ``text_compact`` and ``text_plus`` (:func:`candidate_blocks`) are scored too.
    head : SentimentHead, optional
        Shared sentiment head (:func:`sweep_sentiment_head`); by default one per world.
    n_components : int
        PCA dimensions of (b)'s embedding columns (the study's resolved
        ``text.n_components``, :func:`helpers.features.text.resolve_embedding_dims`).
    candidates : tuple of str
        Which candidate blocks to score (with ``aspect_vectors``); ``text_embeddings``
        adds ``embedding_dims`` PCA dimensions of the mean and latest review embedding to
        the compact block.
    reader : bool
        Score ceiling (c'), ``reader``: the compact text block plus what a reader trained
        on the truth reads from the words (:func:`text_reader_features`, cross-fitted
        over ``n_folds`` seeded folds of all the world's reviewers, not only the
        sample's: no review is read by a reader trained on its writer's truth).
    perfect_reader : bool
        Score ceiling (c''), ``experience``: (c') with the readings replaced by the
        truth, i.e. the compact text block plus the *true* latent experience behind each
        customer's calibration reviews (latest, lowest, mean; :func:`experience_features`):
        what a reader who understood every review perfectly would know, without the
        satisfaction trait that (c) knows. It is built on the compact block and (c) on
        the review facts only, so in a small world it can score above (c).
    rating_reader : RatingReader, optional
        :func:`helpers.features.rating_reader.fit_rating_reader` trained on the study's
        calibration reviews; it reads each sweep customer's reviews with the reader of
        their fold. With ``reader_in_block`` its read ratings are part of every text
        block, (b) included, as in stage 02's block (``text.rating_reader_folds > 0``);
        otherwise they make the candidate ``text_reader``.
    replicates : int
        Further disjoint samples of ``n_customers`` users of the same simulated world
        (:func:`replicate_customers`), each scored like the first but without (c''),
        with the same ``head`` (or its own), readers and settings: how much one sample's
        figures move from sample to sample (:func:`replicate_summary`).
    replicate_users : int, optional
        Draw the further samples from a second world of this many simulated users, the
        same configuration otherwise (another draw of the same process, with its own
        truth-trained reader), when the first holds too few users for the samples wanted;
        by default (or when equal to ``shop["n_users"]``) from the first world.

    Returns
    -------
    dict
        ``kappa``, ``churn_trigger``, ``n_reviewers`` and :func:`recovery_summary`'s
        figures. Variant (c) adds the latent experience behind the reviews
        (:func:`experience_features`) to the true satisfaction. With ``replicates``, also
        ``replicates``: one dict of the same figures per further sample.
    """
    config = ShopSimConfig(**{**dict(shop), "kappa": float(kappa)})
    sim = simulate_shop(config, seed=seed)
    users = sweep_customers(sim.truth, n_customers, seed)
    world_read = _world_reader_features(sim, config, n_folds, seed) if reader else None
    settings = {
        "seed": seed,
        "embed": embed,
        "selected": selected,
        "n_folds": n_folds,
        "sentiment_c": sentiment_c,
        "n_components": n_components,
        "n_boot": n_boot,
        "gbdt_kwargs": gbdt_kwargs,
        "half_life_days": half_life_days,
        "level": level,
        "head": head,
        "embedding_dims": embedding_dims,
        "rating_reader": rating_reader,
        "reader_in_block": bool(reader_in_block and rating_reader is not None),
        "aspect_vectors": aspect_vectors,
        "candidates": candidates,
        "world_read": world_read,
    }
    row = _score_sample(sim, config, users, settings, reader, perfect_reader)
    if replicates:
        other_sim, other_config, other_settings = sim, config, settings
        if replicate_users is not None and int(replicate_users) != config.n_users:
            other_config = ShopSimConfig(**{**asdict(config), "n_users": int(replicate_users)})
            other_sim = simulate_shop(other_config, seed=seed)
            other_read = (
                _world_reader_features(other_sim, other_config, n_folds, seed) if reader else None
            )
            other_settings = {**settings, "world_read": other_read}
        others = replicate_customers(other_sim.truth, n_customers, replicates, seed)
        row["replicates"] = [
            _score_sample(other_sim, other_config, sample, other_settings, True, False)
            for sample in others
        ]
    return row


def _world_reader_features(
    sim: Any, config: ShopSimConfig, n_folds: int, seed: int
) -> pd.DataFrame | None:
    """Ceiling (c')'s readings of every calibration review of the world.

    The truth-trained reader (:func:`text_reader_features`) is cross-fitted over seeded
    folds of *all* the world's reviewers, so each sample's reviews are read by readers
    trained on many more reviews than the sample holds, none of them its writer's.
    """
    split = Split.from_dates(config.cutoff, config.holdout_end)
    texts = text_features.text_rows(split.calibration(sim.events)).reset_index(drop=True)
    if texts.empty:
        return None
    writers = pd.Index(texts["user_id"].astype(str).unique(), name="user_id")
    if len(writers) < max(2, n_folds):
        return None
    folds = pd.Series(customer_folds(writers, n_folds, seed), index=writers)
    z = sim.truth.set_index(sim.truth["user_id"].astype(str))["satisfaction"]
    return text_reader_features(texts, review_experience(texts, sim.review_truth), z, folds)


def _score_sample(
    sim: Any,
    config: ShopSimConfig,
    users: pd.Index,
    settings: Mapping[str, Any],
    reader: bool,
    perfect_reader: bool,
) -> dict[str, Any]:
    """:func:`sweep_point`'s scoring of one customer sample of a simulated world.

    ``settings`` holds :func:`sweep_point`'s arguments of that name, plus ``world_read``
    (:func:`_world_reader_features`).
    """
    seed, embed, selected = settings["seed"], settings["embed"], settings["selected"]
    n_folds, sentiment_c = settings["n_folds"], settings["sentiment_c"]
    n_components, n_boot = settings["n_components"], settings["n_boot"]
    gbdt_kwargs, aspect_vectors = settings["gbdt_kwargs"], settings["aspect_vectors"]
    half_life_days, level, head = settings["half_life_days"], settings["level"], settings["head"]
    candidates, embedding_dims = settings["candidates"], settings["embedding_dims"]
    rating_reader, world_read = settings["rating_reader"], settings["world_read"]
    block_reader = rating_reader if settings["reader_in_block"] else None
    kappa = config.kappa
    events = sim.events[sim.events["user_id"].isin(users)]
    split = Split.from_dates(config.cutoff, config.holdout_end)
    customers = make_targets(events, split)
    behaviour = behaviour_features(events, split.calibration_end, customers=customers.index)
    columns = [c for c in (selected or behaviour.columns) if c in behaviour.columns]
    texts = text_features.text_rows(split.calibration(events)).reset_index(drop=True)
    texts = texts[texts["user_id"].isin(customers.index)].reset_index(drop=True)
    no_review_days = float(behaviour.attrs.get("history_days", behaviour["tenure_days"].max()))
    embeddings = embed(texts["text"].tolist())
    if head is None and len(texts):  # one head for (b) and the candidate blocks
        head = sweep_sentiment_head(texts, embeddings, seed, sentiment_c)

    def block_with(dims: int) -> pd.DataFrame:
        return text_block_for(
            texts,
            embeddings,
            customers.index,
            split.calibration_end,
            no_review_days,
            seed,
            sentiment_c,
            dims,
            head,
            block_reader,
        )

    text_block = block_with(n_components)
    z = sim.truth.set_index(sim.truth["user_id"].astype(str))["satisfaction"]
    experience = experience_features(sim.review_truth, split.calibration_end)
    blocks = variant_blocks(text_block, z, rating_features(texts), experience)
    if aspect_vectors is not None and len(texts):
        signals = text_features.review_signal_features(
            texts,
            text_block.attrs["sentiment"],
            split.calibration_end,
            half_life_days=half_life_days,
            aspects=text_features.aspect_scores(embeddings, aspect_vectors),
        ).join(
            unanswered_review_features(
                texts,
                text_block.attrs["sentiment"],
                split.calibration_end,
                behaviour["recency_days"],
            )
        )
        embedding_columns = None
        if "text_embeddings" in candidates:
            embedded = block_with(embedding_dims)
            embedding_columns = embedded.drop(columns=compact_columns(embedded))
        read_ratings = None
        if "text_reader" in candidates and rating_reader is not None and block_reader is None:
            read = rating_reader.score(texts["text"].astype(str), texts["user_id"])
            read_ratings = read_rating_features(texts, read, text_block.index)
        extra = candidate_blocks(
            text_block, signals, customers["cal_purchases"], embedding_columns, read_ratings
        )
        unknown = sorted(set(candidates) - set(extra))
        if unknown:
            why = " (text_reader: the text block carries the read ratings already)"
            raise ValueError(
                f"unknown candidate block(s) {unknown}; known: {sorted(extra)}"
                + (why if "text_reader" in unknown and block_reader is not None else "")
            )
        blocks.update({name: extra[name] for name in candidates})
    folds = customer_folds(customers.index, n_folds, seed)
    compact = text_block[compact_columns(text_block)]  # the base of (c') and (c'')
    if reader and world_read is not None and len(texts):
        blocks["reader"] = compact.join(world_read.reindex(compact.index).fillna(0.0))
    if perfect_reader and len(texts):
        felt = experience_features(sim.review_truth, split.calibration_end, with_mean=True)
        blocks["experience"] = compact.join(felt.reindex(compact.index).fillna(0.0))
    predictions = gbdt_variants(
        behaviour[columns],
        blocks,
        customers["holdout_spend"],
        folds,
        seed,
        **dict(gbdt_kwargs or {}),
    )
    summary = recovery_summary(customers["holdout_spend"], predictions, n_boot, seed, level)
    return {
        "kappa": float(kappa),
        "churn_trigger": float(config.churn_trigger),
        "n_reviewers": int(text_block["has_review"].sum()),
        **summary,
    }


def strongest_world(sweep: pd.DataFrame) -> pd.Series:
    """The scored sweep row with the largest strength ``kappa`` (the first one on ties)."""
    scored = sweep.dropna(subset=["gain_text"]) if "gain_text" in sweep else sweep.iloc[:0]
    if scored.empty:
        raise ValueError("the sweep has no scored world (every row has an error)")
    return scored.loc[scored["kappa"].idxmax()]


def gap_split(row: Mapping[str, float], candidate: str) -> dict[str, float]:
    """Split the gap between a text block and the ceiling (c) of one sweep world.

    With ``gain_<v>`` the Gini gain of variant ``v`` over (a) (:func:`sweep_point`):
    ``gap`` = (c) - block; ``never_carried`` = (c) - (c'), signal the texts never
    carried; ``lost`` = (c') - block, signal the features lose; and, with the perfect
    reader (c''), ``trait`` = (c) - (c''), satisfaction no review reveals, and
    ``unsaid`` = (c'') - (c'), experience the words leave unsaid (or the reader misses).
    The parts add up to ``gap``: ``never_carried + lost`` and ``trait + unsaid + lost``.
    """
    ceiling, reader = row["gain_satisfaction"], row["gain_reader"]
    block = row[f"gain_{candidate}"]
    out = {
        "gap": ceiling - block,
        "never_carried": ceiling - reader,
        "lost": reader - block,
    }
    if "gain_experience" in row and pd.notna(row["gain_experience"]):
        out["trait"] = ceiling - row["gain_experience"]
        out["unsaid"] = row["gain_experience"] - reader
    return {k: float(v) for k, v in out.items()}


def best_recovery(sweep: pd.DataFrame, candidate: str, ceiling: float = 0.02) -> pd.DataFrame:
    """Per sweep world whose ceiling (c) - (a) is at least ``ceiling`` Gini: the best block.

    Returns one row per such world (index as in ``sweep``) with ``kappa``, ``best`` (the
    larger share of (c) recovered by the study's text block and by ``candidate``) and
    ``best_vs_reader`` (the same against (c'), when the sweep has the reader).
    """
    big = sweep[sweep["gain_satisfaction"] >= ceiling]
    out = pd.DataFrame(
        {"kappa": big["kappa"], "best": big[["recovery", f"recovery_{candidate}"]].max(axis=1)}
    )
    against = ["recovery_vs_reader", f"recovery_{candidate}_vs_reader"]
    if set(against) <= set(big.columns):
        out["best_vs_reader"] = big[against].max(axis=1)
    return out


def plot_sweep(
    table: pd.DataFrame,
    default_kappa: float | None = None,
    xlabel: str = "kappa: log churn hazard ratio per SD of satisfaction",
    candidate: str | None = None,
) -> plt.Figure:
    """Gini gain of (b) text and (c) true satisfaction over (a), against ``kappa``.

    ``table`` has one row per strength with ``kappa``, ``gain_text``, ``gain_satisfaction``
    and their ``_lo`` / ``_hi`` interval columns (:func:`sweep_point`); ``candidate``
    names a further ``gain_<candidate>`` column to draw (e.g. ``text_compact``).
    """
    fig, ax = plt.subplots(figsize=(9.5, 4))
    table = table.sort_values("kappa")
    styles = {
        "satisfaction": ("(c) true satisfaction and experience (ceiling)", "black", "s"),
        "experience": ("(c'') perfect reader of the reviews' experience", "tab:brown", "P"),
        "reader": ("(c') truth-trained reader of the reviews", "tab:purple", "v"),
        "text": ("(b) text features", "tab:blue", "o"),
        "ratings": ("(d) star ratings only", "tab:orange", "^"),
    }
    if candidate:
        label = CANDIDATE_LABELS.get(candidate, candidate)
        styles[candidate] = (f"candidate: {label}", "tab:green", "D")
    for name, (label, color, marker) in styles.items():
        if f"gain_{name}" not in table:
            continue
        ax.plot(table["kappa"], table[f"gain_{name}"], marker=marker, color=color, label=label)
        ax.fill_between(
            table["kappa"],
            table[f"gain_{name}_lo"],
            table[f"gain_{name}_hi"],
            color=color,
            alpha=0.15,
        )
    ax.axhline(0, color="grey", lw=0.8)
    if default_kappa is not None:
        ax.axvline(default_kappa, color="grey", ls="--", lw=0.8, label="study default")
    ax.set(
        xlabel=xlabel,
        ylabel="normalised Gini gain over (a) (Gini points)",
        title="What reviews add to LightGBM, by strength of the satisfaction signal",
    )
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # clear of the lines
    fig.tight_layout()
    return fig
