"""Benchmark: build time and peak memory of stage 03's feature builders.

For each population size the script

1. **generates** a shopsim event log in a fresh subprocess, in chunks of
   ``--chunk`` users (seeds ``seed + k``, user ids prefixed by the chunk number so they
   stay unique and sorted), written to one Parquet file (the canonical columns the
   features read: ``user_id, ts, event_type, category, amount, rating``);
2. **builds** in another fresh subprocess: passes the Parquet path (read out of core;
   ``--in-memory`` loads it into pandas first, the former way), then runs
   :func:`helpers.features.behaviour.behaviour_features` and
   :func:`helpers.features.sequences.build_sequences` (customers = users with a calibration
   purchase, ``--max-len`` events each) as stage 03 would.

Peak memory is the subprocess's peak resident set size (``ru_maxrss``), which, unlike
``tracemalloc``, sees DuckDB's and Arrow's native allocations; with ``--in-memory`` it includes the
loaded event frame (``rss_loaded``). ``benchmarks/bench_engines.py`` compares DuckDB
with Spark on the same files. Generation is reported apart from feature building.
``--arrow-pool`` picks Arrow's allocator for the children: the default (mimalloc in
these wheels) keeps freed pages, jemalloc returns them sooner, which lowers peak RSS.

Usage::

    python benchmarks/bench_features.py --sizes 100000 1000000
        [--json benchmarks/results/features.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

from _child import run_child
from _results import Recorder, add_json_option

COLUMNS = ["user_id", "ts", "event_type", "category", "amount", "rating"]
GiB = 1024**3


def _peak_rss() -> int:
    """Peak resident set size of this process in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _current_rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def generate(n_users: int, chunk: int, seed: int, path: Path) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from helpers.data.shopsim import ShopSimConfig, simulate_shop

    start = time.perf_counter()
    writer = None
    n_events = 0
    for k, lo in enumerate(range(0, n_users, chunk)):
        size = min(chunk, n_users - lo)
        events = simulate_shop(ShopSimConfig(n_users=size), seed=seed + k).events[COLUMNS]
        events["user_id"] = f"c{k:03d}_" + events["user_id"]
        table = pa.Table.from_pandas(events, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
        n_events += len(events)
        del events, table
    writer.close()
    return {
        "users": n_users,
        "events": n_events,
        "generate_s": time.perf_counter() - start,
        "generate_peak_rss": _peak_rss(),
        "parquet_bytes": path.stat().st_size,
    }


def build(path: Path, as_of: str, max_len: int, in_memory: bool = False) -> dict:
    import pandas as pd
    import pyarrow.parquet as pq

    from helpers.features.behaviour import behaviour_features
    from helpers.features.sequences import build_sequences

    out: dict = {}
    t0 = time.perf_counter()
    # default: the builders read the Parquet file out of core; --in-memory loads it first
    events = pd.read_parquet(path, columns=COLUMNS) if in_memory else path
    t1 = time.perf_counter()
    n_events = len(events) if in_memory else pq.ParquetFile(path).metadata.num_rows
    out.update(load_s=t1 - t0, events=n_events, rss_loaded=_current_rss())
    features = behaviour_features(events, pd.Timestamp(as_of, tz="UTC"))
    t2 = time.perf_counter()
    out.update(features_s=t2 - t1, customers=len(features), n_features=features.shape[1])
    out["peak_rss_features"] = _peak_rss()
    batch = build_sequences(events, pd.Timestamp(as_of, tz="UTC"), max_len, features.index)
    t3 = time.perf_counter()
    out.update(sequences_s=t3 - t2, sequence_events=int(batch.lengths.sum()))
    out["peak_rss"] = _peak_rss()
    return out


def _child(args: list[str], timeout: float, pool: str) -> dict:
    env = dict(os.environ)
    if pool != "default":
        env["ARROW_DEFAULT_MEMORY_POOL"] = pool
    return run_child(__file__, args, timeout, env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--chunk", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--max-len", type=int, default=50)
    parser.add_argument("--as-of", default="2024-07-01", help="shopsim calibration_end")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per child")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--arrow-pool",
        default="default",
        choices=["default", "jemalloc", "mimalloc", "system"],
        help="Arrow memory pool of the children (ARROW_DEFAULT_MEMORY_POOL)",
    )
    parser.add_argument(
        "--in-memory", action="store_true", help="load the events into pandas first"
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    add_json_option(parser, "features")
    args = parser.parse_args()

    if args.child:
        mode, *rest = args.child
        if mode == "generate":
            n, chunk, seed, path = rest
            result = generate(int(n), int(chunk), int(seed), Path(path))
        else:
            path, as_of, max_len, in_memory = rest
            result = build(Path(path), as_of, int(max_len), in_memory == "1")
        print(json.dumps(result))
        return

    recorder = Recorder("features", args)
    rows = []
    header = (
        f"{'users':>10} {'events':>12} {'gen s':>7} {'gen GiB':>8} | {'load s':>7}"
        f" {'feat s':>7} {'seq s':>7} {'build s':>8} {'events/s':>11}"
        f" {'loaded GiB':>10} {'peak GiB':>9}"
    )
    print(f"Arrow memory pool: {args.arrow_pool}; max_len={args.max_len}; as_of={args.as_of}")
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.workdir or Path(tmp)  # --workdir keeps the logs for re-runs
        for n in args.sizes:
            path = folder / f"events_{n}_seed{args.seed}.parquet"
            sidecar = path.with_suffix(".json")
            if path.exists() and sidecar.exists():
                gen = json.loads(sidecar.read_text())
            else:
                gen = _child(
                    ["--child", "generate", str(n), str(args.chunk), str(args.seed), str(path)],
                    args.timeout,
                    "default",
                )
                sidecar.write_text(json.dumps(gen))
            res = _child(
                [
                    "--child",
                    "build",
                    str(path),
                    args.as_of,
                    str(args.max_len),
                    "1" if args.in_memory else "0",
                ],
                args.timeout,
                args.arrow_pool,
            )
            build_s = res["features_s"] + res["sequences_s"]
            print(
                f"{n:>10,} {res['events']:>12,} {gen['generate_s']:>7.1f}"
                f" {gen['generate_peak_rss'] / GiB:>8.2f} | {res['load_s']:>7.1f}"
                f" {res['features_s']:>7.1f} {res['sequences_s']:>7.1f} {build_s:>8.1f}"
                f" {res['events'] / build_s:>11,.0f} {res['rss_loaded'] / GiB:>10.2f}"
                f" {res['peak_rss'] / GiB:>9.2f}",
                flush=True,
            )
            print("  " + json.dumps({**gen, **res}), flush=True)
            rows.append(
                {
                    "users": n,
                    "events": res["events"],
                    "features_s": round(res["features_s"], 2),
                    "sequences_s": round(res["sequences_s"], 2),
                    "build_s": round(build_s, 2),
                    "events_per_s": round(res["events"] / build_s),
                    "peak_gib": round(res["peak_rss"] / GiB, 3),
                }
            )
    last = rows[-1]
    recorder.write(
        f"{last['users']:,} users, {last['events']:,} events: features {last['features_s']:.1f} s"
        f" + sequences {last['sequences_s']:.1f} s = {last['build_s']:.1f} s, "
        f"{last['events_per_s']:,} events/s, peak {last['peak_gib']:.2f} GiB",
        {"rows": rows},
    )


if __name__ == "__main__":
    main()
