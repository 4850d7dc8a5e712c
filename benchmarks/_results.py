"""A benchmark's figures as JSON, with how they were taken (``--json PATH``).

Every script in this folder writes one file, by default ``benchmarks/results/<name>.json``:

``benchmark``
    the script's name without ``bench_`` (``text_embedding``).
``command``
    the command line that produced the file.
``headline``
    the one current figure, as a sentence (what ``docs/benchmarks.md`` shows).
``figures``
    every figure the script printed, as numbers.
``taken``
    how: UTC date and time, CPU cores, Python version, platform, the load average at the
    start and at the end, the git commit (saying so when ``src/`` or ``benchmarks/`` had
    uncommitted changes), and the script's arguments.

``tools/benchmarks_doc.py`` renders ``docs/benchmarks.md`` from these files.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
#: Arguments that say where to write, not how the figures were taken.
NOT_CONDITIONS = frozenset({"json", "child", "workdir", "out"})


def add_json_option(parser: argparse.ArgumentParser, name: str) -> None:
    """``--json PATH`` (default ``benchmarks/results/<name>.json``; ``<name>`` is the
    :class:`Recorder`'s when the script has several modes)."""
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        help=f"where to write the figures and how they were taken (default {name}.json "
        "in benchmarks/results/)",
    )


def _commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "src", "benchmarks"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return f"{commit} with uncommitted changes in src/ or benchmarks/" if dirty else commit or None


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class Recorder:
    """Started at the top of a benchmark's ``main``: notes the start's load average."""

    def __init__(self, name: str, args: argparse.Namespace) -> None:
        self.name = name
        self.args = args
        self.started = datetime.now(UTC)
        self.load_start = [round(x, 2) for x in os.getloadavg()]

    def write(self, headline: str, figures: dict[str, Any]) -> Path:
        """Write the JSON file (``args.json``) and return its path."""
        arguments = {
            key: _plain(value)
            for key, value in sorted(vars(self.args).items())
            if key not in NOT_CONDITIONS
        }
        record = {
            "benchmark": self.name,
            "command": " ".join(["python", os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]]),
            "headline": headline,
            "figures": figures,
            "taken": {
                "started_utc": self.started.strftime("%Y-%m-%d %H:%M"),
                "seconds_in_all": round((datetime.now(UTC) - self.started).total_seconds(), 1),
                "cores": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "load_average_start": self.load_start,
                "load_average_end": [round(x, 2) for x in os.getloadavg()],
                "commit": _commit(),
                "arguments": arguments,
            },
        }
        path = Path(self.args.json or RESULTS / f"{self.name}.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {path}")
        return path
