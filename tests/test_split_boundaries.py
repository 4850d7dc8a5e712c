"""Day boundaries and messages of the split, pinned where `make mutation` found them loose.

Every boundary is checked from both sides: an event exactly on it and one just past it.
Messages are matched whole, so a changed word fails.
"""

import json
import re

import pandas as pd
import pytest
from conftest import make_events

from helpers.data.split import (
    Split,
    SplitError,
    check_targets,
    choose_split,
    cohort_counts,
    default_split,
    make_targets,
    replay_split,
    utc_days,
)

SPLIT = Split.from_dates("2024-01-31", "2024-02-29")  # holdout 2024-02-01 .. 2024-02-29


def _whole(message: str) -> str:
    return "^" + re.escape(message) + "$"


def _purchases(*days: str) -> pd.DataFrame:
    return make_events([(f"u{i}", day, "purchase", 10.0) for i, day in enumerate(days)])


def test_holdout_starts_at_midnight_after_the_cutoff_and_excludes_its_end():
    events = make_events(
        [
            ("last calibration second", "2024-01-31 23:59:59", "purchase", 1.0),
            ("first holdout instant", "2024-02-01 00:00:00", "purchase", 2.0),
            ("last holdout second", "2024-02-29 23:59:59", "purchase", 3.0),
            ("first instant after", "2024-03-01 00:00:00", "purchase", 4.0),
        ]
    )
    assert SPLIT.holdout(events)["user_id"].tolist() == [
        "first holdout instant",
        "last holdout second",
    ]
    assert SPLIT.calibration(events)["user_id"].tolist() == ["last calibration second"]


def test_cohort_counts_a_user_seen_first_at_the_holdout_end_as_after_it():
    events = make_events(
        [
            ("a", "2024-01-10 10:00", "purchase", 1.0),
            ("late", "2024-03-01 00:00:00", "purchase", 2.0),  # first instant after
        ]
    )
    counts = cohort_counts(events, SPLIT)
    assert counts["only_after_holdout"] == 1 and counts["first_purchase_in_holdout"] == 0


def test_targets_index_is_named_user_id(tiny_log):
    assert make_targets(tiny_log, SPLIT).index.name == "user_id"


def test_split_json_is_written_exactly(tmp_path):
    SPLIT.to_json(tmp_path / "split.json", "events")
    expected = {
        "dataset": "events",
        "cutoff": "2024-01-31",
        "holdout_end": "2024-02-29",
        "calibration_end_exclusive": "2024-02-01T00:00:00+00:00",
        "holdout_end_exclusive": "2024-03-01T00:00:00+00:00",
        "holdout_days": 29,
    }
    assert (tmp_path / "split.json").read_text() == json.dumps(expected, indent=2) + "\n"


def test_split_json_of_another_dataset_says_what_to_do(tmp_path):
    SPLIT.to_json(tmp_path / "split.json", "cdnow")
    message = (
        f"{tmp_path / 'split.json'} belongs to dataset 'cdnow', not 'shopsim':"
        " re-run stage 01 (dvc repro)"
    )
    with pytest.raises(ValueError, match=_whole(message)):
        Split.from_json(tmp_path / "split.json", "shopsim")


def test_utc_days_reads_naive_times_as_utc():
    days = utc_days(pd.Series(pd.to_datetime(["2024-01-05 23:30", "2024-01-06 00:10"])))
    assert str(days.dt.tz) == "UTC"
    assert days.tolist() == [
        pd.Timestamp("2024-01-05", tz="UTC"),
        pd.Timestamp("2024-01-06", tz="UTC"),
    ]


def test_replay_split_allows_a_one_day_label_window():
    # 3 calibration days (2024-01-01 .. 2024-01-03): half of it is 1 day
    replay = replay_split(Split.from_dates("2024-01-03", "2024-01-10"), pd.Timestamp("2024-01-01"))
    assert (replay.cutoff, replay.holdout_days) == ("2024-01-02", 1)
    with pytest.raises(
        ValueError,
        match=_whole("the calibration period is too short to replay the prediction problem"),
    ):
        replay_split(Split.from_dates("2024-01-01", "2024-01-10"), pd.Timestamp("2024-01-01"))


def test_no_purchase_at_all_is_named():
    events = make_events([("a", "2024-01-01 10:00", "view", None)])
    message = (
        "cannot split calibration from holdout: the data need purchases on at least 2"
        " distinct days, found 0 (none). Check the file and its mapping (purchase labels"
        " via event_type_map, the amount column)."
    )
    with pytest.raises(SplitError, match=_whole(message)):
        default_split(events)


def test_default_split_refuses_a_holdout_end_on_the_first_day():
    events = _purchases("2024-01-01 10:00", "2024-01-09 10:00")
    message = (
        "holdout_end 2024-01-01 is not after the first event (2024-01-01):"
        " there is nothing to split."
    )
    with pytest.raises(SplitError, match=_whole(message)):
        default_split(events, "2024-01-01")
    assert default_split(events, "2024-01-02").split.last_holdout_day == "2024-01-02"


