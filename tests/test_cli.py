"""Tests of the command line: ``python -m helpers validate ...``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import cli

ORDERS = """customer,order_date,total,kind
c1,2021-03-01 10:00:00,19.99,transaction
c1,2021-03-05 10:05:00,,addtocart
c2,2021-03-02 09:00:00,5.00,transaction
c2,2021-03-02 09:00:00,5.00,transaction
"""
MAPPING = "user_id=customer,ts=order_date,amount=total,event_type=kind"


@pytest.fixture
def orders(tmp_path: Path) -> Path:
    path = tmp_path / "orders.csv"
    path.write_text(ORDERS)
    return path


def test_validate_good_file(orders: Path, tmp_path: Path, capsys) -> None:
    out_json = tmp_path / "out" / "report.json"
    argv = ["validate", str(orders), "--mapping", MAPPING, "--json", str(out_json)]
    argv += ["--event-type-map", "addtocart=cart,transaction=purchase", "--as-of", "2024-01-01"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert f"Data-quality report for {orders}" in out
    assert "  rows in                4\n  rows kept              3\n" in out
    assert "  dropped: duplicate                             1" in out
    assert "  users                  2\n  events                 3\n" in out
    assert "    purchase             2\n    cart                 1\n" in out
    assert "  date range  2021-03-01 .. 2021-03-05" in out
    saved = json.loads(out_json.read_text())
    assert saved["rows_in"] == 4
    assert saved["dropped"]["duplicate"] == 1
    assert saved["summary"]["events_by_type"] == {"purchase": 2, "cart": 1}
    assert saved["summary"]["first_event"] == "2021-03-01T10:00:00+00:00"


def test_validate_default_event_type(tmp_path: Path, capsys) -> None:
    path = tmp_path / "tx.csv"
    path.write_text("user_id,ts,amount\nu1,2020-01-01,3\nu2,2020-02-01,4\n")
    assert cli.main(["validate", str(path), "--default-event-type", "purchase"]) == 0
    assert "    purchase             2\n" in capsys.readouterr().out


def test_validate_missing_user_id_subprocess(tmp_path: Path) -> None:
    path = tmp_path / "no_user.csv"
    path.write_text("customer,ts,event_type\nc1,2020-01-01,view\n")
    result = subprocess.run(
        [sys.executable, "-m", "helpers", "validate", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {path}: column 'user_id': required column is missing")
    assert "Example row 0: {'customer': 'c1'" in result.stderr


def test_validate_missing_mapped_column(orders: Path, capsys) -> None:
    assert cli.main(["validate", str(orders), "--mapping", "user_id=client"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"error: {orders}: column 'client': column mapped to 'user_id'")


def test_validate_nonexistent_file(tmp_path: Path, capsys) -> None:
    path = tmp_path / "missing.csv"
    assert cli.main(["validate", str(path), "--dataset", "online_retail"]) == 2
    assert capsys.readouterr().err == f"error: {path}: file not found.\n"


def test_validate_needs_path_except_for_cdnow(capsys) -> None:
    assert cli.main(["validate"]) == 2
    assert capsys.readouterr().err == "error: dataset 'events' needs a PATH.\n"


def test_validate_cdnow(capsys) -> None:
    assert cli.main(["validate", "--dataset", "cdnow"]) == 0
    out = capsys.readouterr().out
    assert "  rows kept         69,659" in out
    assert "  note: identical_rows_kept" in out
    assert "  users             23,570" in out
    assert "  date range  1997-01-01 .. 1998-06-30" in out


def test_bad_arguments_exit_2(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["validate", "x.csv", "--mapping", "user_id"])
    assert info.value.code == 2
    assert "expected KEY=VALUE pairs, got 'user_id'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        cli.main([])
    assert info.value.code == 2
