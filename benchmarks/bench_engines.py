"""Benchmark: stage 03 on DuckDB (out of core) against Spark ``local[2]``, same Parquet file.

For each population size the script

1. **generates** a shopsim event log once, in chunks of ``--chunk`` users, straight to
   one Parquet file (:func:`bench_features.generate`; reused from ``--workdir``);
2. runs, each in a fresh subprocess,

   * ``duckdb``: :func:`helpers.features.behaviour.behaviour_features` and
     :func:`helpers.features.sequences.build_sequences` reading the Parquet **path**
     (out of core; nothing loads the event table into pandas), then the holdout
     targets and the BTYD summary (:mod:`helpers.engines.targets`,
     :func:`helpers.models.btyd.btyd_summary`) on the same file;
   * ``spark``: the same behaviour features, targets and BTYD summary from the same SQL
     on a Spark ``local[2]`` session (sequences stay on DuckDB in every configuration).

Wall times are per step; CPU seconds (user + system, the JVM included) are reported
too, as they depend less on how busy a shared machine is. **Peak memory** is sampled
every 0.1 s as the resident set size of the subprocess *plus all its children* (the
Spark JVM is one), and also taken from ``ru_maxrss``; the table shows the sampled peak.
Results are printed as a table and saved as JSON (``--out``), with the load average
before and after each run: quote it with any figure.

Usage::

    python benchmarks/bench_engines.py --users 100000 1000000 [3000000]
        [--json benchmarks/results/engines.json]

``--out`` keeps every raw measurement (default in ``--workdir``); ``--json`` the figures
``docs/benchmarks.md`` shows, with how they were taken.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import threading
import time
from pathlib import Path

from _child import run_child
from _results import Recorder, add_json_option

sys.path.insert(0, str(Path(__file__).parent))

GiB = 1024**3


class PeakRSS:
    """Samples the RSS of this process and its descendants in a background thread."""

    def __init__(self, interval: float = 0.1) -> None:
        import psutil

        self._proc = psutil.Process()
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of this process and its live descendants so far."""
        total = 0.0
        for proc in [self._proc, *self._proc.children(recursive=True)]:
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except Exception:
                pass
        return total

    def _sample(self) -> int:
        total = 0
        for proc in [self._proc, *self._proc.children(recursive=True)]:
            try:
                total += proc.memory_info().rss
            except Exception:  # a child that just exited
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            time.sleep(self.interval)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._sample())


