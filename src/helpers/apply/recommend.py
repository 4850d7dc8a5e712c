"""Next-category recommendation, judged on the holdout before it is used.

Every recommender turns the history before an instant into a score per (customer,
category); the top three are recommended. Four recommenders:

* ``popularity`` -- the categories most purchased by everybody (a baseline);
* ``own_history`` -- the customer's own most purchased categories, ties broken by the
  most recent purchase, then by popularity (a baseline);
* ``cooccurrence`` -- item-to-item collaborative filtering on categories (Linden, Smith
  & York 2003): the customer's purchase profile times the cosine similarity of the
  categories' buyer vectors (``scipy.sparse``);
* ``recent_interest`` -- sequence-aware: every categorised event (view, cart, purchase)
  counts, weighted by its type and by an exponential decay with its age (half-life in
  days), plus a small popularity prior; the half-life and the weight of a view are
  chosen on a replay inside the calibration period (no holdout data).

Judged on the holdout: among customers with a calibration purchase and a categorised
holdout purchase, hit@3 = share whose top three hold at least one category they bought
in the holdout; NDCG@3 with binary relevance (Järvelin & Kekäläinen 2002).
Data without categories (CDNOW) have nothing to recommend: :func:`has_categories`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

__all__ = [
    "RECOMMENDERS",
    "RecentInterest",
    "category_scores",
    "evaluate_recommenders",
    "has_categories",
    "holdout_truth",
    "hit_at_k",
    "ndcg_at_k",
    "top_k",
    "tune_recent_interest",
]

RECOMMENDERS: tuple[str, ...] = ("popularity", "own_history", "cooccurrence", "recent_interest")
BASELINES: tuple[str, ...] = ("popularity", "own_history")
NS_PER_DAY = 86_400 * 10**9


@dataclass(frozen=True)
class RecentInterest:
    """Parameters of the ``recent_interest`` recommender."""

    half_life_days: float = 60.0
    view_weight: float = 0.3
    cart_weight: float = 1.0
    purchase_weight: float = 1.0
    prior_weight: float = 0.5

    def weight(self, event_type: np.ndarray) -> np.ndarray:
        """Weight of each event by type (reviews and others 0)."""
        return np.select(
            [event_type == "view", event_type == "cart", event_type == "purchase"],
            [self.view_weight, self.cart_weight, self.purchase_weight],
            0.0,
        )


def has_categories(events: pd.DataFrame) -> bool:
    """Whether purchases carry a category (CDNOW's do not)."""
    if "category" not in events.columns:
        return False
    return bool(events.loc[events["event_type"] == "purchase", "category"].notna().any())


def categories_of(events: pd.DataFrame, before: pd.Timestamp) -> list[str]:
    """Categories purchased before ``before``, most popular first (ties by name)."""
    rows = events.loc[(events["event_type"] == "purchase") & (events["ts"] < before)]
    counts = rows["category"].dropna().astype(str).value_counts()
    return sorted(counts.index, key=lambda c: (-counts[c], c))


def _codes(
    events: pd.DataFrame, users: pd.Index, categories: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    rows = events.loc[events["category"].notna()]
    u = users.get_indexer(rows["user_id"])
    c = pd.Index(categories).get_indexer(rows["category"].astype(str))
    keep = (u >= 0) & (c >= 0)
    return u[keep], c[keep], rows.loc[keep]


def _matrix(rows: np.ndarray, cols: np.ndarray, weights: np.ndarray, shape: tuple[int, int]):
    flat = np.bincount(rows * shape[1] + cols, weights=weights, minlength=shape[0] * shape[1])
    return flat.reshape(shape)


def category_scores(
    events: pd.DataFrame,
    users: pd.Index,
    categories: Sequence[str],
    before: pd.Timestamp,
    kind: str,
    params: RecentInterest | None = None,
) -> np.ndarray:
    """Scores ``(len(users), len(categories))`` from the events strictly before ``before``.

    Every score carries ``1e-6 x`` the category's popularity share, so ties fall to the
    more popular category and every customer gets three recommendations.
    """
    if kind not in RECOMMENDERS:
        raise ValueError(f"kind must be one of {RECOMMENDERS}, got {kind!r}")
    history = events.loc[events["ts"] < before]
    shape = (len(users), len(categories))
    purchases = history.loc[history["event_type"] == "purchase"]
    pu, pc, prow = _codes(purchases, users, categories)
    popularity = np.bincount(
        pd.Index(categories).get_indexer(purchases["category"].dropna().astype(str)) + 1,
        minlength=len(categories) + 1,
    )[1:].astype(float)
    popularity = popularity / max(popularity.sum(), 1.0)
    tie = 1e-6 * np.broadcast_to(popularity, shape)
    if kind == "popularity":
        return np.broadcast_to(popularity, shape).copy()
    if kind == "own_history":
        counts = _matrix(pu, pc, np.ones(pu.size), shape)
        age = (before - prow["ts"]).to_numpy(dtype="timedelta64[ns]").astype(np.int64)
        latest = np.zeros(shape)
        np.maximum.at(latest, (pu, pc), 1.0 / (1.0 + age / NS_PER_DAY))
        return counts + 1e-3 * latest + tie
    if kind == "cooccurrence":
        counts = sp.csr_matrix((np.ones(pu.size), (pu, pc)), shape=shape)
        buyers = (counts > 0).astype(float)
        norms = np.sqrt(np.asarray(buyers.multiply(buyers).sum(axis=0))).ravel()
        sim = (buyers.T @ buyers).toarray() / np.outer(norms, norms).clip(min=1e-12)
        profile = np.asarray(counts.todense())
        profile = profile / profile.sum(axis=1, keepdims=True).clip(min=1.0)
        return profile @ sim + tie
    return _interest_scores(_interest_inputs(history, users, categories, before), params)


@dataclass(frozen=True)
class _InterestInputs:
    users: np.ndarray
    cats: np.ndarray
    age_days: np.ndarray
    types: np.ndarray
    popularity: np.ndarray
    shape: tuple[int, int]


def _interest_inputs(
    history: pd.DataFrame, users: pd.Index, categories: Sequence[str], before: pd.Timestamp
) -> _InterestInputs:
    u, c, rows = _codes(history.loc[history["ts"] < before], users, categories)
    age = (before - rows["ts"]).to_numpy(dtype="timedelta64[ns]").astype(np.int64) / NS_PER_DAY
    types = rows["event_type"].to_numpy(dtype=object)
    bought = history.loc[(history["event_type"] == "purchase") & (history["ts"] < before)]
    codes = pd.Index(categories).get_indexer(bought["category"].dropna().astype(str))
    popularity = np.bincount(codes + 1, minlength=len(categories) + 1)[1:].astype(float)
    popularity = popularity / max(popularity.sum(), 1.0)
    return _InterestInputs(u, c, age, types, popularity, (len(users), len(categories)))


def _interest_scores(inputs: _InterestInputs, params: RecentInterest | None) -> np.ndarray:
    params = params or RecentInterest()
    weights = params.weight(inputs.types) * 0.5 ** (inputs.age_days / params.half_life_days)
    interest = _matrix(inputs.users, inputs.cats, weights, inputs.shape)
    total = interest.sum(axis=1, keepdims=True)
    share = interest / total.clip(min=1e-12)
    prior = params.prior_weight * inputs.popularity / (1.0 + total)
    return share + prior + 1e-6 * inputs.popularity


def top_k(scores: np.ndarray, k: int = 3) -> np.ndarray:
    """Column indices of the ``k`` highest scores per row, best first (stable)."""
    k = min(k, scores.shape[1])
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def hit_at_k(scores: np.ndarray, truth: np.ndarray, k: int = 3) -> float:
    """Share of rows whose top ``k`` hold at least one relevant column."""
    top = top_k(scores, k)
    return float(np.take_along_axis(truth, top, axis=1).any(axis=1).mean())


def ndcg_at_k(scores: np.ndarray, truth: np.ndarray, k: int = 3) -> float:
    """Mean NDCG@k with binary relevance (rows with no relevant column are excluded)."""
    top = top_k(scores, k)
    gains = np.take_along_axis(truth, top, axis=1).astype(float)
    discount = 1.0 / np.log2(np.arange(2, top.shape[1] + 2))
    dcg = gains @ discount
    n_rel = np.minimum(truth.sum(axis=1), top.shape[1]).astype(int)
    ideal = np.concatenate([[0.0], np.cumsum(discount)])[n_rel]
    ok = ideal > 0
    return float((dcg[ok] / ideal[ok]).mean())


def holdout_truth(
    events: pd.DataFrame,
    users: pd.Index,
    categories: Sequence[str],
    start: pd.Timestamp,
    end: pd.Timestamp,
    target: str = "next",
) -> tuple[pd.Index, np.ndarray]:
    """Customers of ``users`` with a categorised purchase in ``[start, end)`` and, per
    customer, the relevant categories (boolean matrix).

    ``target="next"``: the categories of the customer's first purchase day in the window
    (the *next* purchase); ``"any"``: every category bought in the window.
    """
    if target not in ("next", "any"):
        raise ValueError(f"target must be 'next' or 'any', got {target!r}")
    window = events.loc[
        (events["event_type"] == "purchase")
        & (events["ts"] >= start)
        & (events["ts"] < end)
        & events["category"].notna()
    ]
    if target == "next":
        day = window["ts"].dt.floor("D")
        window = window.loc[day == day.groupby(window["user_id"]).transform("min")]
    u, c, _ = _codes(window, users, categories)
    bought = _matrix(u, c, np.ones(u.size), (len(users), len(categories))) > 0
    has = bought.any(axis=1)
    return users[has], bought[has]


def _judge(scores: np.ndarray, truth: np.ndarray, k: int) -> dict[str, float]:
    return {f"hit@{k}": hit_at_k(scores, truth, k), f"ndcg@{k}": ndcg_at_k(scores, truth, k)}


def tune_recent_interest(
    events: pd.DataFrame,
    users: pd.Index,
    before: pd.Timestamp,
    horizon_days: int,
    half_lives: Iterable[float] = (30.0, 90.0, 180.0, 365.0, 730.0),
    view_weights: Iterable[float] = (0.3, 1.0, 3.0),
    k: int = 3,
    target: str = "next",
) -> tuple[RecentInterest, pd.DataFrame]:
    """Choose the half-life and view weight on a replay that ends at ``before``.

    History up to ``before - horizon_days``, judged on the categories bought in the last
    ``horizon_days`` before ``before``: only data before ``before`` are read.
    """
    replay_at = before - pd.Timedelta(days=int(horizon_days))
    categories = categories_of(events, replay_at)
    eligible = users.intersection(
        events.loc[(events["event_type"] == "purchase") & (events["ts"] < replay_at), "user_id"]
        .drop_duplicates()
        .pipe(pd.Index)
    )
    who, truth = holdout_truth(events, eligible, categories, replay_at, before, target)
    inputs = _interest_inputs(events, who, categories, replay_at)
    rows = []
    for half_life in half_lives:
        for view_weight in view_weights:
            params = RecentInterest(half_life_days=half_life, view_weight=view_weight)
            scores = _interest_scores(inputs, params)
            rows.append({"half_life_days": half_life, "view_weight": view_weight,
                         **_judge(scores, truth, k)})  # fmt: skip
    grid = pd.DataFrame(rows).sort_values(
        [f"hit@{k}", f"ndcg@{k}", "half_life_days", "view_weight"],
        ascending=[False, False, True, True],
        ignore_index=True,
    )
    best = grid.iloc[0]
    return RecentInterest(float(best["half_life_days"]), float(best["view_weight"])), grid


def evaluate_recommenders(
    events: pd.DataFrame,
    users: pd.Index,
    cutoff_instant: pd.Timestamp,
    holdout_end_instant: pd.Timestamp,
    params: RecentInterest,
    k: int = 3,
    target: str = "next",
) -> pd.DataFrame:
    """hit@k and NDCG@k of every recommender on the holdout ``[cutoff, holdout_end)``.

    Recommenders read only events before ``cutoff_instant``; ``users`` are the study's
    customers; those without a categorised holdout purchase are left out (nothing to
    hit).
    """
    categories = categories_of(events, cutoff_instant)
    who, truth = holdout_truth(
        events, users, categories, cutoff_instant, holdout_end_instant, target
    )
    rows = {}
    for kind in RECOMMENDERS:
        scores = category_scores(events, who, categories, cutoff_instant, kind, params)
        rows[kind] = {**_judge(scores, truth, k), "customers": len(who)}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "recommender"
    return table


def recommend(
    events: pd.DataFrame,
    users: pd.Index,
    before: pd.Timestamp,
    kind: str,
    params: RecentInterest | None = None,
    k: int = 3,
) -> pd.DataFrame:
    """Top ``k`` categories per customer with their shares (columns ``next_category_i``,
    ``next_category_i_score``), from the events before ``before``.

    A share is the category's score divided by the sum of the customer's scores over
    every category: the part of the customer's (weighted, recent) interest that goes to
    it, between 0 and 1. The ``k`` shown add up to at most 1.
    """
    categories = categories_of(events, before)
    scores = category_scores(events, users, categories, before, kind, params)
    total = scores.sum(axis=1, keepdims=True)
    scores = np.divide(scores, total, out=np.zeros_like(scores), where=total > 0)
    top = top_k(scores, k)
    names = np.asarray(categories, dtype=object)
    out = {}
    for i in range(top.shape[1]):
        out[f"next_category_{i + 1}"] = names[top[:, i]]
        out[f"next_category_{i + 1}_score"] = scores[np.arange(len(users)), top[:, i]]
    return pd.DataFrame(out, index=users)
