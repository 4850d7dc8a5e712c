"""The settings of notebook 06b (from ``params.yaml``) and the sweep's inputs.

:class:`SweepSettings` holds every knob of the signal sweep, with its defaults in one
place: those of ``params.yaml`` (the ``text_signal``, ``text`` and ``train`` blocks and
``base.seed``), from which :meth:`SweepSettings.from_params` builds it.
:class:`StudySettings` holds those and every other knob of the notebook (the encoder,
the deep model on one fold, the fine-tuning), from the same blocks. :class:`SweepInputs`
holds what the sweep reads with, built from the study's data rather than its
parameters: the encoder, the shared sentiment head, the aspect vectors, the rating
reader and stage 03's selected behaviour columns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from helpers.features import text as text_features
from helpers.models.gbdt import LightGBMSettings


def gbdt_arguments(train: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`helpers.models.gbdt.crossfit_gbdt`'s keyword arguments from a ``train`` block
    (see :class:`helpers.models.gbdt.LightGBMSettings`)."""
    return LightGBMSettings.from_params(train).crossfit_arguments()


@dataclass(frozen=True)
class SweepSettings:
    """Every knob of the signal sweep; the defaults are ``params.yaml``'s.

    Attributes
    ----------
    seed : int
        ``base.seed``: the simulator, the customer samples, the folds, LightGBM and the
        bootstrap.
    strengths : tuple of float
        ``text_signal.strengths``: strength ``s`` of each world, ``kappa = s``.
    trigger_per_kappa, rate_effect_per_kappa : float
        ``churn_trigger = trigger_per_kappa * s`` and ``satisfaction_rate_effect =
        rate_effect_per_kappa * s`` in each world (:meth:`world`).
    n_customers : int
        ``text_signal.sweep_customers``: simulated users kept (a seeded random subset,
        the same at every strength).
    n_folds : int
        ``text_signal.sweep_folds``: cross-fitting folds of LightGBM and of the
        truth-trained reader.
    n_boot : int
        ``text_signal.n_boot``: paired bootstrap replicates.
    level : float
        ``text_signal.interval_level``: level of the percentile intervals.
    half_life_days : float
        ``text_signal.half_life_days``: recency weights of the candidate sentiment.
    candidates : tuple of str
        Candidate blocks scored in every world (``text_signal.candidate``; scored only
        with :attr:`SweepInputs.aspect_vectors`): ``text_embeddings`` adds
        ``embedding_dims`` PCA dimensions of the mean and latest review embedding to the
        compact block (:func:`~.blocks.candidate_blocks`).
    replicates : int
        ``text_signal.replicates``: further disjoint samples of ``n_customers`` users of
        a world (:func:`~.sweep.replicate_customers`), each
        scored like the first but without (c''): how much one sample's figures move
        from sample to sample. The sweep draws them in its strongest world only.
    replicate_users : int, optional
        ``text_signal.replicate_users``: draw the further samples from a second world of
        this many simulated users, the same configuration otherwise (another draw of the
        same process, with its own truth-trained reader); by default (or when equal to
        the world's ``n_users``) from the first world.
    sentiment_c : float
        ``text.sentiment_c``: inverse L2 strength of the sentiment head.
    n_components : int
        PCA dimensions of (b)'s embedding columns: ``text.n_components`` resolved as
        stage 02 resolves it (:func:`helpers.features.text.resolve_embedding_dims`; the
        default 0 is ``auto`` on rated reviews).
    embedding_dims : int
        PCA dimensions of the ``text_embeddings`` candidate.
    gbdt : mapping
        :func:`helpers.models.gbdt.crossfit_gbdt`'s keyword arguments, from the ``train``
        block (:func:`gbdt_arguments`).
    reader : bool
        Score ceiling (c'), ``reader``: the compact text block plus what a reader
        trained on the truth reads from the words
        (:func:`~.readers.text_reader_features`,
        cross-fitted over ``n_folds`` seeded folds of all the world's reviewers, not only
        the sample's: no review is read by a reader trained on its writer's truth).
    perfect_reader : bool
        Score ceiling (c''), ``experience``: (c') with the readings replaced by the
        truth, i.e. the compact text block plus the *true* latent experience behind each
        customer's calibration reviews (latest, lowest, mean;
        :func:`~.blocks.experience_features`): what a reader
        who understood every review perfectly would know, without the satisfaction trait
        that (c) knows. It is built on the compact block and (c) on the review facts
        only, so in a small world it can score above (c).
    """

    seed: int = 42
    strengths: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0)
    trigger_per_kappa: float = 3.0
    rate_effect_per_kappa: float = 0.0
    n_customers: int = 4000
    n_folds: int = 3
    n_boot: int = 200
    level: float = 0.9
    half_life_days: float = 90.0
    candidates: tuple[str, ...] = ("text_plus",)
    replicates: int = 4
    replicate_users: int | None = None
    sentiment_c: float = 0.1
    n_components: int = 0
    embedding_dims: int = text_features.AUTO_EMBEDDING_DIMS
    gbdt: Mapping[str, Any] = field(default_factory=lambda: gbdt_arguments({}))
    reader: bool = True
    perfect_reader: bool = True

    @classmethod
    def from_params(cls, params: Mapping[str, Any], *, has_ratings: bool = True) -> SweepSettings:
        """The settings of ``params.yaml``'s ``text_signal``, ``text``, ``train`` blocks.

        ``params`` maps block names to blocks (``base`` for the seed); a block or key it
        lacks keeps the default. ``has_ratings`` (whether the study's reviews carry star
        ratings) resolves ``text.n_components: auto`` as stage 02 does.
        """
        signal = dict(params.get("text_signal") or {})
        text = dict(params.get("text") or {})
        given: dict[str, Any] = {
            "seed": (params.get("base") or {}).get("seed"),
            "strengths": _floats(signal.get("strengths")),
            "trigger_per_kappa": signal.get("trigger_per_kappa"),
            "rate_effect_per_kappa": signal.get("rate_effect_per_kappa"),
            "n_customers": signal.get("sweep_customers"),
            "n_folds": signal.get("sweep_folds"),
            "n_boot": signal.get("n_boot"),
            "level": signal.get("interval_level"),
            "half_life_days": signal.get("half_life_days"),
            "candidates": (signal["candidate"],) if signal.get("candidate") else None,
            "replicates": signal.get("replicates"),
            "replicate_users": signal.get("replicate_users"),
            "sentiment_c": text.get("sentiment_c"),
            "n_components": text_features.resolve_embedding_dims(
                text.get("n_components", "auto"), has_ratings
            ),
            "gbdt": gbdt_arguments(params.get("train") or {}),
        }
        return cls(**{k: v for k, v in given.items() if v is not None})

    def world(self, shop: Mapping[str, Any], strength: float) -> dict[str, Any]:
        """The ``ShopSimConfig`` options of the world of strength ``strength``.

        ``shop`` holds the study's options (``datasets.shopsim``); the satisfaction
        channels follow the strength (``kappa`` itself is set by the sweep).
        """
        return {
            **shop,
            "churn_trigger": self.trigger_per_kappa * strength,
            "satisfaction_rate_effect": self.rate_effect_per_kappa * strength,
        }


