"""Running notebook 06b: every measurement of the text-signal study, in order.

:func:`run_study` reads what stages 01-04 wrote and measures, on ``shopsim``:

1. variants (a)-(d) with LightGBM on the study's customers (variant (b) is stage 04a's
   own model, read from its predictions);
2. candidate text blocks, what the embedding columns add, and (with a GPU, or when
   asked) the block read through an encoder fine-tuned on the ratings;
3. the sweep over simulated worlds (:func:`~.sweep.run_sweep`) and the pooled share of
   the ceiling over the strongest world's samples;
4. variants (a)-(d) of stage 04b's deep model on one fold, trained in background
   processes while 1-3 run (:func:`~.variants.start_deep_variants_on_fold`).

:func:`write_outputs` writes the metrics and the sweep table. The sentences and tables
that report them are in :mod:`.summary`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers.data.split import Split
from helpers.evaluation.metrics import normalized_gini, paired_bootstrap
from helpers.features import text as text_features
from helpers.features.sequences import load_sequences
from helpers.features.text_encoder import EmbeddingCache, TextEncoder, embed_texts
from helpers.studies.text_signal.blocks import (
    CANDIDATE_LABELS,
    candidate_blocks,
    compact_columns,
    rating_features,
    variant_blocks,
)
from helpers.studies.text_signal.bootstrap import (
    recovery_summary,
    replicate_summary,
    replicate_table,
)
from helpers.studies.text_signal.readers import finetuned_text_block, reader_for_candidates
from helpers.studies.text_signal.settings import StudySettings, SweepInputs
from helpers.studies.text_signal.sweep import (
    feasible_replicates,
    run_sweep,
    shared_sentiment_head,
)
from helpers.studies.text_signal.variants import (
    PendingDeepVariants,
    gbdt_variants,
    start_deep_variants_on_fold,
)


@dataclass(eq=False)
class StudyResults:
    """What :func:`run_study` measured.

    Attributes
    ----------
    dataset : str
    applicable : bool
        Whether the study ran: ``shopsim`` with its truth and a text block.
    n_customers : int
    settings : StudySettings
        As used (``n_components`` resolved on the study's reviews).
    metrics : dict
        Every figure, in the order measured; keys ending in ``seconds`` are timings
        (not results: :attr:`stable` leaves them out). ``gbdt`` and ``deep``: variants
        (a)-(d) (:func:`~.bootstrap.recovery_summary`); ``candidates``; optionally
        ``embedding_columns_effect``, ``finetune``; ``sweep`` (one row per world);
        ``replicates`` (the pooled share, :func:`~.bootstrap.replicate_summary`).
    sweep : DataFrame
        ``metrics["sweep"]`` as a table.
    samples : DataFrame, optional
        The strongest world's samples (:func:`~.bootstrap.replicate_table`), when it has
        at least two.
    candidate_names : dict
        Label of each block of the candidates' table, the study's block first.
    predictions : DataFrame, optional
        The LightGBM variants' predicted holdout spend per customer.
    notes : list of str
        What was left out, and why.
    """

    dataset: str
    applicable: bool
    n_customers: int
    settings: StudySettings
    metrics: dict[str, Any]
    sweep: pd.DataFrame = field(default_factory=pd.DataFrame)
    samples: pd.DataFrame | None = None
    candidate_names: dict[str, str] = field(default_factory=dict)
    predictions: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def stable(self) -> dict[str, Any]:
        """The metrics without the timings: the same on every run with the same params."""
        return {k: v for k, v in self.metrics.items() if not k.endswith("seconds")}

    @property
    def timings(self) -> pd.Series:
        """Seconds spent per part of the study."""
        times = {k: v for k, v in self.metrics.items() if k.endswith("seconds")}
        return pd.Series(times, dtype=float)


def run_study(
    processed: Path, interim: Path, cache: Path, dataset: str, settings: StudySettings
) -> StudyResults:
    """Every measurement of notebook 06b (see the module notes), in order.

    Parameters
    ----------
    processed, interim : Path
        The folders stages 01-04 wrote (``base.paths``).
    cache : Path
        The embedding cache folder of stage 02.
    dataset : str
        ``base.dataset``: the study runs on ``shopsim`` only (it needs the truth).
    settings : StudySettings
    """
    started = time.perf_counter()
    truth = pd.read_parquet(processed / "truth.parquet")
    customers = pd.read_parquet(processed / "customers.parquet")
    text_table = pd.read_parquet(processed / "text_features.parquet")
    applicable = dataset == "shopsim" and len(truth) > 0 and len(text_table) > 0
    metrics: dict[str, Any] = {
        "applicable": applicable,
        "kappa_default": None,
        "candidate": settings.candidate,
        "candidate_label": CANDIDATE_LABELS.get(settings.candidate, settings.candidate),
    }
    results = StudyResults(dataset, applicable, len(customers), settings, metrics)
    if applicable:
        study = _load(processed, interim, customers, truth, text_table, dataset, settings)
        results.settings = study.settings
        pending = _start_deep(study)
        _score_variants(study, results)
        _score_candidates(study, cache, results)
        _finetune(study, results)
        _sweep(study, results)
        _collect_deep(study, pending, results)
    else:
        metrics["sweep"] = []
    metrics["seconds"] = time.perf_counter() - started
    return results


def write_outputs(results: StudyResults, folder: Path) -> None:
    """``text_signal.json`` (:attr:`StudyResults.stable`) and ``text_signal_sweep.csv``."""
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results.stable, indent=2, default=float) + "\n"
    (folder / "text_signal.json").write_text(text)
    results.sweep.to_csv(folder / "text_signal_sweep.csv", index=False)


@dataclass(eq=False)
class _Study:
    """The study's data and what the sections share (filled section by section)."""

    settings: StudySettings
    processed: Path
    customers: pd.DataFrame
    truth: pd.DataFrame
    behaviour: pd.DataFrame
    selected: list[str]
    folds: np.ndarray
    split: Split
    no_review_days: float
    text_block: pd.DataFrame
    texts: pd.DataFrame
    blocks: dict[str, pd.DataFrame]
    study_has_embeddings: bool
    shared: dict[str, Any] = field(default_factory=dict)


def _load(
    processed: Path,
    interim: Path,
    customers: pd.DataFrame,
    truth: pd.DataFrame,
    text_table: pd.DataFrame,
    dataset: str,
    settings: StudySettings,
) -> _Study:
    """Read stages 01-03's outputs and build variants (a)-(d)'s blocks."""
    behaviour = pd.read_parquet(processed / "behaviour_features.parquet")
    selected = json.loads((processed / "selected_features.json").read_text())
    folds = pd.read_parquet(processed / "folds.parquet")["fold"].to_numpy()
    split = Split.from_json(processed / "split.json", dataset)
    no_review_days = float(behaviour.attrs.get("history_days", behaviour["tenure_days"].max()))
    text_block = text_features.align_user_text_features(text_table, customers.index, no_review_days)
    texts = pd.read_parquet(processed / "texts.parquet")
    satisfaction = truth.set_index(truth["user_id"].astype(str))["satisfaction"]
    blocks = variant_blocks(text_block, satisfaction, rating_features(texts))
    settings = settings.for_reviews(bool(texts["rating"].notna().any()))
    study_has_embeddings = len(compact_columns(text_block)) < text_block.shape[1]
    assert study_has_embeddings == (settings.sweep.n_components > 0), "as stage 02 resolved"
    events_text = pd.read_parquet(interim / "events.parquet", columns=["text"])
    study = _Study(
        settings=settings,
        processed=processed,
        customers=customers,
        truth=truth,
        behaviour=behaviour,
        selected=selected,
        folds=folds,
        split=split,
        no_review_days=no_review_days,
        text_block=text_block,
        texts=texts,
        blocks=blocks,
        study_has_embeddings=study_has_embeddings,
    )
    study.shared["review_texts"] = events_text.loc[texts["event_row"], "text"]
    return study


def _start_deep(study: _Study) -> PendingDeepVariants | None:
    """Start the deep-model variants on one fold in the background (None: skipped)."""
    import torch

    from helpers.models.deep import DeepConfig

    settings, processed = study.settings, study.processed
    fold = settings.deep_fold
    checkpoint = processed / "deep_checkpoints" / f"fold_{fold}.json"
    run_deep = fold is not None and checkpoint.exists()
    if not (run_deep and (settings.deep_on_cpu or torch.cuda.is_available())):
        return None
    config = DeepConfig.from_dict(json.loads(checkpoint.read_text())["config"])
    batch = load_sequences(processed / "sequences.npz")
    scalers = json.loads((processed / "feature_scalers.json").read_text())
    customers = study.customers
    assert list(batch.user_ids) == list(customers.index), "sequences follow the customers"
    # (b) on the fold is the study's own deep model of notebook 04b
    deep_table = pd.read_parquet(processed / "predictions_deep.parquet")
    own = deep_table[deep_table["model"] == "deep"].set_index("user_id")
    reuse = customers.index[study.folds == fold].isin(own.index).all()
    study.shared.update(deep_started=time.perf_counter(), deep_own=own if reuse else None)
    return start_deep_variants_on_fold(
        batch,
        study.behaviour[study.selected],
        {k: v for k, v in study.blocks.items() if not (reuse and k == "text")},
        customers,
        study.folds,
        config,
        settings.sweep.seed,
        review_sentiment=study.texts["sentiment"].to_numpy(),
        scalers=scalers,
        fold=fold,
        n_jobs=settings.n_jobs,
        threads=settings.torch_threads,
        caller_threads=settings.caller_threads,
    )


def _score_variants(study: _Study, results: StudyResults) -> None:
    """Variants (a)-(d) with LightGBM; (b) is stage 04a's model, read from its predictions."""
    sweep, customers = study.settings.sweep, study.customers
    baselines = pd.read_parquet(study.processed / "predictions_baselines.parquet")
    own = baselines[baselines["model"] == "gbdt"].set_index("user_id")["predicted_spend"]
    reuse = len(own) == len(customers)
    to_fit = {k: v for k, v in study.blocks.items() if not (reuse and k == "text")}
    start = time.perf_counter()
    gbdt = gbdt_variants(
        study.behaviour[study.selected],
        to_fit,
        customers["holdout_spend"],
        study.folds,
        sweep.seed,
        **dict(sweep.gbdt),
    )
    results.metrics["gbdt_seconds"] = time.perf_counter() - start
    if reuse:
        gbdt["text"] = own.reindex(customers.index).to_numpy()
    gbdt = gbdt[list(study.blocks)]
    results.metrics["gbdt"] = recovery_summary(
        customers["holdout_spend"], gbdt, sweep.n_boot, sweep.seed, sweep.level
    )
    results.predictions = gbdt


def _score_candidates(study: _Study, cache: Path, results: StudyResults) -> None:
    """Candidate text blocks with LightGBM, and what the embedding columns add."""
    settings, sweep, customers = study.settings, study.settings.sweep, study.customers
    texts, as_of = study.texts, study.split.calibration_end
    encoder = TextEncoder(
        settings.encoder_model, batch_size=settings.batch_size, max_length=settings.max_length
    )
    store = EmbeddingCache(cache)
    described = [s for pair in text_features.ASPECT_DESCRIPTIONS.values() for s in pair]
    aspect_vectors, _ = embed_texts(encoder, described, cache=store)
    embeddings = np.load(study.processed / "text_embeddings.npy")[texts["embedding_row"]]
    signals = text_features.review_signal_features(
        texts,
        texts["sentiment"].to_numpy(),
        as_of,
        half_life_days=sweep.half_life_days,
        aspects=text_features.aspect_scores(embeddings, aspect_vectors),
    )
    start = time.perf_counter()
    worded = texts.assign(text=study.shared["review_texts"].astype(str).to_numpy())
    # stage 02's reader, refitted and checked, when the block carries its read ratings;
    # else one for the text_reader candidate only
    reader, read_ratings, in_block = reader_for_candidates(
        worded, study.text_block, settings.rating_reader_folds, sweep.n_folds, sweep.seed
    )
    candidates = candidate_blocks(
        study.text_block,
        signals,
        customers["cal_purchases"],
        _embedding_block(study, embeddings),
        read_ratings,
    )
    if not study.study_has_embeddings:  # the compact block is (b) itself
        candidates.pop("text_compact")
    candidates.pop("text_unanswered", None)
    predictions = gbdt_variants(
        study.behaviour[study.selected],
        candidates,
        customers["holdout_spend"],
        study.folds,
        sweep.seed,
        **dict(sweep.gbdt),
    )
    results.metrics["candidates_seconds"] = time.perf_counter() - start
    scored = results.predictions[["no_text", "text", "satisfaction"]].join(predictions)
    results.metrics["candidates"] = recovery_summary(
        customers["holdout_spend"], scored, sweep.n_boot, sweep.seed, sweep.level
    )
    results.candidate_names = {"text": "study's text block (b)"}
    results.candidate_names.update({k: CANDIDATE_LABELS[k] for k in candidates})
    if "text_embeddings" in candidates:
        results.metrics["embedding_columns_effect"] = paired_bootstrap(
            customers["holdout_spend"].reindex(scored.index),
            scored["text_embeddings"],
            scored["text"],
            normalized_gini,
            sweep.seed,
            sweep.n_boot,
            sweep.level,
        )
    study.shared.update(
        encoder=encoder,
        cache=store,
        embeddings=embeddings,
        aspect_vectors=aspect_vectors,
        worded=worded,
        reader=reader,
        in_block=in_block,
        scored=scored,
    )


def _embedding_block(study: _Study, embeddings: np.ndarray) -> pd.DataFrame:
    """The study's text block with the mean and latest review embedding, 8 PCA dims each."""
    texts = study.texts
    users = text_features.user_text_features(
        texts,
        embeddings,
        texts["sentiment"].to_numpy(),
        study.split.calibration_end,
        text_features.AUTO_EMBEDDING_DIMS,
        study.settings.sweep.seed,
    )
    return text_features.align_user_text_features(
        users, study.customers.index, study.no_review_days
    )


def _finetune(study: _Study, results: StudyResults) -> None:
    """The compact block read through an encoder fine-tuned on the ratings (optional)."""
    import torch

    settings, sweep, shared = study.settings, study.settings.sweep, study.shared
    wanted = settings.finetune
    if not (wanted is True or (wanted == "auto" and torch.cuda.is_available())):
        results.notes.append("fine-tuning skipped: finetune is false, or 'auto' without a GPU")
        return
    start = time.perf_counter()
    block, info = finetuned_text_block(
        TextEncoder(
            settings.encoder_model, batch_size=settings.batch_size, max_length=settings.max_length
        ),
        shared["worded"],
        study.customers.index,
        study.split.calibration_end,
        study.no_review_days,
        sweep.seed,
        sweep.sentiment_c,
        sweep.n_components,
        settings.finetune_steps,
        settings.finetune_layers,
        cache=shared["cache"],
        rating_reader=shared["reader"] if shared["in_block"] else None,
    )
    tuned = gbdt_variants(
        study.behaviour[study.selected],
        {"text_finetuned": block},
        study.customers["holdout_spend"],
        study.folds,
        sweep.seed,
        **dict(sweep.gbdt),
    )
    summary = recovery_summary(
        study.customers["holdout_spend"],
        shared["scored"][["no_text", "text", "satisfaction", "text_compact"]].join(tuned),
        sweep.n_boot,
        sweep.seed,
        sweep.level,
    )
    results.metrics["finetune"] = {**info, **summary}
    results.metrics["finetune_seconds"] = time.perf_counter() - start


def _sweep(study: _Study, results: StudyResults) -> None:
    """The sweep over simulated worlds, and the strongest world's samples pooled."""
    settings, sweep, shared = study.settings, study.settings.sweep, study.shared
    shop = dict(settings.shop)
    results.metrics["kappa_default"] = float(shop.get("kappa", 0.5))
    world_users = sweep.replicate_users or len(study.truth)
    n_replicates = feasible_replicates(world_users, sweep.n_customers, sweep.replicates)
    if n_replicates < sweep.replicates:
        results.notes.append(
            f"replicates: {sweep.replicates} asked, {n_replicates} fit beside the sweep's "
            f"sample of {sweep.n_customers:,} in {world_users:,} simulated users"
        )
    start = time.perf_counter()
    encoder, cache = shared["encoder"], shared["cache"]
    inputs = SweepInputs(
        embed=lambda texts: embed_texts(encoder, texts, cache=cache)[0],
        selected=list(study.selected),
        head=shared_sentiment_head(study.texts, shared["embeddings"], study.truth, sweep),
        aspect_vectors=shared["aspect_vectors"],
        rating_reader=shared["reader"],
        reader_in_block=shared["in_block"],
    )
    rows, samples = run_sweep(shop, replace(sweep, replicates=n_replicates), inputs)
    results.metrics["sweep_seconds"] = time.perf_counter() - start
    results.metrics["sweep"] = rows
    results.sweep = pd.DataFrame(rows)
    if len(samples) >= 2:
        results.samples = replicate_table(samples, settings.candidate)
        if results.samples["gain_satisfaction"].mean() > 0:
            pooled = replicate_summary(
                results.samples, sweep.level, ("text", "reader", settings.candidate)
            )
            results.metrics["replicates"] = {"kappa": float(max(sweep.strengths)), **pooled}


def _collect_deep(
    study: _Study, pending: PendingDeepVariants | None, results: StudyResults
) -> None:
    """Wait for the deep-model variants and score them (:func:`_start_deep`)."""
    if pending is None:
        results.notes.append(
            "deep variants skipped: deep_fold is null, 04b fitted no model, or no GPU and "
            "deep_on_cpu is false"
        )
        return
    sweep, shared = study.settings.sweep, study.shared
    waiting_since = time.perf_counter()
    predictions = pending.result()
    results.metrics["deep_wait_seconds"] = time.perf_counter() - waiting_since
    results.metrics["deep_seconds"] = time.perf_counter() - shared["deep_started"]
    own = shared["deep_own"]
    if own is not None:
        predictions["text"] = own.loc[predictions.index, "predicted_spend"]
    predictions = predictions[list(study.blocks)]
    results.metrics["deep"] = recovery_summary(
        study.customers["holdout_spend"], predictions, sweep.n_boot, sweep.seed, sweep.level
    )
