"""Deep CLV model: masks, overfitting, determinism, parallel runs, checkpoints, SHAP, tuning."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from helpers.features.sequences import SequenceBatch
from helpers.models import tuning
from helpers.models.deep import (
    DeepConfig,
    build_model,
    crossfit_deep,
    crossfit_deep_many,
    explain_deep,
    load_checkpoint,
    predict_deep,
    prepare_inputs,
    save_checkpoint,
    train_deep,
)
from helpers.models.tuning import plot_optimization_history, plot_param_importance, tune_deep

SMALL = DeepConfig(
    embed_dim=4, hidden_size=8, mlp_hidden=16, batch_size=32, max_epochs=3, patience=2, max_len=None
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models run fastest (and unaffected by a busy machine) on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_batch(n: int = 60, length: int = 10, seed: int = 0, pad: int = 0) -> SequenceBatch:
    """Random left-padded sequences; ``pad`` extra all-padding columns on the left."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, length + 1, n)
    mask = np.arange(length)[None, :] >= (length - lengths)[:, None]

    def grid(values: np.ndarray, fill: float) -> np.ndarray:
        out = np.where(mask, values, fill)
        return np.concatenate([np.full((n, pad), fill, dtype=out.dtype), out], axis=1)

    etype = rng.integers(1, 5, (n, length))
    review = np.where(etype == 4, rng.integers(0, 20, (n, length)), -1)
    return SequenceBatch(
        user_ids=np.array([f"u{i:03d}" for i in range(n)]),
        event_type=grid(etype, 0).astype(np.int8),
        category=grid(rng.integers(1, 6, (n, length)), 0).astype(np.int32),
        amount_bucket=grid(rng.integers(1, 5, (n, length)), 0).astype(np.int8),
        log_amount=grid(rng.normal(3, 1, (n, length)), 0).astype(np.float32),
        log_gap_hours=grid(rng.normal(3, 1, (n, length)), 0).astype(np.float32),
        log_days_before=grid(np.sort(rng.uniform(0, 5, (n, length)))[:, ::-1], 0).astype(
            np.float32
        ),
        rating=grid(np.where(etype == 4, rng.integers(1, 6, (n, length)), 0), 0).astype(np.int8),
        review_index=grid(review, -1).astype(np.int64),
        mask=grid(mask, False).astype(bool),
        lengths=lengths.astype(np.int32),
        category_vocab=["a", "b", "c", "d"],
        amount_bins=(10.0, 20.0),
    )


def make_frames(batch: SequenceBatch, seed: int = 0):
    rng = np.random.default_rng(seed)
    users = pd.Index(batch.user_ids, name="user_id")
    n = len(users)
    tabular = pd.DataFrame(
        {
            "frequency": rng.poisson(3, n),
            "spend_90d": rng.gamma(2, 20, n),
            "views_30d": rng.poisson(5, n),
            "browse_to_buy": rng.random(n),
        },
        index=users,
    )
    text = pd.DataFrame(
        {"has_review": rng.integers(0, 2, n), "sentiment_mean": rng.normal(size=n)}, index=users
    )
    signal = tabular["frequency"].to_numpy() + batch.lengths
    spend = np.where(rng.random(n) < 0.4, 0.0, np.exp(0.3 * signal + rng.normal(0, 0.3, n)))
    targets = pd.DataFrame({"holdout_spend": spend, "holdout_zero": spend <= 0}, index=users)
    sentiment = rng.uniform(-1, 1, 20)
    return tabular, text, targets, sentiment


