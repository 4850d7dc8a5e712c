"""ZILN loss, expected value and quantiles against scipy.stats.lognorm."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from helpers.models.ziln import (
    SIGMA_EPS,
    ziln_expected_value,
    ziln_log_expected_value,
    ziln_loss,
    ziln_params,
    ziln_quantile,
)


def _outputs(n: int = 40, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    raw = np.column_stack([rng.normal(0, 1.5, n), rng.normal(3, 1, n), rng.normal(0, 1, n)])
    return torch.tensor(raw, dtype=torch.float64)


def _reference(outputs: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    raw = outputs.numpy()
    p = 1 / (1 + np.exp(-raw[:, 0]))
    sigma = np.log1p(np.exp(raw[:, 2])) + SIGMA_EPS
    return p, raw[:, 1], sigma


def test_loss_matches_scipy_lognormal_likelihood():
    outputs = _outputs()
    rng = np.random.default_rng(1)
    y = np.where(rng.random(40) < 0.5, 0.0, rng.lognormal(3, 1, 40))
    p, mu, sigma = _reference(outputs)
    positive = y > 0
    expected = np.where(positive, -np.log(p), -np.log(1 - p))
    expected[positive] -= stats.lognorm.logpdf(
        y[positive], s=sigma[positive], scale=np.exp(mu[positive])
    )
    got = ziln_loss(outputs, torch.tensor(y), reduction="none").double().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    assert float(ziln_loss(outputs, torch.tensor(y))) == pytest.approx(expected.mean(), rel=1e-4)


def test_expected_value_and_p_zero_formula():
    outputs = _outputs()
    p, mu, sigma = _reference(outputs)
    mean = p * stats.lognorm.mean(s=sigma, scale=np.exp(mu))
    np.testing.assert_allclose(ziln_expected_value(outputs).double().numpy(), mean, rtol=1e-4)
    log_mean = ziln_log_expected_value(outputs).double().numpy()
    np.testing.assert_allclose(np.exp(log_mean), mean, rtol=1e-4)
    p_t, mu_t, sigma_t = ziln_params(outputs)
    np.testing.assert_allclose(1 - p_t.numpy(), 1 - p, rtol=1e-6)
    np.testing.assert_allclose(sigma_t.numpy(), sigma, rtol=1e-6)


def test_quantiles_match_scipy_and_are_zero_below_the_zero_mass():
    p = np.array([0.3, 0.3, 0.9, 0.9])
    mu = np.array([2.0, 2.0, 1.0, 1.0])
    sigma = np.array([0.5, 0.5, 1.2, 1.2])
    q = np.array([0.5, 0.9, 0.5, 0.6])
    got = ziln_quantile(p, mu, sigma, q)
    assert got[0] == 0.0  # 0.5 <= 1 - 0.3: inside the point mass at zero
    level = (q - (1 - p)) / p
    ref = stats.lognorm.ppf(level[[1, 2, 3]], s=sigma[[1, 2, 3]], scale=np.exp(mu[[1, 2, 3]]))
    np.testing.assert_allclose(got[[1, 2, 3]], ref, rtol=1e-8)
    # the mixture CDF at the quantile equals q
    cdf = (1 - p[1]) + p[1] * stats.lognorm.cdf(got[1], s=sigma[1], scale=np.exp(mu[1]))
    assert cdf == pytest.approx(q[1])
    with pytest.raises(ValueError, match=r"^quantile levels must lie in \(0, 1\)$"):
        ziln_quantile(p, mu, sigma, 1.0)


def test_loss_gradient_is_finite_for_zero_targets():
    outputs = _outputs(8).float().requires_grad_()
    ziln_loss(outputs, torch.zeros(8)).backward()
    assert torch.isfinite(outputs.grad).all()
    assert torch.all(outputs.grad[:, 1:] == 0)  # zeros only inform p
