"""Bayesian hyper-parameter search for the deep CLV model (Optuna TPE + median pruning).

What a search may see: the customers it is given (``train_idx``) and nothing else. They
are split (seeded) into an inner fit set and an inner validation set; a trial trains on
the inner fit set and is scored by its best validation loss on the inner validation set.

The study's protocol (:func:`tune_deep_nested`) makes the choice leak-free: the
hyper-parameters that predict cross-fitting fold *k* are tuned on the customers of one
*other* fold only (:func:`tuning_plan`: fold 0 tunes for folds 1..K-1, fold 1 tunes for
fold 0). No customer's holdout spend takes part in choosing the hyper-parameters of the
model that predicts that customer; the price is two searches on one fold's customers
each instead of one search on the rest. (The previous protocol tuned once on the
customers outside fold 0 and used the result for every fold, so the outcomes of the
customers of folds 1..K-1 helped choose the configuration that then predicted them.)
No holdout prediction of any cross-fitted model enters an objective.

Parallel trials with serial results (``n_jobs > 1``): TPE's first ``n_startup_trials``
configurations are drawn at random, independently of earlier results, so they are
known in advance. They are trained in worker processes at once, to the end (no
pruning), and the study is then run as usual, replaying their recorded validation
losses epoch by epoch: the median pruner stops a replayed trial at the epoch it would
have stopped the real one (training is deterministic, so the losses up to that epoch
are the same). The later, TPE-guided trials depend on all earlier results and run one
after another. The study — trials, values, pruning, best configuration — is identical
to a serial one; only the wall time changes.

Search space (``params.yaml``-friendly dict), one entry per :class:`DeepConfig` field:

* a list → categorical choice, e.g. ``encoder: [gru, transformer]``;
* ``{low, high}`` → uniform float (int when both are ints), ``log: true`` for a
  log scale, optional ``step`` for ints.

References
----------
Akiba et al. (2019), Optuna: a next-generation hyperparameter optimization framework. KDD.
Bergstra et al. (2011), Algorithms for hyper-parameter optimization (TPE). NeurIPS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import optuna
import pandas as pd

from helpers.models.crossfit import tuning_split
from helpers.models.deep import DeepConfig, DeepInputs, pick_device, train_deep
from helpers.models.deep.parallel import map_in_workers, shared, torch_threads

#: A small default search space for CPU budgets.
DEFAULT_SEARCH_SPACE: dict[str, Any] = {
    "hidden_size": [16, 32, 64],
    "embed_dim": [4, 8, 16],
    "dropout": {"low": 0.0, "high": 0.3},
    "lr": {"low": 1e-3, "high": 1e-2, "log": True},
    "weight_decay": {"low": 1e-6, "high": 1e-2, "log": True},
}


@dataclass
class TuningResult:
    """Best parameters, the config they give, and the Optuna study."""

    best_params: dict[str, Any]
    best_config: DeepConfig
    best_value: float
    study: optuna.Study

    def trials(self) -> pd.DataFrame:
        """One row per trial: number, state, value, params."""
        return self.study.trials_dataframe(attrs=("number", "value", "state", "params"))


def suggest(trial: optuna.Trial, space: dict[str, Any]) -> dict[str, Any]:
    """Draw one configuration from ``space`` (see the module docstring)."""
    params: dict[str, Any] = {}
    for name, spec in space.items():
        if isinstance(spec, list | tuple):
            params[name] = trial.suggest_categorical(name, list(spec))
        elif isinstance(spec, dict):
            low, high = spec["low"], spec["high"]
            if isinstance(low, int) and isinstance(high, int) and not isinstance(low, bool):
                params[name] = trial.suggest_int(
                    name, low, high, step=spec.get("step", 1), log=spec.get("log", False)
                )
            else:
                params[name] = trial.suggest_float(
                    name, float(low), float(high), log=spec.get("log", False)
                )
        else:
            raise TypeError(f"search space entry {name!r}: list or {{low, high}} expected")
    return params


def _sampler(seed: int, n_trials: int) -> optuna.samplers.TPESampler:
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(4, n_trials))


def _full_curve(config: DeepConfig, seed: int) -> list[float]:
    """In a worker: validation loss per epoch of one trial trained without pruning."""
    d = shared()
    trained = train_deep(
        d["inputs"],
        d["spend"],
        d["zero"],
        d["fit_idx"],
        d["valid_idx"],
        config,
        seed=seed,
        device=d["device"],
        progress=False,
    )
    return trained.curve["valid_loss"].tolist()


def _startup_curves(
    space: dict[str, Any],
    base_config: DeepConfig,
    seed: int,
    n_trials: int,
    data: dict[str, Any],
    n_jobs: int,
    threads: int,
    progress: bool,
) -> dict[int, tuple[dict[str, Any], list[float]]]:
    """Trial number → (params, validation curve) of the random start-up trials, in parallel."""
    n_startup = min(4, n_trials)
    dry = optuna.create_study(direction="minimize", sampler=_sampler(seed, n_trials))
    params = [suggest(dry.ask(), space) for _ in range(n_startup)]  # nothing told: random
    curves = map_in_workers(
        _full_curve,
        [(base_config.replace(**p), seed) for p in params],
        data,
        n_jobs=n_jobs,
        threads=threads,
        progress=progress,
        desc="start-up trials",
    )
    return dict(enumerate(zip(params, curves, strict=True)))


def tune_deep(
    inputs: DeepInputs,
    spend: np.ndarray,
    zero: np.ndarray,
    train_idx: np.ndarray,
    base_config: DeepConfig,
    seed: int,
    n_trials: int = 6,
    search_space: dict[str, Any] | None = None,
    valid_share: float | None = None,
    timeout: float | None = None,
    progress: bool = False,
    device: str | None = None,
    n_jobs: int = 1,
    threads: int | None = 1,
) -> TuningResult:
    """TPE search (seeded) with median pruning on one fold's inner validation split.

    Parameters
    ----------
    inputs : DeepInputs
        All customers; only rows ``train_idx`` are used.
    spend, zero : array (n,)
        Targets per row of ``inputs``.
    train_idx : int array
        The tuning fold's *training* customers (never the fold's own customers).
    base_config : DeepConfig
        Fields not in the search space (loss, ablation switches, epochs, patience).
    seed : int
        Seeds the inner split (:func:`helpers.models.crossfit.tuning_split`), the TPE
        sampler and every trial's training.
    n_trials : int
        Trials (small on CPU); ``timeout`` seconds optionally caps the search.
    search_space : dict, optional
        Default :data:`DEFAULT_SEARCH_SPACE`.
    valid_share : float, optional
        Inner validation share; default ``base_config.valid_share``.
    n_jobs : int
        Worker processes for the random start-up trials (see the module docstring);
        the study equals the ``n_jobs=1`` one.
    threads : int or None
        ``torch.set_num_threads`` of every training (``None``: keep this process's
        value; workers then use 1).
    """
    space = DEFAULT_SEARCH_SPACE if search_space is None else search_space
    share = base_config.valid_share if valid_share is None else valid_share
    fit_idx, valid_idx = tuning_split(train_idx, share, seed)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    known: dict[int, tuple[dict[str, Any], list[float]]] = {}
    if n_jobs > 1 and min(4, n_trials) > 1:
        data = _worker_data(inputs, spend, zero, fit_idx, valid_idx, device)
        known = _startup_curves(
            space, base_config, seed, n_trials, data, n_jobs, threads or 1, progress
        )
    objective = _objective(
        inputs, spend, zero, fit_idx, valid_idx, base_config, space, seed, device, progress, known
    )
    study = optuna.create_study(
        direction="minimize",
        sampler=_sampler(seed, n_trials),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=2),
    )
    with torch_threads(threads):
        study.optimize(objective, n_trials=n_trials, timeout=timeout, show_progress_bar=progress)
    best = dict(study.best_params)
    return TuningResult(
        best_params=best,
        best_config=base_config.replace(**best),
        best_value=float(study.best_value),
        study=study,
    )


def _worker_data(
    inputs: DeepInputs,
    spend: np.ndarray,
    zero: np.ndarray,
    fit_idx: np.ndarray,
    valid_idx: np.ndarray,
    device: str | None,
) -> dict[str, Any]:
    """What the workers of :func:`_startup_curves` share (read by :func:`_full_curve`)."""
    return {
        "inputs": inputs,
        "spend": spend,
        "zero": zero,
        "fit_idx": fit_idx,
        "valid_idx": valid_idx,
        "device": pick_device(device),
    }


def _objective(
    inputs: DeepInputs,
    spend: np.ndarray,
    zero: np.ndarray,
    fit_idx: np.ndarray,
    valid_idx: np.ndarray,
    base_config: DeepConfig,
    space: dict[str, Any],
    seed: int,
    device: str | None,
    progress: bool,
    known: dict[int, tuple[dict[str, Any], list[float]]],
) -> Callable[[optuna.Trial], float]:
    """The study's objective: the best validation loss of a trial, reported epoch by epoch
    for pruning; a start-up trial already trained in a worker (``known``) is replayed."""

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, space)
        config = base_config.replace(**params)

        def report(epoch: int, valid_loss: float) -> None:
            trial.report(valid_loss, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()

        recorded = known.get(trial.number)
        if recorded is not None and recorded[0] == params:
            for epoch, valid_loss in enumerate(recorded[1]):
                report(epoch, valid_loss)
            return float(min(recorded[1]))
        trained = train_deep(
            inputs,
            spend,
            zero,
            fit_idx,
            valid_idx,
            config,
            seed=seed,
            device=device,
            progress=progress,
            on_epoch=report,
            desc=f"trial {trial.number}",
        )
        return float(trained.curve["valid_loss"].min())

    return objective


def tuning_plan(folds: np.ndarray) -> dict[int, int]:
    """Scored fold → the fold whose customers tune its hyper-parameters (never itself).

    Fold 0 tunes for every other fold; fold 1 tunes for fold 0. Two searches in all,
    whatever the number of folds.
    """
    ids = sorted(int(f) for f in np.unique(folds))
    if len(ids) < 2:
        raise ValueError(f"leak-free tuning needs at least 2 folds, got {ids}")
    first, second = ids[0], ids[1]
    return {fold: (second if fold == first else first) for fold in ids}


@dataclass
class NestedTuning:
    """The leak-free tuning of :func:`tune_deep_nested`.

    Attributes
    ----------
    plan : dict
        Scored fold → tuning fold (:func:`tuning_plan`).
    searches : dict
        Tuning fold → its :class:`TuningResult`.
    """

    plan: dict[int, int]
    searches: dict[int, TuningResult]

    @property
    def configs(self) -> dict[int, DeepConfig]:
        """Scored fold → the configuration that predicts it."""
        return {fold: self.searches[t].best_config for fold, t in self.plan.items()}

    def trials(self) -> pd.DataFrame:
        """Every trial of every search, with the tuning fold and the folds it serves."""
        frames = []
        for t, result in self.searches.items():
            serves = ", ".join(str(f) for f, used in self.plan.items() if used == t)
            frames.append(result.trials().assign(tuning_fold=t, predicts_folds=serves))
        return pd.concat(frames, ignore_index=True)

    def best(self) -> pd.DataFrame:
        """One row per search: tuning fold, folds it predicts, best loss and parameters."""
        rows = []
        for t, result in self.searches.items():
            serves = [f for f, used in self.plan.items() if used == t]
            rows.append(
                {"tuning_fold": t, "predicts_folds": serves, "best_valid_loss": result.best_value}
                | result.best_params
            )
        return pd.DataFrame(rows).set_index("tuning_fold")


def tune_deep_nested(
    inputs: DeepInputs,
    spend: np.ndarray,
    zero: np.ndarray,
    folds: np.ndarray,
    base_config: DeepConfig,
    seed: int,
    n_trials: int = 6,
    search_space: dict[str, Any] | None = None,
    progress: bool = False,
    device: str | None = None,
    n_jobs: int = 1,
    threads: int | None = 1,
) -> NestedTuning:
    """Leak-free tuning: each fold's hyper-parameters are searched on another fold's customers.

    One :func:`tune_deep` search per tuning fold of :func:`tuning_plan`, on that fold's
    customers only (seed ``seed + tuning fold``). The configuration used to predict
    fold *k* was therefore chosen without any outcome of fold *k*'s customers.

    Parameters
    ----------
    folds : int array (n,)
        Cross-fitting fold per row of ``inputs``.
    Other parameters
        As in :func:`tune_deep`.
    """
    folds = np.asarray(folds)
    plan = tuning_plan(folds)
    searches = {}
    for t in sorted(set(plan.values())):
        searches[t] = tune_deep(
            inputs,
            spend,
            zero,
            np.flatnonzero(folds == t),
            base_config,
            seed=seed + t,
            n_trials=n_trials,
            search_space=search_space,
            progress=progress,
            device=device,
            n_jobs=n_jobs,
            threads=threads,
        )
    return NestedTuning(plan=plan, searches=searches)


def plot_optimization_history(study: optuna.Study) -> plt.Figure:
    """Validation loss per trial (complete and pruned) and the running best."""
    rows = [
        (t.number, t.value if t.value is not None else _last(t), t.state.name) for t in study.trials
    ]
    frame = pd.DataFrame(rows, columns=["trial", "loss", "state"]).dropna()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for state, marker in (("COMPLETE", "o"), ("PRUNED", "x")):
        part = frame[frame["state"] == state]
        ax.scatter(part["trial"], part["loss"], marker=marker, label=state.lower())
    done = frame[frame["state"] == "COMPLETE"]
    if len(done):
        ax.step(done["trial"], done["loss"].cummin(), where="post", color="k", label="best")
    ax.set(title="Optuna TPE: validation loss by trial", xlabel="trial", ylabel="loss")
    ax.legend()
    fig.tight_layout()
    return fig


def _last(trial: optuna.trial.FrozenTrial) -> float | None:
    values = trial.intermediate_values
    return min(values.values()) if values else None


def plot_param_importance(study: optuna.Study) -> plt.Figure:
    """fANOVA importance of each searched parameter (needs ≥ 2 complete trials)."""
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    if len(done) < 2:
        ax.text(0.5, 0.5, "fewer than 2 complete trials", ha="center", va="center")
        ax.set_axis_off()
        return fig
    importance = optuna.importance.get_param_importances(
        study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0)
    )
    series = pd.Series(importance).sort_values()
    ax.barh(series.index, series.to_numpy(), color="steelblue")
    ax.set(title="Hyper-parameter importance (fANOVA)", xlabel="importance")
    fig.tight_layout()
    return fig
