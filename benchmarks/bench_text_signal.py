"""Benchmark: cost of one world of the satisfaction-signal sweep (notebook 06b).

Times :func:`helpers.studies.text_signal.sweep.sweep_point` for the study's shop at two
strengths ``s`` (``kappa = s``, ``churn_trigger = 3 s``, the defaults of notebook 06b:
3 folds, the ``text_compact`` candidate), first with an empty embedding cache and then
again with the cache the first runs filled, in this one process. Thanks to the
simulator's common random numbers the second strength re-uses most texts of the first
even with a "cold" cache; the ratio
warm / cold is the share of a world's cost that is not embedding. CPU time of the
process is reported next to wall time (less disturbed by other work on a shared
machine; the embedding and LightGBM threads all count). Report the load average.

Usage::

    HF_HUB_OFFLINE=1 python benchmarks/bench_text_signal.py [--customers 4000]
        [--json benchmarks/results/text_signal.json]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from _results import Recorder, add_json_option

from helpers.features import text as text_features
from helpers.features.text_encoder import EmbeddingCache, TextEncoder, embed_texts
from helpers.studies.text_signal.settings import SweepInputs, SweepSettings
from helpers.studies.text_signal.sweep import sweep_point


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=4000)
    parser.add_argument("--n-boot", type=int, default=200)
    parser.add_argument("--strengths", type=float, nargs="+", default=[1.0, 3.0])
    parser.add_argument("--trigger-per-kappa", type=float, default=3.0)
    parser.add_argument("--folds", type=int, default=3)
    add_json_option(parser, "text_signal")
    args = parser.parse_args()
    recorder = Recorder("text_signal", args)
    rows = []
    shop = {"n_users": 20_000}
    # 8 embedding dimensions and LightGBM's own defaults keep the figures comparable over time
    settings = SweepSettings(
        seed=42,
        n_customers=args.customers,
        n_folds=args.folds,
        n_boot=args.n_boot,
        sentiment_c=0.1,
        n_components=8,
        candidates=("text_compact",),
        replicates=0,
        gbdt={},
    )
    encoder = TextEncoder(None, show_progress=False)
    print(f"load average at start: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as folder:
        cache = EmbeddingCache(folder)
        embedded = []
        described = [s for pair in text_features.ASPECT_DESCRIPTIONS.values() for s in pair]

        def embed(texts: list[str]):
            vectors, info = embed_texts(encoder, texts, cache=cache)
            embedded.append(info["embedded"])
            return vectors

        for label in ("cold cache", "warm cache"):
            for kappa in args.strengths:
                wall, cpu = time.perf_counter(), time.process_time()
                world = {**shop, "churn_trigger": args.trigger_per_kappa * kappa}
                aspects, _ = embed_texts(encoder, described, cache=cache)
                inputs = SweepInputs(embed, aspect_vectors=aspects)
                row = sweep_point(kappa, world, settings, inputs)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                print(
                    f"{label}, kappa={kappa}: {wall:.1f} s wall, {cpu:.1f} s CPU, "
                    f"{embedded[-1]} texts embedded, {row['n_customers']} customers, "
                    f"ceiling {row['gain_satisfaction']:+.4f}, text {row['gain_text']:+.4f}, "
                    f"compact {row['gain_text_compact']:+.4f}"
                )
                rows.append(
                    {
                        "cache": label,
                        "kappa": kappa,
                        "wall_s": round(wall, 2),
                        "cpu_s": round(cpu, 2),
                        "texts_embedded": embedded[-1],
                        "customers": row["n_customers"],
                    }
                )
    print(f"load average at end: {os.getloadavg()}")
    cold = [r for r in rows if r["cache"] == "cold cache"]
    warm = [r for r in rows if r["cache"] == "warm cache"]
    recorder.write(
        f"one sweep world of {args.customers:,} customers: "
        + ", ".join(f"kappa {r['kappa']:g} {r['wall_s']:.1f} s" for r in cold)
        + " with an empty embedding cache; "
        + ", ".join(f"kappa {r['kappa']:g} {r['wall_s']:.1f} s" for r in warm)
        + " with the cache warm",
        {"rows": rows},
    )


if __name__ == "__main__":
    main()
