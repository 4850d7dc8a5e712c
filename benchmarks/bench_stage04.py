"""Stage 04 (model training) wall time: serial vs parallel, on stage-03 outputs or a simulation.

Measures, in one process and with load averages printed around each step (the 2-core
machines are shared, so repeat and compare ratios, not seconds):

* ``epoch`` — seconds per epoch of one fold's training of the default deep model;
* ``gbdt`` — cross-fitted LightGBM (reference, 2 threads), the default 1 thread, and the
  spend model alone (``fit_p_zero=False``, as notebook 06b fits its variants);
* ``tuning`` — :func:`helpers.models.tuning.tune_deep` with ``n_jobs=1`` vs ``n_jobs``;
* ``deep`` — the main deep model and its four ablations: one after another
  (``crossfit_deep_many(n_jobs=1)``, the old notebook) vs in ``n_jobs`` worker
  processes; the predictions are checked to be identical.

Data: ``data/processed`` when stage 03 has run, else ``shopsim`` with ``--users`` users
through the stage-01/03 feature builders (the text block from TF-IDF + SVD of the
reviews instead of the language model, which would dominate the set-up time).

    python benchmarks/bench_stage04.py [--users 4000] [--repeat 2] [--jobs 2]
        [--max-epochs 12] [--trials 6] [--only epoch,gbdt,tuning,deep] [--synthetic]
        [--json benchmarks/results/stage04.json]

The ``epoch`` part uses only ``train_deep``, so it also runs against an older checkout
(``PYTHONPATH=<old>/src python benchmarks/bench_stage04.py --only epoch``).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from _results import Recorder, add_json_option

from helpers.features.sequences import SequenceBatch, load_sequences
from helpers.features.text import align_user_text_features

ROOT = Path(__file__).resolve().parents[1]
PROCESSED = ROOT / "data" / "processed"
ABLATIONS = ("no_text", "no_browsing", "mse", "transformer")  # params.yaml deep.ablations
#: Median seconds of every compared run, by part and label (written to ``--json``).
FIGURES: dict[str, dict[str, float]] = {}


@dataclass
class Stage03:
    batch: SequenceBatch
    behaviour: pd.DataFrame
    selected: list[str]
    text: pd.DataFrame | None
    sentiment: np.ndarray | None
    customers: pd.DataFrame
    folds: pd.Series
    source: str


def _real() -> Stage03:
    customers = pd.read_parquet(PROCESSED / "customers.parquet")
    behaviour = pd.read_parquet(PROCESSED / "behaviour_features.parquet")
    text, sentiment = None, None
    if (PROCESSED / "text_features.parquet").exists():
        text = align_user_text_features(
            pd.read_parquet(PROCESSED / "text_features.parquet"),
            customers.index,
            no_review_days=float(behaviour.attrs.get("history_days", 500.0)),
        )
        texts = pd.read_parquet(PROCESSED / "texts.parquet")
        sentiment = texts["sentiment"].to_numpy() if len(texts) else None
    return Stage03(
        batch=load_sequences(PROCESSED / "sequences.npz"),
        behaviour=behaviour,
        selected=json.loads((PROCESSED / "selected_features.json").read_text()),
        text=text,
        sentiment=sentiment,
        customers=customers,
        folds=pd.read_parquet(PROCESSED / "folds.parquet")["fold"],
        source="stage-03 outputs (data/processed)",
    )


def _simulated(n_users: int, seed: int = 42) -> Stage03:
    from helpers.data.registry import load_dataset
    from helpers.data.split import Split, make_targets
    from helpers.features import behaviour as features
    from helpers.features import sequences
    from helpers.features import text as text_features
    from helpers.models.crossfit import customer_folds

    dates = {"start": "2023-01-01", "cutoff": "2024-06-30", "holdout_end": "2024-12-31"}
    split = Split.from_dates(dates["cutoff"], dates["holdout_end"])
    events = load_dataset("shopsim", seed=seed, n_users=n_users, **dates).events
    customers = make_targets(events, split)
    behaviour = features.behaviour_features(
        events, as_of=split.calibration_end, customers=customers.index
    )
    texts = text_features.text_rows(split.calibration(events)).rename_axis("event_row")
    texts = texts.reset_index()
    embeddings, _ = text_features.tfidf_svd(texts["text"], 32, seed=seed)
    sentiment = ((texts["rating"].to_numpy(dtype=float) - 3.0) / 2.0).astype(np.float32)
    per_user = text_features.user_text_features(
        texts, embeddings, sentiment, as_of=split.calibration_end, n_components=8, seed=seed
    )
    events["text_row"] = -1
    events.loc[texts["event_row"].to_numpy(), "text_row"] = range(len(texts))
    batch = sequences.build_sequences(
        split.calibration(events),
        as_of=split.calibration_end,
        max_len=50,
        customers=customers.index,
        review_key="text_row",
    )
    folds = pd.Series(customer_folds(customers.index, 5, seed), index=customers.index)
    return Stage03(
        batch=batch,
        behaviour=behaviour,
        selected=list(behaviour.columns),
        text=align_user_text_features(per_user, customers.index, no_review_days=500.0),
        sentiment=sentiment,
        customers=customers,
        folds=folds,
        source=f"shopsim, {n_users:,} users (TF-IDF text block)",
    )


def _load() -> str:
    """The 1-, 5- and 15-minute load averages (2 = both cores busy)."""
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def _cpu_seconds() -> tuple[float, float] | None:
    """(CPU seconds used by the whole machine, by this process and its descendants).

    Linux only (``/proc``). Descendants: live children plus what they reaped, e.g. the
    workers a multiprocessing forkserver started and waited for.
    """
    try:
        tick = os.sysconf("SC_CLK_TCK")
        fields = Path("/proc/stat").read_text().split("\n")[0].split()[1:]
        machine = (sum(map(int, fields)) - int(fields[3]) - int(fields[4])) / tick  # - idle, iowait
        ours = sum(os.times()[:4])
        children = set()
        for task in Path("/proc/self/task").iterdir():
            children.update((task / "children").read_text().split())
        for pid in children:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ours += sum(int(v) for v in stat[11:15]) / tick  # utime stime cutime cstime
        return machine, ours
    except (OSError, ValueError):
        return None


def _run(label: str, fn) -> tuple[float, object]:
    """Wall time of ``fn()``, printed with the CPU it and the rest of the machine used."""
    before, cpu = _load(), _cpu_seconds()
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    note = f"load {before} -> {_load()}"
    after = _cpu_seconds()
    if cpu and after:
        ours = (after[1] - cpu[1]) / seconds
        others = max(0.0, (after[0] - cpu[0]) / seconds - ours)
        note += f"; cores busy: this run {ours:.2f}, other processes {others:.2f}"
    print(f"  {label}: {seconds:7.1f} s   ({note})", flush=True)
    return seconds, result


def _compare_runs(what: str, runs: dict, repeat: int) -> list[object]:
    """Each of ``runs`` (label -> fn) in turn, ``repeat`` times, interleaved so that drifting
    machine load hits all alike; prints each run's time relative to the first one's."""
    seconds: dict[str, list[float]] = {label: [] for label in runs}
    results: dict[str, object] = {}
    for i in range(repeat):
        for label, fn in runs.items():
            t, results[label] = _run(f"{what}, {label}, run {i + 1}", fn)
            seconds[label].append(t)
    FIGURES[what] = {label: round(float(np.median(s)), 3) for label, s in seconds.items()}
    first = next(iter(runs))
    ratios = {
        label: [t / t0 for t, t0 in zip(seconds[label], seconds[first], strict=True)]
        for label in runs
    }
    print(
        f"{what}: "
        + "; ".join(f"{label} median {np.median(s):.1f} s" for label, s in seconds.items())
        + "; per run, relative to "
        + first
        + ": "
        + "; ".join(
            f"{label} {', '.join(f'{r:.2f}' for r in ratios[label])}" for label in list(runs)[1:]
        )
    )
    return [results[label] for label in runs]


def _dataloader_epoch(data: dict, idx: np.ndarray, batch_size: int, seed: int) -> int:
    """Reference: one epoch of batches the way training drew them before (Dataset + DataLoader)."""
    from torch.utils.data import BatchSampler, DataLoader, Dataset, SubsetRandomSampler

    class Rows(Dataset):
        def __len__(self) -> int:
            return len(data["spend"])

        def __getitem__(self, index: list[int]) -> dict:
            rows = torch.as_tensor(index, dtype=torch.long)
            return {k: v[rows] for k, v in data.items()}

    sampler = SubsetRandomSampler(idx.tolist(), generator=torch.Generator().manual_seed(seed))
    loader = DataLoader(Rows(), sampler=BatchSampler(sampler, batch_size, False), batch_size=None)
    return sum(len(batch["spend"]) for batch in loader)


def bench_epoch(data: Stage03, epochs: int, repeat: int) -> None:
    """Seconds per training epoch, and what batching costs of it (old DataLoader vs now)."""
    from helpers.models.deep import DeepConfig, prepare_inputs, train_deep

    config = DeepConfig(max_epochs=epochs, patience=epochs + 1)
    inputs = prepare_inputs(
        data.batch, data.behaviour[data.selected], data.text, data.sentiment, config.max_len
    )
    spend = data.customers["holdout_spend"].reindex(inputs.user_ids).to_numpy(dtype=float)
    train = np.flatnonzero(data.folds.reindex(inputs.user_ids).to_numpy() != 0)
    held = np.random.default_rng(0).random(train.size) < config.valid_share
    fit = train[~held]
    per_epoch = []
    for i in range(repeat):
        before = _load()
        trained = train_deep(
            inputs,
            spend,
            (spend <= 0).astype(float),
            fit,
            train[held],
            config,
            seed=0,
            progress=False,
        )
        steady = trained.curve["seconds"].to_numpy()[1:]  # epoch 0 pays lazy imports
        per_epoch.append(float(np.median(steady)))
        print(f"  run {i + 1}: {per_epoch[-1]:.3f} s/epoch   (load {before} -> {_load()})")
    FIGURES["epoch"] = {
        "fit_customers": len(fit),
        "median_s_per_epoch": round(float(np.median(per_epoch)), 3),
    }
    print(
        f"epoch: {len(fit):,} fit customers, median {np.median(per_epoch):.3f} s/epoch "
        f"(best {min(per_epoch):.3f})"
    )
    try:  # the batching alone, old way vs new way, interleaved (private helpers)
        from helpers.models.deep.training import _batches, _tensors
    except ImportError:  # an older checkout
        return
    tensors = _tensors(inputs, None, None, spend.astype(np.float32), (spend <= 0).astype("f4"))
    old, new = [], []
    for _ in range(5):
        start = time.perf_counter()
        _dataloader_epoch(tensors, fit, config.batch_size, seed=0)
        old.append(time.perf_counter() - start)
        start = time.perf_counter()
        generator = torch.Generator().manual_seed(0)
        sum(len(b["spend"]) for b in _batches(tensors, fit, config.batch_size, generator))
        new.append(time.perf_counter() - start)
    print(
        f"batching per epoch: DataLoader {np.median(old) * 1e3:.0f} ms, direct "
        f"{np.median(new) * 1e3:.0f} ms ({np.median(old) / np.median(per_epoch):.1%} vs "
        f"{np.median(new) / np.median(per_epoch):.1%} of an epoch)"
    )


def bench_gbdt(data: Stage03, repeat: int) -> None:
    """Cross-fitted LightGBM with 2 threads vs the default 1, and spend only (06b), interleaved."""
    from helpers.models.gbdt import crossfit_gbdt

    features = data.behaviour[data.selected]
    if data.text is not None:
        features = features.join(data.text)

    def run(threads: int, fit_p_zero: bool = True):
        def fit():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                return crossfit_gbdt(
                    features,
                    data.customers["holdout_spend"],
                    seed=42,
                    folds=data.folds.to_numpy(),
                    params={"num_threads": threads},
                    fit_p_zero=fit_p_zero,
                )

        return fit

    runs = {"2 threads": run(2), "1 thread": run(1), "1 thread, spend only": run(1, False)}
    two, one, spend_only = _compare_runs("gbdt", runs, repeat)
    print(f"  identical predictions: {np.array_equal(two.spend, one.spend)}")
    print(f"  spend only, identical spend: {np.array_equal(one.spend, spend_only.spend)}")


def bench_tuning(data: Stage03, jobs: int, trials: int, max_epochs: int, repeat: int) -> None:
    from helpers.models.deep import DeepConfig, prepare_inputs
    from helpers.models.tuning import tune_deep

    config = DeepConfig(max_epochs=max_epochs)
    inputs = prepare_inputs(
        data.batch, data.behaviour[data.selected], data.text, data.sentiment, config.max_len
    )
    spend = data.customers["holdout_spend"].reindex(inputs.user_ids).to_numpy(dtype=float)
    train = np.flatnonzero(data.folds.reindex(inputs.user_ids).to_numpy() != 0)

    def run(n_jobs: int):
        return lambda: tune_deep(
            inputs,
            spend,
            (spend <= 0).astype(float),
            train,
            config,
            seed=42,
            n_trials=trials,
            n_jobs=n_jobs,
        )

    a, b = _compare_runs(
        f"tuning ({trials} trials)", {"n_jobs=1": run(1), f"n_jobs={jobs}": run(jobs)}, repeat
    )
    states = [f"{t.state.name.lower()} {len(t.intermediate_values)}" for t in a.study.trials]
    same = a.trials().equals(b.trials()) and a.best_params == b.best_params
    print(f"  trials (state, epochs): {', '.join(states)}; identical studies: {same}")


def bench_deep(data: Stage03, jobs: int, max_epochs: int, repeat: int) -> None:
    from helpers.models.deep import DeepConfig, ablation_configs, crossfit_deep_many

    configs = ablation_configs(DeepConfig(max_epochs=max_epochs), ABLATIONS)

    def run(n_jobs: int):
        return lambda: crossfit_deep_many(
            data.batch,
            data.behaviour[data.selected],
            data.text,
            data.customers,
            data.folds,
            configs,
            seed=42,
            review_sentiment=data.sentiment,
            n_jobs=n_jobs,
            threads=1,
            progress=False,
        )

    a, b = _compare_runs(
        "main + 4 ablations", {"n_jobs=1": run(1), f"n_jobs={jobs}": run(jobs)}, repeat
    )
    same = all(np.array_equal(a[k].table, b[k].table, equal_nan=True) for k in configs)
    per_model = {k: f"{r.fit_seconds:.0f} s / {len(r.curves)} epochs" for k, r in a.items()}
    print(f"  last serial run per model: {per_model}; identical predictions: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=4000, help="simulated users")
    parser.add_argument("--synthetic", action="store_true", help="simulate even if stage 03 ran")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--max-epochs", type=int, default=12)
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--only", default="epoch,gbdt,tuning,deep")
    add_json_option(parser, "stage04")
    args = parser.parse_args()
    recorder = Recorder("stage04", args)
    parts = set(args.only.split(","))
    torch.set_num_threads(1)  # as notebook 04 (deep.torch_threads)
    real = not args.synthetic and (PROCESSED / "sequences.npz").exists()
    start = time.perf_counter()
    data = _real() if real else _simulated(args.users)
    print(
        f"data: {data.source}; {len(data.customers):,} customers; set-up "
        f"{time.perf_counter() - start:.1f} s; cores {os.cpu_count()}; load average {_load()}"
    )
    if "epoch" in parts:
        bench_epoch(data, epochs=4, repeat=args.repeat)
    if "gbdt" in parts:
        bench_gbdt(data, args.repeat)
    if "tuning" in parts:
        bench_tuning(data, args.jobs, args.trials, args.max_epochs, args.repeat)
    if "deep" in parts:
        bench_deep(data, args.jobs, args.max_epochs, args.repeat)
    parts_text = []
    for what, figures in FIGURES.items():
        if what == "epoch":
            parts_text.append(f"epoch {figures['median_s_per_epoch']:.2f} s")
        else:
            parts_text.append(
                f"{what} " + ", ".join(f"{label} {s:.1f} s" for label, s in figures.items())
            )
    recorder.write(
        f"{data.source}, {len(data.customers):,} customers, medians of {args.repeat} runs: "
        + "; ".join(parts_text),
        {"data": data.source, "customers": len(data.customers), **FIGURES},
    )


if __name__ == "__main__":
    main()
