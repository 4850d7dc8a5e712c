"""The real holdout in the simulator's monthly units, for the no-action validation."""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.data.split import Split, purchase_days
from helpers.marketing.simulator import MONTH_WEEKS


def holdout_months(split: Split) -> int:
    """Whole simulator months (of ``MONTH_WEEKS`` weeks) in the holdout period."""
    return int(split.holdout_days // (MONTH_WEEKS * 7))


def holdout_monthly_purchases(
    events: pd.DataFrame, split: Split, customers: pd.Index
) -> np.ndarray:
    """Purchase days of ``customers`` per simulator month after the cutoff.

    Purchases are counted by day (as in the targets); month ``k`` covers days
    ``[k, k + 1) * MONTH_WEEKS * 7`` after the end of the calibration period. Days beyond
    the last whole month are ignored.
    """
    months = holdout_months(split)
    purchases = split.holdout(events.loc[events["event_type"] == "purchase"])
    days = purchase_days(purchases.loc[purchases["user_id"].isin(customers)])
    offset = (days["day"] - split.calibration_end) / pd.Timedelta(days=1)
    month = np.floor(offset.to_numpy() / (MONTH_WEEKS * 7)).astype(int)
    return np.bincount(month[month < months], minlength=months).astype(float)
