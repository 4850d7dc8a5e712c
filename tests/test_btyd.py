"""Tests for helpers.models.btyd: published CDNOW parameters (flat priors = the MLE), exact
summaries, fits at the no-dropout boundary, and the standard CDNOW benchmark (calibration
to 1997-09-30, 39-week holdout). ``lifetimes`` is a test-only reference here (dev extra).

PyTensor compiles each distinct model graph once (then its cache serves it), so the tests
use few distinct graphs: flat priors where the published MLE is the answer, the default
priors where the study's default is under test, and small data."""

from __future__ import annotations

import time
import warnings

import lifetimes
import numpy as np
import pandas as pd
import pytest

from helpers.data.loaders import cdnow_path
from helpers.evaluation import metrics as M
from helpers.evaluation.leaderboard import p_alive_matrix
from helpers.models import btyd
from helpers.models.btyd_intervals import _simulate, interval_coverage, predictive_intervals

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # lifetimes.datasets imports the deprecated pkg_resources
    from lifetimes import datasets as lifetimes_datasets

CDNOW_MASTER = str(cdnow_path())  # the built-in copy


# --------------------------------------------------------------------------- published parameters


@pytest.fixture(scope="module")
def cdnow_sample() -> pd.DataFrame:
    """The 2,357-customer CDNOW cohort of Fader, Hardie & Lee (2005), with spend."""
    return lifetimes_datasets.load_cdnow_summary_data_with_monetary_value()


@pytest.fixture(scope="module")
def flat_fits(cdnow_sample) -> dict[str, btyd.BTYDFit]:
    return {
        "bgnbd": btyd.fit_bgnbd(cdnow_sample, priors="flat"),
        "pareto_nbd": btyd.fit_pareto_nbd(cdnow_sample, priors="flat"),
        "mbgnbd": btyd.fit_mbgnbd(cdnow_sample, priors="flat"),
        "gamma_gamma": btyd.fit_gamma_gamma(cdnow_sample, priors="flat"),
    }


def test_bgnbd_recovers_published_cdnow_sample_parameters(flat_fits):
    # Fader, Hardie & Lee (2005), 2,357-customer CDNOW cohort
    fit = flat_fits["bgnbd"]
    expected = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    for name, value in expected.items():
        assert fit.params[name] == pytest.approx(value, abs=1e-3), name
    assert fit.priors == "flat" and fit.method == "map" and not fit.fallback_used
    assert fit.n_customers == 2357


def test_pareto_nbd_recovers_published_cdnow_sample_parameters(flat_fits):
    # Fader, Hardie & Lee (2005) MATLAB note 008: r .5533, alpha 10.5776, s .6061, beta 11.6650
    fit = flat_fits["pareto_nbd"]
    expected = {"r": 0.5533, "alpha": 10.5776, "s": 0.6061, "beta": 11.6650}
    for name, value in expected.items():
        assert fit.params[name] == pytest.approx(value, rel=1e-3), name


def test_mbgnbd_recovers_the_lifetimes_reference_parameters(flat_fits):
    # Batislam et al. (2007) MBG/NBD on the same cohort: lifetimes' ModifiedBetaGeoFitter
    reference = lifetimes.ModifiedBetaGeoFitter().fit(
        *(
            lifetimes_datasets.load_cdnow_summary(index_col=[0])[c]
            for c in ("frequency", "recency", "T")
        )
    )
    for name, value in reference.params_.items():
        assert flat_fits["mbgnbd"].params[name] == pytest.approx(value, rel=2e-3), name


def test_gamma_gamma_recovers_published_cdnow_sample_parameters(flat_fits):
    # Fader, Hardie & Lee (2005) RFM & CLV / Hardie note 025: 946 repeat customers
    fit = flat_fits["gamma_gamma"]
    assert fit.n_customers == 946
    assert fit.notes["excluded_no_repeat"] == 2357 - 946
    expected = {"p": 6.25, "q": 3.74, "v": 15.45}
    for name, value in expected.items():
        assert fit.params[name] == pytest.approx(value, abs=5e-3), name


def test_default_priors_move_the_cdnow_sample_fit_a_little(cdnow_sample, flat_fits):
    fit = btyd.fit_bgnbd(cdnow_sample)  # MAP with PyMC-Marketing's default priors
    assert fit.priors == "default"
    for name in ("r", "alpha"):
        assert fit.params[name] == pytest.approx(flat_fits["bgnbd"].params[name], rel=0.05)
    assert fit.params["a"] != pytest.approx(flat_fits["bgnbd"].params["a"], rel=0.01)


