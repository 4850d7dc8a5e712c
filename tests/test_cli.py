"""Tests of the command line: ``python -m helpers validate ...``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import cli
from helpers.data.split import Split

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


def test_validate_needs_path_except_for_built_in_datasets(capsys) -> None:
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
    with pytest.raises(SystemExit, match=r"^2$") as info:  # str(SystemExit) is the code
        cli.main(["validate", "x.csv", "--mapping", "user_id"])
    assert info.value.code == 2
    assert "expected KEY=VALUE pairs, got 'user_id'" in capsys.readouterr().err
    with pytest.raises(SystemExit, match=r"^2$") as info:
        cli.main([])
    assert info.value.code == 2


def test_validate_built_in_online_retail(capsys) -> None:
    assert cli.main(["validate", "--dataset", "online_retail", "--as-of", "2012-01-01"]) == 0
    out = capsys.readouterr().out
    assert "Data-quality report for online_retail.parquet (built-in)\n" in out
    assert "  rows in          541,909\n  rows kept        391,150\n" in out
    assert "  dropped: missing_customer_id             133,361\n" in out
    assert "  users              4,334\n" in out
    assert "  date range  2010-12-01 .. 2011-12-09" in out


def test_validate_counts_out_of_range_years(tmp_path: Path, capsys) -> None:
    path = tmp_path / "typos.csv"
    path.write_text(
        "user_id,ts,event_type,amount\n"
        "u1,2021-03-01 10:00,purchase,10\n"
        "u2,2999-03-01 10:00,purchase,5\n"
        "u3,1500-03-01 10:00,view,\n"
    )
    assert cli.main(["validate", str(path), "--as-of", "2024-01-01"]) == 0
    out = capsys.readouterr().out
    assert "  rows in                3\n  rows kept              1\n" in out
    assert "  dropped: out_of_range_timestamp                2\n" in out


def test_validate_purchase_file_without_amount(tmp_path: Path, capsys) -> None:
    path = tmp_path / "tx.csv"
    path.write_text("customer,day,total\nc1,2021-03-01,9.5\nc2,2021-03-02,3\n")
    argv = ["validate", str(path), "--mapping", "user_id=customer,ts=day"]
    assert cli.main([*argv, "--default-event-type", "purchase"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"error: {path}: no usable rows remain after cleaning: 2 rows in, all dropped"
        " (missing_purchase_amount: 2). Fix: every purchase needs an amount and no column"
        " is mapped to 'amount': map it (e.g. `--mapping amount=<column>`, or"
        " `mapping: {amount: <column>}` in params.yaml).\n"
    )
    fixed = ["validate", str(path), "--mapping", "user_id=customer,ts=day,amount=total"]
    assert cli.main([*fixed, "--default-event-type", "purchase"]) == 0
    assert "  rows kept              2\n" in capsys.readouterr().out


def test_validate_unmapped_status_labels_then_mapped(tmp_path: Path, capsys) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(
        "customer,created,total,status\n"
        "c1,2021-03-01 10:00,19.99,completed\n"
        "c1,2021-03-02 10:00,5.00,cancelled\n"
        "c2,2021-03-04 10:00,8.00,completed\n"
    )
    argv = ["validate", str(path), "--mapping", "user_id=customer,ts=created,amount=total"]
    argv[-1] += ",event_type=status"
    assert cli.main(argv) == 2
    assert capsys.readouterr().err == (
        f"error: {path}: no usable rows remain after cleaning: 3 rows in, all dropped"
        " (unknown_event_type: 3). Fix: event labels 'completed' (2), 'cancelled' (1) are"
        " not one of view, cart, purchase, review: pass `--event-type-map` (e.g."
        " `--event-type-map completed=purchase`, or `event_type_map: {completed: purchase}`"
        " in params.yaml; map a label to `drop` to exclude it on purpose).\n"
    )
    assert cli.main([*argv, "--event-type-map", "completed=purchase,cancelled=drop"]) == 0
    out = capsys.readouterr().out
    assert "  rows in                3\n  rows kept              2\n" in out
    assert "  dropped: excluded_event_label                  1\n" in out


# --------------------------------------------------------------------------- score


def _score_study(tmp_path: Path) -> tuple[Path, Path]:
    """A params.yaml pointing at a plain event file (no study outputs yet)."""
    import yaml
    from e2e import shop_events

    events = tmp_path / "events.csv"
    shop_events(300, seed=3).to_csv(events, index=False)
    columns = ["user_id", "ts", "event_type", "amount", "category", "text", "rating"]
    root = Path(__file__).resolve().parents[1]
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["datasets"]["events"].update(path=str(events), mapping={c: c for c in columns})
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path, events


def test_score_fails_clearly_when_as_of_is_after_the_data(tmp_path: Path, capsys) -> None:
    params, _ = _score_study(tmp_path)
    argv = ["score", "--dataset", "events", "--as-of", "2030-01-01", "--params", str(params)]
    argv += ["--out", str(tmp_path / "s.csv"), "--model", "pareto_nbd", "--horizon-days", "90"]
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert "Data-quality report for" in captured.out  # the data are checked first
    assert captured.err == (
        "error: as_of 2030-01-01 is after the end of the data (2024-06-30): a score can only "
        "use data that exist; use --as-of 2024-06-30 or earlier\n"
    )


def test_score_fails_clearly_on_too_little_history(tmp_path: Path, capsys) -> None:
    params, _ = _score_study(tmp_path)
    argv = ["score", "--dataset", "events", "--as-of", "2023-02-01", "--params", str(params)]
    argv += ["--out", str(tmp_path / "s.csv"), "--model", "gbdt", "--horizon-days", "90"]
    assert cli.main(argv) == 2
    assert "error: too little history for the training window" in capsys.readouterr().err


def test_score_fails_clearly_without_the_leaderboard(tmp_path: Path, capsys) -> None:
    params, _ = _score_study(tmp_path)
    argv = ["score", "--dataset", "events", "--as-of", "2024-06-01", "--params", str(params)]
    argv += ["--out", str(tmp_path / "s.csv"), "--horizon-days", "90"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "error: model artifact missing: " in err and "leaderboard.json" in err


def test_score_writes_the_table_and_its_dictionary(tmp_path: Path, capsys) -> None:
    from helpers.apply.table import DICTIONARY, read_scored_csv

    params, _ = _score_study(tmp_path)
    out = tmp_path / "out" / "scored.csv"
    argv = ["score", "--dataset", "events", "--as-of", "2024-06-01", "--params", str(params)]
    argv += ["--out", str(out), "--model", "pareto_nbd", "--horizon-days", "90", "--no-progress"]
    assert cli.main(argv) == 0
    scored = read_scored_csv(out)
    assert list(scored.columns) == list(DICTIONARY) and scored["user_id"].is_unique
    assert (scored["as_of"] == "2024-06-01").all() and (scored["model"] == "pareto_nbd").all()
    assert (out.parent / "scored_dictionary.md").is_file()
    assert not (out.parent / "scored.parquet").exists()
    assert f"customers with pareto_nbd (policy one_step_uplift) -> {out}" in capsys.readouterr().out
    # the CLI finishes the table as stage 07 does: it passes every consistency rule
    from helpers.apply.consistency import violations

    knobs = yaml.safe_load(params.read_text())
    apply = knobs["apply"]
    found = violations(
        scored, "one_step_uplift", knobs["rl"]["budget"], apply["segments"],
        apply["watch_p_no_purchase"],
    )  # fmt: skip
    assert found.empty, found.groupby("rule").size()


def test_score_runs_as_a_module(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "helpers", "score", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "--as-of" in done.stdout and "--out" in done.stdout


def test_score_refuses_a_leaderboard_of_another_dataset(tmp_path: Path, capsys) -> None:
    params, _ = _score_study(tmp_path)
    (tmp_path / "data/processed").mkdir(parents=True)
    (tmp_path / "reports/metrics").mkdir(parents=True)
    Split.from_dates("2024-01-31", "2024-06-30").to_json(
        tmp_path / "data/processed/split.json", "cdnow"
    )
    (tmp_path / "reports/metrics/leaderboard.json").write_text('{"gbdt": {"gini": 0.7}}')
    argv = ["score", "--dataset", "events", "--as-of", "2024-06-01", "--params", str(params)]
    argv += ["--out", str(tmp_path / "s.csv"), "--horizon-days", "90"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: model artifact stale: ") and "belongs to dataset 'cdnow'" in err
