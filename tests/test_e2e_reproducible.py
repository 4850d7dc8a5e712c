"""End to end (slow tier): the same params give the same results, run after run.

A forced `dvc repro` re-runs every stage of the tiny shopsim study from scratch; the
leaderboard and stage 05's policy table come out byte for byte the same. This is the
study's determinism promise (one seed in params.yaml, passed to every generator).
"""

from pathlib import Path

import pytest
from e2e import dvc, scratch_study

pytestmark = pytest.mark.slow

REPRODUCED = ("leaderboard.json", "leaderboard.csv", "rl_policy.json", "data_quality.json")


def test_a_forced_repro_gives_byte_identical_results(tmp_path: Path):
    work = scratch_study(tmp_path)
    dvc(["repro"], work)
    first = {name: (work / "reports/metrics" / name).read_bytes() for name in REPRODUCED}
    dvc(["repro", "--force"], work)
    for name in REPRODUCED:
        assert (work / "reports/metrics" / name).read_bytes() == first[name], name
