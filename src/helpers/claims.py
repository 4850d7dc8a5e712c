"""Claims in the narration that cannot go stale.

A sentence of a notebook that states a result (a number, a comparison, a ranking) is
written with :func:`claim` (or, when it only reports a figure, :func:`say`): the
sentence is a template filled from the numbers it talks about, and the condition it
asserts is checked first. When a re-run changes the
numbers, the sentence changes with them; when the comparison no longer holds, the
stage fails loudly with the sentence and the evidence, instead of printing a stale
statement beside numbers that contradict it.

Example
-------
>>> claim(
...     mae["zero"] > mae.drop("zero").max(),
...     "The zero rule's MAE ({zero:.1f}) is worse than every fitted model's "
...     "(worst fitted: {worst:.1f}).",
...     zero=mae["zero"], worst=mae.drop("zero").max(),
... )  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any


class ClaimError(AssertionError):
    """A sentence of the narration no longer matches the numbers it describes."""


class Claim(str):
    """A checked sentence; shows as Markdown in a notebook, equals its text elsewhere."""

    def _repr_markdown_(self) -> str:
        return str(self)


def claim(holds: Any, sentence: str, **evidence: Any) -> Claim:
    """Check a stated result, then return the sentence filled with its numbers.

    Parameters
    ----------
    holds : bool-like
        The condition the sentence asserts (e.g. ``gini["deep"] > gini["bgnbd"]``).
        numpy booleans are accepted; anything that is not a single truth value raises.
    sentence : str
        A ``str.format`` template; its fields are filled from ``evidence``.
    **evidence
        The numbers the sentence is about; they appear in the error when it fails.

    Returns
    -------
    Claim
        The filled sentence (rendered as Markdown when it is a cell's last value).

    Raises
    ------
    ClaimError
        When ``holds`` is false, naming the sentence and the evidence.
    """
    try:
        text = sentence.format(**evidence)
    except (KeyError, IndexError) as exc:
        raise ValueError(f"claim template {sentence!r} needs field {exc}") from None
    if not _truth(holds):
        shown = ", ".join(f"{k}={_short(v)}" for k, v in evidence.items()) or "none given"
        raise ClaimError(f"the narration says {text!r}, but this no longer holds ({shown})")
    return Claim(text)


def say(sentence: str, **numbers: Any) -> Claim:
    """A sentence that only reports numbers, filled from them (nothing to check).

    Use it where the narration states a figure without a comparison; a sentence that
    compares or ranks is written with :func:`claim`, which checks it.
    """
    try:
        return Claim(sentence.format(**numbers))
    except (KeyError, IndexError) as exc:
        raise ValueError(f"sentence template {sentence!r} needs field {exc}") from None


def either(holds: Any, if_true: str, if_false: str, **evidence: Any) -> Claim:
    """The sentence that is true: ``if_true`` when ``holds``, else ``if_false``.

    For results that may go either way on another dataset: both branches go through
    :func:`claim` with the condition they state, so a sentence is only ever printed
    beside numbers that support it.

    Example
    -------
    >>> either(2.0 > 1.0, "A wins ({a:.0f}).", "B wins ({a:.0f}).", a=2.0)
    'A wins (2).'
    """
    truth = _truth(holds)
    if truth:
        return claim(truth, if_true, **evidence)
    return claim(not truth, if_false, **evidence)


def percent_span(values: Any) -> str:
    """``"43%"`` when the values round to one percentage, else ``"28% to 43%"``.

    For sentences about a range of shares that may hold a single value.
    """
    shares = [float(v) for v in values]
    if not shares:
        raise ValueError("percent_span needs at least one value")
    low, high = f"{min(shares):.0%}", f"{max(shares):.0%}"
    return low if low == high else f"{low} to {high}"


def _truth(value: Any) -> bool:
    if hasattr(value, "item") and getattr(value, "size", 1) == 1:
        value = value.item()
    if not isinstance(value, bool | int):
        raise TypeError(f"a claim's condition must be one truth value, got {type(value).__name__}")
    return bool(value)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
