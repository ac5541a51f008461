"""Train, save and load a Keras model compiled with unilosses losses, on one Keras backend.

Usage: ``python tests/keras_fit_check.py BACKEND`` (``tensorflow``, ``jax`` or ``torch``);
run by ``tests/test_keras_adapter.py`` in a subprocess per backend (Keras picks its
backend once per process). Exits non-zero, with a message, on the first failure.

Checks, for a loss given as (a) a ``unilosses.keras`` loss object, (b) a plain
unilosses function, (c) a :class:`unilosses.Loss` object: two epochs of ``fit``
give finite losses that decrease; the model saved as ``.keras`` loads back with
``keras.saving.load_model`` and no ``custom_objects``, with the same loss
class and config and the same ``evaluate`` value.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile


def main(backend: str) -> None:
    os.environ["KERAS_BACKEND"] = backend
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np

    import unilosses
    import unilosses.keras

    if keras.backend.backend() != backend:
        raise SystemExit(f"expected Keras backend {backend!r}, got {keras.backend.backend()!r}")
    keras.utils.set_random_seed(0)

    rng = np.random.default_rng(0)
    num_classes = 3
    x = rng.normal(size=(256, 8)).astype("float32")
    labels = np.argmax(x @ rng.normal(size=(8, num_classes)), axis=-1).astype("int64")
    sample_weight = rng.uniform(0.5, 1.5, size=(256,)).astype("float32")

    def model(activation: str | None) -> keras.Model:
        inputs = keras.Input((8,))
        outputs = keras.layers.Dense(num_classes, activation=activation)(inputs)
        return keras.Model(inputs, outputs)

    cases = {
        "unilosses.keras object": (
            None,
            unilosses.keras.SparseCategoricalCrossentropy(
                from_logits=True, class_weight=[1.0, 2.0, 0.5], label_smoothing=0.1,
                reduction="mean_with_sample_weight",
            ),
        ),
        "unilosses function": ("softmax", unilosses.sparse_categorical_crossentropy),
        "unilosses.Loss object": (None, unilosses.SparseCategoricalCrossentropy(from_logits=True)),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for case, (activation, loss) in cases.items():
            m = model(activation)
            m.compile(optimizer=keras.optimizers.Adam(0.05), loss=loss)
            history = m.fit(x, labels, sample_weight=sample_weight, batch_size=32, epochs=2, verbose=0)
            values = history.history["loss"]
            if not all(math.isfinite(v) for v in values) or not values[1] < values[0]:
                raise SystemExit(f"{backend}, {case}: expected finite, decreasing losses, got {values}")
            path = os.path.join(tmp, "model.keras")
            m.save(path)
            loaded = keras.saving.load_model(path)  # no custom_objects
            before = m.evaluate(x, labels, verbose=0)
            after = loaded.evaluate(x, labels, verbose=0)
            if not math.isclose(before, after, rel_tol=1e-5, abs_tol=1e-6):
                raise SystemExit(f"{backend}, {case}: evaluate before save {before}, after load {after}")
            if isinstance(loss, unilosses.keras.Loss):
                if type(loaded.loss) is not type(loss):
                    raise SystemExit(f"{backend}, {case}: loaded loss {loaded.loss!r}, expected {loss!r}")
                if loaded.loss.get_config() != loss.get_config():
                    raise SystemExit(
                        f"{backend}, {case}: loaded config {loaded.loss.get_config()} != {loss.get_config()}"
                    )
            elif loss is unilosses.sparse_categorical_crossentropy and loaded.loss is not loss:
                raise SystemExit(f"{backend}, {case}: loaded loss {loaded.loss!r}, expected {loss!r}")
            print(f"{backend}, {case}: losses {values[0]:.4f} -> {values[1]:.4f}; saved and loaded")


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("tensorflow", "jax", "torch"):
        raise SystemExit("usage: python tests/keras_fit_check.py {tensorflow,jax,torch}")
    main(sys.argv[1])
