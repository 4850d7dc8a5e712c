"""Render docs/benchmarks.md from the benchmark scripts' JSON outputs.

Every script in ``benchmarks/`` writes its figures and how they were taken to
``benchmarks/results/<name>.json`` (``--json``; see ``benchmarks/_results.py``). This
page shows one current figure per benchmark with how it was taken, and for a benchmark
without a JSON file yet, the command that measures it.

Usage::

    python tools/benchmarks_doc.py            # writes docs/benchmarks.md
    python tools/benchmarks_doc.py --check    # exits 1 when the page is out of date
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
RESULTS = BENCHMARKS / "results"
DOC = ROOT / "docs" / "benchmarks.md"
PYTHON = ".venv/bin/python"


@dataclass(frozen=True)
class Benchmark:
    name: str  # the JSON file's stem
    script: str  # file name in benchmarks/
    arguments: str  # the documented command's arguments
    measures: str
    page: str = ""  # a page in docs/ with the details, linked when it exists
    elsewhere: str = ""  # where the script writes its JSON when not in benchmarks/results/


#: Every benchmark, with the command that measures it (the scripts' documented usage).
REGISTRY = (
    Benchmark(
        "text_embedding",
        "bench_text_embedding.py",
        "--n 2000",
        "stage 02's encoder against sentence-transformers (texts/s), and the embedding cache",
    ),
    Benchmark(
        "features",
        "bench_features.py",
        "--sizes 100000 1000000",
        "stage 03's feature and sequence build: time and peak memory as users grow",
    ),
    Benchmark(
        "engines",
        "bench_engines.py",
        "--users 100000 1000000",
        "stage 03 on DuckDB against Spark `local[2]`, same Parquet files",
    ),
    Benchmark(
        "stage04",
        "bench_stage04.py",
        "",
        "stage 04: seconds per epoch, LightGBM threads, tuning and the deep models, "
        "serial against parallel",
    ),
    Benchmark(
        "deep_training",
        "bench_deep_training.py",
        "",
        "the deep model's training: customers/s per epoch (CPU or GPU), by variant",
    ),
    Benchmark(
        "btyd_backend",
        "bench_btyd_backend.py",
        "",
        "the BTYD fitting backend: Gini, purchases and seconds per model and priors",
        page="btyd_backend.md",
        elsewhere="docs/btyd_backend.json",
    ),
    Benchmark(
        "rl",
        "bench_rl.py",
        "",
        "stage 05's policies: seconds per run, as a ratio to contacting nobody",
    ),
    Benchmark(
        "rl_study",
        "bench_rl.py",
        "--study",
        "stage 05's whole study: seconds per section, wall and CPU",
    ),
    Benchmark(
        "text_signal",
        "bench_text_signal.py",
        "",
        "one world of 06b's signal sweep: wall and CPU seconds, empty against warm cache",
    ),
    Benchmark(
        "bootstrap_gini",
        "bench_bootstrap_gini.py",
        "",
        "06b's paired Gini bootstrap: vectorised against one resample at a time",
    ),
    Benchmark(
        "score",
        "bench_score.py",
        "--sizes 100000 1000000",
        "stage 07's batch scoring: customers/s and peak memory",
    ),
)


def command(bench: Benchmark) -> str:
    return " ".join(filter(None, [PYTHON, f"benchmarks/{bench.script}", bench.arguments]))


def _load(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None


def _arguments(arguments: dict[str, Any]) -> str:
    shown = []
    for key, value in arguments.items():
        if value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            shown.append(flag)
        elif isinstance(value, list):
            shown.append(f"{flag} {' '.join(str(v) for v in value)}")
        else:
            shown.append(f"{flag} {value}")
    return " ".join(shown)


def _load_words(start: list[float], end: list[float], cores: int | None) -> str:
    text = f"load average {start[0]:.2f} at the start, {end[0]:.2f} at the end"
    if cores and max(start[0], end[0]) >= cores:
        text += f": a **busy machine** (more runnable processes than its {cores} cores)"
    return text


def json_path(bench: Benchmark, results: Path = RESULTS) -> Path:
    """Where ``bench``'s JSON is: ``results/<name>.json``, else where its script writes it."""
    own = results / f"{bench.name}.json"
    if own.is_file() or not bench.elsewhere:
        return own
    return ROOT / bench.elsewhere


