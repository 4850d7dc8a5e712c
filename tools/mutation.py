"""Mutation testing of the study's decision-critical modules (``make mutation``).

Runs mutmut (pinned in the Makefile) once per module in :data:`MODULES`, each against
its own fast tests only, and reports per module how many mutants the tests killed.
Exits non-zero when a module's killed share is under ``--min-killed`` (default 0.8),
when a module has no test file, or when mutmut itself fails.

How one module is run
---------------------
mutmut 3 mutates a *copy* of the source in ``mutants/`` and puts ``mutants/src`` first
on ``sys.path`` (removing ``src/``, the entry of the editable install, when it is
there), so the tests import the mutated copy, not the editable install. To give each
module its own mutmut configuration (which file to mutate, which tests to run)
without touching the repository's ``pyproject.toml``, every module runs in its own
work folder ``.mutation/<module>/`` (git-ignored) holding

* ``src`` -> a symlink to the repository's ``src/`` (mutmut copies it to ``mutants/``);
* ``tests/`` -> a snapshot of the repository's ``tests/``;
* ``pyproject.toml`` -> the repository's pytest settings plus a generated
  ``[tool.mutmut]`` table (``only_mutate`` = the module, test selection = its tests,
  ``-m "not slow"``);
* ``mutants/`` -> pre-filled with links to the repository's other top-level entries
  (``params.yaml``, ``data/``, ...), which tests find next to their own folder.

The folder is rebuilt on every run, so no stale verdict from an earlier run (before a
test was added) survives; a lock file keeps two runs of one module apart.

Before mutating, mutmut runs the selected tests once with every mutated function set
to raise ("forced fail"); it stops when they still pass, i.e. when the tests are not
importing the mutated copy. A module with a 0 % or 100 % killed share is flagged too.

Killed share = (killed + timeout) / (total - skipped), mutmut's own score: "no tests"
(a function no selected test calls), "survived", "suspicious" and "segfault" mutants
all count as not killed. mutmut 3 mutates code inside functions and methods only
(module-level constants are not mutated).

Usage::

    python tools/mutation.py                                  # every module below
    python tools/mutation.py --modules "marketing/ope.py data/split.py"
    python tools/mutation.py --min-killed 0.9 --jobs 2 --report reports/mutation.json
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import fcntl
import glob
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path("src/helpers")

# Module (under src/helpers/) -> the test files that should kill its mutants.
# Globs are allowed; a pattern that matches nothing is skipped with a note. Only the
# fast tier runs (-m "not slow"); keep end-to-end, Spark and other slow files out.
# mutmut narrows further on its own: each mutant runs only the selected tests that
# call the mutated function (found by one instrumented run of the selection).
MODULES: dict[str, list[str]] = {
    "evaluation/metrics.py": [
        "tests/test_metrics.py",
        "tests/test_metrics_boundaries.py",
        "tests/test_evaluation.py",
    ],
    "data/split.py": [
        "tests/test_split.py",
        "tests/test_split_boundaries.py",
    ],
    # No other test file imports ope or planners; the marketing study tests reach them
    # only through agent training (tens of seconds per mutant), so they are left out.
    "marketing/ope.py": [
        "tests/test_ope_known_answers.py",
    ],
    "marketing/policies.py": [
        "tests/test_policies_known_answers.py",
        "tests/test_marketing_diagnose.py",
        "tests/test_marketing_learners.py",
        "tests/test_marketing_study.py",
    ],
    "marketing/planners.py": [
        "tests/test_planners_known_answers.py",
    ],
    "apply/scoring.py": [
        "tests/test_scoring_known_answers.py",
        "tests/test_apply.py",
        "tests/test_apply_batch.py",
        "tests/test_apply_production.py",
    ],
    "apply/actions.py": [
        "tests/test_actions_known_answers.py",
        "tests/test_apply.py",
        "tests/test_apply_production.py",
    ],
    "models/fusion.py": [
        "tests/test_fusion.py",
        "tests/test_fusion_known_answers.py",
    ],
}

# Options passed to every pytest run mutmut makes (on top of the repository's own
# [tool.pytest.ini_options]); "-m not slow" keeps the slow tier out.
PYTEST_SELECTION = ["-m", "not slow"]
PYTEST_ARGS = ["-p", "no:cacheprovider"]

# Extra [tool.mutmut] settings. "forkserver": torch and OpenMP are not fork-safe once
# used, so mutants are forked from a process that has imported the tests but run none.
MUTMUT_SETTINGS: dict[str, object] = {
    "process_isolation": "forkserver",
    "use_git_change_detection": False,
}

# One thread per mutant worker: the workers already use every core.
THREAD_ENV = {v: "1" for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}

# Top-level entries of the repository not linked into mutants/ (see prepare_workdir).
NOT_LINKED = {
    *("src", "tests", "pyproject.toml", "setup.cfg", "uv.lock", "poetry.lock"),
    *("Pipfile.lock", "pdm.lock", "mutants", ".mutation", ".git", ".pytest_cache"),
}

NOT_KILLED = ("survived", "no tests", "suspicious", "segfault", "not checked")


# --- configuration -------------------------------------------------------------------
def resolve_tests(patterns: list[str]) -> tuple[list[str], list[str]]:
    """(test files found, relative to the root; patterns that matched nothing)."""
    found: list[str] = []
    missing: list[str] = []
    for pattern in patterns:
        hits = sorted(glob.glob(pattern, root_dir=ROOT))
        if not hits:
            missing.append(pattern)
        found += [h for h in hits if h not in found]
    return found, missing


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string for everything we write
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def pyproject_text(module: str, tests: list[str]) -> str:
    repo = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pytest_opts = repo.get("tool", {}).get("pytest", {}).get("ini_options", {})
    mutmut = {
        "source_paths": ["src"],
        "only_mutate": [str(PACKAGE / module)],
        "pytest_add_cli_args_test_selection": [*tests, *PYTEST_SELECTION],
        "pytest_add_cli_args": PYTEST_ARGS,
        **MUTMUT_SETTINGS,
    }
    lines = ["# Generated by tools/mutation.py; rebuilt on every run.", ""]
    lines.append("[tool.pytest.ini_options]")
    lines += [f"{k} = {toml_value(v)}" for k, v in pytest_opts.items()]
    lines += ["", "[tool.mutmut]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in mutmut.items()]
    return "\n".join(lines) + "\n"


def slug(module: str) -> str:
    return module.removesuffix(".py").replace("/", "__")


def prepare_workdir(module: str, tests: list[str]) -> Path:
    work = ROOT / ".mutation" / slug(module)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    (work / "src").symlink_to(ROOT / "src", target_is_directory=True)
    shutil.copytree(
        ROOT / "tests",
        work / "tests",
        ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"),
    )
    (work / "pyproject.toml").write_text(pyproject_text(module, tests))
    # Tests find repository files next to their own folder (Path(__file__).parents[1] /
    # "params.yaml"); in mutants/ that folder is mutants/, so link the repository's other
    # top-level entries there. mutmut copies src/, tests/ and its also_copy files itself
    # (and would write through a link), so those are not linked.
    mutants = work / "mutants"
    mutants.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in NOT_LINKED and not entry.name.startswith("test"):
            (mutants / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    return work


# --- results -------------------------------------------------------------------------
def function_spans(source: str) -> dict[str, tuple[int, int]]:
    """'func' / 'Class.method' -> (first line incl. decorators, last line)."""
    spans: dict[str, tuple[int, int]] = {}

    def add(node: ast.AST, name: str) -> None:
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        spans[name] = (first, node.end_lineno or node.lineno)

    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            add(node, node.name)
        elif isinstance(node, ast.ClassDef):
            for sub in node.body:
                if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef):
                    add(sub, f"{node.name}.{sub.name}")
    return spans


def changed_lines(diff: str) -> tuple[list[str], list[str], int | None]:
    """(removed lines, added lines, 1-based line of the first removed one in the function)."""
    old: list[str] = []
    new: list[str] = []
    first = None
    number = 0
    for ln in diff.splitlines():
        if ln.startswith(("---", "+++")):
            continue
        if ln.startswith("@@"):
            hunk = re.match(r"@@ -(\d+)", ln)
            number = int(hunk.group(1)) if hunk else 0
        elif ln.startswith("-"):
            old.append(ln[1:].strip())
            first = number if first is None else first
            number += 1
        elif ln.startswith("+"):
            new.append(ln[1:].strip())
        else:
            number += 1
    return old, new, first


def source_line(
    lines: list[str], span: tuple[int, int] | None, old: list[str], offset: int | None
) -> int | None:
    """The mutated line in the source file: the line of the function the diff points at,
    or the nearest line in the function with the same text."""
    if span is None:
        return None
    if not old:
        return span[0]
    guess = span[0] + (offset or 1) - 1
    same = [n for n in range(span[0], span[1] + 1) if lines[n - 1].strip() == old[0]]
    return min(same, key=lambda n: abs(n - guess)) if same else guess


def collect_results(work: Path, module: str, only: set[str] | None = None) -> dict:
    """Counts and surviving mutants, read from mutmut's own result files (``only``: the
    sampled mutants' names, when a sample was run)."""
    from mutmut.configuration import reset_config
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.stats import status_by_exit_code
    from mutmut.utils.format_utils import orig_function_and_class_names_from_key

    path = PACKAGE / module
    here = Path.cwd()
    os.chdir(work)
    try:
        reset_config()
        data = SourceFileMutationData(path=path)
        data.load()
        statuses = {
            k: status_by_exit_code[v]
            for k, v in data.exit_code_by_key.items()
            if only is None or k in only
        }
        source = (ROOT / path).read_text()
        lines = source.splitlines()
        spans = function_spans(source)
        survivors = []
        for key in sorted(statuses, key=mutant_sort_key):
            status = statuses[key]
            if status not in NOT_KILLED:
                continue
            func, cls = orig_function_and_class_names_from_key(key)
            function = f"{cls}.{func}" if cls else func
            try:
                diff = get_diff_for_mutant(key, path=path)
            except Exception as exc:  # a mutant mutmut cannot diff: report, do not crash
                diff = f"(no diff: {exc})"
            old, new, offset = changed_lines(diff)
            survivors.append(
                {
                    "mutant": key,
                    "status": status,
                    "function": function,
                    "line": source_line(lines, spans.get(function), old, offset),
                    "change": {"from": old, "to": new},
                    "diff": diff,
                }
            )
    finally:
        os.chdir(here)
        reset_config()
    counts = Counter(statuses.values())
    total = len(statuses)
    skipped = counts["skipped"]
    detected = counts["killed"] + counts["timeout"] + counts["caught by type check"]
    tested = total - skipped
    return {
        "total": total,
        "killed": counts["killed"],
        "survived": counts["survived"],
        "timeout": counts["timeout"],
        "skipped": skipped,
        "no_tests": counts["no tests"],
        "other": {
            k: v
            for k, v in counts.items()
            if k not in ("killed", "survived", "timeout", "skipped", "no tests")
        },
        "killed_share": detected / tested if tested else None,
        "survivors": survivors,
    }


