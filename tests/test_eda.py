import matplotlib.pyplot as plt
import pandas as pd
import pytest

from helpers import figures
from helpers.data import eda


def test_event_counts_lists_every_type(tiny_log):
    table = eda.event_counts(tiny_log)
    assert list(table.index) == ["view", "cart", "purchase", "review"]
    assert table.loc["purchase", "events"] == 7 and table.loc["purchase", "users"] == 3
    assert table.loc["cart", "events"] == 0 and pd.isna(table.loc["cart", "events_per_user"])


def test_inter_purchase_days_merges_same_day(tiny_log):
    gaps = eda.inter_purchase_days(tiny_log)
    # a: 01-05 -> 01-20 -> 02-10 -> 03-15 ; b: one day only ; c: one day only
    assert sorted(gaps.tolist()) == [15.0, 21.0, 34.0]


def test_cohort_retention_known_answer(tiny_log):
    table = eda.cohort_retention(tiny_log)
    # cohort 2024-01: a and b (c bought first in 2024-02); a active in months +1 and +2
    assert table.loc["2024-01", 0] == 1.0
    assert table.loc["2024-01", 1] == pytest.approx(0.5)
    assert table.loc["2024-01", 2] == pytest.approx(0.5)
    assert table.loc["2024-02", 0] == 1.0
    assert table.loc["2024-02", 1] == 0.0  # March is observed: c did not buy again
    assert pd.isna(table.loc["2024-02", 2])  # April is after the end of the log


def test_funnel_table(tiny_log):
    table = eda.funnel_table(tiny_log)
    assert table["users"].tolist() == [3, 0, 3, 0]
    assert pd.isna(table.loc["view", "share_of_previous_step"])


def test_example_reviews_seeded():
    events = pd.DataFrame(
        {
            "event_type": ["review"] * 6 + ["view"],
            "rating": pd.array([5, 5, 5, 1, 1, 3, pd.NA], dtype="Int64"),
            "text": ["great", "super", "love it", "awful", "bad", "ok", None],
        }
    )
    first = eda.example_reviews(events, per_rating=2, seed=7)
    assert first.equals(eda.example_reviews(events, per_rating=2, seed=7))
    assert first.groupby("rating").size().to_dict() == {1: 2, 3: 1, 5: 2}


def test_plots_return_figures_and_save(tiny_log, tmp_path):
    for plot in (
        eda.plot_events_per_user,
        eda.plot_inter_purchase,
        eda.plot_log_spend,
        eda.plot_cohort_retention,
        eda.plot_funnel,
    ):
        fig = plot(tiny_log)
        path = figures.save_figure(fig, tmp_path, plot.__name__)
        assert path.stat().st_size > 1000
        plt.close(fig)


def test_publish_saves_closes_and_displays(tiny_log, tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    fig = eda.plot_funnel(tiny_log)
    assert figures.publish(fig, tmp_path, "funnel") is None
    assert (tmp_path / "funnel.png").stat().st_size > 1000
    assert not plt.fignum_exists(fig.number)
    assert shown and shown[0].data[:4] == b"\x89PNG"


def test_figure_numbers_known_answers(tiny_log):
    numbers = eda.figure_numbers(tiny_log)
    # purchase days: a 4 (01-05, 01-20, 02-10, 03-15), b 1, c 1 -> median 1, 2 of 3 one-timers
    assert numbers["purchase_days_per_buyer"] == 1.0
    assert numbers["one_time_buyers"] == pytest.approx(2 / 3)
    assert numbers["gap_median"] == 21.0  # gaps 15, 21, 34
    assert numbers["views_per_viewer"] == 1.0  # a, c, d view once each
    assert numbers["retention_m1"] == pytest.approx((0.5 + 0.0) / 2)  # both cohorts observed
    assert numbers["spend_median"] == pytest.approx((12.5 + 30) / 2)  # 5 7 12.5 30 40 100
    assert numbers["view_to_cart"] == 0.0  # nobody carts
    assert pd.isna(numbers["rating_mean"])  # no reviews
