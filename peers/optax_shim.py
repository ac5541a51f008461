"""optax's losses, translated to unilosses (what optax's own loss tests import).

Each translation has optax's signature and calls one unilosses function with the
arguments in unilosses' order ``(targets, predictions)``, optax's element-wise outputs
as ``axis=None`` and its logits as ``from_logits=True``: the README's mapping table,
written as a user porting code would write it. The one arithmetic on a result is the
sign convention of the cosine losses (unilosses, like Keras, returns minus the
cosine: optax's ``cosine_similarity`` is ``-cosine_similarity``, its
``cosine_distance`` is ``1 + cosine_similarity``).

Names issue 13 is adding (CTC, poly-1, sparsemax, perceptron, ...) are translated
already under the spellings in the issue; until unilosses has them the call falls back
to optax and the test is reported as missing (:mod:`peers.fallback`). An optax name
with no translation here falls back the same way.

The runner rewrites ``from optax.losses import _classification`` (and the other
modules) to ``from peers.optax_shim import _classification``.
"""

from __future__ import annotations

import importlib
import types
from collections.abc import Callable
from typing import Any

from peers.fallback import Untranslatable, call, framework, translation

MODULES = (
    "_classification",
    "_fenchel_young",
    "_ranking",
    "_regression",
    "_segmentation",
    "_self_supervised",
    "_smoothing",
)
#: optax module -> {name: translation (the function below, before :func:`translation` wraps it)}
TRANSLATIONS: dict[str, dict[str, Callable[..., Any]]] = {m: {} for m in MODULES}
#: issue 12 item 3 adds these (log-probability inputs): passed as they are, the test fails until then
LOG_PROBS = ("from_log_probs", "log_target")


def _real(module: str, name: str) -> Any:
    return getattr(importlib.import_module(f"optax.losses.{module}"), name)


