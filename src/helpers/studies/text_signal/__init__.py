"""When do reviews pay? Ceilings for text and the satisfaction-signal sweep (notebook 06b).

On ``shopsim`` the value signal in review text is known: the simulator's latent
satisfaction ``z`` changes how long a customer stays (:mod:`helpers.data.shopsim`, knob
``kappa``). The same model is trained four times, with four customer blocks added to
the behaviour features:

* (a) ``no_text`` — the *fact* of reviewing only (``has_review``, ``review_count``,
  ``days_since_last_review``): a customer who writes reviews is alive, whatever the
  words say, so this is behaviour, not text;
* (b) ``text`` — today's text features (:func:`helpers.features.text.user_text_features`);
* (c) ``satisfaction`` — the fact of reviewing plus the reviewer's **true** latent
  satisfaction (0 for customers without a calibration review): what the customers
  felt, an upper bound on what their reviews could reveal. Report only, never an input
  of the study's models;
* (d) ``ratings`` — the fact of reviewing plus the star ratings (mean, last).

A second ceiling, (c') ``reader``, is used in the sweep: the compact text block plus what
a bag-of-words model trained on the truth reads from the review words
(:func:`~.readers.text_reader_features`). (c) - (c') is value
signal the texts never carried; (c') - (b) is signal the text features lose. A third,
(c'') ``experience``, replaces the reader's readings by the true experience behind each
review (:func:`~.sweep.sweep_point`): (c) - (c'') is
satisfaction no review reveals, (c'') - (c') experience the words leave unsaid.

The **text recovery rate** is ``(G_b - G_a) / (G_c - G_a)`` with ``G`` the normalised
Gini of holdout spend; its interval comes from a paired bootstrap over customers (the
same resampled customers for every variant). When the ceiling ``G_c - G_a`` is near 0
the ratio is unstable and says little; the gains themselves are reported too.

The sweep re-simulates the shop at several ``kappa`` with the same seed (common random
numbers: the same customers, purchases and review texts, see :mod:`helpers.data.shopsim`)
and evaluates (a)-(d) with cross-fitted LightGBM on a random subset of customers.

What lives where (each module has one job; this package imports features, models, data
and evaluation, and none of them imports it):

* :mod:`.blocks` — the customer blocks: variants (a)-(d), the candidate text blocks, the
  rating and true-experience features, and stage 02's text block rebuilt for one world;
* :mod:`.readers` — reading the reviews: the latent experience behind each review, the
  truth-trained reader of ceiling (c'), the rating reader of the candidates, and the
  block read through an encoder fine-tuned on the ratings;
* :mod:`.bootstrap` — the recovery rate, the paired bootstrap of normalised Gini, the
  recovery summary of one sample and the pooled summary of several;
* :mod:`.variants` — fitting the variants: cross-fitted LightGBM, and the deep model of
  notebook 04b on one fold in background processes;
* :mod:`.settings` — frozen settings built from ``params.yaml``, with the defaults in one
  place: the sweep's (:class:`~.settings.SweepSettings`) and the notebook's
  (:class:`~.settings.StudySettings`); and the sweep's inputs from the study's stages
  (:class:`~.settings.SweepInputs`);
* :mod:`.sweep` — the sweep over simulated worlds: its customer samples, the scoring of
  one world (:func:`~.sweep.sweep_point`) and of them all (:func:`~.sweep.run_sweep`);
* :mod:`.study` — running the notebook: every measurement in order
  (:func:`~.study.run_study`) and its outputs (:func:`~.study.write_outputs`);
* :mod:`.summary` — the sentences and tables that report them, the one-line answer first,
  and reading the sweep: the strongest world, the split of the gap to the ceiling, the
  best block;
* :mod:`.plots` — the figure of the sweep.

References
----------
Efron & Tibshirani (1993), An Introduction to the Bootstrap (percentile intervals).
Bolton (1998), Marketing Science 17(1), 45-65 (satisfaction and relationship duration).
"""
