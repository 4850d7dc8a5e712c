"""Checked sentences whose wording follows the result (met / not met)."""

from __future__ import annotations

from typing import Any

from helpers.claims import Claim, claim

__all__ = ["either"]


def either(holds: Any, if_true: str, if_false: str, **evidence: Any) -> Claim:
    """The sentence that is true: ``if_true`` when ``holds``, else ``if_false``.

    Both branches go through :func:`helpers.claims.claim` with the condition they state,
    so a sentence is only ever printed beside numbers that support it.
    """
    truth = bool(holds.item() if hasattr(holds, "item") else holds)
    if truth:
        return claim(truth, if_true, **evidence)
    return claim(not truth, if_false, **evidence)
