"""Known answers of the cross-fitted fusion (:func:`helpers.models.fusion.fuse_predictions`).

When the holdout spend is exactly a convex combination of two base predictions, both
meta-models recover it on every fold: the simplex weights and the non-negative least
squares coefficients are the mix itself (to 1e-9), and the fused predictions are the
hand-computed mix. P(zero) is averaged with the same weights, and stacked by a logistic
regression on the other folds' logit P(zero), rebuilt here fold by fold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from helpers.models.fusion import fuse_predictions

N = 60


def _users(n: int = N) -> pd.Index:
    return pd.Index([f"c{i:02d}" for i in range(n)], name="user_id")


def _tidy(base: dict[str, np.ndarray], p_zero: dict[str, np.ndarray | None]) -> pd.DataFrame:
    users = _users(len(next(iter(base.values()))))
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "user_id": users,
                    "model": name,
                    "predicted_spend": values,
                    "p_zero": np.nan if p_zero.get(name) is None else p_zero[name],
                }
            )
            for name, values in base.items()
        ],
        ignore_index=True,
    )


@pytest.fixture(scope="module")
def mix():
    """Two base models ``a``, ``b`` and ``y = 0.3 a + 0.7 b``; 6 customers at 0 in both
    (``y = 0``: "no purchase") and 3 at 0.5 (``y = 0.5``: small, but a purchase)."""
    rng = np.random.default_rng(0)
    a, b = rng.gamma(2.0, 10.0, N), rng.gamma(2.0, 10.0, N)
    a[:6] = b[:6] = 0.0
    a[6:9] = b[6:9] = 0.5
    p = {"a": rng.uniform(0.05, 0.95, N), "b": rng.uniform(0.05, 0.95, N)}
    folds = pd.Series(np.array([3, 7, 9])[np.arange(N) % 3], index=_users())  # any fold ids
    return {"a": a, "b": b, "p": p, "folds": folds, "y": 0.3 * a + 0.7 * b}


def _fused(result, model: str, column: str = "predicted_spend") -> np.ndarray:
    out = result.predictions[result.predictions["model"] == model].set_index("user_id")
    return out[column].reindex(_users(len(out))).to_numpy()


def _stacked_p_by_hand(p: dict[str, np.ndarray], y: np.ndarray, folds: np.ndarray):
    logits = np.column_stack(
        [np.log(np.clip(v, 1e-6, 1 - 1e-6) / (1 - np.clip(v, 1e-6, 1 - 1e-6))) for v in p.values()]
    )
    zero = (y <= 0).astype(int)
    out = np.full(len(y), np.nan)
    for k in np.unique(folds):
        test = folds == k
        clf = LogisticRegression(C=1.0, max_iter=1000).fit(logits[~test], zero[~test])
        out[test] = clf.predict_proba(logits[test])[:, 1]
    return out


def test_both_meta_models_recover_an_exact_convex_mix(mix):
    predictions = _tidy({"a": mix["a"], "b": mix["b"]}, mix["p"])
    targets = pd.Series(mix["y"], index=_users())
    result = fuse_predictions(predictions, targets, mix["folds"], ["a", "b"])
    weights = result.weights
    assert list(weights.columns) == ["method", "fold", "a", "b", "intercept"]
    assert weights["method"].tolist() == ["stack", "average"] * 3
    assert weights["fold"].tolist() == [3, 3, 7, 7, 9, 9]
    np.testing.assert_allclose(weights[["a", "b"]].to_numpy(), [[0.3, 0.7]] * 6, atol=1e-9)
    stack = weights[weights["method"] == "stack"]
    np.testing.assert_allclose(stack["intercept"], 0.0, atol=1e-9)
    assert weights.loc[weights["method"] == "average", "intercept"].isna().all()
    np.testing.assert_allclose(_fused(result, "stack"), mix["y"], atol=1e-9)
    np.testing.assert_allclose(_fused(result, "average"), mix["y"], atol=1e-9)
    # P(zero): the average uses the spend weights; the stack is a per-fold logistic fit
    hand_average_p = 0.3 * mix["p"]["a"] + 0.7 * mix["p"]["b"]
    np.testing.assert_allclose(_fused(result, "average", "p_zero"), hand_average_p, atol=1e-9)
    hand_stack_p = _stacked_p_by_hand(mix["p"], mix["y"], mix["folds"].to_numpy())
    np.testing.assert_allclose(_fused(result, "stack", "p_zero"), hand_stack_p, rtol=1e-6)
    out = result.predictions
    assert list(out.columns) == ["user_id", "model", "predicted_spend", "p_zero"]
    assert out.index.equals(pd.RangeIndex(2 * N))
    assert out["model"].tolist() == ["stack"] * N + ["average"] * N
    assert out["user_id"].tolist() == list(_users()) * 2


def test_stacking_fits_an_intercept_the_average_cannot(mix):
    predictions = _tidy({"a": mix["a"], "b": mix["b"]}, mix["p"])
    targets = pd.Series(mix["y"] + 5.0, index=_users())
    result = fuse_predictions(predictions, targets, mix["folds"], ["a", "b"], names=("s", "m"))
    stack = result.weights[result.weights["method"] == "s"]
    np.testing.assert_allclose(stack[["a", "b", "intercept"]].to_numpy(), [[0.3, 0.7, 5.0]] * 3)
    np.testing.assert_allclose(_fused(result, "s"), mix["y"] + 5.0, atol=1e-9)
    assert set(result.predictions["model"]) == {"s", "m"}
    average = result.weights[result.weights["method"] == "m"]
    np.testing.assert_allclose(average[["a", "b"]].sum(axis=1), 1.0, atol=1e-9)
    # without an intercept the simplex leans to the larger model, but not all the way
    assert ((average["b"] > 0.65) & (average["b"] < 0.8)).all()


def test_simplex_weights_stay_on_the_simplex_when_the_best_mix_needs_a_negative_weight(mix):
    """``y = 0.6 a + 0.6 b - 0.2 c``: the best simplex mix lies on the face ``w_c = 0``, where
    ``w_a`` is the 1-d least squares ``<a - b, y - b> / |a - b|^2`` of the fold's training
    customers (0.4606, 0.4411, 0.4676). Clipping the unconstrained mix would give 0.5."""
    c = np.random.default_rng(1).gamma(2.0, 10.0, N)
    y = 0.6 * mix["a"] + 0.6 * mix["b"] - 0.2 * c
    predictions = _tidy({"a": mix["a"], "b": mix["b"], "c": c}, mix["p"])
    result = fuse_predictions(predictions, pd.Series(y, index=_users()), mix["folds"],
                              ["a", "b", "c"])  # fmt: skip
    average = result.weights[result.weights["method"] == "average"].set_index("fold")
    for k in (3, 7, 9):
        train = (mix["folds"] != k).to_numpy()
        d = mix["a"][train] - mix["b"][train]
        w_a = d @ (y[train] - mix["b"][train]) / (d @ d)
        np.testing.assert_allclose(average.loc[k, ["a", "b", "c"]], [w_a, 1 - w_a, 0], atol=1e-3)
    assert (average["a"] < 0.48).all()


def test_the_average_of_two_models_mixed_half_and_half_is_the_hand_mean(mix):
    predictions = _tidy({"a": mix["a"], "b": mix["b"]}, mix["p"])
    targets = pd.Series((mix["a"] + mix["b"]) / 2, index=_users())
    result = fuse_predictions(predictions, targets, mix["folds"], ["a", "b"])
    np.testing.assert_allclose(_fused(result, "average"), (mix["a"] + mix["b"]) / 2, atol=1e-9)
    np.testing.assert_allclose(
        _fused(result, "average", "p_zero"), (mix["p"]["a"] + mix["p"]["b"]) / 2, atol=1e-9
    )


def test_a_single_model_gets_all_the_weight(mix):
    predictions = _tidy({"a": mix["a"], "b": mix["b"]}, mix["p"])
    targets = pd.Series(2.0 * mix["a"], index=_users())
    result = fuse_predictions(predictions, targets, mix["folds"], ["a"])  # b is ignored
    average = result.weights[result.weights["method"] == "average"]
    assert list(result.weights.columns) == ["method", "fold", "a", "intercept"]
    np.testing.assert_allclose(average["a"], 1.0)
    np.testing.assert_allclose(_fused(result, "average"), mix["a"], atol=1e-12)
    np.testing.assert_allclose(_fused(result, "average", "p_zero"), mix["p"]["a"], atol=1e-12)
    np.testing.assert_allclose(_fused(result, "stack"), 2.0 * mix["a"], atol=1e-9)


def test_p_zero_is_averaged_over_the_models_that_have_one_with_renormalised_weights(mix):
    rng = np.random.default_rng(1)
    c = rng.gamma(2.0, 10.0, N)
    c[:6] = 0.0  # the same 6 customers spend 0
    base = {"a": mix["a"], "b": mix["b"], "c": c}
    predictions = _tidy(base, {"a": mix["p"]["a"], "b": mix["p"]["b"], "c": None})
    y = 0.2 * mix["a"] + 0.5 * mix["b"] + 0.3 * c
    result = fuse_predictions(predictions, pd.Series(y, index=_users()), mix["folds"], list(base))
    weights = result.weights.set_index(["method", "fold"])
    # SLSQP stops within ~5e-4 of the mix with three models (measured), NNLS is exact
    np.testing.assert_allclose(weights[["a", "b", "c"]].to_numpy(), [[0.2, 0.5, 0.3]] * 6,
                               atol=2e-3)  # fmt: skip
    np.testing.assert_allclose(weights.loc["stack", ["a", "b", "c"]], [[0.2, 0.5, 0.3]] * 3)
    w = weights.loc["average"].loc[mix["folds"].to_numpy()]  # each customer's fold weights
    hand = (w["a"].to_numpy() * mix["p"]["a"] + w["b"].to_numpy() * mix["p"]["b"]) / (
        w["a"].to_numpy() + w["b"].to_numpy()
    )
    np.testing.assert_allclose(_fused(result, "average", "p_zero"), hand, atol=1e-12)
    assert not np.allclose(hand, 0.2 * mix["p"]["a"] + 0.5 * mix["p"]["b"], atol=0.05)
    hand_stack = _stacked_p_by_hand(mix["p"], y, mix["folds"].to_numpy())  # a and b only
    np.testing.assert_allclose(_fused(result, "stack", "p_zero"), hand_stack, rtol=1e-6)


def test_certain_base_probabilities_are_clipped_before_the_logit(mix):
    p = {"a": mix["p"]["a"].copy(), "b": mix["p"]["b"].copy()}
    p["a"][:6], p["b"][6:12] = 1.0, 0.0  # logit +-inf without the clip
    predictions = _tidy({"a": mix["a"], "b": mix["b"]}, p)
    result = fuse_predictions(predictions, pd.Series(mix["y"], index=_users()), mix["folds"],
                              ["a", "b"])  # fmt: skip
    hand = _stacked_p_by_hand(p, mix["y"], mix["folds"].to_numpy())
    np.testing.assert_allclose(_fused(result, "stack", "p_zero"), hand, rtol=1e-6)


def test_no_p_zero_when_no_model_has_one_or_a_fold_sees_one_outcome_only(mix):
    base = {"a": mix["a"], "b": mix["b"]}
    targets = pd.Series(mix["y"], index=_users())
    without = fuse_predictions(_tidy(base, {}), targets, mix["folds"], ["a", "b"])
    assert without.predictions["p_zero"].isna().all()
    np.testing.assert_allclose(_fused(without, "average"), mix["y"], atol=1e-9)
    # every zero customer in fold 3: fold 3's meta-model sees buyers only -> no P(zero) at all
    folds = pd.Series(np.repeat([3, 7, 9], 20), index=_users())
    one_sided = fuse_predictions(_tidy(base, mix["p"]), targets, folds, ["a", "b"])
    assert one_sided.predictions["p_zero"].isna().all()
    np.testing.assert_allclose(_fused(one_sided, "stack"), mix["y"], atol=1e-9)


def test_every_base_model_must_predict_every_customer(mix):
    predictions = _tidy({"a": mix["a"], "b": mix["b"]}, mix["p"])
    targets = pd.Series(mix["y"], index=_users())
    missing = predictions.drop(index=N + 5)  # b has no prediction for c05
    with pytest.raises(ValueError, match=r"^every base model must predict every customer$"):
        fuse_predictions(missing, targets, mix["folds"], ["a", "b"])
    nan = predictions.copy()
    nan.loc[3, "predicted_spend"] = np.nan  # a predicts NaN for c03
    with pytest.raises(ValueError, match=r"^every base model must predict every customer$"):
        fuse_predictions(nan, targets, mix["folds"], ["a", "b"])


def test_targets_and_folds_must_cover_every_predicted_customer(mix):
    predictions = _tidy({"a": mix["a"], "b": mix["b"]}, mix["p"])
    targets = pd.Series(mix["y"], index=_users())
    message = r"^'targets and folds must cover every predicted customer'$"  # KeyError repr
    with pytest.raises(KeyError, match=message):
        fuse_predictions(predictions, targets.drop("c10"), mix["folds"], ["a", "b"])
    with pytest.raises(KeyError, match=message):
        fuse_predictions(predictions, targets, mix["folds"].drop("c10"), ["a", "b"])
    # extra targets / folds of customers nobody predicts are ignored
    more = pd.Series(1.0, index=pd.Index(["zz"], name="user_id"))
    extra_folds = pd.concat([mix["folds"], more.astype(int) + 2])
    result = fuse_predictions(predictions, pd.concat([targets, more]), extra_folds, ["a", "b"])
    assert set(result.predictions["user_id"]) == set(_users())
    np.testing.assert_allclose(_fused(result, "average"), mix["y"], atol=1e-9)


def test_p_zero_falls_back_to_equal_weights_when_the_models_with_one_get_no_weight(mix):
    # y is model c alone, and c has no P(zero): a and b (which have one) get weight 0,
    # so their P(zero) is averaged half and half
    rng = np.random.default_rng(2)
    c = rng.gamma(2.0, 10.0, N)
    c[:6] = 0.0
    base = {"a": mix["a"], "b": mix["b"], "c": c}
    predictions = _tidy(base, {"a": mix["p"]["a"], "b": mix["p"]["b"], "c": None})
    result = fuse_predictions(predictions, pd.Series(c, index=_users()), mix["folds"], list(base))
    weights = result.weights.set_index(["method", "fold"]).loc["average"]
    np.testing.assert_allclose(weights[["a", "b"]].to_numpy(), 0.0, atol=1e-9)
    np.testing.assert_allclose(
        _fused(result, "average", "p_zero"), (mix["p"]["a"] + mix["p"]["b"]) / 2, atol=1e-12
    )


def test_fused_predictions_are_float_columns(mix):
    predictions = _tidy({"a": mix["a"], "b": mix["b"]}, mix["p"])
    result = fuse_predictions(predictions, pd.Series(mix["y"], index=_users()), mix["folds"],
                              ["a", "b"])  # fmt: skip
    assert result.predictions["predicted_spend"].dtype == np.float64
    assert result.predictions["p_zero"].dtype == np.float64
