"""The benchmark's table and page: dataset x model x protocol, scored the same way.

Reads the folders written by :mod:`helpers.benchmark.run` and scores every row with
:mod:`helpers.evaluation.metrics`: Gini, Spearman, MAE, top-10 % capture, AUC of "no
purchase", weighted decile error, and each model's paired Gini difference to the
dataset's best BTYD model with its 95 % interval (paired bootstrap over customers).

Command line: ``python -m helpers.benchmark.report RESULTS_DIR... --csv C --html H``.
"""

from __future__ import annotations

import argparse
import html
import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers.evaluation import metrics
from helpers.evaluation.leaderboard import BTYD_MODELS, leaderboard

__all__ = ["COLUMNS", "benchmark_html", "benchmark_table"]

COLUMNS: tuple[str, ...] = (
    "gini", "spearman", "mae", "top10_capture", "roc_auc", "weighted_decile_error",
)  # fmt: skip


def _dataset_rows(results: Path, seed: int, n_boot: int) -> pd.DataFrame:
    predictions = pd.read_parquet(results / "predictions.parquet")
    customers = pd.read_parquet(results / "customers.parquet")
    customers["holdout_zero"] = customers["holdout_purchases"] == 0
    crossed = predictions["protocol"] == "cross_fitted"
    predictions["row"] = np.where(crossed, predictions["model"] + "@cross_fitted",
                                  predictions["model"])  # fmt: skip
    tidy = predictions.drop(columns="model").rename(columns={"row": "model"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        board = leaderboard(tidy[["user_id", "model", "predicted_spend", "p_zero"]], customers)
    board["protocol"] = ["cross_fitted" if m.endswith("@cross_fitted") else "deployable"
                         for m in board.index]  # fmt: skip
    board["model_name"] = [m.removesuffix("@cross_fitted") for m in board.index]
    wide = tidy.pivot(index="user_id", columns="model", values="predicted_spend")
    y = customers["holdout_spend"].reindex(wide.index).to_numpy()
    btyd_rows = board.loc[board.index.isin(BTYD_MODELS), "gini"].dropna()
    reference = str(btyd_rows.idxmax()) if len(btyd_rows) else None
    for column in ("vs_best_btyd", "low", "high"):
        board[column] = np.nan
    if reference is not None:
        for model in board.index:
            if model in (reference, "zero"):
                continue
            result = metrics.paired_bootstrap(y, wide[model].to_numpy(), wide[reference].to_numpy(),
                                              metrics.normalized_gini, seed, n_boot)  # fmt: skip
            board.loc[model, ["vs_best_btyd", "low", "high"]] = (
                result["difference"], result["low"], result["high"],
            )  # fmt: skip
    board["best_btyd"] = reference
    return board


def benchmark_table(results: Sequence[str | Path], seed: int, n_boot: int = 300) -> pd.DataFrame:
    """dataset x model x protocol with the benchmark's metrics and the paired difference
    (and 95 % interval) of each model's Gini to the dataset's best BTYD model."""
    parts = []
    for folder in map(Path, results):
        facts = json.loads((folder / "run.json").read_text())
        board = _dataset_rows(folder, seed, n_boot)
        board.insert(0, "dataset", facts["dataset"])
        parts.append(board)
    table = pd.concat(parts).reset_index(names="row")
    table = table.rename(columns={"model_name": "model"})
    keep = ["dataset", "model", "protocol", *COLUMNS, "vs_best_btyd", "low", "high", "best_btyd"]
    return table[keep].sort_values(["dataset", "protocol", "gini"], ascending=[True, False, False])


def diagnosis_html(diagnosis: Mapping[str, Any]) -> str:
    """A closing note from ``benchmarks/bench_deployable_diagnosis.py``'s JSON: the holdout
    Gini of LightGBM by window count and by share of training customers."""

    def rows(kind: str, key: str) -> str:
        return "".join(
            f"<tr><td>{html.escape(str(r[key]))}</td><td>{r['rows']:,}</td>"
            f"<td>{r['gini']:.3f}</td><td>{r['vs_best_btyd'][0]:+.3f} "
            f"({r['vs_best_btyd'][1]:+.3f} to {r['vs_best_btyd'][2]:+.3f})</td></tr>"
            for r in diagnosis.get(kind, [])
        )

    head = "<tr><th>{}</th><th>training rows</th><th>Gini</th><th>vs {}</th></tr>"
    best = html.escape(str(diagnosis.get("best_btyd")))
    return (
        f"<h3>Diagnosis: {html.escape(str(diagnosis.get('dataset')))}</h3><p>Read on the "
        "holdout to explain the result, not to choose (the recipe is chosen inside "
        "calibration). Window count (LightGBM, rolling anchors):</p><table>"
        + head.format("recipe", best) + rows("window_count", "recipe")
        + "</table><p>Learning curve (share of training customers, all their windows):</p>"
        + "<table>" + head.format("share", best) + rows("learning_curve", "training_share")
        + "</table>"
    )  # fmt: skip


def benchmark_html(
    table: pd.DataFrame,
    runs: Sequence[Mapping[str, Any]],
    diagnoses: Sequence[Mapping[str, Any]] = (),
) -> str:
    """The benchmark page: the answer first, then one table per dataset (and the
    diagnosis notes, when given)."""
    lines = []
    for dataset, rows in table.groupby("dataset", sort=False):
        learned = rows[(rows["protocol"] == "deployable") & ~rows["model"].isin(
            [*BTYD_MODELS, "zero", "extrapolation"])].dropna(subset=["gini"])  # fmt: skip
        if learned.empty:
            lines.append(f"<li><b>{html.escape(dataset)}</b>: no deployable learned model.</li>")
            continue
        top = learned.iloc[0]
        lines.append(
            f"<li><b>{html.escape(dataset)}</b>: best deployable learned model "
            f"<code>{html.escape(top['model'])}</code>, Gini {top['gini']:.3f}; against the best "
            f"BTYD model ({html.escape(str(top['best_btyd']))}) {top['vs_best_btyd']:+.3f} "
            f"(95 % interval {top['low']:+.3f} to {top['high']:+.3f}).</li>"
        )
    sections = []
    for facts in runs:
        rows = table[table["dataset"] == facts["dataset"]].drop(columns="dataset")
        recipe = facts.get("recipe", {})
        reasons = "".join(f"<li><code>{html.escape(m)}</code>: {html.escape(str(r))}</li>"
                          for m, r in facts.get("not_fitted", {}).items())  # fmt: skip
        sections.append(
            f"<h2>{html.escape(facts['dataset'])}</h2><p>{facts['customers']:,} customers; "
            f"calibration to {facts['cutoff']}, holdout {facts['holdout_days']} days to "
            f"{facts['holdout_end']}. {html.escape(str(recipe.get('sentence', '')))}</p>"
            + rows.to_html(index=False, float_format=lambda v: f"{v:.3f}", na_rep="—")
            + (f"<p>Not fitted:</p><ul>{reasons}</ul>" if reasons else "")
        )
    deep = runs[0].get("deep", {}) if runs else {}
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>CLV benchmark</title>"
        "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto}"
        "table{border-collapse:collapse;font-size:90%}td,th{border:1px solid #ccc;"
        "padding:2px 6px;text-align:right}</style></head><body>"
        "<h1>One benchmark, every dataset</h1><p>Every model scored on each dataset's "
        "holdout with the same metrics. <b>deployable</b>: trained only on data up to the "
        "cutoff (BTYD models, rules, and learned models trained on windows inside "
        "calibration, recipe chosen on an inner time split); <b>cross_fitted</b>: trained "
        "over customer folds on other customers' holdout outcomes, which no shop has.</p>"
        f"<ul>{''.join(lines)}</ul>"
        "<p>Reduced settings: the deep model here has no text block, hidden size "
        f"{deep.get('settings', {}).get('hidden_size')} and {deep.get('epochs')} fixed "
        "epochs (the study's own deep model is tuned, in stage 04b); LightGBM cross-fitted "
        "reads the behaviour features only. Not run here: the cross-fitted deep model and "
        "its ablations.</p>"
        + "".join(sections)
        + "".join(diagnosis_html(d) for d in diagnoses)
        + "</body></html>\n"
    )


def main(argv: list[str] | None = None) -> None:
    import yaml

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--csv", type=Path, required=True)
    parser.add_argument("--html", type=Path, required=True)
    parser.add_argument("--diagnosis", nargs="*", type=Path, default=[])
    args = parser.parse_args(argv)
    params = yaml.safe_load((Path.cwd() / "params.yaml").read_text())
    seed = int(params["base"]["seed"])
    n_boot = int(params.get("benchmark", {}).get("bootstrap_samples", 300))
    table = benchmark_table(args.results, seed, n_boot)
    runs = [json.loads((Path(r) / "run.json").read_text()) for r in args.results]
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.csv, index=False, float_format="%.6f")
    # benchmarks/bench_deployable_diagnosis.py's record: its figures, how they were taken
    diagnoses = [json.loads(p.read_text()).get("figures", {}) for p in args.diagnosis]
    args.html.write_text(benchmark_html(table, runs, diagnoses), encoding="utf-8")
    print(f"wrote {args.csv} and {args.html}")


if __name__ == "__main__":
    main()
