"""The language-model head: cross-entropy of ``hidden @ weight.T + bias`` without the logits.

``linear_log_probs(y, h, W, b)`` is :func:`unilosses.token_log_probs` of the same logits, by
the same sweep (the log-probability of a token is minus its cross-entropy), with each token's
entropy beside it when asked.

``linear_cross_entropy(y, h, W, b)`` equals ``sparse_categorical_crossentropy(y, h @ W.T + b,
from_logits=True)`` with the same options, in values and in gradients with respect to
``h``, ``W`` and ``b``, but takes the tokens a chunk at a time, so that no (tokens x vocab)
array ever exists, in the forward pass or in the backward pass. Each backend supplies the
loop and the gradient (``unilosses/backends/linear_<backend>.py``); the math of a chunk is
one function shared by all of them (``unilosses/backends/linear_generic.py``).
"""

from __future__ import annotations

import math
from typing import Any

from unilosses.backends import convert, resolve
from unilosses.backends.linear_generic import LinearOptions
from unilosses.base import FunctionLoss
from unilosses.decorator import loss
from unilosses.dims import shape_of
from unilosses.reduction import align_weight
from unilosses.rules import in_range, one_of
from unilosses.shapes import SparseTargets, check_class_weight, check_labels, nan_out_of_range

#: the losses of this family (the registry's); :func:`linear_log_probs`, a post-training primitive
#: beside :func:`unilosses.token_log_probs`, is exported by ``unilosses`` on its own
__all__ = ["LinearCrossEntropy", "linear_cross_entropy"]


