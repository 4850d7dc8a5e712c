"""Which model stage 07 applies: the leaderboard's choice under the study's gap metric.

The evaluation stage (06) writes ``reports/metrics/leaderboard.json``; the model is the
best *fitted deployable* row under ``evaluate.gap_metric`` (a learned model trained on
windows inside the calibration period, or a BTYD model; cross-fitted rows, keyed
``<model>@cross_fitted``, learned from other customers' holdout outcomes and are never
read here) among the models stage 07 can refit
(:func:`applicable_models`: LightGBM, the BTYD models, and the deep rows without the
text block, refitted from 04b's tuned configuration by :mod:`helpers.apply.deep`), never
picked by hand. A parameter may override it. The overall best row is reported beside it;
when it cannot be refitted (a fusion, or a deep row that reads text features), the
reason is given.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.apply.deep import DeepProduction, is_deep_model, production_deep_config
from helpers.apply.deployable import SINGLE_WINDOW, Recipe
from helpers.apply.scoring import APPLICABLE_MODELS, ApplyError
from helpers.evaluation.leaderboard import LOWER_IS_BETTER, row_protocol

__all__ = [
    "SIGNAL_MARGIN",
    "ModelArtifactError",
    "ModelChoice",
    "SignalVerdict",
    "applicable_models",
    "choose_model",
    "deployable_recipe",
    "read_leaderboard",
    "signal_verdict",
]

#: Rows that are yardsticks, not models one would deploy.
NOT_DEPLOYABLE: frozenset[str] = frozenset({"oracle", "zero"})


class ModelArtifactError(ApplyError):
    """A model artifact the scoring needs is missing or older than its inputs."""


@dataclass(frozen=True)
class ModelChoice:
    """The applied model and how it was chosen."""

    model: str
    metric: str
    value: float
    best_overall: str
    best_overall_value: float
    reason: str


def read_leaderboard(path: str | Path, newer_than: Sequence[str | Path] = ()) -> dict[str, Any]:
    """Read ``leaderboard.json``; fail clearly when it is missing or stale.

    Parameters
    ----------
    path : path
        The leaderboard written by stage 06.
    newer_than : paths
        Inputs the leaderboard must not be older than (e.g. the events file): a
        leaderboard older than the data it should describe is stale.

    Raises
    ------
    ModelArtifactError
        Missing file, unreadable JSON, or older than one of ``newer_than``.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelArtifactError(
            f"model artifact missing: {path} (the leaderboard of stage 06 chooses the "
            "model); run `dvc repro 06_evaluate` first, or pass --model"
        )
    for other in map(Path, newer_than):
        if other.is_file() and other.stat().st_mtime > path.stat().st_mtime:
            raise ModelArtifactError(
                f"model artifact stale: {path} is older than {other}; the leaderboard "
                "describes other data. Run `dvc repro 06_evaluate` first, or pass --model"
            )
    try:
        board = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelArtifactError(f"model artifact unreadable: {path}: {exc}") from exc
    if not any(isinstance(v, dict) for v in board.values()):
        raise ModelArtifactError(f"model artifact {path} holds no model rows")
    return board


def _rows(board: dict[str, Any], metric: str) -> dict[str, float]:
    """Fitted deployable rows and their ``metric``: a cross-fitted row (trained on other
    customers' holdout outcomes) is never a candidate, nor is the oracle."""
    rows = {}
    for name, row in board.items():
        if not isinstance(row, dict) or name in NOT_DEPLOYABLE:
            continue
        if row_protocol(name, row) != "deployable":
            continue
        if row.get("status", "fitted") != "fitted" or row.get(metric) is None:
            continue
        rows[name] = float(row[metric])
    return rows


def applicable_models(
    board: dict[str, Any], checkpoint_dir: str | Path | None = None
) -> tuple[tuple[str, ...], dict[str, str], dict[str, DeepProduction]]:
    """Which leaderboard rows stage 07 can refit, why the others cannot, and the deep
    rows' production configurations (from 04b's checkpoints in ``checkpoint_dir``)."""
    usable, why, deep = list(APPLICABLE_MODELS), {}, {}
    for name, row in board.items():
        if not isinstance(row, dict) or name in NOT_DEPLOYABLE or name in APPLICABLE_MODELS:
            continue
        if row_protocol(name, row) != "deployable":
            continue
        if not ({"gini", "mae"} & set(row)):  # a summary entry, not a model row
            continue
        if is_deep_model(name):
            try:
                production = production_deep_config(checkpoint_dir or "", name)
            except (FileNotFoundError, KeyError) as exc:
                why[name] = f"no production configuration: {exc}"
                continue
            if production.applicable:
                usable.append(name)
                deep[name] = production
            else:
                why[name] = (
                    "reads the text block, which stage 02 computes at the study's cutoff "
                    "only: no text features exist as of as_of - H or as_of"
                )
        else:
            why[name] = "a fusion or a model stage 07 does not refit (needs its own stage)"
    return tuple(usable), why, deep


