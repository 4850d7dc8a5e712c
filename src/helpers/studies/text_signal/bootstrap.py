"""The recovery rate and its intervals: paired bootstrap over customers, pooled samples.

:func:`recovery_summary` scores one customer sample (Ginis, gains over (a), shares of the
ceilings, paired bootstrap intervals from :func:`bootstrap_gini`);
:func:`replicate_table` and :func:`replicate_summary` pool further samples of one world.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from helpers.evaluation.metrics import gini_raw_of_resamples, normalized_gini

#: Variants that know the simulator's truth (ceilings): never measured against (c').
CEILINGS: tuple[str, ...] = ("satisfaction", "experience")


def recovery_rate(gini_a: float, gini_b: float, gini_c: float) -> float:
    """``(G_b - G_a) / (G_c - G_a)``: the share of the text ceiling that text recovers.

    ``nan`` when the ceiling is not positive (there is nothing to recover).
    """
    ceiling = gini_c - gini_a
    return float((gini_b - gini_a) / ceiling) if ceiling > 0 else float("nan")


#: Resampling counts held in memory at once by :func:`bootstrap_gini` (replicates x customers).
_BOOT_CELLS = 4_000_000


def bootstrap_gini(
    actual: pd.Series, predictions: pd.DataFrame, n_boot: int, seed: int
) -> pd.DataFrame:
    """Normalised Gini of every column of ``predictions`` on paired bootstrap samples.

    Each replicate resamples customers with replacement (``default_rng(seed)``) and
    scores every model on the same sample, so differences between columns are paired.
    The replicates are scored at once from their resampling counts
    (:func:`helpers.evaluation.metrics.gini_raw_of_resamples`), with the same result as
    scoring each resample.

    Returns
    -------
    DataFrame ``(n_boot, models)``; ``nan`` where a resample's spend sums to zero or is
    constant.
    """
    y = actual.reindex(predictions.index).to_numpy(dtype=float)
    scores = {c: predictions[c].to_numpy(dtype=float) for c in predictions.columns}
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_boot, _BOOT_CELLS // max(len(y), 1)))  # bounded memory
    parts: list[pd.DataFrame] = []
    for start in range(0, n_boot, chunk):
        weights = np.stack(
            [
                np.bincount(rng.integers(0, len(y), len(y)), minlength=len(y))
                for _ in range(min(chunk, n_boot - start))
            ]
        ).astype(float)
        perfect = gini_raw_of_resamples(y, y, weights)
        with np.errstate(divide="ignore", invalid="ignore"):
            parts.append(
                pd.DataFrame(
                    {
                        c: np.where(
                            perfect > 0, gini_raw_of_resamples(y, s, weights) / perfect, np.nan
                        )
                        for c, s in scores.items()
                    }
                )
            )
    if not parts:  # n_boot = 0
        return pd.DataFrame(columns=predictions.columns, dtype=float)
    return pd.concat(parts, ignore_index=True)[list(predictions.columns)]


def recovery_summary(
    actual: pd.Series,
    predictions: pd.DataFrame,
    n_boot: int,
    seed: int,
    level: float = 0.9,
) -> dict[str, float]:
    """Ginis, gains over (a), the recovery rate and their paired bootstrap intervals.

    ``predictions`` has columns ``no_text``, ``text``, ``satisfaction`` and optionally
    ``ratings``, ``reader`` (ceiling (c'), :func:`~.readers.text_reader_features`),
    ``experience`` (ceiling (c''), the perfect reader of :func:`~.sweep.sweep_point`) and
    candidate blocks (predicted holdout spend per customer).

    Returns
    -------
    dict
        ``gini_<variant>``; ``gain_<variant>`` (Gini over (a)) with ``_lo`` / ``_hi``
        (``level`` percentile interval); ``recovery`` (of ``text``) and
        ``recovery_<variant>`` (of any further column) with ``_lo`` / ``_hi`` (nan when
        fewer than half the replicates have a positive ceiling); with a ``reader`` column,
        the same shares of its ceiling as ``recovery_vs_reader`` and
        ``recovery_<variant>_vs_reader`` (``recovery_reader`` is then the share of (c)
        that the words hold, ``recovery_experience`` the share a perfect reader of the
        reviews would get); ``n_customers``, ``n_boot``.
    """
    y = actual.reindex(predictions.index)
    point = {c: normalized_gini(y, predictions[c]) for c in predictions.columns}
    boot = bootstrap_gini(y, predictions, n_boot, seed)
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    out: dict[str, float] = {f"gini_{c}": float(v) for c, v in point.items()}
    for c in predictions.columns:
        if c == "no_text":
            continue
        gains = boot[c] - boot["no_text"]
        out[f"gain_{c}"] = float(point[c] - point["no_text"])
        out[f"gain_{c}_lo"], out[f"gain_{c}_hi"] = (float(q) for q in gains.quantile([lo_q, hi_q]))
    for ceiling_name, suffix in (("satisfaction", ""), ("reader", "_vs_reader")):
        if ceiling_name not in predictions.columns:
            continue
        ceiling = (boot[ceiling_name] - boot["no_text"]).to_numpy()
        for c in predictions.columns:
            if c in ("no_text", ceiling_name) or (suffix and c in CEILINGS):
                continue
            key = ("recovery" if c == "text" else f"recovery_{c}") + suffix
            out[key] = recovery_rate(point["no_text"], point[c], point[ceiling_name])
            with np.errstate(divide="ignore", invalid="ignore"):
                gained = (boot[c] - boot["no_text"]).to_numpy()
                boot_rate = np.where(ceiling > 0, gained / ceiling, np.nan)
            finite = boot_rate[np.isfinite(boot_rate)]
            out[f"{key}_lo"], out[f"{key}_hi"] = (
                (float(np.quantile(finite, lo_q)), float(np.quantile(finite, hi_q)))
                if len(finite) > n_boot // 2
                else (float("nan"), float("nan"))
            )
    out["n_customers"] = len(y)
    out["n_boot"] = int(n_boot)
    return out


def replicate_table(rows: list[Mapping[str, Any]], candidate: str | None = None) -> pd.DataFrame:
    """One line per sample of a world (the sweep's own first, numbered from 0): its
    customers, the gains over (a) of the ceiling, the study's block, ``candidate`` and
    (c') where scored, and the study's block's share of the ceiling (``share_text``).
    """
    frame = pd.DataFrame([dict(row) for row in rows])
    gains = ["gain_satisfaction", "gain_text", f"gain_{candidate}", "gain_reader"]
    table = frame[["n_customers", *[g for g in gains if g in frame]]].copy()
    table.insert(0, "sample", np.arange(len(table)))
    table["share_text"] = table["gain_text"] / table["gain_satisfaction"]
    return table


def replicate_summary(
    rows: pd.DataFrame, level: float = 0.9, variants: tuple[str, ...] = ("text", "reader")
) -> dict[str, float]:
    """Share of the ceiling over independent customer samples of one world.

    ``rows`` holds one :func:`recovery_summary` per sample (``gain_satisfaction`` and
    ``gain_<variant>``). For each of ``variants`` present (default the study's block
    ``text`` and the reader ``reader``; keys ``recovery_...`` for ``text``,
    ``recovery_<variant>_...`` for the others) it returns the ratio of the mean gain to
    the mean ceiling gain (``recovery_mean``, ``recovery_reader_mean``) with a Student-t
    interval from the linearised ratio estimator (``_lo``, ``_hi``), the smallest and
    largest per-sample share (``_min``, ``_max``), plus ``ceiling_mean``,
    ``gain_<variant>_mean`` and ``n_samples``. Unlike the paired bootstrap of one sample,
    which resamples customers around one set of fitted models, the spread over samples
    also holds the noise of fitting them. The ratio of means is used because a
    per-sample share divides by a noisy ceiling.

    References
    ----------
    Cochran (1977), *Sampling Techniques*, 3rd ed., Wiley, ch. 6 (the ratio estimator
    and its variance); Student (1908), Biometrika 6(1), 1-25.
    """
    from scipy import stats

    n = len(rows)
    if n < 2:
        raise ValueError(f"need at least two samples for an interval, got {n}")
    ceiling = rows["gain_satisfaction"].to_numpy(dtype=float)
    if ceiling.mean() <= 0:
        raise ValueError(f"the mean ceiling gain is not positive ({ceiling.mean():+.4f})")
    out: dict[str, float] = {"n_samples": float(n), "ceiling_mean": float(ceiling.mean())}
    t = float(stats.t.ppf(0.5 + level / 2, n - 1))
    for variant in variants:
        if f"gain_{variant}" not in rows:
            continue
        key = "recovery" if variant == "text" else f"recovery_{variant}"
        gain = rows[f"gain_{variant}"].to_numpy(dtype=float)
        ratio = float(gain.mean() / ceiling.mean())
        half = t * float((gain - ratio * ceiling).std(ddof=1) / (np.sqrt(n) * ceiling.mean()))
        share = gain / ceiling
        out[f"gain_{variant}_mean"] = float(gain.mean())
        out[f"{key}_mean"], out[f"{key}_lo"], out[f"{key}_hi"] = ratio, ratio - half, ratio + half
        out[f"{key}_min"], out[f"{key}_max"] = float(share.min()), float(share.max())
    return out