def _chunk_size(name: str, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise (TypeError if not isinstance(value, int) or isinstance(value, bool) else ValueError)(
            f"{name}: expected a positive number of tokens or None, got {value!r}"
        )
    return int(value)


def _static(shape: tuple[Any, ...]) -> tuple[Any, ...]:
    """A shape for ``reshape``: an unknown size (TensorFlow's None) as -1."""
    return tuple(-1 if a is None else a for a in shape)


def _check_shapes(be: Any, y_true: Any, hidden: Any, weight: Any, bias: Any) -> tuple[Any, Any]:
    """(labels of hidden's leading shape in the index dtype, number of classes V)."""
    xp = be.xp
    hs, ws = shape_of(hidden), shape_of(weight)
    if len(hs) < 1:
        raise ValueError("hidden: expected shape (..., D), got a 0-d array")
    if len(ws) != 2 or (ws[1] is not None and hs[-1] is not None and ws[1] != hs[-1]):
        raise ValueError(f"weight: expected shape (V, D) with D = hidden's last axis {hs[-1]}, got {ws}")
    if ws[0] == 0:
        raise ValueError(f"weight: expected at least one class (row), got shape {ws}")
    if weight.dtype != hidden.dtype:
        raise TypeError(f"weight: expected hidden's dtype {hidden.dtype}, got {weight.dtype}")
    if bias is not None:
        if len(shape_of(bias)) != 1 or (bias.shape[0] is not None and ws[0] is not None and bias.shape[0] != ws[0]):
            raise ValueError(f"bias: expected shape ({ws[0]},), one value per class, got {shape_of(bias)}")
        be.compute_dtype(bias.dtype, "bias")  # a TypeError unless floating
    ts, expected = shape_of(y_true), hs[:-1]
    if len(ts) == len(expected) + 1 and ts[-1] == 1:
        y_true = xp.reshape(y_true, _static(expected))
        ts = shape_of(y_true)
    if len(ts) != len(expected) or any(a is not None and b is not None and a != b for a, b in zip(ts, expected)):
        raise ValueError(
            f"y_true: expected integer labels of hidden's shape {hs} without its last axis "
            f"{expected}, got {ts}"
        )
    if y_true.dtype != be.index_dtype:
        if xp.isdtype(y_true.dtype, "bool"):
            raise TypeError("y_true: expected integer class labels, got booleans")
        y_true = xp.astype(y_true, be.index_dtype)
    return y_true, ws[0]


def _flat(be: Any, x: Any, shape: tuple[Any, ...]) -> Any:
    """``reshape(x, shape)``; an empty ``x`` (which Dask cannot reshape) as a zero of ``shape``
    plus its (empty) sum, so that gradients stay connected."""
    xp = be.xp
    if math.prod(shape) != 0:
        return xp.reshape(x, shape)
    return xp.zeros(shape, dtype=x.dtype, device=be.device(x)) + xp.sum(x, dtype=x.dtype)


def _token_weight(be: Any, sample_weight: Any, valid: Any, in_range: Any, labels: Any, dtype: Any) -> Any:
    """What a reduced loss's gradient reaches each token with, up to one scalar: the
    sample weight where the label counts, 0 elsewhere (as :func:`unilosses.reduction.reduce`
    applies them), flattened."""
    xp = be.xp
    tw = xp.ones_like(labels, dtype=dtype)
    if sample_weight is not None:
        tw = tw * align_weight(be, sample_weight, shape_of(labels))
    for mask in (valid, in_range):
        if mask is not None:
            tw = xp.where(mask, tw, xp.zeros_like(tw))
    shape = shape_of(labels)
    return _flat(be, tw, (math.prod(shape) if None not in shape else -1,))


def _sweep_tokens(
    be: Any, hidden: Any, weight: Any, bias: Any, labels: Any, class_weight: Any, hint: Any, options: LinearOptions
) -> tuple[Any, tuple[Any, ...]]:
    """(the backend's per-token values of the flattened tokens, the labels' shape)."""
    shape = shape_of(labels)
    n_tokens = math.prod(shape) if None not in shape else -1
    flat_h, flat_y = _flat(be, hidden, (n_tokens, hidden.shape[-1])), _flat(be, labels, (n_tokens,))
    return be.linear_cross_entropy(flat_h, weight, bias, flat_y, class_weight, hint, options), shape


#: Python numbers only here (the chunk loops branch on them): no 0-d arrays
_SMOOTHING = in_range(0.0, 1.0, arrays=False)
_Z_LOSS = in_range(0.0, math.inf, hi_open=True, arrays=False)


@loss(
    inputs=("y_true", "hidden", "weight", "bias"),
    decides="hidden",
    arrays=("class_weight",),
    rules={"chunk_size": _chunk_size, "label_smoothing": _SMOOTHING, "z_loss": _Z_LOSS,
           "accum_dtype": one_of("float32", "weight")},
    cast=False,
)
def linear_cross_entropy(
    be: Any,
    y_true: Any,
    hidden: Any,
    weight: Any,
    bias: Any = None,
    *,
    class_weight: Any = None,
    ignore_index: Any = None,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    softcap: Any = None,
    chunk_size: Any = None,
    accum_dtype: str = "float32",
    reduction: str = "none",
    sample_weight: Any = None,
    element_weight: Any = None,
) -> Any:
    """Sparse cross-entropy of the logits ``hidden @ weight.T + bias``, never building them.

    With ``z = hidden @ weight.T + bias`` (V classes), capped to ``softcap * tanh(z /
    softcap)`` when ``softcap`` is given, ``lse = logsumexp(z)``, label ``y``, class
    weights ``w`` (1 by default) and ``e = label_smoothing``::

        loss = (1 - e) w_y (lse - z_y) + (e / V) sum_c w_c (lse - z_c) + z_loss * lse^2

    exactly :func:`sparse_categorical_crossentropy` of ``z`` with ``from_logits=True``
    and the same options. The tokens are taken ``chunk_size`` at a time: the logits of
    one chunk exist at once, never those of the batch. A reduced loss computes its
    gradients in the same pass (three matrix products per chunk, as the unfused
    computation); ``reduction="none"`` keeps the logsumexp per token and recomputes
    the chunk's logits in the backward pass.

    Parameters
    ----------
    y_true : integer array, shape (...)
        Labels in [0, V), or ``ignore_index``.
    hidden : array, shape (..., D)
        The last hidden states. Decides the backend; float16 / bfloat16 multiply in
        their own precision and accumulate in float32.
    weight : array, shape (V, D)
        The head's weight (torch's ``nn.Linear(D, V).weight``; Keras' ``Dense`` kernel
        transposed). Same dtype as ``hidden``.
    bias : array, shape (V,), optional
    class_weight : array, shape (V,), optional
        torch's ``weight``: ``w_y`` is also the token's weight in
        ``"mean_with_sample_weight"``. A constant: not differentiated.
    ignore_index : int, optional
        Tokens with this label give 0 and leave every denominator (torch's -100).
    label_smoothing : float in [0, 1]
        A Python number here (as are ``z_loss`` and ``softcap``): no 0-d arrays.
    z_loss : float >= 0
        PaLM's auxiliary loss on ``lse^2`` per token (Liger's ``lse_square_scale``), not
        class-weighted.
    softcap : float > 0, optional
        Gemma's logit soft cap.
    chunk_size : int, optional
        Tokens per chunk; by default as many as keep 2^23 logits (32 MiB in float32) per
        chunk, so memory does not grow with V beyond the gradient of ``weight``.
    accum_dtype : {"float32", "weight"}
        The dtype ``weight``'s (and ``bias``') gradient accumulates in over the chunks:
        float32 (the default), or the weight's own dtype (Liger-Kernel's ``accum_dtype=None``):
        with 16-bit weights, half the memory of a float32 accumulator and 16-bit products, at a
        16-bit rounding per chunk. The same for float32 weights.

    Returns
    -------
    array, shape (...) (``reduction="none"``), else a scalar, or
    :class:`unilosses.LossStats`. Float32 for 16-bit inputs.

    Notes
    -----
    Matches ``torch.nn.functional.cross_entropy(hidden @ weight.T + bias, y_true,
    weight=class_weight, ignore_index=..., label_smoothing=...)`` (its ``"mean"`` is
    ``"mean_with_sample_weight"``; the softcap and z-loss applied as Liger-Kernel's
    ``LigerFusedLinearCrossEntropyLoss(softcap=..., lse_square_scale=...)`` does, which
    with class weights divides its z-loss by the token count instead),
    ``optax.softmax_cross_entropy_with_integer_labels`` and
    ``tf.nn.sparse_softmax_cross_entropy_with_logits`` on the same logits.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> h = np.array([[1.0, 0.0], [0.0, 2.0]]); W = np.array([[1.0, 1.0], [0.0, -1.0], [2.0, 0.0]])
    >>> ul.linear_cross_entropy(np.array([2, 0]), h, W).round(6)
    array([0.407606, 0.142932])
    >>> float(ul.sparse_categorical_crossentropy(np.array([2, 0]), h @ W.T, from_logits=True)[1].round(6))
    0.142932
    """
    labels, n_classes = _check_shapes(be, y_true, hidden, weight, bias)
    dtype = be.compute_dtype(hidden.dtype, "hidden")
    safe, in_range, valid = check_labels(be, labels, n_classes, ignore_index, hidden)
    w_y = None
    if class_weight is not None:
        check_class_weight(class_weight, n_classes)
        w_y = be.lookup(class_weight, safe)
    hint = None if reduction == "none" or element_weight is not None else _token_weight(be, sample_weight, valid, in_range, safe, dtype)
    options = LinearOptions(label_smoothing, z_loss, softcap, chunk_size, accum_dtype=accum_dtype)
    values, shape = _sweep_tokens(be, hidden, weight, bias, safe, class_weight, hint, options)
    if len(shape) != 1:
        values = _flat(be, values, _static(shape))
    return SparseTargets(-1, n_classes, safe, in_range, valid, w_y).per_sample(be, values)


class LinearCrossEntropy(FunctionLoss):
    """Class form of :func:`linear_cross_entropy` (Liger-Kernel's ``LigerFusedLinearCrossEntropyLoss``):
    ``LinearCrossEntropy(ignore_index=-100)(y_true, hidden, weight)``."""

    function = linear_cross_entropy


def _positive(name: str, value: Any, none: bool = False) -> Any:
    """A finite Python number > 0 (or None where ``none``), else a TypeError / ValueError naming ``name``."""
    if value is None and none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        what = "a positive number or None" if none else "a positive number"
        raise TypeError(f"{name}: expected {what} (a Python number), got {type(value).__name__} {value!r}")
    if not 0.0 < value < math.inf:
        raise ValueError(f"{name}: expected a finite number > 0, got {value!r}")
    return float(value)


def linear_log_probs(
    y_true: Any,
    hidden: Any,
    weight: Any,
    bias: Any = None,
    *,
    temperature: float = 1.0,
    softcap: Any = None,
    return_entropy: bool = False,
    chunk_size: Any = None,
    ignore_index: Any = None,
) -> Any:
    """Log-probability of each selected token under the logits ``hidden @ weight.T + bias``, never building them.

    With ``u = hidden @ weight.T + bias`` (V classes), ``z = softcap * tanh(u / softcap)``
    when ``softcap`` is given (the model's own cap, Gemma's ``final_logit_softcapping``),
    then divided by ``temperature`` (as TRL and verl divide the model's logits), returns
    ``log_softmax(z)[y]`` per token: :func:`unilosses.token_log_probs` of ``z``, and with
    ``return_entropy`` each token's entropy ``H = logsumexp(z) - sum_c softmax(z)_c z_c``.
    The tokens are taken ``chunk_size`` at a time, forward and backward: no (tokens x V)
    array exists, only one chunk's. Gradients with respect to ``hidden``, ``weight`` and
    ``bias`` (the entropy's included) are custom on torch, JAX and TensorFlow (the forward
    keeps one logsumexp and one entropy per token; the backward recomputes each chunk's
    logits); NumPy, array_api_strict and Dask give the values.

    Parameters
    ----------
    y_true : integer array, shape (...)
        The selected (sampled) token ids in [0, V), or ``ignore_index``.
    hidden : array, shape (..., D)
        The last hidden states. Decides the backend; float16 / bfloat16 multiply in their
        own precision and accumulate in float32.
    weight : array, shape (V, D)
        The head's weight (torch's ``nn.Linear(D, V).weight``). Same dtype as ``hidden``.
    bias : array, shape (V,), optional
    temperature : float > 0
        Divides the (soft-capped) logits.
    softcap : float > 0, optional
        The logit soft cap, applied before the temperature.
    return_entropy : bool
        Also return the per-token entropy.
    chunk_size : int, optional
        Tokens per chunk; by default as many as keep 2^23 logits per chunk.
    ignore_index : int, optional
        Tokens with this label give 0 (log-probability and entropy), with zero gradients.

    Returns
    -------
    log_probs : array of ``hidden``'s shape without its last axis (float32 for 16-bit
    inputs); ``(log_probs, entropy)`` with ``return_entropy``. A label outside ``[0, V)``
    that is not ignored is a ValueError where the labels can be read without a device
    synchronisation, and NaN elsewhere.

    Notes
    -----
    Matches ``torch.log_softmax(softcap(h @ W.T + b) / T, -1).gather(-1, y[..., None])`` (TRL's
    ``selective_log_softmax``, verl's ``logprobs_from_logits``) and verl's ``entropy_from_logits``.

    Examples
    --------
    >>> import numpy as np, unilosses as ul
    >>> h = np.array([[1.0, 0.0], [0.0, 2.0]]); W = np.array([[1.0, 1.0], [0.0, -1.0], [2.0, 0.0]])
    >>> ul.linear_log_probs(np.array([2, 0]), h, W).round(6)
    array([-0.407606, -0.142932])
    >>> float(ul.token_log_probs(np.array([2, 0]), h @ W.T)[1].round(6))
    -0.142932
    """
    temperature = _positive("temperature", temperature)
    softcap = _positive("softcap", softcap, none=True)
    if not isinstance(return_entropy, bool):
        raise TypeError(f"return_entropy: expected a bool, got {return_entropy!r}")
    chunk_size = _chunk_size("chunk_size", chunk_size)
    if ignore_index is not None and (isinstance(ignore_index, bool) or not isinstance(ignore_index, int)):
        raise TypeError(f"ignore_index: expected an integer or None, got {ignore_index!r}")
    hidden, be = resolve(hidden, "hidden")
    weight, bias, y_true = (convert(be, x, hidden, name, lead_name="hidden")
                            for x, name in ((weight, "weight"), (bias, "bias"), (y_true, "y_true")))
    if not be.is_integer(y_true.dtype):
        raise TypeError(f"y_true: expected integer token ids, got dtype {y_true.dtype}")
    be.compute_dtype(hidden.dtype, "hidden")  # a TypeError unless floating
    labels, n_classes = _check_shapes(be, y_true, hidden, weight, bias)
    safe, in_range, valid = check_labels(be, labels, n_classes, ignore_index, hidden)
    options = LinearOptions(0.0, 0.0, softcap, chunk_size, temperature, return_entropy)
    out, shape = _sweep_tokens(be, hidden, weight, bias, safe, None, None, options)
    # log p_y = -(lse - z_y): minus the cross-entropy of the same logits
    results = [-out[:, 0], out[:, 1]] if return_entropy else [-out]
    xp = be.xp
    for i, r in enumerate(results):
        if len(shape) != 1:
            r = _flat(be, r, _static(shape))
        r = nan_out_of_range(be, r, in_range, valid)
        results[i] = r if valid is None else xp.where(valid, r, xp.zeros_like(r))
    return tuple(results) if return_entropy else results[0]