def test_predictions_match_lifetimes_on_the_published_fits(cdnow_sample, flat_fits):
    """The PyMC-Marketing predictions equal lifetimes' at the same (published) parameters."""
    x, t_x, age = (cdnow_sample[c].to_numpy() for c in ("frequency", "recency", "T"))
    refs = {
        "bgnbd": lifetimes.BetaGeoFitter(),
        "pareto_nbd": lifetimes.ParetoNBDFitter(),
        "mbgnbd": lifetimes.ModifiedBetaGeoFitter(),
    }
    for name, ref in refs.items():
        ref.params_ = pd.Series(flat_fits[name].params)
        pred = btyd.predict_btyd(
            cdnow_sample.assign(duration_holdout=39.0), name, fit=flat_fits[name],
            gg_fit=flat_fits["gamma_gamma"],
        )  # fmt: skip
        with np.errstate(all="ignore"):
            expected = ref.conditional_expected_number_of_purchases_up_to_time(39.0, x, t_x, age)
            alive = ref.conditional_probability_alive(x, t_x, age)
        np.testing.assert_allclose(pred["expected_purchases"], expected, rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(pred["p_alive"], alive, rtol=1e-6, err_msg=name)
        if name == "pareto_nbd":
            with np.errstate(all="ignore"):
                p0 = ref.conditional_probability_of_n_purchases_up_to_time(0, 39.0, x, t_x, age)
            np.testing.assert_allclose(pred["p_zero"], p0, rtol=1e-6)
    zero = np.zeros(1)  # at birth the BG/NBD P(0 in t) is lifetimes' unconditional one
    p0 = flat_fits["bgnbd"].model.draws(39.0, zero, zero, zero)["p_zero"][0, 0]
    assert p0 == pytest.approx(refs["bgnbd"].probability_of_n_purchases_up_to_time(39.0, 0))


# --------------------------------------------------------------------------- summary


def _tiny_events() -> pd.DataFrame:
    utc = "UTC"
    rows = [
        # u1: two purchases on 01-01 (merged, $15), repeats on 01-08 ($20) and 01-15 23:59 ($30)
        ("u1", pd.Timestamp("2020-01-01 10:00", tz=utc), "purchase", 10.0),
        ("u1", pd.Timestamp("2020-01-01 15:00", tz=utc), "purchase", 5.0),
        ("u1", pd.Timestamp("2020-01-08 12:00", tz=utc), "purchase", 20.0),
        ("u1", pd.Timestamp("2020-01-15 23:59", tz=utc), "purchase", 30.0),
        ("u1", pd.Timestamp("2020-01-10 09:00", tz=utc), "view", np.nan),
        # holdout: 01-16 twice (one day, $10) and 01-29 ($10); 02-20 is after holdout_end
        ("u1", pd.Timestamp("2020-01-16 00:00", tz=utc), "purchase", 7.0),
        ("u1", pd.Timestamp("2020-01-16 08:00", tz=utc), "purchase", 3.0),
        ("u1", pd.Timestamp("2020-01-29 23:00", tz=utc), "purchase", 10.0),
        ("u1", pd.Timestamp("2020-02-20 10:00", tz=utc), "purchase", 100.0),
        # u2: one purchase, nothing in the holdout
        ("u2", pd.Timestamp("2020-01-08 00:00", tz=utc), "purchase", 50.0),
        ("u2", pd.Timestamp("2020-01-20 00:00", tz=utc), "cart", np.nan),
        # u3: first purchase in the holdout -> left out (counted in attrs)
        ("u3", pd.Timestamp("2020-01-20 00:00", tz=utc), "purchase", 5.0),
        # u4: browses only -> not a customer
        ("u4", pd.Timestamp("2020-01-02 00:00", tz=utc), "view", np.nan),
        # u5: 01-16 01:00 in Karachi (UTC+5) is 01-15 20:00 UTC -> calibration, T = 0
        (
            "u5",
            pd.Timestamp("2020-01-16 01:00", tz="Asia/Karachi").tz_convert(utc),
            "purchase",
            8.0,
        ),
    ]
    return pd.DataFrame(rows, columns=["user_id", "ts", "event_type", "amount"])


def test_btyd_summary_exact_values():
    summary = btyd.btyd_summary(_tiny_events(), "2020-01-15", "2020-01-29")
    assert summary.index.name == "user_id"
    assert summary.index.tolist() == ["u1", "u2", "u5"]
    assert list(summary.columns) == [
        "frequency_cal",
        "recency_cal",
        "T_cal",
        "monetary_value_cal",
        "frequency_holdout",
        "monetary_value_holdout",
        "spend_holdout",
        "duration_holdout",
    ]
    # u1: repeat days 01-08, 01-15 -> x = 2, t_x = 14 d = 2 wk, T = 14 d = 2 wk,
    #     m = (20 + 30) / 2 = 25; holdout days 01-16 ($10), 01-29 ($10) -> 2, mean 10, sum 20
    assert summary.loc["u1"].tolist() == pytest.approx([2, 2.0, 2.0, 25.0, 2, 10.0, 20.0, 2.0])
    # u2: first purchase 01-08 -> T = 7 d = 1 wk, no repeat, no holdout purchase
    assert summary.loc["u2"].tolist() == pytest.approx([0, 0.0, 1.0, 0.0, 0, 0.0, 0.0, 2.0])
    assert summary.loc["u5"].tolist() == pytest.approx([0, 0.0, 0.0, 0.0, 0, 0.0, 0.0, 2.0])
    assert summary.attrs["n_customers_first_purchase_in_holdout"] == 1
    assert summary.attrs["time_unit_days"] == 7.0

    daily = btyd.btyd_summary(_tiny_events(), pd.Timestamp("2020-01-15"), "2020-01-29", freq="D")
    assert daily.loc["u1", ["recency_cal", "T_cal", "duration_holdout"]].tolist() == [14, 14, 14]


def test_btyd_summary_rejects_bad_input():
    events = _tiny_events()
    with pytest.raises(ValueError, match="after cutoff"):
        btyd.btyd_summary(events, "2020-01-15", "2020-01-15")
    with pytest.raises(ValueError, match="no purchase on or before"):
        btyd.btyd_summary(events, "2019-01-01", "2020-01-15")
    with pytest.raises(ValueError, match="freq"):
        btyd.btyd_summary(events, "2020-01-15", "2020-01-29", freq="M")
    with pytest.raises(ValueError, match="amount"):
        btyd.btyd_summary(events.drop(columns="amount"), "2020-01-15", "2020-01-29")


def test_predict_and_tracking_on_tiny_data_are_finite():
    rng = np.random.default_rng(0)
    events = []
    for user in range(200):
        start = pd.Timestamp("2020-01-01", tz="UTC") + pd.Timedelta(days=int(rng.integers(0, 60)))
        n = int(rng.geometric(0.3))
        for gap in np.cumsum(rng.exponential(20.0, size=n)):
            spend = float(rng.gamma(2.0, 10.0))
            events.append((f"c{user}", start + pd.Timedelta(days=float(gap)), "purchase", spend))
        events.append((f"c{user}", start, "purchase", float(rng.gamma(2.0, 10.0))))
    frame = pd.DataFrame(events, columns=["user_id", "ts", "event_type", "amount"])
    summary = btyd.btyd_summary(frame, "2020-05-31", "2020-08-29")
    pred = btyd.predict_btyd(summary, "bgnbd")  # fits BG/NBD and Gamma-Gamma itself
    assert list(pred.columns) == [
        "expected_purchases",
        "p_alive",
        "p_zero",
        "expected_spend_per_purchase",
        "expected_spend",
    ]
    assert np.isfinite(pred.to_numpy()).all() and pred.index.equals(summary.index)
    assert pred.attrs["btyd"]["horizon"] == pytest.approx(90 / 7)  # May 31 -> Aug 29
    assert set(pred.attrs["btyd"]["transactions"]["params"]) == {"r", "alpha", "a", "b"}
    # customers without repeat purchases get the Gamma-Gamma population mean
    gg = pred.attrs["btyd"]["gamma_gamma"]["params"]
    no_repeat = summary["frequency_cal"] == 0
    assert pred.loc[no_repeat, "expected_spend_per_purchase"].to_numpy() == pytest.approx(
        gg["p"] * gg["v"] / (gg["q"] - 1)
    )
    # repeaters: the Gamma-Gamma conditional mean (p v + p x m) / (p x + q - 1)
    x, m = summary["frequency_cal"], summary["monetary_value_cal"]
    np.testing.assert_allclose(
        pred["expected_spend_per_purchase"],
        (gg["p"] * gg["v"] + gg["p"] * x * m) / (gg["p"] * x + gg["q"] - 1),
        rtol=1e-9,
    )
    np.testing.assert_allclose(
        pred["expected_spend"], pred["expected_purchases"] * pred["expected_spend_per_purchase"]
    )
    assert (pred["p_zero"] >= 1 - pred["p_alive"] - 1e-12).all()  # the dead buy nothing
    fit = btyd.BTYDFit.from_dict(pred.attrs["btyd"]["transactions"])  # the fit just used
    curve = btyd.tracking_curve(frame, "2020-05-31", "2020-08-29", fit)
    assert list(curve.columns) == ["week", "week_end", "actual", "predicted", "holdout"]
    assert curve["actual"].is_monotonic_increasing and curve["predicted"].is_monotonic_increasing
    with pytest.raises(ValueError, match="model must be"):
        btyd.predict_btyd(summary, "bgbb")


# --------------------------------------------------------------------------- fit failures


def test_fits_fail_loudly_only_without_data_to_fit():
    no_repeat = pd.DataFrame(
        {"frequency_cal": 0, "recency_cal": 0.0, "T_cal": np.linspace(5, 40, 50)}
    )
    for fitter in btyd.FITTERS.values():
        with pytest.raises(btyd.BTYDFitError, match="nobody made a repeat purchase"):
            fitter(no_repeat)
    with pytest.raises(btyd.BTYDFitError, match="at least 2 repeat customers"):
        btyd.fit_gamma_gamma(no_repeat.assign(monetary_value_cal=0.0))
    with pytest.raises(ValueError, match="recency"):
        btyd.fit_bgnbd(pd.DataFrame({"frequency": [1], "recency": [5.0], "T": [2.0]}))
    with pytest.raises(ValueError, match="method must be one of"):
        btyd.fit_bgnbd(no_repeat, method="newton")
    with pytest.raises(ValueError, match="penalizer is not supported"):
        btyd.fit_bgnbd(no_repeat, penalizer=0.1)


def test_priors_are_validated():
    with pytest.raises(ValueError, match="priors must be"):
        btyd._priors("bgnbd", "informative", {})
    with pytest.raises(ValueError, match="no BTYD model has parameter"):
        btyd._priors("pareto_nbd", {"kappa": {"dist": "Gamma"}}, {})
    config, label = btyd._priors("gamma_gamma", {"s": {"dist": "Gamma"}}, {})
    assert config == {} and label == "custom"  # Pareto/NBD's key: not Gamma-Gamma's
    with pytest.raises(ValueError, match="both 'a' and 'b'"):
        btyd._priors("bgnbd", {"a": {"dist": "Gamma", "kwargs": {"alpha": 1, "beta": 1}}}, {})
    with pytest.raises(ValueError, match="width must be positive"):
        btyd._priors("bgnbd", {"width": 0}, {})
    config, label = btyd._priors("pareto_nbd", {"width": 2}, {"alpha": 10.0, "beta": 10.0})
    assert label == "width=2" and set(config) == {"r", "alpha", "s", "beta"}
    assert config["beta"].parameters == {"mu": pytest.approx(np.log(10.0)), "sigma": 2.0}


# --------------------------------------------------------------------------- CDNOW benchmark


@pytest.fixture(scope="module")
def cdnow() -> dict:
    """Standard protocol on the full CDNOW master file, fitted once for the module."""
    t0 = time.perf_counter()
    raw = pd.read_csv(CDNOW_MASTER, sep=r"\s+", dtype={"customer_id": str, "date": str})
    events = pd.DataFrame(
        {
            "user_id": raw["customer_id"],
            "ts": pd.to_datetime(raw["date"], format="%Y%m%d").dt.tz_localize("UTC"),
            "event_type": "purchase",
            "amount": raw["dollar_value"].astype(float),
        }
    )
    summary = btyd.btyd_summary(events, "1997-09-30", "1998-06-30")
    gg = btyd.fit_gamma_gamma(summary)
    fits = {m: btyd.FITTERS[m](summary, priors="flat") for m in ("bgnbd", "pareto_nbd")}
    preds = {m: btyd.predict_btyd(summary, m, fit=f, gg_fit=gg) for m, f in fits.items()}
    return {
        "raw": raw,
        "events": events,
        "summary": summary,
        "fits": fits,
        "preds": preds,
        "seconds": time.perf_counter() - t0,
    }


def test_cdnow_summary_matches_lifetimes_protocol(cdnow):
    summary = cdnow["summary"]
    assert len(summary) == 23570
    assert summary["duration_holdout"].iloc[0] == 39.0
    assert summary["frequency_holdout"].sum() == 19684  # repeat purchase days in the holdout
    raw = cdnow["raw"]
    holdout = pd.to_datetime(raw["date"], format="%Y%m%d") > "1997-09-30"
    assert summary["spend_holdout"].sum() == pytest.approx(raw.loc[holdout, "dollar_value"].sum())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = lifetimes.utils.calibration_and_holdout_data(
            raw.assign(ts=pd.to_datetime(raw["date"], format="%Y%m%d")),
            "customer_id",
            "ts",
            "1997-09-30",
            "1998-06-30",
            freq="D",
            freq_multiplier=7,
            monetary_value_col="dollar_value",
        ).reindex(summary.index)
    for column in ("frequency_cal", "recency_cal", "T_cal", "monetary_value_cal"):
        np.testing.assert_allclose(summary[column], reference[column], atol=1e-9)
    np.testing.assert_allclose(summary["frequency_holdout"], reference["frequency_holdout"])


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        # measured: -14.3 % / -12.9 % transactions; Gini .672/.684; Spearman .421/.442;
        # decile MAPE .213/.371; MAE 32.68/31.99 (see the report of this module's author)
        ("bgnbd", {"gini": 0.67, "decile_mape": 0.21, "spearman": 0.42, "mae": 32.7}),
        ("pareto_nbd", {"gini": 0.68, "decile_mape": 0.37, "spearman": 0.44, "mae": 32.0}),
    ],
)
def test_cdnow_benchmark(cdnow, model, expected):
    summary, pred = cdnow["summary"], cdnow["preds"][model]
    actual = summary["frequency_holdout"].sum()
    shortfall = 1 - pred["expected_purchases"].sum() / actual
    assert 0.12 <= shortfall <= 0.145, shortfall  # known under-prediction on full CDNOW
    report = M.regression_report(summary["spend_holdout"], pred["expected_spend"], pred["p_zero"])
    assert report["gini"] == pytest.approx(expected["gini"], abs=0.01)
    assert report["decile_mape"] == pytest.approx(expected["decile_mape"], abs=0.01)
    assert report["spearman"] == pytest.approx(expected["spearman"], abs=0.01)
    assert report["mae"] == pytest.approx(expected["mae"], abs=0.5)
    assert 0.74 < report["roc_auc"] < 0.78 and 0.15 < report["brier"] < 0.18
    assert 0.5 < report["top10_capture"] < 0.53


