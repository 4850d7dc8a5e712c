import numpy as np
import pandas as pd
import pytest

from helpers.data.split import Split, make_targets
from helpers.models import baselines


@pytest.fixture
def customers(tiny_log) -> pd.DataFrame:
    return make_targets(tiny_log, Split.from_dates("2024-01-31", "2024-02-29"))


def test_extrapolation_known_answer(customers):
    split = Split.from_dates("2024-01-31", "2024-02-29")
    table = baselines.extrapolation_rule(customers, split).set_index("user_id")
    # a: 35 spent over 27 days (2024-01-05 .. end of 01-31) -> 35/27 per day x 29 days
    assert table.loc["a", "predicted_spend"] == pytest.approx(35 / 27 * 29)
    # b: acquired on the cutoff day -> tenure 1 day -> 12.5 x 29
    assert table.loc["b", "predicted_spend"] == pytest.approx(12.5 * 29)
    assert table["p_zero"].isna().all() and set(table["model"]) == {"extrapolation"}


def test_zero_rule(customers):
    table = baselines.zero_rule(customers)
    assert (table["predicted_spend"] == 0).all() and (table["p_zero"] == 1).all()


def test_oracle_aligns_and_requires_every_customer(customers):
    truth = pd.DataFrame(
        {
            "user_id": ["b", "a", "zz"],
            "expected_holdout_spend": [1.0, 2.0, 3.0],
            "p_no_purchase_holdout": [0.9, 0.1, 0.5],
        }
    )
    table = baselines.oracle_rule(truth, customers).set_index("user_id")
    assert table.loc["a", "predicted_spend"] == 2.0 and table.loc["b", "p_zero"] == 0.9
    with pytest.raises(ValueError, match="truth lacks 1 customers"):
        baselines.oracle_rule(truth[truth["user_id"] != "a"], customers)


def test_predictions_frame_rejects_bad_predictions():
    index = pd.Index(["a", "b"])
    with pytest.raises(
        ValueError, match="model 'm': non-finite predicted spend for users \\['b'\\]"
    ):
        baselines.predictions_frame("m", pd.Series([1.0, np.nan], index=index))
    with pytest.raises(ValueError, match="negative predicted spend"):
        baselines.predictions_frame("m", pd.Series([1.0, -1.0], index=index))
    with pytest.raises(ValueError, match="p_zero must be a probability"):
        baselines.predictions_frame(
            "m", pd.Series([1.0, 1.0], index=index), pd.Series([0.5, 1.5], index=index)
        )
