"""Conformance cases for the segmentation family, against Keras and optax.

unilosses' default (``axis=None``) is Keras' default: one value for the whole
batch. ``per_sample=True`` is Keras' ``axis=(1, ..., ndim - 1)`` and optax's
default; an integer ``axis`` or a tuple of axes is Keras' and optax's
``axis=axis``. optax's multi-class form (classes last, softmax, class weights,
``smooth``) is ``class_axis=-1, from_logits=True``. optax's ``alpha`` / ``beta``
are Tversky's ``beta`` / ``alpha``.

MONAI's losses (``monai.losses``, channels first) are ``class_axis=1,
per_sample=True`` with ``smooth_nr`` / ``smooth_dr`` given (MONAI's 1e-5 each),
``activation`` for ``sigmoid`` / ``softmax``, ``sparse=True`` for ``to_onehot_y``,
``ignore_background=True`` for ``include_background=False``, ``per_sample=False``
for ``batch=True`` and ``per_class=True`` for its ``reduction="none"``; MONAI's
Tversky ``alpha`` / ``beta`` are ``beta`` / ``alpha`` here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from unilosses.conformance import Case, optax_reference, ref_inputs, ref_output, require_keywords

N, K = 4, 3


# ------------------------------------------------------------------ inputs
def _masks(shape: tuple[int, ...]) -> Any:
    def inputs(rng: np.random.Generator) -> tuple[Any, ...]:
        y = (rng.uniform(0, 1, shape) < 0.4).astype(np.float32)
        y.reshape(shape[0], -1)[0, :] = 0.0  # an empty target mask
        p = rng.uniform(0.01, 0.99, shape).astype(np.float32)
        return y, p

    return inputs


def _soft_masks(rng: np.random.Generator) -> tuple[Any, ...]:
    shape = (N, 6, 5)
    return rng.uniform(0, 1, shape).astype(np.float32), rng.uniform(0, 1, shape).astype(np.float32)


def _binary_logits(shape: tuple[int, ...]) -> Any:
    def inputs(rng: np.random.Generator) -> tuple[Any, ...]:
        y = (rng.uniform(0, 1, shape) < 0.4).astype(np.float32)
        return y, (rng.standard_normal(shape) * 2).astype(np.float32)

    return inputs


def _onehot_logits(shape: tuple[int, ...], class_axis: int = -1, weights: bool = False) -> Any:
    """One-hot targets with the classes along ``class_axis`` and logits; class weights too."""

    def inputs(rng: np.random.Generator) -> tuple[Any, ...]:
        labels = rng.integers(0, K, shape)
        labels.reshape(shape[0], -1)[0, :] = 0  # a sample without classes 1 and 2
        y = np.ascontiguousarray(np.moveaxis(np.eye(K, dtype=np.float32)[labels], -1, class_axis))
        z = (rng.standard_normal(y.shape) * 2).astype(np.float32)
        return (y, z, rng.uniform(0.2, 2.0, K).astype(np.float32)) if weights else (y, z)

    return inputs


# -------------------------------------------------------------- references
def _keras(name: str, axis: Any = "samples", **kw: Any) -> Any:
    """keras.losses.<name>; ``axis="samples"`` is every axis but the first."""

    def ref(y: Any, p: Any) -> Any:
        import keras

        ax = tuple(range(1, p.ndim)) if axis == "samples" else axis
        fn = getattr(keras.losses, name)
        require_keywords(fn, "axis", *kw)
        return ref_output(fn(y.astype(np.float64), p.astype(np.float64), axis=ax, **kw))

    return ref


def _optax_binary(alpha: float = 0.5, beta: float = 0.5, smooth: float = 0.0, axis: Any = "samples", logits: bool = False) -> Any:
    """optax.losses.dice_loss on one sigmoid class (a trailing class axis of size 1); probabilities
    are passed as their logits. unilosses' tversky(alpha=a, beta=b) is optax's alpha=b, beta=a."""

    def fn(y: Any, p: Any) -> Any:
        import jax.numpy as jnp
        import optax

        z = p if logits else jnp.log(p) - jnp.log1p(-p)
        ax = tuple(range(1, p.ndim)) if axis == "samples" else tuple(range(p.ndim)) if axis == "all" else axis
        return optax.losses.dice_loss(z[..., None], y[..., None], alpha=beta, beta=alpha, smooth=smooth, axis=ax)

    return optax_reference(fn)


def _optax_multiclass(class_axis: int = -1, alpha: float = 0.5, beta: float = 0.5, **kw: Any) -> Any:
    """optax.losses.dice_loss on logits with the classes moved last (``axis="all"``: every other axis)."""

    def fn(y: Any, z: Any, *w: Any) -> Any:
        import jax.numpy as jnp
        import optax

        y, z = jnp.moveaxis(y, class_axis, -1), jnp.moveaxis(z, class_axis, -1)
        opts = dict(kw)
        if opts.get("axis") == "all":
            opts["axis"] = tuple(range(z.ndim - 1))
        return optax.losses.dice_loss(z, y, alpha=beta, beta=alpha, class_weights=w[0] if w else None, **opts)

    return optax_reference(fn)


def _optax_generalized(**kw: Any) -> Any:
    """Per-sample values of optax's multiclass_generalized_dice_loss (whose mean it returns): its
    class weights (inverse squared batch frequencies, rescaled to sum to K) on its dice_loss."""

    def fn(y: Any, z: Any) -> Any:
        import jax.numpy as jnp
        import optax

        freq = jnp.sum(y, axis=tuple(range(y.ndim - 1)))
        w = 1.0 / (freq**2 + 1e-7)
        w = w / jnp.sum(w) * w.shape[0]
        values = optax.losses.dice_loss(z, y, class_weights=w, reduction="none", **kw)
        return jnp.mean(values, axis=-1)

    return optax_reference(fn)


def _labels_logits(shape: tuple[int, ...], ignore: int | None = None) -> Any:
    """Integer label maps (N, 1, ...) and channels-first logits (N, K, ...), MONAI's layout; labels
    ``ignore`` on a few pixels."""

    def inputs(rng: np.random.Generator) -> tuple[Any, ...]:
        labels = rng.integers(0, K, shape)
        labels[0] = 0  # a sample of background only
        if ignore is not None:
            labels[1, 0] = ignore
        z = (rng.standard_normal((shape[0], K, *shape[1:])) * 2).astype(np.float32)
        return labels[:, None], z

    return inputs


def _onehot_first(shape: tuple[int, ...], extra: str = "") -> Any:
    """One-hot channels-first targets and logits; ``extra``: "weights" (K - 1 class weights) or
    "mask" (a (N, 1, ...) pixel mask)."""

    def inputs(rng: np.random.Generator) -> tuple[Any, ...]:
        y, z = _onehot_logits(shape, class_axis=1)(rng)
        if extra == "weights":
            return y, z, rng.uniform(0.2, 2.0, K - 1).astype(np.float32)
        if extra == "mask":
            return y, z, (rng.uniform(0, 1, (shape[0], 1, *shape[1:])) < 0.7).astype(np.float32)
        return y, z

    return inputs


def _soft_first(rng: np.random.Generator) -> tuple[Any, ...]:
    shape = (N, K, 4, 5)
    return rng.uniform(0, 1, shape).astype(np.float32), rng.uniform(0.01, 0.99, shape).astype(np.float32)


def _monai(name: str, *, per_class: bool = False, extra: str = "", reduced: bool = False, **kw: Any) -> Any:
    """``monai.losses.<name>(reduction="none", **kw)(y_pred, y_true)`` on torch CPU tensors, as the
    per-sample values of the case (the mean over classes; each class with ``per_class``);
    ``extra``: a third input is MONAI's ``weight`` or the ``mask`` of its ``MaskedDiceLoss``;
    ``reduced``: MONAI's default ``reduction="mean"`` (the case's ``"sum_over_batch_size"``).
    The torch function stays available as the reference's ``torch`` attribute (for autograd
    against autograd)."""

    def on_tensors(y: Any, p: Any, *more: Any) -> Any:
        import monai.losses

        opts = dict(kw)
        if extra == "weights":
            # unilosses takes K weights (optax) or K - 1 with the background left out; MONAI the latter
            opts["weight"] = more[0][1:] if not kw.get("include_background", True) else more[0]
        if reduced:  # MONAI's combined losses give their mean only
            return getattr(monai.losses, name)(**opts)(p, y)
        fn = getattr(monai.losses, name)(reduction="none", **opts)
        out = fn(p, y, mask=more[0]) if extra == "mask" else fn(p, y)
        batch = kw.get("batch", False)
        out = out.reshape(-1) if batch else out.reshape(out.shape[0], -1)
        return out if per_class else out.mean(-1)

    def ref(*arrays: Any) -> Any:
        return ref_output(on_tensors(*ref_inputs("torch", *arrays)))

    ref.torch = on_tensors  # type: ignore[attr-defined]
    return ref


def _labels_logits_distances(rng: np.random.Generator) -> tuple[Any, ...]:
    """MONAI's label maps and logits, and a symmetric class distance matrix (0 on the diagonal)."""
    labels, z = _labels_logits((N, 4, 5))(rng)
    d = rng.uniform(0.2, 1.0, (K, K))
    d = ((d + d.T) / 2 * (1 - np.eye(K))).astype(np.float32)
    return labels, z, d


