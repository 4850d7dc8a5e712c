"""Checked sentences whose wording follows the result: moved to :mod:`helpers.claims`.

Kept so that ``from helpers.marketing.narrate import either`` still works.
"""

from __future__ import annotations

from helpers.claims import either

__all__ = ["either"]
