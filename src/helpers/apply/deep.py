"""Production refit of the deep CLV model (stage 07 and ``python -m helpers score``).

Stage 04b cross-fits the deep model (:mod:`helpers.models.deep`) and tunes it per fold
with Optuna; its checkpoints (``data/processed/deep_checkpoints/fold_<k>.{pt,json}``)
keep each fold's configuration and early-stopped epoch. Production needs **one** model:

* **configuration**: the one most folds were given by the tuning (ties: the lowest
  fold), with the leaderboard row's ablation applied (``deep_no_text`` = the tuned
  configuration with ``use_text=False``, :data:`helpers.models.deep.ABLATIONS`);
* **epochs**: fixed in advance, the median (rounded up) over folds of 04b's early-stopped epoch
  count (``best_epoch + 1``), so nothing after ``as_of`` (and no validation set) decides
  when to stop;
* **data**: sequences (:func:`helpers.features.sequences.build_sequences`) and the
  selected behaviour features as of ``as_of - H``, targets = spend over
  ``(as_of - H, as_of]``, every customer who bought before ``as_of - H``; it then scores
  sequences and features as of ``as_of``. The 80 % interval is the ZILN head's 10 % and
  90 % quantiles, as in 04b (``deep_intervals.parquet``).

Only configurations without the text block can be refitted: stage 02 computes text
features (and review sentiment) at the study's cutoff only, so there are none as of
``as_of - H`` or ``as_of``. The sentiment channel is therefore 0 in both the training
and the scoring inputs (the same at both dates, so there is no train/score skew).

Determinism: same events, configuration, epochs and seed give identical predictions
(deterministic algorithms on the CPU, :func:`helpers.models.deep.train_deep`).

References
----------
Wang, Liu & Miao (2019), A deep probabilistic model for customer lifetime value
prediction. arXiv:1912.07753.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "DeepProduction",
    "is_deep_model",
    "production_deep_config",
    "fit_score_deep",
]

#: Fallback epoch count when no checkpoint says how long 04b trained.
DEFAULT_EPOCHS = 4


def is_deep_model(name: str) -> bool:
    """``deep`` or one of its ablation rows ``deep_<name>``."""
    return name == "deep" or name.startswith("deep_")


@dataclass(frozen=True)
class DeepProduction:
    """What the production refit of one deep leaderboard row uses.

    ``config`` is a :class:`helpers.models.deep.DeepConfig` as a dict (JSON-safe),
    ``epochs`` the fixed number of training epochs, ``source`` where both came from.
    """

    model: str
    config: dict
    epochs: int
    source: str

    @property
    def applicable(self) -> bool:
        """False when the configuration reads the text block (see the module docstring)."""
        return not self.config.get("use_text", True)


def production_deep_config(
    checkpoint_dir: str | Path, model: str = "deep_no_text"
) -> DeepProduction:
    """The tuned configuration and fixed epoch count of ``model`` from 04b's checkpoints.

    Raises
    ------
    FileNotFoundError
        When ``checkpoint_dir`` holds no ``fold_*.json``.
    KeyError
        When ``model`` is not ``deep`` or ``deep_<ablation>``.
    """
    from helpers.models.deep.ablations import ABLATIONS

    if not is_deep_model(model):
        raise KeyError(f"{model!r} is not a deep model row")
    change = {} if model == "deep" else ABLATIONS[model.removeprefix("deep_")]
    files = sorted(
        Path(checkpoint_dir).glob("fold_*.json"),
        key=lambda f: int(f.stem.removeprefix("fold_")) if f.stem[5:].isdigit() else -1,
    )
    if not files:
        raise FileNotFoundError(
            f"no deep checkpoints in {checkpoint_dir} (stage 04b writes fold_<k>.json); "
            "run `dvc repro 04b_deep_model` first"
        )
    metas = [json.loads(f.read_text()) for f in files]
    keys = [json.dumps(m["config"], sort_keys=True) for m in metas]
    modal, count = Counter(keys).most_common(1)[0]
    config = {**json.loads(modal), **change}
    epochs = int(np.ceil(np.median([int(m["best_epoch"]) + 1 for m in metas])))
    source = (
        f"configuration of {count} of {len(metas)} folds of 04b's tuning"
        f"{' with ' + str(change) if change else ''}; {epochs} epochs = median of 04b's "
        f"early-stopped epochs {[int(m['best_epoch']) + 1 for m in metas]}"
    )
    return DeepProduction(model=model, config=config, epochs=max(epochs, 1), source=source)


def _inputs(
    events: pd.DataFrame,
    instant: pd.Timestamp,
    users: pd.Index,
    tabular: pd.DataFrame,
    config,
    vocab: list[str] | None,
    threads: int | None,
):
    from helpers.features.sequences import build_sequences
    from helpers.models.deep import prepare_inputs

    batch = build_sequences(
        events.reset_index(drop=True),
        instant,
        max_len=int(config.max_len or 32),
        customers=users,
        category_vocab=vocab,
        threads=threads,
    )
    inputs = prepare_inputs(
        batch,
        tabular.reindex(users),
        None,
        review_sentiment=None,  # no sentiment exists after the study's cutoff: 0 throughout
        max_len=config.max_len,
        use_browsing=config.use_browsing,
    )
    return batch, inputs


def _stack(parts: list) -> Any:
    """One :class:`~helpers.models.deep.DeepInputs` of several windows' rows; a row's id is
    ``user@k`` (window ``k``), so the scalers see every row once."""
    from dataclasses import replace

    ids = [f"{u}@{k}" for k, part in enumerate(parts) for u in part.user_ids]
    index = pd.Index(ids, name="user_id")
    tabular = pd.concat([p.tabular for p in parts])
    text = pd.concat([p.text for p in parts])
    tabular.index, text.index = index, index
    return replace(
        parts[0],
        user_ids=index,
        tokens=np.concatenate([p.tokens for p in parts]),
        cont=np.concatenate([p.cont for p in parts]),
        lengths=np.concatenate([p.lengths for p in parts]),
        tabular=tabular,
        text=text,
    )


def fit_score_deep(
    events: pd.DataFrame,
    train_instant: pd.Timestamp,
    score_instant: pd.Timestamp,
    train_features: pd.DataFrame,
    today_features: pd.DataFrame,
    target_spend: pd.Series,
    selected: Sequence[str],
    production: DeepProduction,
    seed: int,
    threads: int | None = 1,
    progress: bool = False,
    more_windows: Sequence[tuple[pd.Timestamp, pd.DataFrame, pd.Series]] = (),
) -> tuple[pd.DataFrame, dict]:
    """Train the production deep model on the window before ``train_instant`` and score.

    Parameters
    ----------
    events : DataFrame
        Canonical events up to ``as_of`` (later ones already dropped).
    train_instant, score_instant : Timestamp
        Exclusive ends of the training and scoring histories (``as_of - H + 1 day`` and
        ``as_of + 1 day``).
    train_features, today_features : DataFrame
        Behaviour features as of those instants (index user_id; training customers =
        ``train_features.index``, scored customers = ``today_features.index``).
    target_spend : Series
        Spend over ``(as_of - H, as_of]`` per training customer (0 when none).
    selected : sequence of str
        The study's selected behaviour features (the deep model's tabular block).
    production : DeepProduction
        Configuration and epochs (:func:`production_deep_config`).
    threads : int, optional
        DuckDB threads of the sequence builder (torch always trains on one thread).
    more_windows : sequence of (instant, features, target spend)
        Earlier rolling windows of the deployable recipe
        (:mod:`helpers.apply.deployable`): each adds its customers as training rows,
        with sequences and features as of its own instant and its own window's spend.

    Returns
    -------
    (DataFrame, dict)
        Index = ``today_features.index``; columns ``predicted_spend``, ``p_zero``,
        ``q10``, ``q90``; and facts of the fit (``epochs``, ``kept_epoch``,
        ``train_customers``).
    """
    import torch

    from helpers.models.deep import DeepConfig, predict_deep, train_deep

    if not production.applicable:
        raise ValueError(
            f"{production.model} reads the text block, which exists only at the study's "
            "cutoff; it cannot be refitted for production"
        )
    config = DeepConfig.from_dict(
        {**production.config, "max_epochs": production.epochs, "patience": production.epochs + 1}
    )
    columns = [c for c in dict.fromkeys(selected) if c in train_features and c in today_features]
    columns = columns or [c for c in train_features.columns if c in today_features]
    train_users = pd.Index(train_features.index, name="user_id")
    batch, train_inputs = _inputs(
        events, train_instant, train_users, train_features[columns], config, None, threads
    )
    _, today_inputs = _inputs(
        events,
        score_instant,
        pd.Index(today_features.index, name="user_id"),
        today_features[columns],
        config,
        list(batch.category_vocab),
        threads,
    )
    spend = target_spend.reindex(train_users, fill_value=0.0).to_numpy(dtype=float)
    if more_windows:
        parts, spends = [train_inputs], [spend]
        for instant, features, target in more_windows:
            users = pd.Index(features.index, name="user_id")
            _, extra = _inputs(
                events, instant, users, features[columns], config, list(batch.category_vocab),
                threads,
            )  # fmt: skip
            parts.append(extra)
            spends.append(target.reindex(users, fill_value=0.0).to_numpy(dtype=float))
        train_inputs, spend = _stack(parts), np.concatenate(spends)
    rows = np.arange(len(spend))
    # the per-epoch loss is watched on a seeded fifth of the (training) customers: it
    # decides nothing (patience > epochs) except, rarely, keeping an earlier epoch
    watch = np.sort(np.random.default_rng(seed).permutation(rows)[: max(1, len(rows) // 5)])
    previous = torch.get_num_threads()
    # one torch thread: a small GRU gains little from two, and on a shared machine two
    # spinning threads made training 9x slower (165 s against 18 s at load average 8)
    torch.set_num_threads(1)
    try:
        # fixed epochs: no early-stopping customers are held apart, all of them train
        trained = train_deep(
            train_inputs,
            spend,
            (spend <= 0).astype(float),
            rows,
            watch,
            config,
            seed=seed,
            progress=progress,
            desc=f"{production.model} (production)",
        )
        predicted = predict_deep(trained, today_inputs)
    finally:
        torch.set_num_threads(previous)
    out = predicted[["predicted_spend", "p_zero", "q10", "q90"]].copy()
    out.index = pd.Index(today_features.index, name="user_id")
    facts = {
        "epochs": production.epochs,
        "kept_epoch": int(trained.best_epoch) + 1,
        "train_customers": len(train_users),
        "train_rows": len(spend),
        "train_seconds": round(float(trained.seconds), 2),
    }
    return out, facts
