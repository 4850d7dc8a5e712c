"""The calibration-only ("deployable") protocol of every learned model.

A shop that scores its customers on the morning after ``cutoff`` has every event up to
``cutoff`` and nothing later. A learned model trained the way it can be trained then:

* **rolling anchors.** It learns from windows that end inside the calibration period:
  features as of an anchor day ``t`` (events on or before ``t``), target = spend over
  ``(t, t + h]`` with ``t + h <= cutoff``. The most recent anchor is ``cutoff - h``; the
  others step back half a window at a time (``h // 2`` days, at least a week), as
  production retraining would, while each window holds :data:`MIN_TRAIN_BUYERS` customers
  who bought before it and again in it, and each further anchor has some history before
  it (:func:`anchor_days`). Every anchor's customers become training rows (a customer
  appears once per anchor).
* **training window** ``h``. The holdout ``H`` cannot always be matched inside the
  calibration period (CDNOW: 39 weeks of calibration, 39 weeks of holdout, so no window
  of ``H`` days has any history before it). The answer here is a *rate target scaled to
  the horizon*: the model learns spend over ``h = share x H`` days and its prediction
  for ``H`` days is the ``h``-day prediction times ``H / h``; P(no purchase) becomes
  ``P_h ** (H / h)`` (a constant purchase rate per customer over the horizon). Ranking
  metrics are unchanged by the scaling; levels carry the constant-rate assumption.
* **BTYD inputs** (a hybrid). Optionally the BG/NBD + Gamma-Gamma predictions over the
  same ``h`` days, fitted at each anchor on the data up to it (and at the cutoff for
  scoring), join the behaviour features: expected purchases, P(alive), expected spend.
* **recipe chosen without the holdout.** Which ``share``, how many anchors and whether
  the BTYD inputs are used is decided by an *inner time split*: the same protocol is run
  with the validation cutoff ``v = cutoff - H_v`` (``H_v = min(H, calibration days // 2)``)
  and candidate windows of ``share x H_v`` days, scored by normalised Gini against the
  spend in ``(v, cutoff]``: events the shop has. The best candidate is then refitted at
  the cutoff. The same rule runs on every dataset; the holdout only scores.

:func:`helpers.apply.scoring.score_customers` trains its supervised models with
:func:`training_set` and :func:`train_boosters` for a given :class:`Recipe`, so the
deployable rows of stage 06 (``score_customers`` at the study's cutoff) and stage 07's
backtest and production run are one code path.

References
----------
Tashman (2000), Out-of-sample tests of forecasting accuracy: rolling origins.
International Journal of Forecasting 16(4). Fader, Hardie & Lee (2005), Counting your
customers the easy way. Marketing Science 24(2). Valendin, Reutterer, Platzer & Kalcher
(2022), Customer base analysis with recurrent neural networks. IJRM 39(4).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from helpers.data.split import as_utc, purchase_days
from helpers.evaluation.metrics import normalized_gini
from helpers.features.behaviour import DEFAULT_WINDOWS, behaviour_features, rfm_style_columns
from helpers.models import btyd
from helpers.models.crossfit import early_stopping_split
from helpers.models.gbdt import DEFAULT_PARAMS, fit_early_stopped

__all__ = [
    "BTYD_INPUTS",
    "CANDIDATES",
    "MIN_TRAIN_BUYERS",
    "SINGLE_WINDOW",
    "Recipe",
    "RecipeChoice",
    "TrainingSet",
    "anchor_days",
    "choose_recipe",
    "scale_to_horizon",
    "supervised_columns",
    "train_boosters",
    "training_set",
    "window_spend",
]

DAY = pd.Timedelta(days=1)
#: Fewest training customers with a purchase in an anchor's target window.
MIN_TRAIN_BUYERS = 20
#: The BTYD columns added to the features with ``Recipe.btyd_inputs``.
BTYD_INPUTS: tuple[str, ...] = ("btyd_purchases", "btyd_p_alive", "btyd_spend")


@dataclass(frozen=True)
class Recipe:
    """How a deployable model is trained: window share of ``H``, anchors, BTYD inputs."""

    share: float = 1.0
    anchors: int = 1
    btyd_inputs: bool = False

    def window_days(self, horizon_days: int) -> int:
        """Training window ``h`` in days for a horizon of ``horizon_days`` (at least 7)."""
        return max(7, int(round(horizon_days * self.share)))

    @property
    def label(self) -> str:
        share = {1.0: "H", 0.5: "H/2"}.get(self.share, f"{self.share:.2g}·H")
        inputs = " + BTYD inputs" if self.btyd_inputs else ""
        return f"window {share}, {self.anchors} anchor{'s' * (self.anchors > 1)}{inputs}"

    def to_dict(self) -> dict[str, Any]:
        return {"share": self.share, "anchors": self.anchors, "btyd_inputs": self.btyd_inputs}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        return cls(float(data["share"]), int(data["anchors"]), bool(data["btyd_inputs"]))


#: Stage 07's historical recipe: one window of ``H`` days ending at the cutoff.
SINGLE_WINDOW = Recipe()
#: The candidates of the inner time split (``evaluate.deployable`` may narrow them).
CANDIDATES: tuple[Recipe, ...] = tuple(
    Recipe(share, anchors, inputs)
    for share in (1.0, 0.5, 1.0 / 3.0)
    for anchors in (1, 4)
    for inputs in (False, True)
)


def _day(value: Any) -> pd.Timestamp:
    return as_utc(value).normalize()


def window_spend(events: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    """Spend per user on purchase days ``start < day <= end`` (index user_id)."""
    days = purchase_days(events)
    inside = days.loc[(days["day"] > start) & (days["day"] <= end)]
    return inside.groupby("user_id")["amount"].sum()


def supervised_columns(
    frame: pd.DataFrame, model: str, selected: Sequence[str] | None
) -> list[str]:
    """Feature columns of a supervised model: RFM-style for ``gbdt_rfm``, else ``selected``.

    ``selected`` (the study's selected features) is intersected with what the data
    hold; None or nothing left means every behaviour column. BTYD input columns, when
    present, are always kept.
    """
    extra = [c for c in BTYD_INPUTS if c in frame.columns]
    if model == "gbdt_rfm":
        return rfm_style_columns(frame) + extra
    chosen = [c for c in (selected or []) if c in frame.columns]
    chosen = chosen or [c for c in frame.columns if c not in BTYD_INPUTS]
    return chosen + [c for c in extra if c not in chosen]


def anchor_days(
    events: pd.DataFrame,
    cutoff: Any,
    window_days: int,
    count: int,
    min_history_days: int | None = None,
    days: pd.DataFrame | None = None,
) -> list[pd.Timestamp]:
    """The anchor days of ``count`` rolling windows of ``window_days`` ending by ``cutoff``.

    The first anchor is ``cutoff - window_days``; each further one is ``window_days // 2``
    days (at least 7) earlier. Every anchor needs :data:`MIN_TRAIN_BUYERS` customers who
    bought on or before it and again in its window (the single window of stage 07's
    former protocol needed exactly that); a further anchor also needs at least
    ``min_history_days`` (default ``max(28, window_days // 2)``) of data before it.
    Most recent first; empty when not even the first anchor qualifies.
    """
    days = purchase_days(events) if days is None else days  # ``days``: the same, computed once
    if days.empty:
        return []
    first = days["day"].min()
    cut = _day(cutoff)
    history = max(28, window_days // 2) if min_history_days is None else min_history_days
    step = pd.Timedelta(days=max(7, window_days // 2))
    window = pd.Timedelta(days=int(window_days))
    anchors = []
    for k in range(int(count)):
        t = cut - window - k * step
        if k > 0 and (t - first).days < history:
            break
        before = set(days.loc[days["day"] <= t, "user_id"])
        inside = days.loc[(days["day"] > t) & (days["day"] <= t + window), "user_id"]
        if len(before & set(inside)) < MIN_TRAIN_BUYERS:
            break
        anchors.append(t)
    return anchors


def _fit(negative_ll: Any, start: np.ndarray) -> np.ndarray:
    from scipy.optimize import minimize

    with np.errstate(all="ignore"):
        result = minimize(
            negative_ll, start, method="L-BFGS-B", bounds=[(-12.0, 12.0)] * len(start)
        )
    return np.exp(result.x)


def bgnbd_inputs(summary: pd.DataFrame, window_weeks: float) -> pd.DataFrame:
    """Maximum-likelihood BG/NBD and Gamma-Gamma over ``window_weeks`` (Fader, Hardie &
    Lee 2005; Fader & Hardie 2013): expected repeat purchases, P(alive) and expected spend
    per customer of a :func:`helpers.models.btyd.btyd_summary` (calibration columns).

    Closed forms in numpy/scipy, fitted in well under a second, because they are refitted
    at every anchor; the study's own BTYD rows (stage 04a) are fitted with priors by
    :mod:`helpers.models.btyd`. Non-finite values stay NaN.
    """
    from scipy.special import betaln, gammaln, hyp2f1

    x = summary["frequency_cal"].to_numpy(dtype=float)
    tx = summary["recency_cal"].to_numpy(dtype=float)
    big_t = summary["T_cal"].to_numpy(dtype=float)
    m = summary["monetary_value_cal"].to_numpy(dtype=float)
    repeat = x > 0

    def bgnbd_nll(theta: np.ndarray) -> float:
        r, alpha, a, b = np.exp(theta)
        core = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x) - betaln(a, b)
        stay = -(r + x) * np.log(alpha + big_t)
        leave = np.where(
            repeat, np.log(a) - np.log(np.maximum(b + x - 1, 1e-12)) - (r + x) * np.log(alpha + tx),
            -np.inf,
        )  # fmt: skip
        value = -np.sum(core + np.logaddexp(stay, leave))
        return float(value) if np.isfinite(value) else 1e300

    r, alpha, a, b = _fit(bgnbd_nll, np.log([0.5, max(big_t.mean(), 1.0), 1.0, 2.0]))
    ratio = ((alpha + big_t) / (alpha + tx)) ** (r + x)
    odds = np.where(repeat, a / np.maximum(b + x - 1, 1e-12) * ratio, 0.0)
    t = float(window_weeks)
    with np.errstate(all="ignore"):
        z = t / (alpha + big_t + t)
        head = (a + b + x - 1) / (a - 1)
        tail = 1 - ((alpha + big_t) / (alpha + big_t + t)) ** (r + x) * hyp2f1(
            r + x, b + x, a + b + x - 1, z
        )
        purchases = head * tail / (1 + odds)
    spend = np.full_like(x, np.nan)
    if repeat.sum() >= 10:

        def gg_nll(theta: np.ndarray) -> float:
            p, q, v = np.exp(theta)
            xs, ms = x[repeat], np.maximum(m[repeat], 1e-9)
            ll = (gammaln(p * xs + q) - gammaln(p * xs) - gammaln(q) + q * np.log(v)
                  + (p * xs - 1) * np.log(ms) + p * xs * np.log(xs)
                  - (p * xs + q) * np.log(xs * ms + v))  # fmt: skip
            value = -np.sum(ll)
            return float(value) if np.isfinite(value) else 1e300

        p, q, v = _fit(gg_nll, np.log([1.0, 2.0, max(float(m[repeat].mean()), 1e-3)]))
        if q > 1:
            spend = np.where(repeat, p * (v + x * m) / (p * x + q - 1), p * v / (q - 1))
    out = pd.DataFrame(
        {"btyd_purchases": purchases, "btyd_p_alive": 1.0 / (1.0 + odds),
         "btyd_spend": purchases * spend},
        index=summary.index,
    )  # fmt: skip
    out = out.where(np.isfinite(out))
    out.attrs["bgnbd"] = {"r": r, "alpha": alpha, "a": a, "b": b}
    return out


def btyd_inputs(events: pd.DataFrame, day: pd.Timestamp, window_days: int) -> pd.DataFrame:
    """BG/NBD + Gamma-Gamma predictions over ``window_days`` after ``day`` (index user_id;
    columns :data:`BTYD_INPUTS`), fitted on the purchases up to ``day`` by
    :func:`bgnbd_inputs`."""
    seen = events.loc[events["ts"] < day + DAY]
    summary = btyd.btyd_summary(seen, day, day + pd.Timedelta(days=int(window_days)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bgnbd_inputs(summary, window_days / 7.0)


@dataclass
class TrainingSet:
    """Training rows of one recipe: features at each anchor and the window's spend.

    ``features`` is indexed ``user_id`` (repeated once per anchor), ``anchor`` gives each
    row's anchor day, ``target`` its spend over ``(anchor, anchor + window_days]``.
    """

    features: pd.DataFrame
    target: np.ndarray
    anchor: np.ndarray
    anchors: list[pd.Timestamp]
    window_days: int
    frames: dict[pd.Timestamp, pd.DataFrame] = field(default_factory=dict, repr=False)


class FeatureCache:
    """Behaviour features and BTYD inputs per day, computed once per run."""

    def __init__(self, events: pd.DataFrame, windows: Sequence[int], threads: int | None):
        self.events, self.windows, self.threads = events, tuple(windows), threads
        self._features: dict[tuple, pd.DataFrame] = {}
        self._btyd: dict[tuple, pd.DataFrame] = {}
        self._days: pd.DataFrame | None = None

    @property
    def days(self) -> pd.DataFrame:
        """Purchase days of the events (:func:`helpers.data.split.purchase_days`)."""
        if self._days is None:
            self._days = purchase_days(self.events)
        return self._days

    def features(self, day: pd.Timestamp, customers: pd.Index | None = None) -> pd.DataFrame:
        key = (day, None if customers is None else tuple(customers))
        if key not in self._features:
            self._features[key] = behaviour_features(
                self.events, day + DAY, self.windows, customers=customers, threads=self.threads
            )
        return self._features[key]

    def btyd(self, day: pd.Timestamp, window_days: int) -> pd.DataFrame:
        key = (day, int(window_days))
        if key not in self._btyd:
            self._btyd[key] = btyd_inputs(self.events, day, window_days)
        return self._btyd[key]

    def frame(
        self,
        day: pd.Timestamp,
        window_days: int,
        with_btyd: bool,
        customers: pd.Index | None = None,
    ) -> pd.DataFrame:
        """Features as of ``day`` (and the BTYD inputs over ``window_days``)."""
        frame = self.features(day, customers)
        if with_btyd:
            frame = frame.join(self.btyd(day, window_days).reindex(frame.index))
        return frame


def training_set(
    cache: FeatureCache, cutoff: Any, horizon_days: int, recipe: Recipe
) -> TrainingSet:
    """The training rows of ``recipe`` for a prediction at ``cutoff`` over ``horizon_days``.

    Only events on or before ``cutoff`` are read (``cache.events`` must hold no later
    ones). Raises ``ValueError`` when no anchor qualifies (see :func:`anchor_days`).
    """
    h = recipe.window_days(horizon_days)
    anchors = anchor_days(cache.events, cutoff, h, recipe.anchors, days=cache.days)
    if not anchors:
        raise ValueError(
            f"no training window of {h} days fits before {_day(cutoff).date()} "
            f"(at least {MIN_TRAIN_BUYERS} repeat buyers and some history are needed)"
        )
    frames, targets, tags = [], [], []
    for t in anchors:
        frame = cache.frame(t, h, recipe.btyd_inputs)
        y = window_spend(cache.events, t, t + pd.Timedelta(days=h))
        frames.append(frame)
        targets.append(y.reindex(frame.index, fill_value=0.0).to_numpy(dtype=float))
        tags.append(np.full(len(frame), t.value, dtype="int64"))
    columns = list(frames[0].columns)
    features = pd.concat([f.reindex(columns=columns) for f in frames])
    return TrainingSet(
        features=features.fillna({c: 0.0 for c in columns if c not in BTYD_INPUTS}),
        target=np.concatenate(targets),
        anchor=np.concatenate(tags),
        anchors=anchors,
        window_days=h,
        frames=dict(zip(anchors, frames, strict=True)),
    )


TARGETS: tuple[str, ...] = ("spend", "zero", "q10", "q90")


def train_boosters(
    x_train: np.ndarray,
    y_spend: np.ndarray,
    columns: list[str],
    seed: int,
    valid_share: float,
    params: dict[str, Any] | None,
    max_rounds: int,
    early_stopping_rounds: int,
    groups: np.ndarray | None = None,
    targets: Sequence[str] = TARGETS,
) -> tuple[dict[str, lgb.Booster], dict[str, int]]:
    """LightGBM boosters of the production models: Tweedie spend, binary "no purchase",
    10 % and 90 % quantiles (``targets`` picks some), early-stopped on a seeded share of
    customers (``groups``: each row's customer, so a customer's rows from several anchors
    stay on one side of the split)."""
    rng = np.random.default_rng(seed + 1)
    if groups is None:
        fit_idx, valid_idx = early_stopping_split(np.arange(len(y_spend)), valid_share, rng)
    else:
        codes, uniques = pd.factorize(pd.Index(groups), sort=True)
        _, held_users = early_stopping_split(np.arange(len(uniques)), valid_share, rng)
        held = np.isin(codes, held_users)
        fit_idx, valid_idx = np.flatnonzero(~held), np.flatnonzero(held)
    base = {**DEFAULT_PARAMS, **(params or {}), "seed": seed}
    objectives = {
        "spend": ({"objective": "tweedie", "tweedie_variance_power": 1.5}, y_spend),
        "zero": ({"objective": "binary"}, (y_spend <= 0).astype(float)),
        "q10": ({"objective": "quantile", "alpha": 0.1}, y_spend),
        "q90": ({"objective": "quantile", "alpha": 0.9}, y_spend),
    }
    boosters, best = {}, {}
    for name in targets:
        objective, y = objectives[name]
        booster = fit_early_stopped(
            x_train, y, fit_idx, valid_idx, {**base, **objective}, columns,
            max_rounds, early_stopping_rounds,
        )  # fmt: skip
        boosters[name], best[name] = booster, int(booster.best_iteration)
    return boosters, best


def scale_to_horizon(
    predictions: dict[str, np.ndarray], window_days: int, horizon_days: int
) -> dict[str, np.ndarray]:
    """``window_days`` predictions turned into ``horizon_days`` ones (rate target).

    Spend and its quantiles scale by ``H / h``; P(no purchase) becomes ``P ** (H / h)``
    (a constant purchase rate per customer). ``h == H`` returns the values unchanged.
    """
    ratio = float(horizon_days) / float(window_days)
    out = {}
    for name, values in predictions.items():
        values = np.asarray(values, dtype=float)
        if name == "zero":
            out[name] = np.clip(values, 0.0, 1.0) ** ratio
        else:
            out[name] = values * ratio
    return out


@dataclass
class RecipeChoice:
    """The inner time split's verdict: the chosen recipe and every candidate's score."""

    recipe: Recipe
    table: pd.DataFrame
    validation_cutoff: pd.Timestamp
    validation_days: int
    #: the chosen recipe's LightGBM predictions at the validation cutoff (``gbdt``, scaled
    #: to ``validation_days``) and the spend that followed (``actual``), per customer
    validation: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    cache: FeatureCache | None = field(default=None, repr=False)

    @property
    def sentence(self) -> str:
        row = self.table.loc[self.recipe.label]
        return (
            f"Recipe chosen on an inner time split (train before {self.validation_cutoff.date()}, "
            f"score spend over the next {self.validation_days} days, all inside calibration): "
            f"{self.recipe.label} (validation Gini {row['validation_gini']:.3f}, "
            f"best of {int(self.table['validation_gini'].notna().sum())} feasible candidates)."
        )


def _validation_gini(
    cache: FeatureCache,
    cutoff: pd.Timestamp,
    days: int,
    recipe: Recipe,
    actual: pd.Series,
    columns_of: Any,
    seed: int,
    settings: dict[str, Any],
) -> tuple[float, int, pd.Series]:
    train = training_set(cache, cutoff, days, recipe)
    columns = columns_of(train.features)
    boosters, _ = train_boosters(
        train.features[columns].to_numpy(dtype=float), train.target, columns, seed,
        settings["gbdt_valid_share"], settings["gbdt_params"], settings["gbdt_max_rounds"],
        settings["gbdt_early_stopping"], groups=train.features.index.to_numpy(),
        targets=("spend",),
    )  # fmt: skip
    today = cache.frame(cutoff, train.window_days, recipe.btyd_inputs)
    today = today.reindex(columns=columns)
    raw = {"spend": boosters["spend"].predict(today.to_numpy(dtype=float))}
    spend = pd.Series(scale_to_horizon(raw, train.window_days, days)["spend"], index=today.index)
    y = actual.reindex(today.index, fill_value=0.0).to_numpy(dtype=float)
    return float(normalized_gini(y, spend.to_numpy())), len(train.target), spend


def choose_recipe(
    events: pd.DataFrame,
    cutoff: Any,
    horizon_days: int,
    seed: int,
    selected_features: Sequence[str] | None = None,
    candidates: Sequence[Recipe] = CANDIDATES,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    feature_threads: int | None = 1,
    gbdt_params: dict[str, Any] | None = None,
    gbdt_valid_share: float = 0.2,
    gbdt_max_rounds: int = 2000,
    gbdt_early_stopping: int = 50,
    cache: FeatureCache | None = None,
) -> RecipeChoice:
    """Choose the deployable recipe by an inner time split inside the calibration period.

    The validation cutoff is ``v = cutoff - H_v`` with ``H_v = min(H, calibration days //
    2)``; each candidate is trained with windows of ``share x H_v`` days ending by ``v``
    and scored by normalised Gini on the spend over ``(v, cutoff]`` of the customers who
    bought by ``v``. Events after ``cutoff`` are dropped first. Ties go to the earlier
    candidate (the simpler one in :data:`CANDIDATES`' order).

    Raises
    ------
    ValueError
        When no candidate can be trained (too little history).
    """
    cut = _day(cutoff)
    events = events.loc[events["ts"] < cut + DAY]
    first = purchase_days(events)["day"].min()
    days = int(min(int(horizon_days), max(7, (cut - first).days // 2)))
    v = cut - pd.Timedelta(days=days)
    seen = events.loc[events["ts"] < v + DAY]
    cache = cache or FeatureCache(seen, windows, feature_threads)
    if cache.events is not seen:
        cache = FeatureCache(seen, windows, feature_threads)
    actual = window_spend(events, v, cut)
    settings = {
        "gbdt_params": gbdt_params, "gbdt_valid_share": gbdt_valid_share,
        "gbdt_max_rounds": gbdt_max_rounds, "gbdt_early_stopping": gbdt_early_stopping,
    }  # fmt: skip

    def columns_of(frame: pd.DataFrame) -> list[str]:
        return supervised_columns(frame, "gbdt", selected_features)

    rows, predicted, done = {}, {}, {}
    for recipe in candidates:
        h = recipe.window_days(days)
        # a candidate whose windows are those of one already scored (too little history
        # for more anchors) is that candidate: its score is reused, not refitted
        windows_of = anchor_days(seen, v, h, recipe.anchors, days=cache.days)
        key = (h, tuple(windows_of), recipe.btyd_inputs)
        try:
            if key in done:
                gini, n_rows, predicted[recipe.label] = done[key]
            else:
                gini, n_rows, predicted[recipe.label] = done[key] = _validation_gini(
                    cache, v, days, recipe, actual, columns_of, seed, settings
                )
        except ValueError as exc:
            rows[recipe.label] = {**recipe.to_dict(), "validation_gini": np.nan, "rows": 0,
                                  "note": str(exc)}  # fmt: skip
            continue
        rows[recipe.label] = {**recipe.to_dict(), "validation_gini": gini, "rows": n_rows,
                              "note": ""}  # fmt: skip
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "recipe"
    scored = table["validation_gini"].dropna()
    if scored.empty:
        raise ValueError(
            f"no deployable recipe can be trained before {v.date()}: "
            + "; ".join(table["note"].unique())
        )
    best = scored.idxmax()
    chosen = next(r for r in candidates if r.label == best)
    spend = predicted[best]
    validation = pd.DataFrame(
        {"gbdt": spend, "actual": actual.reindex(spend.index, fill_value=0.0)}, index=spend.index
    )
    return RecipeChoice(chosen, table, v, days, validation, cache)
