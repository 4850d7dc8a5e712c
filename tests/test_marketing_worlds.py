"""The worlds of the stage-05 study (helpers.marketing.worlds) and the bundle they are made
of (MarketingWorld): the same customers, seeds and models as built by hand."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from helpers.marketing import (
    BTYDStateModel,
    MarketingConfig,
    MarketingSettings,
    MarketingWorld,
    TreatmentEffects,
    evaluate_policies,
    heuristic_policies,
    population_from_btyd,
    run_policy,
)
from helpers.marketing.simulator import MarketingSimulator
from helpers.marketing.worlds import StudyWorlds

PARETO = {"r": 0.55, "alpha": 10.6, "s": 0.61, "beta": 11.7}
BGNBD = {"r": 0.24, "alpha": 4.41, "a": 0.79, "b": 2.43}
GG = {"p": 6.25, "q": 3.74, "v": 15.44}
FITS = {
    "bgnbd": {"name": "bgnbd", "params": BGNBD, "reduced_to": None, "note": ""},
    "pareto_nbd": {"name": "pareto_nbd", "params": PARETO, "reduced_to": None, "note": ""},
    "gamma_gamma": {"name": "gamma_gamma", "params": GG, "reduced_to": None, "note": ""},
}


def _customers(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.uniform(5, 40, n)
    x = rng.poisson(1.5, n).astype(float)
    t_x = np.where(x > 0, age * rng.uniform(0.2, 1.0, n), 0.0)
    m = np.where(x > 0, rng.gamma(5, 8, n), 0.0)
    return pd.DataFrame(
        {"frequency_cal": x, "recency_cal": t_x, "T_cal": age, "monetary_value_cal": m},
        index=pd.Index([f"c{i}" for i in range(n)], name="user_id"),
    )


def test_study_worlds_are_the_customers_drawn_by_hand():
    customers, seed = _customers(), 7
    settings = MarketingSettings(n_customers=400, budget=0.1, effects="high")
    worlds = StudyWorlds.build(customers, pd.DataFrame(), FITS, settings, seed)
    # by hand: Pareto/NBD draw with the seed, BG/NBD with seed + 1, sample and split
    pop = population_from_btyd(customers, "pareto", PARETO, GG, seed=seed)
    alt = population_from_btyd(customers, "bgnbd", BGNBD, GG, seed=seed + 1)
    sample = pop.sample(400, seed)
    train, test = sample.split(seed)
    _, alt_test = alt.subset(pd.Index(pop.user_id).get_indexer(sample.user_id)).split(seed)
    for built, expected in (
        (worlds.population, pop),
        (worlds.train.population, train),
        (worlds.test.population, test),
        (worlds.alt_test.population, alt_test),
    ):
        for name in ("user_id", "lam", "dropout", "mean_spend", "alive0", "x0", "m0"):
            np.testing.assert_array_equal(getattr(built, name), getattr(expected, name))
    assert worlds.alt_test.population.family == "bgnbd"
    np.testing.assert_array_equal(worlds.alt_test.population.user_id, test.user_id)
    # one set of assumptions and economics for every world; the marketer's model is Pareto/NBD
    for world in (worlds.train, worlds.test, worlds.alt_test):
        assert world.effects == TreatmentEffects.preset("high")
        assert world.config == MarketingConfig(horizon=12, budget=0.1, margin=0.4)
        assert world.state_model is worlds.state_model
    assert worlds.state_model.family == "pareto_nbd"
    assert worlds.alt_state_model.family == "bgnbd" and not worlds.same_model
    assert worlds.state_reason.startswith("The simulator is built on Pareto/NBD")
    assert worlds.alt_reason.startswith("The simulator is built on BG/NBD")


def test_a_world_is_frozen_and_changes_by_copy():
    customers = _customers(100)
    pop = population_from_btyd(customers, "pareto", PARETO, GG, seed=1)
    sm = BTYDStateModel("pareto_nbd", PARETO, GG)
    world = MarketingWorld(pop, TreatmentEffects.preset("mid"), MarketingConfig(), sm)
    frozen = "cannot assign to field 'population'"
    with pytest.raises(dataclasses.FrozenInstanceError, match=frozen):
        world.population = pop.subset(np.arange(5))
    free = world.with_budget(None)
    assert free.config.budget is None and world.config.budget == 0.2
    assert free.population is pop and free.state_model is sm
    assert world.with_effects(TreatmentEffects.preset("none")).effects.is_null
    sim = world.simulator()
    assert (sim.pop, sim.effects, sim.config, sim.state_model) == (
        pop,
        world.effects,
        world.config,
        sm,
    )


def test_evaluating_a_world_equals_evaluating_its_parts():
    """The bundle changes no number: a policy evaluated in a world earns what the same
    simulator built from the four parts earns, seed by seed."""
    customers = _customers(300)
    pop = population_from_btyd(customers, "pareto", PARETO, GG, seed=1)
    sm = BTYDStateModel("pareto_nbd", PARETO, GG)
    eff, cfg = TreatmentEffects.preset("mid"), MarketingConfig()
    pols = heuristic_policies(eff, cfg, 40.0)
    _, per_seed = evaluate_policies(MarketingWorld(pop, eff, cfg, sm), pols, [3, 4])
    sim = MarketingSimulator(pop, eff, cfg, sm)
    rule = per_seed[per_seed["policy"] == "one_step_uplift"].set_index("seed")["profit"]
    for seed in (3, 4):
        by_hand = run_policy(sim, pols["one_step_uplift"], seed).discounted_profit.mean()
        assert rule[seed] == by_hand