def test_default_split_with_a_configured_end_says_so():
    events = _purchases("2024-01-01 10:00", "2024-01-08 10:00", "2024-01-20 10:00")
    choice = default_split(events, "2024-01-09")  # span 2024-01-01 .. 2024-01-09: 9 days
    assert choice.chosen_by == "params+data"
    assert choice.split == Split.from_dates("2024-01-06", "2024-01-09")
    assert choice.sentence == (
        "Split chosen from the data (2024-01-01 .. 2024-01-09, 9 days): holdout"
        " 2024-01-07 .. 2024-01-09 (3 days, 0.4 weeks: the last third of the span, ending"
        " with the configured holdout_end), calibration up to the cutoff 2024-01-06."
    )
    by_choose = choose_split(events, None, "2024-01-09", "shop")
    assert by_choose.split == choice.split and by_choose.chosen_by == "params+data"


def test_default_split_a_third_of_exactly_26_weeks_is_the_third_rule():
    start = pd.Timestamp("2022-01-01")
    end = start + pd.Timedelta(days=3 * 182 - 1)  # span 546 days: a third is 182
    choice = default_split(_purchases(f"{start:%Y-%m-%d} 10:00", f"{end:%Y-%m-%d} 10:00"))
    assert choice.split.holdout_days == 182
    assert "the last third of the span" in choice.sentence


def test_choose_split_cutoff_may_be_the_first_day_and_holdout_end_must_follow_it():
    events = _purchases("2024-01-05 10:00", "2024-01-06 10:00", "2024-01-20 10:00")
    first_day = choose_split(events, "2024-01-05", "2024-01-10", "shop")
    assert first_day.split.cutoff == "2024-01-05"
    message = (
        "datasets.shop.holdout_end 2024-01-10 is not after datasets.shop.cutoff 2024-01-10:"
        " set holdout_end to a later day (the data end on 2024-01-20) or to null."
    )
    with pytest.raises(SplitError, match=_whole(message)):
        choose_split(events, "2024-01-10", "2024-01-10", "shop")


def test_choose_split_sentence_for_an_open_end_and_no_gap_on_the_last_day(tiny_log):
    open_end = choose_split(tiny_log, "2024-01-31", None, "events")
    assert open_end.sentence == (
        "Split from params.yaml: calibration up to the cutoff 2024-01-31, holdout"
        " 2024-02-01 .. 2024-03-15 (the last day of data) (44 days, 6.3 weeks); the data"
        " span 2024-01-05 .. 2024-03-15."
    )
    last_day = choose_split(tiny_log, "2024-01-31", "2024-03-15", "events")
    assert last_day.sentence.endswith("the data span 2024-01-05 .. 2024-03-15.")
    one_past = choose_split(tiny_log, "2024-01-31", "2024-03-16", "events")
    assert one_past.sentence == (
        "Split from params.yaml: calibration up to the cutoff 2024-01-31, holdout"
        " 2024-02-01 .. 2024-03-16 (45 days, 6.4 weeks); the data span 2024-01-05 .."
        " 2024-03-15. The data end 1 days before holdout_end: holdout purchases after"
        " 2024-03-15 are missing, not zero."
    )


def test_choose_split_periods_are_checked_on_their_own_days():
    # the only purchase at or before the cutoff day boundary is on the first holdout day
    first_holdout_day = _purchases("2024-01-01 10:00", "2024-02-01 00:00", "2024-02-10 10:00")
    first_holdout_day.loc[first_holdout_day["user_id"] == "u0", "event_type"] = "view"
    with pytest.raises(SplitError, match="^no purchase in the calibration period"):
        choose_split(first_holdout_day, "2024-01-31", "2024-02-29", "shop")
    # the only holdout purchase is on the first holdout day: that is enough
    only_first = _purchases("2024-01-10 10:00", "2024-02-01 00:00", "2024-03-05 10:00")
    assert choose_split(only_first, "2024-01-31", "2024-02-29", "shop").split == SPLIT
    # the only later purchase is on the day after the holdout: not enough
    only_after = _purchases("2024-01-10 10:00", "2024-03-01 00:00")
    with pytest.raises(SplitError, match="^no purchase in the holdout period"):
        choose_split(only_after, "2024-01-31", "2024-02-29", "shop")


def test_check_targets_accepts_a_small_repeat_spend_and_words_its_refusal(tiny_log):
    customers = make_targets(tiny_log, SPLIT)
    check_targets(customers.assign(holdout_spend=[0.5, 0.0]), SPLIT, "events")
    message = (
        "none of the 2 customers of the calibration period (to 2024-01-31) buys again in the"
        " holdout (to 2024-02-29): there is no customer value to predict. CLV needs repeat"
        " purchases after the cutoff; set datasets.events.cutoff earlier (or to null), or"
        " check that the file holds returning customers under stable ids."
    )
    with pytest.raises(SplitError, match=_whole(message)):
        check_targets(customers.assign(holdout_spend=0.0), SPLIT, "events")