def _monai_wasserstein(**kw: Any) -> Any:
    """monai.losses.GeneralizedWassersteinDiceLoss(dist_matrix, reduction="none", **kw)(logits, labels)."""

    def on_tensors(y: Any, z: Any, d: Any) -> Any:
        import monai.losses

        return monai.losses.GeneralizedWassersteinDiceLoss(dist_matrix=d, reduction="none", **kw)(z, y)

    def ref(*arrays: Any) -> Any:
        return ref_output(on_tensors(*ref_inputs("torch", *arrays)))

    ref.torch = on_tensors  # type: ignore[attr-defined]
    return ref


def _binary_first(channels: int, labels: bool = False) -> Any:
    """Binary segmentations channels first, MONAI's layout: probabilities of ``channels`` channels
    (2: background and foreground, summing to 1; 1: the foreground), and targets (integer label
    maps (N, 1, ...) with ``labels``, else masks of y_pred's shape); a sample of background only."""

    def inputs(rng: np.random.Generator) -> tuple[Any, ...]:
        shape = (N, 4, 5)
        fg = (rng.uniform(0, 1, shape) < 0.3).astype(np.int64)
        fg[0] = 0
        p = rng.uniform(0.02, 0.98, (N, 1, *shape[1:]))
        if channels == 2:
            p = np.concatenate([1 - p, p], axis=1)
        if labels:
            return fg[:, None], p.astype(np.float32)
        y = fg[:, None].astype(np.float32)
        return (np.concatenate([1 - y, y], axis=1) if channels == 2 else y), p.astype(np.float32)

    return inputs


