import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers.evaluation import explain


def test_importance_and_story_known_answer():
    values = pd.DataFrame(
        {"recency_days": [-0.5, 0.1], "views_90d": [0.3, -0.2], "sequence": [0.05, 0.0]},
        index=["a", "b"],
    )
    data = pd.DataFrame({"recency_days": [120.0, 3.0], "views_90d": [7.0, 0.0]}, index=["a", "b"])
    importance = explain.shap_importance(values)
    assert list(importance.index) == ["recency_days", "views_90d", "sequence"]
    assert importance["recency_days"] == 0.3
    story = explain.customer_story(values.loc["a"], data.loc["a"], top=2)
    assert story == (
        "Raising the predicted value: views 90d = 7 (+0.30), sequence (+0.05). "
        "Lowering it: recency days = 120 (-0.50)."
    )


def test_pick_customers_top_median_bottom():
    prediction = pd.Series([5.0, 1.0, 3.0, 9.0, 7.0], index=list("abcde"))
    assert explain.pick_customers(prediction, n=3) == ["d", "a", "b"]  # sorted: b c a e d


def test_summary_plot_draws_a_figure():
    rng = np.random.default_rng(0)
    values = pd.DataFrame(rng.normal(size=(30, 3)), columns=["x", "y", "z"])
    data = pd.DataFrame(rng.normal(size=(30, 3)), columns=["x", "y", "z"])
    fig = explain.plot_shap_summary(values, data, "test", top=3)
    assert fig.axes and fig._suptitle.get_text() == "test"
    plt.close(fig)
