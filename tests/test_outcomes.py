"""Tests of helpers.models.outcomes: known failures are recorded, bugs still raise."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import KFold

from helpers.evaluation.leaderboard import gap_closed, leaderboard, metrics_json
from helpers.models import btyd
from helpers.models.outcomes import (
    LEADERBOARD_COLUMNS,
    FitLog,
    InsufficientDataError,
    is_known_failure,
)

NO_REPEAT = pd.DataFrame({"frequency_cal": 0, "recency_cal": 0.0, "T_cal": np.linspace(5, 40, 50)})


def _nbd_summary(n: int = 2000, seed: int = 4) -> pd.DataFrame:
    """No-dropout customers (as in test_btyd): BG/NBD lands at a -> 0 on these."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(0.8, 1.0 / 6.0, n)
    age = rng.choice([13, 26, 39, 52], n).astype(float)
    x = rng.poisson(lam * age)
    t_x = np.where(x > 0, np.ceil(age * rng.random(n) ** (1.0 / np.maximum(x, 1))), 0.0)
    return pd.DataFrame({"frequency_cal": x.astype(float), "recency_cal": t_x, "T_cal": age})


def _never_called(*args, **kwargs):
    raise AssertionError("a step of a failed model must be skipped")


def test_btyd_failure_is_recorded_and_later_steps_are_skipped():
    log = FitLog()
    assert log.attempt("pareto_nbd", btyd.fit_pareto_nbd, NO_REPEAT) is None
    assert log.attempt("pareto_nbd", _never_called, "predict") is None
    (failure,) = log.failures
    assert failure.model == "pareto_nbd" and failure.error == "BTYDFitError"
    assert failure.reason == "nobody made a repeat purchase"
    assert failure.tried == "one fit, no fallback"  # priors, no penalizer ladder (issue 30)
    assert log.statuses().to_dict() == {"pareto_nbd": "not fitted"}
    assert log.fitted == {}


def test_known_and_unknown_exceptions():
    log = FitLog()

    def folds(n_customers: int) -> list:
        return list(KFold(n_splits=5).split(np.arange(n_customers)))

    assert log.attempt("gbdt", folds, 3) is None  # scikit-learn: more folds than customers
    assert log.outcomes["gbdt"].failure.reason == (
        "Cannot have number of splits n_splits=5 greater than the number of samples: n_samples=3."
    )
    assert log.outcomes["gbdt"].failure.tried == "one fit, no fallback"

    def too_small() -> None:
        raise InsufficientDataError("3 customers cannot fill 5 folds")

    assert log.attempt("deep", too_small) is None
    assert log.outcomes["deep"].failure.error == "InsufficientDataError"

    def bug_key() -> None:
        raise KeyError("holdout_spend")

    def bug_value() -> None:
        raise ValueError("operands could not be broadcast together with shapes (3,) (4,)")

    with pytest.raises(KeyError, match="holdout_spend"):
        log.attempt("fusion", bug_key)
    with pytest.raises(ValueError, match="could not be broadcast"):
        log.attempt("fusion2", bug_value)
    assert is_known_failure(ValueError("too few customers for 5 folds"))
    assert not is_known_failure(TypeError("too few arguments"))
    assert log.attempt("ok", lambda: 42) == 42 and log.fitted["ok"] == 42


def test_boundary_fit_is_kept_with_its_note_not_as_a_failure():
    summary = _nbd_summary()
    log = FitLog()
    with warnings.catch_warnings():
        warnings.simplefilter("error", btyd.BTYDFitWarning)  # recorded, not re-emitted
        fit = log.attempt("bgnbd", btyd.fit_bgnbd, summary)
        pred = log.attempt(
            "bgnbd",
            btyd.predict_btyd,
            summary.assign(monetary_value_cal=0.0),
            "bgnbd",
            horizon_weeks=26,
            fit=fit,
            gg_fit=btyd.BTYDFit.from_dict(
                {"name": "gamma_gamma", "params": {"mean_spend": 30.0}, "reduced_to": "mean_spend"}
            ),
        )
    assert fit.reduced_to is None and np.isfinite(pred.to_numpy()).all()
    assert log.fitted == {"bgnbd": fit}  # the first step's result is the model's
    assert log.failures == [] and log.statuses()["bgnbd"] == "fitted with a note"
    (note,) = log.outcomes["bgnbd"].notes
    assert note == fit.note and "practically as the NBD" in note
    assert log.note() == f"- **bgnbd** — fitted, with a note: {fit.note}"
    assert log.not_fitted_rows().empty


