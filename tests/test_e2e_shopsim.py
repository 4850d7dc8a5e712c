"""End to end (fast tier): `dvc repro` of the real pipeline on tiny shopsim parameters.

Real DVC, real Papermill kernels, the real notebooks; only `params.yaml` is shrunk (a
few hundred simulated users). Then: a second `dvc repro` does nothing, and an edit
re-runs only the stages that can see it (the DVC dependencies are narrow). In the slow
tier, last: a forced `dvc repro` of the same study reproduces its results byte for byte.
"""

import json
from pathlib import Path

import pytest
from e2e import (
    MONEY_METRICS,
    MONEY_TOLERANCE,
    PROFIT_TOLERANCE,
    RANK_TOLERANCE,
    ROOT,
    STAGES,
    dvc,
    monday_answer_problems,
    read_params,
    scratch_study,
    tiny_run_figures,
    write_params,
)

#: Results a forced re-run must reproduce byte for byte (the determinism promise).
REPRODUCED = ("leaderboard.json", "leaderboard.csv", "rl_policy.json", "data_quality.json")
FIRST_RUN = ".first_run_metrics"


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny study, run once per module (`make test` runs each file in one worker:
    ``--dist loadfile``); the first run's metrics are kept for the forced re-run."""
    work = scratch_study(tmp_path_factory.mktemp("study"))
    dvc(["repro"], work)
    (work / FIRST_RUN).mkdir()
    for name in REPRODUCED:
        (work / FIRST_RUN / name).write_bytes((work / "reports/metrics" / name).read_bytes())
    return work


def stale_stages(work: Path) -> set[str]:
    """Stages `dvc status` reports as changed."""
    shown = json.loads(dvc(["status", "--json"], work).stdout or "{}")
    return set(shown)


def test_repro_renders_every_stage_and_the_leaderboard(study: Path):
    for stage in STAGES:
        assert (study / "reports" / f"{stage}.html").is_file(), stage
    index = (study / "reports/index.html").read_text()
    assert all(f'href="{stage}.html"' in index for stage in STAGES)
    quality = json.loads((study / "reports/metrics/data_quality.json").read_text())
    assert quality["rows_in"] == quality["rows_kept"] + quality["rows_dropped"]
    board = json.loads((study / "reports/metrics/leaderboard.json").read_text())
    expected = {"bgnbd", "pareto_nbd", "gbdt", "deep", "deep_no_text", "stack", "average"}
    assert expected | {"zero", "extrapolation", "oracle"} <= set(board)
    assert board["oracle"]["gini"] > max(
        r["gini"]
        for m, r in board.items()
        if m != "oracle" and isinstance(r, dict) and r.get("gini") is not None
    )
    text = json.loads((study / "reports/metrics/text_features.json").read_text())
    assert text["has_ratings"] and text["embedding_dims"] == 0  # n_components: auto
    assert not any(c.startswith("txt_") for c in text["text_feature_columns"])
    report = (study / "reports/05_rl_policy.html").read_text()
    assert "Parameters of this run" in report and "IProgress" not in report


def test_metrics_agree_with_the_committed_tiny_run(study: Path):
    """Real values, not shapes: every leaderboard metric and stage 05's profits of the
    rules and planners match tests/expected/tiny_run.json (refreeze with
    `python tests/e2e.py STUDY_DIR` after a deliberate change, and say why in the commit)."""
    expected = json.loads((ROOT / "tests/expected/tiny_run.json").read_text())
    got = tiny_run_figures(study)
    assert set(got["leaderboard"]) == set(expected["leaderboard"])
    for model, metrics in expected["leaderboard"].items():
        for name, value in metrics.items():
            approx = (
                pytest.approx(value, rel=MONEY_TOLERANCE)
                if name in MONEY_METRICS
                else pytest.approx(value, abs=RANK_TOLERANCE)
            )
            assert got["leaderboard"][model][name] == approx, (model, name)
    for policy, value in expected["rl_incremental_profit"].items():
        assert got["rl_incremental_profit"][policy] == pytest.approx(value, abs=PROFIT_TOLERANCE)


def test_monday_answer_is_one_consistent_answer(study: Path):
    """07's table passes every consistency rule, and 05, rl_policy.json, apply.json, 07,
    the index and every row name the same recommended policy."""
    assert monday_answer_problems(study) == []


def test_second_repro_is_a_no_op_and_metrics_show(study: Path):
    again = dvc(["repro"], study)
    assert "Running stage" not in again.stdout
    shown = dvc(["metrics", "show"], study).stdout
    assert "rows_kept" in shown and "leaderboard.json" in shown


def test_an_edit_reruns_only_the_stages_that_import_it(study: Path):
    plots = study / "src/helpers/marketing/plots.py"
    original = plots.read_text()
    plots.write_text(original + "\n# an edit\n")
    try:
        assert stale_stages(study) == {"05_rl_policy"}
    finally:
        plots.write_text(original)
    params = read_params(study)
    saved = dict(params["deep"])
    params["deep"]["tuning_trials"] += 1
    write_params(study, params)
    try:
        assert stale_stages(study) == {"04b_deep_model"}  # BTYD and GBDT are not re-run
    finally:
        params["deep"] = saved
        write_params(study, params)
    assert stale_stages(study) == set()


def test_run_all_in_jupyter_after_repro_leaves_dvc_status_clean(study: Path):
    """A reader opens a notebook in JupyterLab (working directory `notebooks/`, no
    injected parameters) and runs it top to bottom: nothing `dvc status` sees changes.

    Notebook 06 is run as is: `tiny()` leaves its params sections (base, evaluate) at
    the values of `params.yaml`, which its defaults equal (tests/test_dvc_deps.py)."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(str(study / "notebooks" / "06_evaluate.ipynb"), as_version=4)
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(study / "notebooks")}},
    )
    client.execute()
    assert not any(
        output.get("output_type") == "error"
        for cell in notebook.cells
        for output in cell.get("outputs", [])
    )
    assert stale_stages(study) == set()


@pytest.mark.slow
def test_a_forced_repro_gives_byte_identical_results(study: Path):
    """Slow tier, last in this file: a forced `dvc repro` re-runs every stage from
    scratch, and the leaderboard, stage 05's policy table and the data-quality report come
    out byte for byte the same as in the first run (one seed, passed to every generator)."""
    dvc(["repro", "--force"], study)
    for name in REPRODUCED:
        first = (study / FIRST_RUN / name).read_bytes()
        assert (study / "reports/metrics" / name).read_bytes() == first, name
