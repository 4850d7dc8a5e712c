"""Known answers of notebook 05's tables (helpers.marketing.summary) and of the sentences
that read them (helpers.marketing.narration), on a small hand-made study result."""

from __future__ import annotations

import pandas as pd
import pytest

from helpers.claims import ClaimError
from helpers.marketing import narration, summary
from helpers.marketing.settings import MarketingSettings
from helpers.marketing.study import StudyResult, gap_split

#: policy -> incremental profit per seed (two seeds), held-out customers at the budget
PROFITS = {
    "nobody": (0.0, 0.0),
    "rfm": (0.7, 0.9),
    "one_step_uplift": (0.9, 1.1),
    "dqn": (0.0, 0.0),  # switched off: contacts nobody
    "fqi_teacher": (1.3, 1.5),
    "full_info_myopic": (1.1, 1.3),
    "posterior_mpc": (1.4, 1.6),
    "rollout": (1.2, 1.4),
    "oracle": (1.9, 2.1),
}
SEEDS = (101, 102)


def _table(profits: dict[str, tuple[float, float]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    per_seed = pd.DataFrame(
        [
            {"policy": p, "seed": s, "profit": 50.0 + v, "incremental_profit": v}
            for p, values in profits.items()
            for s, v in zip(SEEDS, values, strict=True)
        ]
    )
    rows = []
    for p, values in profits.items():
        mean = sum(values) / 2
        rows.append(
            {
                "policy": p,
                "incremental_profit": mean,
                "ci_lo": mean - 0.1,
                "ci_hi": mean + 0.1,
                "contact_rate": 0.0 if mean == 0 else 0.2,
                "share_email": 0.1,
                "share_coupon10": 0.05,
                "share_coupon20": 0.05,
            }
        )
    return pd.DataFrame(rows), per_seed


def _carryover_off(main: pd.DataFrame) -> pd.DataFrame:
    """The main table, but rollout ties the rule: 1.05 [0.95, 1.15] against 1.0 [0.9, 1.1]."""
    off = main.assign(effects="carryover_off")
    rollout = off["policy"] == "rollout"
    off.loc[rollout, ["incremental_profit", "ci_lo", "ci_hi"]] = [1.05, 0.95, 1.15]
    return off


@pytest.fixture
def study() -> StudyResult:
    main, per_seed = _table(PROFITS)
    raw, _ = _table({"nobody": (0.0, 0.0), "dqn_raw": (-0.4, -0.2), "fqi_teacher_raw": (1.3, 1.5)})
    checks = pd.DataFrame(
        {
            "agent": ["dqn", "fqi_teacher"],
            "disabled": [True, False],
            "raw_test": [-0.3, 1.4],
            "raw_lo": [-0.4, 1.3],
            "raw_hi": [-0.2, 1.5],
            "verdict": ["off, fails", "on, works"],
        }
    )
    sweep = pd.concat(
        [
            main.assign(effects="mid"),
            main.assign(effects="none", incremental_profit=0.0, contact_rate=0.0),
            _carryover_off(main),
        ],
        ignore_index=True,
    )
    curve = pd.DataFrame(
        {
            "policy": ["one_step_uplift", "posterior_mpc"] * 2,
            "budget": [0.05, 0.05, 1.0, 1.0],
            "incremental_profit": [0.5, 0.6, 0.8, 1.2],
        }
    )
    estimates = pd.DataFrame(
        {
            "target": ["nobody", "nobody", "fqi_teacher", "fqi_teacher"],
            "estimator": ["dr", "fqe", "dr", "fqe"],
            "estimate": [50.0, 51.0, 55.0, 53.0],
            "true_value": [57.0, 57.0, 58.0, 58.0],
        }
    )
    result = StudyResult()
    result.tables = {
        "main": main,
        "main_per_seed": per_seed,
        "main_split": gap_split(main, per_seed),
        "main_raw": raw,
        "alt": main,
        "alt_split": gap_split(main, per_seed),
        "safe_checks": checks,
        "safe_checks_sweep": pd.concat(
            [checks.assign(effects="mid"), checks.assign(effects="none")], ignore_index=True
        ),
        "sweep": sweep,
        "budget_curve": curve,
        "ope_estimates": estimates,
        "ope_groups": pd.DataFrame(
            {"target": ["nobody", "fqi_teacher"], "same_actions_as": ["nobody, dqn", "fqi_teacher"]}
        ),
    }
    result.notes = {"recommended_policy": "posterior_mpc", "eval_seeds": list(SEEDS)}
    result.timings = {"total": 12.3}
    return result


def test_best_learner_is_judged_as_learned(study):
    # dqn is switched off (0.0 deployed, -0.3 as learned); fqi_teacher earns 1.4
    assert summary.learned_policies(study) == ["dqn", "fqi_teacher"]
    assert summary.best_learner(study) == "fqi_teacher"


def test_main_table_renames_profit_and_keeps_the_shown_columns(study):
    shown = summary.main_table(study)
    assert list(shown.columns) == [
        "policy",
        summary.PROFIT,
        "ci_lo",
        "ci_hi",
        "contact_rate",
        "share_email",
        "share_coupon10",
        "share_coupon20",
    ]
    assert shown.set_index("policy").loc["posterior_mpc", summary.PROFIT] == pytest.approx(1.5)


def test_robustness_tables_mark_the_five_percent_bar(study):
    table, best = summary.robustness_tables(study, "mid")
    # main and alt of the main preset (no "high" tables here), learners and planners
    assert len(table) == 2 * 4
    rows = table.set_index(["simulator", "policy"])
    fqi = rows.loc[("training (Pareto/NBD)", "fqi_teacher")]
    assert fqi["vs uplift %"] == pytest.approx(40.0)  # 1.4 against 1.0
    assert fqi["diff lo"] == pytest.approx(0.4)  # the same +0.4 on both seeds
    assert bool(fqi["beats the rule by 5 %"])
    assert not bool(rows.loc[("BG/NBD", "dqn"), "beats the rule by 5 %"])
    assert list(best["policy"]) == ["fqi_teacher", "fqi_teacher"]
    assert narration.robustness_reading(best) == (
        "The best learner clears the 5 % bar in 2 of 2 settings (effects x simulator): "
        "mid/training (Pareto/NBD): fqi_teacher +40.0 % [0.40, 0.40]; "
        "mid/BG/NBD: fqi_teacher +40.0 % [0.40, 0.40]."
    )


def test_carryover_table_and_its_sentence(study):
    table = summary.carryover_table(study)
    assert list(table["policy"]) == ["dqn", "fqi_teacher", "posterior_mpc", "rollout"]
    # the rule: 1.0 [0.9, 1.1]; fqi_teacher 1.4 [1.3, 1.5] lies outside, rollout overlaps
    assert list(table["overlaps uplift interval"]) == [False, False, False, True]
    assert narration.carryover_reading(table, study.tables["sweep"]) == (
        "Carry-over off: the uplift rule earns 1.00 [0.90, 1.10]; 1 of 4 learners and planners "
        "land within its interval (rollout); outside: dqn 0.00, fqi_teacher 1.40, posterior_mpc "
        "1.50."
    )


def test_rl_metrics_hold_the_tables_and_the_choices(study):
    metrics = summary.rl_metrics(study, MarketingSettings())
    assert metrics["main"]["fqi_teacher"] == {"incremental_profit": 1.4, "ci_lo": 1.3, "ci_hi": 1.5}
    assert metrics["best_heuristic"] == "one_step_uplift"
    assert metrics["best_learner"] == "fqi_teacher"
    assert metrics["recommended_policy"] == "posterior_mpc"
    # share of the planning gap (uplift 1.0 -> MPC 1.5)
    assert metrics["planning_gap_closed"] == {
        "dqn": -2.0,
        "fqi_teacher": 0.8,
        "posterior_mpc": 1.0,
        "rollout": 0.6,
    }
    assert metrics["safety_switch"]["dqn"] == {
        "disabled": True,
        "raw_test": -0.3,
        "raw_ci": [-0.4, -0.2],
        "verdict": "off, fails",
    }
    assert "learner_diagnosis" not in metrics  # no diagnosis was run


def test_sentences_of_the_answer(study):
    assert narration.in_numbers(study, "fqi_teacher") == (
        "In numbers: uplift rule 1.00, posterior MPC 1.50, full-information myopic 1.20, "
        "oracle 2.00; best learner fqi_teacher 1.40 (80% of the planning gap); the study ran "
        "in 12 s."
    )
    assert narration.planning_or_information(study).startswith(
        "Planning is worth more than information here: posterior MPC earns 1.50 per customer "
        "against the uplift rule's 1.00 (1.50x), while the one-step rule with full information "
        "earns 1.20; MPC alone covers 50% of the uplift-to-oracle gap (oracle 2.00)."
    )
    assert narration.safety_reading(study) == (
        "Switched off: 1 of 2 learners (dqn). Every switch is right: each switched-off "
        "learner's raw held-out interval reaches zero or below (dqn -0.30 [-0.40, -0.20]). "
        "Over all 2 effect presets, 0 of 4 switches disagree with the raw held-out result."
    )
    assert narration.budget_reading(study.tables["budget_curve"]).endswith(
        "at the full budget the uplift rule earns 0.80 and posterior MPC 1.20, at 5% 0.50 and 0.60."
    )


def test_no_effect_sentence_checks_every_learner_stays_silent(study):
    assert narration.no_effect_reading(study.tables["sweep"]) == (
        "With no treatment effect every learner contacts nobody (largest contact rate 0.000)."
    )
    sweep = study.tables["sweep"].copy()
    sweep.loc[(sweep["effects"] == "none") & (sweep["policy"] == "dqn"), "contact_rate"] = 0.3
    with pytest.raises(ClaimError, match="every learner contacts nobody"):
        narration.no_effect_reading(sweep)


def test_ope_of_a_learner_uses_the_target_it_was_grouped_with(study):
    assert narration.ope_target_of(study, "dqn") == "nobody"
    assert narration.ope_best_learner(study, "dqn") == (
        "OPE of the best learner (dqn, shown as nobody): DR estimates 50.00, FQE 51.00, against "
        "a true value of 57.00 per customer (total discounted profit over 12 months, softened "
        "policy, no budget)."
    )
    values = summary.ope_values(study)
    assert values.loc["fqi_teacher", "true_value"] == 58.0
    assert values.loc["fqi_teacher", "dr"] == 55.0
