"""Diagnosis: why a deployable learned model does (not) beat BTYD on a real dataset.

Not a model choice (the recipe is chosen on the inner time split, never here): this
script reads the holdout to *explain* a result, as the closing note of issue 27 asks.
For one dataset it scores on the holdout

1. **window count**: LightGBM with windows of ``share x H`` and 1, 2, 4, 8 rolling
   anchors, with and without the BTYD inputs;
2. **learning curve**: the chosen recipe trained on 25 %, 50 % and 100 % of the
   training customers (a seeded subset of customers, all their anchors);

each against the BTYD models fitted on calibration data (Pareto/NBD, BG/NBD of
:mod:`helpers.models.btyd`) with a paired bootstrap interval. A learning curve still
rising at 100 % says more customers (or more windows) would close the gap; a flat one
says the inputs, not the amount of data, limit the model.

Usage::

    python benchmarks/bench_deployable_diagnosis.py online_retail

writes ``benchmarks/results/deployable_diagnosis.json`` (``--json``), which the benchmark
page (``make benchmark``) shows as its closing note.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from _results import Recorder, add_json_option

from helpers.apply import deployable as dp
from helpers.data.registry import load_dataset
from helpers.data.split import choose_split, make_targets
from helpers.evaluation.metrics import normalized_gini, paired_bootstrap
from helpers.models import btyd

ROOT = Path(__file__).resolve().parents[1]


def _predict(cache, events, cut, horizon, recipe, seed, keep_share=1.0):
    train = dp.training_set(cache, cut, horizon, recipe)
    users = train.features.index.to_numpy()
    if keep_share < 1.0:
        unique = np.unique(users)
        kept = np.random.default_rng(seed).permutation(unique)[: int(len(unique) * keep_share)]
        rows = np.isin(users, kept)
    else:
        rows = np.ones(len(users), dtype=bool)
    columns = dp.supervised_columns(train.features, "gbdt", None)
    boosters, _ = dp.train_boosters(
        train.features[columns].to_numpy(dtype=float)[rows], train.target[rows], columns, seed,
        0.2, {"learning_rate": 0.05, "num_leaves": 15}, 2000, 50, groups=users[rows],
        targets=("spend",),
    )  # fmt: skip
    today = cache.frame(cut, train.window_days, recipe.btyd_inputs).reindex(columns=columns)
    spend = boosters["spend"].predict(today.to_numpy(dtype=float))
    return pd.Series(spend, index=today.index), int(rows.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=["shopsim", "cdnow", "online_retail"])
    parser.add_argument("--share", type=float, default=0.5)
    add_json_option(parser, "deployable_diagnosis")
    args = parser.parse_args()
    recorder = Recorder("deployable_diagnosis", args)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    seed = int(params["base"]["seed"])
    block = params["datasets"][args.dataset]
    events = load_dataset(args.dataset, seed=seed, root=ROOT, **block).events
    split = choose_split(events, block["cutoff"], block["holdout_end"], args.dataset).split
    customers = make_targets(events, split)
    y = customers["holdout_spend"]
    cut = pd.Timestamp(split.cutoff, tz="UTC")
    seen = events.loc[events["ts"] < split.calibration_end]
    cache = dp.FeatureCache(seen, (7, 30, 90, 365), 1)
    summary = btyd.btyd_summary(events, split.cutoff, split.last_holdout_day)
    refs = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spend_fit = btyd.fit_spend_model(summary)
        for name in ("pareto_nbd", "bgnbd"):
            predicted = btyd.predict_btyd(summary, name, gg_fit=spend_fit)
            refs[name] = predicted["expected_spend"].reindex(customers.index)
    best = max(refs, key=lambda m: normalized_gini(y, refs[m]))
    out = {"dataset": args.dataset, "customers": len(customers), "best_btyd": best,
           "btyd_gini": {m: round(normalized_gini(y, v), 4) for m, v in refs.items()},
           "window_count": [], "learning_curve": []}  # fmt: skip

    def record(kind, recipe, keep=1.0):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            spend, n_rows = _predict(cache, seen, cut, split.holdout_days, recipe, seed, keep)
        spend = spend.reindex(customers.index).fillna(0.0)
        diff = paired_bootstrap(y.to_numpy(), spend.to_numpy(), refs[best].to_numpy(),
                                normalized_gini, seed, 300)  # fmt: skip
        row = {"recipe": recipe.label, "training_share": keep, "rows": n_rows,
               "gini": round(normalized_gini(y, spend), 4),
               "vs_best_btyd": [round(diff[k], 4) for k in ("difference", "low", "high")],
               "seconds": round(time.perf_counter() - start, 1)}  # fmt: skip
        out[kind].append(row)
        print(kind, row, flush=True)

    for anchors in (1, 2, 4, 8):
        for inputs in (False, True):
            record("window_count", dp.Recipe(args.share, anchors, inputs))
    for keep in (0.25, 0.5, 1.0):
        record("learning_curve", dp.Recipe(args.share, 4, False), keep)
    top = max(out["window_count"], key=lambda r: r["gini"])
    full = out["learning_curve"][-1]
    quarter = out["learning_curve"][0]
    headline = (
        f"{args.dataset}: best LightGBM window count {top['recipe']} reaches Gini {top['gini']:.3f}"
        f" ({top['vs_best_btyd'][0]:+.3f} against {best}); training on 25 % of the customers "
        f"gives {quarter['gini']:.3f}, on all {full['gini']:.3f}"
    )
    print(recorder.write(headline, out))


if __name__ == "__main__":
    main()