@pytest.mark.parametrize("encoder", ["gru", "lstm", "transformer"])
def test_left_padding_never_changes_the_output(encoder):
    batch, padded = make_batch(pad=0), make_batch(pad=5)
    tabular, text, _, sentiment = make_frames(batch)
    short = prepare_inputs(batch, tabular, text, sentiment)
    long = prepare_inputs(padded, tabular, text, sentiment)
    assert long.tokens.shape == (60, 15, 3) and short.tokens.shape == (60, 10, 3)
    torch.manual_seed(0)
    model = build_model(long, SMALL.replace(encoder=encoder)).eval()

    def run(inputs):
        with torch.no_grad():
            return model(
                torch.from_numpy(inputs.tokens),
                torch.from_numpy(inputs.cont),
                torch.from_numpy(inputs.lengths),
                torch.zeros(60, 4),
                torch.zeros(60, 2),
            )

    (v1, c1), (v2, c2) = run(short), run(long)
    assert v1.shape == (60, 3) and c1.shape == (60,)
    torch.testing.assert_close(v1, v2, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(c1, c2, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("encoder", ["gru", "lstm"])
def test_recurrent_state_is_the_packed_final_state_of_each_customer(encoder):
    """The state read at step ``length - 1`` of the padded run is what packing gives."""
    from torch.nn.utils.rnn import pack_padded_sequence

    batch = make_batch(pad=3)
    inputs = prepare_inputs(batch, *make_frames(batch)[:2])
    lengths = torch.from_numpy(inputs.lengths).clone()
    lengths[[3, 7]] = 0  # customers without events
    assert lengths.max() > lengths.float().median() > 0  # mixed lengths
    torch.manual_seed(0)
    model = build_model(inputs, SMALL.replace(encoder=encoder, num_layers=2)).eval()
    tokens, cont = torch.from_numpy(inputs.tokens), torch.from_numpy(inputs.cont)
    with torch.no_grad():
        ours = model.encode(tokens, cont, lengths)
        x = model.event_vectors(tokens, cont, lengths)
        packed = pack_padded_sequence(
            x, lengths.clamp(min=1), batch_first=True, enforce_sorted=False
        )
        _, state = model.rnn(packed)
        final = (state[0] if encoder == "lstm" else state)[-1] * (lengths > 0)[:, None]
        alone = torch.cat(
            [model.encode(tokens[i : i + 1], cont[i : i + 1], lengths[i : i + 1]) for i in range(5)]
        )
    assert ours.shape == (len(inputs), SMALL.hidden_size)
    torch.testing.assert_close(ours, final, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(ours[:5], alone, atol=1e-6, rtol=1e-5)
    assert (ours[lengths == 0] == 0).all() and (ours[lengths > 0].abs().sum(dim=1) > 0).all()


def test_inputs_right_pad_gather_sentiment_and_drop_browsing():
    batch = make_batch()
    tabular, text, _, sentiment = make_frames(batch)
    inputs = prepare_inputs(batch, tabular, text, sentiment)
    assert (inputs.lengths == batch.lengths).all()
    real = np.arange(10)[None, :] < inputs.lengths[:, None]
    assert (inputs.tokens[..., 0][real] > 0).all() and (inputs.tokens[~real] == 0).all()
    # the latest event moves from the last column to position length - 1
    assert (inputs.tokens[np.arange(60), inputs.lengths - 1, 0] == batch.event_type[:, -1]).all()
    reviews = inputs.tokens[..., 0] == 4
    assert np.isin(inputs.cont[..., 4][reviews], sentiment.astype(np.float32)).all()
    assert (inputs.cont[..., 4][~reviews] == 0).all()

    no_browse = prepare_inputs(batch, tabular, text, sentiment, use_browsing=False)
    kept = np.isin(batch.event_type, [3, 4]) & batch.mask
    assert (no_browse.lengths == kept.sum(axis=1)).all()
    assert not np.isin(no_browse.tokens[..., 0], [1, 2]).any()
    assert list(no_browse.tabular.columns) == ["frequency", "spend_90d"]

    last3 = prepare_inputs(batch, tabular, None, max_len=3)
    assert last3.tokens.shape[1] == 3 and (last3.lengths == np.minimum(batch.lengths, 3)).all()
    assert last3.text.shape == (60, 0)


def _fit(inputs, targets, config, seed=0):
    n = len(inputs)
    idx = np.arange(n)
    return train_deep(
        inputs,
        targets["holdout_spend"].to_numpy(),
        targets["holdout_zero"].to_numpy(float),
        idx,
        idx,
        config,
        seed=seed,
        progress=False,
    )


def test_tiny_model_overfits_a_tiny_batch():
    batch = make_batch(n=32)
    tabular, text, targets, sentiment = make_frames(batch)
    inputs = prepare_inputs(batch, tabular, text, sentiment)
    config = SMALL.replace(
        loss="mse",
        dropout=0.0,
        lr=1e-2,
        weight_decay=0.0,
        max_epochs=150,
        patience=150,
        mlp_hidden=64,
    )
    trained = _fit(inputs, targets, config)
    curve = trained.curve
    assert curve["train_loss"].iloc[-1] < 0.1 * curve["train_loss"].iloc[0]
    ziln = _fit(inputs, targets, config.replace(loss="ziln"))
    pred = predict_deep(ziln, inputs)
    positive = targets["holdout_spend"] > 0
    assert ((pred["p_zero"] > 0.5) == ~positive).mean() == 1.0
    corr = np.corrcoef(
        np.log(pred.loc[positive, "predicted_spend"]),
        np.log(targets.loc[positive, "holdout_spend"]),
    )[0, 1]
    assert corr > 0.95


def test_crossfit_is_deterministic_on_cpu_and_complete():
    batch = make_batch(n=90)  # folds need >= 5 early-stopping customers
    tabular, text, targets, sentiment = make_frames(batch)
    folds = pd.Series(np.arange(90) % 3, index=targets.index)
    runs = [
        crossfit_deep(
            batch,
            tabular,
            text,
            targets,
            folds,
            SMALL,
            seed=3,
            review_sentiment=sentiment,
            progress=False,
        )
        for _ in range(2)
    ]
    a, b = runs[0].table, runs[1].table
    assert a.index.equals(targets.index)
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())
    assert a[["predicted_spend", "p_zero", "q10", "q90"]].notna().all().all()
    assert (a["q10"] <= a["q90"]).all() and a["p_zero"].between(0, 1).all()
    assert set(runs[0].curves["fold"]) == {0, 1, 2}
    tidy = runs[0].predictions("deep")
    assert list(tidy.columns) == ["user_id", "model", "predicted_spend", "p_zero"]
    other = crossfit_deep(batch, tabular, text, targets, folds, SMALL, seed=4, progress=False)
    assert not np.array_equal(other.table.to_numpy(), a.to_numpy())


def test_many_configs_in_parallel_equal_serial_runs(tmp_path):
    """Main model + ablations in 2 worker processes: bit-identical to one-by-one runs."""
    batch = make_batch(n=90)  # folds need >= 5 early-stopping customers
    tabular, text, targets, sentiment = make_frames(batch)
    folds = pd.Series(np.arange(90) % 3, index=targets.index)
    configs = {
        "deep": SMALL,
        "deep_transformer_mse": SMALL.replace(encoder="transformer", loss="mse"),
        "deep_no_browsing": SMALL.replace(use_browsing=False, use_text=False),
    }
    many = crossfit_deep_many(
        batch,
        tabular,
        text,
        targets,
        folds,
        configs,
        seed=3,
        review_sentiment=sentiment,
        checkpoint_dirs={"deep": tmp_path / "ckpt"},
        n_jobs=2,
        progress=False,
    )
    assert list(many) == list(configs)
    for name, config in configs.items():
        serial = crossfit_deep(
            batch,
            tabular,
            text,
            targets,
            folds,
            config,
            seed=3,
            review_sentiment=sentiment,
            progress=False,
        )
        parallel = many[name]
        np.testing.assert_array_equal(parallel.table.to_numpy(), serial.table.to_numpy())
        assert parallel.table.index.equals(serial.table.index)
        columns = ["fold", "epoch", "train_loss", "valid_loss"]
        pd.testing.assert_frame_equal(parallel.curves[columns], serial.curves[columns])
        assert parallel.best_epochs == serial.best_epochs and parallel.config == config
    assert sorted(p.name for p in (tmp_path / "ckpt").glob("*.pt")) == [
        "fold_0.pt",
        "fold_1.pt",
        "fold_2.pt",
    ]
    with pytest.raises(KeyError, match="unknown configurations"):
        crossfit_deep_many(
            batch, tabular, text, targets, folds, configs, seed=3, live_dirs={"typo": tmp_path}
        )


@pytest.mark.parametrize("text_kind", ["none", "empty"])
def test_no_text_path(text_kind):
    batch = make_batch(n=90)  # folds need >= 5 early-stopping customers
    tabular, _, targets, _ = make_frames(batch)
    text = None if text_kind == "none" else pd.DataFrame(index=targets.index)
    folds = np.arange(90) % 2
    config = SMALL.replace(loss="mse", encoder="transformer", max_epochs=2)
    result = crossfit_deep(batch, tabular, text, targets, folds, config, seed=0, progress=False)
    assert result.models[0].model.n_text == 0
    assert result.table["predicted_spend"].ge(0).all() and result.table["q10"].isna().all()


def test_checkpoint_round_trip(tmp_path):
    batch = make_batch()
    tabular, text, targets, sentiment = make_frames(batch)
    inputs = prepare_inputs(batch, tabular, text, sentiment)
    for encoder in ("gru", "transformer"):
        trained = _fit(inputs, targets, SMALL.replace(encoder=encoder, max_epochs=2))
        path = save_checkpoint(trained, tmp_path / f"{encoder}.pt")
        assert path.with_suffix(".json").exists()
        loaded = load_checkpoint(path, device="cpu")
        pd.testing.assert_frame_equal(predict_deep(trained, inputs), predict_deep(loaded, inputs))


def test_shap_attributions_have_one_column_per_input_feature():
    batch = make_batch()
    tabular, text, targets, sentiment = make_frames(batch)
    inputs = prepare_inputs(batch, tabular, text, sentiment)
    trained = _fit(inputs, targets, SMALL.replace(max_epochs=2))
    explanation = explain_deep(trained, inputs, np.arange(5), np.arange(20, 50), n_samples=20)
    assert explanation.values.shape == (5, 1 + 4 + 2)
    assert list(explanation.values.columns) == ["sequence", *tabular.columns, *text.columns]
    assert np.isfinite(explanation.values.to_numpy()).all()
    assert explanation.values.abs().to_numpy().sum() > 0
    assert explanation.importance().index[0] in explanation.values.columns


def test_tuning_searches_only_the_given_training_customers():
    batch = make_batch()
    tabular, text, targets, sentiment = make_frames(batch)
    inputs = prepare_inputs(batch, tabular, text, sentiment)
    train_idx = np.arange(40)
    spend = targets["holdout_spend"].to_numpy().copy()
    spend[40:] = np.nan  # customers outside the training fold must never be read
    space = {"hidden_size": [4, 8], "lr": {"low": 1e-3, "high": 1e-2, "log": True}}
    result = tune_deep(
        inputs,
        spend,
        targets["holdout_zero"].to_numpy(float),
        train_idx,
        SMALL.replace(max_epochs=2),
        seed=0,
        n_trials=3,
        search_space=space,
    )
    assert set(result.best_params) == {"hidden_size", "lr"}
    assert np.isfinite(result.best_value)
    assert result.best_config.hidden_size == result.best_params["hidden_size"]
    assert len(result.trials()) == 3
    plot_optimization_history(result.study)
    plot_param_importance(result.study)


def test_parallel_start_up_trials_give_the_serial_study(monkeypatch):
    """n_jobs=2 trains the random start-up trials in workers; the study is unchanged."""
    batch = make_batch()
    tabular, text, targets, sentiment = make_frames(batch)
    inputs = prepare_inputs(batch, tabular, text, sentiment)
    spend = targets["holdout_spend"].to_numpy().copy()
    spend[40:] = np.nan
    space = {
        "hidden_size": [4, 8],
        "lr": {"low": 1e-3, "high": 3e-1, "log": True},
        "dropout": {"low": 0.0, "high": 0.5},
    }
    calls = []
    real_train = tuning.train_deep

    def counting_train(*args, **kwargs):
        calls.append(kwargs["desc"])
        return real_train(*args, **kwargs)

    monkeypatch.setattr(tuning, "train_deep", counting_train)  # this process only
    studies = {
        n_jobs: tune_deep(
            inputs,
            spend,
            targets["holdout_zero"].to_numpy(float),
            np.arange(40),
            SMALL.replace(max_epochs=5, patience=5),
            seed=0,
            n_trials=6,
            search_space=space,
            n_jobs=n_jobs,
        ).study
        for n_jobs in (1, 2)
    }
    assert calls[:6] == [f"trial {i}" for i in range(6)]
    assert calls[6:] == ["trial 4", "trial 5"], "start-up trials 0-3 ran in the workers"
    serial, parallel = studies[1].trials, studies[2].trials
    assert [t.state.name for t in serial] == [t.state.name for t in parallel]
    assert "PRUNED" in [t.state.name for t in serial], "the replay must also prune"
    for a, b in zip(serial, parallel, strict=True):
        assert a.params == b.params and a.value == b.value
        assert a.intermediate_values == b.intermediate_values


# --------------------------------------------------------------------------- leak-free tuning


def _nested(inputs, spend, folds, seed=0):
    space = {"hidden_size": [4, 8, 16], "lr": {"low": 1e-3, "high": 3e-1, "log": True}}
    return tuning.tune_deep_nested(
        inputs,
        spend,
        (spend <= 0).astype(float),
        folds,
        SMALL.replace(max_epochs=3, patience=3),
        seed=seed,
        n_trials=4,
        search_space=space,
    )


def _values(result) -> list[float]:
    return [t.value for t in result.study.trials]


def test_tuning_plan_never_tunes_a_fold_on_itself():
    assert tuning.tuning_plan(np.array([0, 1, 2, 3, 4])) == {0: 1, 1: 0, 2: 0, 3: 0, 4: 0}
    assert tuning.tuning_plan(np.array([1, 0, 1, 0])) == {0: 1, 1: 0}
    with pytest.raises(ValueError, match="at least 2 folds"):
        tuning.tuning_plan(np.zeros(5, dtype=int))


def test_tampered_outcomes_of_scored_customers_leave_their_hyper_parameters_unchanged():
    """The configuration that predicts fold k never depends on fold k's outcomes."""
    batch = make_batch(n=90)
    tabular, text, targets, sentiment = make_frames(batch)
    inputs = prepare_inputs(batch, tabular, text, sentiment)
    folds = np.arange(90) % 3
    spend = targets["holdout_spend"].to_numpy().copy()
    base = _nested(inputs, spend, folds)
    assert base.plan == {0: 1, 1: 0, 2: 0} and set(base.searches) == {0, 1}
    assert base.best().loc[0, "predicts_folds"] == [1, 2]
    for scored in (0, 1, 2):
        tampered = spend.copy()
        rows = folds == scored
        tampered[rows] = np.where(tampered[rows] > 0, 0.0, 500.0)  # buyers <-> non-buyers
        other = _nested(inputs, tampered, folds)
        used = base.plan[scored]
        assert _values(other.searches[used]) == _values(base.searches[used])
        assert other.configs[scored] == base.configs[scored]
        if scored in base.searches:  # the test can fail: a tuning fold's outcomes matter
            assert _values(other.searches[scored]) != _values(base.searches[scored])
    unread = spend.copy()
    unread[folds == 2] = np.nan  # fold 2 never tunes: its outcomes are never read
    assert _values(_nested(inputs, unread, folds).searches[0]) == _values(base.searches[0])


def test_per_fold_configurations_train_each_fold_with_its_own():
    batch = make_batch(n=60)
    tabular, text, targets, sentiment = make_frames(batch)
    folds = np.arange(60) % 3
    small, wide = SMALL.replace(max_epochs=2), SMALL.replace(max_epochs=2, hidden_size=16)
    kwargs = {"review_sentiment": sentiment, "progress": False}
    mixed = crossfit_deep(
        batch, tabular, text, targets, folds, {0: wide, 1: small, 2: small}, seed=1, **kwargs
    )
    all_small = crossfit_deep(batch, tabular, text, targets, folds, small, seed=1, **kwargs)
    all_wide = crossfit_deep(batch, tabular, text, targets, folds, wide, seed=1, **kwargs)
    in_fold = pd.Series(folds, index=mixed.table.index)
    pd.testing.assert_frame_equal(mixed.table[in_fold == 0], all_wide.table[in_fold == 0])
    pd.testing.assert_frame_equal(mixed.table[in_fold > 0], all_small.table[in_fold > 0])
    assert mixed.fold_configs == {0: wide, 1: small, 2: small}
    with pytest.raises(KeyError, match="lack folds"):
        crossfit_deep(batch, tabular, text, targets, folds, {0: small}, seed=1, **kwargs)
    with pytest.raises(ValueError, match="share inputs"):
        crossfit_deep(
            batch,
            tabular,
            text,
            targets,
            folds,
            {0: small, 1: small, 2: small.replace(use_text=False)},
            seed=1,
            **kwargs,
        )


def test_worker_jobs_return_results_in_task_order_once() -> None:
    import operator

    from helpers.models.deep.parallel import start_in_workers

    jobs = start_in_workers(operator.mul, [(2, 3), (4, 5), (6, 7)], {}, n_jobs=2)
    assert jobs.results() == [6, 20, 42] and jobs.done()
    with pytest.raises(RuntimeError, match=r"results\(\) was already called"):
        jobs.results()
    assert start_in_workers(operator.mul, [], {}, n_jobs=2).results() == []
