"""Checks that the scored customer table agrees with itself and with its rules.

:func:`violations` returns one row per broken rule and customer, so a test (and stage
07) can assert there are none and show the offending rows when there are:

- columns, types and ranges of the data dictionary (probabilities in [0, 1], deciles
  1-10, ``spend_q10 <= spend_q90``, money not negative);
- the segment rule (:mod:`helpers.apply.segments`) from the table's own columns;
- ``churn_risk`` from the P(no purchase) it names;
- every row's ``policy`` is the recommended policy;
- no contact outside the policy's rule: a contacted customer has a positive expected
  incremental profit, the contacted share stays within the budget, and an
  uninformative model contacts nobody.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from helpers.apply.crm import risk_columns
from helpers.apply.table import COLUMNS

__all__ = ["violations"]

PROBABILITIES = ("p_no_purchase", "p_alive", "p_no_purchase_90d")
MONEY = ("predicted_spend", "discounted_clv", "spend_q10", "spend_q90", "historic_spend")


def _rows(mask: pd.Series | np.ndarray, table: pd.DataFrame, rule: str) -> pd.DataFrame:
    hit = table.loc[np.asarray(mask, dtype=bool), "user_id"]
    return pd.DataFrame({"rule": rule, "user_id": hit.astype(str).to_numpy()})


def violations(
    table: pd.DataFrame,
    policy: str,
    budget: float,
    segments: Mapping[str, float],
    watch_p_no_purchase: float,
) -> pd.DataFrame:
    """Every broken rule as ``rule, user_id`` rows (empty: the table is consistent).

    Parameters
    ----------
    table : DataFrame
        The scored table (:func:`helpers.apply.crm.finish_table`).
    policy : str
        The recommended policy's name (stage 05).
    budget : float
        Largest share of customers contacted (``rl.budget``).
    segments, watch_p_no_purchase : as for :func:`helpers.apply.crm.finish_table`.
    """
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        return pd.DataFrame({"rule": [f"column missing: {c}" for c in missing], "user_id": ""})
    found = [_rows(table["user_id"].duplicated(), table, "user_id not unique")]
    for column in PROBABILITIES:
        values = table[column].astype(float)
        found.append(_rows(values.notna() & ~values.between(0, 1), table, f"{column} in [0, 1]"))
    for column in MONEY:
        found.append(_rows(table[column].astype(float) < 0, table, f"{column} >= 0"))
    found.append(_rows(~table["value_decile"].between(1, 10), table, "value_decile in 1-10"))
    low, high = table["spend_q10"].astype(float), table["spend_q90"].astype(float)
    found.append(_rows(low > high, table, "spend_q10 <= spend_q90"))
    derived = risk_columns(table, segments, watch_p_no_purchase)
    rule = derived["churn_risk"].ne(table["churn_risk"]).fillna(True)
    found.append(_rows(rule, table, "churn_risk rule"))
    rule = derived["segment"].ne(table["segment"]).fillna(True)
    found.append(_rows(rule, table, "segment rule"))
    found.append(_rows(table["policy"] != policy, table, f"policy is {policy}"))
    contacted = table["action"] != "none"
    profit = table["expected_incremental_profit"].astype(float)
    found.append(_rows(contacted & ~(profit > 0), table, "contacted with profit > 0"))
    if not bool(table["model_informative"].all()):
        found.append(_rows(contacted, table, "no contact when the model is uninformative"))
    if contacted.mean() > budget + 1e-9:
        over = contacted & (profit.rank(method="first") <= contacted.sum() - budget * len(table))
        found.append(_rows(over, table, f"contacted share within budget {budget:.0%}"))
    return pd.concat(found, ignore_index=True)
