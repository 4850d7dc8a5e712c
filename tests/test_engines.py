"""One definition, two engines: DuckDB and Spark (local mode) give the same features,
targets and BTYD summaries, and neither lets a holdout event reach a feature.

All Spark tests share one session (module fixture); they are skipped, with the reason,
where no Java 17+ runtime is installed (``make test`` and ``.ci/run`` install one; with
``CLV_REQUIRE_SPARK=1``, as in ``.ci/run``, a missing Java fails them instead).
"""

from __future__ import annotations

import functools
import os

import numpy as np
import pandas as pd
import pytest

from helpers.data.loaders import load_cdnow
from helpers.data.shopsim import ShopSimConfig, simulate_shop
from helpers.data.split import Split
from helpers.data.split import make_targets as pandas_targets
from helpers.engines import dialect, queries
from helpers.engines.runner import EventQueries, user_ranges
from helpers.engines.spark import java_version
from helpers.engines.targets import make_targets
from helpers.features.behaviour import behaviour_features
from helpers.features.sequences import build_sequences
from helpers.models.btyd import btyd_summary

COLUMNS = ["user_id", "ts", "event_type", "category", "amount", "rating"]
#: columns computed from integers only (counts, or nanosecond differences / 1 day)
EXACT_FLOATS = {
    "recency_days",
    "tenure_days",
    "days_since_last_view",
    "days_since_last_cart",
    "frequency_cal",
    "recency_cal",
    "T_cal",
    "frequency_holdout",
    "duration_holdout",
}


@pytest.fixture(scope="module")
def spark():
    version = java_version()
    if (version is None or version < 17) and os.environ.get("CLV_REQUIRE_SPARK"):
        pytest.fail(f"CLV_REQUIRE_SPARK is set but no Java 17+ runtime was found ({version})")
    if version is None or version < 17:
        pytest.skip(
            f"Spark tests skipped: no Java 17+ runtime (found {version}); install Debian's "
            "openjdk-17-jre-headless (make test / .ci/run do it) or set JAVA_HOME"
        )
    from helpers.engines.spark import spark_session

    return spark_session("local[2]", shuffle_partitions=2, driver_memory="1g")


@functools.cache
def _shopsim_events() -> pd.DataFrame:
    return simulate_shop(ShopSimConfig(n_users=2_000), seed=11).events


def _shopsim() -> tuple[pd.DataFrame, Split]:
    """The 2,000-user sample (simulated once per test process; a copy each call)."""
    return _shopsim_events().copy(), Split.from_dates("2024-06-30", "2024-12-31")


def _cdnow() -> tuple[pd.DataFrame, Split]:
    events, _ = load_cdnow()
    return events, Split.from_dates("1997-09-30", "1998-06-30")


@pytest.fixture(scope="module", params=["shopsim", "cdnow"])
def dataset(request, tmp_path_factory):
    events, split = _shopsim() if request.param == "shopsim" else _cdnow()
    path = tmp_path_factory.mktemp(request.param) / "events.parquet"
    events[[c for c in COLUMNS if c in events.columns]].to_parquet(path, index=False)
    return request.param, events, split, path


def assert_same(duck: pd.DataFrame, other: pd.DataFrame, rtol: float = 1e-9) -> None:
    """Same index, columns and dtypes; integers, dates and day counts exact; floats to rtol."""
    assert duck.index.equals(other.index)
    assert list(duck.columns) == list(other.columns)
    assert (duck.dtypes == other.dtypes).all(), (duck.dtypes, other.dtypes)
    for col in duck.columns:
        a, b = duck[col], other[col]
        if a.dtype.kind in "iubM" or col in EXACT_FLOATS:
            assert a.equals(b), f"{col} differs"
        else:
            np.testing.assert_allclose(
                b.to_numpy(float), a.to_numpy(float), rtol=rtol, atol=0, err_msg=col
            )


def test_transpiled_sql_handles_the_engine_quirks():
    text = dialect.to_engine(
        "WITH b AS NOT MATERIALIZED (SELECT t // 86400 AS d FROM ev) "
        "SELECT d, lag(d) OVER (ORDER BY d) FROM b",
        "spark",
    )
    assert "DIV 86400" in text and "NULLS LAST" in text and "MATERIALIZED" not in text
    assert dialect.to_engine("SELECT 1 // 2", "duckdb") == "SELECT 1 // 2"
    with pytest.raises(ValueError, match="engine must be one of"):
        dialect.check_engine("polars")


def test_features_equal_on_both_engines(dataset, spark):
    name, events, split, path = dataset
    duck = behaviour_features(path, split.calibration_end)
    assert_same(duck, behaviour_features(events, split.calibration_end))  # file == frame
    on_spark = behaviour_features(path, split.calibration_end, engine="spark", spark=spark)
    assert_same(duck, on_spark)
    assert on_spark.attrs == duck.attrs
    expected = 17 if name == "cdnow" else 35  # purchases only: no browsing, no category
    assert duck.shape[1] == expected and len(duck) > 1_000


