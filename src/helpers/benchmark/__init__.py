"""The cross-dataset benchmark (``make benchmark``): :mod:`.run` fits, :mod:`.report` scores."""
