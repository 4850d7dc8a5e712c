import pandas as pd
import pytest

from helpers.data.split import Split, cohort_counts, make_targets


def test_split_bounds_are_inclusive_calendar_days():
    split = Split.from_dates("2024-01-31", "2024-02-29")
    assert split.calibration_end == pd.Timestamp("2024-02-01", tz="UTC")
    assert split.holdout_end == pd.Timestamp("2024-03-01", tz="UTC")
    assert split.holdout_days == 29


def test_split_rejects_holdout_before_cutoff_and_times_of_day():
    with pytest.raises(ValueError, match="must be after the cutoff"):
        Split.from_dates("2024-01-31", "2024-01-31")
    with pytest.raises(ValueError, match="expected a calendar day"):
        Split.from_dates("2024-01-31 12:00", "2024-02-29")


def test_targets_known_answers(tiny_log):
    customers = make_targets(tiny_log, Split.from_dates("2024-01-31", "2024-02-29"))
    assert list(customers.index) == ["a", "b"]
    a, b = customers.loc["a"], customers.loc["b"]
    assert a["cal_purchases"] == 2  # two transactions on 2024-01-05 are one purchase day
    assert a["cal_spend"] == pytest.approx(35.0)  # ... but their spend is summed
    assert a["holdout_purchases"] == 1 and a["holdout_spend"] == pytest.approx(7.0)
    assert not a["holdout_zero"]
    assert b["cal_purchases"] == 1 and b["cal_spend"] == pytest.approx(12.5)
    assert b["holdout_purchases"] == 0 and b["holdout_spend"] == 0.0 and b["holdout_zero"]
    assert a["first_purchase"] == pd.Timestamp("2024-01-05", tz="UTC")


def test_cohort_accounts_for_every_user(tiny_log):
    counts = cohort_counts(tiny_log, Split.from_dates("2024-01-31", "2024-02-29"))
    assert counts == {
        "users_total": 4,
        "customers": 2,
        "browse_only_in_calibration": 1,
        "first_purchase_in_holdout": 0,
        "holdout_browse_only": 1,
        "only_after_holdout": 0,
    }


def test_no_holdout_event_reaches_calibration_columns(tiny_log):
    """Leakage: changing or deleting every holdout event leaves calibration columns unchanged."""
    split = Split.from_dates("2024-01-31", "2024-02-29")
    cal_columns = ["first_purchase", "cal_purchases", "cal_spend"]
    full = make_targets(tiny_log, split)
    tampered = tiny_log.copy()
    in_holdout = tampered["ts"] >= split.calibration_end
    tampered.loc[in_holdout, "amount"] = tampered.loc[in_holdout, "amount"] * 1000
    pd.testing.assert_frame_equal(make_targets(tampered, split)[cal_columns], full[cal_columns])
    pd.testing.assert_frame_equal(
        make_targets(split.calibration(tiny_log), split)[cal_columns], full[cal_columns]
    )
    # ... while the holdout columns do see the holdout
    assert make_targets(tampered, split).loc["a", "holdout_spend"] == pytest.approx(7000.0)


def test_shifting_the_cutoff_moves_events_between_periods(tiny_log):
    early = make_targets(tiny_log, Split.from_dates("2024-01-10", "2024-02-29"))
    assert list(early.index) == ["a"]  # b's only purchase is now in the holdout
    assert early.loc["a", "cal_spend"] == pytest.approx(30.0)
    assert early.loc["a", "holdout_purchases"] == 2  # 2024-01-20 and 2024-02-10


def test_split_json_round_trip_checks_the_dataset(tmp_path):
    split = Split.from_dates("1997-09-30", "1998-06-30")
    split.to_json(tmp_path / "split.json", "cdnow")
    again = Split.from_json(tmp_path / "split.json", "cdnow")
    assert again == split and again.cutoff == "1997-09-30"
    assert again.last_holdout_day == "1998-06-30" and again.holdout_days == 273
    with pytest.raises(ValueError, match="belongs to dataset 'cdnow', not 'shopsim'"):
        Split.from_json(tmp_path / "split.json", "shopsim")


def test_replay_split_stays_inside_calibration():
    from helpers.data.split import replay_split

    split = Split.from_dates("2024-06-30", "2024-12-31")  # 184-day holdout
    replay = replay_split(split, pd.Timestamp("2023-01-01", tz="UTC"))  # 547 calibration days
    assert replay.holdout_end == split.calibration_end and replay.holdout_days == 184
    short = replay_split(Split.from_dates("1997-09-30", "1998-06-30"), pd.Timestamp("1997-01-01"))
    assert short.holdout_days == 136 and short.cutoff == "1997-05-17"  # half of 273 days
    with pytest.raises(ValueError, match="too short"):
        replay_split(split, pd.Timestamp("2024-06-30"))