def test_targets_equal_on_both_engines_and_pandas(dataset, spark):
    _, events, split, path = dataset
    reference = pandas_targets(events, split)
    duck = make_targets(path, split)
    assert_same(reference, duck)
    assert_same(reference, make_targets(path, split, engine="spark", spark=spark))


def test_btyd_summary_equal_on_both_engines(dataset, spark):
    _, events, split, path = dataset
    duck = btyd_summary(path, split.cutoff, split.last_holdout_day)
    assert_same(duck, btyd_summary(events, split.cutoff, split.last_holdout_day))
    on_spark = btyd_summary(path, split.cutoff, split.last_holdout_day, engine="spark", spark=spark)
    assert_same(duck, on_spark)
    assert (
        on_spark.attrs["n_customers_first_purchase_in_holdout"]
        == duck.attrs["n_customers_first_purchase_in_holdout"]
    )
    assert on_spark.attrs["mean_spend_per_purchase_day_cal"] == pytest.approx(
        duck.attrs["mean_spend_per_purchase_day_cal"], rel=1e-12
    )


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_no_holdout_event_reaches_a_feature(engine, spark, tmp_path):
    events, split = _shopsim()
    events = events.loc[events["user_id"] < "u000300", COLUMNS]
    clean_path, tampered_path = tmp_path / "clean.parquet", tmp_path / "tampered.parquet"
    events.to_parquet(clean_path, index=False)
    late = events["ts"] >= split.calibration_end
    assert late.sum() > 100, "the sample has holdout events to tamper with"
    tampered = events.copy()
    tampered.loc[late, "amount"] = tampered.loc[late, "amount"] * 100
    tampered.loc[late, "ts"] = tampered.loc[late, "ts"] + pd.Timedelta(days=3)
    extra = tampered.loc[late].head(50).assign(user_id="intruder", event_type="purchase")
    extra["ts"] = split.calibration_end  # exactly at the boundary: holdout
    pd.concat([tampered, extra]).to_parquet(tampered_path, index=False)
    session = spark if engine == "spark" else None
    clean = behaviour_features(clean_path, split.calibration_end, engine=engine, spark=session)
    dirty = behaviour_features(tampered_path, split.calibration_end, engine=engine, spark=session)
    pd.testing.assert_frame_equal(clean, dirty)
    assert "intruder" not in dirty.index
    # the same tampering does reach the holdout targets: the test can fail
    before = make_targets(clean_path, split, engine=engine, spark=session)
    after = make_targets(tampered_path, split, engine=engine, spark=session)
    assert after["holdout_spend"].sum() > 10 * before["holdout_spend"].sum()
    np.testing.assert_allclose(after["cal_spend"], before["cal_spend"], rtol=1e-12)


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_amount_sums_are_exact_hence_the_same_on_every_run(engine, spark):
    from helpers.engines.runner import EventQueries

    # 0.1 + 0.2 + 0.3 in doubles is 0.6000000000000001 in this order and 0.6 in others:
    # a sum of doubles depends on the order DuckDB's threads add them. The view holds
    # exact decimals, so the sum is 0.6 (the double nearest to it) on every run.
    assert 0.1 + 0.2 + 0.3 != 0.6
    ts = pd.Timestamp("2024-01-02", tz="UTC")
    events = pd.DataFrame(
        {
            "user_id": ["a"] * 3 + ["b"] * 2,
            "ts": [ts] * 5,
            "event_type": ["purchase"] * 5,
            "amount": [0.1, 0.2, 0.3, float("nan"), float("inf")],
        }
    )
    session = spark if engine == "spark" else None
    with EventQueries(events, engine, session) as q:
        sums = q.frame("SELECT user_id, sum(amount) AS s, avg(amount) AS m FROM ev GROUP BY 1")
    sums = sums.set_index("user_id").sort_index()
    assert sums.loc["a", "s"] == 0.6 and sums["s"].dtype == "float64"
    assert sums.loc["a", "m"] == pytest.approx(0.2, rel=1e-15)
    assert np.isnan(sums.loc["b", "s"])  # NaN and inf amounts are missing, not summed