#: MONAI's default smoothing, given explicitly (unilosses' default is Keras' and optax's)
_MONAI_SMOOTH = {"smooth_nr": 1e-5, "smooth_dr": 1e-5}
_MONAI = {"per_sample": True, "class_axis": 1, **_MONAI_SMOOTH}


CASES = [
    # ---------------------------------------------------------------- dice
    Case(
        "dice-batch",
        "dice",
        _masks((N, 5, 6, 1)),
        references={"keras": _keras("dice", axis=None), "optax": _optax_binary(axis="all")},
    ),
    Case(
        "dice-images",
        "dice",
        _masks((N, 5, 6, 1)),
        {"per_sample": True},
        references={"keras": _keras("dice"), "optax": _optax_binary()},
    ),
    Case(
        "dice-vectors",
        "dice",
        _masks((N, 7)),
        {"per_sample": True},
        references={"keras": _keras("dice")},
    ),
    Case(
        "dice-axis-int",
        "dice",
        _soft_masks,
        {"axis": 1},
        references={"keras": _keras("dice", axis=1)},
    ),
    Case(
        "dice-channels-axis-tuple",
        "dice",
        _masks((N, 5, 6, 3)),
        {"axis": (1, 2)},
        references={"keras": _keras("dice", axis=(1, 2))},
    ),
    Case(
        "dice-sigmoid-smooth",
        "dice",
        _binary_logits((N, 5, 6)),
        {"per_sample": True, "from_logits": True, "smooth": 1.0},
        references={"optax": _optax_binary(smooth=1.0, logits=True)},
    ),
    Case(
        "dice-multiclass-softmax-class-weight",
        "dice",
        _onehot_logits((N, 5, 4), weights=True),
        {"per_sample": True, "class_axis": -1, "from_logits": True, "smooth": 1.0},
        references={"optax": _optax_multiclass(smooth=1.0)},
        array_options={"class_weight": 2},
    ),
    Case(
        "dice-multiclass-ignore-background",
        "dice",
        _onehot_logits((N, 5, 4)),
        {"per_sample": True, "class_axis": -1, "from_logits": True, "smooth": 0.5, "ignore_background": True},
        references={"optax": _optax_multiclass(smooth=0.5, ignore_background=True)},
    ),
    Case(
        "dice-multiclass-nchw",
        "dice",
        _onehot_logits((N, 4, 5), class_axis=1),
        {"per_sample": True, "class_axis": 1, "from_logits": True, "smooth": 1.0},
        references={"optax": _optax_multiclass(class_axis=1, smooth=1.0)},
    ),
    Case(
        "dice-multiclass-batch",
        "dice",
        _onehot_logits((N, 5, 4)),
        {"class_axis": -1, "from_logits": True, "smooth": 1.0},
        references={"optax": _optax_multiclass(smooth=1.0, axis="all")},
    ),
    Case(
        "dice-multiclass-axis-tuple",
        "dice",
        _onehot_logits((2, 3, 4, 5)),
        {"axis": (2, 3), "class_axis": -1, "from_logits": True, "smooth": 1.0},
        references={"optax": _optax_multiclass(smooth=1.0, axis=(2, 3))},
    ),
    # ------------------------------------------------------------- tversky
    Case(
        "tversky",
        "tversky",
        _masks((N, 5, 6)),
        references={"keras": _keras("tversky", axis=None), "optax": _optax_binary(axis="all")},
    ),
    Case(
        "tversky-alpha-beta",
        "tversky",
        _masks((N, 5, 6)),
        {"alpha": 0.3, "beta": 0.7, "per_sample": True},
        references={"keras": _keras("tversky", alpha=0.3, beta=0.7), "optax": _optax_binary(0.3, 0.7)},
    ),
    Case(
        "tversky-soft-axis-int",
        "tversky",
        _soft_masks,
        {"alpha": 0.8, "beta": 2.0, "axis": -1},
        references={"keras": _keras("tversky", alpha=0.8, beta=2.0, axis=-1)},
    ),
    Case(
        "tversky-channels-axis-tuple-negative",
        "tversky",
        _masks((N, 5, 6, 3)),
        {"alpha": 0.3, "beta": 0.7, "axis": (-2, 1)},
        references={"keras": _keras("tversky", alpha=0.3, beta=0.7, axis=(-2, 1))},
    ),
    Case(
        "tversky-multiclass-softmax-class-weight",
        "tversky",
        _onehot_logits((N, 5, 4), weights=True),
        {"alpha": 0.7, "beta": 0.3, "per_sample": True, "class_axis": -1, "from_logits": True, "smooth": 1.0},
        references={"optax": _optax_multiclass(alpha=0.7, beta=0.3, smooth=1.0)},
        array_options={"class_weight": 2},
    ),
    # ------------------------------------------------ generalized dice (optax)
    Case(
        "multiclass-generalized-dice",
        "multiclass_generalized_dice",
        _onehot_logits((N, 5, 4)),
        {"from_logits": True},
        references={"optax": _optax_generalized()},
    ),
    Case(
        "multiclass-generalized-dice-ignore-background",
        "multiclass_generalized_dice",
        _onehot_logits((N, 5, 4)),
        {"from_logits": True, "smooth": 0.5, "ignore_background": True},
        references={"optax": _optax_generalized(smooth=0.5, ignore_background=True)},
    ),
    # ------------------------------------------------------- MONAI's options
    Case(
        "dice-monai-softmax",
        "dice",
        _onehot_first((N, 4, 5)),
        {**_MONAI, "activation": "softmax"},
        references={"monai": _monai("DiceLoss", softmax=True)},
    ),
    Case(
        "dice-monai-labels-no-background-weight-per-class",
        "dice",
        lambda rng: (*_labels_logits((N, 4, 5))(rng), rng.uniform(0.2, 2.0, K).astype(np.float32)),
        {**_MONAI, "activation": "softmax", "sparse": True, "ignore_background": True, "per_class": True},
        references={
            "monai": _monai(
                "DiceLoss", per_class=True, extra="weights", softmax=True, to_onehot_y=True,
                include_background=False,
            )
        },
        array_options={"class_weight": 2},
    ),
    Case(
        "dice-monai-sigmoid-squared-jaccard-batch",
        "dice",
        _onehot_first((N, 4, 5)),
        {"class_axis": 1, **_MONAI_SMOOTH, "activation": "sigmoid", "squared_pred": True, "jaccard": True},
        references={"monai": _monai("DiceLoss", sigmoid=True, squared_pred=True, jaccard=True, batch=True)},
    ),
    Case(
        "dice-monai-soft-label",
        "dice",
        _soft_first,
        {**_MONAI, "soft_label": True},
        references={"monai": _monai("DiceLoss", soft_label=True)},
    ),
    Case(
        "dice-monai-labels-ignore-index",
        "dice",
        _labels_logits((N, 4, 5), ignore=7),
        {**_MONAI, "activation": "softmax", "sparse": True, "ignore_index": 7},
        references={"monai": _monai("DiceLoss", softmax=True, to_onehot_y=True, ignore_index=7)},
    ),
    Case(
        "dice-monai-mask",
        "dice",
        _onehot_first((N, 4, 5), extra="mask"),
        {**_MONAI, "activation": "sigmoid"},
        references={"monai": _monai("MaskedDiceLoss", extra="mask", sigmoid=True)},
        array_options={"mask": 2},
    ),
    Case(
        "tversky-monai-labels-softmax",
        "tversky",
        _labels_logits((N, 4, 5)),
        {**_MONAI, "alpha": 0.7, "beta": 0.3, "activation": "softmax", "sparse": True},
        references={"monai": _monai("TverskyLoss", alpha=0.3, beta=0.7, softmax=True, to_onehot_y=True)},
    ),
    Case(
        "tversky-monai-soft-label-batch",
        "tversky",
        _soft_first,
        {"class_axis": 1, **_MONAI_SMOOTH, "alpha": 0.7, "beta": 0.3, "soft_label": True},
        references={"monai": _monai("TverskyLoss", alpha=0.3, beta=0.7, soft_label=True, batch=True)},
    ),
    # ----------------------------------------- generalized Dice (Sudre, MONAI)
    Case(
        "generalized-dice-labels-softmax",
        "generalized_dice",
        _labels_logits((N, 4, 5)),
        {"class_axis": 1, "activation": "softmax", "sparse": True, "ignore_background": True},
        references={
            "monai": _monai(
                "GeneralizedDiceLoss", softmax=True, to_onehot_y=True,
                include_background=False,
            )
        },
    ),
    Case(
        "generalized-dice-simple-batch",
        "generalized_dice",
        _onehot_first((N, 4, 5)),
        {"class_axis": 1, "from_logits": True, "w_type": "simple", "per_sample": False},
        references={"monai": _monai("GeneralizedDiceLoss", softmax=True, w_type="simple", batch=True)},
    ),
    Case(
        "generalized-dice-uniform-soft-label",
        "generalized_dice",
        _soft_first,
        {"class_axis": 1, "w_type": "uniform", "soft_label": True},
        references={"monai": _monai("GeneralizedDiceLoss", w_type="uniform", soft_label=True)},
    ),
    # ------------------------------------------------- Dice + cross-entropy (MONAI)
    Case(
        "dice-ce-labels-softmax-lambdas",
        "dice_ce",
        _labels_logits((N, 4, 5)),
        {"class_axis": 1, "activation": "softmax", "sparse": True, "ignore_background": True, "lambda_dice": 0.3,
         "lambda_ce": 2.0, "label_smoothing": 0.1},
        references={
            "monai": _monai(
                "DiceCELoss", reduced=True, softmax=True, to_onehot_y=True, include_background=False, lambda_dice=0.3,
                lambda_ce=2.0, label_smoothing=0.1,
            )
        },
        reduction="sum_over_batch_size",
    ),
    Case(
        "dice-ce-sigmoid-squared-jaccard-batch",
        "dice_ce",
        _onehot_first((N, 4, 5)),
        {"class_axis": 1, "activation": "sigmoid", "squared_pred": True, "jaccard": True, "per_sample": False},
        references={"monai": _monai("DiceCELoss", reduced=True, sigmoid=True, squared_pred=True, jaccard=True, batch=True)},
    ),
    # --------------------------------------------------- Dice + focal (MONAI)
    Case(
        "dice-focal-labels-softmax-alpha-weight",
        "dice_focal",
        lambda rng: (*_labels_logits((N, 4, 5))(rng), rng.uniform(0.2, 2.0, K).astype(np.float32)),
        {"class_axis": 1, "activation": "softmax", "sparse": True, "ignore_background": True, "lambda_dice": 0.3,
         "lambda_focal": 2.0, "gamma": 1.5, "focal_alpha": 0.25},
        references={
            "monai": _monai(
                "DiceFocalLoss", reduced=True, extra="weights", softmax=True, to_onehot_y=True,
                include_background=False, lambda_dice=0.3, lambda_focal=2.0, gamma=1.5, alpha=0.25,
            )
        },
        array_options={"class_weight": 2},
        reduction="sum_over_batch_size",
        values_only=("monai",),  # MONAI computes its focal term in float32
    ),
    Case(
        "generalized-dice-focal-sigmoid-batch",
        "generalized_dice_focal",
        _onehot_first((N, 4, 5)),
        {"class_axis": 1, "activation": "sigmoid", "per_sample": False, "w_type": "simple", "lambda_gdl": 0.5},
        references={
            "monai": _monai("GeneralizedDiceFocalLoss", reduced=True, sigmoid=True, batch=True, w_type="simple", lambda_gdl=0.5)
        },
        values_only=("monai",),  # MONAI computes its focal term in float32
    ),
    # ------------------------------------ generalized Wasserstein Dice (MONAI)
    Case(
        "generalized-wasserstein-dice",
        "generalized_wasserstein_dice",
        _labels_logits_distances,
        {"class_axis": 1, "from_logits": True, "sparse": True},
        references={"monai": _monai_wasserstein()},
        array_options={"dist_matrix": 2},
    ),
    Case(
        "generalized-wasserstein-dice-gdl-weights",
        "generalized_wasserstein_dice",
        _labels_logits_distances,
        {"class_axis": 1, "from_logits": True, "sparse": True, "weighting_mode": "GDL"},
        references={"monai": _monai_wasserstein(weighting_mode="GDL")},
        array_options={"dist_matrix": 2},
    ),
    # ------------------------------------- asymmetric unified focal (MONAI)
    Case(
        "asymmetric-unified-focal-labels",
        "asymmetric_unified_focal",
        _binary_first(2, labels=True),
        {"class_axis": 1, "sparse": True, "weight": 0.3, "delta": 0.6, "gamma": 0.4},
        references={
            "monai": _monai("AsymmetricUnifiedFocalLoss", reduced=True, to_onehot_y=True, weight=0.3, delta=0.6, gamma=0.4)
        },
        reduction="sum_over_batch_size",
    ),
    Case(
        "asymmetric-unified-focal-one-hot",
        "asymmetric_unified_focal",
        _binary_first(2),
        {"class_axis": 1},
        references={"monai": _monai("AsymmetricUnifiedFocalLoss", reduced=True)},
        reduction="sum_over_batch_size",
    ),
    Case(
        "asymmetric-unified-focal-foreground-channel",
        "asymmetric_unified_focal",
        _binary_first(1),
        {"class_axis": 1, "delta": 0.8, "gamma": 0.9},
        references={"monai": _monai("AsymmetricUnifiedFocalLoss", reduced=True, delta=0.8, gamma=0.9)},
        reduction="sum_over_batch_size",
    ),
]
