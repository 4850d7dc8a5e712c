"""Direct tests of the study pieces: safety check, budget curve, gap split, de-duplication,
the month-1 recommendation, and a whole (tiny) :func:`run_study`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.marketing import (
    BTYDStateModel,
    MarketingConfig,
    MarketingSettings,
    MarketingWorld,
    OneStepUpliftPolicy,
    OraclePolicy,
    PosteriorMPCPolicy,
    TreatmentEffects,
    budget_curve,
    dedupe_policies,
    gap_split,
    narration,
    population_from_btyd,
    recommend,
    recommended_policy_name,
    run_study,
    safe_improvement_check,
    summary,
)
from helpers.marketing.policies import EverybodyPolicy, NobodyPolicy
from helpers.marketing.simulator import no_contact_scores
from helpers.marketing.study import RL_AGENTS

PARETO = {"r": 0.55, "alpha": 10.6, "s": 0.61, "beta": 11.7}
BGNBD = {"r": 0.24, "alpha": 4.4, "a": 0.79, "b": 2.4}
GG = {"p": 6.25, "q": 3.74, "v": 15.44}


def summary_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.uniform(5, 40, n)
    x = rng.poisson(2.0, n).astype(float)
    return pd.DataFrame(
        {
            "frequency_cal": x,
            "recency_cal": np.where(x > 0, age * rng.uniform(0.3, 1.0, n), 0.0),
            "T_cal": age,
            "monetary_value_cal": np.where(x > 0, rng.gamma(5, 8, n), 0.0),
        },
        index=pd.Index([f"c{i}" for i in range(n)], name="user_id"),
    )


@pytest.fixture(scope="module")
def world():
    summ = summary_frame(800, 0)
    sm = BTYDStateModel("pareto_nbd", PARETO, GG)
    pop = population_from_btyd(summ, "pareto", PARETO, GG, seed=1)
    alt = population_from_btyd(summ, "bgnbd", BGNBD, GG, seed=2)
    train, test = pop.split(0)
    _, alt_test = alt.split(0)
    return sm, train, test, alt_test


class Switchable:
    """A policy with the ``disabled`` switch the safety check sets."""

    def __init__(self, base):
        self.base, self.name, self.disabled = base, base.name, False

    def scores(self, obs, t, sim):
        return no_contact_scores(len(obs)) if self.disabled else self.base.scores(obs, t, sim)


def test_safe_improvement_check_switches_off_a_loser_and_keeps_a_winner(world):
    sm, train, _, _ = world
    cfg = MarketingConfig()
    none, mid = TreatmentEffects.preset("none"), TreatmentEffects.preset("mid")
    loser = Switchable(EverybodyPolicy(action=3))  # 20 % coupons that change nothing
    out = safe_improvement_check(loser, MarketingWorld(train, none, cfg, sm), range(6))
    assert out["disabled"] and loser.disabled
    assert out["improvement"] < 0 and out["ci_hi"] < 0
    winner = Switchable(OneStepUpliftPolicy(mid, cfg))
    out = safe_improvement_check(winner, MarketingWorld(train, mid, cfg, sm), range(6))
    assert not out["disabled"] and not winner.disabled
    assert out["ci_lo"] > 0


def test_budget_curve_respects_every_budget(world):
    sm, _, test, _ = world
    cfg, eff = MarketingConfig(), TreatmentEffects.preset("mid")
    pols = {
        "nobody": NobodyPolicy(),
        "one_step_uplift": OneStepUpliftPolicy(eff, cfg),
        "oracle": OraclePolicy(),
    }
    curve = budget_curve(
        MarketingWorld(test.sample(200, 0), eff, cfg, sm), pols, [0.0, 0.05, 0.5], range(3)
    )
    assert set(curve["budget"]) == {0.0, 0.05, 0.5}
    assert (curve["contact_rate"] <= curve["budget"] + 1e-9).all()
    zero = curve[curve["budget"] == 0.0]
    np.testing.assert_allclose(zero["incremental_profit"], 0.0)
    up = curve[curve["policy"] == "one_step_uplift"].set_index("budget")["incremental_profit"]
    assert up[0.5] > up[0.05] > 0


def test_gap_split_and_recommendation():
    table = pd.DataFrame(
        {
            "policy": ["nobody", "one_step_uplift", "posterior_mpc", "full_info_myopic", "oracle"]
            + ["fqi_teacher", "rfm"],
            "incremental_profit": [0.0, 2.0, 3.0, 2.2, 3.5, 2.5, 1.0],
        }
    )
    sp = gap_split(table).set_index("policy")
    assert sp.loc["fqi_teacher", "share_of_planning_gap"] == pytest.approx(0.5)
    assert sp.loc["posterior_mpc", "ratio_to_uplift"] == pytest.approx(1.5)

    class Agent:
        disabled = False

    # the rule: the most profitable policy a shop can run (not the oracle, not the
    # full-information rule); posterior MPC's 3.0 beats the learner's 2.5
    assert recommended_policy_name(table, {"fqi_teacher": Agent()}) == "posterior_mpc"
    off = Agent()
    off.disabled = True
    without_mpc = table[table["policy"] != "posterior_mpc"]
    assert recommended_policy_name(without_mpc, {"fqi_teacher": Agent()}) == "fqi_teacher"
    assert recommended_policy_name(without_mpc, {"fqi_teacher": off}) == "one_step_uplift"


def test_dedupe_groups_identical_greedy_actions():
    rng = np.random.default_rng(0)
    nobody = no_contact_scores(50)
    other = nobody * 3.0  # same greedy actions (nobody), other numbers
    active = rng.normal(size=(50, 4))
    groups = dedupe_policies({"nobody": nobody, "dqn": other, "rfm": active})
    assert groups == {"nobody": ["nobody", "dqn"], "rfm": ["rfm"]}


def test_month_one_actions_respect_the_budget(world):
    sm, train, test, _ = world
    cfg, eff = MarketingConfig(budget=0.1), TreatmentEffects.preset("mid")
    pol = recommend.build_policy("posterior_mpc", MarketingWorld(train, eff, cfg, sm), seed=0)
    assert isinstance(pol, PosteriorMPCPolicy)
    out = recommend.month_one_actions(pol, MarketingWorld(test, eff, cfg, sm), seed=0)
    assert len(out) == len(test)
    assert (out["action"] != "none").sum() <= int(0.1 * len(test))
    contacted = out[out["action"] != "none"]
    assert (contacted["advantage"] > 0).all()
    assert np.isfinite(out["expected_incremental_profit"]).all()
    with pytest.raises(ValueError, match="unknown policy"):
        recommend.build_policy("nonsense", MarketingWorld(train, eff, cfg, sm), seed=0)


@pytest.mark.slow
def test_run_study_end_to_end_small(world):
    sm, train, test, alt_test = world
    settings = MarketingSettings(
        effects="mid",
        n_eval_seeds=3,
        tabular_episodes=5,
        dqn_episodes=2,
        budgets=(0.1, 1.0),
        n_curve_seeds=2,
        sweep=("none", "carryover_off"),
        sweep_tabular_episodes=3,
        sweep_dqn_episodes=1,
        ope_customers=100,
        ope_truth_seeds=2,
        fqi_episodes=1,
        teacher_episodes=1,
        full_presets=(),
        safe_check_seeds=3,
        n_jobs=1,
    )
    res = run_study(
        train.sample(200, 0), test.sample(200, 0), alt_test.sample(200, 0), sm, settings, seed=3
    )
    for key in ("main", "alt", "main_split", "alt_vs_best", "sweep", "budget_curve"):
        assert key in res.tables, key
    # each learner's raw held-out result beside its switch, with a verdict
    checks = res.tables["safe_checks"].set_index("agent")
    assert {"raw_test", "raw_lo", "raw_hi", "verdict"} <= set(checks.columns)
    raw = res.tables["main_raw"].set_index("policy")
    for agent, row in checks.iterrows():
        assert row["raw_test"] == raw.loc[f"{agent}_raw", "incremental_profit"]
        if not row["disabled"]:  # a kept agent's raw result is its deployed result
            assert (
                row["raw_test"]
                == res.tables["main"].set_index("policy").loc[agent, "incremental_profit"]
            )
    assert set(res.tables["safe_checks_sweep"]["effects"]) == {"mid", "none", "carryover_off"}
    # the learner diagnosis: every variant, at the budget and without one
    diag = res.tables["diagnosis"].set_index("policy")
    assert "teacher with the dqn network" in diag.index and "dqn (study)" in diag.index
    assert diag[["incremental_profit", "unconstrained"]].notna().all().all()
    # one job per budget gives the whole curve, in budget order
    assert list(res.tables["budget_curve"]["budget"].unique()) == [0.1, 1.0]
    main = res.tables["main"].set_index("policy")
    assert main.loc["nobody", "incremental_profit"] == 0.0
    assert {"posterior_mpc", "rollout", "full_info_myopic", "oracle", "fqi_teacher"} <= set(
        main.index
    )
    assert set(res.tables["sweep"]["effects"]) == {"mid", "none", "carryover_off"}
    none = res.tables["sweep"][res.tables["sweep"]["effects"] == "none"]
    assert (none["incremental_profit"] <= 1e-9).all()
    assert res.notes["recommended_policy"] in set(main.index)
    # every OPE target stands for a distinct policy
    groups = res.tables["ope_groups"]
    assert groups["target"].is_unique
    assert set(res.tables["ope_estimates"]["target"]) == set(groups["target"])
    # the diagnosis' uplift rule is the main table's on the diagnosis seeds (the first
    # n_curve_seeds evaluation seeds), to the last digit: only the seeds differ
    assert res.notes["curve_seeds"] == res.notes["eval_seeds"][:2]
    per_seed = res.tables["main_per_seed"].query("policy == 'one_step_uplift'")
    on_curve_seeds = per_seed[per_seed["seed"].isin(res.notes["curve_seeds"])]
    assert diag.loc["one_step_uplift", "incremental_profit"] == pytest.approx(
        on_curve_seeds["incremental_profit"].mean(), abs=1e-12
    )
    note = narration.diagnosis_baseline_note(
        res.tables["diagnosis"], res.tables["main_per_seed"], res.notes["curve_seeds"]
    )
    assert "the diagnosis runs on the first 2 of the 3 evaluation seeds" in note
    # the notebook's tables and sentences read this result without a gap
    metrics = summary.rl_metrics(res, settings)
    assert metrics["recommended_policy"] == res.notes["recommended_policy"]
    assert set(metrics["main"]) == set(main.index)
    assert metrics["best_learner"] in RL_AGENTS
    best = summary.best_learner(res)
    for sentence in (
        narration.main_reading(res),
        narration.in_numbers(res, best),
        narration.safety_reading(res),
        narration.best_learner_reading(res, best),
        narration.robustness_reading(summary.robustness_tables(res, "mid")[1]),
        narration.budget_reading(res.tables["budget_curve"]),
        narration.no_effect_reading(res.tables["sweep"]),
        narration.ope_best_learner(res, best),
        narration.diagnosis_findings(res.tables["diagnosis"]),
    ):
        assert sentence and "{" not in sentence