def choose_model(
    board: dict[str, Any],
    metric: str,
    override: str | None = None,
    applicable: Sequence[str] = APPLICABLE_MODELS,
    not_applicable: dict[str, str] | None = None,
) -> ModelChoice:
    """The best applicable fitted model of ``board`` under ``metric`` (or ``override``).

    Raises
    ------
    ModelArtifactError
        When no applicable model is on the board, or ``override`` is not applicable.
    """
    rows = _rows(board, metric)
    if not rows:
        raise ModelArtifactError(f"the leaderboard has no fitted model with a {metric!r} value")
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    best = max(rows, key=lambda m: sign * rows[m])
    if override:
        if override not in applicable:
            raise ModelArtifactError(
                f"apply.model={override!r} cannot be refitted by stage 07; choose one of "
                f"{list(applicable)} or null (the leaderboard's choice)"
            )
        value = rows.get(override, float("nan"))
        return ModelChoice(
            override, metric, value, best, rows[best], f"{override} (set by apply.model)"
        )
    usable = {m: v for m, v in rows.items() if m in applicable}
    if not usable:
        raise ModelArtifactError(
            f"none of {list(applicable)} is fitted on the leaderboard; stage 07 has no model"
        )
    model = max(usable, key=lambda m: sign * usable[m])
    if model == best:
        reason = f"{model}: the leaderboard's best model by {metric}"
    else:
        because = (not_applicable or {}).get(best, "not refitted by stage 07")
        reason = (
            f"{model}: the best model by {metric} that stage 07 refits; the leaderboard's "
            f"best, {best}, is not applicable: {because}"
        )
    return ModelChoice(model, metric, usable[model], best, rows[best], reason)


def deployable_recipe(board: dict[str, Any]) -> Recipe:
    """The training recipe stage 06's inner time split chose (``deployable_recipe`` of
    ``leaderboard.json``), so that stage 07 trains its supervised models exactly as the
    deployable rows it chose from were trained; the single window of ``H`` days when the
    board has none (an older leaderboard, or ``evaluate.deployable: false``)."""
    record = board.get("deployable_recipe")
    if not isinstance(record, dict):
        return SINGLE_WINDOW
    return Recipe.from_dict(record)


#: Gini points by which a model's paired 95 % interval must clear the extrapolation rule
#: before stage 07 recommends acting on it (``apply.signal_margin`` overrides it).
SIGNAL_MARGIN = 0.02


@dataclass(frozen=True)
class SignalVerdict:
    """Whether the applied model predicts more than a rule of thumb, and the sentence."""

    informative: bool
    sentence: str


def signal_verdict(
    board: dict[str, Any], model: str, margin: float = SIGNAL_MARGIN
) -> SignalVerdict:
    """Does ``model`` rank customers better than the extrapolation rule, by ``margin``?

    Reads the paired Gini difference against the rule that stage 06 writes
    (``gini_vs_extrapolation``: difference, low, high). The model is informative when
    the interval's lower end exceeds ``margin``. Without that record (an older
    leaderboard, or no extrapolation row) the check cannot be made, and the model is
    taken as informative with a sentence that says so.
    """
    record = (board.get("gini_vs_extrapolation") or {}).get(model)
    if record is None:
        return SignalVerdict(
            True,
            f"{model} was not compared with the extrapolation rule on this leaderboard, so "
            "whether it predicts more than a rule of thumb is not checked.",
        )
    difference, low, high = (float(v) for v in record)
    interval = f"{difference:+.3f} Gini (95 % interval {low:+.3f} to {high:+.3f})"
    if low > margin:
        return SignalVerdict(
            True,
            f"{model} ranks customers better than the extrapolation rule by {interval}, "
            f"clear of the {margin:.2f} margin.",
        )
    return SignalVerdict(
        False,
        f"Nothing the models learn from these data predicts future spend better than a "
        f"rule of thumb: {model} ranks customers {interval} against the extrapolation rule "
        f"(spend so far per day, times the horizon), not clear of the {margin:.2f} margin. "
        "No action list is recommended on its word; the scores are written, marked as "
        "uninformative.",
    )
