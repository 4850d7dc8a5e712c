"""The pieces of the learner diagnosis and of the safety table: the network regressor of
FQI, reuse of the reference run for switched-off agents, raw results and verdicts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_marketing_study import GG, PARETO, summary_frame

from helpers.marketing import (
    BTYDStateModel,
    MarketingConfig,
    MarketingWorld,
    TreatmentEffects,
    evaluate_policies,
    population_from_btyd,
    raw_agent_results,
    safety_table,
)
from helpers.marketing.diagnose import VARIANTS, merge_diagnosis
from helpers.marketing.fqi import MLPRegressor
from helpers.marketing.policies import EverybodyPolicy, NobodyPolicy, OneStepUpliftPolicy
from helpers.marketing.simulator import no_contact_scores


class Switchable:
    def __init__(self, base, disabled=False):
        self.base, self.name, self.disabled = base, base.name, disabled

    def scores(self, obs, t, sim):
        return no_contact_scores(len(obs)) if self.disabled else self.base.scores(obs, t, sim)


@pytest.fixture(scope="module")
def small():
    sm = BTYDStateModel("pareto_nbd", PARETO, GG)
    pop = population_from_btyd(summary_frame(300, 4), "pareto", PARETO, GG, seed=5)
    return sm, pop, MarketingConfig(), TreatmentEffects.preset("mid")


def test_mlp_regressor_recovers_a_known_function_and_is_seeded():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 3))
    y = np.column_stack([2 * x[:, 0] - x[:, 1], np.abs(x[:, 2]) * 10 + 100])
    fit = MLPRegressor(seed=1, epochs=40).fit(x, y)
    pred = fit.predict(x)
    r2 = 1 - ((pred - y) ** 2).mean(0) / y.var(0)
    assert (r2 > 0.95).all(), r2
    again = MLPRegressor(seed=1, epochs=40).fit(x, y).predict(x)
    np.testing.assert_array_equal(pred, again)


def test_a_switched_off_agent_is_the_reference_run(small):
    sm, pop, cfg, eff = small
    off = Switchable(EverybodyPolicy(action=3), disabled=True)
    on = Switchable(EverybodyPolicy(action=3))
    table, per_seed = evaluate_policies(
        MarketingWorld(pop, eff, cfg, sm),
        {"nobody": NobodyPolicy(), "off": off, "on": on},
        range(2),
    )
    t = table.set_index("policy")
    assert t.loc["off", "incremental_profit"] == 0.0 and t.loc["off", "contact_rate"] == 0.0
    assert t.loc["on", "contact_rate"] > 0 and t.loc["on", "incremental_profit"] != 0.0
    assert (per_seed.loc[per_seed["policy"] == "off", "seed"].to_numpy() == [0, 1]).all()


def test_raw_results_run_only_the_switched_off_agents(small):
    sm, pop, cfg, eff = small
    agents = {
        "kept": Switchable(OneStepUpliftPolicy(eff, cfg)),
        "off": Switchable(EverybodyPolicy(action=3), disabled=True),
    }
    seeds = range(3)
    table, per_seed = evaluate_policies(
        MarketingWorld(pop, eff, cfg, sm), {"nobody": NobodyPolicy(), **agents}, seeds
    )
    raw, raw_seeds = raw_agent_results(
        agents, table, per_seed, MarketingWorld(pop, eff, cfg, sm), seeds
    )
    r = raw.set_index("policy")
    assert list(r.index) == ["nobody", "kept_raw", "off_raw"]
    kept = table.set_index("policy").loc["kept"]
    assert r.loc["kept_raw", "incremental_profit"] == kept["incremental_profit"]
    # the 20 % coupon to everybody, switch ignored, loses money under 'mid'
    assert r.loc["off_raw", "ci_hi"] < 0 and r.loc["off_raw", "contact_rate"] > 0
    assert agents["off"].disabled  # the study's agent is left switched off
    assert set(raw_seeds["policy"]) == {"nobody", "kept_raw", "off_raw"}

    checks = pd.DataFrame(
        {
            "agent": ["kept", "off"],
            "improvement": [1.0, -1.0],
            "ci_lo": [0.5, -2.0],
            "ci_hi": [1.5, 0.1],
            "disabled": [False, True],
        }
    )
    verdict = safety_table(checks, raw).set_index("agent")
    assert verdict.loc["off", "verdict"] == "off, fails"
    assert verdict.loc["kept", "verdict"] == "on, works"
    assert verdict.loc["off", "raw_hi"] == r.loc["off_raw", "ci_hi"]


def test_safety_verdicts_flag_wrong_switches():
    raw = pd.DataFrame(
        {
            "policy": ["a_raw", "b_raw", "c_raw"],
            "incremental_profit": [1.0, -1.0, 0.1],
            "ci_lo": [0.2, -1.5, -0.3],
            "ci_hi": [1.8, -0.5, 0.5],
        }
    )
    checks = pd.DataFrame({"agent": ["a", "b", "c"], "disabled": [True, False, True]})
    out = safety_table(checks, raw).set_index("agent")["verdict"]
    assert out.to_dict() == {"a": "off, wrongly", "b": "on, wrongly", "c": "off, fails"}


def test_merge_diagnosis_keeps_shared_rows_once_in_order():
    def part(names):
        return pd.DataFrame(
            {
                "policy": ["nobody", "one_step_uplift", *names],
                "incremental_profit": [0.0, 2.0, *range(len(names))],
            }
        )

    merged = merge_diagnosis(
        [part(["fqi, discount 0.5"]), part(["dqn (study)", "fqi_teacher (study)"])]
    )
    assert list(merged["policy"]) == [
        "one_step_uplift",
        "dqn (study)",
        "fqi, discount 0.5",
        "fqi_teacher (study)",
    ]
    assert list(merged.columns[:5]) == ["policy", "function class", "targets", "data", "discount"]
    assert merged.set_index("policy").loc["fqi_teacher (study)", "targets"] == "full information"
    assert set(merged["policy"]) <= set(VARIANTS)
