"""One benchmark, every dataset: dataset x model x protocol, scored the same way.

``make benchmark`` runs, per dataset (shopsim, CDNOW's standard 39/39 weeks, the built-in
UCI Online Retail file and a generated foreign order export), the study's prediction
models at its split, with reduced settings where a full study would take long:

* **BTYD** (deployable by construction): BG/NBD and Pareto/NBD with the Gamma-Gamma
  spend model (:mod:`helpers.models.btyd`, the study's fit settings);
* **rules**: extrapolation and zero;
* **LightGBM, cross-fitted** over five customer folds on the behaviour features at the
  cutoff (what stage 04a does, without the text block);
* **deployable** rows (:func:`helpers.apply.protocol.deployable_predictions`): LightGBM,
  the RFM-only LightGBM, the deep model without text in a reduced size (hidden size 16,
  a fixed number of epochs), stacking and weighted average, trained on windows inside
  calibration with the recipe of the inner time split.

Per dataset it writes the tidy predictions and the targets;
:mod:`helpers.benchmark.report` scores them and writes the page.

Command line: ``python -m helpers.benchmark.run DATASET OUT_DIR``.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers.apply import protocol
from helpers.apply.deep import DeepProduction
from helpers.data.registry import load_dataset
from helpers.data.split import choose_split, make_targets
from helpers.features.behaviour import behaviour_features
from helpers.models import baselines, btyd
from helpers.models.gbdt import LightGBMSettings, crossfit_gbdt

__all__ = ["DATASETS", "DEEP_SETTINGS", "run_dataset"]

DATASETS: tuple[str, ...] = ("shopsim", "cdnow", "online_retail", "foreign_export")
#: The reduced deep model of the benchmark (the page says so).
DEEP_SETTINGS: dict[str, Any] = {"use_text": False, "hidden_size": 16, "max_len": 32}
DEEP_EPOCHS = 4


def _events(dataset: str, params: Mapping[str, Any], root: Path, seed: int, work: Path):
    blocks = params["datasets"]
    if dataset == "foreign_export":
        from helpers.data.foreign_export import EVENTS_BLOCK, write_foreign_export

        path = work / "orders.csv"
        write_foreign_export(path, np.random.default_rng(seed), n_customers=2000)
        loaded = load_dataset("events", seed=seed, root=root, **{**EVENTS_BLOCK, "path": str(path)})
        block = {"cutoff": None, "holdout_end": None}
    else:
        block = dict(blocks[dataset])
        loaded = load_dataset(dataset, seed=seed, root=root, **block)
    split = choose_split(loaded.events, block.get("cutoff"), block.get("holdout_end"), dataset)
    return loaded.events, split.split


def _btyd_rows(events: pd.DataFrame, split, customers: pd.DataFrame, train: Mapping[str, Any],
               seed: int) -> tuple[list[pd.DataFrame], dict[str, str]]:  # fmt: skip
    summary = btyd.btyd_summary(events, split.cutoff, split.last_holdout_day)
    options = {"method": train.get("btyd_method", "map"),
               "priors": train.get("btyd_priors", "default"), "seed": seed}  # fmt: skip
    frames, failed = [], {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            spend = btyd.fit_spend_model(summary, **options)
        except Exception as exc:  # recorded: the row says why
            return [], {m: f"spend model: {exc}" for m in ("bgnbd", "pareto_nbd")}
        for name in ("bgnbd", "pareto_nbd"):
            try:
                fit = btyd.FITTERS[name](summary, **options)
                predicted = btyd.predict_btyd(summary, name, fit=fit, gg_fit=spend)
                frames.append(baselines.btyd_predictions(name, predicted, customers))
            except Exception as exc:
                failed[name] = str(exc).splitlines()[0][:200]
    return frames, failed


def run_dataset(
    dataset: str,
    params: Mapping[str, Any],
    root: str | Path,
    out: str | Path,
    deep_epochs: int = DEEP_EPOCHS,
) -> dict[str, Any]:
    """Fit every benchmark model on ``dataset`` and write ``predictions.parquet``,
    ``customers.parquet`` and ``run.json`` (recipe, reasons, seconds) to ``out``."""
    out, root = Path(out), Path(root)
    out.mkdir(parents=True, exist_ok=True)
    seed = int(params["base"]["seed"])
    train = params.get("train", {})
    windows = tuple(params.get("sequence", {}).get("windows", (7, 30, 90, 365)))
    settings = LightGBMSettings.from_params(train)
    clock = {"start": time.perf_counter()}
    events, split = _events(dataset, params, root, seed, out)
    customers = make_targets(events, split)
    frames = [baselines.zero_rule(customers), baselines.extrapolation_rule(customers, split)]
    btyd_frames, failed = _btyd_rows(events, split, customers, train, seed)
    frames += btyd_frames
    clock["btyd"] = time.perf_counter()
    features = behaviour_features(events, split.calibration_end, windows,
                                  customers=customers.index, threads=1)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        crossed = crossfit_gbdt(features, customers["holdout_spend"], seed,
                                **settings.crossfit_arguments())  # fmt: skip
    frames.append(crossed.predictions("gbdt").assign(protocol="cross_fitted"))
    clock["cross_fitted"] = time.perf_counter()
    source = f"benchmark: {DEEP_SETTINGS}, {deep_epochs} epochs"
    deep = {"deep_no_text": DeepProduction("deep_no_text", DEEP_SETTINGS, deep_epochs, source)}
    try:
        run = protocol.deployable_predictions(
            events, split.cutoff, split.holdout_days, customers.index, seed,
            deep=deep, windows=windows, **settings.scoring_options(),
        )  # fmt: skip
        frames.append(run.predictions)
        failed.update(run.not_fitted)
        recipe = {**run.recipe.to_dict(), "label": run.recipe.label,
                  "sentence": run.choice.sentence, "seconds": run.seconds}  # fmt: skip
    except ValueError as exc:
        if "no deployable recipe" not in str(exc):
            raise
        failed.update({m: str(exc) for m in ("gbdt", "gbdt_rfm", "deep_no_text")})
        recipe = {"label": None, "sentence": str(exc)}
    clock["deployable"] = time.perf_counter()
    predictions = pd.concat(frames, ignore_index=True)
    predictions["protocol"] = predictions["protocol"].fillna("deployable") \
        if "protocol" in predictions else "deployable"  # fmt: skip
    predictions.to_parquet(out / "predictions.parquet")
    customers[["holdout_spend", "holdout_purchases"]].to_parquet(out / "customers.parquet")
    facts = {
        "dataset": dataset,
        "customers": len(customers),
        "cutoff": split.cutoff,
        "holdout_end": split.last_holdout_day,
        "holdout_days": split.holdout_days,
        "recipe": recipe,
        "not_fitted": failed,
        "deep": {"settings": DEEP_SETTINGS, "epochs": deep_epochs},
        "seconds": {
            "btyd": round(clock["btyd"] - clock["start"], 1),
            "cross_fitted": round(clock["cross_fitted"] - clock["btyd"], 1),
            "deployable": round(clock["deployable"] - clock["cross_fitted"], 1),
        },
    }
    (out / "run.json").write_text(json.dumps(facts, indent=2, default=str) + "\n")
    return facts


def main(argv: list[str] | None = None) -> None:
    import yaml

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=DATASETS)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    root = Path.cwd()
    params = yaml.safe_load((root / "params.yaml").read_text())
    epochs = int(params.get("benchmark", {}).get("deep_epochs", DEEP_EPOCHS))
    facts = run_dataset(args.dataset, params, root, args.out, epochs)
    print(json.dumps(facts["seconds"]), facts["recipe"].get("label"))


if __name__ == "__main__":
    main()
