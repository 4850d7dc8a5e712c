"""The scored customer table a CRM loads, its data dictionary, and its files.

``customers.parquet`` and ``customers.csv`` hold the same rows; the CSV has one header
row, UTF-8, ``,`` separators, ``.`` decimals, ISO 8601 dates (``YYYY-MM-DD``) and no
index column, so a loader needs no guessing. ``customers_dictionary.md`` (and ``.json``)
say what every column means, its type and unit. The table keeps ``user_id`` as the
loader produced it (the source id, or its pseudonym when the loader pseudonymises),
so it joins back to the user's own systems: it is not a report to pass around.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from helpers.apply.rhythm import RHYTHM_COLUMNS

__all__ = ["DICTIONARY", "assemble_table", "read_scored_csv", "write_scored"]

#: column -> (type, unit, meaning). The order is the table's column order.
DICTIONARY: dict[str, tuple[str, str, str]] = {
    "user_id": ("string", "-", "customer id as the loader produced it (the CRM join key)"),
    "as_of": ("date", "YYYY-MM-DD", "last day of data used for this score (UTC)"),
    "horizon_days": ("integer", "days", "length of the predicted period after as_of"),
    "model": ("string", "-", "model giving predicted_spend and p_no_purchase"),
    "model_informative": (
        "boolean",
        "-",
        "false: the model ranks customers no better than a rule of thumb (stage 07 says "
        "by how much), so its scores are shown but no action is recommended",
    ),
    "predicted_spend": ("float", "currency", "expected spend over the horizon"),
    "discounted_clv": (
        "float",
        "currency",
        "predicted_spend discounted to as_of at apply.discount_rate a year, the spend "
        "taken as spread evenly over the horizon",
    ),
    "spend_q10": (
        "float",
        "currency",
        "lower end of the 80 % interval of spend (the model's 10 % quantile, corrected per "
        "band of P(no purchase) on the last completed window; empty: history too short)",
    ),
    "spend_q90": (
        "float",
        "currency",
        "upper end of the 80 % interval (corrected like spend_q10). predicted_spend (a mean) "
        "can exceed it: when P(no purchase) is high, most of the distribution sits at 0 "
        "and a few large purchases pull the mean up past the 90 % quantile",
    ),
    "p_no_purchase": ("float", "probability", "P(no purchase over the horizon)"),
    "p_alive": ("float", "probability", "BTYD P(still an active customer at as_of)"),
    "p_no_purchase_90d": (
        "float",
        "probability",
        "P(no purchase in the 90 days after as_of): p_no_purchase mapped on the last "
        "completed window (empty: horizon under 90 days)",
    ),
    "churn_risk": (
        "string",
        "-",
        "low / medium / high: p_no_purchase_90d (else p_no_purchase) below "
        "apply.watch_p_no_purchase, below apply.segments.at_risk_p_no_purchase, or at or above it",
    ),
    **RHYTHM_COLUMNS,
    "value_decile": ("integer", "1-10", "decile of predicted_spend, 10 = top 10 %"),
    "segment": (
        "string",
        "-",
        "value tier x risk state, e.g. 'high value, at risk'. lapsed: p_alive below "
        "apply.segments.lapsed_p_alive; at risk: not lapsed and churn_risk high or "
        "days_overdue above 0; active: the rest",
    ),
    "action": ("string", "-", "recommended action this month: none, email, coupon10, coupon20"),
    "expected_incremental_profit": (
        "float",
        "currency",
        "expected profit of the action this month minus that of no action (assumed effects)",
    ),
    "policy": (
        "string",
        "-",
        "the policy that chose the action (stage 05's recommended policy, or 07's fallback)",
    ),
    "action_reason": ("string", "-", "why this action, with the numbers behind it"),
    "next_category_1": ("string", "-", "most likely next category (empty without categories)"),
    "next_category_1_score": (
        "float",
        "share (0-1)",
        "share of the customer's weighted recent interest that goes to next_category_1 "
        "(the three shares add up to at most 1; not a purchase probability)",
    ),
    "next_category_2": ("string", "-", "second most likely next category"),
    "next_category_2_score": ("float", "share (0-1)", "the same share for next_category_2"),
    "next_category_3": ("string", "-", "third most likely next category"),
    "next_category_3_score": ("float", "share (0-1)", "the same share for next_category_3"),
}
COLUMNS: tuple[str, ...] = tuple(DICTIONARY)


def assemble_table(
    scores: pd.DataFrame,
    as_of: pd.Timestamp,
    horizon_days: int,
    model: str,
    segments: pd.Series,
    deciles: pd.Series,
    actions: pd.DataFrame,
    categories: pd.DataFrame | None,
    policy: str = "",
    informative: bool = True,
    history: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per scored customer, the columns of :data:`DICTIONARY` in order.

    ``actions`` holds ``action``, ``expected_incremental_profit`` and (optionally)
    ``action_reason`` per customer; ``policy`` names the policy that chose them;
    ``informative`` is the verdict of :func:`helpers.apply.choice.signal_verdict`;
    ``history`` the columns of :func:`helpers.apply.rhythm.history_and_rhythm` (empty
    when not given).
    """
    index = scores.index
    table = pd.DataFrame(
        {
            "user_id": index.astype(str),
            "as_of": pd.Timestamp(as_of).strftime("%Y-%m-%d"),
            "horizon_days": int(horizon_days),
            "model": model,
            "model_informative": bool(informative),
            "predicted_spend": scores["predicted_spend"].to_numpy(float),
            "spend_q10": scores["spend_q10"].to_numpy(float),
            "spend_q90": scores["spend_q90"].to_numpy(float),
            "p_no_purchase": scores["p_no_purchase"].to_numpy(float),
            "p_alive": scores["p_alive"].to_numpy(float),
            "p_no_purchase_90d": float("nan"),  # filled by helpers.apply.crm.finish_table
            "churn_risk": pd.array([pd.NA] * len(index), dtype="string"),
            "discounted_clv": float("nan"),
            "value_decile": deciles.reindex(index).to_numpy("int64"),
            "segment": segments.reindex(index).astype(str).to_numpy(),
            "action": actions["action"].reindex(index).to_numpy(),
            "expected_incremental_profit": actions["expected_incremental_profit"]
            .reindex(index)
            .to_numpy(float),
            "policy": policy,
            "action_reason": (
                actions["action_reason"].reindex(index).to_numpy()
                if "action_reason" in actions
                else ""
            ),
        }
    )
    for column in RHYTHM_COLUMNS:
        if column == "total_value":
            table[column] = table["predicted_spend"] + (
                history["historic_spend"].reindex(index).to_numpy(float)
                if history is not None
                else float("nan")
            )
        elif history is not None:
            table[column] = history[column].reindex(index).to_numpy()
        else:
            table[column] = float("nan")
    for i in (1, 2, 3):
        name, score = f"next_category_{i}", f"next_category_{i}_score"
        if categories is not None and name in categories:
            table[name] = categories[name].reindex(index).astype("string").to_numpy()
            table[score] = categories[score].reindex(index).to_numpy(float)
        else:
            table[name] = pd.array([pd.NA] * len(index), dtype="string")
            table[score] = float("nan")
    for col, (kind, _, _) in DICTIONARY.items():
        if kind in ("string", "date"):
            table[col] = table[col].astype("string")
        elif kind == "boolean":
            table[col] = table[col].astype("boolean")
    return table[list(COLUMNS)]


