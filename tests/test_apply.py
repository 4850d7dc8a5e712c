"""Tests of stage 07's helpers (helpers.apply): scoring, backtest, choice, segments, churn,
recommendations, actions and the CRM table."""

from __future__ import annotations

import json
import warnings

import duckdb
import numpy as np
import pandas as pd
import pytest

from helpers.apply import backtest, choice, churn, recommend, segments, table
from helpers.apply.actions import choose_policy, recommend_actions
from helpers.apply.run import apply_models
from helpers.apply.scoring import AsOfError, HistoryError, production_windows, score_customers
from helpers.data.registry import load_dataset
from helpers.data.split import Split, make_targets
from helpers.evaluation import leaderboard as evaluation
from helpers.marketing import MarketingConfig, TreatmentEffects
from helpers.models import baselines, btyd

RL = {"effects": "mid", "budget": 0.2, "margin": 0.4, "horizon": 12}
SEGMENTS = {"high_share": 0.2, "medium_share": 0.3, "at_risk_p_no_purchase": 0.6}


@pytest.fixture(scope="module")
def shop():
    data = load_dataset(
        "shopsim", seed=7, n_users=1500, start="2023-01-01", cutoff="2024-06-30",
        holdout_end="2024-12-31",
    )  # fmt: skip
    split = Split.from_dates("2024-06-30", "2024-12-31")
    return data.events, split, make_targets(data.events, split)


@pytest.fixture(scope="module")
def past(shop):
    events, split, _ = shop
    return score_customers(events, split.cutoff, split.holdout_days, "pareto_nbd", seed=7,
                           progress=False)  # fmt: skip


def test_backtest_reproduces_the_study_btyd_figures_to_1e_9(shop, past):
    """One code path: apply at the cutoff == stage 04a's BTYD predictions on the leaderboard."""
    events, split, customers = shop
    summary = btyd.btyd_summary(events, split.cutoff, split.last_holdout_day)
    gg = btyd.fit_spend_model(summary)
    rows = []
    for name, fitter in (("pareto_nbd", btyd.fit_pareto_nbd), ("bgnbd", btyd.fit_bgnbd)):
        predicted = btyd.predict_btyd(summary, model=name, fit=fitter(summary), gg_fit=gg)
        rows.append(baselines.btyd_predictions(name, predicted, customers))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        board = evaluation.leaderboard(pd.concat(rows, ignore_index=True), customers)
    check = backtest.backtest_table(past, customers, board)
    btyd_rows = check[check["model"].isin(["pareto_nbd", "bgnbd"])]
    assert set(btyd_rows["model"]) == {"pareto_nbd", "bgnbd"} and len(btyd_rows) >= 16
    assert btyd_rows["abs_difference"].max() <= 1e-9
    assert past.scores.index.equals(customers.index)


def test_scoring_reads_nothing_after_as_of(shop, past):
    events, split, _ = shop
    late = events[events["ts"] >= split.calibration_end].copy()
    late["amount"] = late["amount"] * 100  # a changed future must not change the scores
    changed = pd.concat([events[events["ts"] < split.calibration_end], late])
    again = score_customers(changed, split.cutoff, split.holdout_days, "pareto_nbd", seed=7,
                            progress=False)  # fmt: skip
    pd.testing.assert_frame_equal(again.scores, past.scores)


def test_scores_are_complete_and_the_interval_is_ordered(past):
    s = past.scores
    assert (
        s[["predicted_spend", "spend_q10", "spend_q90", "p_no_purchase", "p_alive"]]
        .notna()
        .all()
        .all()
    )
    assert (s["spend_q10"] <= s["spend_q90"]).all() and s["p_alive"].between(0, 1).all()
    assert past.windows.train_cutoff == pd.Timestamp("2023-12-29", tz="UTC")  # 184 days earlier


