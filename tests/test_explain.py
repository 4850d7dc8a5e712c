import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

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


def _png(fig) -> bytes:
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def test_summary_plot_draws_the_same_figure_for_the_same_seed():
    plt.plot([0, 1], [1, 0])  # a figure left open by earlier code must not be drawn on
    rng = np.random.default_rng(0)
    values = pd.DataFrame(rng.normal(size=(300, 3)), columns=["x", "y", "z"])
    data = pd.DataFrame(rng.normal(size=(300, 3)), columns=["x", "y", "z"])
    fig = explain.plot_shap_summary(values, data, "test", seed=1, top=3)
    assert fig.axes and fig._suptitle.get_text() == "test"
    assert "output units" in fig.axes[0].get_xlabel()
    first = _png(fig)
    np.random.seed(123)  # noqa: NPY002 -- the global state must not matter
    assert _png(explain.plot_shap_summary(values, data, "test", seed=1, top=3)) == first
    assert _png(explain.plot_shap_summary(values, data, "test", seed=2, top=3)) != first


def test_explanation_sample_draws_fold_customers_and_a_background_elsewhere():
    folds = np.arange(100) % 5
    sample = explain.explanation_sample(folds, n_explain=10, seed=3, n_background=15)
    assert sample.explain.size == 10 and (folds[sample.explain] == 0).all()
    assert sample.background.size == 15 and (folds[sample.background] != 0).all()
    again = explain.explanation_sample(folds, n_explain=10, seed=3, n_background=15)
    assert np.array_equal(sample.explain, again.explain)
    small = explain.explanation_sample(folds, n_explain=500, seed=3)
    assert small.explain.size == 20  # capped at the fold's size


def test_tree_shap_rows_add_up_to_the_model_output_and_round_trip(tmp_path):
    import lightgbm as lgb

    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    y = 2 * x["a"] + rng.normal(scale=0.1, size=200)
    params = {"verbose": -1, "num_threads": 1, "deterministic": True, "seed": 0}
    model = lgb.train(params, lgb.Dataset(x, y), num_boost_round=20)
    values = explain.tree_shap(model, x.iloc[:5])
    base = model.predict(x.iloc[:5]) - values.sum(axis=1).to_numpy()
    assert np.allclose(base, base[0])  # one expected value for every row
    assert explain.shap_importance(values).index[0] == "a"
    explain.save_explanation(values, x.iloc[:5], tmp_path / "shap", "gbdt")
    back_values, back_data = explain.load_explanation(tmp_path / "shap", "gbdt")
    pd.testing.assert_frame_equal(back_values, values)
    with pytest.raises(ValueError, match="same customers"):
        explain.save_explanation(values, x.iloc[5:10], tmp_path / "shap", "gbdt")