def run_engine(engine: str, path: Path, as_of: str, max_len: int, conf: dict) -> dict:
    import pandas as pd

    from helpers.data.split import Split
    from helpers.engines.targets import make_targets
    from helpers.features.behaviour import behaviour_features
    from helpers.features.sequences import build_sequences
    from helpers.models.btyd import btyd_summary

    as_of_ts = pd.Timestamp(as_of, tz="UTC")
    split = Split(calibration_end=as_of_ts, holdout_end=as_of_ts + pd.Timedelta(days=184))
    out: dict = {"engine": engine}
    with PeakRSS() as total:
        session = None
        t0 = time.perf_counter()
        if engine == "spark":
            from helpers.engines.spark import spark_session

            session = spark_session(**conf)
        t1 = time.perf_counter()
        c1 = total.cpu_seconds()
        features = behaviour_features(path, as_of_ts, engine=engine, spark=session)
        t2 = time.perf_counter()
        out["features_cpu_s"] = total.cpu_seconds() - c1
        out.update(startup_s=t1 - t0, features_s=t2 - t1, customers=len(features))
        out["n_features"] = features.shape[1]
        if engine == "duckdb":
            batch = build_sequences(path, as_of_ts, max_len, features.index)
            out["sequence_events"] = int(batch.lengths.sum())
            del batch
        t3 = time.perf_counter()
        out["sequences_s"] = t3 - t2
        out["features_sequences_cpu_s"] = total.cpu_seconds() - c1
        out["peak_rss_features_sequences"] = total.peak
        targets = make_targets(path, split, engine=engine, spark=session)
        t4 = time.perf_counter()
        summary = btyd_summary(
            path, split.cutoff, split.last_holdout_day, engine=engine, spark=session
        )
        t5 = time.perf_counter()
        out.update(targets_s=t4 - t3, btyd_summary_s=t5 - t4, btyd_customers=len(summary))
        out["target_customers"] = len(targets)
        out["all_cpu_s"] = total.cpu_seconds() - c1
        if session is not None:
            session.stop()
    out["peak_rss"] = total.peak
    out["ru_maxrss_self"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return out


def _child(args: list[str], timeout: float) -> dict:
    return run_child(__file__, args, timeout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--engines", nargs="+", default=["duckdb", "spark"])
    parser.add_argument("--chunk", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--max-len", type=int, default=50)
    parser.add_argument("--as-of", default="2024-07-01", help="shopsim calibration_end")
    parser.add_argument("--spark-master", default="local[2]")
    parser.add_argument("--spark-shuffle-partitions", type=int, default=16)
    parser.add_argument("--spark-driver-memory", default="4g")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per child")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench_engines"))
    parser.add_argument("--out", type=Path, default=None, help="JSON (default workdir)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    add_json_option(parser, "engines")
    args = parser.parse_args()
    conf = {
        "master": args.spark_master,
        "shuffle_partitions": args.spark_shuffle_partitions,
        "driver_memory": args.spark_driver_memory,
    }

    if args.child:
        mode, *rest = args.child
        if mode == "generate":
            from bench_features import generate

            n, chunk, seed, path = rest
            result = generate(int(n), int(chunk), int(seed), Path(path))
        else:
            path, as_of, max_len = rest
            result = run_engine(mode, Path(path), as_of, int(max_len), conf)
        print(json.dumps(result))
        return

    recorder = Recorder("engines", args)
    args.workdir.mkdir(parents=True, exist_ok=True)
    out_path = args.out or args.workdir / "bench_engines.json"
    header = (
        f"{'users':>10} {'events':>12} {'engine':>7} | {'start s':>7} {'feat s':>7}"
        f" {'seq s':>6} {'f+s s':>6} {'f+s GiB':>7} | {'targ s':>6} {'btyd s':>6}"
        f" {'peak GiB':>8} {'f+s CPU s':>9}"
    )
    print(f"max_len={args.max_len}; as_of={args.as_of}; spark={conf}; load {os.getloadavg()}")
    print(header)
    print("-" * len(header))
    results = []
    for n in args.users:
        path = args.workdir / f"events_{n}_seed{args.seed}.parquet"
        sidecar = path.with_suffix(".json")
        if path.exists() and sidecar.exists():
            gen = json.loads(sidecar.read_text())
        else:
            gen = _child(
                ["--child", "generate", str(n), str(args.chunk), str(args.seed), str(path)],
                args.timeout,
            )
            sidecar.write_text(json.dumps(gen))
        for engine in args.engines:
            load_before = os.getloadavg()
            spark_args = [
                f"--spark-master={args.spark_master}",
                f"--spark-shuffle-partitions={args.spark_shuffle_partitions}",
                f"--spark-driver-memory={args.spark_driver_memory}",
            ]
            res = _child(
                [*spark_args, "--child", engine, str(path), args.as_of, str(args.max_len)],
                args.timeout,
            )
            res.update(users=n, events=gen["events"], load_before=load_before)
            res["load_after"] = os.getloadavg()
            results.append(res)
            fs = res["features_s"] + res["sequences_s"]
            print(
                f"{n:>10,} {gen['events']:>12,} {engine:>7} | {res['startup_s']:>7.1f}"
                f" {res['features_s']:>7.1f} {res['sequences_s']:>6.1f} {fs:>6.1f}"
                f" {res['peak_rss_features_sequences'] / GiB:>7.2f} | {res['targets_s']:>6.1f}"
                f" {res['btyd_summary_s']:>6.1f} {res['peak_rss'] / GiB:>8.2f}"
                f" {res['features_sequences_cpu_s']:>9.1f}",
                flush=True,
            )
            out_path.write_text(json.dumps(results, indent=2))
    print(f"saved {out_path}")
    rows = [
        {
            "users": r["users"],
            "events": r["events"],
            "engine": r["engine"],
            "startup_s": round(r["startup_s"], 2),
            "features_s": round(r["features_s"], 2),
            "sequences_s": round(r["sequences_s"], 2),
            "targets_s": round(r["targets_s"], 2),
            "btyd_summary_s": round(r["btyd_summary_s"], 2),
            "peak_gib": round(r["peak_rss"] / GiB, 3),
        }
        for r in results
    ]
    largest = [r for r in rows if r["users"] == max(args.users)]
    recorder.write(
        f"{largest[0]['users']:,} users, {largest[0]['events']:,} events: "
        + "; ".join(
            f"{r['engine']} features {r['features_s']:.1f} s, targets {r['targets_s']:.1f} s, "
            f"BTYD summary {r['btyd_summary_s']:.1f} s, peak {r['peak_gib']:.2f} GiB"
            for r in largest
        ),
        {"rows": rows},
    )


if __name__ == "__main__":
    main()
