"""Model fusion: stacking and a weighted average, cross-fitted over the customer folds.

Base predictions are the tidy tables of the other models (``user_id, model,
predicted_spend, p_zero``): cross-fitted supervised models (GBDT, deep) give each
customer an out-of-fold prediction; BTYD models are fit on calibration data only.

Second-level cross-fit: the meta-model that fuses the predictions of fold ``k``'s
customers is fit only on the customers of the *other* folds — their base predictions
and their holdout targets. A customer's own holdout outcome (and that of anyone in
their fold) therefore never enters the loss of the meta-model that predicts them; the
meta-model is "fit on validation predictions", since each training pair
``(base prediction of j, target of j)`` is out-of-sample for customer ``j``. (As in
every stacking scheme built on cross-fitted predictions, the base models that
predicted fold ``m != k`` were themselves trained with fold ``k`` among their training
folds; that second-order path touches only the base models, not the meta-model's
fit, and is the standard practice of Wolpert 1992 / van der Laan et al. 2007.)

* ``stack`` — non-negative least squares of spend on the base predicted spends plus
  an intercept column; P(zero) by a logistic regression on the base models' logit
  P(zero).
* ``average`` — a weighted average (weights on the simplex) minimising squared error
  on the same other-fold customers; P(zero) averaged with the same weights.

References
----------
Wolpert (1992), Stacked generalization. Neural Networks 5(2).
Breiman (1996), Stacked regressions. Machine Learning 24 (non-negative weights).
van der Laan, Polley & Hubbard (2007), Super learner. Stat. Appl. Genet. Mol. Biol.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize, nnls
from sklearn.linear_model import LogisticRegression

from helpers.models.baselines import predictions_frame

_EPS = 1e-6
# Below this total weight the models with a P(zero) are averaged equally (see fuse_predictions).
_MIN_WEIGHT = 1e-6


@dataclass
class FusionResult:
    """Fused out-of-fold predictions and the per-fold meta-model weights."""

    predictions: pd.DataFrame
    weights: pd.DataFrame


def _wide(predictions: pd.DataFrame, models: list[str], column: str) -> pd.DataFrame:
    frame = predictions[predictions["model"].isin(models)].pivot(
        index="user_id", columns="model", values=column
    )
    return frame[models]


def _simplex_weights(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    k = x.shape[1]
    scale = float(np.mean(y**2)) or 1.0

    def loss(w: np.ndarray) -> float:
        return float(np.mean((x @ w - y) ** 2) / scale)

    def grad(w: np.ndarray) -> np.ndarray:
        return 2.0 * x.T @ (x @ w - y) / len(y) / scale

    result = minimize(
        loss,
        np.full(k, 1.0 / k),
        jac=grad,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * k,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0}],
    )
    w = np.clip(result.x, 0.0, None)  # SLSQP may step a hair outside its bounds
    return w / w.sum()  # the equality constraint keeps the sum at 1: renormalise round-off


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def fuse_predictions(
    predictions: pd.DataFrame,
    targets: pd.Series,
    folds: pd.Series,
    models: list[str],
    names: tuple[str, str] = ("stack", "average"),
    seed: int = 0,
) -> FusionResult:
    """Cross-fitted stacking and weighted average of ``models``' predictions.

    Parameters
    ----------
    predictions : DataFrame
        Tidy ``user_id, model, predicted_spend, p_zero`` holding every model in
        ``models`` for every customer (out-of-fold for supervised models).
    targets : Series
        Holdout spend per customer (index user_id).
    folds : Series
        Fold id per customer (index user_id), the folds the base models were cross-fit on.
    models : list of str
        Base models to fuse.
    names : (str, str)
        Model names of the stacked and the averaged predictions.
    seed : int
        For the logistic meta-model's solver (deterministic anyway).

    Returns
    -------
    FusionResult
        ``predictions``: tidy rows for both fused models; ``weights``: one row per
        (method, fold) with the meta-model coefficients.
    """
    spend = _wide(predictions, models, "predicted_spend")
    users = spend.index
    if spend.isna().any().any():
        raise ValueError("every base model must predict every customer")
    y = targets.reindex(users).to_numpy(dtype=float)
    fold = folds.reindex(users).to_numpy()
    if np.isnan(y).any() or pd.isna(fold).any():
        raise KeyError("targets and folds must cover every predicted customer")
    p_zero = _wide(predictions, models, "p_zero")
    with_p = [m for m in models if p_zero[m].notna().all()]
    x = spend.to_numpy(dtype=float)
    logit_p = _logit(p_zero[with_p].to_numpy(dtype=float)) if with_p else None
    zero = (y <= 0).astype(int)

    stack = np.full(len(users), np.nan)
    average = np.full(len(users), np.nan)
    stack_p = np.full(len(users), np.nan)
    average_p = np.full(len(users), np.nan)
    weight_rows = []
    for k in np.unique(fold):
        test, train = fold == k, fold != k  # meta-models see other folds only
        design = np.column_stack([x[train], np.ones(train.sum())])
        coef, _ = nnls(design, y[train])
        stack[test] = np.column_stack([x[test], np.ones(test.sum())]) @ coef
        w = _simplex_weights(x[train], y[train])
        average[test] = x[test] @ w
        weight_rows.append(
            {
                "method": names[0],
                "fold": k,
                **dict(zip(models, coef[:-1], strict=True)),
                "intercept": coef[-1],
            }
        )
        weight_rows.append({"method": names[1], "fold": k, **dict(zip(models, w, strict=True))})
        if logit_p is not None and len(np.unique(zero[train])) == 2:
            clf = LogisticRegression(C=1.0, random_state=seed, max_iter=1000)
            clf.fit(logit_p[train], zero[train])
            stack_p[test] = clf.predict_proba(logit_p[test])[:, 1]
            w_p = np.array([w[models.index(m)] for m in with_p])
            # weights under _MIN_WEIGHT are solver noise: their ratio means nothing
            w_p = (
                w_p / w_p.sum()
                if w_p.sum() > _MIN_WEIGHT
                else np.full(len(with_p), 1 / len(with_p))
            )
            average_p[test] = p_zero[with_p].to_numpy(dtype=float)[test] @ w_p
    has_p = logit_p is not None and not np.isnan(stack_p).any()
    frames = [
        predictions_frame(
            names[0],
            pd.Series(np.clip(stack, 0, None), index=users),
            p_zero=pd.Series(stack_p, index=users) if has_p else None,
        ),
        predictions_frame(
            names[1],
            pd.Series(average, index=users),
            p_zero=pd.Series(np.clip(average_p, 0, 1), index=users) if has_p else None,
        ),
    ]
    return FusionResult(
        predictions=pd.concat(frames, ignore_index=True),
        weights=pd.DataFrame(weight_rows),
    )
