"""The small example event file shipped with the study: the default ``datasets.events.path``.

``builtin/example_events.parquet`` holds the canonical events (views, carts, purchases,
reviews) of 300 simulated users (:mod:`helpers.data.shopsim`, seed 42), in the layout the
default ``datasets.events`` block of ``params.yaml`` reads. It exists so that the file
named by that param exists (``dvc.yaml`` lists it as a dependency of stage 01) and so
that ``base.dataset: events`` runs out of the box; point ``path`` at your own file
(``docs/your_data.md``). Rebuild it with ``python -m helpers.data.example``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from helpers.data.shopsim import ShopSimConfig, simulate_shop

__all__ = ["EXAMPLE_EVENTS", "make_example_events"]

EXAMPLE_EVENTS = Path(__file__).resolve().parent / "builtin" / "example_events.parquet"


def make_example_events(n_users: int = 300, seed: int = 42) -> pd.DataFrame:
    """Canonical events of ``n_users`` simulated users (shopsim's defaults otherwise)."""
    return simulate_shop(ShopSimConfig(n_users=n_users), seed=seed).events


def main(argv: list[str] | None = None) -> int:
    """``python -m helpers.data.example [OUT] [--users N] [--seed N]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", nargs="?", default=str(EXAMPLE_EVENTS))
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    events = make_example_events(args.users, args.seed)
    events.to_parquet(args.out, index=False)
    print(f"{args.out}: {len(events):,} events of {events['user_id'].nunique():,} users")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
