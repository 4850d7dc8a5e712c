"""Stage 07's production refits: the deep model from 04b's checkpoints, the leaderboard's
choice among refittable rows, and stage 05's pickled policy applied to today's customers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import marketing
from helpers.apply import choice
from helpers.apply.actions import load_recommended_policy, recommend_actions
from helpers.apply.deep import production_deep_config
from helpers.apply.scoring import ApplyError, score_customers
from helpers.data.registry import load_dataset
from helpers.data.split import Split
from helpers.marketing.recommend import build_policy, save_policy

RL = {"effects": "mid", "budget": 0.2, "margin": 0.4, "horizon": 12}
TINY_DEEP = {
    "encoder": "gru",
    "loss": "ziln",
    "embed_dim": 4,
    "hidden_size": 8,
    "mlp_hidden": 16,
    "max_len": 16,
    "batch_size": 256,
    "use_text": True,
}


@pytest.fixture(scope="module")
def shop():
    data = load_dataset(
        "shopsim", seed=3, n_users=800, start="2023-01-01", cutoff="2024-06-30",
        holdout_end="2024-12-31",
    )  # fmt: skip
    return data.events, Split.from_dates("2024-06-30", "2024-12-31")


def _checkpoints(folder: Path, configs: list[dict], best_epochs: list[int]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k, (config, best) in enumerate(zip(configs, best_epochs, strict=True)):
        meta = {"config": config, "best_epoch": best, "shapes": {}, "curve": {}}
        (folder / f"fold_{k}.json").write_text(json.dumps(meta))
    return folder


def test_production_config_is_the_folds_majority_with_the_ablation_and_median_epochs(tmp_path):
    other = {**TINY_DEEP, "hidden_size": 16}
    folder = _checkpoints(tmp_path / "ck", [other, TINY_DEEP, TINY_DEEP], [0, 1, 4])
    production = production_deep_config(folder, "deep_no_text")
    assert production.config == {**TINY_DEEP, "use_text": False}
    assert production.epochs == 2 and production.applicable  # median of 1, 2, 5
    assert "2 of 3 folds" in production.source
    assert not production_deep_config(folder, "deep").applicable  # reads the text block
    with pytest.raises(FileNotFoundError, match="run `dvc repro 04b_deep_model`"):
        production_deep_config(tmp_path / "none", "deep_no_text")


def test_the_leaderboard_choice_can_be_a_deep_row_and_says_why_others_cannot(tmp_path):
    folder = _checkpoints(tmp_path / "ck", [TINY_DEEP], [2])
    board = {
        "stack": {"gini": 0.95, "mae": 1.0},
        "deep": {"gini": 0.94, "mae": 1.0},
        "deep_no_text": {"gini": 0.93, "mae": 1.0},
        "gbdt": {"gini": 0.90, "mae": 1.0},
        "pareto_nbd": {"gini": 0.80, "mae": 1.0},
        "extrapolation": {"note": "not a model"},
    }
    usable, why, deep = choice.applicable_models(board, folder)
    assert "deep_no_text" in usable and "deep" not in usable and "stack" not in usable
    assert set(deep) == {"deep_no_text"} and "text block" in why["deep"]
    picked = choice.choose_model(board, "gini", applicable=usable, not_applicable=why)
    assert picked.model == "deep_no_text" and picked.best_overall == "stack"
    assert "stack, is not applicable: a fusion" in picked.reason


@pytest.fixture(scope="module")
def deep_production(shop, tmp_path_factory):
    folder = _checkpoints(tmp_path_factory.mktemp("ck"), [TINY_DEEP], [1])
    return production_deep_config(folder, "deep_no_text")


def _deep_run(shop, production, seed=5):
    events, split = shop
    return score_customers(
        events, "2024-12-31", split.holdout_days, "deep_no_text", seed=seed,
        deep=production, progress=False, gbdt_max_rounds=50,
    )  # fmt: skip


def test_deep_refit_scores_everyone_with_its_own_interval_and_is_deterministic(
    shop, deep_production
):
    """What "equal" means for the deep model: same data, config, epochs, seed -> identical."""
    first = _deep_run(shop, deep_production)
    again = _deep_run(shop, deep_production)
    s = first.scores
    assert first.model == "deep_no_text" and first.best_iterations["deep_no_text_epochs"] >= 1
    np.testing.assert_array_equal(s["predicted_spend"], again.scores["predicted_spend"])
    np.testing.assert_array_equal(s["spend_q90"], again.scores["spend_q90"])
    assert s[["predicted_spend", "spend_q10", "spend_q90", "p_no_purchase"]].notna().all().all()
    assert (s["predicted_spend"] == s["spend__deep_no_text"]).all()
    assert (s["spend_q10"] == s["q10__deep_no_text"]).all()  # the ZILN interval, not LightGBM's
    assert (s["spend_q10"] <= s["spend_q90"]).all() and s["p_no_purchase"].between(0, 1).all()
    other = _deep_run(shop, deep_production, seed=6)
    assert not np.array_equal(s["predicted_spend"], other.scores["predicted_spend"])


def test_deep_refit_reads_nothing_after_as_of(shop, deep_production):
    events, split = shop
    as_of = "2024-09-30"
    run = score_customers(events, as_of, 92, "deep_no_text", seed=5, deep=deep_production,
                          progress=False, gbdt_max_rounds=50)  # fmt: skip
    late = events["ts"] >= pd.Timestamp("2024-10-01", tz="UTC")
    changed = events.copy()
    changed.loc[late, "amount"] = changed.loc[late, "amount"] * 100
    again = score_customers(changed, as_of, 92, "deep_no_text", seed=5, deep=deep_production,
                            progress=False, gbdt_max_rounds=50)  # fmt: skip
    pd.testing.assert_frame_equal(run.scores, again.scores)


def test_a_deep_row_without_its_configuration_or_with_text_is_refused(shop, tmp_path):
    events, split = shop
    with pytest.raises(ApplyError, match="needs its production configuration"):
        score_customers(events, "2024-12-31", split.holdout_days, "deep_no_text", seed=5,
                        progress=False)  # fmt: skip
    folder = _checkpoints(tmp_path / "ck", [TINY_DEEP], [1])
    with pytest.raises(ApplyError, match="reads the text block"):
        score_customers(events, "2024-12-31", split.holdout_days, "deep", seed=5,
                        deep=production_deep_config(folder, "deep"), progress=False)  # fmt: skip


# ------------------------------------------------------------------ stage 05's policy


@pytest.fixture(scope="module")
def btyd_run(shop):
    events, split = shop
    return score_customers(events, "2024-12-31", split.holdout_days, "pareto_nbd", seed=5,
                           progress=False, supervised="if_possible")  # fmt: skip


@pytest.fixture(scope="module")
def pickled_policy(btyd_run, tmp_path_factory):
    """A real learned policy (fitted Q iteration) pickled the way stage 05 does."""
    fits = btyd_run.btyd_fits
    key, _ = marketing.choose_state_model(fits)
    state = marketing.BTYDStateModel.from_fit(fits[key], fits["gamma_gamma"])
    population = marketing.population_from_btyd(
        btyd_run.summary, state.population_family, state.params, state.gg_params, seed=5
    )
    effects = marketing.TreatmentEffects.preset("mid")
    config = marketing.MarketingConfig(horizon=12, budget=0.2, margin=0.4)
    policy = build_policy(
        "fqi", marketing.MarketingWorld(population, effects, config, state), seed=5, fqi_episodes=2
    )
    path = tmp_path_factory.mktemp("rl") / "recommended_policy.pkl"
    save_policy(policy, path)
    return path


def test_the_recommended_policy_of_stage_05_is_applied(btyd_run, pickled_policy):
    summary = {"recommended_policy": "fqi", "best_heuristic": "rfm"}
    plan = recommend_actions(btyd_run.summary, btyd_run.btyd_fits, RL, seed=5,
                             rl_summary=summary, policy_file=pickled_policy)  # fmt: skip
    assert plan.policy == "fqi"
    assert plan.policy_reason == "fqi (recommended by the stage-05 study, recommended_policy.pkl)"
    contacted = plan.table["action"] != "none"
    assert plan.table.index.equals(btyd_run.summary.index)
    assert contacted.mean() <= 0.2 + 1e-9 and contacted.any()
    assert (plan.table.loc[~contacted, "expected_incremental_profit"] == 0).all()


def test_a_missing_or_stale_policy_falls_back_with_the_reason(btyd_run, pickled_policy, tmp_path):
    summary = {"recommended_policy": "fqi", "best_heuristic": "rfm"}
    plan = recommend_actions(btyd_run.summary, btyd_run.btyd_fits, RL, seed=5,
                             rl_summary=summary, policy_file=tmp_path / "none.pkl")  # fmt: skip
    assert plan.policy == "rfm"
    assert plan.policy_reason.startswith("rfm (best_heuristic of the stage-05 study)")
    assert "fqi of stage 05 is missing" in plan.policy_reason
    newer = tmp_path / "events.parquet"
    newer.write_text("x")
    later = pickled_policy.stat().st_mtime + 10
    os.utime(newer, (later, later))
    policy, why = load_recommended_policy(pickled_policy, summary, newer_than=[newer])
    assert policy is None and "is stale: older than" in why and "events.parquet" in why


# ------------------------------------------------------------------ the score CLI


def test_score_cli_refits_a_deep_row_and_fails_clearly_without_its_checkpoints(tmp_path, capsys):
    import sys

    from helpers import cli

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_cli import _score_study

    params, _ = _score_study(tmp_path)
    out = tmp_path / "out" / "scored.csv"
    argv = ["score", "--dataset", "events", "--as-of", "2024-06-01", "--params", str(params)]
    argv += ["--out", str(out), "--model", "deep_no_text", "--horizon-days", "90", "--no-progress"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: model artifact missing: no deep checkpoints in ")
    _checkpoints(tmp_path / "data" / "processed" / "deep_checkpoints", [TINY_DEEP], [1])
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert f"customers with deep_no_text (policy one_step_uplift) -> {out}" in printed
    assert (
        "the learned policy is not used: the recommended policy of stage 05 is missing" in printed
    )
    scored = pd.read_csv(out)
    assert (scored["model"] == "deep_no_text").all() and scored["spend_q90"].notna().all()
