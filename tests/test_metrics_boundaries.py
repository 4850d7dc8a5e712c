"""Boundaries of the interval metrics, pinned where a mutation test found them loose."""

import pandas as pd
import pytest

from helpers.evaluation.metrics import interval_coverage, pinball_loss


def test_interval_coverage_counts_both_ends_as_covered():
    index = pd.Index(["a", "b", "c", "d"])
    lower = pd.Series([1.0, 1.0, 1.0, 1.0], index=index)
    upper = pd.Series([3.0, 3.0, 3.0, 3.0], index=index)
    actual = pd.Series([1.0, 3.0, 0.999, 3.001], index=index)  # on each end, just outside
    assert interval_coverage(actual, lower, upper) == 0.5


def test_interval_coverage_refuses_missing_customers():
    index = pd.Index(["a", "b"])
    bounds = pd.Series([0.0, 0.0], index=index)
    with pytest.raises(ValueError, match="must cover the same customers"):
        interval_coverage(pd.Series([1.0], index=["a"]), bounds, bounds + 1)


@pytest.mark.parametrize("tau", [0.0, 1.0, -0.1])
def test_pinball_loss_needs_tau_strictly_inside_the_unit_interval(tau: float):
    with pytest.raises(ValueError, match="tau must lie strictly between 0 and 1"):
        pinball_loss([1.0], [1.0], tau)


def test_pinball_loss_by_hand():
    # y - q = +2 (under-forecast, weight tau) and -4 (over-forecast, weight 1 - tau)
    assert pinball_loss([3.0, 1.0], [1.0, 5.0], 0.9) == pytest.approx((0.9 * 2 + 0.1 * 4) / 2)
