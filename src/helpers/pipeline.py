"""Run a numbered notebook as a pipeline stage and keep ``reports/index.html`` current.

A DVC stage calls::

    python -m helpers.pipeline run notebooks/01_prepare_data.ipynb --sections base,prepare

which reads the named sections of ``params.yaml`` (so DVC, which lists the same
sections under ``params:``, tracks every value), executes the notebook with Papermill
(parameters injected after the cell tagged ``parameters``), writes the executed
notebook to ``reports/executed/`` and renders it to ``reports/<name>.html``.
A failing cell fails the stage: the cell's traceback is printed and the exit code is 1
(the HTML of the failed run is still rendered, so the error can be read in context).
The kernel's own log (its start-up warnings and shutdown messages, not the cells'
output, which the notebook keeps) goes to ``reports/executed/<name>.kernel.log``
rather than the terminal; when the kernel dies, the stage's message quotes its tail.

``python -m helpers.pipeline index`` rebuilds ``reports/index.html`` from every
rendered notebook, with each notebook's title and one-line summary, and renders
``docs/glossary.md`` to ``reports/glossary.html``. Every rendered notebook carries a
study map under its title (previous / next / glossary, and which stage wrote each of
its inputs; :mod:`helpers.report_links`).
"""

from __future__ import annotations

import argparse
import ast
import copy
import html
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nbformat
import papermill
import yaml
from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import DeadKernelError
from nbconvert import HTMLExporter
from papermill.exceptions import PapermillExecutionError

from helpers.paths import project_root
from helpers.report_links import link_glossary, study_map, write_glossary

EXECUTED_DIR = "executed"
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


#: Errors about the user's data or settings (not bugs): the stage prints their message
#: (which names the file, column or parameter and the fix) without a traceback.
DATA_ERRORS: tuple[str, ...] = ("DataError", "SplitError")


class StageFailed(RuntimeError):
    """A notebook cell raised, or the kernel died; the message says which and why."""


