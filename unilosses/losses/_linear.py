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
import sys
from typing import Any

from unilosses.backends import convert, resolve
from unilosses.backends.linear_generic import LinearOptions, counted_rows
from unilosses.base import FunctionLoss
from unilosses.decorator import loss
from unilosses.dims import flat, shape_of, unflatten
from unilosses.reduction import Outputs, PerSample, align_weight, reduce
from unilosses.rules import flag, in_range, one_of
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
        y_true = xp.squeeze(y_true, axis=-1)
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
    return flat(be, tw, (math.prod(shape) if None not in shape else -1,))


def _sweep_tokens(
    be: Any, hidden: Any, weight: Any, bias: Any, labels: Any, class_weight: Any, hint: Any, options: LinearOptions,
    shard: Any = None,
) -> tuple[Any, Any]:
    """(the backend's per-token values of the flattened tokens, the labels: :func:`~unilosses.dims.unflatten` gives the
    values their shape); with ``shard`` (:func:`_shard`), the vocabulary-parallel sweep of this rank's block."""
    shape = shape_of(labels)
    n_tokens = math.prod(shape) if None not in shape else -1
    flat_h, flat_y = flat(be, hidden, (n_tokens, hidden.shape[-1])), flat(be, labels, (n_tokens,))
    sweep = be.linear_cross_entropy if shard is None else shard.linear_cross_entropy
    return sweep(flat_h, weight, bias, flat_y, class_weight, hint, options), labels


#: Python numbers only here (the chunk loops branch on them): no 0-d arrays
_SMOOTHING = in_range(0.0, 1.0, arrays=False)
_Z_LOSS = in_range(0.0, math.inf, hi_open=True, arrays=False)


def _process_group(name: str, value: Any) -> Any:
    """None, True (the default group) or a torch.distributed ProcessGroup (torch is not imported
    here: a group exists only once torch.distributed has been)."""
    dist = sys.modules.get("torch.distributed")
    if value is None or value is True or (dist is not None and isinstance(value, dist.ProcessGroup)):
        return value
    raise TypeError(
        f"{name}: expected a torch.distributed ProcessGroup, True (the default group) or None, got {value!r}"
    )


def _vocab_start(name: str, value: Any) -> Any:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise (ValueError if isinstance(value, int) and not isinstance(value, bool) else TypeError)(
            f"{name}: expected this rank's first row in the vocabulary (an integer >= 0) or None, got {value!r}"
        )
    return value


def _shard(be: Any, process_group: Any, vocab_start: Any, weight: Any) -> Any:
    """This rank's block of the vocabulary with ``process_group``
    (:class:`unilosses.backends.linear_torch_vocab.VocabShard`), else None."""
    if process_group is None:
        if vocab_start is not None:
            raise ValueError("vocab_start: only used with process_group (a vocabulary-parallel weight)")
        return None
    if be.name != "torch":
        raise ValueError(
            f"process_group: the vocabulary-parallel LM head runs on torch (torch.distributed), got {be.name} arrays"
        )
    from unilosses.backends.linear_torch_vocab import vocab_shard

    return vocab_shard(process_group, vocab_start, weight)


