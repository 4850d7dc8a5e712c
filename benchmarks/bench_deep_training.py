"""Training throughput of the deep CLV model (customers / second per epoch).

Runs one fold's training (early stopping off: a fixed number of epochs) for the default
:class:`helpers.models.deep.DeepConfig` and a few variants, on the real stage-03 outputs
when they exist (``data/processed``), else on simulated data of the same shape. The
device is chosen automatically (CUDA when present, else CPU), so the same command
measures the GPU/CPU ratio on a machine with a GPU.

The reference row, "GRU, packed (reference)", runs the default configuration with the
recurrent encoder fed a packed sequence (``torch.nn.utils.rnn.pack_padded_sequence``, the
study's encoder before it read the padded run's output at each customer's last step);
``vs reference`` is its seconds per epoch over each row's.

    python benchmarks/bench_deep_training.py [--epochs 3] [--threads 2] [--synthetic]
        [--json benchmarks/results/deep_training.json]
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from _results import Recorder, add_json_option

from helpers.features.sequences import SequenceBatch, load_sequences
from helpers.features.text import align_user_text_features
from helpers.models.deep import DeepConfig, pick_device, prepare_inputs, train_deep
from helpers.models.deep.network import DeepCLVModel

ROOT = Path(__file__).resolve().parents[1]
PROCESSED = ROOT / "data" / "processed"


def _real():
    batch = load_sequences(PROCESSED / "sequences.npz")
    customers = pd.read_parquet(PROCESSED / "customers.parquet")
    behaviour = pd.read_parquet(PROCESSED / "behaviour_features.parquet")
    text, sentiment = None, None
    if (PROCESSED / "text_features.parquet").exists():  # datasets without text have none
        text = align_user_text_features(
            pd.read_parquet(PROCESSED / "text_features.parquet"),
            customers.index,
            no_review_days=float(behaviour.attrs.get("history_days", 500.0)),
        )
        sentiment = pd.read_parquet(PROCESSED / "texts.parquet")["sentiment"].to_numpy()
    return batch, behaviour, text, sentiment, customers


def _synthetic(n: int = 18052, length: int = 50, seed: int = 0):
    rng = np.random.default_rng(seed)
    lengths = np.minimum(rng.geometric(1 / 23, n), length)
    mask = np.arange(length)[None, :] >= (length - lengths)[:, None]

    def grid(values, fill):
        return np.where(mask, values, fill)

    etype = rng.choice([1, 2, 3, 4], size=(n, length), p=[0.6, 0.2, 0.1, 0.1])
    users = np.array([f"u{i:06d}" for i in range(n)])
    batch = SequenceBatch(
        user_ids=users,
        event_type=grid(etype, 0).astype(np.int8),
        category=grid(rng.integers(1, 10, (n, length)), 0).astype(np.int32),
        amount_bucket=grid(rng.integers(1, 12, (n, length)), 0).astype(np.int8),
        log_amount=grid(rng.normal(3, 1, (n, length)), 0).astype(np.float32),
        log_gap_hours=grid(rng.normal(4, 1, (n, length)), 0).astype(np.float32),
        log_days_before=grid(rng.uniform(0, 6, (n, length)), 0).astype(np.float32),
        rating=np.zeros((n, length), dtype=np.int8),
        review_index=np.full((n, length), -1, dtype=np.int64),
        mask=mask,
        lengths=lengths.astype(np.int32),
        category_vocab=[str(i) for i in range(8)],
    )
    index = pd.Index(users, name="user_id")
    behaviour = pd.DataFrame(
        rng.gamma(1, 5, (n, 35)), index=index, columns=[f"f{i}" for i in range(35)]
    )
    text = pd.DataFrame(rng.normal(size=(n, 24)), index=index, columns=[f"t{i}" for i in range(24)])
    spend = np.where(rng.random(n) < 0.6, 0.0, rng.lognormal(4, 1, n))
    customers = pd.DataFrame({"holdout_spend": spend, "holdout_zero": spend <= 0}, index=index)
    return batch, behaviour, text, None, customers


def _packed_encode(
    self: DeepCLVModel, tokens: torch.Tensor, cont: torch.Tensor, lengths: torch.Tensor
) -> torch.Tensor:
    """The recurrent encoder on a packed sequence: its final state (the reference)."""
    from torch.nn.utils.rnn import pack_padded_sequence

    x = self.event_vectors(tokens, cont, lengths)
    packed = pack_padded_sequence(
        x.float(), lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False
    )
    _, state = self.rnn(packed)
    hidden = state[0] if self.encoder_kind == "lstm" else state
    return hidden[-1] * (lengths > 0)[:, None]


@contextlib.contextmanager
def _packed_reference() -> Iterator[None]:
    original = DeepCLVModel.encode
    DeepCLVModel.encode = _packed_encode
    try:
        yield
    finally:
        DeepCLVModel.encode = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--synthetic", action="store_true")
    add_json_option(parser, "deep_training")
    args = parser.parse_args()
    recorder = Recorder("deep_training", args)
    torch.set_num_threads(args.threads)
    real = not args.synthetic and (PROCESSED / "sequences.npz").exists()
    batch, behaviour, text, sentiment, customers = _real() if real else _synthetic()
    spend = customers["holdout_spend"].reindex(batch.user_ids).to_numpy(dtype=float)
    zero = (spend <= 0).astype(float)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(spend))
    n_fit = int(0.64 * len(spend))  # one fold of 5, minus 20 % early-stopping customers
    fit_idx, valid_idx = order[:n_fit], order[n_fit : int(0.8 * len(spend))]
    device = pick_device()
    base = DeepConfig(max_epochs=args.epochs, patience=args.epochs + 1)
    reference = "GRU, packed (reference)"
    variants = {
        reference: base,
        "default (GRU, ZILN, L=32)": base,
        "LSTM": base.replace(encoder="lstm"),
        "Transformer": base.replace(encoder="transformer"),
        "GRU, L=50": base.replace(max_len=None),
        "GRU, batch 256": base.replace(batch_size=256),
    }
    print(
        f"data: {'stage outputs' if real else 'simulated'}, {len(spend):,} customers; "
        f"device: {device}; torch threads: {torch.get_num_threads()}; "
        f"fit customers per epoch: {len(fit_idx):,}"
    )
    rows = []
    for name, config in variants.items():
        inputs = prepare_inputs(batch, behaviour, text, sentiment, max_len=config.max_len)
        start = time.perf_counter()
        with _packed_reference() if name == reference else contextlib.nullcontext():
            trained = train_deep(
                inputs,
                spend,
                zero,
                fit_idx,
                valid_idx,
                config,
                seed=0,
                device=device,
                progress=False,
            )
        wall = time.perf_counter() - start
        epoch_s = trained.curve["seconds"].to_numpy()
        steady = float(np.median(epoch_s[1:] if len(epoch_s) > 1 else epoch_s))
        rows.append(
            {
                "variant": name,
                "params": sum(p.numel() for p in trained.model.parameters()),
                "s_per_epoch": round(steady, 2),
                "customers_per_s": round(len(fit_idx) / steady),
                "first_epoch_s": round(float(epoch_s[0]), 2),
                "total_s": round(wall, 1),
            }
        )
    table = pd.DataFrame(rows)
    table["vs reference"] = (table["s_per_epoch"].iloc[0] / table["s_per_epoch"]).round(2)
    print(table.to_string(index=False))
    default = table.iloc[1]
    recorder.write(
        f"{'stage outputs' if real else 'simulated data'}, {len(fit_idx):,} customers per "
        f"epoch on {device}, {torch.get_num_threads()} torch threads: the default model "
        f"{default['s_per_epoch']:.2f} s per epoch ({default['customers_per_s']:,} customers/s), "
        f"{default['vs reference']:.2f}x the packed reference",
        {
            "data": "stage outputs" if real else "simulated",
            "device": str(device),
            "fit_customers_per_epoch": len(fit_idx),
            "rows": table.rename(columns={"vs reference": "vs_reference"}).to_dict("records"),
        },
    )


if __name__ == "__main__":
    main()
