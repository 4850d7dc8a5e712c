"""Benchmark: the paired bootstrap of the normalised Gini (06b), vectorised vs per resample.

:func:`helpers.studies.text_signal.bootstrap.bootstrap_gini` scores every replicate at once from its
resampling counts. The reference, run in this same process on the same data, draws the
same resamples and calls :func:`helpers.evaluation.metrics.normalized_gini` on each
(resample, model) pair. Prints both wall times, their ratio and the largest difference
between the two results (they must agree to rounding). Report the load average.

Usage::

    python benchmarks/bench_bootstrap_gini.py [--customers 18052] [--models 6] [--n-boot 200]
        [--json benchmarks/results/bootstrap_gini.json]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import pandas as pd
from _results import Recorder, add_json_option

from helpers.evaluation.metrics import normalized_gini
from helpers.studies.text_signal.bootstrap import bootstrap_gini


def per_resample(actual: pd.Series, predictions: pd.DataFrame, n_boot: int, seed: int):
    """The reference: the same resamples, each scored with ``normalized_gini``."""
    y = actual.to_numpy(dtype=float)
    preds = predictions.to_numpy(dtype=float)
    rng = np.random.default_rng(seed)
    out = np.empty((n_boot, preds.shape[1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for b in range(n_boot):
            idx = rng.integers(0, len(y), len(y))
            for j in range(preds.shape[1]):
                out[b, j] = normalized_gini(y[idx], preds[idx, j])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=18_052)
    parser.add_argument("--models", type=int, default=6)
    parser.add_argument("--n-boot", type=int, default=200)
    parser.add_argument("--seed", type=int, default=42)
    add_json_option(parser, "bootstrap_gini")
    args = parser.parse_args()
    recorder = Recorder("bootstrap_gini", args)
    print(f"load average at start: {os.getloadavg()}")
    rng = np.random.default_rng(args.seed)
    n = args.customers
    spend = pd.Series(np.where(rng.random(n) < 0.6, 0.0, rng.gamma(1.0, 50.0, n)).round(2))
    predictions = pd.DataFrame(
        {
            f"model_{j}": np.round(spend.to_numpy() + rng.normal(0.0, 10.0 * (j + 1), n), 1)
            for j in range(args.models)
        }
    )
    start = time.perf_counter()
    reference = per_resample(spend, predictions, args.n_boot, args.seed)
    reference_s = time.perf_counter() - start
    start = time.perf_counter()
    fast = bootstrap_gini(spend, predictions, args.n_boot, args.seed).to_numpy()
    fast_s = time.perf_counter() - start
    difference = float(np.nanmax(np.abs(reference - fast)))
    headline = (
        f"{n:,} customers x {args.models} models x {args.n_boot} replicates: "
        f"per resample {reference_s:.2f} s, vectorised {fast_s:.2f} s, "
        f"ratio {reference_s / fast_s:.1f}x; largest difference {difference:.1e}"
    )
    print(headline)
    print(f"load average at end: {os.getloadavg()}")
    recorder.write(
        headline,
        {
            "customers": n,
            "models": args.models,
            "replicates": args.n_boot,
            "per_resample_s": round(reference_s, 3),
            "vectorised_s": round(fast_s, 3),
            "ratio": round(reference_s / fast_s, 2),
            "largest_difference": difference,
        },
    )


if __name__ == "__main__":
    main()