def kernel_logging_to(path: Path) -> type[AsyncKernelManager]:
    """A kernel manager class whose kernel writes its own stderr to ``path``.

    The kernel process's stderr carries Jupyter's plumbing (a transport warning at
    start, and now and then a harmless socket error logged while it shuts down), not
    the cells' output: that goes to the notebook. Sending it to a file keeps the
    terminal running ``dvc repro`` for the stage's own messages.
    """

    class KernelLoggingToFile(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            with path.open("wb") as log:  # the child keeps its own copy of the handle
                kw["stderr"] = log
                await super()._async_launch_kernel(kernel_cmd, **kw)

    return KernelLoggingToFile


def _tail(path: Path, lines: int = 20) -> str:
    text = path.read_text(errors="replace") if path.is_file() else ""
    return "\n".join(text.strip().splitlines()[-lines:]) or "(empty)"


def read_params(path: str | Path) -> dict[str, Any]:
    """The parsed ``params.yaml`` (a mapping of section name → values)."""
    params = yaml.safe_load(Path(path).read_text())
    if not isinstance(params, dict):
        raise ValueError(f"{path}: expected a mapping of sections")
    return params


def notebook_parameters(
    params: dict[str, Any], sections: Sequence[str], nested: Sequence[str] = ()
) -> dict[str, Any]:
    """Merge the named sections into one flat mapping of notebook parameters.

    Keys of each section in ``sections`` become parameters; each section in ``nested``
    becomes one parameter holding the whole section (e.g. ``datasets``). A name
    defined twice is an error (it would silently shadow).
    """
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for section in nested:
        if section not in params:
            raise KeyError(f"params.yaml has no section {section!r}")
        merged[section] = params[section]
        origin[section] = section
    for section in sections:
        if section not in params:
            raise KeyError(f"params.yaml has no section {section!r}")
        for key, value in (params[section] or {}).items():
            if key in merged:
                raise ValueError(
                    f"parameter {key!r} is defined in both {origin[key]!r} and {section!r}"
                )
            merged[key] = value
            origin[key] = section
    return merged


def notebook_summary(path: str | Path) -> tuple[str, str]:
    """Title (first ``# `` heading) and one-line summary (next paragraph) of a notebook."""
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        lines = [line.strip() for line in cell.source.splitlines()]
        title = next((line[2:].strip() for line in lines if line.startswith("# ")), None)
        if title is None:
            continue
        after = lines[lines.index(f"# {title}") + 1 :]
        summary = next((line for line in after if line and not line.startswith("#")), "")
        return title, summary
    return Path(path).stem, ""


def cell_assignments(source: str) -> dict[str, Any]:
    """Literal values assigned at the top level of a parameters cell (name → value)."""
    values: dict[str, Any] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                values[target.id] = ast.literal_eval(node.value)
    return values


def _flat(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def parameters_table(defaults: dict[str, Any], injected: dict[str, Any]) -> str:
    """Markdown of a run's parameters: the values that differ from the notebook's
    defaults in a table, and every parameter in a collapsed table below it."""
    defaults, injected = _flat(defaults), _flat(injected)
    names = list(dict.fromkeys([*defaults, *injected]))
    changed = [n for n in names if n in injected and injected[n] != defaults.get(n)]
    if changed:
        rows = ["| parameter | value in this run | notebook default |", "|---|---|---|"]
        rows += [
            f"| `{n}` | **{_cell(injected[n])}** | {_cell(defaults.get(n, '—'))} |" for n in changed
        ]
        head = "\n".join(rows)
    else:
        head = "Every parameter has its notebook default."
    every = ["| parameter | value in this run |", "|---|---|"]
    every += [f"| `{n}` | {_cell(injected.get(n, defaults.get(n)))} |" for n in names]
    return (
        f"{head}\n\n<details>\n<summary>All {len(names)} parameters of this run</summary>"
        "\n\n" + "\n".join(every) + "\n\n</details>"
    )


def _cell(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    text = text.replace("|", "\\|")
    return text if len(text) <= 160 else text[:157] + "…"


#: stderr text that is progress, not information: tqdm bars and tqdm's widget warning.
PROGRESS_LINE = re.compile(
    r"^\s*$|\d+%\||\d+/\d+ \[|IProgress not found|from \.autonotebook import"
)


def _is_progress(output: nbformat.NotebookNode) -> bool:
    if output.get("output_type") != "stream" or output.get("name") != "stderr":
        return False
    return all(PROGRESS_LINE.search(line) for line in re.split(r"[\r\n]", output["text"]))


#: "SomethingWarning: message" inside a warning's stderr text.
WARNING_LINE = re.compile(r"\b(\w*Warning): (.+)")


def _as_note(text: str) -> str | None:
    """One short line per distinct warning in stderr text (None: nothing to say)."""
    found = list(dict.fromkeys(f"{k}: {m.strip()}" for k, m in WARNING_LINE.findall(text)))
    if not found:
        found = [ln.strip() for ln in text.splitlines() if ln.strip()][:1]
    if not found:
        return None
    lines = [f"- {line if len(line) <= 200 else line[:197] + '…'}" for line in found[:3]]
    more = f"\n- … and {len(found) - 3} more" if len(found) > 3 else ""
    return "**Note from the run** (a warning, shown short):\n\n" + "\n".join(lines) + more


def _reader_outputs(outputs: list) -> list:
    """A cell's outputs without stderr: progress bars dropped, warnings as one short note."""
    kept, stderr = [], []
    for output in outputs:
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            if not _is_progress(output):
                stderr.append(output["text"])
        else:
            kept.append(output)
    note = _as_note("".join(stderr)) if stderr else None
    if note:
        kept.append(nbformat.v4.new_output("display_data", data={"text/markdown": note}))
    return kept


def report_notebook(
    nb: nbformat.NotebookNode, study_links: str | None = None, code_link: str | None = None
) -> nbformat.NotebookNode:
    """The notebook as a reader sees it: the two parameter cells become one table.

    The page opens with its answer: the output of the cell tagged ``headline`` (see
    :func:`headline`) is repeated right under the title line. After the notebook's own
    introduction come ``code_link`` (where the code is) and ``study_links`` (markdown,
    see :func:`helpers.report_links.study_map`).

    Progress bars written to stderr (useful live, noise in a report) are dropped; other
    stderr output (warnings) becomes one short note per cell. Papermill leaves the
    notebook's own ``parameters`` cell (the defaults) and adds an ``injected-parameters``
    cell (the values of this run). Shown together they
    contradict each other, so the report replaces both by one table, placed where the
    defaults were, in which values that differ from the defaults are bold.
    """
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = _reader_outputs(cell.outputs)
    title = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"), -1)
    header = [nbformat.v4.new_markdown_cell(text) for text in (code_link, study_links) if text]
    nb.cells[title + 1 : title + 1] = header
    answer = headline_of(nb)
    if answer and title >= 0:  # the page opens with its answer, right under its title
        heading, _, intro = nb.cells[title].source.partition("\n")
        nb.cells[title].source = heading
        nb.cells[title + 1 : title + 1] = [
            nbformat.v4.new_markdown_cell(f"> **The answer.** {answer}"),
            *([nbformat.v4.new_markdown_cell(intro.strip())] if intro.strip() else []),
        ]
    tagged = {
        tag: next((c for c in nb.cells if tag in c.metadata.get("tags", [])), None)
        for tag in ("parameters", "injected-parameters")
    }
    if tagged["parameters"] is None:
        return nb
    defaults = cell_assignments(tagged["parameters"].source)
    injected = (
        cell_assignments(tagged["injected-parameters"].source)
        if tagged["injected-parameters"]
        else {}
    )
    table = nbformat.v4.new_markdown_cell(
        "**Parameters of this run** (from `params.yaml`) that differ from the notebook's "
        "defaults\n\n" + parameters_table(defaults, injected)
    )
    position = nb.cells.index(tagged["parameters"])
    nb.cells = [c for c in nb.cells if c not in tagged.values()]
    nb.cells.insert(position, table)
    return nb


def render_html(executed: Path, html_dir: Path, study_links: str | None = None) -> Path:
    """Render an executed notebook to ``html_dir/<stem>.html`` (see :func:`report_notebook`).

    The page shows narration, tables and figures; the code is hidden, and a line under
    the title links the executed notebook, which holds every cell.
    """
    code = os.path.relpath(executed, html_dir).replace(os.sep, "/")
    code_link = (
        f"*This page shows the results; the code behind them is in the executed "
        f"notebook [`{executed.name}`]({code}).*"
    )
    nb = report_notebook(nbformat.read(str(executed), as_version=4), study_links, code_link)
    exporter = HTMLExporter(
        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True
    )
    body, _ = exporter.from_notebook_node(nb)
    body = link_glossary(body)
    html_dir.mkdir(parents=True, exist_ok=True)
    out = html_dir / f"{executed.stem}.html"
    out.write_text(body, encoding="utf-8")
    return out


def run_stage(
    notebook: str | Path,
    parameters: dict[str, Any],
    root: str | Path,
    reports_dir: str = "reports",
    kernel: str = "python3",
) -> Path:
    """Execute ``notebook`` with ``parameters`` and render it; return the HTML path.

    Raises
    ------
    StageFailed
        When a cell raises (the message holds the cell's traceback), or when the kernel
        dies (the message quotes the tail of the kernel's log).
    """
    root = Path(root)
    notebook = root / notebook
    reports = root / reports_dir
    executed = reports / EXECUTED_DIR / notebook.name
    executed.parent.mkdir(parents=True, exist_ok=True)
    kernel_log = executed.with_suffix(".kernel.log")
    error: PapermillExecutionError | None = None
    try:
        papermill.execute_notebook(
            str(notebook),
            str(executed),
            parameters=parameters,
            kernel_name=kernel,
            language="python",
            cwd=str(root),
            progress_bar=True,  # cell-by-cell progress on the terminal running dvc repro
            kernel_manager_class=kernel_logging_to(kernel_log),
        )
    except PapermillExecutionError as exc:
        error = exc
    except DeadKernelError as exc:
        out = render_html(executed, reports, study_map(root, notebook.stem))
        raise StageFailed(
            f"{notebook.name}: the kernel died ({exc}); out of memory, or a crash in "
            f"compiled code. Last lines of its log, {kernel_log}:\n{_tail(kernel_log)}"
            f"\n(see {out} for the cells that ran)"
        ) from None
    out = render_html(executed, reports, study_map(root, notebook.stem))
    if error is not None:
        headline = f"{notebook.name}: cell {error.exec_count} raised {error.ename}: {error.evalue}"
        if error.ename in DATA_ERRORS:  # the data cannot be used: the message says why
            raise StageFailed(f"{headline}\n(see {out})")
        trace = "\n".join(error.traceback) if error.traceback else str(error)
        trace = ANSI_ESCAPE.sub("", trace)
        raise StageFailed(f"{headline}\n{trace}\n(see {out})")
    return out


HEADLINE_TAG = "headline"


def headline(executed: Path) -> str:
    """The text output of the executed notebook's cell tagged ``headline`` ("" if none).

    A notebook tags the cell that states its key finding (usually a checked
    :func:`helpers.claims.claim`); the index quotes it, so the abstract always carries
    the numbers of the last run.
    """
    if not executed.is_file():
        return ""
    return headline_of(nbformat.read(str(executed), as_version=4))


def headline_of(nb: nbformat.NotebookNode) -> str:
    """The text output of ``nb``'s cell tagged ``headline`` ("" if none)."""
    for cell in nb.cells:
        if HEADLINE_TAG not in cell.metadata.get("tags", []):
            continue
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            text = data.get("text/markdown") or data.get("text/plain") or output.get("text", "")
            text = "".join(text) if isinstance(text, list) else text
            if text.strip():
                return text.strip().strip("'\"")
    return ""


def _inline_markdown(text: str) -> str:
    """Escaped text with Markdown's *emphasis* and `code` as HTML (index summaries)."""
    text = html.escape(text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", text)


def recorded_currency(metrics_dir: str | Path, unknown: str = "currency units") -> str:
    """The currency stage 01 recorded in ``data_quality.json`` (``unknown`` when none was:
    the simulator, and files without a currency column or ``currency`` param)."""
    path = Path(metrics_dir) / "data_quality.json"
    notes = json.loads(path.read_text()).get("notes", {}) if path.is_file() else {}
    return str(notes.get("currency") or unknown)


#: Leaderboard rows that are not models a shop can deploy, and what they are.
CEILINGS = {
    "oracle": "ceiling: the expected spend under each customer's true traits, known only "
    "in the simulator",
}

#: The notebooks whose headlines answer the study's three questions, in order.
ANSWERS = (
    ("Which model to use", "06_evaluate"),
    ("What text adds", "06b_text_signal"),
    ("What planning is worth", "05_rl_policy"),
    ("What to do on Monday", "07_apply"),
)


def _leaderboard_rows(metrics_dir: Path, top: int = 6) -> str:
    path = metrics_dir / "leaderboard.json"
    if not path.is_file():
        return ""
    board = json.loads(path.read_text())
    models = {
        k: v
        for k, v in board.items()
        if isinstance(v, dict)
        and v.get("gini") is not None
        and v.get("protocol") != "cross_fitted"
        and not k.endswith("@cross_fitted")  # as helpers.evaluation.leaderboard.deployable_rows
    }
    ranked = sorted(models.items(), key=lambda kv: -kv[1]["gini"])
    ceilings = [kv for kv in ranked if kv[0] in CEILINGS]
    deployable = [kv for kv in ranked if kv[0] not in CEILINGS][:top]

    def number(value: Any, spec: str) -> str:
        return "—" if value is None else format(value, spec)

    def row(name: str, m: dict, ceiling: bool) -> str:
        label = (
            f"<i>{html.escape(name)}</i> <span class='note'>({html.escape(CEILINGS[name])})</span>"
            if ceiling
            else html.escape(name)
        )
        return (
            f"<tr{' class=ceiling' if ceiling else ''}><td>{label}</td>"
            f"<td>{number(m.get('gini'), '.3f')}</td><td>{number(m.get('mae'), ',.1f')}</td>"
            f"<td>{number(m.get('top10_capture'), '.3f')}</td></tr>"
        )

    cells = "".join(row(n, m, True) for n, m in ceilings) + "".join(
        row(n, m, False) for n, m in deployable
    )
    currency = html.escape(recorded_currency(metrics_dir, "currency"))
    return (
        "<h2>Top of the leaderboard</h2><table><tr><th>model</th><th>normalised Gini ↑</th>"
        f"<th>MAE ({currency}) ↓</th><th>top-10 % capture ↑</th></tr>"
        f"{cells}</table><p class='note'>Holdout spend of every modelled customer, "
        "deployable rows only; "
        "all metrics and models in <a href='06_evaluate.html'>06 · evaluate</a>.</p>"
    )


def _is_simulated(metrics_dir: Path) -> bool:
    path = metrics_dir / "data_quality.json"
    return path.is_file() and json.loads(path.read_text()).get("source") == "shopsim"


def _dataset_line(metrics_dir: Path) -> str:
    path = metrics_dir / "data_quality.json"
    if not path.is_file():
        return ""
    quality = json.loads(path.read_text())
    notes = quality.get("notes", {})
    split = notes.get("split", {})
    when = f", calibration to {split['cutoff']}, holdout to {split['holdout_end']}" if split else ""
    kind = (
        " (<b>simulated</b>: the study's shop simulator, whose true customer traits are "
        "known, so the models can be compared with a ceiling)"
        if quality.get("source") == "shopsim"
        else ""
    )
    return (
        f"<p><b>Data:</b> {html.escape(str(quality.get('source', '')))}{kind} — "
        f"{quality.get('rows_kept', 0):,} of {quality.get('rows_in', 0):,} rows kept"
        f"{html.escape(when)}.</p>"
    )


def _answers(reports: Path) -> str:
    items = []
    applied = reports / "metrics" / "apply.json"
    verdict = json.loads(applied.read_text()) if applied.is_file() else {}
    if verdict.get("informative") is False:  # said before any figure a reader might act on
        items.append(
            f"<li><b>First: the models add nothing usable over a rule of thumb.</b> "
            f"{_inline_markdown(str(verdict.get('signal', '')))} "
            "<a href='07_apply.html'>more</a></li>"
        )
    for question, stem in ANSWERS:
        key = headline(reports / EXECUTED_DIR / f"{stem}.ipynb")
        if key:
            items.append(
                f"<li><b>{html.escape(question)}.</b> {_inline_markdown(key)} "
                f"<a href='{stem}.html'>more</a></li>"
            )
    return f"<h2>The answer</h2><ul>{''.join(items)}</ul>" if items else ""


def _caveats(metrics_dir: Path) -> str:
    items = [
        "Every row ranked here is deployable: the BTYD rows and the learned models "
        "(LightGBM, the deep rows, the fusions) learn from the calibration period only, as "
        "a shop scoring today would. The cross-fitted learned rows, trained on other "
        "customers' spend in the holdout period itself, are compared with them in 06.",
        "The marketing results of 05 rest on assumed treatment effects (how customers "
        "respond to an e-mail or a coupon): no log in the study was ever marketed to.",
        "Every comparison carries a paired bootstrap interval; a difference whose interval "
        "contains 0 is not a difference these data can show.",
    ]
    if _is_simulated(metrics_dir):
        items.insert(
            0,
            "These data are simulated: the figures show what the methods can do where the "
            "truth is known. Run the study on CDNOW, Online Retail or your own export "
            "(params.yaml) before acting on them.",
        )
    return "<h2>Caveats</h2><ul class='note'>" + "".join(f"<li>{c}</li>" for c in items) + "</ul>"


def write_index(
    root: str | Path, reports_dir: str = "reports", notebooks_dir: str = "notebooks"
) -> Path:
    """Write ``reports/index.html``: the study's abstract, then links to every notebook.

    The abstract: which data (and whether they are simulated), the answer to the study's
    three questions (the headlines of 06, 06b and 05, see :func:`headline`), the top of
    the leaderboard with the oracle marked as a ceiling, the headline figure, the
    caveats, then each notebook with its headline.
    """
    root = Path(root)
    reports = root / reports_dir
    metrics = reports / "metrics"
    rows = []
    for source in sorted((root / notebooks_dir).glob("[0-9][0-9]*_*.ipynb")):
        rendered = reports / f"{source.stem}.html"
        if not rendered.exists():
            continue
        title, summary = notebook_summary(source)
        key = headline(reports / EXECUTED_DIR / f"{source.stem}.ipynb")
        rows.append(
            f'<li><a href="{html.escape(rendered.name)}">{html.escape(title)}</a>'
            f"<p>{_inline_markdown(summary)}</p>"
            + (f"<p class='key'>{_inline_markdown(key)}</p>" if key else "")
            + "</li>"
        )
    figure = reports / "figures" / "06_evaluate" / "gains.png"
    shown = (
        f"<figure><img src='{figure.relative_to(reports)}' alt='gains curves'>"
        "<figcaption>Gains curves: share of holdout spend captured when customers are "
        "contacted in the order each model ranks them (higher and further left is "
        "better).</figcaption></figure>"
        if figure.is_file()
        else ""
    )
    run_date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    page = (
        "<!doctype html>\n<html><head><meta charset='utf-8'>"
        "<title>CLV study — reports</title>"
        "<style>body{font-family:sans-serif;max-width:52rem;margin:2rem auto;line-height:1.4}"
        "li{margin-bottom:1rem}p{margin:.2rem 0;color:#444}p.key{color:#063;font-weight:600}"
        "table{border-collapse:collapse}td,th{padding:.2rem .6rem;border-bottom:1px solid #ddd;"
        "text-align:right}td:first-child,th:first-child{text-align:left}img{max-width:100%}"
        "tr.ceiling td{color:#666;background:#f6f6f6}"
        ".note{font-size:.9rem}</style></head><body>"
        "<h1>Customer lifetime value study — reports</h1>"
        f"<p>Run of {run_date}, by <code>dvc repro</code> with the values in "
        "<code>params.yaml</code>.</p>"
        f"{_dataset_line(metrics)}{_answers(reports)}{_leaderboard_rows(metrics)}{shown}"
        f"{_caveats(metrics)}"
        f"<h2>The notebooks, in order</h2><ol>{''.join(rows)}</ol></body></html>\n"
    )
    reports.mkdir(parents=True, exist_ok=True)
    out = reports / "index.html"
    out.write_text(page, encoding="utf-8")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``run NOTEBOOK --sections a,b`` or ``index``."""
    parser = argparse.ArgumentParser(prog="python -m helpers.pipeline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute a notebook stage and render it to HTML")
    run.add_argument("notebook")
    run.add_argument("--sections", default="base", help="comma-separated params.yaml sections")
    run.add_argument("--nested", default="", help="sections passed whole, as one parameter")
    run.add_argument("--params", default="params.yaml")
    run.add_argument("--kernel", default="python3")
    sub.add_parser("index", help="rebuild reports/index.html")
    args = parser.parse_args(argv)
    root = project_root()
    if args.command == "index":
        print(write_index(root).relative_to(root))
        print(write_glossary(root).relative_to(root))
        return 0
    params = read_params(root / args.params)
    parameters = notebook_parameters(
        params,
        [s for s in args.sections.split(",") if s],
        [s for s in args.nested.split(",") if s],
    )
    start = time.perf_counter()
    try:
        out = run_stage(args.notebook, parameters, root, kernel=args.kernel)
    except StageFailed as exc:
        print(f"stage failed: {exc}", file=sys.stderr)
        return 1
    print(f"{out.relative_to(root)} ({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