@loss(
    inputs=("y_true", "hidden", "weight", "bias"),
    decides="hidden",
    arrays=("class_weight",),
    rules={"chunk_size": _chunk_size, "label_smoothing": _SMOOTHING, "z_loss": _Z_LOSS,
           "accum_dtype": one_of("float32", "weight"), "z_loss_normalizer": one_of("weights", "tokens"),
           "return_z_loss": flag, "return_token_accuracy": flag, "process_group": _process_group,
           "vocab_start": _vocab_start},
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
    process_group: Any = None,
    vocab_start: Any = None,
    z_loss_normalizer: str = "weights",
    return_z_loss: bool = False,
    return_token_accuracy: bool = False,
    reduction: str = "none",
    sample_weight: Any = None,
    element_weight: Any = None,
    normalizer: Any = None,
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
    z_loss_normalizer : {"weights", "tokens"}
        What divides the z-loss in a weighted mean (``"mean_with_sample_weight"``,
        ``"sum_by_nonzero_weights"``) with class weights. ``"weights"`` (the default): the
        loss's own denominator, as if the z-loss were part of each token's loss (the sum of the
        counted tokens' class (and sample) weights). ``"tokens"``: the denominator without class
        weights (the number of counted tokens, sample-weighted), as Liger-Kernel divides its
        z-loss (``lse_square_scale``) when it has class weights; not with ``reduction="stats"``
        (a ValueError). Without class weights, or with other reductions, both are the same.
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
    process_group : torch.distributed ProcessGroup or True, optional
        Vocabulary parallelism (torch only): ``weight``, ``bias`` and ``class_weight`` are this
        rank's block of rows of the head (Megatron-LM's layout), ``True`` meaning the default
        group; ``hidden`` and ``y_true`` (labels in the whole vocabulary) are the same on every
        rank. The values are the whole head's, on every rank; ``weight``'s and ``bias``'
        gradients this rank's block of the whole head's, ``hidden``'s the whole. Only per-token
        statistics and ``hidden``'s gradient are all-reduced, never the weight or the logits
        (docs/distributed.md). Every other option applies, ``return_z_loss``,
        ``return_token_accuracy`` (the whole vocabulary's first largest logit) and
        ``z_loss_normalizer`` included.
    vocab_start : int, optional
        With ``process_group``: this rank's first row in the vocabulary, for blocks of any sizes
        (one all-gather of the blocks' bounds per call). By default every rank holds as many
        rows, rank ``r`` from row ``r * rows``.
    return_z_loss : bool
        Also return the z-loss term of the loss, ``z_loss * lse^2`` per token, reduced as the
        loss (Liger-Kernel's ``return_z_loss``; 0 without a ``z_loss``). Both outputs have
        gradients; the z-loss then comes from each token's logsumexp outside the chunk loop,
        whose backward pass recomputes the logits (four matrix products per chunk, not three).
    return_token_accuracy : bool
        Also return the token accuracy (Liger-Kernel's ``return_token_accuracy``): 1.0 where a
        token's largest logit is its label's (the first of equal ones, as ``argmax``; before
        the soft cap, which keeps the order), else 0.0, found in the same pass as the
        logsumexp. Per token with ``reduction="none"`` (0 where ignored, times the sample
        weight); for a reduced loss the fraction of the tokens that count, sample-weighted
        (:class:`unilosses.LossStats` with ``"stats"``). Not differentiated.

    Returns
    -------
    array, shape (...) (``reduction="none"``), else a scalar, or
    :class:`unilosses.LossStats`. Float32 for 16-bit inputs. With ``return_z_loss`` or
    ``return_token_accuracy``, a tuple in Liger-Kernel's order: ``(loss, z_loss,
    token_accuracy)``, with only the outputs asked for (``(loss, z_loss)``, ``(loss,
    token_accuracy)``).

    Notes
    -----
    Matches ``torch.nn.functional.cross_entropy(hidden @ weight.T + bias, y_true,
    weight=class_weight, ignore_index=..., label_smoothing=...)`` (its ``"mean"`` is
    ``"mean_with_sample_weight"``; the softcap and z-loss applied as Liger-Kernel's
    ``LigerFusedLinearCrossEntropyLoss(softcap=..., lse_square_scale=...)`` does, which
    with class weights divides its z-loss by the token count: ``z_loss_normalizer="tokens"``),
    ``optax.softmax_cross_entropy_with_integer_labels`` and
    ``tf.nn.sparse_softmax_cross_entropy_with_logits`` on the same logits.

    Ignored tokens (``ignore_index``) cost nothing where arrays may have shapes that depend
    on the labels' values (NumPy, eager torch and TensorFlow): the tokens that count are
    gathered and swept alone. Under ``torch.compile``, ``jax.jit``, ``tf.function`` and on
    JAX, Dask and array_api_strict every token is swept and the ignored ones masked.

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
    shard = _shard(be, process_group, vocab_start, weight)
    n_classes = n_classes if shard is None else shard.n_classes
    dtype = be.compute_dtype(hidden.dtype, "hidden")
    safe, in_range, valid = check_labels(be, labels, n_classes, ignore_index, hidden)
    w_y = None
    if class_weight is not None:
        check_class_weight(class_weight, shape_of(weight)[0])
        w_y = be.lookup(class_weight, safe) if shard is None else shard.lookup(class_weight, safe)
    tokens = _tokens_normalised(z_loss_normalizer, z_loss, class_weight, reduction)
    split = tokens or (return_z_loss and z_loss > 0)  # the z-loss from a logsumexp output, outside the sweep
    hint = None if reduction == "none" or element_weight is not None or split else _token_weight(be, sample_weight, valid, in_range, safe, dtype)
    options = LinearOptions(label_smoothing, 0.0 if split else z_loss, softcap, chunk_size, accum_dtype=accum_dtype,
                            lse=split, accuracy=return_token_accuracy)
    out, labels_like = _sweep_rows(be, hidden, weight, bias, safe, class_weight, hint, options, valid, shard)
    targets = SparseTargets(-1, n_classes, safe, in_range, valid, w_y)
    context = (reduction, sample_weight, element_weight, normalizer)
    return _outputs(be, out, labels_like, options, targets, z_loss, tokens, return_z_loss, context)


def _tokens_normalised(normalizer: str, z_loss: float, class_weight: Any, reduction: str) -> bool:
    """Whether ``z_loss_normalizer="tokens"`` changes anything: with class weights, in a mean
    whose denominator they weight."""
    if normalizer != "tokens" or z_loss == 0 or class_weight is None:
        return False
    if reduction == "stats":
        raise ValueError(
            "z_loss_normalizer: 'tokens' with class weights gives a loss that is no single weighted sum, so "
            "reduction='stats' cannot give it; use 'weights', or reduce per shard"
        )
    return reduction in ("mean_with_sample_weight", "sum_by_nonzero_weights")


def _sweep_rows(
    be: Any, hidden: Any, weight: Any, bias: Any, labels: Any, class_weight: Any, hint: Any, options: LinearOptions,
    valid: Any, shard: Any,
) -> tuple[Any, Any]:
    """:func:`_sweep_tokens` of the tokens that count only, where the backend can gather them
    (:func:`~unilosses.backends.linear_generic.counted_rows`: NumPy, eager torch and TensorFlow),
    so that ignored tokens cost nothing; their outputs are 0, as the unfused loss masks them."""
    shape = shape_of(labels)
    if valid is None or shard is not None or None in shape or math.prod(shape) == 0:  # nothing to gather
        return _sweep_tokens(be, hidden, weight, bias, labels, class_weight, hint, options, shard)
    xp, n = be.xp, math.prod(shape)
    keep = xp.reshape(valid, (n,))
    rows = counted_rows(be, keep)
    if rows is None:
        return _sweep_tokens(be, hidden, weight, bias, labels, class_weight, hint, options, shard)

    def take(x: Any) -> Any:
        return xp.take(x, rows, axis=0)

    flat_h, flat_y = xp.reshape(hidden, (n, hidden.shape[-1])), xp.reshape(labels, (n,))
    out = be.linear_cross_entropy(
        take(flat_h), weight, bias, take(flat_y), class_weight, None if hint is None else take(hint), options
    )
    # each token's row among the counted ones (an ignored token's: any, masked below)
    at = be.cumulative_sum(xp.astype(keep, rows.dtype), 0) - 1
    out = xp.take(out, xp.where(keep, at, xp.zeros_like(at)), axis=0)
    mask = keep if len(out.shape) == 1 else xp.expand_dims(keep, axis=1)
    return xp.where(mask, out, xp.zeros_like(out)), labels


def _outputs(
    be: Any, out: Any, labels: Any, o: LinearOptions, targets: SparseTargets, z_loss: float,
    tokens: bool, return_z_loss: bool, context: tuple[Any, ...],
) -> Any:
    """The loss (per token, for ``reduce``) from the sweep's columns
    (:func:`~unilosses.backends.linear_generic.sweep_outputs`), with the z-loss added from the
    logsumexp where the sweep left it out (``o.lse``); with ``return_z_loss`` /
    ``o.accuracy``, :class:`~unilosses.reduction.Outputs` with the z-loss and the token accuracy
    reduced here."""
    xp = be.xp
    cols = [out] if len(out.shape) == 1 else [out[:, i] for i in range(out.shape[1])]
    if len(shape_of(labels)) != 1:
        cols = [unflatten(be, c, labels) for c in cols]
    values = cols[0]
    reduction, sample_weight, element_weight, normalizer = context
    z = None
    if o.lse:
        z = z_loss * (cols[1] * cols[1])
        values = values + (_tokens_scale(be, values, targets, context) * z if tokens else z)
    main = targets.per_sample(be, values)
    if not (return_z_loss or o.accuracy):
        return main
    extras = []
    if return_z_loss:  # reduced as the loss: its class weights in the denominator, or ("tokens") not
        zt = targets._replace(weight=None) if tokens else targets
        z = zt.per_sample(be, xp.zeros_like(values) if z is None else z)
        z = z if isinstance(z, PerSample) else PerSample(z)
        extras.append(reduce(be, z.values, sample_weight, reduction, weight=z.weight, valid=z.valid,
                             normalizer=normalizer, element_weight=element_weight))
    if o.accuracy:  # 1 or 0 per token; reduced: the (sample-weighted) fraction of the tokens that count
        acc = nan_out_of_range(be, be.stop_gradient(cols[-1]), targets.in_range, targets.valid)
        mode = reduction if reduction in ("none", "stats") else "mean_with_sample_weight"
        extras.append(reduce(be, acc, sample_weight, mode, valid=targets.valid, element_weight=element_weight))
    return Outputs(main, tuple(extras))


def _tokens_scale(be: Any, values: Any, targets: SparseTargets, context: tuple[Any, ...]) -> Any:
    """By how much the weighted mean's denominator exceeds the one without class weights (the
    number of tokens, sample-weighted): the factor on each token's z-loss that makes its mean the
    z-loss's sum over that token count (Liger-Kernel's normalisation with class weights)."""
    xp = be.xp
    reduction, sample_weight, element_weight, _ = context
    ones = xp.ones_like(values)
    # the reduction of ones: (sample-weighted) token count / denominator
    with_w, without = (
        reduce(be, ones, sample_weight, reduction, weight=w, valid=targets.valid, element_weight=element_weight)
        for w in (targets.weight, None)
    )
    return without / xp.where(with_w == 0, xp.ones_like(with_w), with_w)


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
    process_group: Any = None,
    vocab_start: Any = None,
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
    process_group : torch.distributed ProcessGroup or True, optional
        Vocabulary parallelism (torch only), as in :func:`unilosses.linear_cross_entropy`:
        ``weight`` and ``bias`` are this rank's block of rows of the head.
    vocab_start : int, optional
        With ``process_group``: this rank's first row, for blocks of any sizes.

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
    process_group = _process_group("process_group", process_group)
    vocab_start = _vocab_start("vocab_start", vocab_start)
    if ignore_index is not None and (isinstance(ignore_index, bool) or not isinstance(ignore_index, int)):
        raise TypeError(f"ignore_index: expected an integer or None, got {ignore_index!r}")
    hidden, be = resolve(hidden, "hidden")
    weight, bias, y_true = (convert(be, x, hidden, name, lead_name="hidden")
                            for x, name in ((weight, "weight"), (bias, "bias"), (y_true, "y_true")))
    if not be.is_integer(y_true.dtype):
        raise TypeError(f"y_true: expected integer token ids, got dtype {y_true.dtype}")
    be.compute_dtype(hidden.dtype, "hidden")  # a TypeError unless floating
    labels, n_classes = _check_shapes(be, y_true, hidden, weight, bias)
    shard = _shard(be, process_group, vocab_start, weight)
    n_classes = n_classes if shard is None else shard.n_classes
    safe, in_range, valid = check_labels(be, labels, n_classes, ignore_index, hidden)
    options = LinearOptions(0.0, 0.0, softcap, chunk_size, temperature, return_entropy)
    out, labels_like = _sweep_tokens(be, hidden, weight, bias, safe, None, None, options, shard)
    # log p_y = -(lse - z_y): minus the cross-entropy of the same logits
    results = [-out[:, 0], out[:, 1]] if return_entropy else [-out]
    xp = be.xp
    for i, r in enumerate(results):
        if len(shape_of(labels_like)) != 1:
            r = unflatten(be, r, labels_like)
        r = nan_out_of_range(be, r, in_range, valid)
        results[i] = r if valid is None else xp.where(valid, r, xp.zeros_like(r))
    return tuple(results) if return_entropy else results[0]
