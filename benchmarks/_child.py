"""Run a benchmark step in a fresh child process (so its peak memory is its own)."""

from __future__ import annotations

import json
import subprocess
import sys


def run_child(script: str, args: list[str], timeout: float, env: dict | None = None) -> dict:
    """``python SCRIPT ARGS`` in a child; its last stdout line is the JSON result."""
    proc = subprocess.run(
        [sys.executable, script, *args], capture_output=True, text=True, timeout=timeout, env=env
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
