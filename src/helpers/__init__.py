"""Tested logic of the CLV study, laid out like the pipeline (see the README)."""

import warnings

# pandera imports pyspark.pandas whenever PySpark is installed (the Spark engine,
# helpers.engines); PySpark 4.3 then warns about pandas 3 on every import, although the
# study never uses pyspark.pandas. Only that warning is silenced.
warnings.filterwarnings(
    "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
)
