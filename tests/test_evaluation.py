import numpy as np
import pandas as pd
import pytest

from helpers.evaluation import leaderboard as evaluation
from helpers.models.baselines import predictions_frame


@pytest.fixture
def customers() -> pd.DataFrame:
    spend = [0.0, 0.0, 10.0, 20.0, 70.0]
    return pd.DataFrame({"holdout_spend": spend}, index=pd.Index(list("abcde"), name="user_id"))


def test_leaderboard_perfect_and_reversed(customers):
    actual = customers["holdout_spend"]
    predictions = pd.concat(
        [
            predictions_frame("perfect", actual, p_zero=(actual == 0).astype(float)),
            predictions_frame("reversed", pd.Series(actual.to_numpy()[::-1], index=actual.index)),
        ]
    )
    board = evaluation.leaderboard(predictions, customers)
    assert list(board.index) == ["perfect", "reversed"]
    assert board.loc["perfect", "gini"] == pytest.approx(1.0)
    assert board.loc["perfect", "mae"] == 0.0 and board.loc["perfect", "roc_auc"] == 1.0
    assert np.isnan(board.loc["reversed", "roc_auc"])  # no p_zero
    assert board.loc["reversed", "actual_total"] == 100.0


def test_leaderboard_requires_every_customer(customers):
    partial = predictions_frame("m", customers["holdout_spend"].iloc[:3])
    with pytest.raises(ValueError, match=r"must predict every customer \(5\): \{'m': 3\}"):
        evaluation.leaderboard(partial, customers)


def test_gap_closed_known_answer():
    board = pd.DataFrame(
        {"gini": [0.6, 0.5, 0.7, 0.9], "mae": [10.0, 12.0, 9.0, 5.0]},
        index=["bgnbd", "pareto_nbd", "gbdt", "oracle"],
    )
    gini = evaluation.gap_closed(board)
    assert gini["gbdt"] == pytest.approx((0.7 - 0.6) / (0.9 - 0.6))
    assert gini["oracle"] == 1.0 and gini["bgnbd"] == 0.0 and gini["pareto_nbd"] < 0
    mae = evaluation.gap_closed(board, metric="mae")
    assert mae["gbdt"] == pytest.approx((9 - 10) / (5 - 10))
    with pytest.raises(ValueError, match="no 'oracle' row"):
        evaluation.gap_closed(board.drop(index="oracle"))


def test_calibration_holdout_by_frequency_pools_the_top():
    summary = pd.DataFrame(
        {"frequency_cal": [0, 0, 1, 3, 9], "frequency_holdout": [0, 1, 2, 4, 6]},
        index=list("abcde"),
    )
    expected = pd.Series([0.5, 0.5, 1.0, 3.0, 5.0], index=list("abcde"))
    table = evaluation.calibration_holdout_by_frequency(summary, expected, max_frequency=3)
    assert table["frequency_cal"].tolist() == [0, 1, 3]
    assert table["customers"].tolist() == [2, 1, 2]
    assert table["actual"].tolist() == [0.5, 2.0, 5.0]
    assert table["predicted"].tolist() == [0.5, 1.0, 4.0]


def test_metrics_json_replaces_nan():
    board = pd.DataFrame({"gini": [0.5], "roc_auc": [np.nan]}, index=["m"])
    assert evaluation.metrics_json(board, {"k": 1}) == {"m": {"gini": 0.5, "roc_auc": None}, "k": 1}


def test_highlighted_models_are_the_top_the_best_btyd_and_the_oracle():
    board = pd.DataFrame(
        {"gini": [0.94, 0.89, 0.88, 0.87, 0.80, 0.83, 0.0]},
        index=["oracle", "deep", "stack", "gbdt", "bgnbd", "pareto_nbd", "zero"],
    )
    assert evaluation.highlighted_models(board) == ["oracle", "deep", "stack", "gbdt", "pareto_nbd"]
    assert evaluation.highlighted_models(board.drop(index="oracle"), top=1) == [
        "deep",
        "pareto_nbd",
    ]


def test_metrics_json_keeps_text_and_turns_nan_into_null():
    board = pd.DataFrame(
        {"gini": [0.5, float("nan")], "status": ["fitted", "not fitted"]}, index=["a", "b"]
    )
    assert evaluation.metrics_json(board) == {
        "a": {"gini": 0.5, "status": "fitted"},
        "b": {"gini": None, "status": "not fitted"},
    }


