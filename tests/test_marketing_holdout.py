import numpy as np
import pandas as pd

from helpers.data.split import Split
from helpers.marketing.holdout import holdout_monthly_purchases, holdout_months
from helpers.marketing.simulator import MONTH_WEEKS


def test_holdout_purchases_by_simulator_month(tiny_log):
    split = Split.from_dates("2024-01-31", "2024-04-30")  # 90 days
    assert holdout_months(split) == int(90 // (MONTH_WEEKS * 7))
    counts = holdout_monthly_purchases(tiny_log, split, pd.Index(["a", "b"]))
    # a buys on 02-10 (day 9: month 0) and 03-15 (day 43: month 1); c is not a customer
    assert np.array_equal(counts, [1.0, 1.0])
