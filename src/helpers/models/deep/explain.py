"""SHAP (expected gradients) explanations of the deep model."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from helpers.models.deep.inputs import DeepInputs
from helpers.models.deep.network import DeepCLVModel
from helpers.models.deep.training import _MODEL_KEYS, TrainedDeep, _tensors
from helpers.models.ziln import (
    ziln_log_expected_value,
)


class _HeadOutput(nn.Module):
    """MLP input → one scalar per customer (for SHAP)."""

    def __init__(self, model: DeepCLVModel, target: str) -> None:
        super().__init__()
        self.model, self.target = model, target

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        value, churn = self.model.head(z)
        if self.target == "churn":
            out = churn
        elif self.model.config.loss == "ziln":
            out = ziln_log_expected_value(value)
            if self.target == "value":
                out = torch.exp(out)
        else:
            out = value.squeeze(-1) * self.model.target_scale
        return out[:, None]


@dataclass
class DeepExplanation:
    """SHAP values of the deep model's MLP inputs (one row per explained customer).

    ``values`` has one column per tabular / text feature plus ``sequence`` (the
    encoded sequence's dimensions summed); ``data`` the scaled feature values the
    network saw (``sequence``: NaN); ``base_value`` the mean output on the background.
    """

    values: pd.DataFrame
    data: pd.DataFrame
    base_value: float
    target: str

    def importance(self) -> pd.Series:
        """Mean absolute SHAP value per feature, largest first."""
        return self.values.abs().mean().sort_values(ascending=False)


def explain_deep(
    trained: TrainedDeep,
    inputs: DeepInputs,
    idx: np.ndarray,
    background_idx: np.ndarray,
    target: str = "log_value",
    n_samples: int = 200,
    seed: int = 0,
) -> DeepExplanation:
    """``shap.GradientExplainer`` attributions of the MLP inputs (sequence held encoded).

    Each customer's sequence is encoded once; the explained function maps the MLP
    input ``[sequence representation, tabular, text]`` to ``target``: ``"log_value"``
    (log expected spend: additive in log space, the default), ``"value"`` (expected
    spend) or ``"churn"`` (logit of no purchase). The sequence dimensions' attributions
    are summed into one ``sequence`` column (Lundberg & Lee 2017, expected gradients).

    Parameters
    ----------
    idx, background_idx : int arrays
        Customers to explain, and background customers (e.g. a sample of the training
        customers of the fold the model was trained on).
    """
    import shap

    if target not in ("log_value", "value", "churn"):
        raise ValueError("target must be 'log_value', 'value' or 'churn'")
    model = copy.deepcopy(trained.model).to("cpu").eval()
    data = _tensors(inputs, trained.tabular_scaler, trained.text_scaler)

    def head_inputs(rows: np.ndarray) -> torch.Tensor:
        index = torch.as_tensor(np.asarray(rows), dtype=torch.long)
        batch = {k: v[index] for k, v in data.items()}
        with torch.no_grad():
            return model.head_input(*(batch[k] for k in _MODEL_KEYS)).float()

    z, background = head_inputs(idx), head_inputs(background_idx)
    wrapped = _HeadOutput(model, target).eval()
    explainer = shap.GradientExplainer(wrapped, background)
    values = explainer.shap_values(z, nsamples=n_samples, rseed=seed)
    values = np.asarray(values[0] if isinstance(values, list) else values)
    values = values.reshape(len(z), -1)
    rep = model.rep_dim
    names = trained.feature_names
    frame = pd.DataFrame(values[:, rep:], index=inputs.user_ids[idx], columns=names)
    shown = pd.DataFrame(z[:, rep:].numpy(), index=frame.index, columns=names)
    if rep:
        frame.insert(0, "sequence", values[:, :rep].sum(axis=1))
        shown.insert(0, "sequence", np.nan)
    with torch.no_grad():
        base = float(wrapped(background).mean())
    return DeepExplanation(values=frame, data=shown, base_value=base, target=target)