def section(bench: Benchmark, record: dict[str, Any] | None, where: str = "") -> list[str]:
    """The page's lines for one benchmark."""
    measures = bench.measures[:1].upper() + bench.measures[1:]
    where = where or f"benchmarks/results/{bench.name}.json"
    if bench.page and (DOC.parent / bench.page).is_file():
        measures += f" (details: [{bench.page}]({bench.page}))"
    lines = [f"## {bench.name}: `benchmarks/{bench.script}`", "", measures + ".", ""]
    if record is None:
        return [*lines, f"Not measured yet: `{command(bench)}`", ""]
    taken = record.get("taken")
    if "headline" not in record or not isinstance(taken, dict):
        keys = ", ".join(f"`{k}`" for k in record) or "none"
        return [
            *lines,
            f"Measured: `{where}` holds this script's own "
            f"layout (keys {keys}), without a headline or how it was taken; see the "
            "script's own page. Measure again: "
            f"`{command(bench)}`",
            "",
        ]
    how = [
        f"taken {taken.get('started_utc', '?')} UTC",
        f"{taken.get('cores', '?')} cores",
        f"Python {taken.get('python', '?')}",
    ]
    if taken.get("load_average_start") and taken.get("load_average_end"):
        how.append(
            _load_words(taken["load_average_start"], taken["load_average_end"], taken.get("cores"))
        )
    if taken.get("commit"):
        how.append(f"commit `{taken['commit']}`")
    if taken.get("seconds_in_all") is not None:
        how.append(f"{taken['seconds_in_all']:g} s for the whole script")
    return [
        *lines,
        f"**Current figure:** {record['headline']}.",
        "",
        f"How it was taken: `{record.get('command', command(bench))}`; {'; '.join(how)}. "
        f"Arguments in full: `{_arguments(taken.get('arguments', {})) or '(defaults)'}`; "
        f"platform {taken.get('platform', '?')}. All figures: "
        f"`{where}`.",
        "",
    ]


def _scripts_without_entry(benchmarks: Path) -> list[str]:
    known = {bench.script for bench in REGISTRY}
    return sorted(p.name for p in benchmarks.glob("bench_*.py") if p.name not in known)


def _docstring_line(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    return doc.splitlines()[0].rstrip(".") if doc else "(no description)"


def render(results: Path = RESULTS, benchmarks: Path = BENCHMARKS) -> str:
    """The page for the JSON files in ``results`` (and any unregistered script)."""
    lines = [
        "# Benchmarks",
        "",
        "Generated by `python tools/benchmarks_doc.py` from the JSON files that the scripts in",
        "`benchmarks/` write to `benchmarks/results/` (`--json PATH`): do not edit by hand.",
        "Speed is measured by these scripts, never by timed tests. Each figure says how it",
        "was taken; on a shared machine, compare ratios measured in one run rather than",
        "seconds measured on different days. A benchmark without a JSON file yet shows the",
        "command that measures it. Figures recorded by hand before the scripts wrote JSON",
        "are in the git history of `README.md`.",
        "",
    ]
    for bench in REGISTRY:
        path = json_path(bench, results)
        lines += section(bench, _load(path), str(path.relative_to(ROOT)))
    for script in _scripts_without_entry(benchmarks):
        name = script.removeprefix("bench_").removesuffix(".py")
        bench = Benchmark(name, script, "", _docstring_line(benchmarks / script))
        lines += section(bench, _load(results / f"{name}.json"))
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when the page is stale")
    parser.add_argument("--out", type=Path, default=DOC)
    args = parser.parse_args(argv)
    page = render()
    if args.check:
        current = args.out.read_text() if args.out.is_file() else ""
        if current != page:
            print(f"{args.out} is out of date: run python tools/benchmarks_doc.py")
            return 1
        return 0
    args.out.write_text(page)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