def test_cdnow_tracking_curve(cdnow):
    fit = cdnow["fits"]["bgnbd"]
    curve = btyd.tracking_curve(cdnow["events"], "1997-09-30", "1998-06-30", fit)
    assert len(curve) == 78 and curve["holdout"].sum() == 39
    assert curve["week_end"].iloc[38] == pd.Timestamp("1997-09-30")
    # cumulative repeat purchase days: 47,907 calibration days - 23,570 first purchases
    assert curve["actual"].iloc[38] == 24337
    assert curve["actual"].iloc[-1] - curve["actual"].iloc[38] == 19684
    assert curve["predicted"].iloc[38] == pytest.approx(24337, rel=0.02)  # fits calibration


# --------------------------------------------------------------------------- no-dropout boundary

NBD_TRUTH = {"r": 0.8, "alpha": 6.0}  # purchase rates ~ Gamma(0.8, rate 6 per week)


def _nbd_summary(n: int, seed: int, cohorts: bool = True) -> pd.DataFrame:
    """Customers of an NBD world (no dropout): x ~ Poisson(lambda T), lambda ~ Gamma(r, alpha).

    Ages T (weeks) come from four quarterly cohorts (or 1..52 weeks); the last purchase
    time, the maximum of x uniforms on (0, T), is rounded up to whole weeks; repeat
    customers' mean spend is Gamma(5, scale 8).
    """
    rng = np.random.default_rng(seed)
    lam = rng.gamma(NBD_TRUTH["r"], 1.0 / NBD_TRUTH["alpha"], n)
    age = (rng.choice([13, 26, 39, 52], n) if cohorts else rng.integers(1, 53, n)).astype(float)
    x = rng.poisson(lam * age)
    t_x = np.where(x > 0, np.ceil(age * rng.random(n) ** (1.0 / np.maximum(x, 1))), 0.0)
    m = np.where(x > 0, rng.gamma(5.0, 8.0, n), 0.0)
    return pd.DataFrame(
        {
            "frequency_cal": x.astype(float),
            "recency_cal": t_x,
            "T_cal": age,
            "monetary_value_cal": m,
        }
    )


