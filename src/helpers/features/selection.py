"""Feature selection: LASSO path and LightGBM gain importance, combined by a stated rule.

Both methods see **training users only** (an index argument) and model
``log1p(target)`` (e.g. holdout spend), so a few big spenders do not dominate.

* **LASSO** (Tibshirani 1996) on standardised features: the whole regularisation path,
  the penalty chosen by seeded K-fold cross-validation with the *one-standard-error
  rule* (the largest penalty whose CV error is within one standard error of the
  minimum; Hastie, Tibshirani & Friedman 2009, sec. 7.10). It keeps a parsimonious set
  of features with a linear signal; the order in which features enter the path ranks
  them.
* **LightGBM gain importance** (Ke et al. 2017): total loss reduction from splits on a
  feature in a seeded, deterministic boosted model (``deterministic=True,
  force_row_wise=True, num_threads=1``). It sees non-linear and interaction signal that
  LASSO misses, but gives some gain to noise too.

:func:`select_features` keeps a feature when **LASSO keeps it** (non-zero coefficient
at the chosen penalty) **or it is among the ``top_k`` by gain with at least
``min_gain_share`` of the total gain**, and records the reason for each.
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from sklearn.linear_model import LassoCV, lasso_path
from sklearn.model_selection import KFold

LGBM_PARAMS: dict[str, Any] = {
    "objective": "regression",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 40,
    "feature_fraction": 1.0,
    "bagging_fraction": 1.0,
    "lambda_l2": 1.0,
    "verbose": -1,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 1,
}


def _training_data(
    features: pd.DataFrame, target: pd.Series, train_index: pd.Index
) -> tuple[pd.DataFrame, np.ndarray]:
    train_index = pd.Index(train_index)
    x = features.loc[train_index]
    y = target.reindex(train_index)
    if y.isna().any():
        raise ValueError("target is missing for some training users")
    if (y < 0).any():
        raise ValueError("target must be non-negative (log1p is modelled)")
    if not np.isfinite(x.to_numpy(dtype=float)).all():
        raise ValueError("features must be finite (fill missing values first)")
    return x, np.log1p(y.to_numpy(dtype=float))


def _standardised(x: pd.DataFrame) -> np.ndarray:
    values = x.to_numpy(dtype=float)
    sd = values.std(axis=0)
    return (values - values.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def fit_lasso(
    features: pd.DataFrame,
    target: pd.Series,
    train_index: pd.Index,
    seed: int,
    cv: int = 5,
    n_alphas: int = 100,
) -> dict[str, Any]:
    """Cross-validated LASSO path on the training rows (fit once, read many times).

    Returns a dict with the ``columns``, the decreasing ``alphas``, the ``coefs``
    (features x alphas, standardised scale), the CV error ``cv_mean``/``cv_se`` and the
    positions ``best`` (lowest CV error) and ``one_se`` (one-standard-error rule), as read
    by :func:`lasso_importance`, :func:`lasso_path_frame` and :func:`select_features`.
    """
    x, y = _training_data(features, target, train_index)
    xs = _standardised(x)
    folds = KFold(n_splits=cv, shuffle=True, random_state=seed)
    model = LassoCV(alphas=n_alphas, cv=folds, max_iter=10_000, n_jobs=1).fit(xs, y)
    alphas = np.asarray(model.alphas_)  # decreasing
    mse = np.asarray(model.mse_path_)  # (n_alphas, n_folds)
    mean, se = mse.mean(axis=1), mse.std(axis=1, ddof=1) / np.sqrt(mse.shape[1])
    best = int(np.argmin(mean))
    one_se = int(np.flatnonzero(mean <= mean[best] + se[best])[0])  # largest such alpha
    _, coefs, _ = lasso_path(xs, y - y.mean(), alphas=alphas, max_iter=10_000)
    return {
        "columns": list(x.columns),
        "alphas": alphas,
        "coefs": coefs,  # (n_features, n_alphas)
        "cv_mean": mean,
        "cv_se": se,
        "best": best,
        "one_se": one_se,
    }


def lasso_path_frame(
    features: pd.DataFrame,
    target: pd.Series,
    train_index: pd.Index,
    seed: int,
    cv: int = 5,
    n_alphas: int = 100,
    fit: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """The LASSO path as a tidy frame, for plotting (``fit``: a :func:`fit_lasso` result).

    Returns
    -------
    DataFrame
        One row per (alpha, feature): ``alpha, feature, coef`` (standardised scale),
        ``cv_mse, cv_mse_se`` of that alpha, and the flags ``alpha_min`` (lowest CV
        error) and ``alpha_1se`` (the one-standard-error choice).
    """
    fit = fit or fit_lasso(features, target, train_index, seed, cv, n_alphas)
    alphas, cols = fit["alphas"], fit["columns"]
    n_a = len(alphas)
    return pd.DataFrame(
        {
            "alpha": np.repeat(alphas, len(cols)),
            "feature": np.tile(np.asarray(cols, dtype=object), n_a),
            "coef": fit["coefs"].T.reshape(-1) + 0.0,
            "cv_mse": np.repeat(fit["cv_mean"], len(cols)),
            "cv_mse_se": np.repeat(fit["cv_se"], len(cols)),
            "alpha_min": np.repeat(np.arange(n_a) == fit["best"], len(cols)),
            "alpha_1se": np.repeat(np.arange(n_a) == fit["one_se"], len(cols)),
        }
    )


def lasso_importance(
    features: pd.DataFrame,
    target: pd.Series,
    train_index: pd.Index,
    seed: int,
    cv: int = 5,
    n_alphas: int = 100,
    fit: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Per-feature LASSO summary at the one-standard-error penalty (Tibshirani 1996).

    Parameters
    ----------
    features : DataFrame
        Finite features indexed by user (standardised here on the training rows).
    target : Series
        Non-negative target by user (``log1p`` of it is modelled).
    train_index : Index
        Training users: the only rows used.
    seed : int
        Seed of the shuffled K-fold split.

    Returns
    -------
    DataFrame
        Index ``feature``; ``coef`` (standardised scale, at the chosen alpha),
        ``abs_coef``, ``entry_alpha`` (largest alpha with a non-zero coefficient; 0 if
        never), ``entry_order`` (1 = first to enter), ``selected`` (coef != 0). ``attrs``:
        ``alpha`` (chosen), ``alpha_min``.
    """
    fit = fit or fit_lasso(features, target, train_index, seed, cv, n_alphas)
    alphas, coefs = fit["alphas"], fit["coefs"]
    nonzero = coefs != 0
    entered = nonzero.any(axis=1)
    entry_alpha = np.where(entered, alphas[np.argmax(nonzero, axis=1)], 0.0)
    coef = coefs[:, fit["one_se"]] + 0.0  # no negative zeros
    out = pd.DataFrame(
        {"coef": coef, "abs_coef": np.abs(coef), "entry_alpha": entry_alpha},
        index=pd.Index(fit["columns"], name="feature"),
    )
    out["entry_order"] = out["entry_alpha"].rank(ascending=False, method="min").astype(int)
    out["selected"] = out["coef"] != 0
    out.attrs = {"alpha": float(alphas[fit["one_se"]]), "alpha_min": float(alphas[fit["best"]])}
    return out.sort_values(["entry_order", "abs_coef"], ascending=[True, False], kind="stable")


