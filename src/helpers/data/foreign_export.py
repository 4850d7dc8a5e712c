"""A transaction export in a layout the study did not design, for testing the ``events`` path.

Real shops hand over order exports, not event logs. :func:`make_foreign_export` draws
one, seeded, with the quirks such files have:

* other column names: ``order_id, customer_email_hash, created_at_local, status,
  total_amount, currency, sku, category_name`` (one row per order);
* order statuses instead of event types: ``completed``, ``cancelled``, ``refunded`` and
  ``pending`` (the most recent orders, not yet settled);
* a ``currency`` column (one currency, ``EUR``, which the study does not need);
* local times with their UTC offset, ``"2024-03-01 14:05:00+01:00"`` (Europe/Berlin,
  so ``+01:00`` in winter and ``+02:00`` in summer);
* exactly three bad rows among the completed orders: one without a customer, one in
  year 2999 (a typo), one with an amount that is not a number (``"1.299,00"``).

Customers follow a simple buy-till-you-die process (gamma-distributed purchase rates,
exponential lifetimes, customer-level spend), so there is something to predict.

:data:`EVENTS_BLOCK` is the ``datasets.events`` block of ``params.yaml`` that reads such a
file (with ``path`` set), and :func:`expected_report` the counts its load must give.
Run ``python -m helpers.data.foreign_export OUT.csv [--seed N]`` to write one.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "COLUMNS",
    "EVENTS_BLOCK",
    "STATUS_SHARES",
    "expected_report",
    "make_foreign_export",
    "write_foreign_export",
]

COLUMNS: tuple[str, ...] = (
    "order_id",
    "customer_email_hash",
    "created_at_local",
    "status",
    "total_amount",
    "currency",
    "sku",
    "category_name",
)
#: Shares of the non-completed statuses (the rest is ``completed``); exact counts are
#: ``round(share * n_orders)``, pending ones being the most recent orders.
STATUS_SHARES: dict[str, float] = {"cancelled": 0.06, "refunded": 0.03, "pending": 0.01}
CATEGORIES: tuple[str, ...] = ("Garden", "Kitchen", "Toys", "Books", "Lighting", "Textiles")
TIME_ZONE = "Europe/Berlin"
BAD_AMOUNT = "1.299,00"

#: The ``datasets.events`` block of ``params.yaml`` for a foreign export (set ``path``).
EVENTS_BLOCK: dict[str, Any] = {
    "path": None,
    "mapping": {
        "user_id": "customer_email_hash",
        "ts": "created_at_local",
        "event_type": "status",
        "amount": "total_amount",
        "item_id": "sku",
        "category": "category_name",
    },
    "event_type_map": {
        "completed": "purchase",
        "cancelled": "drop",
        "refunded": "drop",
        "pending": "drop",
    },
    "default_event_type": None,
    "cutoff": None,
    "holdout_end": None,
}


def _local_text(stamps: pd.Series) -> pd.Series:
    """UTC instants as local wall-clock text with the offset, ``2024-03-01 14:05:00+01:00``."""
    local = stamps.dt.tz_convert(TIME_ZONE)
    text = local.dt.strftime("%Y-%m-%d %H:%M:%S%z")
    return text.str.replace(r"([+-]\d{2})(\d{2})$", r"\1:\2", regex=True)


def make_foreign_export(
    rng: np.random.Generator,
    n_customers: int = 2000,
    start: str = "2023-01-01",
    end: str = "2024-12-31",
) -> pd.DataFrame:
    """Draw an order export in the foreign layout (see the module docstring).

    Parameters
    ----------
    rng : numpy Generator
        The only source of randomness.
    n_customers : int
        Customers drawn; each has at least one order (their first, at acquisition).
    start, end : str
        First and last calendar day of the export (UTC days).

    Returns
    -------
    DataFrame
        :data:`COLUMNS`, all as text (as read from a CSV), ordered by time of order.
    """
    t0 = pd.Timestamp(start, tz="UTC")
    span = float((pd.Timestamp(end, tz="UTC") - t0).days + 1)
    birth = rng.uniform(0.0, 0.7 * span, n_customers)
    lifetime = rng.exponential(365.0, n_customers)
    rate = rng.gamma(0.9, 1 / 40.0, n_customers)  # orders per day while alive
    spend = rng.lognormal(3.6, 0.5, n_customers)  # customer's typical order value
    favourite = rng.integers(0, len(CATEGORIES), n_customers)
    stop = np.minimum(birth + lifetime, span)
    repeats = rng.poisson(rate * np.maximum(stop - birth, 0.0))
    customer = np.repeat(np.arange(n_customers), 1 + repeats)
    first = np.r_[0, np.cumsum(1 + repeats)[:-1]]
    day = rng.uniform(birth[customer], stop[customer])
    day[first] = birth  # the first order is the acquisition
    day = np.minimum(day, span - 1e-6)
    order = np.argsort(day, kind="stable")
    customer, day = customer[order], day[order]
    n = len(customer)

    amount = spend[customer] * rng.lognormal(0.0, 0.3, n)
    same = rng.random(n) < 0.7
    category = np.where(same, favourite[customer], rng.integers(0, len(CATEGORIES), n))
    stamps = pd.Series(t0 + pd.to_timedelta(np.round(day * 86_400), unit="s"))
    emails = [f"customer{i:05d}@example.org" for i in range(n_customers)]
    hashes = np.array([hashlib.sha256(e.encode()).hexdigest()[:32] for e in emails])

    status = np.full(n, "completed", dtype=object)
    counts = {label: round(share * n) for label, share in STATUS_SHARES.items()}
    status[n - counts["pending"] :] = "pending"
    open_rows = np.flatnonzero(status == "completed")
    chosen = rng.choice(open_rows, counts["cancelled"] + counts["refunded"], replace=False)
    status[chosen[: counts["cancelled"]]] = "cancelled"
    status[chosen[counts["cancelled"] :]] = "refunded"

    frame = pd.DataFrame(
        {
            "order_id": [f"SO-{100_000 + i}" for i in range(n)],
            "customer_email_hash": hashes[customer],
            "created_at_local": _local_text(stamps).to_numpy(),
            "status": status,
            "total_amount": [f"{a:.2f}" for a in amount],
            "currency": "EUR",
            "sku": [
                f"SKU-{c:02d}{k:03d}"
                for c, k in zip(category, rng.integers(0, 400, n), strict=True)
            ],
            "category_name": np.array(CATEGORIES)[category],
        }
    )
    bad = rng.choice(np.flatnonzero(status == "completed"), 3, replace=False)
    frame.loc[bad[0], "customer_email_hash"] = ""
    typo = "2999" + frame.loc[bad[1], "created_at_local"][4:]
    frame.loc[bad[1], "created_at_local"] = typo.replace("2999-02-29", "2999-02-28")
    frame.loc[bad[2], "total_amount"] = BAD_AMOUNT
    return frame[list(COLUMNS)]


def expected_report(frame: pd.DataFrame) -> dict[str, Any]:
    """Rows in, rows kept and drops by reason that loading ``frame`` with
    :data:`EVENTS_BLOCK` must report (computed from the frame's own columns)."""
    status = frame["status"]
    completed = status == "completed"
    missing = completed & (frame["customer_email_hash"] == "")
    year_2999 = completed & ~missing & frame["created_at_local"].str.startswith("2999")
    bad_amount = completed & ~missing & ~year_2999 & (frame["total_amount"] == BAD_AMOUNT)
    dropped = {
        "excluded_event_label": int((~completed).sum()),
        "missing_user": int(missing.sum()),
        "out_of_range_timestamp": int(year_2999.sum()),
        "unparseable_amount": int(bad_amount.sum()),
    }
    return {
        "rows_in": len(frame),
        "rows_kept": len(frame) - sum(dropped.values()),
        "dropped": dropped,
    }


def write_foreign_export(
    path: str | Path,
    rng: np.random.Generator,
    n_customers: int = 2000,
    start: str = "2023-01-01",
    end: str = "2024-12-31",
) -> pd.DataFrame:
    """Draw an export with :func:`make_foreign_export` and write it as CSV or Parquet.

    The format follows the suffix of ``path`` (``.parquet``: Parquet, else CSV).
    Returns the frame written.
    """
    frame = make_foreign_export(rng, n_customers=n_customers, start=start, end=end)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return frame


def main(argv: list[str] | None = None) -> int:
    """``python -m helpers.data.foreign_export OUT [--seed N] [--customers N]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", help="output file (.csv or .parquet)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--customers", type=int, default=2000)
    args = parser.parse_args(argv)
    frame = write_foreign_export(args.out, np.random.default_rng(args.seed), args.customers)
    expected = expected_report(frame)
    print(f"{args.out}: {len(frame):,} orders of {args.customers:,} customers; expected {expected}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
