"""The LM-head cross-entropy chunk by chunk: the math every backend shares, and the value loop.

:func:`unilosses.linear_cross_entropy` computes, for ``u = h @ W.T + b`` (``N`` tokens,
``V`` classes), what :func:`unilosses.sparse_categorical_crossentropy` computes on ``u``,
without ever holding the ``(N, V)`` logits: the tokens are taken ``n`` at a time
(:func:`tokens_per_chunk`), and :func:`chunk_terms` turns one ``(n, V)`` block of logits
into the per-token values, their logsumexp and, when asked, the gradient of each
token's value with respect to its logits. JAX (inside its custom gradients) and the
generic path (:func:`linear_values`) call :func:`chunk_terms`; torch and TensorFlow run
the same math through their fused kernels (``linear_torch._terms``, ``linear_tf._terms``),
with the per-token terms below taken from here. The backends differ only in those kernel
calls, in how they loop and in where they keep the gradients.

With ``z = softcap(u)``, ``lse = logsumexp(z)``, ``p = softmax(z)``, class weights
``w`` (1 without), ``W = sum_c w_c``, smoothing ``e`` and z-loss ``k``, a token
with label ``y`` has::

    value = (1 - e) w_y (lse - z_y) + (e / V) sum_c w_c (lse - z_c) + k lse^2
    d value / d z_c = ((1 - e) w_y + e W / V + 2 k lse) p_c - (1 - e) w_y [c = y] - (e / V) w_c

and ``d z / d u = 1 - tanh(u / cap)^2`` with a soft cap (``z = softcap(u) / T`` with a
temperature ``T``: the slope divided by ``T``). :func:`unilosses.linear_log_probs` reads
``log p_y = -value`` (no smoothing, z-loss or class weights) and, with ``o.entropy``, each
token's entropy ``H = lse - sum_c p_c z_c``, whose gradient is ``d H / d z_c = -p_c (log p_c + H)``
(:func:`fold_cotangents`). These per-token terms are held
here once, as functions of plain operator arithmetic that every backend's chunk kernel
calls: :func:`token_values` (the value from ``lse - z_y``, ``lse`` and the uniform term),
:func:`label_coefficient` (``(1 - e) w_y``, the one-hot's), :func:`softmax_coefficient`
(``p``'s, built on the label's or alone as the shift ``e W / V + 2 k lse`` that a kernel
giving ``p - onehot`` adds back on the label), :func:`uniform_gradient` (``(e / V) w``),
:func:`soft_cap` and :func:`soft_cap_slope`, :func:`temper` (with the smoothing term and the
temperature in :func:`finish_gradient`), :func:`fold_cotangents` (the entropy's).

The sweep: the contract of every backend's ``_sweep``
------------------------------------------------------

``_sweep(h, w, b, labels, cw, o, a=None, lse=None, entropy=None, ae=None)`` in ``linear_torch``, ``linear_jax``
and ``linear_tf`` is one pass over the chunks of tokens (:func:`tokens_per_chunk`), each
chunk's terms from the shared functions above. Its inputs: ``h`` (N, D) and ``w`` (V, D)
of one dtype, ``b`` (V,) or None, ``labels`` (N,) valid class indices (ignored tokens
replaced by any class: the caller zeroes their weight), ``cw`` (V,) class weights or None (a
constant), ``o`` the :class:`LinearOptions`, and:

- ``a`` (N,) or None: the weight of each token's value in the gradient asked for. None:
  values and logsumexp only. In the forward pass of a reduced loss it is the token weights
  (the cotangent is ``c * a``, ``c`` known only in the backward pass); in the backward pass
  of per-token values it is the cotangent itself.
- ``lse`` (N,) or None: the logsumexp of an earlier pass over the same inputs (a backward
  pass that recomputes the logits). Given, the values are not computed.
- ``entropy`` (N,) or None: with ``o.entropy``, the entropies of that earlier pass (given with ``lse``).
- ``ae`` (N,) or None: with ``o.entropy`` in a backward pass, the cotangent of each token's
  entropy (``a`` is the values'). Given, each chunk's gradient is the sum of both,
  ``G_i = a_i d value_i / d u_i + ae_i d H_i / d u_i`` (:func:`fold_cotangents`), so ``dh_unit``
  is already scaled (``G_i W``) and ``dW``, ``db`` sum ``G_i`` without ``a`` again. With ``o.lse``
  it is the cotangent of each token's logsumexp instead (``d lse / d z = p``:
  :func:`fold_lse_cotangents`), the same way.

It returns a :class:`SweepResult` ``(values, lse, dh_unit, dW, db, entropy, correct)``, each in the
compute dtype (float32 for 16-bit inputs) or None; ``correct`` (:func:`hits`) with ``o.accuracy`` in a
pass without ``lse`` given. A backend's per-token outputs are :func:`sweep_outputs`' columns: the
values, then the entropy (``o.entropy``) or the logsumexp (``o.lse``), then ``correct``
(``o.accuracy``, whose cotangent is dropped).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

from unilosses.rules import is_zero

__all__ = [
    "CHUNK_ELEMENTS", "DW_BLOCK_ELEMENTS", "ChunkTerms", "LinearOptions", "SweepResult", "chunk_terms",
    "counted_rows", "dw_block_rows", "finish_gradient", "fold_cotangents", "fold_lse_cotangents", "hits", "label_coefficient",
    "linear_values", "second_output", "shared_parts", "soft_cap", "soft_cap_slope", "softmax_coefficient",
    "sweep_outputs", "temper", "token_values", "tokens_per_chunk", "uniform_gradient",
]

#: logits per chunk when ``chunk_size`` is not given: 2^23 float32 values (32 MiB) per
#: (n, V) block, so that peak memory does not grow with the vocabulary
CHUNK_ELEMENTS = 2**23


class LinearOptions(NamedTuple):
    """The static options of one call (Python numbers)."""

    label_smoothing: Any = 0.0
    z_loss: Any = 0.0
    softcap: Any = None
    chunk_size: Any = None  #: tokens per chunk; None: :data:`CHUNK_ELEMENTS` // V
    temperature: Any = 1.0  #: divides the (soft-capped) logits: ``z = softcap(u) / temperature``
    #: also each token's entropy ``H = lse - sum_c p_c z_c`` (:func:`linear_log_probs`' option; only
    #: without label smoothing, z-loss and class weights, which it never passes)
    entropy: bool = False
    #: the dtype ``dW`` (and ``db``) accumulate in: ``"float32"``, or ``"weight"`` (the weight's own
    #: dtype: 16-bit weights keep a 16-bit gradient, as Liger-Kernel's ``accum_dtype=None``)
    accum_dtype: str = "float32"
    #: also each token's logsumexp as an output with its gradient (``d lse / d z = p``), for a z-loss
    #: taken outside the sweep (:func:`unilosses.linear_cross_entropy`'s ``return_z_loss``); never
    #: with ``entropy``
    lse: bool = False
    #: also whether each token's largest logit is its label's (1.0 or 0.0, :func:`hits`): token
    #: accuracy, not differentiated
    accuracy: bool = False


class SweepResult(NamedTuple):
    """What a backend's ``_sweep`` returns (the contract: the module doc), for ``N`` tokens,
    ``V`` classes and hidden size ``D``; ``G_i = d value_i / d u_i`` is token ``i``'s gradient
    with respect to its logits (the chunk's ``G`` of :func:`chunk_terms`)."""

    values: Any  #: (N,) each token's value, unweighted; None when ``lse`` was given
    lse: Any  #: (N,) each token's logsumexp of its (soft-capped) logits: the one given, if given
    #: (N, D) ``G_i W``: token i's gradient w.r.t. its hidden state, not scaled by ``a_i``; None without ``a``
    dh_unit: Any
    dw: Any  #: (V, D) ``sum_i a_i G_i^T h_i``; None without ``a``
    db: Any  #: (V,) ``sum_i a_i G_i``; None without ``a`` or without a bias
    entropy: Any = None  #: (N,) each token's entropy with ``o.entropy``: the one given, if given
    #: (N,) with ``o.accuracy`` (and no ``lse`` given): 1.0 where the token's argmax is its label, else 0.0
    correct: Any = None


def second_output(o: LinearOptions) -> bool:
    """Whether the sweep's outputs have a differentiable second column: the entropy or the logsumexp."""
    return o.entropy or o.lse


def sweep_outputs(stack: Callable[..., Any], r: SweepResult, o: Any = None) -> Any:
    """What a backend returns for a sweep: the values (N,); with more outputs (N, k), columns
    in this order: the values, the entropy (``o.entropy``) or the logsumexp (``o.lse``),
    whether the argmax is the label (``o.accuracy``) (``stack(arrays, axis)`` the framework's).
    Without ``o``: the values, and the entropy where ``r`` has one."""
    if o is None:
        return r.values if r.entropy is None else stack([r.values, r.entropy], 1)
    cols = [r.values]
    if o.entropy:
        cols.append(r.entropy)
    elif o.lse:
        cols.append(r.lse)
    if o.accuracy:
        cols.append(r.correct)
    return cols[0] if len(cols) == 1 else stack(cols, 1)


def token_values(nll: Any, lse: Any, label_weight: Any, o: LinearOptions, uniform: Callable[[], Any]) -> Any:
    """Per-token values ``(1 - e) w_y nll + e uniform + k lse^2`` (the module doc) from
    ``nll = lse - z_y`` and ``lse`` (n,), ``label_weight`` ``w_y`` (n,) or None (1), and
    ``uniform()`` the smoothing term ``(1 / V) sum_c w_c (lse - z_c)``, called only with
    label smoothing."""
    e, k = o.label_smoothing, o.z_loss
    values = nll if label_weight is None else label_weight * nll
    if not is_zero(e):
        values = (1.0 - e) * values + e * uniform()
    if not is_zero(k):
        values = values + k * (lse * lse)
    return values


def label_coefficient(label_weight: Any, o: LinearOptions) -> Any:
    """``(1 - e) w_y``: the coefficient of the one-hot in ``d value / d z`` (subtracted),
    a Python float without class weights, else (n,)."""
    e = o.label_smoothing
    return 1.0 - e if label_weight is None else (1.0 - e) * label_weight


def softmax_coefficient(
    lse: Any, weight_sum: Any, n_classes: Any, o: LinearOptions, label: Any = None
) -> Any:
    """The coefficient of the softmax ``p`` in ``d value / d z``,
    ``(1 - e) w_y + e W / V + 2 k lse``, with ``label`` the first term
    (:func:`label_coefficient`), added in that order. Without ``label``: the shift
    ``e W / V + 2 k lse`` alone, by which ``p``'s coefficient exceeds the one-hot's
    (0.0 with neither smoothing nor z-loss)."""
    e, k = o.label_smoothing, o.z_loss
    coef = label
    if not is_zero(e):
        coef = _plus(coef, e * weight_sum / n_classes)
    if not is_zero(k):
        coef = _plus(coef, 2.0 * k * lse)
    return 0.0 if coef is None else coef


def _plus(x: Any, y: Any) -> Any:
    return y if x is None else x + y


def uniform_gradient(class_weight: Any, n_classes: Any, o: LinearOptions) -> Any:
    """``(e / V) w``: the smoothing's part of ``d value / d z`` (subtracted from every class),
    (V,) with class weights (as given: the caller shapes it), a Python float without; None
    without label smoothing."""
    e = o.label_smoothing
    if is_zero(e):
        return None
    return (e / n_classes) * (1.0 if class_weight is None else class_weight)


def finish_gradient(g: Any, t: Any, class_weight: Any, n_classes: Any, o: LinearOptions) -> Any:
    """``(g - (e / V) w) * (1 - t^2) / T``, out of place: a chunk's ``d value / d z`` (n, V)
    without its smoothing term made ``d value / d u``; each factor only where its option is
    on (:func:`uniform_gradient`; ``t`` from :func:`soft_cap`, None without a soft cap; ``T``
    the temperature)."""
    smooth = uniform_gradient(class_weight, n_classes, o)
    if smooth is not None:
        g = g - smooth
    if t is not None:
        g = g * soft_cap_slope(t)
    return temper(g, o)


def temper(z: Any, o: LinearOptions) -> Any:
    """``z / T``: the (soft-capped) logits at temperature ``T``, as TRL and verl divide a model's
    logits (after the model's own soft cap); also the chain rule's factor. ``z`` itself at ``T = 1``."""
    return z if o.temperature == 1.0 else z / o.temperature


def fold_cotangents(g: Any, p: Any, log_p: Any, entropy: Any, a: Any, ae: Any) -> Any:
    """``a g - ae p (log p + H)``, out of place: a chunk's gradient (n, V) with respect to
    its logits ``z`` of ``sum_i a_i value_i + ae_i H_i``, from ``g = d value / d z`` (unscaled),
    the softmax ``p`` and ``log p`` (n, V), the entropies ``H`` and the cotangents ``a``, ``ae`` (n,)."""
    return a[:, None] * g - ae[:, None] * p * (log_p + entropy[:, None])


def fold_lse_cotangents(g: Any, p: Any, a: Any, al: Any) -> Any:
    """``a g + al p``, out of place: a chunk's gradient (n, V) with respect to its logits ``z`` of
    ``sum_i a_i value_i + al_i lse_i`` (``d lse / d z = p``), from ``g = d value / d z`` (unscaled,
    its smoothing term included), the softmax ``p`` and the cotangents ``a``, ``al`` (n,)."""
    return a[:, None] * g + al[:, None] * p


def soft_cap(tanh: Any, u: Any, cap: Any) -> tuple[Any, Any]:
    """``(z, t)``: the soft-capped logits ``z = cap * t`` with ``t = tanh(u / cap)``, ``tanh``
    the framework's. ``t`` is kept for :func:`soft_cap_slope`."""
    t = tanh(u / cap)
    return cap * t, t


def soft_cap_slope(t: Any) -> Any:
    """``d z / d u = 1 - t^2`` from :func:`soft_cap`'s ``t``."""
    return 1.0 - t * t


#: values of ``dW`` updated by one matrix product where a backend updates it a block of rows at a
#: time (JAX on one device, TensorFlow eagerly): as many as a chunk's logits, so the product never
#: outgrows the chunk. Smaller blocks cost time at the issue's case (2^20 values: JAX 0.94 and
#: TensorFlow 0.98 of the unfused time, against 0.79 and 0.87 for these)
DW_BLOCK_ELEMENTS = CHUNK_ELEMENTS


def dw_block_rows(width: int) -> int:
    """Rows of ``dW`` (V, ``width``) per block: :data:`DW_BLOCK_ELEMENTS` values, at least 8 rows."""
    return max(8, DW_BLOCK_ELEMENTS // max(width, 1))


def tokens_per_chunk(n_tokens: int, vocab: int, chunk_size: Any = None) -> int:
    """Tokens per chunk: ``chunk_size``, else as many as keep a block under
    :data:`CHUNK_ELEMENTS` logits (a multiple of 8 from 8 tokens up), at most ``n_tokens``."""
    if chunk_size is None:
        n = max(1, CHUNK_ELEMENTS // max(vocab, 1))
        chunk_size = n - n % 8 if n >= 8 else n
    return max(1, min(chunk_size, n_tokens))


def hits(xp: Any, u: Any, labels: Any) -> Any:
    """1.0 where a token's largest logit (the first of equal ones, as ``argmax``) is its label's,
    else 0.0, in ``u``'s dtype, from the chunk's logits ``u`` (n, V) before any soft cap or
    temperature (which keep their order) and ``labels`` (n,): token accuracy, as Liger-Kernel's."""
    return xp.astype(xp.equal(xp.astype(xp.argmax(u, axis=1), labels.dtype), labels), u.dtype)


def counted_rows(be: Any, valid: Any) -> Any:
    """The indices (n,) of the tokens that count (``valid``: (N,) booleans), so that a caller can
    sweep those rows alone and ignored tokens cost nothing; None when every token counts, when none
    does, or where the backend cannot find them cheaply (:meth:`Backend.nonzero_indices
    <unilosses.backends.generic.Backend.nonzero_indices>`: tracers, Dask, other namespaces; JAX is
    always traced, the backend jits the sweep)."""
    idx = be.nonzero_indices(valid)
    return idx if idx is not None and 0 < int(idx.shape[0]) < int(valid.shape[0]) else None


class ChunkTerms(NamedTuple):
    """What :func:`chunk_terms` returns for one chunk of ``n`` tokens."""

    values: Any  #: (n,) or None (``lse`` given)
    lse: Any  #: (n,)
    grad: Any  #: (n, V) ``G = d values / d u`` (folded with the entropy's: :func:`fold_cotangents`), or None
    entropy: Any = None  #: (n,) with ``o.entropy``


def chunk_terms(
    xp: Any,
    u: Any,
    labels: Any,
    classes: Any,
    class_weight: Any,
    weight_sum: Any,
    o: LinearOptions,
    *,
    grad: bool = False,
    lse: Any = None,
    label_weight: Any = None,
    entropy: Any = None,
    cotangents: Any = None,
) -> ChunkTerms:
    """``(values, lse, G, entropy)`` of one ``(n, V)`` block of logits ``u`` (the compute dtype).

    ``labels`` (n,) are valid class indices (ignored tokens replaced by any class: the
    caller masks them), ``classes`` is ``arange(V)`` of the labels' dtype with shape
    (1, V), ``class_weight`` (V,) or None, ``weight_sum`` its sum (V without).
    ``G = d values / d u`` (n, V) when ``grad``; with ``lse`` given (the logsumexp of an
    earlier forward pass; with ``o.entropy`` also its ``entropy``) only ``G`` is computed
    and ``values`` is None. ``label_weight``: ``class_weight[labels]`` if the caller has it
    (else taken here). ``cotangents``: ``(a, ae)`` (n,) each, the values' and the entropies'
    (with ``o.entropy``; with ``o.lse`` the logsumexps'): ``G`` is then the sum of both
    (:func:`fold_cotangents`, :func:`fold_lse_cotangents`).
    """
    cap = o.softcap
    n_classes = u.shape[-1]
    t = None
    if cap is not None:
        z, t = soft_cap(xp.tanh, u, cap)
    else:
        z = u
    z = temper(z, o)
    onehot = xp.equal(classes, xp.expand_dims(labels, axis=1))
    w_y = label_weight
    if w_y is None and class_weight is not None:
        w_y = xp.take(class_weight, labels, axis=0)
    values = None
    if lse is None:
        m = xp.max(z, axis=1, keepdims=True)
        m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
        zm = z - m
        ez = xp.exp(zm)
        s = xp.sum(ez, axis=1, keepdims=True)
        log_s = xp.log(s)[:, 0]
        lse = m[:, 0] + log_s
        nll = log_s - xp.sum(xp.where(onehot, zm, xp.zeros_like(zm)), axis=1)  # lse - z_y

        def uniform() -> Any:
            if class_weight is None:
                return log_s - xp.mean(zm, axis=1)
            return (weight_sum * log_s - xp.sum(zm * class_weight, axis=1)) / n_classes

        values = token_values(nll, lse, w_y, o, uniform)
        if o.entropy:
            entropy = log_s - xp.sum(ez * zm, axis=1) / s[:, 0]  # lse - sum_c p_c z_c
        if not grad:
            return ChunkTerms(values, lse, None, entropy)
        p = ez / s
    else:
        p = xp.exp(z - xp.expand_dims(lse, axis=1))
    hit = label_coefficient(w_y, o)
    coef = softmax_coefficient(lse, weight_sum, n_classes, o, label=hit)
    g = (coef * p) if isinstance(coef, float) else xp.expand_dims(coef, axis=1) * p
    if not isinstance(hit, float):
        hit = xp.expand_dims(hit, axis=1)
    g = g - xp.where(onehot, hit, xp.zeros_like(g))
    if cotangents is not None and o.lse:  # the smoothing term scaled by a with the rest: finished here
        smooth = uniform_gradient(class_weight, n_classes, o)
        g = fold_lse_cotangents(g if smooth is None else g - smooth, p, *cotangents)
        return ChunkTerms(values, lse, temper(g if t is None else g * soft_cap_slope(t), o), entropy)
    if cotangents is not None:
        g = fold_cotangents(g, p, z - xp.expand_dims(lse, axis=1), entropy, *cotangents)
    return ChunkTerms(values, lse, finish_gradient(g, t, class_weight, n_classes, o), entropy)


def shared_parts(xp: Any, weight: Any, labels: Any, class_weight: Any, device: Any) -> tuple[Any, Any]:
    """``(classes, weight_sum)``: ``arange(V)`` as (1, V) in the labels' dtype, and the class weights' sum."""
    n_classes = weight.shape[0]
    classes = xp.reshape(xp.arange(n_classes, dtype=labels.dtype, device=device), (1, n_classes))
    weight_sum = n_classes if class_weight is None else xp.sum(class_weight)
    return classes, weight_sum


def _bounds(hidden: Any, n_tokens: int, n: int) -> list[tuple[int, int]]:
    """Row ranges of at most ``n`` tokens (in bounds: the Array API leaves out-of-bounds slice
    stops unspecified). A chunked array (Dask) keeps its blocks: no range spans two of them,
    so each block of values reads one block of tokens."""
    blocks = getattr(hidden, "chunks", None)
    edges = [0]
    for size in blocks[0] if isinstance(blocks, tuple) else (n_tokens,):
        edges.append(edges[-1] + size)
    return [(s, min(s + n, hi)) for lo, hi in zip(edges, edges[1:]) for s in range(lo, hi, n)]


def linear_values(
    be: Any, hidden: Any, weight: Any, bias: Any, labels: Any, class_weight: Any, o: LinearOptions
) -> Any:
    """Per-token values (N,) from ``hidden`` (N, D), ``weight`` (V, D), ``bias`` (V,) or None
    (with more outputs, (N, k): the columns of :func:`sweep_outputs`): a Python loop over chunks of
    tokens, in pure Array API (no gradient). 16-bit inputs are computed in float32."""
    xp = be.xp
    dtype = be.compute_dtype(hidden.dtype, "hidden")
    if hidden.dtype != dtype:
        hidden, weight = xp.astype(hidden, dtype), xp.astype(weight, dtype)
    if bias is not None and bias.dtype != dtype:
        bias = xp.astype(bias, dtype)
    n_tokens = hidden.shape[0]
    device = be.device(hidden)
    columns = 1 + (o.entropy or o.lse) + o.accuracy
    if n_tokens == 0:
        return xp.zeros((0, columns) if columns > 1 else (0,), dtype=dtype, device=device)
    classes, weight_sum = shared_parts(xp, weight, labels, class_weight, device)
    w_t = xp.permute_dims(weight, (1, 0))
    n = tokens_per_chunk(n_tokens, weight.shape[0], o.chunk_size)
    out = []
    for start, stop in _bounds(hidden, n_tokens, n):
        u = xp.matmul(hidden[start:stop, ...], w_t)
        if bias is not None:
            u = u + bias
        terms = chunk_terms(xp, u, labels[start:stop], classes, class_weight, weight_sum, o)
        correct = hits(xp, u, labels[start:stop]) if o.accuracy else None
        r = SweepResult(terms.values, terms.lse, None, None, None, terms.entropy, correct)
        out.append(sweep_outputs(lambda cols, axis: xp.stack(cols, axis=axis), r, o))
    return out[0] if len(out) == 1 else xp.concat(out, axis=0)
