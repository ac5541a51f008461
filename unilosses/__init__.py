"""unilosses: loss functions written once against the Array API standard.

The backend is chosen on every call from the arrays passed in (NumPy, JAX,
PyTorch, TensorFlow, or any Array API library that array-api-compat knows);
importing unilosses imports none of them.
"""

from unilosses import authoring
from unilosses.authoring import *  # noqa: F403 - the authoring API: loss, PerSample, the building blocks
from unilosses.backends import backend_for
from unilosses.loss import Loss
from unilosses.losses import (
    contrastive,
    crossentropy,
    crossentropy_variants,
    embedding,
    focal,
    linear,
    margin,
    multiclass_margin,
    probabilistic,
    ranking,
    regression,
    segmentation,
    sequence,
)
from unilosses.losses import sparsemax as _sparsemax  # the module: its function sparsemax is exported below
from unilosses.losses.contrastive import *  # noqa: F403 - each family lists its names in __all__
from unilosses.losses.crossentropy import *  # noqa: F403
from unilosses.losses.crossentropy_variants import *  # noqa: F403
from unilosses.losses.embedding import *  # noqa: F403
from unilosses.losses.focal import *  # noqa: F403
from unilosses.losses.linear import *  # noqa: F403
from unilosses.losses.margin import *  # noqa: F403
from unilosses.losses.multiclass_margin import *  # noqa: F403
from unilosses.losses.probabilistic import *  # noqa: F403
from unilosses.losses.probabilistic import convex_kl_divergence
from unilosses.losses.ranking import *  # noqa: F403
from unilosses.losses.regression import *  # noqa: F403
from unilosses.losses.segmentation import *  # noqa: F403
from unilosses.losses.sequence import *  # noqa: F403
from unilosses.losses.sparsemax import *  # noqa: F403
from unilosses.reduction import REDUCTIONS, LossStats, Reduction
from unilosses.registry import FAMILIES, deserialize, get, loss_classes, register, serialize
from unilosses.smoothing import smooth_labels

__version__ = "0.1.0"

__all__ = [
    "FAMILIES",
    "REDUCTIONS",
    "Loss",
    "LossStats",
    "Reduction",
    "backend_for",
    "convex_kl_divergence",
    "deserialize",
    "get",
    "loss_classes",
    "register",
    "serialize",
    "smooth_labels",
    *authoring.__all__,
    *crossentropy.__all__,
    *focal.__all__,
    *crossentropy_variants.__all__,
    *_sparsemax.__all__,
    *linear.__all__,
    *probabilistic.__all__,
    *margin.__all__,
    *multiclass_margin.__all__,
    *embedding.__all__,
    *ranking.__all__,
    *contrastive.__all__,
    *regression.__all__,
    *segmentation.__all__,
    *sequence.__all__,
]