def translates(module: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function as the translation of ``optax.losses.<module>.<its name>``."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        TRANSLATIONS[module][fn.__name__] = fn
        return fn

    return register


def given(**options: Any) -> dict[str, Any]:
    """The options that were given (not None): those unilosses must then have."""
    return {k: v for k, v in options.items() if v is not None}


def _zeros_like(targets: Any, predictions: Any) -> Any:
    """optax's ``targets=None`` (zeros)."""
    if targets is not None:
        return targets
    from array_api_compat import array_namespace

    return array_namespace(predictions).zeros_like(predictions)


def _reduction(reduce_fn: Any) -> str:
    """optax's ``reduce_fn`` as a unilosses reduction name."""
    import jax.numpy as jnp

    names = {None: "none", jnp.sum: "sum", jnp.mean: "mean"}
    if reduce_fn not in names:
        raise Untranslatable(f"no reduction for reduce_fn={reduce_fn!r}")
    return names[reduce_fn]


# ------------------------------------------------------------ classification
C = "_classification"


@translates(C)
def sigmoid_binary_cross_entropy(logits: Any, labels: Any) -> Any:
    return call("binary_crossentropy", labels, logits, from_logits=True, axis=None)


@translates(C)
def softmax_cross_entropy(logits: Any, labels: Any, axis: Any = -1, where: Any = None) -> Any:
    return call(
        "categorical_crossentropy", labels, logits, from_logits=True, axis=axis, by_value=("axis",), **given(where=where)
    )


@translates(C)
def safe_softmax_cross_entropy(logits: Any, labels: Any) -> Any:
    return call("categorical_crossentropy", labels, logits, from_logits=True)


@translates(C)
def softmax_cross_entropy_with_integer_labels(logits: Any, labels: Any, axis: Any = -1, where: Any = None) -> Any:
    return call(
        "sparse_categorical_crossentropy", labels, logits,
        from_logits=True, axis=axis, by_value=("axis",), **given(where=where),
    )


@translates(C)
def sigmoid_focal_loss(logits: Any, labels: Any, *, alpha: Any = None, gamma: Any = 2.0) -> Any:
    balancing = {} if alpha is None else {"alpha": alpha, "apply_class_balancing": True}
    return call("binary_focal_crossentropy", labels, logits, from_logits=True, gamma=gamma, axis=None, **balancing)


@translates(C)
def hinge_loss(predictor_outputs: Any, targets: Any) -> Any:
    return call("hinge", targets, predictor_outputs, axis=None)


@translates(C)
def multiclass_hinge_loss(scores: Any, labels: Any) -> Any:
    # Crammer-Singer (issue 13); unilosses' multiclass_hinge is Weston-Watkins (torch's)
    return call(("crammer_singer_hinge", "multiclass_hinge_crammer_singer"), labels, scores)


@translates(C)
def perceptron_loss(predictor_outputs: Any, targets: Any) -> Any:
    return call("perceptron", targets, predictor_outputs, axis=None)


@translates(C)
def multiclass_perceptron_loss(scores: Any, labels: Any) -> Any:
    return call("multiclass_perceptron", labels, scores)


@translates(C)
def sparsemax_loss(logits: Any, labels: Any) -> Any:
    return call("sparsemax", labels, logits, axis=None)


@translates(C)
def multiclass_sparsemax_loss(scores: Any, labels: Any) -> Any:
    return call("multiclass_sparsemax", labels, scores)


@translates(C)
def poly_loss_cross_entropy(
    logits: Any, labels: Any, *, epsilon: Any = 2.0, axis: Any = -1, where: Any = None
) -> Any:
    return call(
        ("poly1_cross_entropy", "poly1"), labels, logits,
        from_logits=True, epsilon=epsilon, axis=axis, by_value=("axis",), **given(where=where),
    )


@translates(C)
def kl_divergence(log_predictions: Any, targets: Any, axis: Any = -1, where: Any = None) -> Any:
    return call(
        "kl_divergence", targets, log_predictions,
        from_log_probs=True, axis=axis, required=LOG_PROBS, by_value=("axis",), **given(where=where),
    )


@translates(C)
def kl_divergence_with_log_targets(log_predictions: Any, log_targets: Any, axis: Any = -1, where: Any = None) -> Any:
    return call(
        "kl_divergence", log_targets, log_predictions,
        from_log_probs=True, log_target=True, axis=axis, required=LOG_PROBS, by_value=("axis",), **given(where=where),
    )


def _generalized_kl(log_predictions: Any, targets: Any, axis: Any, where: Any) -> Any:
    return call(
        ("generalized_kl_divergence", "convex_kl_divergence"), targets, log_predictions,
        from_log_probs=True, axis=axis, by_value=("axis",), **given(where=where),
    )


@translates(C)
def generalized_kl_divergence(log_predictions: Any, targets: Any, axis: Any = -1, where: Any = None) -> Any:
    return _generalized_kl(log_predictions, targets, axis, where)


@translates(C)
def convex_kl_divergence(log_predictions: Any, targets: Any, axis: Any = -1, where: Any = None) -> Any:
    return _generalized_kl(log_predictions, targets, axis, where)


def _lengths(paddings: Any) -> Any:
    """optax's paddings (1.0 = padded, trailing) as lengths."""
    from array_api_compat import array_namespace

    xp = array_namespace(paddings)
    return xp.astype(xp.sum(1 - paddings, axis=-1), xp.int32)


@translates(C)
def ctc_loss(
    logits: Any, logit_paddings: Any, labels: Any, label_paddings: Any, *, blank_id: int = 0, log_epsilon: Any = -1e5
) -> Any:
    if log_epsilon != -1e5:
        raise Untranslatable("ctc has no log_epsilon")
    return call(
        "ctc", labels, logits, _lengths(label_paddings), _lengths(logit_paddings), blank=blank_id, from_logits=True
    )


# ---------------------------------------------------------------- regression
R = "_regression"


@translates(R)
def squared_error(predictions: Any, targets: Any = None) -> Any:
    return call("mean_squared_error", _zeros_like(targets, predictions), predictions, axis=None)


@translates(R)
def huber_loss(predictions: Any, targets: Any = None, *, delta: Any = 1.0) -> Any:
    return call("huber", _zeros_like(targets, predictions), predictions, delta=delta, axis=None)


@translates(R)
def log_cosh(predictions: Any, targets: Any = None) -> Any:
    return call("log_cosh", _zeros_like(targets, predictions), predictions, axis=None)


def _cosine(predictions: Any, targets: Any, epsilon: Any, axis: Any, where: Any) -> Any:
    # optax floors the squared norms at epsilon (default 0); unilosses the norms at epsilon
    # (default 1e-7, which must be positive)
    eps = {} if isinstance(epsilon, (int, float)) and epsilon == 0 else {"epsilon": epsilon**0.5}
    return call(
        "cosine_similarity", targets, predictions, axis=axis, by_value=("axis",), **eps, **given(where=where)
    )


@translates(R)
def cosine_similarity(
    predictions: Any, targets: Any, *, epsilon: Any = 0.0, axis: Any = -1, where: Any = None
) -> Any:
    return -_cosine(predictions, targets, epsilon, axis, where)


@translates(R)
def cosine_distance(
    predictions: Any, targets: Any, *, epsilon: Any = 0.0, axis: Any = -1, where: Any = None
) -> Any:
    return 1 + _cosine(predictions, targets, epsilon, axis, where)


# -------------------------------------------------------------- segmentation
@translates("_segmentation")
def dice_loss(
    predictions: Any,
    targets: Any,
    *,
    class_weights: Any = None,
    smooth: Any = 1.0,
    alpha: Any = 0.5,
    beta: Any = 0.5,
    apply_softmax: bool = True,
    reduction: str = "mean",
    ignore_background: bool = False,
    axis: Any = None,
) -> Any:
    # optax's alpha weighs the false positives, unilosses' (Keras') beta does; the options
    # smooth / apply_softmax / class_weights are issue 13's names (revisit when it lands)
    if reduction != "mean" or ignore_background:
        raise Untranslatable("tversky has no per-class reduction / ignore_background")
    return call(
        "tversky", targets, predictions, alpha=beta, beta=alpha, smooth=smooth, apply_softmax=apply_softmax,
        by_value=("axis",), **given(class_weights=class_weights, axis=axis),
    )


@translates("_segmentation")
def binary_dice_loss(predictions: Any, targets: Any, *, smooth: Any = 1.0, apply_sigmoid: bool = True) -> Any:
    return call("tversky", targets, predictions, smooth=smooth, apply_softmax=apply_sigmoid)


@translates("_segmentation")
def multiclass_generalized_dice_loss(
    predictions: Any, targets: Any, *, smooth: Any = 1.0, apply_softmax: bool = True, ignore_background: bool = False
) -> Any:
    return call(
        "multiclass_generalized_dice", targets, predictions,
        smooth=smooth, apply_softmax=apply_softmax, **({"ignore_background": True} if ignore_background else {}),
    )


# ------------------------------------------------------------ the other ones
@translates("_self_supervised")
def ntxent(embeddings: Any, labels: Any, temperature: Any = 0.07) -> Any:
    return call("ntxent", labels, embeddings, temperature=temperature)


@translates("_self_supervised")
def triplet_margin_loss(
    anchors: Any, positives: Any, negatives: Any, axis: int = -1, norm_degree: Any = 2, margin: Any = 1.0, eps: Any = 1e-6
) -> Any:
    return call(
        "triplet_margin", anchors, positives, negatives,
        margin=margin, p=norm_degree, eps=eps, **({} if axis == -1 else {"axis": axis}),
    )


@translates("_ranking")
def ranking_softmax_loss(
    logits: Any, labels: Any, *, where: Any = None, weights: Any = None, reduce_fn: Any = "mean"
) -> Any:
    reduction = _reduction(reduce_fn) if reduce_fn != "mean" else "mean"
    return call("ranking_softmax", labels, logits, reduction=reduction, **given(where=where, weights=weights))


@translates("_smoothing")
def smooth_labels(labels: Any, alpha: Any, *, axis: Any = -1, where: Any = None) -> Any:
    return call("smooth_labels", labels, alpha, **({} if axis == -1 else {"axis": axis}), **given(where=where))


#: optax names with no translation, and why (any other untranslated name says "no translation")
UNTRANSLATED = {
    "l2_loss": "half the squared error, a scale unilosses does not name (squared_error is mean_squared_error)",
    "ctc_loss_with_forward_probs": "returns CTC's forward variables, which unilosses does not expose",
    "make_fenchel_young_loss": "builds a loss from a max function; unilosses has no such factory",
}


# ------------------------------------------------------------------ modules
class _Module(types.ModuleType):
    """One of optax's loss modules: translations, else optax's own object (a fallback).

    Each attribute access gives a new function object: ``jax.jit`` caches a trace per
    function object, and a cached trace never calls the shim again, so a test that jits a
    function another test jitted would not record its fallback (and would pass as if
    translated). A fresh object per access makes each test trace, and record, anew.
    """

    def __init__(self, module: str) -> None:
        super().__init__(module)
        self._module = module

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_module":
            raise AttributeError(name)
        real = _real(self._module, name)
        translate = TRANSLATIONS[self._module].get(name)
        if translate is not None:
            return translation(real, f"optax.{name}")(translate)
        if not callable(real):
            return real
        return framework(real, f"optax.{name}: {UNTRANSLATED.get(name, 'no translation')}")


_classification = _Module("_classification")
_fenchel_young = _Module("_fenchel_young")
_ranking = _Module("_ranking")
_regression = _Module("_regression")
_segmentation = _Module("_segmentation")
_self_supervised = _Module("_self_supervised")
_smoothing = _Module("_smoothing")
