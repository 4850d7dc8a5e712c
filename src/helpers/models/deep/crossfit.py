"""Cross-fitted deep model over customer folds (the protocol of the GBDT), serial or parallel.

:func:`crossfit_deep` runs one configuration fold after fold. :func:`crossfit_deep_many`
runs several independent configurations (the main model and its ablations) with their
``(configuration, fold)`` trainings spread over worker processes; every training is
seeded and single-threaded, so the results equal those of serial runs bit for bit.

References
----------
Chernozhukov et al. (2018), Double/debiased machine learning (cross-fitting). Econ. J.
Graham (1969), Bounds on multiprocessing timing anomalies (longest job first). SIAM J.
Appl. Math.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from helpers.features.behaviour import FeatureScaler
from helpers.features.sequences import SequenceBatch
from helpers.models.baselines import predictions_frame
from helpers.models.crossfit import FoldSplit, crossfit_splits, fold_array
from helpers.models.deep.checkpoints import save_checkpoint
from helpers.models.deep.config import DeepConfig
from helpers.models.deep.inputs import DeepInputs, prepare_inputs
from helpers.models.deep.parallel import map_in_workers, shared, torch_threads
from helpers.models.deep.training import TrainedDeep, pick_device, predict_deep, train_deep


@dataclass
class DeepResult:
    """Out-of-fold deep-model predictions for every customer, with training records.

    ``fit_seconds``: wall time of :func:`crossfit_deep`; for a run of
    :func:`crossfit_deep_many`, the summed time of its folds (they ran interleaved with
    other configurations).
    """

    table: pd.DataFrame
    curves: pd.DataFrame
    best_epochs: list[int]
    fit_seconds: float
    device: str
    config: DeepConfig
    models: list[TrainedDeep] = field(repr=False, default_factory=list)
    fold_configs: dict[int, DeepConfig] = field(repr=False, default_factory=dict)

    @property
    def spend(self) -> pd.Series:
        return self.table["predicted_spend"]

    @property
    def p_zero(self) -> pd.Series:
        return self.table["p_zero"]

    @property
    def seconds_per_epoch(self) -> float:
        return float(self.curves["seconds"].mean())

    def predictions(self, name: str = "deep") -> pd.DataFrame:
        """Tidy predictions (:func:`helpers.models.baselines.predictions_frame`)."""
        return predictions_frame(name, self.spend, p_zero=self.p_zero)

    def intervals(self, name: str = "deep") -> pd.DataFrame:
        """``user_id, model, q10, q90`` (the 80 % ZILN interval; NaN for MSE)."""
        frame = self.table[["q10", "q90"]].rename_axis("user_id").reset_index()
        frame.insert(1, "model", name)
        return frame


@dataclass
class _FoldFit:
    """What one fold's training gives back (picklable: the model is on the CPU)."""

    fold: int
    table: pd.DataFrame
    curve: pd.DataFrame
    best_epoch: int
    trained: TrainedDeep
    seconds: float


#: One configuration for every fold, or fold id → configuration (leak-free tuning gives
#: each fold the hyper-parameters tuned on another fold's customers).
ConfigSpec = DeepConfig | Mapping[int, DeepConfig]


def fold_configs(config: ConfigSpec, folds: np.ndarray) -> dict[int, DeepConfig]:
    """Fold id → configuration; per-fold configurations must share inputs and splits.

    Raises
    ------
    KeyError
        When a per-fold mapping lacks one of the folds.
    ValueError
        When per-fold configurations differ in what the inputs or the early-stopping
        split depend on (``_input_key`` fields, ``valid_share``): hyper-parameters may
        differ by fold, the data may not.
    """
    ids = sorted(int(f) for f in np.unique(folds))
    if isinstance(config, DeepConfig):
        return dict.fromkeys(ids, config)
    missing = [f for f in ids if f not in config]
    if missing:
        raise KeyError(f"per-fold configurations lack folds {missing}")
    chosen = {f: config[f] for f in ids}
    shapes = {(_input_key(c), c.valid_share) for c in chosen.values()}
    if len(shapes) > 1:
        raise ValueError(
            f"per-fold configurations must share inputs and valid_share; got {sorted(shapes)}"
        )
    return chosen


def _inputs(
    batch: SequenceBatch,
    tabular: pd.DataFrame | None,
    text: pd.DataFrame | None,
    review_sentiment: np.ndarray | None,
    config: DeepConfig,
) -> DeepInputs:
    return prepare_inputs(
        batch,
        tabular if config.use_tabular else None,
        text if config.use_text else None,
        review_sentiment=review_sentiment,
        max_len=config.max_len,
        use_browsing=config.use_browsing,
    )


def _input_key(config: DeepConfig) -> tuple:
    """The config fields :func:`_inputs` depends on (inputs are shared across equal keys)."""
    return (config.use_tabular, config.use_text, config.max_len, config.use_browsing)