def dictionary_markdown(title: str = "Scored customers: data dictionary") -> str:
    """The data dictionary as a Markdown table (written beside the files)."""
    lines = [
        f"# {title}",
        "",
        "CSV: UTF-8, one header row, `,` separator, `.` decimals, dates `YYYY-MM-DD`,",
        "empty field = missing. Parquet holds the same rows with the same types.",
        "",
        "| column | type | unit | meaning |",
        "|---|---|---|---|",
    ]
    lines += [f"| `{c}` | {t} | {u} | {m} |" for c, (t, u, m) in DICTIONARY.items()]
    return "\n".join(lines) + "\n"


def write_scored(table: pd.DataFrame, folder: str | Path, stem: str = "customers") -> dict:
    """Write ``stem.parquet``, ``stem.csv`` and the dictionary; return the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "parquet": folder / f"{stem}.parquet",
        "csv": folder / f"{stem}.csv",
        "dictionary": folder / f"{stem}_dictionary.md",
        "dictionary_json": folder / f"{stem}_dictionary.json",
    }
    table.to_parquet(paths["parquet"], index=False)
    table.to_csv(paths["csv"], index=False, encoding="utf-8", float_format="%.10g")
    paths["dictionary"].write_text(dictionary_markdown(), encoding="utf-8")
    spec = {c: {"type": t, "unit": u, "meaning": m} for c, (t, u, m) in DICTIONARY.items()}
    paths["dictionary_json"].write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
    return paths


_PANDAS_TYPES = {
    "string": "string",
    "date": "string",
    "integer": "int64",
    "float": "float64",
    "boolean": "boolean",
}


def read_scored_csv(path: str | Path) -> pd.DataFrame:
    """Read the CSV back with the dictionary's types (no inference: ids stay strings)."""
    dtypes = {c: _PANDAS_TYPES[t] for c, (t, _, _) in DICTIONARY.items()}
    return pd.read_csv(path, dtype=dtypes, keep_default_na=False, na_values=[""])
