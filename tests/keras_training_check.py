"""Train one model with Keras' own loss and with unilosses' in ``compile``: the same numbers.

Usage: ``python tests/keras_training_check.py FLAVOUR`` with FLAVOUR ``tensorflow``, ``jax`` or
``torch`` (Keras 3 on that backend) or ``tf_keras`` (Keras 2); run by
``tests/test_keras_training.py`` in a subprocess each (Keras picks its backend once per
process). Prints one line per case and exits non-zero on the first difference.

Each case trains the same model from the same initial weights, three epochs of ``fit``
(plain SGD, no shuffling), with the loss given as Keras' own object, as a plain
:class:`unilosses.Loss` object (which Keras wraps in its ``LossFunctionWrapper``), as a
``unilosses.keras`` object (Keras 3) and as a plain unilosses function where Keras'
default reduction applies; the loss of every epoch and the weights at the end must
equal those of Keras' own loss. The cases: sample weights with ``"sum_over_batch_size"``
and ``"sum"``; ``class_weight`` in ``fit``; a masked sequence (``Embedding(mask_zero=True)``,
a loss per time step, sample weights per step); ignored labels (Keras'
``ignore_class``, unilosses' ``ignore_index``).
"""

from __future__ import annotations

import os
import sys

RTOL, ATOL = 2e-5, 1e-6


def main(flavour: str) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if flavour == "tf_keras":
        import tf_keras as keras
    else:
        os.environ["KERAS_BACKEND"] = flavour
        import keras

        if keras.backend.backend() != flavour:
            raise SystemExit(f"expected Keras backend {flavour!r}, got {keras.backend.backend()!r}")
    import numpy as np

    import unilosses as ul

    adapter = None
    if flavour != "tf_keras":
        import unilosses.keras as adapter

    rng = np.random.default_rng(0)
    n, f, c, t, vocab = 64, 6, 4, 5, 9
    x = rng.normal(size=(n, f)).astype("float32")
    y_reg = (x @ rng.normal(size=(f, 2))).astype("float32")
    labels = rng.integers(0, c, n)
    sw = rng.uniform(0.2, 2.0, n).astype("float32")
    seq = rng.integers(1, vocab, (n, t))
    for i in range(n):  # right-padded sequences of 2..5 tokens (0: padding, masked)
        seq[i, rng.integers(2, t + 1) :] = 0
    seq_labels = rng.integers(0, c, (n, t))
    ignored = labels.copy()
    ignored[rng.uniform(size=n) < 0.3] = -1

    def dense_model(units: int) -> keras.Model:
        keras.utils.set_random_seed(1)
        inputs = keras.Input((f,))
        return keras.Model(inputs, keras.layers.Dense(units)(inputs))

    def sequence_model() -> keras.Model:
        keras.utils.set_random_seed(1)
        inputs = keras.Input((t,), dtype="int32")
        h = keras.layers.Embedding(vocab, 3, mask_zero=True)(inputs)
        return keras.Model(inputs, keras.layers.Dense(c)(h))

    def train(build, loss, data, **fit_kw) -> tuple[list[float], list[np.ndarray]]:
        model = build()
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
        hist = model.fit(*data, batch_size=16, epochs=3, shuffle=False, verbose=0, **fit_kw)
        return hist.history["loss"], [np.asarray(w) for w in model.get_weights()]

    k = keras.losses
    cases = {
        "mse, sample weights": (
            lambda: dense_model(2), (x, y_reg), {"sample_weight": sw},
            k.MeanSquaredError(), ul.MeanSquaredError(), ul.mean_squared_error,
            adapter and adapter.MeanSquaredError(),
        ),
        "mse sum, sample weights": (
            lambda: dense_model(2), (x, y_reg), {"sample_weight": sw},
            k.MeanSquaredError(reduction="sum"), ul.MeanSquaredError(reduction="sum"), None,
            adapter and adapter.MeanSquaredError(reduction="sum"),
        ),
        "sparse crossentropy, class_weight": (
            lambda: dense_model(c), (x, labels), {"class_weight": {0: 0.5, 1: 2.0, 2: 1.0, 3: 3.0}},
            k.SparseCategoricalCrossentropy(from_logits=True),
            ul.SparseCategoricalCrossentropy(from_logits=True), None,
            adapter and adapter.SparseCategoricalCrossentropy(from_logits=True),
        ),
        "masked sequence, sample weights": (
            # per-step weights: Keras 3 multiplies a (N,) weight by the (N, T) mask without aligning
            sequence_model, (seq, seq_labels), {"sample_weight": np.repeat(sw[:, None], t, axis=1)},
            k.SparseCategoricalCrossentropy(from_logits=True),
            ul.SparseCategoricalCrossentropy(from_logits=True), None,
            adapter and adapter.SparseCategoricalCrossentropy(from_logits=True),
        ),
        "ignored labels, sample weights": (
            lambda: dense_model(c), (x, ignored), {"sample_weight": sw},
            k.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1),
            ul.SparseCategoricalCrossentropy(from_logits=True, ignore_index=-1), None,
            adapter and adapter.SparseCategoricalCrossentropy(from_logits=True, ignore_index=-1),
        ),
    }
    for name, (build, data, fit_kw, native, obj, fn, adapted) in cases.items():
        want_loss, want_w = train(build, native, data, **fit_kw)
        for form, loss in (("unilosses.Loss object", obj), ("unilosses function", fn),
                           ("unilosses.keras object", adapted)):
            if loss is None:
                continue
            got_loss, got_w = train(build, loss, data, **fit_kw)
            if not np.allclose(got_loss, want_loss, rtol=RTOL, atol=ATOL):
                raise SystemExit(f"{flavour}, {name}, {form}: losses per epoch {got_loss}, Keras' {want_loss}")
            for a, b in zip(got_w, want_w):
                if not np.allclose(a, b, rtol=RTOL, atol=ATOL):
                    raise SystemExit(f"{flavour}, {name}, {form}: weights after 3 epochs differ by "
                                     f"{np.max(np.abs(a - b)):.3g}")
            print(f"{flavour}, {name}, {form}: {len(got_loss)} epochs, losses and weights equal Keras' own")


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("tensorflow", "jax", "torch", "tf_keras"):
        raise SystemExit("usage: python tests/keras_training_check.py {tensorflow,jax,torch,tf_keras}")
    main(sys.argv[1])