@dataclass(frozen=True, eq=False)
class SweepInputs:
    """What the sweep reads with: objects built from the study's data, not from params.

    Attributes
    ----------
    embed : callable
        ``texts -> embeddings`` (e.g. :func:`helpers.features.text_encoder.embed_texts`
        with the study's encoder and cache, wrapped).
    selected : sequence of str, optional
        Behaviour columns (stage 03's selection); default all.
    head : SentimentHead, optional
        Shared sentiment head
        (:func:`~.blocks.sweep_sentiment_head`); by default one
        per customer sample.
    aspect_vectors : ndarray, optional
        Embedded :data:`helpers.features.text.ASPECT_DESCRIPTIONS`; given, the candidate
        blocks of :attr:`SweepSettings.candidates` are scored too.
    rating_reader : RatingReader, optional
        :func:`helpers.features.rating_reader.fit_rating_reader` trained on the study's
        calibration reviews; it reads each sweep customer's reviews with the reader of
        their fold. With ``reader_in_block`` its read ratings are part of every text
        block, (b) included, as in stage 02's block (``text.rating_reader_folds > 0``);
        otherwise they make the candidate ``text_reader``.
    reader_in_block : bool
        Whether the study's text block carries the read ratings (ignored without a
        ``rating_reader``).
    """

    embed: Callable[[list[str]], np.ndarray]
    selected: Sequence[str] | None = None
    head: text_features.SentimentHead | None = None
    aspect_vectors: np.ndarray | None = None
    rating_reader: Any = None
    reader_in_block: bool = False

    @property
    def block_reader(self) -> Any:
        """The rating reader whose read ratings every text block carries, or ``None``."""
        return self.rating_reader if self.reader_in_block else None


