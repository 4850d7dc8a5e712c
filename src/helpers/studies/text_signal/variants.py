"""Fitting the variants: cross-fitted LightGBM, and the deep model on one fold (06b).

:func:`gbdt_variants` fits LightGBM once per block with the same folds and seed;
:func:`start_deep_variants_on_fold` trains notebook 04b's deep model once per block on
one fold, in background processes (:class:`PendingDeepVariants`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from helpers.features.behaviour import FeatureScaler
from helpers.models.crossfit import crossfit_splits
from helpers.models.deep import CONTINUOUS_CHANNELS, predict_deep, prepare_inputs, train_deep
from helpers.models.deep.parallel import WorkerJobs, shared, start_in_workers
from helpers.models.gbdt import crossfit_gbdt


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
