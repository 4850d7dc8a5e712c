"""The leaderboard of both protocols, and who may read which row.

A headline, stage 07's model choice and stage 05's state model read deployable rows
only: a cross-fitted row (``<model>@cross_fitted``) learned from other customers'
holdout outcomes. These tests give the cross-fitted rows the best figures, so any
reader that looked at them would pick them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.apply import choice
from helpers.evaluation import leaderboard as evaluation


def _board() -> dict:
    return {
        "oracle": {"gini": 0.99, "mae": 1.0, "protocol": "ceiling"},
        "deep_no_text@cross_fitted": {"gini": 0.95, "mae": 2.0, "protocol": "cross_fitted"},
        "gbdt@cross_fitted": {"gini": 0.94, "mae": 2.0, "protocol": "cross_fitted"},
        "gbdt": {"gini": 0.86, "mae": 3.0, "protocol": "deployable", "status": "fitted"},
        "deep_no_text": {"gini": 0.84, "mae": 3.0, "protocol": "deployable", "status": "fitted"},
        "deep": {
            "gini": None,
            "mae": None,
            "protocol": "deployable",
            "status": "not_fitted",
            "reason": "reads the text block",
        },  # fmt: skip
        "pareto_nbd": {"gini": 0.82, "mae": 4.0, "protocol": "deployable"},
        "bgnbd": {"gini": 0.81, "mae": 4.0, "protocol": "deployable"},
        "gap_metric": "gini",
    }


def test_model_choice_never_reads_a_cross_fitted_row():
    board = _board()
    usable, why, _ = choice.applicable_models(board)
    assert not any(m.endswith(evaluation.CROSS_FITTED_SUFFIX) for m in usable)
    assert not any(m.endswith(evaluation.CROSS_FITTED_SUFFIX) for m in why)
    picked = choice.choose_model(board, "gini", applicable=usable, not_applicable=why)
    assert picked.model == "gbdt" and picked.value == 0.86
    assert picked.best_overall == "gbdt"  # not the better cross-fitted rows, not the oracle
    # a board whose rows carry no protocol field: the key alone says cross-fitted
    bare = {k: {m: v for m, v in r.items() if m != "protocol"} if isinstance(r, dict) else r
            for k, r in board.items()}  # fmt: skip
    assert choice.choose_model(bare, "gini").model == "gbdt"
    assert choice.choose_model(bare, "mae").model == "gbdt"


def test_headline_reads_deployable_rows_only():
    facts = evaluation.headline_facts(_board())
    assert (facts.best, facts.gini) == ("gbdt", 0.86)
    assert (facts.btyd, facts.btyd_gini) == ("pareto_nbd", 0.82) and facts.beats_btyd
    rows = evaluation.deployable_rows(_board())
    assert set(rows.index) == {"gbdt", "deep_no_text", "pareto_nbd", "bgnbd"}


def test_headline_of_a_board_without_deployable_learned_rows_is_btyd():
    board = {k: v for k, v in _board().items() if k not in ("gbdt", "deep_no_text")}
    facts = evaluation.headline_facts(board)
    assert facts.best == "pareto_nbd" and facts.beats_btyd


def test_row_protocol_from_field_or_key():
    assert evaluation.row_protocol("gbdt@cross_fitted") == "cross_fitted"
    assert evaluation.row_protocol("oracle") == "ceiling"
    assert evaluation.row_protocol("gbdt") == "deployable"
    assert evaluation.row_protocol("gbdt", {"protocol": "cross_fitted"}) == "cross_fitted"
    names = ("gbdt_rfm", "deep_mse", "stack", "average", "pareto_nbd", "zero")
    assert [m for m in names if evaluation.is_learned(m)] == list(names[:4])


def test_protocol_board_keys_every_learned_model_twice():
    cross = pd.DataFrame(
        {"gini": [0.9, 0.88, 0.8, 0.95], "status": "fitted", "reason": ""},
        index=["deep", "gbdt", "pareto_nbd", "oracle"],
    )
    deployable = pd.DataFrame({"gini": [0.87]}, index=["gbdt"])
    board = evaluation.protocol_board(cross, deployable, {"deep": "reads the text block"})
    assert board.loc["gbdt", "protocol"] == "deployable" and board.loc["gbdt", "gini"] == 0.87
    assert board.loc["gbdt@cross_fitted", "protocol"] == "cross_fitted"
    assert board.loc["deep@cross_fitted", "model"] == "deep"
    assert board.loc["deep", "status"] == "not_fitted"
    assert board.loc["deep", "reason"] == "reads the text block"
    assert board.loc["pareto_nbd", "protocol"] == "deployable"  # BTYD: by construction
    assert board.loc["oracle", "protocol"] == "ceiling"
    assert list(board["protocol"].unique()) == ["deployable", "ceiling", "cross_fitted"]
    as_json = evaluation.metrics_json(board)
    assert as_json["gbdt@cross_fitted"]["protocol"] == "cross_fitted"
    assert choice.choose_model(as_json, "gini").model == "gbdt"


def test_protocol_gaps_pair_the_same_customers():
    rng = np.random.default_rng(0)
    users = [f"u{i}" for i in range(300)]
    actual = rng.gamma(0.5, 20.0, 300)
    customers = pd.DataFrame({"holdout_spend": actual}, index=pd.Index(users, name="user_id"))

    def tidy(model, values):
        return pd.DataFrame({"user_id": users, "model": model, "predicted_spend": values,
                             "p_zero": np.nan})  # fmt: skip

    good = actual + rng.normal(0, 5, 300).clip(-1, None)
    cross = pd.concat([tidy("gbdt", good), tidy("deep", good)])
    deployable = pd.concat([tidy("gbdt", good), tidy("stack", good)])
    gaps = evaluation.protocol_gaps(cross, deployable, customers, seed=1, n_boot=50)
    assert list(gaps.index) == ["gbdt"]  # only models with both rows
    assert gaps.loc["gbdt", "gap"] == pytest.approx(0.0)
    assert gaps.loc["gbdt", "low"] == pytest.approx(0.0) == gaps.loc["gbdt", "high"]
    sentence = evaluation.protocol_gap_sentence(gaps)
    assert "gbdt" in sentence and "not distinguishable" in sentence
    worse = evaluation.protocol_gaps(cross, tidy("gbdt", rng.permutation(good)), customers, 1, 50)
    assert worse.loc["gbdt", "high"] < 0
    assert "cross-fitted better" in evaluation.protocol_gap_sentence(worse)


def test_stage_07_reads_the_recipe_stage_06_chose():
    from helpers.apply.deployable import SINGLE_WINDOW, Recipe

    board = {**_board(), "deployable_recipe": {"share": 0.5, "anchors": 4,
                                               "btyd_inputs": True, "label": "x"}}  # fmt: skip
    assert choice.deployable_recipe(board) == Recipe(0.5, 4, True)
    assert choice.deployable_recipe(_board()) == SINGLE_WINDOW