def _by_user(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("user_id").reset_index(drop=True)


def test_gbdt_and_btyd_batch_scoring_on_spark_equal_local(spark, tmp_path):
    from helpers.apply.spark_scoring import BTYDScorer, GBDTScorer, score_on_spark
    from helpers.models.btyd import fit_bgnbd, fit_spend_model
    from helpers.models.gbdt import crossfit_gbdt

    events, split = _shopsim()
    path = tmp_path / "events.parquet"
    events[COLUMNS].to_parquet(path, index=False)
    targets = make_targets(path, split)
    features = behaviour_features(path, split.calibration_end, customers=targets.index)
    result = crossfit_gbdt(features, targets["holdout_spend"], seed=0, n_folds=2, max_rounds=30)
    scorer = GBDTScorer.from_result(result, list(features.columns))
    rows = features.rename_axis("user_id").reset_index()
    local = _by_user(scorer(rows))
    remote = _by_user(score_on_spark(features, scorer, spark, partitions=3).toPandas())
    pd.testing.assert_frame_equal(local, remote, check_exact=True)
    assert len(remote) == len(features) and remote["spend"].gt(0).all()
    assert remote["p_zero"].between(0, 1).all()

    summary = btyd_summary(path, split.cutoff, split.last_holdout_day)
    fit, gg = fit_bgnbd(summary), fit_spend_model(summary)
    btyd = BTYDScorer("bgnbd", fit, gg, horizon_weeks=26.0)
    local = _by_user(btyd(summary.rename_axis("user_id").reset_index()))
    remote = _by_user(score_on_spark(summary, btyd, spark, partitions=3).toPandas())
    pd.testing.assert_frame_equal(local, remote, check_exact=True)
    assert remote["expected_spend"].gt(0).all() and len(remote) == len(summary)


def _sorted_file(tmp_path, row_group_size: int) -> tuple[pd.DataFrame, Split, object]:
    events, split = _shopsim()
    events = events[COLUMNS].sort_values(["user_id", "ts"], kind="stable")
    path = tmp_path / "sorted.parquet"
    events.to_parquet(path, index=False, row_group_size=row_group_size)
    return events, split, path


def test_user_ranges_split_a_sorted_file_at_row_group_bounds(tmp_path):
    events, _, path = _sorted_file(tmp_path, 10_000)
    ranges = user_ranges(path, 30_000)
    assert len(events) > 90_000 and len(ranges) > 2  # whole row groups of ~30,000 events
    assert ranges[0][0] is None and ranges[-1][1] is None
    bounds = [lo for lo, _ in ranges[1:]]
    assert bounds == sorted(set(bounds)) and all(b in set(events["user_id"]) for b in bounds)
    assert all(hi == lo for (_, hi), (lo, _) in zip(ranges, ranges[1:], strict=False))
    # every user in exactly one range
    ids = events["user_id"]
    hits = sum(
        ((ids >= lo) if lo is not None else True) & ((ids < hi) if hi is not None else True)
        for lo, hi in ranges
    )
    assert (hits == 1).all()
    assert user_ranges(path, None) == [(None, None)]
    shuffled = tmp_path / "shuffled.parquet"
    events.sample(frac=1.0, random_state=0).to_parquet(shuffled, row_group_size=10_000)
    assert user_ranges(shuffled, 30_000) == [(None, None)]  # not sorted: one pass
    numeric = tmp_path / "numeric.parquet"
    events.assign(user_id=np.arange(len(events))).to_parquet(numeric, row_group_size=10_000)
    assert user_ranges(numeric, 30_000) == [(None, None)]


def test_per_user_ranges_equal_one_pass_over_the_file(tmp_path):
    """Old (one query over the file) vs new (one query per user range): same rows;
    counts, days and timestamps exact, sums to 1e-12 (DuckDB adds floats in
    thread order)."""
    events, split, path = _sorted_file(tmp_path, 10_000)
    as_of = int(split.calibration_end.value)
    epoch = pd.Timestamp("1970-01-01", tz="UTC")
    cut_day = (split.calibration_end - epoch).days - 1
    texts = {
        "behaviour": queries.behaviour_sql(as_of, (7, 30, 90, 365)),
        "targets": queries.targets_sql(as_of, int(split.holdout_end.value)),
        "btyd": queries.btyd_days_sql(cut_day, cut_day + 184),
    }
    with EventQueries(path, chunk_events=30_000) as chunked:
        assert len(chunked.ranges()) > 2
        with EventQueries(path, chunk_events=None) as single:
            assert len(single.ranges()) == 1
            for name, text in texts.items():
                keep = "TRUE" if name == "behaviour" else f"et = {queries.PURCHASE}"
                new = chunked.per_user(text, keep).set_index("user_id").sort_index()
                old = single.frame(text).set_index("user_id").sort_index()
                assert len(new) > 1_000, name
                assert_same(old, new, rtol=1e-12)
    customers = pd.Index(sorted(events["user_id"].unique())[::3])
    one_pass = build_sequences(path, split.calibration_end, 20, customers, chunk_events=None)
    by_range = build_sequences(path, split.calibration_end, 20, customers, chunk_events=30_000)
    for name in ("event_type", "category", "amount_bucket", "log_amount", "log_gap_hours"):
        np.testing.assert_array_equal(getattr(one_pass, name), getattr(by_range, name))
    for name in ("log_days_before", "rating", "review_index", "mask", "lengths"):
        np.testing.assert_array_equal(getattr(one_pass, name), getattr(by_range, name))
    assert one_pass.category_vocab == by_range.category_vocab
