"""The stage runner: Papermill execution with injected parameters, HTML, failures, index."""

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from helpers.pipeline import (
    StageFailed,
    cell_assignments,
    notebook_parameters,
    notebook_summary,
    recorded_currency,
    report_notebook,
    run_stage,
    write_index,
)


def write_notebook(path: Path, body: str, title: str = "# 09 · Tiny stage") -> None:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    params = new_code_cell("answer = 0\nlabel = 'default'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        new_markdown_cell(f"{title}\n\nA one-line summary of the tiny stage."),
        params,
        new_code_cell(body),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "params.yaml").write_text("base:\n  answer: 42\nstage:\n  label: injected\n")
    return tmp_path


def test_notebook_parameters_merge_and_reject_shadowing():
    params = {"base": {"seed": 1}, "a": {"x": 2}, "b": {"x": 3}, "d": {"k": {"n": 1}}}
    assert notebook_parameters(params, ["base", "a"], ["d"]) == {
        "d": {"k": {"n": 1}},
        "seed": 1,
        "x": 2,
    }
    with pytest.raises(ValueError, match="'x' is defined in both 'a' and 'b'"):
        notebook_parameters(params, ["a", "b"])
    with pytest.raises(KeyError, match="no section 'zzz'"):
        notebook_parameters(params, ["zzz"])


def test_run_stage_injects_parameters_and_renders_html(project: Path):
    write_notebook(
        project / "notebooks" / "09_tiny.ipynb",
        "from pathlib import Path\nPath('out.txt').write_text(f'{answer}-{label}')",
    )
    html = run_stage("notebooks/09_tiny.ipynb", {"answer": 42, "label": "injected"}, project)
    assert html == project / "reports" / "09_tiny.html"
    assert (project / "out.txt").read_text() == "42-injected"  # ran in the project root
    executed = nbformat.read(str(project / "reports" / "executed" / "09_tiny.ipynb"), 4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    assert "A one-line summary" in html.read_text()


def test_failing_cell_fails_the_stage_with_its_traceback(project: Path):
    write_notebook(project / "notebooks" / "09_tiny.ipynb", "raise ValueError('boom 42')")
    with pytest.raises(StageFailed, match=r"09_tiny.ipynb: cell \d+ raised ValueError: boom 42"):
        run_stage("notebooks/09_tiny.ipynb", {}, project)
    # the failed run is still rendered so the error can be read in context
    assert "boom 42" in (project / "reports" / "09_tiny.html").read_text()


def test_cli_exit_code_and_stderr_on_failure(project: Path):
    write_notebook(project / "notebooks" / "09_tiny.ipynb", "assert answer == 1, 'wrong answer'")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "helpers.pipeline",
            "run",
            "notebooks/09_tiny.ipynb",
            "--sections",
            "base,stage",
        ],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "stage failed" in done.stderr and "AssertionError: wrong answer" in done.stderr


def test_kernel_stderr_goes_to_its_log_not_the_terminal(project: Path):
    # a write to the kernel process's own stderr stands in for Jupyter's plumbing messages
    write_notebook(
        project / "notebooks" / "09_tiny.ipynb", "import os\nos.write(2, b'plumbing 42')"
    )
    done = subprocess.run(
        [sys.executable, "-m", "helpers.pipeline", "run", "notebooks/09_tiny.ipynb"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "plumbing 42" not in done.stdout + done.stderr
    log = project / "reports" / "executed" / "09_tiny.kernel.log"
    assert "plumbing 42" in log.read_text()


def test_a_dead_kernel_fails_the_stage_with_its_log(project: Path):
    write_notebook(
        project / "notebooks" / "09_tiny.ipynb",
        "import os, signal\nos.write(2, b'last words 42')\nos.kill(os.getpid(), signal.SIGKILL)",
    )
    with pytest.raises(StageFailed, match=r"09_tiny.ipynb: the kernel died") as failed:
        run_stage("notebooks/09_tiny.ipynb", {}, project)
    assert "last words 42" in str(failed.value)
    assert (project / "reports" / "09_tiny.html").is_file()


def test_index_links_rendered_notebooks_with_title_and_summary(project: Path):
    write_notebook(project / "notebooks" / "09_tiny.ipynb", "pass")
    write_notebook(project / "notebooks" / "10_not_run.ipynb", "pass", title="# 10 · Not run")
    (project / "reports").mkdir()
    (project / "reports" / "09_tiny.html").write_text("<html></html>")
    executed = project / "reports" / "executed" / "09_tiny.ipynb"
    write_notebook(executed, "print('the key number is 42')")
    nb = nbformat.read(str(executed), as_version=4)
    nb.cells[2].metadata["tags"] = ["headline"]
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="Key: 42.\n")]
    nbformat.write(nb, str(executed))
    (project / "reports" / "metrics").mkdir()
    board = {"gbdt": {"gini": 0.8, "mae": 50.0, "top10_capture": 0.4}, "gap_metric": "gini"}
    (project / "reports" / "metrics" / "leaderboard.json").write_text(json.dumps(board))
    index = write_index(project).read_text()
    assert '<a href="09_tiny.html">09 · Tiny stage</a>' in index
    assert "<p class='key'>Key: 42.</p>" in index
    assert "<tr><td>gbdt</td><td>0.800</td><td>50.0</td><td>0.400</td></tr>" in index
    assert "<th>MAE (currency) ↓</th>" in index  # stage 01 recorded no currency
    quality = {"source": "shop.csv", "rows_in": 3, "rows_kept": 3, "notes": {"currency": "GBP"}}
    (project / "reports" / "metrics" / "data_quality.json").write_text(json.dumps(quality))
    assert "<th>MAE (GBP) ↓</th>" in write_index(project).read_text()
    assert recorded_currency(project / "reports" / "metrics") == "GBP"
    assert recorded_currency(project / "nowhere") == "currency units"
    assert "A one-line summary of the tiny stage." in index
    assert "10 · Not run" not in index