def test_as_of_after_the_data_and_too_little_history_fail_clearly(shop):
    events, _, _ = shop
    with pytest.raises(
        AsOfError, match=r"as_of 2025-03-01 is after the end of the data \(2024-12-31\)"
    ):
        production_windows(events, "2025-03-01", 184)
    with pytest.raises(HistoryError, match="too little history for the training window"):
        production_windows(events, "2023-03-01", 184)


BOARD = {
    "oracle": {"gini": 0.95, "status": "fitted"},
    "deep": {"gini": 0.90, "status": "fitted"},
    "gbdt": {"gini": 0.89, "status": "fitted"},
    "pareto_nbd": {"gini": 0.83, "status": "fitted"},
    "bgnbd": {"gini": None, "status": "not fitted", "reason": "no convergence"},
    "gap_metric": "gini",
}


def test_model_choice_follows_the_leaderboard_among_refittable_models():
    picked = choice.choose_model(BOARD, "gini")
    assert (picked.model, picked.best_overall) == ("gbdt", "deep")
    assert "the leaderboard's best, deep, is not applicable" in picked.reason
    assert choice.choose_model(BOARD, "gini", override="pareto_nbd").model == "pareto_nbd"
    with pytest.raises(choice.ModelArtifactError, match="cannot be refitted by stage 07"):
        choice.choose_model(BOARD, "gini", override="deep")
    assert (
        choice.choose_model({"gbdt": {"mae": 5.0}, "bgnbd": {"mae": 4.0}}, "mae").model == "bgnbd"
    )


def test_missing_or_stale_leaderboard_is_a_clear_error(tmp_path):
    board = tmp_path / "leaderboard.json"
    with pytest.raises(
        choice.ModelArtifactError, match="model artifact missing: .*leaderboard.json"
    ):
        choice.read_leaderboard(board)
    board.write_text(json.dumps(BOARD))
    events = tmp_path / "events.parquet"
    events.write_text("newer")
    import os

    os.utime(board, (1_000_000, 1_000_000))
    with pytest.raises(choice.ModelArtifactError, match="model artifact stale"):
        choice.read_leaderboard(board, newer_than=[events])


def test_value_deciles_and_segments_on_a_known_example():
    spend = pd.Series(np.arange(10, dtype=float), index=[f"c{i}" for i in range(10)])
    p_zero = pd.Series([0.9, 0.1] * 5, index=spend.index)
    deciles = segments.value_deciles(spend)
    assert deciles.tolist() == list(range(1, 11))
    names = segments.segment_customers(spend, p_zero, high_share=0.2, medium_share=0.3)
    assert names["c9"] == "high value, active" and names["c8"] == "high value, at risk"
    assert names["c5"] == "medium value, active" and names["c0"] == "low value, at risk"
    assert (names.value_counts()[list(segments.SEGMENTS)] == [1, 1, 0, 2, 1, 0, 2, 3, 0]).all()
    summary = segments.segment_summary(
        pd.DataFrame({"segment": names, "predicted_spend": spend, "p_no_purchase": p_zero})
    )
    assert summary["share_of_predicted_value"].sum() == pytest.approx(1.0)
    assert summary.loc["high value, active", "share_of_predicted_value"] == pytest.approx(9 / 45)


def test_precision_recall_and_lift_at_the_top_of_a_risk_list():
    risk = pd.Series([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0])
    churned = pd.Series([1, 0, 1, 0, 0, 0, 0, 0, 0, 1], dtype=bool)
    top = churn.precision_recall_at_top(risk, churned, shares=(0.2, 0.5))
    assert top.loc["top 20%", "precision"] == 0.5 and top.loc["top 20%", "recall"] == 1 / 3
    assert top.loc["top 50%", "precision"] == 0.4 and top.loc["top 50%", "lift"] == pytest.approx(
        4 / 3
    )
    curve = churn.lift_curve(risk, churned, n_bins=10)
    assert curve["lift"].iloc[0] == pytest.approx(1 / 0.3) and curve["lift"].iloc[-1] == 1.0