def test_paired_differences_flags_only_real_differences():
    from helpers.evaluation.leaderboard import paired_differences

    rng = np.random.default_rng(5)
    n = 1500
    users = pd.Index([f"u{i}" for i in range(n)], name="user_id")
    actual = rng.gamma(0.4, 30.0, n) * (rng.random(n) < 0.3)
    customers = pd.DataFrame({"holdout_spend": actual}, index=users)
    preds = {
        "good": actual + rng.normal(0, 1, n),
        "twin": actual + rng.normal(0, 1, n),
        "bad": rng.random(n),
    }
    predictions = pd.concat(
        [
            pd.DataFrame({"user_id": users, "model": m, "predicted_spend": p, "p_zero": np.nan})
            for m, p in preds.items()
        ],
        ignore_index=True,
    )
    table = paired_differences(
        predictions,
        customers,
        [("bad", "good"), ("twin", "good"), ("none", "good")],
        seed=0,
        n_boot=200,
    )
    assert list(table.index) == ["bad", "twin"]  # unknown models are skipped
    assert table.loc["bad", "distinguishable"] and table.loc["bad", "high"] < 0
    assert not table.loc["twin", "distinguishable"]
    assert table.loc["twin", "low"] < 0 < table.loc["twin", "high"]


def test_holdout_tracking_error_counts_holdout_weeks_only():
    curve = pd.DataFrame(
        {
            "week": [1, 2, 3, 4],
            "actual": [10.0, 20.0, 30.0, 50.0],
            "predicted": [12.0, 22.0, 35.0, 46.0],
            "holdout": [False, False, True, True],
        }
    )
    error = evaluation.holdout_tracking_error(curve)
    assert error == {"pred": 24.0, "actual": 30.0, "error": pytest.approx(-0.2)}


def test_p_alive_reading_reads_the_right_cells():
    matrix = pd.DataFrame(
        [[1.0, 0.9, 0.8, 0.7, 0.6], [0.5, 0.4, 0.3, 0.2, 0.1]],
        index=[0, 1],
        columns=[0.0, 1.0, 2.0, 3.0, 4.0],
    )
    reading = evaluation.p_alive_reading(matrix, frequency=10, gap=3)
    assert reading == {"frequency": 1, "recent": 0.1, "old": 0.3, "gap": 2.0}


def test_comparison_pairs_lists_ablations_yardstick_and_trees():
    from helpers.evaluation.leaderboard import best_btyd, comparison_pairs

    gini = pd.Series(
        {
            "deep": 0.89,
            "deep_mse": 0.87,
            "deep_no_text": 0.90,
            "gbdt": 0.88,
            "stack": 0.885,
            "bgnbd": 0.80,
            "pareto_nbd": 0.82,
            "zero": float("nan"),
        }
    )
    assert best_btyd(gini) == "pareto_nbd"
    assert comparison_pairs(gini) == [
        ("deep_mse", "deep"),
        ("deep_no_text", "deep"),
        ("deep", "pareto_nbd"),
        ("gbdt", "pareto_nbd"),
        ("stack", "pareto_nbd"),
        ("deep", "gbdt"),
    ]


def test_comparison_pairs_skips_what_was_not_fitted():
    from helpers.evaluation.leaderboard import best_btyd, comparison_pairs

    # no main deep model (its ablations have nothing to compare with), no BTYD fit
    gini = pd.Series({"deep_mse": 0.87, "gbdt": 0.88, "bgnbd": float("nan")})
    assert best_btyd(gini) is None
    assert comparison_pairs(gini) == []


def test_metric_winners_reads_each_column_in_its_direction():
    from helpers.evaluation.leaderboard import metric_winners

    board = pd.DataFrame(
        {
            "mae": [10.0, 12.0, 11.0],
            "gini": [0.5, 0.7, 0.6],
            "weighted_decile_error": [0.3, 0.2, float("nan")],
        },
        index=["a", "b", "c"],
    )
    assert metric_winners(board) == {"mae": "a", "gini": "b", "weighted_decile_error": "b"}
    assert metric_winners(board.drop(columns="mae")) == {"gini": "b", "weighted_decile_error": "b"}