def mutant_sort_key(key: str) -> tuple[str, int]:
    stem, _, number = key.rpartition("__mutmut_")
    return stem, int(number) if number.isdigit() else 0


# --- running -------------------------------------------------------------------------
def run_module(
    module: str, jobs: int, min_killed: float, sample: int | None = None, sample_seed: int = 0
) -> dict:
    tests, missing = resolve_tests(MODULES[module])
    entry: dict = {
        "module": str(PACKAGE / module),
        "tests": tests,
        "missing_tests": missing,
        "min_killed": min_killed,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    for pattern in missing:
        print(f"  note: {pattern} not found, skipped")
    if not tests:
        entry.update(status="error", error="no test file found for this module")
        print(f"  ERROR: no test file found for {module}")
        return entry

    with module_lock(module):
        return run_locked(module, tests, entry, jobs, min_killed, sample, sample_seed)


@contextlib.contextmanager
def module_lock(module: str):
    """One run per module at a time: runs share the work folder .mutation/<module>/."""
    path = ROOT / ".mutation" / f"{slug(module)}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"  waiting for another mutation run of {module} to finish", flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def sample_names(work: Path, module: str, size: int, seed: int) -> tuple[list[str], int]:
    """A seeded random sample of ``size`` mutant names of ``module`` (and how many exist),
    read from the result file mutmut writes when it generates the mutants."""
    meta = work / "mutants" / PACKAGE / f"{module}.meta"
    keys = sorted(json.loads(meta.read_text())["exit_code_by_key"])
    return sorted(random.Random(seed).sample(keys, min(size, len(keys)))), len(keys)


def wilson_interval(killed: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a share ``killed / n`` (Wilson 1927)."""
    if n == 0:
        return 0.0, 1.0
    p = killed / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def run_locked(
    module: str,
    tests: list[str],
    entry: dict,
    jobs: int,
    min_killed: float,
    sample: int | None = None,
    sample_seed: int = 0,
) -> dict:
    work = prepare_workdir(module, tests)
    log = work / "mutmut.log"
    env = {**os.environ, **THREAD_ENV}
    # mutmut must find its own mutants/src first; the editable install's src/ is
    # removed from sys.path by mutmut itself (the work folder's src resolves to it).
    env.pop("PYTHONPATH", None)
    command = [sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs)]
    print(f"  tests: {' '.join(tests)}")
    print(f"  running mutmut in {work.relative_to(ROOT)} (log: {log.relative_to(ROOT)})")
    start = time.monotonic()
    only = None
    if sample:
        # generate the mutants (and collect test stats) without running any: the name
        # matches nothing, so mutmut stops after generating; then run a seeded sample
        with log.open("w") as out:
            subprocess.run(
                [*command, "__generate_only__"],
                cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        names, total = sample_names(work, module, sample, sample_seed)
        only = set(names)
        entry["sample"] = {"size": len(names), "of": total, "seed": sample_seed}
        print(f"  sample: {len(names)} of {total} mutants (seed {sample_seed})")
        command = [*command, *names]
    with log.open("a" if sample else "w") as out:
        proc = subprocess.run(command, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT)
    wall = time.monotonic() - start
    entry["wall_s"] = round(wall, 1)
    if proc.returncode != 0:
        tail = clean_log(log.read_text())[-3000:]
        entry.update(status="error", error=f"mutmut exited with {proc.returncode}", log_tail=tail)
        print(f"  ERROR: mutmut exited with {proc.returncode}; end of its log:\n{tail}")
        return entry

    entry.update(collect_results(work, module, only))
    share = entry["killed_share"]
    if sample and share is not None:
        tested = entry["total"] - entry["skipped"]
        low, high = wilson_interval(round(share * tested), tested)
        entry["sample"]["wilson_95"] = [round(low, 4), round(high, 4)]
    if share is None:
        entry.update(status="error", error="mutmut produced no mutants")
    elif share in (0.0, 1.0) and entry["total"] > 20:
        entry["warning"] = f"killed share {share:.0%}: check that the tests import the mutated copy"
        entry["status"] = "ok" if share >= min_killed else "below threshold"
    else:
        entry["status"] = "ok" if share >= min_killed else "below threshold"
    return entry


def clean_log(text: str) -> str:
    """mutmut's output without its spinner and progress lines."""
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text).replace("\r", "\n")
    spinner = re.compile(r"^[\u2800-\u28ff] ")
    return "\n".join(ln for ln in text.splitlines() if ln.strip() and not spinner.match(ln))


def mutmut_version() -> str:
    from importlib.metadata import version

    return version("mutmut")


def common_ends(a: str, b: str) -> tuple[int, int]:
    """Lengths of the common prefix and of the common suffix (not overlapping it)."""
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    end = 0
    while end < min(len(a), len(b)) - start and a[-1 - end] == b[-1 - end]:
        end += 1
    return start, end


def short_change(survivor: dict, context: int = 18) -> str:
    """The changed part of a mutant's line, e.g. ``...(x, 0, None)... -> ...(x, 1, None)...``."""
    old, new = survivor["change"]["from"], survivor["change"]["to"]
    if len(old) != 1 or len(new) != 1:
        text = f"{' / '.join(old) or '(nothing)'}  ->  {' / '.join(new) or '(removed)'}"
        return text if len(text) <= 120 else text[:117] + "..."
    a, b = old[0], new[0]
    start, end = common_ends(a, b)

    def cut(s: str) -> str:
        lo, hi = max(0, start - context), len(s) - max(0, end - context)
        return ("..." if lo else "") + s[lo:hi] + ("..." if hi < len(s) else "")

    return f"{cut(a)}  ->  {cut(b)}"


def print_summary(results: list[dict], min_killed: float) -> None:
    print()
    print(f"Mutation testing (mutmut {mutmut_version()}), threshold {min_killed:.0%} killed")
    header = (
        f"{'module':<32} {'total':>5} {'killed':>6} {'surv.':>5} {'t/out':>5} "
        f"{'no test':>7} {'skip':>4} {'share':>6} {'wall':>7}  status"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        name = r["module"].removeprefix(str(PACKAGE) + "/")
        if "total" not in r:
            wall = f"{r['wall_s']:.0f}s" if "wall_s" in r else "-"
            print(
                f"{name:<32} {'-':>5} {'':>6} {'':>5} {'':>5} {'':>7} {'':>4} {'-':>6} "
                f"{wall:>7}  {r['status']}: {r['error']}"
            )
            continue
        share = "-" if r["killed_share"] is None else f"{r['killed_share']:.1%}"
        print(
            f"{name:<32} {r['total']:>5} {r['killed']:>6} {r['survived']:>5} {r['timeout']:>5} "
            f"{r['no_tests']:>7} {r['skipped']:>4} {share:>6} {r['wall_s']:>6.0f}s  {r['status']}"
        )
    for r in results:
        if r.get("warning"):
            print(f"WARNING {r['module']}: {r['warning']}")
    for r in results:
        survivors = r.get("survivors") or []
        if not survivors:
            continue
        print()
        print(f"{r['module']}: {len(survivors)} mutants not killed")
        for s in survivors:
            where = f"{r['module']}:{s['line']}" if s["line"] else r["module"]
            tag = "" if s["status"] == "survived" else f" [{s['status']}]"
            print(f"  {where}  {s['function']}{tag}: {short_change(s)}")


def write_report(report: Path, results: list[dict], jobs: int, passed: bool) -> None:
    """The latest result of every module: this run's, plus earlier runs' for the modules
    not run now (each entry says when it started and under which threshold)."""
    earlier: dict[str, dict] = {}
    try:
        earlier = {m["module"]: m for m in json.loads(report.read_text())["modules"]}
    except (OSError, ValueError, KeyError, TypeError):
        pass
    latest = {**earlier, **{r["module"]: r for r in results}}
    rank = {str(PACKAGE / m): i for i, m in enumerate(MODULES)}
    modules = sorted(latest.values(), key=lambda m: rank.get(m["module"], len(rank)))
    report.parent.mkdir(parents=True, exist_ok=True)
    content = {
        "tool": f"mutmut {mutmut_version()}",
        "killed_share": "(killed + timeout) / (total - skipped)",
        "jobs": jobs,
        "this_run": [r["module"] for r in results],
        "this_run_passed": passed,
        "modules": modules,
    }
    report.write_text(json.dumps(content, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--modules",
        default="",
        help="space- or comma-separated modules under src/helpers (default: all in the table)",
    )
    parser.add_argument("--min-killed", type=float, default=0.8)
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--report", default="reports/mutation.json")
    parser.add_argument(
        "--sample",
        type=int,
        default=None,
        help="run a seeded random sample of this many mutants per module (a killed share "
        "with a 95 %% Wilson interval) instead of all of them",
    )
    parser.add_argument("--sample-seed", type=int, default=0)
    args = parser.parse_args(argv)

    wanted = [
        m.removeprefix("src/").removeprefix("helpers/")
        for m in re.split(r"[\s,]+", args.modules)
        if m
    ]
    unknown = [m for m in wanted if m not in MODULES]
    if unknown:
        parser.error(f"not in the table of tools/mutation.py: {unknown}; known: {list(MODULES)}")
    modules = wanted or list(MODULES)

    results = []
    for module in modules:
        print(f"== {PACKAGE / module}", flush=True)
        result = run_module(module, args.jobs, args.min_killed, args.sample, args.sample_seed)
        results.append(result)
        if "killed_share" in result and result["killed_share"] is not None:
            killed, total, share = result["killed"], result["total"], result["killed_share"]
            print(
                f"  {killed}/{total} killed, share {share:.1%}, {result['wall_s']:.0f} s",
                flush=True,
            )

    print_summary(results, args.min_killed)
    passed = all(r["status"] == "ok" for r in results)
    report = ROOT / args.report
    write_report(report, results, args.jobs, passed)
    print(f"\nReport: {report}")
    if not passed:
        print(f"FAILED: a module is under {args.min_killed:.0%} killed or could not be run")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
