"""Shared pieces of the end-to-end tests: a scratch copy of the study, tiny params, DVC."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
STAGES = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))


def dvc(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``dvc ARGS`` with the test's Python environment on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["DVC_NO_ANALYTICS"] = "1"
    # the scratch study runs its own copy of the package, not the editable install's
    if (cwd / "src" / "helpers").is_dir():
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(cwd / "src"), env.get("PYTHONPATH", "")) if p
        )
    done = subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    if check:
        assert done.returncode == 0, f"dvc {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


def tiny(params: dict[str, Any]) -> dict[str, Any]:
    """Shrink the expensive knobs so a whole run takes about a minute."""
    params["datasets"]["shopsim"]["n_users"] = 400
    params["deep"].update(tuning_trials=2, ablations=["no_text"])
    params["deep"]["config"].update(max_epochs=2, patience=1)
    params["explain"].update(shap_customers=20, shap_background=20)
    params["rl"].update(
        n_customers=200,
        n_eval_seeds=3,
        tabular_episodes=4,
        dqn_episodes=2,
        sweep_tabular_episodes=2,
        sweep_dqn_episodes=1,
        n_curve_seeds=2,
        ope_customers=100,
        ope_truth_seeds=1,
        validation_seeds=2,
    )
    params["text_signal"].update(strengths=[0.0, 2.0], n_boot=50, sweep_customers=200, replicates=1)
    return params


def scratch_study(work: Path, change: Callable[[dict[str, Any]], None] | None = None) -> Path:
    """Copy the study (code, notebooks, dvc.yaml, tiny params) into ``work``; init DVC."""
    for name in ("dvc.yaml", "params.yaml", ".dvcignore"):
        shutil.copy(ROOT / name, work / name)
    for folder in ("notebooks", "src", "docs"):
        shutil.copytree(
            ROOT / folder, work / folder, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
        )
    params = tiny(yaml.safe_load((work / "params.yaml").read_text()))
    if change is not None:
        change(params)
    write_params(work, params)
    dvc(["init", "--no-scm", "-q"], work)
    dvc(["config", "core.analytics", "false"], work)
    return work


def read_params(work: Path) -> dict[str, Any]:
    return yaml.safe_load((work / "params.yaml").read_text())


def write_params(work: Path, params: dict[str, Any]) -> None:
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def shop_events(n_customers: int, seed: int) -> pd.DataFrame:
    """A plain event file: views, carts, purchases and reviews over 2023-01 … 2024-06.

    Each customer buys 1–6 times at seeded random days, views before buying, and
    reviews some purchases; three categories. The degenerate cases below start from it.
    """
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2023-01-01")
    rows = []
    for c in range(n_customers):
        user = f"u{c:04d}"
        for day in np.sort(rng.choice(545, size=rng.integers(1, 7), replace=False)):
            ts = start + pd.Timedelta(days=int(day), hours=int(rng.integers(8, 20)))
            category = f"cat{rng.integers(3)}"
            rows.append((user, ts - pd.Timedelta(hours=1), "view", None, category, None, None))
            rows.append((user, ts, "purchase", float(rng.gamma(2.0, 20.0)), category, None, None))
            if rng.random() < 0.3:
                rating = int(rng.integers(1, 6))
                text = "great value, fast delivery" if rating >= 4 else "broke after a week"
                rows.append(
                    (user, ts + pd.Timedelta(days=3), "review", None, category, text, rating)
                )
    columns = ["user_id", "ts", "event_type", "amount", "category", "text", "rating"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["ts"] = frame["ts"].dt.strftime("%Y-%m-%d %H:%M:%S")
    return frame


def use_event_file(
    params: dict[str, Any], path: Path, cutoff: str | None, holdout_end: str | None
) -> None:
    """Point the study at an event file with the canonical column names."""
    params["base"]["dataset"] = "events"
    block = params["datasets"]["events"]
    block.update(path=str(path), cutoff=cutoff, holdout_end=holdout_end)
    block["mapping"] = {c: c for c in ("user_id", "ts", "event_type", "amount")}


# The figures a tiny shopsim run is held to (tests/expected/tiny_run.json). Rank and
# classification metrics are compared on an absolute scale, money on a relative one.
RANK_METRICS = ("gini", "spearman", "top10_capture", "roc_auc")
MONEY_METRICS = ("mae", "predicted_total")
RANK_TOLERANCE = 0.02  # absolute: other CPUs move floats (full run: third decimal)
MONEY_TOLERANCE = 0.05  # relative
PROFIT_TOLERANCE = 0.05  # absolute, currency per customer (heuristics and planners)
RL_PINNED = ("everybody", "top_clv", "rfm", "one_step_uplift", "posterior_mpc", "oracle")


def tiny_run_figures(work: Path) -> dict[str, Any]:
    """The leaderboard's metrics per model and stage 05's profits of the rules and planners."""
    board = json.loads((work / "reports/metrics/leaderboard.json").read_text())
    rl = json.loads((work / "reports/metrics/rl_policy.json").read_text())
    models = {
        name: {m: row[m] for m in (*RANK_METRICS, *MONEY_METRICS) if row.get(m) is not None}
        for name, row in board.items()
        if isinstance(row, dict) and "gini" in row
    }
    profits = {p: rl["main"][p]["incremental_profit"] for p in RL_PINNED}
    return {"leaderboard": models, "rl_incremental_profit": profits}


def monday_answer_problems(work: Path) -> list[str]:
    """Everything that makes stage 07's answer disagree with itself or with 05 (empty: none).

    The scored table passes :func:`helpers.apply.consistency.violations`, and the
    recommended policy of ``rl_policy.json`` is the one named in 05's report, in
    ``apply.json``, in 07's report, in the index and on every row of the table.
    """
    from helpers.apply.consistency import violations

    params = read_params(work)["apply"]
    table = pd.read_parquet(work / "reports/apply/customers.parquet")
    policy = json.loads((work / "reports/metrics/rl_policy.json").read_text())["recommended_policy"]
    budget = read_params(work)["rl"]["budget"]
    applied = json.loads((work / "reports/metrics/apply.json").read_text())
    found = violations(table, policy, budget, params["segments"], params["watch_p_no_purchase"])
    problems = [f"{rule}: {n} rows" for rule, n in found.groupby("rule").size().items()]
    if applied["consistency_violations"] != 0:
        problems.append(f"apply.json counts {applied['consistency_violations']} violations")
    if applied["recommended_policy"] != policy or applied["policy"] != policy:
        problems.append(f"apply.json names {applied['policy']!r}, 05 recommends {policy!r}")
    for page in ("05_rl_policy.html", "07_apply.html", "index.html"):
        if policy not in (work / "reports" / page).read_text(encoding="utf-8"):
            problems.append(f"{page} does not name the recommended policy {policy!r}")
    return problems


if __name__ == "__main__":  # python tests/e2e.py STUDY_DIR: refreeze the expected figures
    figures = tiny_run_figures(Path(sys.argv[1]))
    target = ROOT / "tests/expected/tiny_run.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")
    print(f"wrote {target}")
