"""The satisfaction-signal sweep of notebook 06b: simulated worlds of growing signal.

:func:`run_sweep` re-simulates the shop at each strength of
:class:`~.settings.SweepSettings` with the same seed (common
random numbers: the same customers, purchases and review texts, see
:mod:`helpers.data.shopsim`); :func:`sweep_point` scores one world: variants (a)-(d),
the candidate blocks and the ceilings (c') and (c'') with cross-fitted LightGBM on a
seeded random subset of customers (:func:`sweep_customers`), and, in the strongest
world, on further disjoint subsets (:func:`replicate_customers`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from helpers.data.shopsim import ShopSimConfig, simulate_shop
from helpers.data.split import Split, make_targets
from helpers.features import text as text_features
from helpers.features.behaviour import behaviour_features
from helpers.features.rating_reader import read_rating_features
from helpers.models.crossfit import customer_folds
from helpers.models.errors import InsufficientDataError
from helpers.studies.text_signal.blocks import (
    candidate_blocks,
    compact_columns,
    experience_features,
    rating_features,
    sweep_sentiment_head,
    text_block_for,
    unanswered_review_features,
    variant_blocks,
)
from helpers.studies.text_signal.bootstrap import recovery_summary
from helpers.studies.text_signal.readers import review_experience, text_reader_features
from helpers.studies.text_signal.settings import SweepInputs, SweepSettings
from helpers.studies.text_signal.variants import gbdt_variants

# ---- customer samples -----------------------------------------------------------------


def sweep_customers(truth: pd.DataFrame, n: int, seed: int) -> pd.Index:
    """A seeded random subset of ``n`` simulated users (the same for every strength)."""
    users = truth["user_id"].astype(str).to_numpy()
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(users), size=min(int(n), len(users)), replace=False))
    return pd.Index(users[pick], name="user_id")


def replicate_customers(truth: pd.DataFrame, n: int, replicates: int, seed: int) -> list[pd.Index]:
    """``replicates`` further seeded subsets of ``n`` users, disjoint from each other and
    from :func:`sweep_customers` ``(truth, n, seed)``.

    Raises ``ValueError`` when the simulated users cannot fill them all.
    """
    if replicates < 0:
        raise ValueError(f"replicates must be >= 0, got {replicates}")
    users = truth["user_id"].astype(str)
    rest = users[~users.isin(sweep_customers(truth, n, seed))].to_numpy()
    if feasible_replicates(len(users), n, replicates) < replicates:
        raise ValueError(
            f"{replicates} replicates of {n:,} customers need {int(n) * int(replicates):,} "
            f"users besides the sweep's own {int(n):,}; the world has {len(rest):,} more "
            "(lower text_signal.replicates or sweep_customers, or raise n_users)"
        )
    order = np.random.default_rng([seed, 1]).permutation(len(rest))
    return [
        pd.Index(np.sort(rest[order[i * int(n) : (i + 1) * int(n)]]), name="user_id")
        for i in range(int(replicates))
    ]


def feasible_replicates(n_users: int, n_customers: int, replicates: int) -> int:
    """How many of ``replicates`` further disjoint samples of ``n_customers`` users fit in
    a world of ``n_users`` beside the sweep's own sample (:func:`replicate_customers`)."""
    if replicates < 0 or n_customers < 1:
        raise ValueError(
            f"replicates must be >= 0 and n_customers >= 1, got {replicates}, {n_customers}"
        )
    return int(min(replicates, max(0, int(n_users) - int(n_customers)) // int(n_customers)))


def shared_sentiment_head(
    texts: pd.DataFrame, embeddings: np.ndarray, truth: pd.DataFrame, settings: SweepSettings
) -> text_features.SentimentHead:
    """The sentiment head every world of the sweep shares (:attr:`SweepInputs.head`).

    Stage 02's head (:func:`~.blocks.sweep_sentiment_head`) trained on the study's rated
    calibration reviews (``texts``, ``embeddings``) of the sweep's customers
    (:func:`sweep_customers` of ``truth``): the worlds share their review texts and
    ratings (common random numbers), so one head scores every world's.
    """
    users = sweep_customers(truth, settings.n_customers, settings.seed)
    inside = texts["user_id"].astype(str).isin(users).to_numpy()
    return sweep_sentiment_head(
        texts[inside], embeddings[inside], settings.seed, settings.sentiment_c
    )


# ---- the sweep ------------------------------------------------------------------------


def run_sweep(
    shop: Mapping[str, Any], settings: SweepSettings, inputs: SweepInputs, progress: bool = True
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Score every world of ``settings.strengths`` (:func:`sweep_point`).

    ``shop`` holds the study's ``ShopSimConfig`` options (``datasets.shopsim``); each
    world sets its strength's satisfaction channels (:meth:`SweepSettings.world`). Only
    the strongest world draws ``settings.replicates`` further samples. A world too small
    to fit (:class:`~helpers.models.errors.InsufficientDataError`) gets a row with
    ``kappa`` and ``error``.

    Returns
    -------
    (rows, samples)
        One row per world, in the order of ``settings.strengths``; and the strongest
        world's samples, the sweep's own first (empty without replicates).
    """
    strongest = max(settings.strengths)
    rows: list[dict[str, Any]] = []
    samples: list[dict[str, Any]] = []
    for strength in tqdm(settings.strengths, desc="sweep", disable=not progress):
        point = settings if strength == strongest else replace(settings, replicates=0)
        try:
            row = sweep_point(strength, settings.world(shop, strength), point, inputs)
            extra = row.pop("replicates", [])
            if extra:  # the strongest world's further samples; the sweep's own is sample 0
                samples = [row, *extra]
        except InsufficientDataError as error:  # a tiny world: too few buyers for a fold
            row = {"kappa": strength, "error": str(error)}
        rows.append(row)
    return rows, samples


def sweep_point(
    kappa: float, shop: Mapping[str, Any], settings: SweepSettings, inputs: SweepInputs
) -> dict[str, Any]:
    """Simulate the shop at ``kappa`` and score variants (a)-(d) with LightGBM.

    Parameters
    ----------
    kappa : float
        Satisfaction-signal strength (:attr:`ShopSimConfig.kappa`).
    shop : mapping
        The study's ``ShopSimConfig`` options (``datasets.shopsim``) with ``kappa`` set
        here and, optionally, the other satisfaction channels (``churn_trigger``,
        ``satisfaction_rate_effect``). With the study's seed and size the sweep's worlds
        share its customers and review texts (common random numbers).
    settings : SweepSettings
        The knobs: sample size, folds, bootstrap, candidate blocks, ceilings (c') and
        (c''), replicates.
    inputs : SweepInputs
        The embedding function, shared sentiment head, aspect vectors, rating reader and
        selected behaviour columns.

    Returns
    -------
    dict
        ``kappa``, ``churn_trigger``, ``n_reviewers`` and the figures of
        :func:`~.bootstrap.recovery_summary`. Variant (c) adds the latent experience
        behind the reviews (:func:`~.blocks.experience_features`) to the true
        satisfaction. With ``settings.replicates``, also ``replicates``: one dict of the
        same figures per further sample (:func:`replicate_customers`), scored like the
        first but without (c''), with the same head (or its own), readers and settings.
    """
    config = ShopSimConfig(**{**dict(shop), "kappa": float(kappa)})
    world = _simulate(config, settings)
    users = sweep_customers(world.sim.truth, settings.n_customers, settings.seed)
    row = _score_sample(world, users, settings, inputs, settings.perfect_reader)
    if settings.replicates:
        other = world
        if settings.replicate_users is not None and int(settings.replicate_users) != config.n_users:
            bigger = ShopSimConfig(**{**asdict(config), "n_users": int(settings.replicate_users)})
            other = _simulate(bigger, settings)
        others = replicate_customers(
            other.sim.truth, settings.n_customers, settings.replicates, settings.seed
        )
        row["replicates"] = [
            _score_sample(other, sample, settings, inputs, False) for sample in others
        ]
    return row


@dataclass(frozen=True, eq=False)
class _World:
    """One simulated world and ceiling (c')'s readings of its reviews (``None``: no (c'))."""

    sim: Any
    config: ShopSimConfig
    read: pd.DataFrame | None


def _simulate(config: ShopSimConfig, settings: SweepSettings) -> _World:
    sim = simulate_shop(config, seed=settings.seed)
    read = (
        _world_reader_features(sim, config, settings.n_folds, settings.seed)
        if settings.reader
        else None
    )
    return _World(sim, config, read)


def _world_reader_features(
    sim: Any, config: ShopSimConfig, n_folds: int, seed: int
) -> pd.DataFrame | None:
    """Ceiling (c')'s readings of every calibration review of the world.

    The truth-trained reader (:func:`~.readers.text_reader_features`) is cross-fitted
    over seeded folds of *all* the world's reviewers, so each sample's reviews are read
    by readers trained on many more reviews than the sample holds, none of them its
    writer's.
    """
    split = Split.from_dates(config.cutoff, config.holdout_end)
    texts = text_features.text_rows(split.calibration(sim.events)).reset_index(drop=True)
    if texts.empty:
        return None
    writers = pd.Index(texts["user_id"].astype(str).unique(), name="user_id")
    if len(writers) < max(2, n_folds):
        return None
    folds = pd.Series(customer_folds(writers, n_folds, seed), index=writers)
    z = sim.truth.set_index(sim.truth["user_id"].astype(str))["satisfaction"]
    return text_reader_features(texts, review_experience(texts, sim.review_truth), z, folds)


@dataclass(frozen=True, eq=False)
class _Sample:
    """One customer sample of a world: targets, behaviour, calibration texts embedded."""

    split: Split
    customers: pd.DataFrame
    behaviour: pd.DataFrame
    texts: pd.DataFrame
    embeddings: np.ndarray
    head: Any
    no_review_days: float


def _sample(
    world: _World, users: pd.Index, settings: SweepSettings, inputs: SweepInputs
) -> _Sample:
    """The sample's customers, behaviour features and embedded calibration texts."""
    config = world.config
    events = world.sim.events[world.sim.events["user_id"].isin(users)]
    split = Split.from_dates(config.cutoff, config.holdout_end)
    customers = make_targets(events, split)
    behaviour = behaviour_features(events, split.calibration_end, customers=customers.index)
    texts = text_features.text_rows(split.calibration(events)).reset_index(drop=True)
    texts = texts[texts["user_id"].isin(customers.index)].reset_index(drop=True)
    no_review_days = float(behaviour.attrs.get("history_days", behaviour["tenure_days"].max()))
    embeddings = inputs.embed(texts["text"].tolist())
    head = inputs.head
    if head is None and len(texts):  # one head for (b) and the candidate blocks
        head = sweep_sentiment_head(texts, embeddings, settings.seed, settings.sentiment_c)
    return _Sample(split, customers, behaviour, texts, embeddings, head, no_review_days)


def _text_block(
    sample: _Sample, dims: int, settings: SweepSettings, inputs: SweepInputs
) -> pd.DataFrame:
    """Stage 02's text block of the sample with ``dims`` embedding dimensions."""
    return text_block_for(
        sample.texts,
        sample.embeddings,
        sample.customers.index,
        sample.split.calibration_end,
        sample.no_review_days,
        settings.seed,
        settings.sentiment_c,
        dims,
        sample.head,
        inputs.block_reader,
    )


def _candidates(
    sample: _Sample, text_block: pd.DataFrame, settings: SweepSettings, inputs: SweepInputs
) -> dict[str, pd.DataFrame]:
    """The blocks of ``settings.candidates`` (:func:`~.blocks.candidate_blocks`) for the sample."""
    texts, as_of = sample.texts, sample.split.calibration_end
    sentiment = text_block.attrs["sentiment"]
    signals = text_features.review_signal_features(
        texts,
        sentiment,
        as_of,
        half_life_days=settings.half_life_days,
        aspects=text_features.aspect_scores(sample.embeddings, inputs.aspect_vectors),
    ).join(unanswered_review_features(texts, sentiment, as_of, sample.behaviour["recency_days"]))
    embedding_columns = None
    if "text_embeddings" in settings.candidates:
        embedded = _text_block(sample, settings.embedding_dims, settings, inputs)
        embedding_columns = embedded.drop(columns=compact_columns(embedded))
    read_ratings = None
    reader, in_block = inputs.rating_reader, inputs.block_reader is not None
    if "text_reader" in settings.candidates and reader is not None and not in_block:
        read = reader.score(texts["text"].astype(str), texts["user_id"])
        read_ratings = read_rating_features(texts, read, text_block.index)
    extra = candidate_blocks(
        text_block, signals, sample.customers["cal_purchases"], embedding_columns, read_ratings
    )
    unknown = sorted(set(settings.candidates) - set(extra))
    if unknown:
        why = " (text_reader: the text block carries the read ratings already)"
        raise ValueError(
            f"unknown candidate block(s) {unknown}; known: {sorted(extra)}"
            + (why if "text_reader" in unknown and in_block else "")
        )
    return {name: extra[name] for name in settings.candidates}


def _score_sample(
    world: _World,
    users: pd.Index,
    settings: SweepSettings,
    inputs: SweepInputs,
    perfect_reader: bool,
) -> dict[str, Any]:
    """:func:`sweep_point`'s scoring of one customer sample of a simulated world."""
    sample = _sample(world, users, settings, inputs)
    customers, texts, as_of = sample.customers, sample.texts, sample.split.calibration_end
    truth = world.sim.truth
    text_block = _text_block(sample, settings.n_components, settings, inputs)
    z = truth.set_index(truth["user_id"].astype(str))["satisfaction"]
    experience = experience_features(world.sim.review_truth, as_of)
    blocks = variant_blocks(text_block, z, rating_features(texts), experience)
    if inputs.aspect_vectors is not None and len(texts):
        blocks.update(_candidates(sample, text_block, settings, inputs))
    compact = text_block[compact_columns(text_block)]  # the base of (c') and (c'')
    if world.read is not None and len(texts):
        blocks["reader"] = compact.join(world.read.reindex(compact.index).fillna(0.0))
    if perfect_reader and len(texts):
        felt = experience_features(world.sim.review_truth, as_of, with_mean=True)
        blocks["experience"] = compact.join(felt.reindex(compact.index).fillna(0.0))
    behaviour = sample.behaviour
    selected = inputs.selected
    columns = [c for c in (selected or behaviour.columns) if c in behaviour.columns]
    predictions = gbdt_variants(
        behaviour[columns],
        blocks,
        customers["holdout_spend"],
        customer_folds(customers.index, settings.n_folds, settings.seed),
        settings.seed,
        **dict(settings.gbdt),
    )
    summary = recovery_summary(
        customers["holdout_spend"], predictions, settings.n_boot, settings.seed, settings.level
    )
    return {
        "kappa": float(world.config.kappa),
        "churn_trigger": float(world.config.churn_trigger),
        "n_reviewers": int(text_block["has_review"].sum()),
        **summary,
    }
