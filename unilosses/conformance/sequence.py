"""Conformance cases for the sequence family (CTC), against torch, tf.nn, optax and Keras.

Inputs are ``(labels (N, S), logits (N, T, C), label_lengths (N,), logit_lengths
(N,))`` as :func:`unilosses.ctc` takes them (batch-major: the generic tests take
axis 0 as the batch; tests/test_sequence.py checks ``time_major=True`` against
torch and tf.nn); labels past their length hold junk (a class out of range),
which every framework must ignore. Each reference states its mapping:

- torch: ``F.ctc_loss(log_softmax(z) as (T, N, C), labels, logit_lengths,
  label_lengths, blank, reduction="none")``; ``divide_by_label_length`` is its
  ``"mean"`` before the batch mean.
- tf.nn: ``tf.nn.ctc_loss(labels, z, label_lengths, logit_lengths,
  logits_time_major=False, blank_index=blank)`` (dense labels; float32 only).
- optax: ``optax.ctc_loss(z as (B, T, K), logit_paddings, labels, label_paddings,
  blank_id)`` with ``paddings = 1.0`` past each length (float32).
- Keras: ``keras.losses.ctc(labels, z)``: every frame, labels padded with the blank 0.

Impossible alignments are left out of the tf.nn, optax and Keras cases (they give
a large finite number there, inf here and in torch); ``zero_infinity`` cases hold
some, against torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from unilosses.conformance import Case, ref_inputs, ref_output

N, T, C, S = 4, 10, 5, 4
JUNK = C + 7  #: what labels hold past their length


# ------------------------------------------------------------------ inputs
def _draw(rng: np.random.Generator, blank: int = 0) -> tuple[Any, ...]:
    """Random labels avoiding ``blank``, lengths in range and every alignment possible."""
    classes = np.array([k for k in range(C) if k != blank % C])
    labels = classes[rng.integers(0, C - 1, (N, S))]
    labels[0, 1] = labels[0, 0]  # a repeat: needs a blank between
    label_lengths = np.array([S, 2, 0, 3])  # an empty target
    logit_lengths = np.array([T, T - 2, 4, T - 1])  # shorter sequences, padded frames
    labels = np.where(np.arange(S) < label_lengths[:, None], labels, JUNK)
    z = (rng.standard_normal((N, T, C)) * 2).astype(np.float32)
    return labels, z, label_lengths, logit_lengths


def _blank_last(rng: np.random.Generator) -> tuple[Any, ...]:
    return _draw(rng, blank=-1)


def _impossible(rng: np.random.Generator) -> tuple[Any, ...]:
    """Sample 1: 2 labels in 1 frame; sample 3: 3 equal labels (5 frames needed) in 4."""
    labels, z, label_lengths, logit_lengths = _draw(rng)
    labels[3, :3] = 2
    return labels, z, label_lengths, np.array([T, 1, 4, 4])


def _probabilities(rng: np.random.Generator) -> tuple[Any, ...]:
    labels, z, label_lengths, logit_lengths = _draw(rng)
    p = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    return labels, p.astype(np.float32), label_lengths, logit_lengths


def _keras_inputs(rng: np.random.Generator) -> tuple[Any, ...]:
    """(labels padded with the blank 0, logits): Keras' CTC has no lengths."""
    labels, z, label_lengths, _ = _draw(rng)
    return np.where(np.arange(S) < label_lengths[:, None], labels, 0), z


# -------------------------------------------------------------- references
def _torch(blank: int = 0, zero_infinity: bool = False, divide: bool = False) -> Any:
    def ref(labels: Any, z: Any, label_lengths: Any = None, logit_lengths: Any = None) -> Any:
        import torch.nn.functional as F

        if label_lengths is None:  # Keras' inputs: labels padded with the blank 0, every frame
            label_lengths = np.count_nonzero(labels, axis=1)
            logit_lengths = np.full(len(labels), z.shape[1])
        y, lp, ll, tl = ref_inputs("torch", labels, z, label_lengths, logit_lengths)
        lp = lp.log_softmax(-1).permute(1, 0, 2)  # torch is time-major: (T, N, C)
        b = blank % z.shape[-1]
        out = F.ctc_loss(lp, y, tl, ll, blank=b, reduction="none", zero_infinity=zero_infinity)
        return ref_output(out / ll.clamp_min(1) if divide else out)  # divide: torch's "mean" before the batch mean

    return ref


def _torch_probabilities(labels: Any, p: Any, label_lengths: Any, logit_lengths: Any) -> Any:
    import torch.nn.functional as F

    y, p, ll, tl = ref_inputs("torch", labels, p, label_lengths, logit_lengths)
    lp = (p / p.sum(-1, keepdim=True)).log().permute(1, 0, 2)  # from_logits=False: log of the probabilities
    return ref_output(F.ctc_loss(lp, y, tl, ll, reduction="none"))


def _tf(blank: int = 0) -> Any:
    def ref(labels: Any, z: Any, label_lengths: Any, logit_lengths: Any) -> Any:
        import tensorflow as tf

        y, z, ll, tl = ref_inputs("tensorflow", labels, z, label_lengths, logit_lengths, dtype="float32")
        return ref_output(
            tf.nn.ctc_loss(y, z, ll, tl, logits_time_major=False, blank_index=blank)
        )

    return ref


def _optax(labels: Any, z: Any, label_lengths: Any, logit_lengths: Any) -> Any:
    import optax

    label_paddings = (np.arange(labels.shape[1]) >= label_lengths[:, None]).astype(np.float32)
    logit_paddings = (np.arange(z.shape[1]) >= logit_lengths[:, None]).astype(np.float32)
    # optax compares each label with the next one, padding included: pad with a class no label is
    labels = np.where(label_paddings > 0, -1, labels)
    y, z, lp, yp = ref_inputs("optax", labels, z, logit_paddings, label_paddings, dtype="float32")
    return ref_output(optax.ctc_loss(z, lp, y, yp, blank_id=0))


def _keras(labels: Any, z: Any) -> Any:
    import keras

    return ref_output(keras.losses.ctc(labels, z.astype(np.float32)))


CASES = [
    Case(
        "ctc",
        "ctc",
        _draw,
        references={"torch": _torch(), "tensorflow": _tf(), "optax": _optax},
        rtol=2e-5,
        atol=1e-4,
    ),
    Case(
        "ctc-blank-last",
        "ctc",
        _blank_last,
        {"blank": -1},
        references={"torch": _torch(blank=-1), "tensorflow": _tf(blank=-1)},
        rtol=2e-5,
        atol=1e-4,
    ),
    Case(
        "ctc-zero_infinity-impossible",
        "ctc",
        _impossible,
        {"zero_infinity": True},
        references={"torch": _torch(zero_infinity=True)},
        rtol=2e-5,
        atol=1e-4,
    ),
    Case(
        "ctc-divide_by_label_length",
        "ctc",
        _draw,
        {"divide_by_label_length": True},
        references={"torch": _torch(divide=True)},
        rtol=2e-5,
        atol=1e-4,
    ),
    Case(
        "ctc-probabilities",
        "ctc",
        _probabilities,
        {"from_logits": False},
        references={"torch": _torch_probabilities},
        rtol=2e-5,
        atol=1e-4,
    ),
    Case(
        "ctc-keras-no-lengths",
        "ctc",
        _keras_inputs,
        references={"torch": _torch(), "keras": _keras},
        rtol=2e-5,
        atol=1e-4,
    ),
]