def _target_arrays(targets: pd.DataFrame, users: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    spend = targets["holdout_spend"].reindex(users).to_numpy(dtype=float)
    if np.isnan(spend).any():
        raise KeyError("targets lack some customers of the sequence batch")
    if "holdout_zero" in targets:
        zero = targets["holdout_zero"].reindex(users).to_numpy(dtype=float)
    else:
        zero = (spend <= 0).astype(float)
    return spend, zero


def _fold_scaler(
    scalers: Mapping[Any, dict[str, Any]] | None, fold: int, inputs: DeepInputs
) -> FeatureScaler | None:
    if scalers is None or not inputs.tabular.shape[1]:
        return None
    saved = scalers.get(fold, scalers.get(str(fold)))
    return FeatureScaler.from_dict(saved) if saved is not None else None


def _fit_fold(
    inputs: DeepInputs,
    spend: np.ndarray,
    zero: np.ndarray,
    split: FoldSplit,
    config: DeepConfig,
    seed: int,
    scalers: Mapping[Any, dict[str, Any]] | None,
    device: torch.device,
    progress: bool,
    live_dir: str | Path | None,
) -> _FoldFit:
    """Train fold ``split.fold`` (seed ``seed + fold``) and predict its customers."""
    start = time.perf_counter()
    trained = train_deep(
        inputs,
        spend,
        zero,
        split.fit,
        split.valid,
        config,
        seed=seed + split.fold,
        device=device,
        progress=progress,
        live_dir=None if live_dir is None else Path(live_dir) / f"fold_{split.fold}",
        tabular_scaler=_fold_scaler(scalers, split.fold, inputs),
        desc=f"fold {split.fold}",
    )
    table = predict_deep(trained, inputs, split.test)
    trained.model.to("cpu")
    return _FoldFit(
        fold=split.fold,
        table=table,
        curve=trained.curve.assign(fold=split.fold),
        best_epoch=trained.best_epoch,
        trained=trained,
        seconds=time.perf_counter() - start,
    )


def _assemble(
    fits: list[_FoldFit],
    users: pd.Index,
    configs: dict[int, DeepConfig],
    device: torch.device | str,
    fit_seconds: float,
    checkpoint_dir: str | Path | None,
) -> DeepResult:
    fits = sorted(fits, key=lambda f: f.fold)
    if checkpoint_dir is not None:
        for fit in fits:
            save_checkpoint(fit.trained, Path(checkpoint_dir) / f"fold_{fit.fold}.pt")
    return DeepResult(
        table=pd.concat([f.table for f in fits]).reindex(users),
        curves=pd.concat([f.curve for f in fits], ignore_index=True)[
            ["fold", "epoch", "train_loss", "valid_loss", "seconds"]
        ],
        best_epochs=[f.best_epoch for f in fits],
        fit_seconds=fit_seconds,
        device=str(device),
        config=configs[min(configs)],
        models=[f.trained for f in fits],
        fold_configs=configs,
    )


def crossfit_deep(
    batch: SequenceBatch,
    tabular: pd.DataFrame | None,
    text: pd.DataFrame | None,
    targets: pd.DataFrame,
    folds: np.ndarray | pd.Series,
    config: ConfigSpec,
    seed: int,
    review_sentiment: np.ndarray | None = None,
    scalers: dict[Any, dict[str, Any]] | None = None,
    live_dir: str | Path | None = None,
    checkpoint_dir: str | Path | None = None,
    progress: bool = True,
    device: str | torch.device | None = None,
) -> DeepResult:
    """Cross-fitted deep predictions of holdout spend, P(zero) and an 80 % interval.

    Parameters
    ----------
    batch : SequenceBatch
        Stage-03 sequences; its ``user_ids`` define the customers and their order.
    tabular, text : DataFrame or None
        Behaviour features and text block (index user_id). Switched off by
        ``config.use_tabular`` / ``config.use_text`` or by having no columns.
    targets : DataFrame
        ``holdout_spend`` (and ``holdout_zero``; default ``holdout_spend <= 0``), index
        user_id.
    folds : array or Series
        Fold id per customer (Series: aligned on user_id; array: batch order).
    config : DeepConfig or mapping of fold id to DeepConfig
        One configuration for all folds, or one per fold (e.g.
        :attr:`helpers.models.tuning.NestedTuning.configs`; see :func:`fold_configs`).
    seed : int
        Fold ``k`` trains with ``seed + k``. Training and early-stopping customers come
        from :func:`helpers.models.crossfit.crossfit_splits` with ``seed`` and
        ``config.valid_share`` — the same customers as
        :func:`helpers.models.gbdt.crossfit_gbdt` with the same folds, seed and share.
    review_sentiment : array, optional
        ``texts["sentiment"]`` (see :func:`prepare_inputs`).
    scalers : dict, optional
        Saved per-fold :class:`FeatureScaler` dicts for ``tabular`` (keys fold ids, as
        in ``feature_scalers.json``); default: fit per fold on its training customers.
    live_dir, checkpoint_dir : path, optional
        DVCLive logs in ``<live_dir>/fold_<k>``; checkpoints ``fold_<k>.pt`` (+ ``.json``).

    See Also
    --------
    crossfit_deep_many : several configurations at once, in parallel processes.
    """
    start = time.perf_counter()
    users = pd.Index(batch.user_ids.astype(str), name="user_id")
    folds = fold_array(folds, users)
    configs = fold_configs(config, folds)
    first = configs[min(configs)]
    inputs = _inputs(batch, tabular, text, review_sentiment, first)
    spend, zero = _target_arrays(targets, inputs.user_ids)
    device = pick_device(device)
    fits = [
        _fit_fold(
            inputs,
            spend,
            zero,
            split,
            configs[split.fold],
            seed,
            scalers,
            device,
            progress,
            live_dir,
        )
        for split in crossfit_splits(folds, seed, first.valid_share)
    ]
    return _assemble(
        fits, inputs.user_ids, configs, device, time.perf_counter() - start, checkpoint_dir
    )


# --- several configurations in parallel processes ----------------------------------------


def _worker_inputs(config: DeepConfig) -> tuple[DeepInputs, np.ndarray, np.ndarray]:
    """In a worker: the model inputs of ``config`` (built once per input key)."""
    data = shared()
    cache = data.setdefault("inputs", {})
    key = _input_key(config)
    if key not in cache:
        inputs = _inputs(
            data["batch"], data["tabular"], data["text"], data["review_sentiment"], config
        )
        cache[key] = (inputs, *_target_arrays(data["targets"], inputs.user_ids))
    return cache[key]


def _fit_fold_in_worker(
    config: DeepConfig, split: FoldSplit, seed: int, live_dir: str | None
) -> _FoldFit:
    inputs, spend, zero = _worker_inputs(config)
    data = shared()
    return _fit_fold(
        inputs, spend, zero, split, config, seed, data["scalers"], data["device"], False, live_dir
    )


def relative_cost(config: DeepConfig) -> float:
    """Rough relative training time of a configuration (for scheduling only).

    Longest jobs are started first so the last ones to finish are short (Graham 1969).
    Seconds per epoch measured on CPU (``benchmarks/bench_stage04.py``, 18k customers,
    GRU = 1): Transformer ~2.2, MSE head ~1.2, no browsing events ~0.25 (much shorter
    sequences); the LSTM is assumed a little dearer than the GRU.
    """
    cost = {"gru": 1.0, "lstm": 1.2, "transformer": 2.2}[config.encoder]
    if not config.use_sequence:
        cost = 0.2
    elif not config.use_browsing:
        cost *= 0.25
    return cost * (config.max_len or 50) / 32


def crossfit_deep_many(
    batch: SequenceBatch,
    tabular: pd.DataFrame | None,
    text: pd.DataFrame | None,
    targets: pd.DataFrame,
    folds: np.ndarray | pd.Series,
    configs: Mapping[str, ConfigSpec],
    seed: int,
    review_sentiment: np.ndarray | None = None,
    scalers: dict[Any, dict[str, Any]] | None = None,
    live_dirs: Mapping[str, str | Path] | None = None,
    checkpoint_dirs: Mapping[str, str | Path] | None = None,
    n_jobs: int = 2,
    threads: int | None = 1,
    progress: bool = True,
    device: str | torch.device | None = None,
    mp_context: str | None = None,
) -> dict[str, DeepResult]:
    """:func:`crossfit_deep` for several configurations, trainings run in parallel.

    The ``len(configs) * n_folds`` trainings (one per configuration and fold) are
    independent; they are spread over ``n_jobs`` worker processes, longest first
    (:func:`relative_cost`). Each trains exactly as :func:`crossfit_deep` does (same
    splits, seeds and scalers) with ``threads`` torch threads, so every result equals
    the serial ``crossfit_deep(..., config, seed)`` run with the same thread count.

    Parameters
    ----------
    batch, tabular, text, targets, folds, seed, review_sentiment, scalers
        As in :func:`crossfit_deep` (shared by all configurations).
    configs : mapping of str to DeepConfig (or to a per-fold mapping, see :func:`fold_configs`)
        Name → configuration, e.g. ``{"deep": best, "deep_mse": best.replace(loss="mse")}``.
    live_dirs, checkpoint_dirs : mapping of str to path, optional
        DVCLive / checkpoint directory for the named configurations (others get none).
    n_jobs : int
        Worker processes (``1``: serial, in this process). On a 2-core CPU use 2 with
        ``threads=1``; on one GPU, 1.
    threads : int or None
        ``torch.set_num_threads`` of each training (``None``: keep this process's value,
        serial only).
    mp_context : str, optional
        How workers start (:func:`helpers.models.deep.parallel.worker_context`):
        default ``"forkserver"`` where the OS has it, else ``"spawn"``.

    Returns
    -------
    dict of str to DeepResult
        In the order of ``configs``.
    """
    if not configs:
        return {}
    configs = dict(configs)
    live_dirs, checkpoint_dirs = dict(live_dirs or {}), dict(checkpoint_dirs or {})
    unknown = (set(live_dirs) | set(checkpoint_dirs)) - set(configs)
    if unknown:
        raise KeyError(f"directories given for unknown configurations {sorted(unknown)}")
    data = {
        "batch": batch,
        "tabular": tabular,
        "text": text,
        "targets": targets,
        "review_sentiment": review_sentiment,
        "scalers": scalers,
    }
    dirs = (live_dirs, checkpoint_dirs)
    if n_jobs <= 1:
        return _many_serial(data, folds, configs, seed, dirs, threads, progress, device)
    return _many_in_workers(
        data, folds, configs, seed, dirs, n_jobs, threads, progress, device, mp_context
    )


def _many_serial(
    data: dict[str, Any],
    folds: np.ndarray | pd.Series,
    configs: dict[str, ConfigSpec],
    seed: int,
    dirs: tuple[dict[str, str | Path], dict[str, str | Path]],
    threads: int | None,
    progress: bool,
    device: str | torch.device | None,
) -> dict[str, DeepResult]:
    """:func:`crossfit_deep` for each configuration in turn, in this process.

    ``data`` holds the shared inputs (``batch, tabular, text, targets,
    review_sentiment, scalers``); ``dirs`` the live and checkpoint directories by name.
    """
    live_dirs, checkpoint_dirs = dirs
    with torch_threads(threads):
        return {
            name: crossfit_deep(
                data["batch"],
                data["tabular"],
                data["text"],
                data["targets"],
                folds,
                config,
                seed,
                review_sentiment=data["review_sentiment"],
                scalers=data["scalers"],
                live_dir=live_dirs.get(name),
                checkpoint_dir=checkpoint_dirs.get(name),
                progress=progress,
                device=device,
            )
            for name, config in configs.items()
        }


def _many_in_workers(
    data: dict[str, Any],
    folds: np.ndarray | pd.Series,
    configs: dict[str, ConfigSpec],
    seed: int,
    dirs: tuple[dict[str, str | Path], dict[str, str | Path]],
    n_jobs: int,
    threads: int | None,
    progress: bool,
    device: str | torch.device | None,
    mp_context: str | None,
) -> dict[str, DeepResult]:
    """The ``(configuration, fold)`` trainings spread over ``n_jobs`` worker processes,
    longest first (arguments as in :func:`_many_serial`)."""
    live_dirs, checkpoint_dirs = dirs
    device = pick_device(device)
    users = pd.Index(data["batch"].user_ids.astype(str), name="user_id")
    folds = fold_array(folds, users)
    _target_arrays(data["targets"], users)  # fail here, not in a worker
    per_fold = {name: fold_configs(config, folds) for name, config in configs.items()}
    tasks = [
        (name, chosen[split.fold], split)
        for name, chosen in per_fold.items()
        for split in crossfit_splits(folds, seed, chosen[min(chosen)].valid_share)
    ]
    tasks.sort(key=lambda task: -relative_cost(task[1]))  # stable: folds stay in order
    fitted = map_in_workers(
        _fit_fold_in_worker,
        [
            (config, split, seed, str(live_dirs[name]) if name in live_dirs else None)
            for name, config, split in tasks
        ],
        {**data, "device": device},
        n_jobs=n_jobs,
        threads=1 if threads is None else threads,
        progress=progress,
        desc="deep models",
        mp_context=mp_context,
    )
    fits: dict[str, list[_FoldFit]] = {name: [] for name in configs}
    for (name, _, _), fit in zip(tasks, fitted, strict=True):
        fits[name].append(fit)
    return {
        name: _assemble(
            fits[name],
            users,
            per_fold[name],
            device,
            sum(f.seconds for f in fits[name]),
            checkpoint_dirs.get(name),
        )
        for name in configs
    }


def plot_loss_curves(curves: pd.DataFrame, title: str = "Deep model") -> plt.Figure:
    """Training and validation loss per epoch, one line per fold."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharey=True)
    for ax, column in zip(axes, ("train_loss", "valid_loss"), strict=True):
        for fold, rows in curves.groupby("fold"):
            ax.plot(rows["epoch"] + 1, rows[column], marker="o", ms=3, label=f"fold {fold}")
        ax.set(title=f"{title}: {column.replace('_', ' ')}", xlabel="epoch", ylabel="loss")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig
