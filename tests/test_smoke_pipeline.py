"""End to end: `dvc repro` of the real pipeline on tiny parameters, in a scratch copy.

Runs real DVC, real Papermill kernels and the real notebooks; only `params.yaml` is
shrunk (a few hundred simulated users). Then: a second `dvc repro` does nothing,
`dvc metrics show` prints the quality counts, and switching `base.dataset` to `cdnow`
re-runs stage 01 on the real CDNOW file.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def dvc(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["DVC_NO_ANALYTICS"] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, f"dvc {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("study")
    for name in ("dvc.yaml", "params.yaml", ".dvcignore"):
        shutil.copy(ROOT / name, work / name)
    for folder in ("notebooks", "src"):
        shutil.copytree(
            ROOT / folder, work / folder, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
        )
    params = yaml.safe_load((work / "params.yaml").read_text())
    params["datasets"]["shopsim"]["n_users"] = 400
    params["deep"].update(tuning_trials=2, ablations=["no_text"])
    params["explain"].update(shap_customers=20, shap_background=20)
    params["deep"]["config"].update(max_epochs=2, patience=1)
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
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    dvc(["init", "--no-scm", "-q"], work)
    dvc(["config", "core.analytics", "false"], work)
    return work


STAGES = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))


def test_repro_renders_every_stage_then_is_a_no_op(scratch: Path):
    dvc(["repro"], scratch)
    for stage in STAGES:
        assert (scratch / "reports" / f"{stage}.html").is_file(), stage
    for path in (
        "reports/index.html",
        "data/interim/events.parquet",
        "data/processed/customers.parquet",
        "data/processed/predictions.parquet",
        "reports/figures/01_prepare_data/funnel.png",
        "reports/figures/06_evaluate/gains.png",
    ):
        assert (scratch / path).is_file(), path
    index = (scratch / "reports/index.html").read_text()
    assert all(f'href="{stage}.html"' in index for stage in STAGES)
    quality = json.loads((scratch / "reports/metrics/data_quality.json").read_text())
    assert quality["rows_in"] == quality["rows_kept"] + quality["rows_dropped"]
    board = json.loads((scratch / "reports/metrics/leaderboard.json").read_text())
    expected = {"bgnbd", "pareto_nbd", "gbdt", "deep", "deep_no_text", "stack", "average"}
    assert expected | {"zero", "extrapolation", "oracle"} <= set(board)
    assert board["oracle"]["gini"] > board["zero"]["gini"]
    again = dvc(["repro"], scratch)
    assert "didn't change, skipping" in again.stdout or "up to date" in again.stdout
    assert "Running stage" not in again.stdout
    shown = dvc(["metrics", "show"], scratch).stdout
    assert "rows_kept" in shown and "leaderboard.json" in shown


def test_switching_to_cdnow_reruns_the_pipeline_on_the_real_file(scratch: Path):
    params = yaml.safe_load((scratch / "params.yaml").read_text())
    params["base"]["dataset"] = "cdnow"
    (scratch / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    done = dvc(["repro"], scratch)
    assert "Running stage '01_prepare_data'" in done.stdout
    quality = json.loads((scratch / "reports/metrics/data_quality.json").read_text())
    assert quality["rows_in"] == 69_659 and quality["rows_kept"] == 69_659
    assert quality["notes"]["cohort"]["users_total"] == 23_570
    text = json.loads((scratch / "reports/metrics/text_features.json").read_text())
    assert text["has_text"] is False  # CDNOW has no text: the text block is switched off
    board = json.loads((scratch / "reports/metrics/leaderboard.json").read_text())
    assert "oracle" not in board and 0.6 < board["pareto_nbd"]["gini"] < 0.75
