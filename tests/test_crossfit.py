"""Cross-fitting protocol: one split function, used alike by the GBDT and the deep model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.features.sequences import SequenceBatch
from helpers.models import gbdt
from helpers.models.crossfit import (
    crossfit_splits,
    customer_folds,
    fold_array,
    tuning_split,
)
from helpers.models.deep import DeepConfig, torch_threads
from helpers.models.deep import crossfit as deep_crossfit


def _tiny_batch(n: int, seed: int = 0) -> SequenceBatch:
    """Random right-aligned sequences of 1..6 events (enough to train a tiny model)."""
    rng = np.random.default_rng(seed)
    length = 6
    lengths = rng.integers(1, length + 1, n)
    mask = np.arange(length)[None, :] >= (length - lengths)[:, None]

    def grid(values: np.ndarray, dtype: type) -> np.ndarray:
        return np.where(mask, values, 0).astype(dtype)

    return SequenceBatch(
        user_ids=np.array([f"u{i:03d}" for i in range(n)]),
        event_type=grid(rng.integers(1, 4, (n, length)), np.int8),
        category=grid(rng.integers(1, 4, (n, length)), np.int32),
        amount_bucket=grid(rng.integers(1, 4, (n, length)), np.int8),
        log_amount=grid(rng.normal(3, 1, (n, length)), np.float32),
        log_gap_hours=grid(rng.normal(3, 1, (n, length)), np.float32),
        log_days_before=grid(rng.uniform(0, 5, (n, length)), np.float32),
        rating=grid(np.zeros((n, length)), np.int8),
        review_index=np.full((n, length), -1, dtype=np.int64),
        mask=mask,
        lengths=lengths.astype(np.int32),
        category_vocab=["a", "b"],
        amount_bins=(10.0,),
    )


def test_splits_are_disjoint_cover_everyone_and_follow_the_folds():
    folds = customer_folds(pd.RangeIndex(500), 5, seed=3)
    splits = crossfit_splits(folds, seed=3, valid_share=0.25)
    assert [s.fold for s in splits] == [0, 1, 2, 3, 4]
    for split in splits:
        np.testing.assert_array_equal(split.test, np.flatnonzero(folds == split.fold))
        everyone = np.concatenate([split.fit, split.valid, split.test])
        assert np.array_equal(np.sort(everyone), np.arange(500))
        np.testing.assert_array_equal(split.train, np.flatnonzero(folds != split.fold))
        assert 0.15 < len(split.valid) / len(split.train) < 0.35
    again = crossfit_splits(folds, seed=3, valid_share=0.25)
    assert all(np.array_equal(a.valid, b.valid) for a, b in zip(splits, again, strict=True))
    other = crossfit_splits(folds, seed=4, valid_share=0.25)
    assert not np.array_equal(splits[0].valid, other[0].valid)


def test_splits_reproduce_the_earlier_inline_draws():
    """Pinned protocol: one default_rng(seed + 1), drawn fold after fold (results stay equal)."""
    folds = customer_folds(pd.RangeIndex(101), 4, seed=9)
    rng = np.random.default_rng(9 + 1)
    for split in crossfit_splits(folds, seed=9, valid_share=0.2):
        train_idx = np.flatnonzero(folds != split.fold)
        held = rng.random(train_idx.size) < 0.2
        np.testing.assert_array_equal(split.fit, train_idx[~held])
        np.testing.assert_array_equal(split.valid, train_idx[held])
    train_idx = np.arange(10, 90)
    held = np.random.default_rng(9 + 2).random(train_idx.size) < 0.3
    fit, valid = tuning_split(train_idx, 0.3, seed=9)
    np.testing.assert_array_equal(fit, train_idx[~held])
    np.testing.assert_array_equal(valid, train_idx[held])


def test_fold_array_aligns_a_series_and_rejects_gaps():
    users = pd.Index(["a", "b", "c"], name="user_id")
    series = pd.Series([2, 0, 1], index=["c", "a", "b"])
    np.testing.assert_array_equal(fold_array(series, users), [0, 1, 2])
    np.testing.assert_array_equal(fold_array(np.array([1.0, 0.0, 1.0]), users), [1, 0, 1])
    with pytest.raises(ValueError, match="one fold id per customer"):
        fold_array(series.drop("b"), users)
    with pytest.raises(ValueError, match="one fold id per customer"):
        fold_array(np.array([0, 1]), users)


def test_gbdt_and_deep_model_train_and_stop_on_the_same_customers(monkeypatch):
    """Record the rows each model actually trains, stops early and predicts on, per fold."""
    n, seed, share = 90, 5, 0.25
    batch = _tiny_batch(n)
    users = pd.Index(batch.user_ids, name="user_id")
    rng = np.random.default_rng(1)
    spend = pd.Series(np.where(rng.random(n) < 0.5, 0.0, rng.gamma(2, 20, n)), index=users)
    folds = pd.Series(customer_folds(users, 3, seed), index=users)

    seen_gbdt: list[tuple[str, set[str]]] = []

    class RecordingDataset(gbdt.lgb.Dataset):
        def __init__(self, data, label=None, reference=None, **kwargs):
            role = "fit" if reference is None else "valid"
            seen_gbdt.append((role, set(users[data[:, 0].astype(int)])))
            super().__init__(data, label, reference=reference, **kwargs)

    monkeypatch.setattr(gbdt.lgb, "Dataset", RecordingDataset)
    features = pd.DataFrame({"row": np.arange(n, dtype=float), "x": rng.normal(size=n)}, users)
    gbdt.crossfit_gbdt(
        features,
        spend,
        seed=seed,
        folds=folds,
        valid_share=share,
        max_rounds=5,
        params={"num_threads": 1},
    )
    # two models (spend, zero) per fold, each with a fit and a valid dataset
    assert [role for role, _ in seen_gbdt] == ["fit", "valid"] * 6
    per_fold_gbdt = [(seen_gbdt[i][1], seen_gbdt[i + 1][1]) for i in range(0, len(seen_gbdt), 4)]
    assert seen_gbdt[2][1] == seen_gbdt[0][1] and seen_gbdt[3][1] == seen_gbdt[1][1]

    seen_deep: list[tuple[set[str], set[str]]] = []
    predicted: list[set[str]] = []
    real_train, real_predict = deep_crossfit.train_deep, deep_crossfit.predict_deep

    def recording_train(inputs, spend_, zero, fit_idx, valid_idx, *args, **kwargs):
        seen_deep.append((set(inputs.user_ids[fit_idx]), set(inputs.user_ids[valid_idx])))
        return real_train(inputs, spend_, zero, fit_idx, valid_idx, *args, **kwargs)

    def recording_predict(trained, inputs, idx=None, **kwargs):
        predicted.append(set(inputs.user_ids[idx]))
        return real_predict(trained, inputs, idx, **kwargs)

    monkeypatch.setattr(deep_crossfit, "train_deep", recording_train)
    monkeypatch.setattr(deep_crossfit, "predict_deep", recording_predict)
    config = DeepConfig(
        embed_dim=2, hidden_size=4, mlp_hidden=4, max_epochs=1, max_len=None, valid_share=share
    )
    with torch_threads(1):
        deep_crossfit.crossfit_deep(
            batch,
            None,
            None,
            spend.to_frame("holdout_spend"),
            folds,
            config,
            seed,
            progress=False,
        )

    assert len(per_fold_gbdt) == len(seen_deep) == 3
    for fold, ((fit_g, valid_g), (fit_d, valid_d)) in enumerate(
        zip(per_fold_gbdt, seen_deep, strict=True)
    ):
        assert fit_g == fit_d and valid_g == valid_d, f"fold {fold}"
        assert fit_d.isdisjoint(valid_d) and len(valid_d) > 0
        assert predicted[fold] == set(users[folds == fold])
        assert predicted[fold].isdisjoint(fit_d | valid_d)


def test_too_few_customers_for_the_folds_is_a_known_failure():
    from helpers.models.crossfit import crossfit_splits
    from helpers.models.errors import InsufficientDataError

    with pytest.raises(InsufficientDataError, match=r"too few customers \(12\) for 5"):
        crossfit_splits(np.arange(12) % 5, seed=0, valid_share=0.2)
