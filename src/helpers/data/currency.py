"""Currencies of an input file: one is recorded, several stop the load or are converted.

A file's amounts can only be summed when they are in one currency. A *currency column*
is the one mapped as ``currency`` or, failing that, a source column named ``currency``,
``currency_code`` or ``currencycode`` (any case). Only rows that carry an amount count.

* One currency: recorded as ``notes["currency"]``.
* Several, without a conversion table: :class:`~helpers.data.schema.DataError` listing
  each currency with its row count.
* Several, with ``currency: {base: EUR, rates: {USD: 0.92}}`` (``rates`` = units of the
  base currency per unit of the other): amounts are converted to the base currency,
  the converted rows counted as repaired (``currency_converted``) and by currency in
  ``notes["currency_converted"]``.

A blank currency on a row with an amount is taken to be the file's one currency (or the
base currency) and counted in ``notes["currency_blank_rows"]``. ``currency: EUR`` (a
plain code) declares the currency of a file that has no currency column.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from helpers.data.schema import DataError, data_error

__all__ = ["CURRENCY_COLUMN_NAMES", "currency_column", "currency_factors", "parse_config"]

CURRENCY_COLUMN_NAMES: tuple[str, ...] = ("currency", "currency_code", "currencycode")


def currency_column(columns: list[str], mapped: str | None = None) -> str | None:
    """The mapped currency column, else the first column with a currency name."""
    if mapped is not None:
        return mapped
    return next((c for c in columns if str(c).strip().lower() in CURRENCY_COLUMN_NAMES), None)


def parse_config(config: str | Mapping[str, Any] | None, source: str) -> tuple[str | None, dict]:
    """``(base, rates)`` of a dataset's ``currency`` param (a code, or base and rates)."""
    if config is None:
        return None, {}
    if isinstance(config, str):
        return config.strip().upper(), {}
    if not isinstance(config, Mapping) or not config.get("base"):
        raise DataError(
            f"{source}: the currency param must be a code (currency: EUR) or a table"
            f" (currency: {{base: EUR, rates: {{USD: 0.92}}}}), got {config!r}."
        )
    rates = {str(k).strip().upper(): v for k, v in (config.get("rates") or {}).items()}
    bad = {k: v for k, v in rates.items() if not _positive_number(v)}
    if bad:
        raise DataError(
            f"{source}: currency rates must be positive finite numbers (units of the base"
            f" currency per unit), got {bad}."
        )
    return str(config["base"]).strip().upper(), {k: float(v) for k, v in rates.items()}


def _positive_number(value: Any) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return bool(np.isfinite(number) and number > 0)


def _counts(codes: pd.Series) -> str:
    counts = codes.value_counts()
    return ", ".join(f"{code} ({n:,} row{'s' if n != 1 else ''})" for code, n in counts.items())


def currency_factors(
    frame: pd.DataFrame,
    column: str | None,
    has_amount: pd.Series,
    config: str | Mapping[str, Any] | None,
    source: str,
    notes: dict[str, Any],
) -> pd.Series | None:
    """Factors that turn each row's amount into the file's one (or base) currency.

    Parameters
    ----------
    frame : DataFrame
        Source rows.
    column : str, optional
        The currency column (:func:`currency_column`); None when the file has none.
    has_amount : Series of bool
        Rows that carry an amount (only they count).
    config : str or dict, optional
        The dataset's ``currency`` param.
    source : str
        File name for messages.
    notes : dict
        The report's notes (``currency``, ``currency_converted``, ``currency_blank_rows``).

    Returns
    -------
    Series or None
        Per-row factors (1.0 for rows already in the base currency) when some row is
        converted; None when no amount changes.

    Raises
    ------
    DataError
        Several currencies without a conversion table (listing currencies and row
        counts), or currencies missing from ``rates``.
    """
    base, rates = parse_config(config, source)
    if column is None:
        if base is not None:
            notes["currency"] = base
        return None
    codes = frame[column].astype(str).str.strip().str.upper()
    codes = codes.mask(codes.isin(["", "NAN", "NONE"]) | frame[column].isna())
    codes = codes[has_amount.reindex(frame.index, fill_value=False)]
    present = codes.dropna()
    seen = list(present.value_counts().index)
    if codes.isna().any():
        notes["currency_blank_rows"] = int(codes.isna().sum())
    if base is None:
        if len(seen) > 1:
            example = frame.loc[present[present != seen[0]].index[0]]
            problem = (
                f"more than one currency among the rows with an amount: {_counts(present)};"
                " amounts in different currencies cannot be summed: convert them before"
                f" loading, or give a conversion table in params.yaml (currency: {{base:"
                f" {seen[0]}, rates: {{{seen[1]}: <{seen[0]} per {seen[1]}>}}}})"
            )
            raise data_error(source, column, problem, example)
        if seen:
            notes["currency"] = str(seen[0])
        return None
    return _convert(frame, column, present, base, rates, source, notes)


def _convert(
    frame: pd.DataFrame,
    column: str,
    present: pd.Series,
    base: str,
    rates: dict[str, float],
    source: str,
    notes: dict[str, Any],
) -> pd.Series | None:
    """Factors to the base currency; stops on currencies without a rate."""
    missing = present[(present != base) & ~present.isin(list(rates))]
    if len(missing):
        problem = (
            f"no conversion rate for {_counts(missing)} (base {base}, rates for"
            f" {sorted(rates) or 'none'}): add them to currency.rates"
        )
        raise data_error(source, column, problem, frame.loc[missing.index[0]])
    notes["currency"] = base
    other = present[present != base]
    if other.empty:
        return None
    notes["currency_rates"] = {code: rates[code] for code in sorted(set(other))}
    notes["currency_converted"] = {str(k): int(v) for k, v in other.value_counts().items()}
    factors = pd.Series(1.0, index=frame.index)
    factors[other.index] = other.map(rates).astype(float)
    return factors
