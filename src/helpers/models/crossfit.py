"""Cross-fitting over customers: folds, the early-stopping split, the fold loop.

Every supervised model of the study (GBDT, the deep model, its tuning, fusion) predicts
customer *i* with models that never saw *i*'s outcome: customers are split into fixed
folds, fold *k* is predicted by a model trained on the other folds, and early stopping
uses a seeded share of those *training* customers.

One function, :func:`crossfit_splits`, draws the per-fold ``(fit, valid, test)``
customers; the GBDT (:func:`helpers.models.gbdt.crossfit_gbdt`) and the deep model
(:func:`helpers.models.deep.crossfit_deep`) both iterate over it, so with the same folds,
seed and ``valid_share`` they train on the same customers and stop early on the same
customers. Tuning draws its inner split with :func:`tuning_split`.

References
----------
Chernozhukov et al. (2018), Double/debiased machine learning. Econometrics Journal.
Prechelt (1998), Early stopping — but when? In: Neural Networks: Tricks of the Trade.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.models.errors import InsufficientDataError


@dataclass(frozen=True)
class FoldSplit:
    """Row indices (into the customer order) of one cross-fitting fold.

    ``fit``: training customers the model learns from; ``valid``: training customers
    held apart for early stopping; ``test``: the fold's own customers, predicted by the
    model (never used to fit or to stop it). The three are disjoint and cover everyone.
    """

    fold: int
    fit: np.ndarray
    valid: np.ndarray
    test: np.ndarray

    @property
    def train(self) -> np.ndarray:
        """All training customers of the fold (``fit`` ∪ ``valid``), sorted."""
        return np.sort(np.concatenate([self.fit, self.valid]))


def customer_folds(index: pd.Index, n_folds: int, seed: int) -> np.ndarray:
    """Seeded fold id (0..n_folds-1) per customer, folds of equal size ±1."""
    if n_folds < 2:
        raise ValueError("n_folds must be at least 2")
    rng = np.random.default_rng(seed)
    return rng.permutation(len(index)) % n_folds


def fold_array(folds: np.ndarray | pd.Series, users: pd.Index | None = None) -> np.ndarray:
    """Integer fold id per customer, in the order of ``users``.

    Parameters
    ----------
    folds : array or Series
        A Series is aligned on ``users`` (its index = user ids); an array is taken in
        order.
    users : Index, optional
        Customer order (required to align a Series).

    Raises
    ------
    ValueError
        When a customer has no fold id or the length does not match ``users``.
    """
    if isinstance(folds, pd.Series):
        folds = folds.to_numpy() if users is None else folds.reindex(users).to_numpy()
    folds = np.asarray(folds)
    if (users is not None and len(folds) != len(users)) or pd.isna(folds).any():
        raise ValueError("folds must give one fold id per customer")
    return folds.astype(int)


def early_stopping_split(
    train_idx: np.ndarray, valid_share: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Split training rows into ``(fit, valid)``: each row is held apart with ``valid_share``.

    One uniform draw per row from ``rng`` (Bernoulli, so the validation size varies
    around ``valid_share * len(train_idx)``); the order of ``train_idx`` is kept.
    """
    train_idx = np.asarray(train_idx)
    held = rng.random(train_idx.size) < valid_share
    return train_idx[~held], train_idx[held]


#: Fewest customers a fold's training, early-stopping or predicted part may hold.
MIN_CUSTOMERS_PER_PART = 5


def crossfit_splits(
    folds: np.ndarray | pd.Series, seed: int, valid_share: float
) -> list[FoldSplit]:
    """The ``(fit, valid, test)`` rows of every fold: the one cross-fitting protocol.

    Fold ``k`` is predicted (``test``); its training customers (all other folds) are
    split by :func:`early_stopping_split` with one ``default_rng(seed + 1)`` drawn
    through the folds in order.

    Parameters
    ----------
    folds : array or Series
        Fold id (0..K-1) per customer, in customer order.
    seed : int
        The model's seed (the split uses ``seed + 1``).
    valid_share : float
        Share of training customers held apart for early stopping.
    """
    folds = fold_array(folds)
    rng = np.random.default_rng(seed + 1)
    splits = []
    for fold in range(int(folds.max()) + 1):
        test = folds == fold
        fit, valid = early_stopping_split(np.flatnonzero(~test), valid_share, rng)
        if min(fit.size, valid.size, int(test.sum())) < MIN_CUSTOMERS_PER_PART:
            raise InsufficientDataError(
                f"too few customers ({folds.size}) for {int(folds.max()) + 1} cross-fitting "
                f"folds: fold {fold} has {fit.size} training, {valid.size} early-stopping "
                f"and {int(test.sum())} predicted customers (at least "
                f"{MIN_CUSTOMERS_PER_PART} each are needed)"
            )
        splits.append(FoldSplit(fold=fold, fit=fit, valid=valid, test=np.flatnonzero(test)))
    return splits


def tuning_split(
    train_idx: np.ndarray, valid_share: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Inner ``(fit, valid)`` split of a tuning fold's training rows (``default_rng(seed + 2)``)."""
    return early_stopping_split(train_idx, valid_share, np.random.default_rng(seed + 2))
