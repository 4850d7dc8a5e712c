"""Reference rules and the tidy predictions table every model writes.

The leaderboard reads one table: a row per (customer, model) with ``predicted_spend``
over the holdout horizon and, where the model has one, ``p_zero`` (the predicted
probability of no purchase in the holdout). The rules here show what the real models
are worth:

* ``zero`` — predicts nothing for everyone (the floor for MAE on skewed data);
* ``extrapolation`` — calibration spend per day since first purchase, times the
  horizon: ranks customers by past value, the marketer's rule of thumb, with no notion
  of churn, hence badly calibrated;
* ``oracle`` (``shopsim`` only) — the simulator's true expected holdout spend given each
  customer's latent traits and alive state: the ceiling no model can beat on average.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.data.split import Split

PREDICTION_COLUMNS: tuple[str, ...] = ("user_id", "model", "predicted_spend", "p_zero")


def predictions_frame(
    model: str, predicted_spend: pd.Series, p_zero: pd.Series | None = None
) -> pd.DataFrame:
    """Tidy predictions of one model (index of ``predicted_spend`` = user_id).

    Raises
    ------
    ValueError
        On missing or negative predicted spend, or ``p_zero`` outside [0, 1] — a model
        that cannot predict some customers must say so, not leave NaNs to the metrics.
    """
    spend = pd.Series(predicted_spend, dtype=float)
    if spend.isna().any() or not np.isfinite(spend).all():
        bad = spend[~np.isfinite(spend.fillna(np.inf))].index[:3].tolist()
        raise ValueError(f"model {model!r}: non-finite predicted spend for users {bad}")
    if (spend < 0).any():
        raise ValueError(f"model {model!r}: negative predicted spend")
    frame = pd.DataFrame(
        {
            "user_id": spend.index.astype(str),
            "model": model,
            "predicted_spend": spend.to_numpy(),
            "p_zero": np.nan,
        }
    )
    if p_zero is not None:
        p = pd.Series(p_zero, dtype=float).reindex(spend.index)
        if p.isna().any() or ((p < 0) | (p > 1)).any():
            raise ValueError(f"model {model!r}: p_zero must be a probability for every user")
        frame["p_zero"] = p.to_numpy()
    return frame


def zero_rule(customers: pd.DataFrame) -> pd.DataFrame:
    """Predict zero spend (and certainty of no purchase) for every customer."""
    zeros = pd.Series(0.0, index=customers.index)
    return predictions_frame("zero", zeros, p_zero=zeros + 1.0)


def extrapolation_rule(customers: pd.DataFrame, split: Split) -> pd.DataFrame:
    """Calibration spend per day since first purchase, times the holdout length in days.

    Uses only calibration columns (``cal_spend``, ``first_purchase``) of
    :func:`helpers.data.split.make_targets`. Tenure counts the first purchase day, so a
    customer acquired on the cutoff day has a tenure of one day.
    """
    tenure_days = (split.calibration_end - customers["first_purchase"]) / pd.Timedelta(days=1)
    rate = customers["cal_spend"] / tenure_days.clip(lower=1.0)
    return predictions_frame("extrapolation", rate * split.holdout_days)


def oracle_rule(truth: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """The simulator's true expected holdout spend and P(no purchase) per customer.

    Raises
    ------
    ValueError
        When ``truth`` lacks some customers (it must come from the same simulation).
    """
    truth = truth.set_index("user_id") if "user_id" in truth.columns else truth
    missing = customers.index.difference(truth.index)
    if len(missing):
        raise ValueError(f"truth lacks {len(missing)} customers, e.g. {list(missing[:3])}")
    rows = truth.loc[customers.index]
    return predictions_frame(
        "oracle", rows["expected_holdout_spend"], p_zero=rows["p_no_purchase_holdout"]
    )


def btyd_predictions(name: str, predicted: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """Tidy predictions from :func:`helpers.models.btyd.predict_btyd`, aligned to customers."""
    rows = predicted.reindex(customers.index)
    return predictions_frame(name, rows["expected_spend"], p_zero=rows["p_zero"])