def test_index_is_an_abstract_with_the_oracle_as_a_ceiling(project: Path):
    reports = project / "reports"
    for stem, text in (
        ("06_evaluate", "Best model: *deep* (0.9)."),
        ("05_rl_policy", "Planning pays."),
    ):
        write_notebook(project / "notebooks" / f"{stem}.ipynb", "pass")
        (reports / f"{stem}.html").parent.mkdir(parents=True, exist_ok=True)
        (reports / f"{stem}.html").write_text("<html></html>")
        executed = reports / "executed" / f"{stem}.ipynb"
        write_notebook(executed, "pass")
        nb = nbformat.read(str(executed), as_version=4)
        nb.cells[2].metadata["tags"] = ["headline"]
        nb.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
        nbformat.write(nb, str(executed))
    (reports / "metrics").mkdir()
    board = {
        "gbdt": {"gini": 0.8, "mae": 50.0, "top10_capture": 0.4},
        "oracle": {"gini": 0.95, "mae": 40.0, "top10_capture": 0.6},
    }
    (reports / "metrics" / "leaderboard.json").write_text(json.dumps(board))
    quality = {"source": "shopsim", "rows_in": 3, "rows_kept": 3, "notes": {}}
    (reports / "metrics" / "data_quality.json").write_text(json.dumps(quality))
    index = write_index(project).read_text()
    answer = index.index("<h2>The answer</h2>")
    assert answer < index.index("<h2>Top of the leaderboard</h2>") < index.index("<h2>Caveats")
    assert (
        "<li><b>Which model to use.</b> Best model: <em>deep</em> (0.9). "
        "<a href='06_evaluate.html'>more</a></li>"
    ) in index
    assert "<li><b>What planning is worth.</b> Planning pays." in index
    assert "What text adds" not in index  # 06b did not run: no sentence for it
    assert "shopsim (<b>simulated</b>" in index and "These data are simulated" in index
    oracle = index.index("<tr class=ceiling><td><i>oracle</i>")
    assert oracle < index.index("<tr><td>gbdt</td>")  # the ceiling first, marked
    assert "known only in the simulator" in index
    quality["source"] = "cdnow"
    (reports / "metrics" / "data_quality.json").write_text(json.dumps(quality))
    index = write_index(project).read_text()
    assert "simulated" not in index
    assert "nothing usable" not in index
    applied = {"informative": False, "signal": "Nothing in these data predicts future spend."}
    (reports / "metrics" / "apply.json").write_text(json.dumps(applied))
    index = write_index(project).read_text()
    first = index.index(
        "<li><b>First: the models add nothing usable over a rule of thumb.</b> Nothing in these"
    )
    assert first < index.index("<li><b>Which model to use.</b>")


def test_notebook_summary_of_the_study_notebooks():
    root = Path(__file__).resolve().parents[1]
    for path in sorted((root / "notebooks").glob("[0-9][0-9]*_*.ipynb")):
        title, summary = notebook_summary(path)
        assert title.startswith(path.stem[:2]) and len(summary) > 20, path.name


