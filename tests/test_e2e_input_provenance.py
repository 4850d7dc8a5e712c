"""End to end (issue 31): the input file drives the pipeline. Stage 01 depends on the
files named by ``datasets.events.path`` and ``datasets.online_retail.path``, so an
in-place edit (CSV or Parquet) or a param pointing at another file makes ``dvc status``
report stage 01 stale; the data-quality report records the file's SHA-256."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
from e2e import dvc, read_params, scratch_study, shop_events, use_event_file, write_params

pytestmark = pytest.mark.slow  # two runs of stage 01: about a minute

STAGE = "01_prepare_data"
RETAIL = pd.DataFrame(
    {
        "InvoiceNo": ["536365", "536366"],
        "StockCode": ["85123A", "22633"],
        "Description": ["WHITE HANGING HEART", "HAND WARMER"],
        "Quantity": [6, 2],
        "InvoiceDate": ["12/1/2010 8:26", "12/1/2010 8:28"],
        "UnitPrice": [2.55, 1.85],
        "CustomerID": [17850.0, 13047.0],
        "Country": ["United Kingdom", "United Kingdom"],
    }
)


def _status(work: Path) -> dict:
    """``dvc status 01_prepare_data`` as JSON: {} when up to date."""
    return json.loads(dvc(["status", STAGE, "--json"], work).stdout or "{}")


def _changed_deps(work: Path) -> dict:
    changes = _status(work).get(STAGE, [])
    return next((c["changed deps"] for c in changes if "changed deps" in c), {})


def test_editing_the_input_file_makes_stage_01_stale(tmp_path: Path) -> None:
    def own_files(params: dict) -> None:
        use_event_file(params, Path("raw/shop.csv"), None, None)
        params["datasets"]["online_retail"]["path"] = "raw/retail.parquet"

    work = scratch_study(tmp_path, own_files)
    (work / "raw").mkdir()
    shop, retail = work / "raw/shop.csv", work / "raw/retail.parquet"
    shop_events(60, seed=5).to_csv(shop, index=False)
    RETAIL.to_parquet(retail, index=False)
    dvc(["repro", STAGE], work)
    assert _status(work) == {}

    quality = json.loads((work / "reports/metrics/data_quality.json").read_text())
    assert quality["notes"]["input_sha256"] == hashlib.sha256(shop.read_bytes()).hexdigest()

    original = shop.read_bytes()
    with shop.open("a") as handle:  # the user corrects the export in place
        handle.write("u9999,2024-06-01 10:00:00,purchase,12.5,cat1,,\n")
    assert _changed_deps(work) == {"raw/shop.csv": "modified"}
    shop.write_bytes(original)  # DVC compares content, not times
    assert _status(work) == {}

    RETAIL.head(1).to_parquet(retail, index=False)  # the other dataset's file, Parquet
    assert _changed_deps(work) == {"raw/retail.parquet": "modified"}
    RETAIL.to_parquet(retail, index=False)

    pd.read_csv(shop).to_parquet(work / "raw/shop.parquet", index=False)
    params = read_params(work)
    params["datasets"]["events"]["path"] = "raw/shop.parquet"  # another file
    write_params(work, params)
    assert _changed_deps(work) == {
        "raw/shop.parquet": "modified",  # DVC's word for a dependency path it has no hash of
        "params.yaml": {"datasets": "modified"},
    }
    dvc(["repro", STAGE], work)  # and dvc repro re-runs the stage on the new file
    quality = json.loads((work / "reports/metrics/data_quality.json").read_text())
    parquet = work / "raw/shop.parquet"
    assert quality["notes"]["input_sha256"] == hashlib.sha256(parquet.read_bytes()).hexdigest()
    assert _status(work) == {}