def _floats(values: Sequence[float] | None) -> tuple[float, ...] | None:
    return None if values is None else tuple(float(v) for v in values)


@dataclass(frozen=True)
class StudySettings:
    """Every knob of notebook 06b; the defaults are ``params.yaml``'s.

    Attributes
    ----------
    sweep : SweepSettings
        The sweep's settings, also those of the study's own customers (seed, bootstrap,
        interval level, candidate block, LightGBM).
    shop : mapping
        ``datasets.shopsim``: the study's simulated world, which the sweep re-simulates.
    encoder_model, batch_size, max_length : str or None, int or "auto", int
        ``text.*``: the sentence encoder of stage 02
        (:class:`helpers.features.text_encoder.TextEncoder`).
    n_components : int or "auto"
        ``text.n_components`` as given; resolved on the study's reviews
        (:meth:`for_reviews`).
    rating_reader_folds : int
        ``text.rating_reader_folds``: stage 02's rating reader (0: none).
    deep_fold : int, optional
        ``text_signal.deep_fold``: the fold the deep-model variants train on (None: skip).
    deep_on_cpu : bool
        Train the deep variants without a GPU too.
    n_jobs, torch_threads : int
        Background processes training the deep variants, and torch threads in each.
    caller_threads : int, optional
        The study's own threads while the deep variants train (None: no cap).
    finetune : bool or "auto"
        Fine-tune the encoder on the ratings: ``"auto"`` only with a GPU.
    finetune_steps, finetune_layers : int
        Optimiser steps, and transformer layers trained from the top.
    """

    sweep: SweepSettings = field(default_factory=SweepSettings)
    shop: Mapping[str, Any] = field(default_factory=dict)
    encoder_model: str | None = None
    batch_size: int | str = "auto"
    max_length: int = 128
    n_components: int | str = "auto"
    rating_reader_folds: int = 5
    deep_fold: int | None = 0
    deep_on_cpu: bool = True
    n_jobs: int = 1
    torch_threads: int = 1
    caller_threads: int | None = 1
    finetune: bool | str = "auto"
    finetune_steps: int = 300
    finetune_layers: int = 2

    def __post_init__(self) -> None:
        if "text_reader" in self.sweep.candidates and self.rating_reader_folds:
            raise ValueError(
                "text_signal.candidate: text_reader is the study's own text block while "
                "text.rating_reader_folds > 0; choose text_plus, text_embeddings or "
                "text_compact, or set text.rating_reader_folds: 0"
            )

    @property
    def candidate(self) -> str:
        """The candidate block scored in every world of the sweep."""
        return self.sweep.candidates[0]

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> StudySettings:
        """The settings of ``params.yaml``'s blocks ``base``, ``datasets``, ``text``,
        ``train`` and ``text_signal``; a block or key not given keeps the default.

        The sweep's ``n_components`` is resolved for rated reviews here; the study
        resolves it on its own reviews (:meth:`for_reviews`).
        """
        signal = dict(params.get("text_signal") or {})
        text = dict(params.get("text") or {})
        given: dict[str, Any] = {k: text[k] for k in _TEXT_KEYS if k in text}
        given.update({k: signal[k] for k in _STUDY_KEYS if k in signal})
        shop = (params.get("datasets") or {}).get("shopsim")
        if shop is not None:
            given["shop"] = dict(shop)
        return cls(sweep=SweepSettings.from_params(params), **given)

    def for_reviews(self, has_ratings: bool) -> StudySettings:
        """These settings with the sweep's ``n_components`` resolved as stage 02 resolves
        ``text.n_components`` for reviews with or without star ratings
        (:func:`helpers.features.text.resolve_embedding_dims`)."""
        dims = text_features.resolve_embedding_dims(self.n_components, has_ratings)
        return replace(self, sweep=replace(self.sweep, n_components=dims))


#: ``text`` keys that are :class:`StudySettings` fields of the same name.
_TEXT_KEYS = ("encoder_model", "batch_size", "max_length", "n_components", "rating_reader_folds")
#: ``text_signal`` keys that are :class:`StudySettings` fields of the same name.
_STUDY_KEYS = (
    "deep_fold",
    "deep_on_cpu",
    "n_jobs",
    "torch_threads",
    "caller_threads",
    "finetune",
    "finetune_steps",
    "finetune_layers",
)
