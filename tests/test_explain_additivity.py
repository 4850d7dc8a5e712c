"""SHAP of the deep model (:func:`helpers.models.deep.explain_deep`) adds up, per feature.

Expected gradients (``shap.GradientExplainer``) are additive in expectation: per
customer, the SHAP values plus the base value (the mean head output on the background)
equal the head's output. For a head that is affine in its input and one background
customer this holds exactly (float32 rounding), and each feature's value is
``gradient x (value - background value)``; for a real (ReLU) head it holds up to the
Monte-Carlo error, measured below. A feature the network provably ignores (its
first-layer weights zeroed) gets exactly zero.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from test_deep_clv import SMALL, make_batch, make_frames

from helpers.features.behaviour import FeatureScaler
from helpers.models.deep import build_model, explain_deep, prepare_inputs
from helpers.models.deep.explain import _HeadOutput
from helpers.models.deep.training import _MODEL_KEYS, TrainedDeep, _tensors

EXPLAIN = np.arange(10)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def inputs():
    batch = make_batch()
    tabular, text, _, sentiment = make_frames(batch)
    return prepare_inputs(batch, tabular, text, sentiment)


def _model(inputs, loss: str, affine: bool = False, keep: str | None = None) -> TrainedDeep:
    """A randomly initialised network (seed 0) with the scalers fitted on every customer.

    ``affine``: first-layer bias 50 and non-negative second-layer weights keep every ReLU
    active on these inputs, so the head is affine in the MLP input. ``keep``: zero the
    first-layer weights of every input but this one (``"sequence"``: the encoder's).
    """
    torch.manual_seed(0)
    config = SMALL.replace(loss=loss, dropout=0.0)
    model = build_model(inputs, config).eval()
    users = inputs.tabular.index
    trained = TrainedDeep(
        model=model,
        config=config,
        tabular_scaler=FeatureScaler().fit(inputs.tabular, users),
        text_scaler=FeatureScaler().fit(inputs.text, users),
        curve=pd.DataFrame(),
        best_epoch=0,
        seconds=0.0,
        device="cpu",
    )
    first, second = model.mlp[0], model.mlp[3]
    with torch.no_grad():
        if affine:
            first.bias.fill_(50.0)
            second.weight.abs_()
            second.bias.fill_(1.0)
        if keep is not None:
            names = ["sequence"] * model.rep_dim + trained.feature_names
            for j, name in enumerate(names):
                if name != keep:
                    first.weight[:, j] = 0.0
    return trained


def _head(trained: TrainedDeep, inputs, target: str, rows: np.ndarray):
    """The head's input ``z`` and output per customer, computed here from the network."""
    data = _tensors(inputs, trained.tabular_scaler, trained.text_scaler)
    index = torch.as_tensor(rows)
    with torch.no_grad():
        z = trained.model.head_input(*(data[k][index] for k in _MODEL_KEYS)).float()
    head = _HeadOutput(trained.model, target)
    z_grad = z.clone().requires_grad_()
    head(z_grad).sum().backward()
    with torch.no_grad():
        out = head(z)[:, 0].numpy().astype(float)
    return z.numpy().astype(float), out, z_grad.grad.numpy().astype(float)


@pytest.mark.parametrize(("loss", "target"), [("mse", "log_value"), ("mse", "churn")])
def test_affine_head_shap_is_exactly_gradient_times_difference_and_adds_up(inputs, loss, target):
    trained = _model(inputs, loss, affine=True)
    background = np.array([30])
    z, out, grad = _head(trained, inputs, target, EXPLAIN)
    z_bg, out_bg, _ = _head(trained, inputs, target, background)
    explanation = explain_deep(trained, inputs, EXPLAIN, background, target=target, n_samples=50)
    values = explanation.values
    rep = trained.model.rep_dim
    names = ["sequence", *trained.feature_names]
    assert list(values.columns) == names and rep == 8
    assert list(values.index) == list(inputs.user_ids[EXPLAIN])
    assert explanation.base_value == pytest.approx(out_bg[0], abs=1e-6)
    # additivity: measured max error 1.7e-5 (log_value) and 2.1e-5 (churn), float32
    np.testing.assert_allclose(values.sum(axis=1) + explanation.base_value, out, atol=1e-4)
    # each column is its own feature: gradient (constant for an affine head) x difference
    attribution = grad * (z - z_bg)
    expected = np.column_stack([attribution[:, :rep].sum(axis=1), attribution[:, rep:]])
    np.testing.assert_allclose(values.to_numpy(), expected, atol=1e-4)
    assert np.abs(expected).max(axis=0).min() > 1e-3  # every column really is tested
    shown = explanation.data
    assert list(shown.columns) == names and shown["sequence"].isna().all()
    np.testing.assert_allclose(shown[names[1:]].to_numpy(), z[:, rep:], rtol=1e-6)
    scaled = trained.tabular_scaler.transform(inputs.tabular).iloc[EXPLAIN]
    np.testing.assert_allclose(shown[scaled.columns].to_numpy(), scaled.to_numpy(), rtol=1e-5)


@pytest.mark.parametrize("target", ["log_value", "value", "churn"])
def test_relu_head_shap_adds_up_to_the_head_output_up_to_monte_carlo_error(inputs, target):
    """Random ZILN network (ReLUs switch), 30 background customers, 200 samples.

    Measured max |sum + base - output| over 10 customers: 0.0059 (log_value), 0.0042
    (value), 0.0072 (churn), against a mean |output - base| of 0.036, 0.026 and 0.029.
    SHAP columns scaled by 10 miss by about 9 x 0.03."""
    trained = _model(inputs, "ziln")
    background = np.arange(20, 50)
    _, out, _ = _head(trained, inputs, target, EXPLAIN)
    _, out_bg, _ = _head(trained, inputs, target, background)
    explanation = explain_deep(trained, inputs, EXPLAIN, background, target=target,
                               n_samples=200, seed=0)  # fmt: skip
    assert explanation.target == target
    assert explanation.base_value == pytest.approx(out_bg.mean(), abs=1e-6)
    total = explanation.values.sum(axis=1).to_numpy() + explanation.base_value
    np.testing.assert_allclose(total, out, atol=0.015)
    assert np.corrcoef(total - explanation.base_value, out - out_bg.mean())[0, 1] > 0.9


@pytest.mark.parametrize("keep", ["sequence", "frequency", "browse_to_buy", "sentiment_mean"])
def test_only_the_feature_the_network_reads_gets_shap(inputs, keep):
    trained = _model(inputs, "ziln", keep=keep)
    explanation = explain_deep(trained, inputs, EXPLAIN, np.arange(20, 50), n_samples=50)
    values = explanation.values
    ignored = [c for c in values.columns if c != keep]
    assert (values[ignored].to_numpy() == 0).all()  # zero gradient: exactly 0
    assert values[keep].abs().max() > 1e-3
    assert explanation.importance().index[0] == keep


def test_unknown_target_is_refused(inputs):
    with pytest.raises(ValueError, match="^target must be 'log_value', 'value' or 'churn'$"):
        explain_deep(_model(inputs, "mse"), inputs, EXPLAIN, EXPLAIN, target="spend")
