"""Benchmark: texts/second of ``TextEncoder.encode`` vs sentence-transformers, and the cache.

Both paths embed the same shopsim review texts with the same model (bundled
all-MiniLM-L6-v2 by default), batch size and maximum length, in this one process. Each
is warmed up first; then the runs alternate (ours, theirs, theirs, ours, ...) so drifts
in machine load hit both alike, and the median of ``--runs`` runs is reported, in wall
time and in CPU time of the process (the latter is less disturbed by other work on a
shared machine). Then
``embed_texts`` is timed with an empty on-disk cache and again with the warm cache.

Usage::

    HF_HUB_OFFLINE=1 python benchmarks/bench_text_embedding.py [--n 2000] [--batch-size auto]
        [--json benchmarks/results/text_embedding.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import torch
from _results import Recorder, add_json_option

from helpers.data.shopsim import ShopSimConfig, simulate_shop
from helpers.features.text_encoder import EmbeddingCache, TextEncoder, embed_texts


def review_texts(n: int, seed: int) -> list[str]:
    """The first ``n`` review texts of a shopsim run large enough to hold them."""
    users = max(200, int(n * 0.8))
    while True:
        events = simulate_shop(ShopSimConfig(n_users=users), seed).events
        texts = events.loc[events["event_type"] == "review", "text"].tolist()
        if len(texts) >= n:
            return texts[:n]
        users *= 2


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="number of review texts")
    parser.add_argument(
        "--batch-size",
        type=lambda v: v if v == "auto" else int(v),
        default="auto",
        help="texts per pass, both paths (auto: our encoder's default for the device)",
    )
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--runs", type=int, default=3, help="timed runs per path (>= 3)")
    parser.add_argument("--model", default=None, help="model folder (default: bundled)")
    parser.add_argument("--device", default=None, help="cpu / cuda (default: automatic)")
    parser.add_argument("--seed", type=int, default=0)
    add_json_option(parser, "text_embedding")
    args = parser.parse_args(argv)
    recorder = Recorder("text_embedding", args)
    runs = max(3, args.runs)

    from sentence_transformers import SentenceTransformer

    texts = review_texts(args.n, args.seed)
    ours = TextEncoder(
        args.model, args.device, args.batch_size, args.max_length, show_progress=False
    )
    args.batch_size = ours.batch_size  # "auto" resolved: sentence-transformers gets the same
    theirs = SentenceTransformer(str(ours.path), device=str(ours.device))
    theirs.max_seq_length = ours.max_length

    def run_ours() -> np.ndarray:
        return ours.encode(texts)

    def run_theirs() -> np.ndarray:
        return theirs.encode(
            texts,
            batch_size=args.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )

    def timed(fn) -> tuple[float, float, np.ndarray]:
        """Wall seconds, CPU seconds of this process (all threads) and the output."""
        if ours.device.type == "cuda":
            torch.cuda.synchronize()
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        if ours.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0, time.process_time() - c0, out

    print(
        f"{len(texts)} shopsim review texts (mean {np.mean([len(t) for t in texts]):.0f} "
        f"chars), model {ours.name}, device {ours.device}, batch {args.batch_size}, "
        f"max_length {ours.max_length}, torch threads {torch.get_num_threads()}, "
        f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}"
    )
    warm = texts[: 2 * args.batch_size]
    ours.encode(warm)
    theirs.encode(warm, batch_size=args.batch_size, show_progress_bar=False)

    times: dict[str, list[float]] = {"TextEncoder.encode": [], "SentenceTransformer.encode": []}
    cpu: dict[str, list[float]] = {name: [] for name in times}
    a = b = None
    for r in range(runs):
        order = [("TextEncoder.encode", run_ours), ("SentenceTransformer.encode", run_theirs)]
        for name, fn in order if r % 2 == 0 else order[::-1]:
            seconds, cpu_seconds, out = timed(fn)
            times[name].append(seconds)
            cpu[name].append(cpu_seconds)
            if name.startswith("Text"):
                a = out
            else:
                b = out
    cosine = float(np.min(np.sum(a * b, axis=1) / np.linalg.norm(b, axis=1)))

    print(
        f"\n{'path':<28}{'median s':>10}{'texts/s':>10}{'min/s':>9}{'max/s':>9}{'texts/CPU-s':>13}"
    )
    rate = {}
    for name, ts in times.items():
        med = statistics.median(ts)
        rate[name] = len(texts) / med
        print(
            f"{name:<28}{med:>10.2f}{rate[name]:>10.0f}"
            f"{len(texts) / max(ts):>9.0f}{len(texts) / min(ts):>9.0f}"
            f"{len(texts) / statistics.median(cpu[name]):>13.0f}"
        )
    ratio = rate["TextEncoder.encode"] / rate["SentenceTransformer.encode"]
    pairs = [t / o for o, t in zip(*times.values(), strict=True)]  # run-by-run, back to back
    print(f"ratio TextEncoder / sentence-transformers: {ratio:.2f}x")
    print(
        f"paired ratios (each run vs its neighbour): "
        f"{', '.join(f'{p:.2f}' for p in pairs)}; median {statistics.median(pairs):.2f}x"
    )
    cpu_ratio = statistics.median(cpu["SentenceTransformer.encode"]) / statistics.median(
        cpu["TextEncoder.encode"]
    )
    print(f"ratio in texts per CPU-second (less sensitive to other load): {cpu_ratio:.2f}x")
    print(f"min cosine between the two outputs: {cosine:.6f}")

    with tempfile.TemporaryDirectory() as folder:
        cache = EmbeddingCache(folder)
        cold, info_cold = embed_texts(ours, texts, cache)
        warm_out, info_warm = embed_texts(ours, texts, EmbeddingCache(folder))
        assert np.array_equal(cold, warm_out) and info_warm["embedded"] == 0
    speedup = info_cold["seconds"] / info_warm["seconds"]
    print(f"\n{'embed_texts':<28}{'seconds':>10}{'unique':>8}{'hits':>8}{'embedded':>10}")
    for name, info in (("empty cache", info_cold), ("warm cache (re-run)", info_warm)):
        print(
            f"{name:<28}{info['seconds']:>10.3f}{info['n_unique']:>8}"
            f"{info['cache_hits']:>8}{info['embedded']:>10}"
        )
    print(f"cache re-run speed-up: {speedup:.0f}x")
    ours_rate, theirs_rate = rate["TextEncoder.encode"], rate["SentenceTransformer.encode"]
    recorder.write(
        f"{len(texts):,} shopsim reviews in passes of {args.batch_size} on {ours.device}: "
        f"TextEncoder {ours_rate:.0f} texts/s, sentence-transformers {theirs_rate:.0f} "
        f"texts/s ({ratio:.2f}x); embed_texts with an empty cache {info_cold['seconds']:.1f} s, "
        f"warm {info_warm['seconds']:.3f} s",
        {
            "texts": len(texts),
            "batch_size": args.batch_size,
            "device": str(ours.device),
            "torch_threads": torch.get_num_threads(),
            "text_encoder_texts_per_s": round(ours_rate, 1),
            "sentence_transformers_texts_per_s": round(theirs_rate, 1),
            "ratio": round(ratio, 3),
            "ratio_per_cpu_second": round(cpu_ratio, 3),
            "min_cosine": cosine,
            "embed_texts_empty_cache_s": round(info_cold["seconds"], 3),
            "embed_texts_warm_cache_s": round(info_warm["seconds"], 4),
        },
    )


if __name__ == "__main__":
    main()