def test_hit_and_ndcg_on_known_rankings():
    scores = np.array([[3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 2.0, 3.0]])
    truth = np.array([[False, False, True, False], [True, False, False, False]])
    assert recommend.hit_at_k(scores, truth, 3) == 0.5
    assert recommend.ndcg_at_k(scores, truth, 3) == pytest.approx(0.5 * (1 / np.log2(4)))


def test_recommenders_beat_popularity_on_the_simulator_and_skip_without_categories(shop):
    events, split, customers = shop
    params, grid = recommend.tune_recent_interest(
        events, customers.index, split.calibration_end, split.holdout_days
    )
    assert len(grid) == 15
    board = recommend.evaluate_recommenders(
        events, customers.index, split.calibration_end, split.holdout_end, params
    )
    assert board.loc["own_history", "hit@3"] > board.loc["popularity", "hit@3"]
    assert board.loc["recent_interest", "hit@3"] > board.loc["own_history", "hit@3"]
    assert not recommend.has_categories(events.assign(category=None))


def test_policy_choice_and_actions_respect_the_budget(shop, past):
    effects, config = TreatmentEffects.preset("mid"), MarketingConfig()
    policy, why = choose_policy({"recommended_policy": "dqn", "best_heuristic": "rfm"},
                                effects, config, 50.0)  # fmt: skip
    assert policy.name == "rfm" and why == "rfm (best_heuristic of the stage-05 study)"
    policy, why = choose_policy(None, effects, config, 50.0)
    assert policy.name == "one_step_uplift" and "fallback" in why
    plan = recommend_actions(past.summary, past.btyd_fits, RL, seed=7)
    contacted = plan.table["action"] != "none"
    assert contacted.mean() <= 0.2 + 1e-9 and contacted.any()
    assert (plan.table.loc[contacted, "expected_incremental_profit"] > 0).all()
    assert (plan.table.loc[~contacted, "expected_incremental_profit"] == 0).all()


def test_the_csv_round_trips_through_pandas_and_duckdb(shop, tmp_path):
    events, split, _ = shop
    applied = apply_models(events, "2024-12-31", split.holdout_days, "gbdt", seed=7,
                           rl_params=RL, segments=SEGMENTS, progress=False)  # fmt: skip
    scored = applied.table
    scored.loc[scored.index[0], "user_id"] = "007"  # a leading zero must survive
    paths = table.write_scored(scored, tmp_path)
    assert list(scored.columns) == list(table.DICTIONARY)
    first = paths["csv"].read_text(encoding="utf-8").splitlines()[:2]
    assert first[0] == ",".join(table.DICTIONARY) and ",2024-12-31,184," in first[1]
    back = table.read_scored_csv(paths["csv"])
    pd.testing.assert_frame_equal(back, scored, check_exact=False, rtol=1e-9)
    pd.testing.assert_frame_equal(pd.read_parquet(paths["parquet"]), scored)
    con = duckdb.connect()
    types = {c: {"string": "VARCHAR", "date": "DATE", "integer": "BIGINT", "float": "DOUBLE",
                 "boolean": "BOOLEAN"}[t]
             for c, (t, _, _) in table.DICTIONARY.items()}  # fmt: skip
    via_duck = con.execute(
        "SELECT * FROM read_csv(?, header=true, columns=?)", [str(paths["csv"]), types]
    ).df()
    assert via_duck["user_id"].tolist() == scored["user_id"].tolist()
    assert (via_duck["as_of"].astype(str) == "2024-12-31").all()
    np.testing.assert_allclose(via_duck["predicted_spend"], scored["predicted_spend"], rtol=1e-9)
    np.testing.assert_allclose(
        via_duck["next_category_1_score"], scored["next_category_1_score"], rtol=1e-9
    )
    assert via_duck["segment"].tolist() == scored["segment"].tolist()


