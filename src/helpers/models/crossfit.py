"""Cross-fitting over customers: folds, the early-stopping split, the fold loop.

Every supervised model of the study (GBDT, the deep model, its tuning, fusion) predicts
customer *i* with models that never saw *i*'s outcome: customers are split into fixed
folds, fold *k* is predicted by a model trained on the other folds, and early stopping
uses a seeded share of those *training* customers.

References
----------
Chernozhukov et al. (2018), Double/debiased machine learning. Econometrics Journal.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def customer_folds(index: pd.Index, n_folds: int, seed: int) -> np.ndarray:
    """Seeded fold id (0..n_folds-1) per customer, folds of equal size ±1."""
    if n_folds < 2:
        raise ValueError("n_folds must be at least 2")
    rng = np.random.default_rng(seed)
    return rng.permutation(len(index)) % n_folds
