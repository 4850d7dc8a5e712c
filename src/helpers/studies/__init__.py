"""Studies: the questions the notebooks answer with the rest of the package.

A study combines features (:mod:`helpers.features`), models (:mod:`helpers.models`),
data (:mod:`helpers.data`) and metrics (:mod:`helpers.evaluation`) to answer one
question; nothing in those packages imports a study. The marketing study of notebook
05 lives in :mod:`helpers.marketing`.

* :mod:`helpers.studies.text_signal` — notebook 06b: when do reviews pay? Ceilings for
  text and a sweep over simulated worlds of growing satisfaction signal.
"""
