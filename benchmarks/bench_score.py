"""Benchmark: stage 07's production scoring at scale, fit once, score in batches.

For each population size the script runs, each step in a fresh subprocess (so its peak
resident set size, ``ru_maxrss``, is its own and sees DuckDB's and Arrow's memory):

1. **generate** a shopsim event log in chunks of ``--chunk`` users (the generator of
   ``bench_features.py``: unique user ids, one Parquet file; reused when present in
   ``--workdir``);
2. **fit** the production model once on a sample: the events of the first
   ``--fit-users`` users (default: the first generated chunk), with
   :func:`helpers.apply.scoring.score_customers` as stage 07 does (BTYD refits, features
   as of ``as_of - H``, four LightGBM boosters), saved as one JSON artifact
   (:class:`helpers.apply.batch.ProductionModel`). Not part of the scoring time;
3. **features**: today's inputs of *every* customer, out of core from the Parquet file
   (:func:`helpers.apply.batch.scoring_inputs`: the BTYD summary and the behaviour
   features on DuckDB, written to one Parquet file);
4. **score**: :func:`helpers.apply.batch.score_in_batches` reads that file in record
   batches of ``--batch`` rows, scores each with the saved model and appends it to the
   output Parquet file: memory follows the batch.

It prints per size the seconds of every step, **scoring with features** (3 + 4: what a
nightly job repeats), customers/s, and
each step's peak memory, and writes them to ``--json`` (default
``benchmarks/results/score.json``) with how they were taken.

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
from _results import Recorder, add_json_option

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_features import COLUMNS, generate

GiB = 1024**3
SCORE_COLUMNS = [*COLUMNS]


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def fit(path: Path, users: int, as_of: str, horizon: int, model: str, out: Path) -> dict:
    import duckdb

    from helpers.apply.batch import ProductionModel
    from helpers.apply.scoring import score_customers

    t0 = time.perf_counter()
    source = f"read_parquet('{path}')"
    with duckdb.connect() as con:  # the sample, the first users by id, read out of core
        con.execute("SET threads = 2")
        events = (
            con.execute(
                f"SELECT {', '.join(SCORE_COLUMNS)} FROM {source} WHERE user_id IN "
                f"(SELECT DISTINCT user_id FROM {source} ORDER BY user_id LIMIT {int(users)})"
            )
            .to_arrow_table()
            .to_pandas()
        )
    events["ts"] = events["ts"].dt.tz_convert("UTC")
    ids = events["user_id"].unique()
    load_s = time.perf_counter() - t0
    result = score_customers(events, as_of, horizon, model, seed=42, progress=False)
    ProductionModel.from_result(result).save(out)
    return {
        "fit_users": len(ids),
        "fit_events": len(events),
        "load_s": load_s,
        "fit_s": time.perf_counter() - t0 - load_s,
        "peak_rss": _peak_rss(),
    }


def features(path: Path, as_of: str, horizon: int, out: Path, threads: int) -> dict:
    from helpers.apply.batch import scoring_inputs

    t0 = time.perf_counter()
    timings = scoring_inputs(path, as_of, horizon, out, threads=threads or None)
    return {**timings, "inputs_s": time.perf_counter() - t0, "peak_rss": _peak_rss()}


def score(model_file: Path, inputs: Path, out: Path, batch: int) -> dict:
    from helpers.apply.batch import ProductionModel, score_in_batches

    t0 = time.perf_counter()
    n = score_in_batches(ProductionModel.load(model_file), inputs, out, batch, progress=False)
    return {"scored": n, "score_s": time.perf_counter() - t0, "peak_rss": _peak_rss()}


def actions(model_file: Path, inputs: Path, policy: Path, params: Path, out: Path) -> dict:
    """This month's actions of stage 05's recommended policy for every scored customer.

    Stage 07's own code (:func:`helpers.apply.actions.recommend_actions`): the BTYD
    summary of the inputs file, the saved fits, the ``rl`` block and ``rl_policy.json``
    of the study beside ``params`` (whose stage 05 wrote ``policy``); one contact budget
    over all customers.
    """
    import pandas as pd
    import yaml

    from helpers.apply.actions import recommend_actions
    from helpers.apply.batch import SUMMARY_COLUMNS, ProductionModel
    from helpers.models import btyd

    t0 = time.perf_counter()
    model = ProductionModel.load(model_file)
    fits = {k: btyd.BTYDFit.from_dict(v) for k, v in model.btyd_fits.items()}
    summary = pd.read_parquet(inputs, columns=["user_id", *SUMMARY_COLUMNS]).set_index("user_id")
    summary.attrs["time_unit_days"] = model.time_unit_days
    knobs = yaml.safe_load(params.read_text())
    rl_file = params.resolve().parent / knobs["base"]["paths"]["metrics"] / "rl_policy.json"
    rl_summary = json.loads(rl_file.read_text()) if rl_file.is_file() else None
    plan = recommend_actions(summary, fits, knobs["rl"], 42, rl_summary, policy_file=policy)
    plan.table.reset_index().to_parquet(out, index=False)
    return {
        "actions_s": time.perf_counter() - t0,
        "policy": plan.policy,
        "policy_reason": plan.policy_reason,
        "contacted": int((plan.table["action"] != "none").sum()),
        "peak_rss": _peak_rss(),
    }


def _child(args: list[str], timeout: float) -> dict:
    return run_child(__file__, args, timeout, env=dict(os.environ))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--chunk", type=int, default=100_000)
    parser.add_argument("--fit-users", type=int, default=100_000, help="users of the fit sample")
    parser.add_argument("--batch", type=int, default=200_000, help="rows per scoring batch")
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads (0: all)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--as-of", default="2024-12-31", help="last day of shopsim data")
    parser.add_argument("--horizon", type=int, default=184, help="days (the study's holdout)")
    parser.add_argument("--model", default="gbdt")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per child")
    parser.add_argument(
        "--policy",
        type=Path,
        default=Path("data/processed/rl/recommended_policy.pkl"),
        help="stage 05's recommended policy (a built study); missing: actions are skipped",
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    add_json_option(parser, "score")
    args = parser.parse_args()

    if args.child:
        mode, *rest = args.child
        if mode == "generate":
            n, chunk, seed, path = rest
            result = generate(int(n), int(chunk), int(seed), Path(path))
        elif mode == "fit":
            path, users, as_of, horizon, model, out = rest
            result = fit(Path(path), int(users), as_of, int(horizon), model, Path(out))
        elif mode == "features":
            path, as_of, horizon, out, threads = rest
            result = features(Path(path), as_of, int(horizon), Path(out), int(threads))
        elif mode == "actions":
            model_file, inputs, policy, params, out = rest
            result = actions(Path(model_file), Path(inputs), Path(policy), Path(params), Path(out))
        else:
            model_file, inputs, out, batch = rest
            result = score(Path(model_file), Path(inputs), Path(out), int(batch))
        print(json.dumps(result))
        return

    recorder = Recorder("score", args)
    rows = []
    print(
        f"model={args.model}, fitted on the first {args.fit_users:,} users; as_of={args.as_of}; "
        f"H={args.horizon}; batches of {args.batch:,}; DuckDB threads {args.threads or 'all'}"
    )
    header = (
        f"{'customers':>10} {'events':>12} | {'fit s':>6} | {'features s':>10} {'GiB':>5} |"
        f" {'score s':>7} {'GiB':>5} | {'actions s':>9} {'GiB':>5} |"
        f" {'features+score+actions s':>24} {'cust/s':>8}"
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
            gen = json.loads(sidecar.read_text())
            model_file = folder / f"model_{n}.json"
            inputs, out = folder / f"inputs_{n}.parquet", folder / f"scores_{n}.parquet"
            fitted = _child(
                ["--child", "fit", str(path), str(args.fit_users), args.as_of, str(args.horizon),
                 args.model, str(model_file)],
                args.timeout,
            )  # fmt: skip
            feats = _child(
                ["--child", "features", str(path), args.as_of, str(args.horizon), str(inputs),
                 str(args.threads)],
                args.timeout,
            )  # fmt: skip
            scored = _child(
                ["--child", "score", str(model_file), str(inputs), str(out), str(args.batch)],
                args.timeout,
            )  # fmt: skip
            acted = {"actions_s": 0.0, "peak_rss": 0, "policy": None}
            if args.policy.is_file():
                acted = _child(
                    ["--child", "actions", str(model_file), str(inputs),
                     str(args.policy.resolve()), str(args.params.resolve()),
                     str(folder / f"actions_{n}.parquet")],
                    args.timeout,
                )  # fmt: skip
            c = scored["scored"]
            total = feats["inputs_s"] + scored["score_s"] + acted["actions_s"]
            print(
                f"{c:>10,} {gen['events']:>12,} | {fitted['fit_s']:>6.1f} |"
                f" {feats['inputs_s']:>10.1f} {feats['peak_rss'] / GiB:>5.2f} |"
                f" {scored['score_s']:>7.1f} {scored['peak_rss'] / GiB:>5.2f} |"
                f" {acted['actions_s']:>9.1f} {acted['peak_rss'] / GiB:>5.2f} |"
                f" {total:>24.1f} {c / total:>8,.0f}",
                flush=True,
            )
            detail = {
                "generate": gen, "fit": fitted, "features": feats, "score": scored,
                "actions": acted,
            }  # fmt: skip
            print("  " + json.dumps(detail), flush=True)
            rows.append(
                {
                    "users": n,
                    "events": gen["events"],
                    "customers": c,
                    "fit_s": round(fitted["fit_s"], 2),
                    "features_s": round(feats["inputs_s"], 2),
                    "features_peak_gib": round(feats["peak_rss"] / GiB, 3),
                    "score_s": round(scored["score_s"], 2),
                    "score_peak_gib": round(scored["peak_rss"] / GiB, 3),
                    "actions_s": round(acted["actions_s"], 2),
                    "actions_peak_gib": round(acted["peak_rss"] / GiB, 3),
                    "policy": acted["policy"],
                    "features_score_actions_s": round(total, 2),
                    "customers_per_s": round(c / total),
                }
            )
    last = rows[-1]
    recorder.write(
        f"{last['customers']:,} customers ({last['events']:,} events), model {args.model}: "
        f"today's inputs {last['features_s']:.1f} s (peak {last['features_peak_gib']:.2f} GiB), "
        f"scoring {last['score_s']:.1f} s (peak {last['score_peak_gib']:.2f} GiB), "
        f"actions of {last['policy'] or 'no policy (none given)'} {last['actions_s']:.1f} s "
        f"(peak {last['actions_peak_gib']:.2f} GiB), "
        f"{last['customers_per_s']:,} customers/s; the fit, once, {last['fit_s']:.1f} s",
        {"rows": rows},
    )


if __name__ == "__main__":
    main()
