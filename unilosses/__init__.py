"""unilosses: loss functions written once against the Array API standard.

The backend is chosen on every call from the arrays passed in (NumPy, JAX,
PyTorch, TensorFlow, or any Array API library that array-api-compat knows);
importing unilosses imports none of them.

The public names are ``__all__``: the catalogue of losses (functions and their
class forms), ``loss`` / ``Loss`` / ``FunctionLoss`` / ``PerSample`` / ``Backend``
/ ``rules`` for writing your own (the building blocks are in
:mod:`unilosses.authoring`), the registry (``get``, ``register``, ``serialize``...),
``LossStats``, ``Reduction`` and ``smooth_labels``. The modules that implement them
are not part of the API.
"""

from unilosses import authoring, rules
from unilosses.authoring import Backend, FunctionLoss, Loss, PerSample, loss, namespace
from unilosses.backends import backend_for
from unilosses.labels import smooth_labels
from unilosses.losses._contrastive import *  # noqa: F403 - each family lists its names in __all__
from unilosses.losses._crossentropy import *  # noqa: F403
from unilosses.losses._crossentropy_variants import *  # noqa: F403
from unilosses.losses._distillation import *  # noqa: F403
from unilosses.losses._embedding import *  # noqa: F403
from unilosses.losses._focal import *  # noqa: F403
from unilosses.losses._linear import *  # noqa: F403
from unilosses.losses._linear import linear_log_probs
from unilosses.losses._margin import *  # noqa: F403
from unilosses.losses._metric import *  # noqa: F403
from unilosses.losses._multiclass_margin import *  # noqa: F403
from unilosses.losses._policy import (
    KL_ESTIMATORS,
    PolicyLossStats,
    aggregate_loss,
    group_advantages,
    kl_penalty,
    policy_loss,
    token_log_probs,
)
from unilosses.losses._preference import *  # noqa: F403
from unilosses.losses._probabilistic import *  # noqa: F403
from unilosses.losses._probabilistic import convex_kl_divergence
from unilosses.losses._ranking import *  # noqa: F403
from unilosses.losses._regression import *  # noqa: F403
from unilosses.losses._segmentation import *  # noqa: F403
from unilosses.losses._sequence import *  # noqa: F403
from unilosses.losses._sparsemax import *  # noqa: F403
from unilosses.reduction import REDUCTIONS, LossStats, Reduction
from unilosses.registry import FAMILIES, deserialize, get, loss_classes, register, serialize

__version__ = "0.1.0"

__all__ = [
    "FAMILIES",
    "REDUCTIONS",
    "Backend",
    "FunctionLoss",
    "KL_ESTIMATORS",
    "Loss",
    "LossStats",
    "PerSample",
    "PolicyLossStats",
    "Reduction",
    "aggregate_loss",
    "authoring",
    "backend_for",
    "convex_kl_divergence",
    "deserialize",
    "get",
    "group_advantages",
    "kl_penalty",
    "linear_log_probs",
    "loss",
    "loss_classes",
    "namespace",
    "policy_loss",
    "register",
    "rules",
    "serialize",
    "smooth_labels",
    "token_log_probs",
    *(name for family in FAMILIES for name in family.__all__),
]


def __dir__() -> list[str]:
    return sorted(__all__)