def test_report_shows_one_parameters_table_and_drops_progress_bars():
    nb = new_notebook()
    defaults = new_code_cell("seed = 1\nrl = {'n': 10, 'effects': 'mid'}")
    defaults.metadata["tags"] = ["parameters"]
    injected = new_code_cell("seed = 1\nrl = {'n': 3, 'effects': 'mid'}")
    injected.metadata["tags"] = ["injected-parameters"]
    work = new_code_cell("x = 1")
    work.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text="fit:  50%|#####     | 1/2\r"),
        nbformat.v4.new_output(
            "stream",
            name="stderr",
            text="/x/y.py:3: UserWarning: real warning\n  warnings.warn('real warning')\n",
        ),
        nbformat.v4.new_output("stream", name="stdout", text="kept\n"),
    ]
    quiet = new_code_cell("y = 2")
    quiet.outputs = [nbformat.v4.new_output("stream", name="stderr", text="\r 10%|#| 1/10\n")]
    nb.cells = [new_markdown_cell("# T"), defaults, injected, work, quiet]
    shown = report_notebook(nb)
    assert [c.cell_type for c in shown.cells] == ["markdown", "markdown", "code", "code"]
    assert shown.cells[1].source == (
        "**Parameters of this run** (from `params.yaml`) that differ from the notebook's "
        "defaults\n\n"
        "| parameter | value in this run | notebook default |\n|---|---|---|\n"
        "| `rl.n` | **3** | 10 |\n\n"
        "<details>\n<summary>All 3 parameters of this run</summary>\n\n"
        "| parameter | value in this run |\n|---|---|\n"
        "| `seed` | 1 |\n| `rl.n` | 3 |\n| `rl.effects` | 'mid' |\n\n</details>"
    )
    outputs = shown.cells[2].outputs
    assert [o.get("name") for o in outputs] == ["stdout", None]  # stderr became a note
    assert outputs[1]["data"]["text/markdown"] == (
        "**Note from the run** (a warning, shown short):\n\n- UserWarning: real warning"
    )
    assert shown.cells[3].outputs == []  # progress only: nothing left
    assert len(nb.cells) == 5, "the executed notebook itself is left unchanged"


def test_report_opens_with_the_headline_as_its_answer():
    nb = new_notebook()
    key = new_code_cell("say('x')")
    key.metadata["tags"] = ["headline"]
    key.outputs = [
        nbformat.v4.new_output("display_data", data={"text/markdown": "Planning pays: 2.33."})
    ]
    nb.cells = [new_markdown_cell("# 05 · T\n\nWhat it is about."), new_markdown_cell("Why."), key]
    shown = report_notebook(nb, "**Study map**", "*Code: x.ipynb*")
    assert [c.source for c in shown.cells[:6]] == [
        "# 05 · T",
        "> **The answer.** Planning pays: 2.33.",
        "What it is about.",
        "*Code: x.ipynb*",
        "**Study map**",
        "Why.",
    ]
    nb.cells[2].outputs = []  # no headline output (e.g. the stage failed before it)
    assert [c.source for c in report_notebook(nb).cells] == [
        "# 05 · T\n\nWhat it is about.",
        "Why.",
        "say('x')",
    ]


def test_parameters_table_says_when_every_value_is_the_default():
    from helpers.pipeline import parameters_table

    text = parameters_table({"a": 1}, {"a": 1})
    assert text.startswith("Every parameter has its notebook default.\n\n<details>")


def test_rendered_page_hides_code_links_the_notebook_and_has_no_stderr(project: Path):
    write_notebook(
        project / "notebooks" / "09_tiny.ipynb",
        "import warnings, sys\nwarnings.warn('careful')\nSECRET_CODE_TOKEN = 5\n"
        "print('shown result', SECRET_CODE_TOKEN)",
    )
    page = run_stage("notebooks/09_tiny.ipynb", {"answer": 1}, project).read_text()
    assert "SECRET_CODE_TOKEN = 5" not in page  # code hidden
    assert "shown result 5" in page  # results shown
    assert 'href="executed/09_tiny.ipynb"' in page
    assert (project / "reports" / "executed" / "09_tiny.ipynb").is_file()
    assert 'data-mime-type="application/vnd.jupyter.stderr"' not in page
    assert "UserWarning: careful" in page


def test_cell_assignments_reads_literals_only():
    assert cell_assignments("a = 1\nb = {'x': [1, 2]}\n# note\n") == {"a": 1, "b": {"x": [1, 2]}}
    with pytest.raises(ValueError, match=r"^malformed node or string on line 1: <ast.Call "):
        cell_assignments("a = len('x')")
