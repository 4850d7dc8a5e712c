"""``python -m helpers score``: stage 07's scoring without Jupyter (see :mod:`helpers.cli`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from helpers.apply.choice import (
    ModelArtifactError,
    applicable_models,
    choose_model,
    deployable_recipe,
    read_leaderboard,
)
from helpers.apply.crm import finish_table, last_window_calibration
from helpers.apply.deep import is_deep_model, production_deep_config
from helpers.apply.run import apply_models
from helpers.apply.scoring import ApplyError
from helpers.apply.table import write_scored
from helpers.data.registry import load_dataset
from helpers.data.split import Split
from helpers.data.summary import format_summary, summarise

__all__ = ["score_command"]


def _study_horizon(root: Path, processed: Path, dataset: str, block: dict[str, Any]) -> int:
    split_file = processed / "split.json"
    if split_file.is_file():
        try:
            return Split.from_json(split_file, dataset).holdout_days
        except ValueError as exc:
            raise ModelArtifactError(f"model artifact stale: {exc}") from exc
    if block.get("cutoff") and block.get("holdout_end"):
        return Split.from_dates(block["cutoff"], block["holdout_end"]).holdout_days
    raise ApplyError(
        f"no horizon: {split_file} is missing and params.yaml gives no cutoff/holdout_end "
        f"for {dataset!r}; pass --horizon-days"
    )


def _finish_on_last_window(
    applied: Any,
    events: pd.DataFrame,
    horizon: int,
    model: str,
    selected: list[str] | None,
    deep: dict[str, Any],
    params: dict[str, Any],
) -> pd.DataFrame:
    """Stage 07's finished table: the same model scored ``horizon`` days before as_of
    (a window complete by as_of) corrects the interval and gives the 90-day churn map."""
    apply_block = params.get("apply", {})
    calibration, why = last_window_calibration(
        events, applied.result.windows.as_of, horizon, model, params["base"]["seed"],
        apply_block.get("interval_level", 0.8), selected_features=selected, **deep,
    )  # fmt: skip
    print(why)
    return finish_table(
        applied.table,
        calibration,
        apply_block.get("segments", {}),
        apply_block.get("watch_p_no_purchase", 0.3),
        apply_block.get("discount_rate", 0.1),
    )


def score_command(args: argparse.Namespace) -> int:
    """Run ``helpers score``; returns the exit code (errors raise, see :mod:`helpers.cli`)."""
    out = Path(args.out)
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise ApplyError(f"--out must end in .csv or .parquet, got {out.name}")
    params_file = Path(args.params)
    if not params_file.is_file():
        raise ApplyError(f"params file not found: {params_file} (pass --params)")
    params = yaml.safe_load(params_file.read_text())
    root = params_file.resolve().parent
    base, apply_block = params["base"], params.get("apply", {})
    block = dict(params["datasets"].get(args.dataset, {}))
    if args.path:
        block["path"] = str(Path(args.path).resolve())  # --path is read from the working dir
    loaded = load_dataset(args.dataset, seed=base["seed"], root=root, **block)
    print(loaded.quality)
    print(format_summary(summarise(loaded.events)))

    processed = root / base["paths"]["processed"]
    events_file = root / base["paths"]["interim"] / "events.parquet"
    checkpoints = processed / "deep_checkpoints"
    horizon = args.horizon_days or _study_horizon(root, processed, args.dataset, block)
    deep = {}
    if args.model and is_deep_model(args.model):
        try:
            deep = {"deep": production_deep_config(checkpoints, args.model)}
        except (FileNotFoundError, KeyError) as exc:
            raise ModelArtifactError(f"model artifact missing: {exc}") from exc
    if args.model:
        model, reason = args.model, f"{args.model} (set by --model)"
    else:
        if (processed / "split.json").is_file():  # the study's outputs describe this dataset?
            _study_horizon(root, processed, args.dataset, block)
        board_file = root / base["paths"]["metrics"] / "leaderboard.json"
        board = read_leaderboard(board_file, newer_than=[events_file])
        metric = params.get("evaluate", {}).get("gap_metric", "gini")
        usable, why, configs = applicable_models(board, checkpoints)
        choice = choose_model(
            board,
            metric,
            override=apply_block.get("model_override"),
            applicable=usable,
            not_applicable=why,
        )
        model, reason = choice.model, choice.reason
        deep = {"deep": configs[model]} if model in configs else {}
        # trained as the deployable row it was chosen from (the recipe of stage 06)
        deep["recipe"] = deployable_recipe(board)
        deep["deep_anchors"] = params.get("deployable", {}).get("deep_anchors")
    print(f"model: {reason}; horizon {horizon} days after {args.as_of}")
    selected_file = processed / "selected_features.json"
    selected = json.loads(selected_file.read_text()) if selected_file.is_file() else None
    rl_file = root / base["paths"]["metrics"] / "rl_policy.json"
    rl_summary = json.loads(rl_file.read_text()) if rl_file.is_file() else None
    applied = apply_models(
        loaded.events,
        args.as_of,
        horizon,
        model,
        seed=base["seed"],
        rl_params=params["rl"],
        segments=apply_block.get("segments", {}),
        rl_summary=rl_summary,
        selected_features=selected,
        progress=not args.no_progress,
        policy_file=processed / "rl" / "recommended_policy.pkl",
        policy_newer_than=[events_file],
        **deep,
    )
    table = _finish_on_last_window(applied, loaded.events, horizon, model, selected, deep, params)
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = write_scored(table, out.parent, stem=out.stem)
    paths["csv" if out.suffix.lower() == ".parquet" else "parquet"].unlink()
    print(
        f"scored {len(table):,} customers with {model} "
        f"(policy {applied.plan.policy}) -> {out} (+ {paths['dictionary'].name})"
    )
    print(f"policy: {applied.plan.policy_reason}")
    return 0
