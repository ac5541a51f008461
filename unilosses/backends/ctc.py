"""CTC's forward (alpha) recursion in log space, over the Array API.

This is the specification of the CTC primitive
(:meth:`unilosses.backends.generic.Backend.ctc_nll`): the backends without a
CTC kernel run it as written (the loop over time is :meth:`Backend.scan`:
``lax.scan`` on JAX, ``tf.foldl`` inside ``tf.function``, a Python loop
elsewhere); torch's ``ctc_loss`` and TensorFlow's ``CTCLoss`` kernels compute the
same numbers.

With the extended label ``l' = (b, l_1, b, l_2, ..., b, l_L, b)`` (``b`` the
blank, ``2L + 1`` states) and ``y[t, k]`` the log-probability of class ``k`` at
frame ``t``::

    alpha[-1]   = (0, -inf, -inf, ...)                      (nothing emitted yet)
    alpha[t, s] = logsumexp(alpha[t-1, s], alpha[t-1, s-1],
                            alpha[t-1, s-2] if l'[s] != b and l'[s] != l'[s-2])
                  + y[t, l'[s]]
    nll         = -logsumexp(alpha[T_n - 1, 2L], alpha[T_n - 1, 2L - 1])

"-inf" is a finite ``NEG`` so that nothing computes ``inf - inf`` (NaN values or
gradients); a state that cannot be reached stays at ``NEG`` (``NEG + y`` rounds to
``NEG``). Frames at or after ``T_n`` leave ``alpha`` unchanged (``where``), so
padding frames and labels may hold anything.
"""

from __future__ import annotations

from typing import Any

__all__ = ["NEG", "ctc_feasible", "ctc_forward"]

#: log(0) as a finite number: far below any log-likelihood, far above float32's min
NEG = -1e30


def _gather_classes(be: Any, y: Any, index: Any) -> Any:
    """``y[t, n, index[n, s]]`` for ``y`` of shape (T, N, C) and ``index`` (N, W): (T, N, W)."""
    xp = be.xp
    T, N, C = y.shape
    W = index.shape[1]
    if be.has_take_along_axis:
        return xp.take_along_axis(y, xp.broadcast_to(xp.expand_dims(index, axis=0), (T, N, W)), axis=2)
    # Dask has no take_along_axis: contract the class axis with a one-hot (N, C, W)
    classes = xp.reshape(xp.arange(C, dtype=index.dtype, device=be.device(y)), (1, C, 1))
    onehot = xp.astype(xp.equal(classes, xp.expand_dims(index, axis=1)), y.dtype)
    return xp.permute_dims(xp.matmul(xp.permute_dims(y, (1, 0, 2)), onehot), (1, 0, 2))


def ctc_forward(be: Any, log_probs: Any, labels: Any, label_lengths: Any, logit_lengths: Any, blank: int) -> Any:
    """``-log p(labels | log_probs)`` per sample by the alpha recursion.

    Parameters
    ----------
    log_probs : array (T, N, C)
        Log-probabilities, time-major.
    labels : integer array (N, S)
        Valid non-blank class indices in the first ``label_lengths[n]`` entries
        of each row; the rest is never read.
    label_lengths, logit_lengths : integer arrays (N,)
        In ``[0, S]`` and ``[0, T]``.
    blank : int
        In ``[0, C)``.

    Returns
    -------
    array (N,)
        The negative log-likelihood; about ``-NEG`` (finite, with zero gradient
        after the caller's ``where``) where no alignment exists.
    """
    xp = be.xp
    dtype, device = log_probs.dtype, be.device(log_probs)
    T, N, _ = log_probs.shape
    S = labels.shape[1]
    W = 2 * S + 1
    blanks = xp.full((N, S), blank, dtype=labels.dtype, device=device)
    ext = xp.reshape(xp.stack([blanks, labels], axis=2), (N, 2 * S))
    ext = xp.concat([ext, blanks[:, :1] if S else xp.full((N, 1), blank, dtype=labels.dtype, device=device)], axis=1)
    emit = _gather_classes(be, log_probs, ext)  # (T, N, W)
    # the skip s-2 -> s: into a label that differs from the label before it
    skip = xp.logical_and(xp.not_equal(ext[:, 2:], blank), xp.not_equal(ext[:, 2:], ext[:, :-2]))
    no = xp.zeros((N, 2), dtype=xp.bool, device=device)
    skip = xp.concat([no, skip], axis=1)[:, :W]
    skip_pen = xp.where(skip, xp.zeros((N, W), dtype=dtype, device=device), xp.full((N, W), NEG, dtype=dtype, device=device))
    active = xp.expand_dims(xp.arange(T, dtype=logit_lengths.dtype, device=device), axis=1) < logit_lengths
    active = xp.expand_dims(active, axis=2)  # (T, N, 1)
    state = xp.reshape(xp.arange(W, device=device), (1, W))
    alpha0 = xp.where(xp.equal(state, 0), xp.zeros((N, W), dtype=dtype, device=device), xp.full((N, W), NEG, dtype=dtype, device=device))
    pad = xp.full((N, 2), NEG, dtype=dtype, device=device)

    def step(alpha: Any, x: Any) -> Any:
        e, act = x
        shifted = xp.concat([pad, alpha], axis=1)
        a1 = shifted[:, 1 : W + 1]
        a2 = shifted[:, :W] + skip_pen
        m = be.stop_gradient(xp.maximum(xp.maximum(alpha, a1), a2))  # its gradient cancels: skip it
        new = m + xp.log(xp.exp(alpha - m) + xp.exp(a1 - m) + xp.exp(a2 - m)) + e
        return xp.where(act, new, alpha)

    alpha = be.scan(step, alpha0, (emit, active))
    two_l = 2 * label_lengths
    end = be.gather(alpha, two_l, 1)
    before = be.gather(alpha, xp.clip(two_l - 1, min=0), 1)
    before = xp.where(label_lengths > 0, before, xp.full((N,), NEG, dtype=dtype, device=device))
    m = be.stop_gradient(xp.maximum(end, before))  # logaddexp, without NumPy's warning on a NaN sample
    return -(m + xp.log(xp.exp(end - m) + xp.exp(before - m)))


def ctc_feasible(be: Any, labels: Any, label_lengths: Any, logit_lengths: Any) -> Any:
    """True where an alignment exists: ``T_n >= L_n + (repeated neighbours among the first L_n labels)``
    (each repeat needs a blank between its two frames)."""
    xp = be.xp
    S = labels.shape[1]
    if S < 2:
        return label_lengths <= logit_lengths
    pos = xp.arange(1, S, dtype=label_lengths.dtype, device=be.device(labels))
    repeat = xp.logical_and(xp.equal(labels[:, 1:], labels[:, :-1]), pos < xp.expand_dims(label_lengths, axis=1))
    repeats = xp.sum(xp.astype(repeat, label_lengths.dtype), axis=1)
    return label_lengths + repeats <= logit_lengths
