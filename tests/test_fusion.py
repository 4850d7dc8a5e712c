"""Fusion: meta-models are fit on other folds' out-of-fold predictions only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.models.fusion import fuse_predictions


def _setup(n: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    users = pd.Index([f"u{i:04d}" for i in range(n)], name="user_id")
    truth = rng.gamma(1.0, 50.0, n) * (rng.random(n) < 0.6)
    base = {
        "good": truth * rng.uniform(0.8, 1.2, n) + rng.uniform(0, 5, n),
        "noisy": np.abs(truth + rng.normal(0, 60, n)),
        "flat": np.full(n, truth.mean()),
    }
    p_zero = {
        "good": np.clip(np.where(truth > 0, 0.2, 0.8) + rng.normal(0, 0.1, n), 0.01, 0.99),
        "noisy": rng.uniform(0.05, 0.95, n),
        "flat": None,
    }
    frames = [
        pd.DataFrame(
            {
                "user_id": users,
                "model": m,
                "predicted_spend": v,
                "p_zero": np.nan if p_zero[m] is None else p_zero[m],
            }
        )
        for m, v in base.items()
    ]
    targets = pd.Series(truth, index=users, name="holdout_spend")
    folds = pd.Series(rng.permutation(n) % 5, index=users)
    return pd.concat(frames, ignore_index=True), targets, folds


def test_fused_fold_ignores_its_own_targets():
    predictions, targets, folds = _setup()
    models = ["good", "noisy", "flat"]
    before = fuse_predictions(predictions, targets, folds, models).predictions
    tampered = targets.copy()
    fold2 = folds == 2
    tampered[fold2] = tampered[fold2] * 10 + 1000.0
    after = fuse_predictions(predictions, tampered, folds, models).predictions
    key = ["model", "user_id"]
    before, after = before.set_index(key).sort_index(), after.set_index(key).sort_index()
    in_fold2 = before.index.get_level_values("user_id").isin(targets.index[fold2])
    pd.testing.assert_frame_equal(before[in_fold2], after[in_fold2])
    assert not np.allclose(
        before.loc[~in_fold2, "predicted_spend"], after.loc[~in_fold2, "predicted_spend"]
    )


def test_weights_prefer_the_good_model_and_output_is_tidy():
    predictions, targets, folds = _setup()
    models = ["good", "noisy", "flat"]
    result = fuse_predictions(predictions, targets, folds, models)
    out = result.predictions
    assert set(out["model"]) == {"stack", "average"}
    assert out.groupby("model").size().eq(len(targets)).all()
    assert out["predicted_spend"].ge(0).all() and out["p_zero"].between(0, 1).all()
    avg = result.weights[result.weights["method"] == "average"]
    np.testing.assert_allclose(avg[models].sum(axis=1), 1.0, atol=1e-6)
    assert (avg[models].to_numpy() >= -1e-9).all()
    assert (avg["good"] > avg["noisy"]).all()
    stack = result.weights[result.weights["method"] == "stack"]
    assert (stack[models].to_numpy() >= 0).all() and len(stack) == 5
    fused = out[out["model"] == "stack"].set_index("user_id")["predicted_spend"]
    good = predictions[predictions["model"] == "good"].set_index("user_id")["predicted_spend"]
    err = lambda p: float(np.mean((p.reindex(targets.index) - targets) ** 2))  # noqa: E731
    noisy = predictions[predictions["model"] == "noisy"].set_index("user_id")["predicted_spend"]
    assert err(fused) <= err(good) * 1.2 < err(noisy)


def test_missing_base_prediction_raises():
    predictions, targets, folds = _setup()
    with pytest.raises(ValueError, match=r"^every base model must predict every customer$"):
        fuse_predictions(predictions.iloc[5:], targets, folds, ["good", "noisy", "flat"])