def lgbm_importance(
    features: pd.DataFrame,
    target: pd.Series,
    train_index: pd.Index,
    seed: int,
    num_boost_round: int = 200,
    params: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """LightGBM gain importance of a seeded, deterministic model of ``log1p(target)``.

    Gain importance (Ke et al. 2017) is the total training-loss reduction of the splits
    on each feature. Parameters default to :data:`LGBM_PARAMS` (single-threaded,
    ``deterministic``) with ``seed``; ``params`` overrides them.

    Returns
    -------
    DataFrame
        Index ``feature``; ``gain``, ``gain_share`` (of the total), ``splits``,
        ``gain_rank`` (1 = most gain), sorted by rank.
    """
    x, y = _training_data(features, target, train_index)
    full = {**LGBM_PARAMS, "seed": int(seed), **(params or {})}
    data = lgb.Dataset(x.to_numpy(dtype=float), label=y, feature_name=list(x.columns))
    booster = lgb.train(full, data, num_boost_round=num_boost_round)
    gain = booster.feature_importance(importance_type="gain")
    splits = booster.feature_importance(importance_type="split")
    out = pd.DataFrame(
        {"gain": gain.astype(float), "splits": splits.astype(int)},
        index=pd.Index(list(x.columns), name="feature"),
    )
    total = out["gain"].sum()
    out.insert(1, "gain_share", out["gain"] / total if total > 0 else 0.0)
    out["gain_rank"] = out["gain"].rank(ascending=False, method="first").astype(int)
    return out.sort_values("gain_rank")


def select_features(
    features: pd.DataFrame,
    target: pd.Series,
    train_index: pd.Index,
    seed: int,
    top_k: int = 10,
    min_gain_share: float = 0.01,
    cv: int = 5,
    num_boost_round: int = 200,
    lasso_fit: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Combine LASSO and LightGBM importance into a selected feature list.

    Rule: keep a feature when its LASSO coefficient at the one-standard-error penalty
    is non-zero, **or** its gain rank is at most ``top_k`` and its gain share at least
    ``min_gain_share``. Both methods use ``train_index`` rows only. When the rule keeps
    nothing (a label without signal, e.g. a shop where nobody repeats), every feature is
    kept and the reason says so, so the models downstream still have inputs. Pass ``lasso_fit``
    (from :func:`fit_lasso` on the same data) to reuse a LASSO path already computed.

    Returns
    -------
    DataFrame
        Index ``feature``; ``lasso_coef``, ``lasso_entry_order``, ``lasso_selected``,
        ``gain_share``, ``gain_rank``, ``gbdt_selected``, ``selected`` and ``reason``
        (why it was kept or dropped); selected features first, then by gain rank.
        ``attrs``: the LASSO alphas and the rule's parameters.
    """
    lasso = lasso_importance(features, target, train_index, seed, cv=cv, fit=lasso_fit)
    gbdt = lgbm_importance(features, target, train_index, seed, num_boost_round)
    out = pd.DataFrame(
        {
            "lasso_coef": lasso["coef"],
            "lasso_entry_order": lasso["entry_order"],
            "lasso_selected": lasso["selected"],
        }
    ).reindex(gbdt.index)
    out["gain_share"] = gbdt["gain_share"]
    out["gain_rank"] = gbdt["gain_rank"]
    out["gbdt_selected"] = (out["gain_rank"] <= top_k) & (out["gain_share"] >= min_gain_share)
    out["selected"] = out["lasso_selected"] | out["gbdt_selected"]

    def reason(row: Any) -> str:
        lasso_txt = f"LASSO coef {row.lasso_coef:+.3f} (entered {row.lasso_entry_order})"
        gain_txt = f"gain rank {row.gain_rank} ({row.gain_share:.1%})"
        if row.lasso_selected and row.gbdt_selected:
            return f"both: {lasso_txt}; {gain_txt}"
        if row.lasso_selected:
            return f"LASSO: {lasso_txt}; {gain_txt} outside the top {top_k}"
        if row.gbdt_selected:
            return f"GBDT: {gain_txt}; zero LASSO coefficient"
        return f"dropped: zero LASSO coefficient; {gain_txt}"

    out["reason"] = [reason(row) for row in out.itertuples()]
    if not out["selected"].any():  # no signal on the replayed label (e.g. nobody repeats)
        out["selected"] = True
        out["reason"] = "kept: no feature carried signal on the selection label, so all are kept"
    out = out.sort_values(["selected", "gain_rank"], ascending=[False, True], kind="stable")
    out.attrs = {
        "lasso_alpha": lasso.attrs["alpha"],
        "lasso_alpha_min": lasso.attrs["alpha_min"],
        "top_k": int(top_k),
        "min_gain_share": float(min_gain_share),
        "seed": int(seed),
    }
    return out


def plot_lasso_path(path: pd.DataFrame, highlight: list[str] | None = None) -> plt.Figure:
    """Coefficient paths against log10(alpha), with the CV-chosen penalties marked."""
    fig, ax = plt.subplots(figsize=(9, 5))
    for feature, rows in path.groupby("feature"):
        emphasised = highlight is None or feature in highlight
        ax.plot(
            np.log10(rows["alpha"]),
            rows["coef"],
            lw=1.6 if emphasised else 0.6,
            alpha=1.0 if emphasised else 0.35,
            label=feature if emphasised else None,
        )
    for flag, style in (("alpha_min", ":"), ("alpha_1se", "--")):
        chosen = path.loc[path[flag], "alpha"]
        if len(chosen):
            ax.axvline(np.log10(chosen.iloc[0]), color="black", ls=style, label=flag)
    ax.invert_xaxis()
    ax.set(
        title="LASSO path (standardised features, target log1p(spend))",
        xlabel="log10(alpha)  — weaker penalty to the right",
        ylabel="coefficient",
    )
    ax.legend(fontsize=7, ncol=2, loc="upper left")
    return fig


def plot_selection(table: pd.DataFrame) -> plt.Figure:
    """LightGBM gain share per feature, coloured by whether the rule kept it."""
    rows = table.sort_values("gain_share", ascending=False).reset_index()
    fig, ax = plt.subplots(figsize=(7, 0.25 * len(rows) + 1.5))
    sns.barplot(rows, x="gain_share", y="feature", hue="selected", dodge=False, ax=ax)
    ax.set(title="Feature selection: LightGBM gain share (kept = selected)", ylabel="")
    return fig