def test_a_btyd_run_on_short_data_skips_lightgbm_only_when_asked(shop):
    events, _, _ = shop
    with pytest.raises(HistoryError, match=r"^too little history for the training window: "):
        score_customers(events, "2023-06-30", 184, "pareto_nbd", seed=7, progress=False)
    short = score_customers(
        events, "2023-06-30", 184, "pareto_nbd", seed=7, progress=False, supervised="if_possible"
    )
    assert "too little history" in short.not_fitted["gbdt"]
    # the BTYD model's own predictive interval stands in for the quantile boosters'
    assert short.scores["spend_q10"].notna().all() and short.scores["p_alive"].notna().all()
    assert (short.scores["spend_q10"] <= short.scores["spend_q90"]).all()
    assert "spend__gbdt" not in short.scores
    # a supervised model cannot skip itself
    with pytest.raises(HistoryError, match=r"^too little history for the training window: "):
        score_customers(events, "2023-06-30", 184, "gbdt", seed=7, supervised="if_possible")


def test_actions_without_a_fitted_btyd_model_contact_nobody_and_say_why():

    summary = pd.DataFrame(
        {"frequency_cal": [0, 2], "recency_cal": [0.0, 5.0], "T_cal": [10.0, 12.0]},
        index=pd.Index(["a", "b"], name="user_id"),
    )
    rl = {"effects": "mid", "horizon": 12, "budget": 0.2, "margin": 0.4}
    plan = recommend_actions(summary, {}, rl, seed=0)
    assert plan.table["action"].tolist() == ["none", "none"]
    assert (plan.table["expected_incremental_profit"] == 0).all()
    assert plan.policy == "nobody" and "no action can be scored" in plan.policy_reason


def test_stage_fallback_tries_each_model_and_keeps_every_reason(monkeypatch):
    from types import SimpleNamespace

    from helpers.apply import run
    from helpers.apply.scoring import ApplyError, HistoryError

    calls = []

    def score(events, as_of, horizon_days, model, **options):
        calls.append((model, options["supervised"]))
        if model == "pareto_nbd":
            raise ApplyError("pareto_nbd: degenerate parameter s")
        return SimpleNamespace(not_fitted={})

    monkeypatch.setattr(run, "score_customers", score)
    args = (None, "2024-06-30", 30, "gbdt", 0, None, False, {})
    result = run._score_with_fallback(HistoryError("too little history"), *args)
    assert calls == [("pareto_nbd", "if_possible"), ("bgnbd", "if_possible")]
    assert result.not_fitted == {
        "gbdt": "too little history (scored with bgnbd instead)",
        "pareto_nbd": "pareto_nbd: degenerate parameter s (scored with bgnbd instead)",
    }

    def never(events, as_of, horizon_days, model, **options):
        raise ApplyError(f"{model} cannot be fitted")

    monkeypatch.setattr(run, "score_customers", never)
    with pytest.raises(
        ApplyError,
        match="no model could be fitted for production: gbdt: x; "
        "pareto_nbd: pareto_nbd cannot be fitted; bgnbd: bgnbd cannot be fitted; "
        "gbdt_rfm: gbdt_rfm cannot be fitted",
    ):
        run._score_with_fallback(ApplyError("x"), *args)


def test_recommendations_are_shares_of_the_customers_interest():
    from conftest import make_events

    events = make_events(
        [
            ("a", "2024-01-01 10:00", "purchase", 10.0),
            ("a", "2024-01-02 10:00", "purchase", 10.0),
            ("b", "2024-01-03 10:00", "purchase", 10.0),
        ]
    ).assign(category=["x", "x", "y"])
    out = recommend.recommend(
        events, pd.Index(["a", "b", "c"]), pd.Timestamp("2024-02-01", tz="UTC"), "own_history"
    )
    shares = out[[f"next_category_{i}_score" for i in (1, 2)]].to_numpy()
    assert out["next_category_1"].tolist() == ["x", "y", "x"]
    assert ((shares >= 0) & (shares <= 1)).all() and (shares.sum(axis=1) <= 1 + 1e-12).all()
    assert shares[0, 0] == pytest.approx(1.0, abs=1e-3)  # a bought x only: all its interest
    assert shares[2].tolist() == pytest.approx([2 / 3, 1 / 3])  # c: the popularity prior