def test_spend_fallback_is_noted_and_not_a_leaderboard_row():
    summary = pd.DataFrame(
        {"frequency_cal": [2.0, 0.0, 0.0], "recency_cal": [2.0, 0.0, 0.0], "T_cal": [2.0, 1.0, 0.0]}
    ).assign(monetary_value_cal=[25.0, 0.0, 0.0])
    log = FitLog()
    spend = log.attempt("gamma_gamma", btyd.fit_spend_model, summary, leaderboard=False)
    assert spend.params == {"mean_spend": 25.0}
    assert log.statuses()["gamma_gamma"] == "reduced to mean_spend"
    assert log.note().startswith(
        "- **gamma_gamma** — fell back to a mean spend: Gamma-Gamma not fitted (needs at least "
        "2 repeat customers with positive spend, got 1); every customer's expected spend per "
        "purchase is the calibration mean spend per repeat purchase day, 25.00."
    )
    log.attempt("gamma_gamma_strict", btyd.fit_gamma_gamma, summary, leaderboard=False)
    assert len(log.failures) == 1 and log.not_fitted_rows().empty  # not leaderboard rows


@pytest.mark.filterwarnings("ignore:decile_mape:RuntimeWarning")
def test_not_fitted_rows_append_to_the_leaderboard():
    rng = np.random.default_rng(0)
    users = [f"u{i}" for i in range(40)]
    spend = rng.gamma(1.0, 20.0, 40) * (rng.random(40) < 0.6)
    customers = pd.DataFrame({"holdout_spend": spend}, index=users)
    predictions = pd.concat(
        [
            pd.DataFrame(
                {
                    "user_id": users,
                    "model": name,
                    "predicted_spend": spend * k + noise,
                    "p_zero": 0.3,
                }
            )
            for name, k, noise in (("bgnbd", 0.5, rng.gamma(1.0, 10.0, 40)), ("oracle", 1.0, 0.0))
        ],
        ignore_index=True,
    )
    board = leaderboard(predictions, customers)
    log = FitLog()
    log.attempt("bgnbd", lambda: "fit")
    log.attempt("pareto_nbd", btyd.fit_pareto_nbd, NO_REPEAT)
    rows = log.not_fitted_rows(board.columns)
    assert rows.index.tolist() == ["pareto_nbd"] and rows.index.name == "model"
    assert list(rows.columns) == [*board.columns, "status", "reason"]
    assert rows.loc["pareto_nbd", list(board.columns)].isna().all()
    assert rows.loc["pareto_nbd", "status"] == "not fitted"

    full = pd.concat([board.assign(status="fitted"), rows])
    assert full.index.tolist() == ["oracle", "bgnbd", "pareto_nbd"]
    assert gap_closed(full, "gini").loc["bgnbd"] == 0.0  # the NaN row is ignored
    metrics = metrics_json(full.drop(columns=["status", "reason"]))
    assert metrics["pareto_nbd"]["gini"] is None
    assert list(LEADERBOARD_COLUMNS) == list(board.columns)


def test_note_and_json():
    log = FitLog()
    log.attempt("gbdt", lambda: "model")

    def small() -> None:
        raise InsufficientDataError("3 customers cannot fill 5 folds")

    log.attempt("deep", small)
    assert log.note() == (
        "- **deep** — not fitted: 3 customers cannot fill 5 folds. Tried: one fit, no fallback.\n"
        "- Fitted as specified: gbdt."
    )
    assert log._repr_markdown_() == log.note()
    data = json.loads(json.dumps(log.to_dict()))
    assert data["deep"]["status"] == "not fitted"
    assert data["deep"]["failure"] == {
        "model": "deep",
        "reason": "3 customers cannot fill 5 folds",
        "tried": "one fit, no fallback",
        "error": "InsufficientDataError",
    }
    assert data["gbdt"] == {
        "status": "fitted",
        "seconds": data["gbdt"]["seconds"],
        "notes": [],
        "failure": None,
    }


def test_a_model_depending_on_a_failed_one_is_recorded_as_not_fitted():
    from helpers.models.outcomes import FitLog, InsufficientDataError

    def too_small() -> None:
        raise InsufficientDataError("too few customers (12) for 5 folds")

    log = FitLog()
    assert log.attempt("deep", too_small) is None
    log.not_fitted_because("deep_mse", "deep")
    rows = log.not_fitted_rows(["gini"])
    assert list(rows.index) == ["deep", "deep_mse"]
    assert rows.loc["deep_mse", "reason"].startswith("depends on deep, which was not fitted (")
    assert log.attempt("gbdt", lambda: 1) == 1
    with pytest.raises(ValueError, match="did not fail"):
        log.not_fitted_because("x", "gbdt")
