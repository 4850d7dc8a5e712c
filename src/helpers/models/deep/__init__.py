"""Deep CLV model: event-sequence encoder + tabular + text features, ZILN and churn heads.

A package with one module per part: config, inputs, network, training, crossfit,
parallel, ablations, checkpoints, explain. The public names are re-exported here.

Architecture (one :class:`DeepCLVModel`)
----------------------------------------
* **Tokens**: each event is the sum-free concatenation of embeddings of its type,
  category and amount bucket (id 0 = padding) and five standardised continuous
  channels (:data:`CONTINUOUS_CHANNELS`: log amount, log gap in hours, log days before
  the cutoff, rating, and the review's sentiment gathered through ``review_index``,
  0 for non-reviews), projected to ``hidden_size``.
* **Encoder**: a GRU (default; Cho et al. 2014), an LSTM (Hochreiter & Schmidhuber
  1997) or a small Transformer encoder (Vaswani et al. 2017) with learned positional
  embeddings counted *from the latest event* and a key padding mask. RNNs read the
  padded batch and are pooled at each customer's last real step (the padded steps come
  after it, and a recurrence is causal); the Transformer is mean-pooled over real steps.
  Padding therefore never changes a prediction.
* **Fusion**: the pooled sequence vector, the scaled tabular behaviour features and the
  per-customer text block are concatenated (each block may have width 0: a dataset
  without text simply gives an empty text frame) and fed to a two-layer MLP.
* **Heads**: a value head — ZILN (3 outputs, :mod:`helpers.ziln`; Wang, Liu & Miao
  2019) or, with ``loss="mse"``, a plain regression of spend scaled by the training
  standard deviation (the background article's choice) — and a churn head, the logit of
  "no purchase in the holdout".

``p_zero`` reported by :func:`predict_deep` is the **churn head's** probability for
both losses (so MSE-vs-ZILN ablations compare the value heads only, with the same
churn model); the ZILN head's own ``1 - p`` is kept as ``p_zero_value``. Expected spend
and the 10 %/90 % quantiles come from the ZILN head.

Protocol (:func:`crossfit_deep`) is the GBDT's (:func:`helpers.models.gbdt.crossfit_gbdt`):
fixed customer folds; fold ``k`` is predicted by a network trained on the other folds;
early stopping uses a seeded share of the *training* customers. Both models take their
per-fold ``(fit, valid, test)`` customers from one function,
:func:`helpers.models.crossfit.crossfit_splits`, so with the same folds, seed and share
they train and stop early on the same customers. Feature scalers are fit on the fold's
training customers only. :func:`crossfit_deep_many` runs the main model and its
ablations at once, their trainings spread over worker processes (results identical to
serial runs).

Devices: CUDA when available (bf16 autocast for the MLP / Transformer, the recurrent
layers stay in float32, pinned host memory), otherwise CPU with deterministic
algorithms switched on during training. Same code on both.

References
----------
Wang, Liu & Miao (2019), A deep probabilistic model for customer lifetime value
prediction. arXiv:1912.07753.
Cho et al. (2014), Learning phrase representations using RNN encoder-decoder. EMNLP.
Vaswani et al. (2017), Attention is all you need. NeurIPS.
Loshchilov & Hutter (2019), Decoupled weight decay regularization (AdamW). ICLR.
Lundberg & Lee (2017), A unified approach to interpreting model predictions (SHAP). NeurIPS.
"""

from __future__ import annotations

from helpers.models.deep.ablations import ABLATIONS, ablation_configs
from helpers.models.deep.checkpoints import load_checkpoint, save_checkpoint
from helpers.models.deep.config import (
    BROWSING_EVENT_IDS,
    CONTINUOUS_CHANNELS,
    ENCODERS,
    LOSSES,
    DeepConfig,
)
from helpers.models.deep.crossfit import (
    DeepResult,
    crossfit_deep,
    crossfit_deep_many,
    plot_loss_curves,
    relative_cost,
)
from helpers.models.deep.explain import DeepExplanation, explain_deep
from helpers.models.deep.inputs import DeepInputs, browsing_columns, prepare_inputs
from helpers.models.deep.network import DeepCLVModel, build_model
from helpers.models.deep.parallel import map_in_workers, torch_threads, worker_context
from helpers.models.deep.training import (
    TrainedDeep,
    pick_device,
    predict_deep,
    restrict_scaler,
    train_deep,
)

__all__ = [
    "ABLATIONS",
    "BROWSING_EVENT_IDS",
    "CONTINUOUS_CHANNELS",
    "DeepCLVModel",
    "DeepConfig",
    "DeepExplanation",
    "DeepInputs",
    "DeepResult",
    "ENCODERS",
    "LOSSES",
    "TrainedDeep",
    "ablation_configs",
    "browsing_columns",
    "build_model",
    "crossfit_deep",
    "crossfit_deep_many",
    "explain_deep",
    "load_checkpoint",
    "map_in_workers",
    "pick_device",
    "plot_loss_curves",
    "predict_deep",
    "prepare_inputs",
    "relative_cost",
    "restrict_scaler",
    "save_checkpoint",
    "torch_threads",
    "train_deep",
    "worker_context",
]