def _nbd_events(n: int, seed: int) -> pd.DataFrame:
    """Purchase events of an NBD world: first purchases over 2020-H1, none ever drops out."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(NBD_TRUTH["r"], 1.0 / NBD_TRUTH["alpha"], n) / 7.0  # per day
    first = rng.integers(0, 183, n)
    end = 365 + 181  # 2021-06-30
    rows = []
    for i in range(n):
        k = rng.poisson(lam[i] * (end - first[i]))
        for day in np.concatenate([[first[i]], np.sort(rng.uniform(first[i], end, k))]):
            rows.append((f"c{i:04d}", float(day), float(rng.gamma(4.0, 10.0))))
    frame = pd.DataFrame(rows, columns=["user_id", "day", "amount"])
    start = pd.Timestamp("2020-01-01", tz="UTC")
    frame["ts"] = start + pd.to_timedelta(frame.pop("day"), unit="D")
    frame["event_type"] = "purchase"
    return frame


@pytest.fixture(scope="module")
def no_dropout() -> dict:
    """An NBD world (nobody drops out): the default-prior fits sit at the boundary."""
    summary = _nbd_summary(2000, seed=4).assign(duration_holdout=26.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fits = {m: btyd.FITTERS[m](summary) for m in ("bgnbd", "pareto_nbd")}
    return {"summary": summary, "fits": fits, "warnings": caught}


def test_no_dropout_data_fit_without_rescue_and_predict_as_the_nbd(no_dropout):
    summary, fits = no_dropout["summary"], no_dropout["fits"]
    gg = btyd.fit_spend_model(summary)
    x, age = summary["frequency_cal"], summary["T_cal"]
    for name, fit in fits.items():
        assert fit.reduced_to is None and fit.method == "map" and fit.priors == "default"
        assert all(np.isfinite(v) and v > 0 for v in fit.params.values())
        assert fit.notes["share_gone_at_cutoff"] < 0.01  # practically nobody gone
        assert fit.params["r"] == pytest.approx(NBD_TRUTH["r"], rel=0.15)
        assert fit.params["alpha"] == pytest.approx(NBD_TRUTH["alpha"], rel=0.15)
        pred = btyd.predict_btyd(summary, name, fit=fit, gg_fit=gg)
        assert np.isfinite(pred.to_numpy()).all()
        r, alpha = fit.params["r"], fit.params["alpha"]  # the NBD's E[X(t) | x, T]
        nbd = (r + x) / (alpha + age) * 26.0
        np.testing.assert_allclose(pred["expected_purchases"].sum(), nbd.sum(), rtol=0.02)
        assert M.spearman(pred["expected_purchases"], nbd) > 0.99
    bgnbd = fits["bgnbd"]  # the BG/NBD puts nobody gone: a note and a boundary warning
    assert "practically as the NBD" in bgnbd.note
    assert any(issubclass(w.category, btyd.BTYDBoundaryWarning) for w in no_dropout["warnings"])


def test_boundary_fit_predicts_the_holdout_and_tracks():
    events = _nbd_events(800, seed=0)
    summary = btyd.btyd_summary(events, "2020-12-31", "2021-06-30")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", btyd.BTYDBoundaryWarning)
        fit = btyd.fit_bgnbd(summary)
    pred = btyd.predict_btyd(summary, "bgnbd", fit=fit)
    # the NBD is the true model here: holdout purchases and spend within 5 %
    ratio = pred["expected_purchases"].sum() / summary["frequency_holdout"].sum()
    assert ratio == pytest.approx(1.0, abs=0.05)
    assert pred["expected_spend"].sum() / summary["spend_holdout"].sum() == pytest.approx(
        1.0, abs=0.05
    )
    report = M.regression_report(summary["spend_holdout"], pred["expected_spend"], pred["p_zero"])
    assert report["gini"] > 0.3 and report["roc_auc"] > 0.7
    curve = btyd.tracking_curve(events, "2020-12-31", "2021-06-30", fit)
    assert len(curve) == 78 and curve["holdout"].sum() == 26
    assert curve["predicted"].is_monotonic_increasing
    assert curve["predicted"].iloc[-1] == pytest.approx(curve["actual"].iloc[-1], rel=0.05)
    matrix = p_alive_matrix(fit.model, max_frequency=5, max_recency=52, age=52.0)
    values = matrix.to_numpy()
    assert matrix.shape == (6, 53) and (values[~np.isnan(values)] > 0.99).all()


def test_ordinary_fits_carry_no_boundary_note(flat_fits):
    for name in btyd.FITTERS:
        fit = flat_fits[name]
        assert fit.reduced_to is None and fit.note == ""
        assert 0.3 < fit.notes["share_gone_at_cutoff"] < 0.7  # CDNOW customers do leave


# --------------------------------------------------------------------------- spend fallback


def test_spend_falls_back_to_the_calibration_mean_when_gamma_gamma_cannot_be_fitted():
    summary = btyd.btyd_summary(_tiny_events(), "2020-01-15", "2020-01-29")
    # one repeat customer only; calibration purchase days: u1 15, 20, 30; u2 50; u5 8
    assert summary.attrs["mean_spend_per_purchase_day_cal"] == pytest.approx(123 / 5)
    with pytest.raises(btyd.BTYDFitError, match="at least 2 repeat customers"):
        btyd.fit_gamma_gamma(summary)
    with pytest.warns(btyd.BTYDFitWarning, match="Gamma-Gamma not fitted"):
        spend = btyd.fit_spend_model(summary)
    assert spend.name == "gamma_gamma" and spend.reduced_to == "mean_spend"
    assert spend.params == {"mean_spend": pytest.approx(24.6)}
    assert spend.note == (
        "Gamma-Gamma not fitted (needs at least 2 repeat customers with positive spend, "
        "got 1); every customer's expected spend per purchase is the calibration mean spend "
        "per purchase day, 24.60."
    )
    params = {"r": 1.0, "alpha": 2.0, "a": 0.5, "b": 2.0}
    bgnbd = btyd.BTYDFit.from_dict({"name": "bgnbd", "params": params})
    with pytest.warns(btyd.BTYDFitWarning, match="Gamma-Gamma not fitted"):
        pred = btyd.predict_btyd(summary, "bgnbd", fit=bgnbd)  # no gg_fit: the fallback
    np.testing.assert_allclose(pred["expected_spend_per_purchase"], 24.6)
    assert pred.attrs["btyd"]["gamma_gamma"]["reduced_to"] == "mean_spend"
    np.testing.assert_allclose(pred["expected_spend"], pred["expected_purchases"] * 24.6)

    bare = summary.copy()
    bare.attrs = {}
    with pytest.warns(btyd.BTYDFitWarning):
        assert btyd.fit_spend_model(bare).params["mean_spend"] == pytest.approx(25.0)  # u1 repeats
    with pytest.raises(btyd.BTYDFitError, match="no spend per purchase to fall back on"):
        btyd.fit_spend_model(bare.assign(frequency_cal=0.0))


# --------------------------------------------------------------------------- to_dict / from_dict


def test_fits_round_trip_through_json_and_pickle(cdnow_sample, flat_fits):
    import json
    import pickle

    summary = cdnow_sample.assign(duration_holdout=39.0)
    fits = flat_fits
    stored = json.loads(json.dumps({k: f.to_dict() for k, f in fits.items()}, default=float))
    back = {k: btyd.BTYDFit.from_dict(v) for k, v in stored.items()}
    assert back["bgnbd"].params == fits["bgnbd"].params and back["bgnbd"].priors == "flat"
    for model in btyd.FITTERS:
        expected = btyd.predict_btyd(summary, model, fit=fits[model], gg_fit=fits["gamma_gamma"])
        again = btyd.predict_btyd(summary, model, fit=back[model], gg_fit=back["gamma_gamma"])
        pd.testing.assert_frame_equal(expected, again, check_like=True, rtol=1e-9)
    shipped = pickle.loads(pickle.dumps(fits["bgnbd"].model))  # small: no library model inside
    assert shipped._clv is None and len(pickle.dumps(fits["bgnbd"].model)) < 2000
    np.testing.assert_allclose(
        shipped.conditional_probability_alive(*(summary[c] for c in ("frequency", "recency", "T"))),
        fits["bgnbd"].model.conditional_probability_alive(
            *(summary[c] for c in ("frequency", "recency", "T"))
        ),
    )
    lifetimes_era = {"name": "bgnbd", "params": {"r": 1.0, "alpha": 2.0}, "reduced_to": "nbd"}
    for stored in (lifetimes_era, {"name": "bgbb", "params": {}}):
        with pytest.raises(ValueError, match="unknown BTYD model"):
            btyd.BTYDFit.from_dict(stored)


def test_to_dict_without_timings_is_the_same_on_every_fit(cdnow_sample, flat_fits):
    first = flat_fits["bgnbd"].to_dict(timings=False)
    again = btyd.fit_bgnbd(cdnow_sample, priors="flat").to_dict(timings=False)
    assert first == again and "fit_seconds" not in first


def test_predictive_simulation_reproduces_the_closed_forms(cdnow_sample, flat_fits):
    """The simulated futures behind the intervals have the closed-form means: expected
    purchases, P(no purchase) and expected spend of predict_btyd, per customer."""
    part = cdnow_sample.iloc[:300]
    x, t_x, age = (part[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    m = np.where(x > 0, part["monetary_value"].to_numpy(dtype=float), 0.0)
    for name in btyd.FITTERS:
        pred = btyd.predict_btyd(part.assign(duration_holdout=39.0), name, fit=flat_fits[name],
                                 gg_fit=flat_fits["gamma_gamma"])  # fmt: skip
        sims = _simulate(flat_fits[name], flat_fits["gamma_gamma"], x, t_x, age, m, 39.0,
                         20_000, seed=5)  # fmt: skip
        total = sims["purchases"].mean(0).sum() / pred["expected_purchases"].sum()
        assert abs(total - 1) < 0.02, (name, total)
        spend = sims["spend"].mean(0).sum() / pred["expected_spend"].sum()
        assert abs(spend - 1) < 0.05, (name, spend)
        p_zero = (sims["purchases"] == 0).mean(0)
        assert np.abs(p_zero - pred["p_zero"].to_numpy()).max() < 0.02, name
        np.testing.assert_allclose(sims["alive"][0], pred["p_alive"], rtol=1e-9, atol=1e-12)


def test_predictive_intervals_hold_their_level_for_each_customer(cdnow_sample, flat_fits):
    """Fresh futures of the fitted model land inside a customer's 80 % spend interval 80 %
    of the time (the atom at 0 counted once); a customer's interval does not depend on who
    else is scored; a MAP fit's P(alive) interval is the point."""
    part = cdnow_sample.iloc[:200].assign(duration_holdout=39.0)
    fit, gg = flat_fits["pareto_nbd"], flat_fits["gamma_gamma"]
    bounds = predictive_intervals(part, fit, gg, level=0.8, n_sims=2_000, seed=1)
    again = predictive_intervals(part.iloc[50:80], fit, gg, level=0.8, n_sims=2_000, seed=1)
    pd.testing.assert_frame_equal(bounds.iloc[50:80], again)
    x, t_x, age = (part[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    m = np.where(x > 0, part["monetary_value"].to_numpy(dtype=float), 0.0)
    fresh = _simulate(fit, gg, x, t_x, age, m, 39.0, 5_000, seed=2)["spend"]
    inside = (fresh >= bounds["spend_lower"].to_numpy()) & (
        fresh <= bounds["spend_upper"].to_numpy()
    )
    claimed = bounds["spend_level"].to_numpy()  # the model's own probability of the interval
    assert (claimed >= 0.8 - 0.03).all() and abs(inside.mean() - claimed.mean()) < 0.02
    p_zero = btyd.predict_btyd(part, "pareto_nbd", fit=fit, gg_fit=gg)["p_zero"].to_numpy()
    # 80 %, or the atom at 0 where it is larger: an interval that holds 0 holds all of it
    assert np.abs(claimed - np.maximum(0.8, p_zero)).max() < 0.03
    assert (bounds["spend_lower"] <= bounds["spend_upper"]).all()
    assert (bounds["purchases_lower"] <= bounds["purchases_upper"]).all()
    alive = fit.model.conditional_probability_alive(x, t_x, age)
    np.testing.assert_allclose(bounds["p_alive_lower"], alive, rtol=1e-9)
    np.testing.assert_array_equal(bounds["p_alive_lower"], bounds["p_alive_upper"])
    cover = interval_coverage(bounds, part["frequency"] * 0, part["frequency"] * 0.0)
    assert cover.loc["non-buyers", "spend_coverage"] == (bounds["spend_lower"] == 0).mean()
    with pytest.raises(ValueError, match="level"):
        predictive_intervals(part, fit, gg, level=1.2)


def test_posterior_draws_widen_the_p_alive_interval(cdnow_sample, flat_fits):
    """An ADVI-like posterior (draws around the MLE): P(alive) gets a real interval."""
    rng = np.random.default_rng(0)
    point = flat_fits["bgnbd"].params
    draws = {k: v * np.exp(rng.normal(0.0, 0.05, (1, 200))) for k, v in point.items()}
    fit = btyd.BTYDFit("bgnbd", btyd.PosteriorModel("bgnbd", draws), point, method="advi")
    summary = cdnow_sample.iloc[:300].assign(duration_holdout=39.0)
    bounds = predictive_intervals(summary, fit, flat_fits["gamma_gamma"], n_sims=400, seed=0)
    pred = btyd.predict_btyd(summary, "bgnbd", fit=fit, gg_fit=flat_fits["gamma_gamma"])
    repeat = summary["frequency"] > 0  # BG/NBD: P(alive) = 1 without a repeat purchase
    assert (bounds["p_alive_upper"] > bounds["p_alive_lower"])[repeat].all()
    assert (bounds["p_alive_lower"] <= pred["p_alive"] + 1e-12).all()
    assert (pred["p_alive"] <= bounds["p_alive_upper"] + 1e-12).all()
