"""Zero-inflated lognormal (ZILN) loss and distribution for customer value.

A customer's future spend ``y`` is 0 with probability ``1 - p`` and otherwise lognormal
with parameters ``mu, sigma`` (the log of spend is normal). A network outputs three
unconstrained numbers per customer, ``(logit p, mu, sigma_raw)``, and

* loss = binary cross-entropy of ``1[y > 0]`` against ``p`` (on all customers)
  + negative log-likelihood of ``y`` under ``LogNormal(mu, sigma)`` (on ``y > 0``),
  with ``sigma = softplus(sigma_raw) + eps``;
* ``E[y] = p * exp(mu + sigma**2 / 2)``, ``P(y = 0) = 1 - p``;
* the ``q``-quantile is 0 when ``q <= 1 - p``, else the lognormal quantile at
  ``(q - (1 - p)) / p``.

The loss is averaged over customers (the lognormal term is summed over positive
customers and divided by the number of all customers, as in the reference
implementation), so its scale does not depend on the share of zeros in a batch.

References
----------
Wang, Liu & Miao (2019), A deep probabilistic model for customer lifetime value
prediction. arXiv:1912.07753.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import ndtri

#: Floor added to ``softplus(sigma_raw)`` so the lognormal scale stays positive.
SIGMA_EPS: float = 1e-4
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def ziln_params(outputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split raw outputs ``(..., 3)`` into ``(p, mu, sigma)`` (``p`` = P(y > 0))."""
    if outputs.shape[-1] != 3:
        raise ValueError(f"ZILN needs 3 outputs per row, got {outputs.shape[-1]}")
    p = torch.sigmoid(outputs[..., 0])
    mu = outputs[..., 1]
    sigma = F.softplus(outputs[..., 2]) + SIGMA_EPS
    return p, mu, sigma


def ziln_loss(outputs: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """ZILN negative log-likelihood of spend ``y >= 0`` (Wang et al. 2019).

    Parameters
    ----------
    outputs : Tensor (n, 3)
        ``logit p, mu, sigma_raw`` per customer.
    y : Tensor (n,)
        Observed spend.
    reduction : {"mean", "none"}
        Mean over customers, or the per-customer loss.
    """
    outputs = outputs.float()
    y = y.float()
    positive = (y > 0).float()
    bce = F.binary_cross_entropy_with_logits(outputs[..., 0], positive, reduction="none")
    mu = outputs[..., 1]
    sigma = F.softplus(outputs[..., 2]) + SIGMA_EPS
    safe_y = torch.where(y > 0, y, torch.ones_like(y))
    log_y = torch.log(safe_y)
    nll = log_y + torch.log(sigma) + _LOG_SQRT_2PI + 0.5 * ((log_y - mu) / sigma) ** 2
    per_row = bce + positive * nll
    if reduction == "none":
        return per_row
    if reduction == "mean":
        return per_row.mean()
    raise ValueError(f"unknown reduction {reduction!r}")


def ziln_expected_value(outputs: torch.Tensor) -> torch.Tensor:
    """``E[y] = p * exp(mu + sigma**2 / 2)`` per row."""
    p, mu, sigma = ziln_params(outputs.float())
    return p * torch.exp(mu + 0.5 * sigma**2)


def ziln_log_expected_value(outputs: torch.Tensor) -> torch.Tensor:
    """``log E[y] = log p + mu + sigma**2 / 2`` (numerically stable; for explanations)."""
    outputs = outputs.float()
    sigma = F.softplus(outputs[..., 2]) + SIGMA_EPS
    return F.logsigmoid(outputs[..., 0]) + outputs[..., 1] + 0.5 * sigma**2


def ziln_quantile(
    p: np.ndarray, mu: np.ndarray, sigma: np.ndarray, q: float | np.ndarray
) -> np.ndarray:
    """``q``-quantile of the zero-inflated lognormal (0 where ``q <= 1 - p``).

    Parameters
    ----------
    p, mu, sigma : array
        P(y > 0), and the lognormal's log-mean and log-sd, per customer.
    q : float or array
        Quantile level(s) in (0, 1), broadcast against ``p``.
    """
    p, mu, sigma = (np.asarray(a, dtype=float) for a in (p, mu, sigma))
    q = np.asarray(q, dtype=float)
    if np.any((q <= 0) | (q >= 1)):
        raise ValueError("quantile levels must lie in (0, 1)")
    zero = q <= 1.0 - p
    level = np.clip((q - (1.0 - p)) / np.where(p > 0, p, 1.0), 1e-12, 1 - 1e-12)
    positive = np.exp(mu + sigma * ndtri(level))
    return np.where(zero, 0.0, positive)
