"""The deep model's ablations: the main configuration with one thing changed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from helpers.models.deep.config import DeepConfig

#: Name -> the DeepConfig fields it changes (notebook 04b, leaderboard rows ``deep_<name>``).
ABLATIONS: dict[str, dict[str, Any]] = {
    "no_text": {"use_text": False},
    "no_browsing": {"use_browsing": False},
    "mse": {"loss": "mse"},
    "transformer": {"encoder": "transformer"},
    "lstm": {"encoder": "lstm"},
}


def ablation_configs(
    main: DeepConfig | Mapping[int, DeepConfig], names: Sequence[str]
) -> dict[str, Any]:
    """``{"deep": main, "deep_<name>": main with the ablation's change, ...}``.

    ``main`` may be one configuration or fold id → configuration (leak-free tuning);
    each ablation then changes every fold's configuration the same way.

    Raises
    ------
    KeyError
        For an unknown ablation name (the message lists the known ones).
    """
    unknown = [n for n in names if n not in ABLATIONS]
    if unknown:
        raise KeyError(f"unknown ablation(s) {unknown}; known: {sorted(ABLATIONS)}")
    if isinstance(main, DeepConfig):
        return {"deep": main, **{f"deep_{n}": main.replace(**ABLATIONS[n]) for n in names}}
    per_fold = dict(main)
    return {
        "deep": per_fold,
        **{
            f"deep_{n}": {fold: c.replace(**ABLATIONS[n]) for fold, c in per_fold.items()}
            for n in names
        },
    }
