import json
import re

import pandas as pd
import pytest
from conftest import make_events

from helpers.data.split import (
    Split,
    SplitError,
    choose_split,
    cohort_counts,
    default_split,
    make_targets,
    replay_split,
)


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
    split = Split.from_dates("2024-06-30", "2024-12-31")  # 184-day holdout
    replay = replay_split(split, pd.Timestamp("2023-01-01", tz="UTC"))  # 547 calibration days
    assert replay.holdout_end == split.calibration_end and replay.holdout_days == 184
    short = replay_split(Split.from_dates("1997-09-30", "1998-06-30"), pd.Timestamp("1997-01-01"))
    assert short.holdout_days == 136 and short.cutoff == "1997-05-17"  # half of 273 days
    with pytest.raises(ValueError, match="too short"):
        replay_split(split, pd.Timestamp("2024-06-30"))


# --------------------------------------------------------------------------- choosing the split


def _purchases(*days: str) -> pd.DataFrame:
    return make_events([(f"u{i % 3}", day, "purchase", 10.0) for i, day in enumerate(days)])


def test_default_split_takes_the_last_third_of_the_span(tiny_log):
    choice = default_split(tiny_log)  # 2024-01-05 .. 2024-03-15: 71 days, a third is 23
    assert (choice.split.cutoff, choice.split.last_holdout_day) == ("2024-02-21", "2024-03-15")
    assert choice.split.holdout_days == 23 and choice.chosen_by == "data"
    assert choice.sentence == (
        "Split chosen from the data (2024-01-05 .. 2024-03-15, 71 days): holdout"
        " 2024-02-22 .. 2024-03-15 (23 days, 3.3 weeks: the last third of the span, ending"
        " with the last day of data), calibration up to the cutoff 2024-02-21."
    )


def test_default_split_caps_the_holdout_at_26_weeks():
    events = _purchases("2022-01-01", "2022-06-15", "2023-12-31 18:00")  # 730 days
    choice = default_split(events)
    assert choice.split == Split.from_dates("2023-07-02", "2023-12-31")
    assert choice.split.holdout_days == 182
    assert "(182 days, 26.0 weeks: 26 weeks, shorter than a third of the span," in choice.sentence


def test_default_split_short_data_and_too_few_purchase_days():
    two_days = default_split(_purchases("2024-01-01 09:00", "2024-01-02 23:00"))
    assert two_days.split == Split.from_dates("2024-01-01", "2024-01-02")  # 1-day holdout
    message = (
        "cannot split calibration from holdout: the data need purchases on at least 2"
        " distinct days, found 1 (2024-01-01). Check the file and its mapping (purchase"
        " labels via event_type_map, the amount column)."
    )
    with pytest.raises(SplitError, match=f"^{re.escape(message)}$"):
        default_split(_purchases("2024-01-01 09:00", "2024-01-01 17:00"))


def test_choose_split_uses_configured_days_and_fills_nulls(tiny_log):
    configured = choose_split(tiny_log, "2024-01-31", "2024-02-29", "events")
    assert configured.split == Split.from_dates("2024-01-31", "2024-02-29")
    assert configured.chosen_by == "params"
    assert configured.sentence == (
        "Split from params.yaml: calibration up to the cutoff 2024-01-31, holdout"
        " 2024-02-01 .. 2024-02-29 (29 days, 4.1 weeks); the data span 2024-01-05 .. 2024-03-15."
    )
    open_end = choose_split(tiny_log, "2024-01-31", None, "events")
    assert open_end.split.last_holdout_day == "2024-03-15" and open_end.chosen_by == "params+data"
    by_data = choose_split(tiny_log, None, None, "events")
    assert by_data.split.cutoff == "2024-02-21" and by_data.chosen_by == "data"
    assert by_data.sentence.endswith(
        " Set datasets.events.cutoff and holdout_end in params.yaml to choose other days."
    )
    assert by_data.to_note() == {
        "cutoff": "2024-02-21",
        "holdout_end": "2024-03-15",
        "holdout_days": 23,
        "chosen_by": "data",
        "sentence": by_data.sentence,
    }
    late_end = choose_split(tiny_log, "2024-01-31", "2024-03-31", "events")
    assert late_end.sentence.endswith(
        " The data end 16 days before holdout_end: holdout purchases after 2024-03-15 are"
        " missing, not zero."
    )


@pytest.mark.parametrize(
    ("cutoff", "holdout_end", "message"),
    [
        (
            "2023-12-31",
            "2024-02-29",
            "datasets.online_retail.cutoff 2023-12-31 is before the first event (2024-01-05):"
            " the calibration period would be empty. Set datasets.online_retail.cutoff to a"
            " day from 2024-01-05 to 2024-03-14, or to null to choose it from the data.",
        ),
        (
            "2024-03-15",
            None,
            "datasets.online_retail.cutoff 2024-03-15 is on or after the last event"
            " (2024-03-15): the holdout period would be empty. Set"
            " datasets.online_retail.cutoff to a day from 2024-01-05 to 2024-03-14, or to"
            " null to choose it from the data.",
        ),
        (
            "2024-01-31",
            "2024-01-20",
            "datasets.online_retail.holdout_end 2024-01-20 is not after"
            " datasets.online_retail.cutoff 2024-01-31: set holdout_end to a later day (the"
            " data end on 2024-03-15) or to null.",
        ),
        (
            "2024-02-12",
            "2024-03-10",
            "no purchase in the holdout period (from 2024-02-13 to 2024-03-10); purchases fall"
            " on 2024-01-05 .. 2024-03-15. Change datasets.online_retail.cutoff / holdout_end"
            " in params.yaml (null chooses them from the data).",
        ),
    ],
)
def test_choose_split_errors_name_what_is_missing_and_the_param(
    tiny_log, cutoff, holdout_end, message
):
    with pytest.raises(SplitError, match=f"^{re.escape(message)}$"):
        choose_split(tiny_log, cutoff, holdout_end, "online_retail")


def test_choose_split_needs_a_calibration_purchase():
    events = make_events(
        [
            ("a", "2024-01-01 10:00", "view", None),
            ("a", "2024-02-01 10:00", "purchase", 5.0),
            ("b", "2024-03-01 10:00", "purchase", 6.0),
        ]
    )
    message = (
        "no purchase in the calibration period (up to the cutoff 2024-01-15); purchases fall"
        " on 2024-02-01 .. 2024-03-01. Change datasets.events.cutoff / holdout_end in"
        " params.yaml (null chooses them from the data)."
    )
    with pytest.raises(SplitError, match=f"^{re.escape(message)}$"):
        choose_split(events, "2024-01-15", None, "events")


def test_split_json_records_who_chose_it(tmp_path):
    Split.from_dates("2024-01-31", "2024-02-29").to_json(tmp_path / "s.json", "x", "data")
    assert json.loads((tmp_path / "s.json").read_text())["chosen_by"] == "data"


def test_check_targets_stops_when_nobody_buys_again(tiny_log):
    from helpers.data.split import SplitError, check_targets

    split = Split.from_dates("2024-01-31", "2024-02-29")
    customers = make_targets(tiny_log, split)
    check_targets(customers, split, "events")  # customer a buys again on 2024-02-10
    nobody = customers.assign(holdout_spend=0.0)
    with pytest.raises(SplitError, match="none of the 2 customers .* buys again in the holdout"):
        check_targets(nobody, split, "events")
    with pytest.raises(SplitError, match="no customer: nobody buys on or before the cutoff"):
        check_targets(customers.iloc[:0], split, "events")
