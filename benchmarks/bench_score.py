"""Benchmark: stage 07's production scoring at scale (``python -m helpers score``'s code).

For each population size the script

1. **generates** a shopsim event log in a fresh subprocess, in chunks (the generator of
   ``bench_features.py``: unique user ids, one Parquet file; reused when present in
   ``--workdir``);
2. **scores** in another fresh subprocess: loads the Parquet file and runs
   :func:`helpers.apply.scoring.score_customers` as of the last day of data, exactly as
   stage 07 does: BTYD refits (``--btyd``), behaviour features as of ``as_of - H`` and as
   of ``as_of`` (DuckDB), four LightGBM boosters trained and applied.

It prints, per size, the wall time of every phase, the **scoring proper** (today's
features + predictions with the fitted models: what a nightly scoring job repeats) and
the **whole production run** (fitting included), customers/s for both, and the peak
resident set size of the scoring subprocess (``ru_maxrss``: sees DuckDB's and Arrow's
native memory, and includes the loaded event frame).

Usage::

    python benchmarks/bench_score.py --sizes 100000 1000000 --workdir /tmp/bench_score
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from _child import run_child

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_features import COLUMNS, generate

GiB = 1024**3
SCORE_COLUMNS = [*COLUMNS]


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def score(path: Path, as_of: str, horizon: int, model: str, btyd_models: list[str]) -> dict:
    import pandas as pd

    from helpers.apply.scoring import score_customers

    t0 = time.perf_counter()
    events = pd.read_parquet(path, columns=SCORE_COLUMNS)
    load_s = time.perf_counter() - t0
    result = score_customers(
        events, as_of, horizon, model, seed=42, btyd_models=btyd_models, progress=False
    )
    total = time.perf_counter() - t0 - load_s
    return {
        "events": len(events),
        "customers": len(result.scores),
        "load_s": load_s,
        "production_s": total,
        "scoring_s": result.scoring_seconds,
        "phases": {k: round(v, 2) for k, v in result.timings.items()},
        "peak_rss": _peak_rss(),
    }


def _child(args: list[str], timeout: float) -> dict:
    return run_child(__file__, args, timeout, env=dict(os.environ))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--chunk", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--as-of", default="2024-12-31", help="last day of shopsim data")
    parser.add_argument("--horizon", type=int, default=184, help="days (the study's holdout)")
    parser.add_argument("--model", default="gbdt")
    parser.add_argument("--btyd", nargs="+", default=["pareto_nbd", "bgnbd"])
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per child")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        mode, *rest = args.child
        if mode == "generate":
            n, chunk, seed, path = rest
            result = generate(int(n), int(chunk), int(seed), Path(path))
        else:
            path, as_of, horizon, model, *btyd_models = rest
            result = score(Path(path), as_of, int(horizon), model, btyd_models)
        print(json.dumps(result))
        return

    print(f"model={args.model}; BTYD refits: {args.btyd}; as_of={args.as_of}; H={args.horizon}")
    header = (
        f"{'customers':>10} {'events':>12} | {'scoring s':>9} {'cust/s':>9} |"
        f" {'production s':>12} {'cust/s':>9} | {'peak GiB':>8}"
    )
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.workdir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for n in args.sizes:
            path = folder / f"events_{n}_seed{args.seed}.parquet"
            sidecar = path.with_suffix(".json")
            if not (path.exists() and sidecar.exists()):
                gen = _child(
                    ["--child", "generate", str(n), str(args.chunk), str(args.seed), str(path)],
                    args.timeout,
                )
                sidecar.write_text(json.dumps(gen))
            res = _child(
                ["--child", "score", str(path), args.as_of, str(args.horizon), args.model,
                 *args.btyd],
                args.timeout,
            )  # fmt: skip
            c = res["customers"]
            print(
                f"{c:>10,} {res['events']:>12,} | {res['scoring_s']:>9.1f}"
                f" {c / res['scoring_s']:>9,.0f} | {res['production_s']:>12.1f}"
                f" {c / res['production_s']:>9,.0f} | {res['peak_rss'] / GiB:>8.2f}",
                flush=True,
            )
            print("  " + json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
