"""No single model is fatal: attempt each model, record a known failure, go on.

A real shop's data can defeat one model (a BTYD fit with no valid parameters, too few
repeat customers for Gamma-Gamma, too few customers for the folds) without making the
others worthless. :class:`FitLog` runs each named step of a model; a *known* failure is
recorded as :class:`NotFitted` (model, reason, what was tried) instead of stopping the
stage, and the log gives

* :meth:`FitLog.not_fitted_rows` -- leaderboard rows marked ``"not fitted"`` (NaN
  metrics, same columns as :func:`helpers.evaluation.leaderboard.leaderboard`);
* :meth:`FitLog.note` -- a short Markdown note (renders in the notebook and its HTML)
  saying what was not fitted and why, and which fits were reduced or fell back.

Anything else is a bug and is raised as usual: only :data:`KNOWN_FAILURES` and the
``ValueError`` messages of :data:`KNOWN_VALUE_ERROR_PATTERNS` ("too few customers" and
kin) are recorded. Helpers that fail for lack of data should raise
:class:`InsufficientDataError` (a ``ValueError``).

Decision on boundary fits: a BG/NBD or Pareto/NBD fit that lands at the no-dropout
boundary and still gives finite predictions is **kept** -- as the reduced NBD
(``reduced_to == "nbd"``), or as fitted when lifetimes converged just inside the
parameter range -- and reported through its note, not turned into a failure: it is a
finding about the data (nobody drops out within the window). Its
:class:`~helpers.models.btyd.BTYDFitWarning` is recorded in the log (and shown by
:meth:`FitLog.note`) instead of being printed to stderr; other warnings pass through.
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from helpers.evaluation.metrics import REPORT_KEYS
from helpers.models.btyd import BTYDFitError, BTYDFitWarning
from helpers.models.errors import InsufficientDataError

__all__ = [
    "KNOWN_FAILURES",
    "KNOWN_VALUE_ERROR_PATTERNS",
    "LEADERBOARD_COLUMNS",
    "FitLog",
    "FitOutcome",
    "InsufficientDataError",
    "NotFitted",
    "is_known_failure",
]


#: Exception types that mean "this model cannot be fitted on these data".
KNOWN_FAILURES: tuple[type[BaseException], ...] = (BTYDFitError, InsufficientDataError)

#: ``ValueError`` messages (regular expressions, case-insensitive) that mean the same:
#: too few customers for the folds (scikit-learn's and this project's wording).
KNOWN_VALUE_ERROR_PATTERNS: tuple[str, ...] = (
    r"\btoo few\b",
    r"\bnot enough (customers|data|samples|rows)\b",
    r"cannot have number of splits",
    r"n_splits=\d+ cannot be greater than the number of",
    r"needs training and validation customers",
)

#: Metric columns of a leaderboard row (``metrics.regression_report`` plus totals).
LEADERBOARD_COLUMNS: tuple[str, ...] = (*REPORT_KEYS, "predicted_total", "actual_total")


def is_known_failure(
    exc: BaseException,
    known: tuple[type[BaseException], ...] = KNOWN_FAILURES,
    patterns: Sequence[str] = KNOWN_VALUE_ERROR_PATTERNS,
) -> bool:
    """True for a failure that means "not fittable on these data", False for a bug."""
    if isinstance(exc, known):
        return True
    if type(exc) is ValueError:
        return any(re.search(p, str(exc), flags=re.IGNORECASE) for p in patterns)
    return False


@dataclass(frozen=True)
class NotFitted:
    """A model that could not be fitted: why, and what was tried."""

    model: str
    reason: str
    tried: str
    error: str

    def to_dict(self) -> dict[str, str]:
        """Plain data for JSON."""
        return {
            "model": self.model,
            "reason": self.reason,
            "tried": self.tried,
            "error": self.error,
        }


@dataclass
class FitOutcome:
    """Everything recorded about one model.

    Attributes
    ----------
    model : str
        Its name (the leaderboard row).
    result : object
        What its first successful step returned (e.g. the ``BTYDFit``); None if failed.
    failure : NotFitted or None
        Set once a step failed with a known failure.
    notes : list of str
        Reduction notes and fallback warnings of its steps.
    seconds : float
        Wall time of all its steps.
    leaderboard : bool
        Whether the model is a leaderboard row (False for e.g. Gamma-Gamma).
    """

    model: str
    result: Any = None
    failure: NotFitted | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    leaderboard: bool = True

    @property
    def fitted(self) -> bool:
        """True unless a step failed."""
        return self.failure is None

    @property
    def status(self) -> str:
        """``"not fitted"``, ``"reduced to <model>"``, ``"fitted with a note"`` or ``"fitted"``."""
        if self.failure is not None:
            return "not fitted"
        reduced = getattr(self.result, "reduced_to", None)
        if reduced:
            return f"reduced to {reduced}"
        return "fitted with a note" if self.notes else "fitted"


def _tried(exc: BaseException) -> str:
    attempts = getattr(exc, "attempts", None)
    if attempts:
        parts = []
        for a in attempts:
            pen = a.get("penalizer")
            head = f"penalizer {pen:g}" if isinstance(pen, int | float) else "attempt"
            parts.append(f"{head}: {a.get('message', '')}")
        text = "; ".join(parts)
        reason = str(getattr(exc, "reason", ""))
        if "NBD" in reason and "NBD" not in text:
            text += "; reduction to the NBD (no dropout)"
        return text
    return "one fit, no fallback"


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or " ".join(str(exc).split())
    return str(reason)


class FitLog:
    """Attempt named model steps; record known failures; report them.

    Examples
    --------
    >>> log = FitLog()  # doctest: +SKIP
    >>> fits = {name: log.attempt(name, fit, summary) for name, fit in fitters.items()}
    >>> board = pd.concat([leaderboard(...), log.not_fitted_rows()])
    >>> Markdown(log.note())
    """

    def __init__(
        self,
        known: tuple[type[BaseException], ...] = KNOWN_FAILURES,
        patterns: Sequence[str] = KNOWN_VALUE_ERROR_PATTERNS,
    ) -> None:
        self.known = known
        self.patterns = tuple(patterns)
        self.outcomes: dict[str, FitOutcome] = {}

    def attempt(
        self,
        model: str,
        step: Callable[..., Any],
        /,
        *args: Any,
        leaderboard: bool = True,
        **kwargs: Any,
    ) -> Any:
        """Run ``step(*args, **kwargs)`` for ``model``; None if it (or an earlier step) failed.

        The first call for a model is its fit (its result is kept in the outcome); later
        calls with the same name (predictions, diagnostics) are skipped, returning None,
        once the model has failed, and a known failure in them marks it not fitted.

        Raises
        ------
        Exception
            Whatever ``step`` raises that is not a known failure (a bug).
        """
        outcome = self.outcomes.get(model)
        if outcome is None:
            outcome = self.outcomes[model] = FitOutcome(model=model, leaderboard=leaderboard)
        elif not outcome.fitted:
            return None
        first = outcome.result is None
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", BTYDFitWarning)
            try:
                result = step(*args, **kwargs)
            except Exception as exc:
                if not is_known_failure(exc, self.known, self.patterns):
                    raise
                outcome.failure = NotFitted(
                    model=model, reason=_reason(exc), tried=_tried(exc), error=type(exc).__name__
                )
                result = None
            finally:
                outcome.seconds += time.perf_counter() - t0
        for w in caught:
            if issubclass(w.category, BTYDFitWarning):
                text = str(w.message).removeprefix(f"{model}: ")
                if text not in outcome.notes:
                    outcome.notes.append(text)
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        note = getattr(result, "note", "")
        if note and not any(note in n for n in outcome.notes):
            outcome.notes.append(str(note))
        if first and result is not None:
            outcome.result = result
        return result

    def not_fitted_because(self, model: str, other: str) -> None:
        """Record ``model`` as not fitted because ``other`` (which it depends on) failed."""
        failure = self.outcomes[other].failure
        if failure is None:
            raise ValueError(f"{other!r} did not fail")
        self.outcomes[model] = FitOutcome(
            model=model,
            failure=NotFitted(
                model=model,
                reason=f"depends on {other}, which was not fitted ({failure.reason})",
                tried="nothing (skipped)",
                error=failure.error,
            ),
        )

    # ---------------------------------------------------------------- views

    @property
    def fitted(self) -> dict[str, Any]:
        """``{model: result of its fit}`` of the models not failed."""
        return {k: o.result for k, o in self.outcomes.items() if o.fitted}

    @property
    def failures(self) -> list[NotFitted]:
        """The recorded failures, in order of first attempt."""
        return [o.failure for o in self.outcomes.values() if o.failure is not None]

    def statuses(self) -> pd.Series:
        """Status of every model attempted (see :attr:`FitOutcome.status`)."""
        return pd.Series(
            {k: o.status for k, o in self.outcomes.items()}, name="status", dtype=object
        ).rename_axis("model")

    def not_fitted_rows(self, columns: Iterable[str] | None = None) -> pd.DataFrame:
        """Leaderboard rows of the failed leaderboard models.

        Parameters
        ----------
        columns : iterable of str, optional
            Metric columns (default :data:`LEADERBOARD_COLUMNS`; pass ``board.columns``).

        Returns
        -------
        DataFrame
            Index ``model``; the metric columns all NaN, then ``status`` (``"not
            fitted"``) and ``reason``. Append to the leaderboard with ``pd.concat``.
        """
        wanted = LEADERBOARD_COLUMNS if columns is None else list(columns)
        metric_columns = [c for c in wanted if c not in _TEXT_COLUMNS]
        failed = [o for o in self.outcomes.values() if o.leaderboard and o.failure is not None]
        rows = pd.DataFrame(
            np.nan, index=pd.Index([o.model for o in failed], name="model"), columns=metric_columns
        )
        rows["status"] = pd.Series("not fitted", index=rows.index, dtype=object)
        rows["reason"] = pd.Series(
            [o.failure.reason for o in failed if o.failure is not None],
            index=rows.index,
            dtype=object,
        )
        return rows

    def note(self) -> str:
        """Markdown: models not fitted (why, what was tried), reduced fits and fallbacks."""
        lines = []
        for o in self.outcomes.values():
            if o.failure is not None:
                lines.append(
                    f"- **{o.model}** — not fitted: {o.failure.reason}. Tried: {o.failure.tried}."
                )
            elif o.notes:
                reduced = getattr(o.result, "reduced_to", None)
                head = _REDUCED_HEADS.get(reduced, f"reduced to {reduced}" if reduced else "")
                head = head or "fitted, with a note"
                lines.append(f"- **{o.model}** — {head}: {' '.join(o.notes)}")
        plain = [o.model for o in self.outcomes.values() if o.status == "fitted"]
        if plain:
            lines.append(f"- Fitted as specified: {', '.join(plain)}.")
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        return self.note()

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON: status, seconds, notes and failure of every model."""
        return {
            k: {
                "status": o.status,
                "seconds": round(o.seconds, 4),
                "notes": list(o.notes),
                "failure": o.failure.to_dict() if o.failure is not None else None,
            }
            for k, o in self.outcomes.items()
        }


_TEXT_COLUMNS = frozenset({"status", "reason"})
_REDUCED_HEADS = {"nbd": "reduced to the NBD", "mean_spend": "fell back to a mean spend"}
