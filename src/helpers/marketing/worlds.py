"""The customers of the stage-05 study and the models they are simulated with.

:meth:`StudyWorlds.build` turns the BTYD summary at the cutoff and the fitted models into
the main simulator's population (every customer), the study's sample split into training
and held-out halves, and the same held-out customers drawn from a differently specified
simulator (the robustness check).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .settings import MarketingSettings
from .simulator import (
    BTYDStateModel,
    MarketingWorld,
    Population,
    choose_state_model,
    population_from_btyd,
    population_from_truth,
)

__all__ = ["StudyWorlds"]


@dataclass(frozen=True, eq=False)
class StudyWorlds:
    """Every world of the study.

    Attributes
    ----------
    population : Population
        Every customer at the cutoff, drawn from the main simulator (the no-action
        validation runs on all of them).
    train, test : MarketingWorld
        The study's sample of ``settings.n_customers``, split in halves: learners train
        on ``train``, every policy is judged on ``test``.
    alt_test : MarketingWorld
        The held-out customers drawn from the alternative model's posterior (their
        baseline behaviour differs; the marketer's state model is the main one).
    state_reason, alt_reason : str
        Why each model was chosen (:func:`choose_state_model`).
    alt_state_model : BTYDStateModel
        The alternative simulator's model.
    """

    population: Population
    train: MarketingWorld
    test: MarketingWorld
    alt_test: MarketingWorld
    state_reason: str
    alt_reason: str
    alt_state_model: BTYDStateModel

    @property
    def state_model(self) -> BTYDStateModel:
        """The main simulator's model, which is also what a marketer sees."""
        return self.train.state_model

    @property
    def same_model(self) -> bool:
        """Both simulators rest on the same BTYD model (a weaker robustness check)."""
        return self.alt_state_model.family == self.state_model.family

    @classmethod
    def build(
        cls,
        customers: pd.DataFrame,
        truth: pd.DataFrame,
        fits: Mapping[str, Any],
        settings: MarketingSettings,
        seed: int,
    ) -> StudyWorlds:
        """The worlds of the study, seeded.

        Parameters
        ----------
        customers : DataFrame
            BTYD summary at the cutoff (:func:`helpers.models.btyd.btyd_summary`).
        truth : DataFrame
            The simulator's true traits (shopsim; empty elsewhere), used only with
            ``settings.use_true_traits``.
        fits : mapping
            The BTYD fits of stage 04a (``btyd_fits.json``), ``gamma_gamma`` included.
        settings : MarketingSettings
            ``effects``, ``horizon``, ``budget``, ``margin``, ``n_customers``,
            ``use_true_traits``.
        seed : int
            The main population is drawn with ``seed``, the alternative with ``seed + 1``;
            the sample and the split use ``seed``.
        """
        main_key, main_reason = choose_state_model(fits)
        alt_key, alt_reason = choose_state_model(fits, prefer=("bgnbd", "pareto_nbd"))
        state_model = BTYDStateModel.from_fit(fits[main_key], fits["gamma_gamma"])
        alt_model = BTYDStateModel.from_fit(fits[alt_key], fits["gamma_gamma"])
        if settings.use_true_traits and len(truth):
            population = population_from_truth(customers, truth)
        else:
            population = _draw(customers, state_model, seed)
        alternative = _draw(customers, alt_model, seed + 1)
        sample = population.sample(settings.n_customers, seed)
        positions = pd.Index(population.user_id).get_indexer(sample.user_id)
        train_pop, test_pop = sample.split(seed)
        _, alt_test_pop = alternative.subset(positions).split(seed)
        train = MarketingWorld(train_pop, settings.treatment_effects, settings.config, state_model)
        return cls(
            population=population,
            train=train,
            test=train.with_population(test_pop),
            alt_test=train.with_population(alt_test_pop),
            state_reason=main_reason,
            alt_reason=alt_reason,
            alt_state_model=alt_model,
        )


def _draw(customers: pd.DataFrame, model: BTYDStateModel, seed: int) -> Population:
    return population_from_btyd(
        customers, model.population_family, model.params, model.gg_params, seed=seed
    )
