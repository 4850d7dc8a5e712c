"""Errors that mean "these data are too small for this model" (recorded, not fatal)."""


class InsufficientDataError(ValueError):
    """The data are too small for this model (e.g. fewer customers than folds)."""
