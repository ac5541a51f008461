"""Train a KerasHub causal LM and its fused twin (``unilosses.keras.fuse_lm_head``): the same numbers.

Usage: ``python tests/keras_hub_check.py BACKEND`` with BACKEND ``jax``, ``torch`` or ``tensorflow``
(Keras 3 picks its backend once per process); run by ``tests/test_keras_hub.py``. Prints one line per
model and exits non-zero on the first difference.

Per model (tiny, random weights, no download): Llama (its own reverse embedding matrix) and Gemma 2
(tied embeddings, the final logits soft-capped at 30, sliding-window attention). Two copies start from
the same weights; one trains as KerasHub compiles it (``SparseCategoricalCrossentropy(from_logits=True)``
of its logits), the other through ``fuse_lm_head`` (its default loss); three epochs of ``fit``, plain
SGD, no shuffling, the padding mask as sample weights, then one more on a batch of another shape. The
loss of every epoch and every weight at the end must equal; the fused run never calls the embedding in reverse (no logits), and the fused model
holds exactly the causal LM's weights. Then the refusals: not a causal LM, a layer after the head.
"""

from __future__ import annotations

import os
import sys

#: the loss of every epoch; the weights after three steps of SGD at a learning rate of 0.5 (float32
#: rounding of two different computations, compounded: the same within 1e-4 of their size)
RTOL, ATOL = 2e-5, 2e-6
W_RTOL, W_ATOL = 1e-4, 2e-5


def main(backend: str) -> None:
    os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import keras_hub
    import numpy as np

    from unilosses.keras import FusedCausalLM, fuse_lm_head

    if keras.backend.backend() != backend:
        raise SystemExit(f"expected Keras backend {backend!r}, got {keras.backend.backend()!r}")
    vocab, batch, length = 96, 4, 10
    models = {
        "llama": (keras_hub.models.LlamaBackbone, keras_hub.models.LlamaCausalLM, dict(
            vocabulary_size=vocab, num_layers=1, num_query_heads=2, hidden_dim=16, intermediate_dim=32,
            num_key_value_heads=1)),
        "gemma2": (keras_hub.models.GemmaBackbone, keras_hub.models.GemmaCausalLM, dict(
            vocabulary_size=vocab, num_layers=2, num_query_heads=2, num_key_value_heads=1, hidden_dim=16,
            intermediate_dim=32, head_dim=8, final_logit_soft_cap=30.0, attention_logit_soft_cap=50.0,
            use_post_ffw_norm=True, use_post_attention_norm=True, use_sliding_window_attention=True,
            sliding_window_size=4)),
    }
    rng = np.random.default_rng(0)
    x = {"token_ids": rng.integers(0, vocab, (batch, length)).astype("int32"),
         "padding_mask": np.ones((batch, length), "int32")}
    x["padding_mask"][1, 6:] = 0
    x["padding_mask"][3, 3:] = 0
    y = rng.integers(0, vocab, (batch, length)).astype("int32")
    sw = x["padding_mask"].astype("float32")
    for name, (backbone_cls, lm_cls, config) in models.items():
        keras.utils.set_random_seed(1)
        own = lm_cls(backbone=backbone_cls(**config), preprocessor=None)
        twin = lm_cls(backbone=backbone_cls(**config), preprocessor=None)
        twin.set_weights(own.get_weights())
        fused = fuse_lm_head(twin)
        assert isinstance(fused, FusedCausalLM)
        assert [id(w) for w in fused.weights] == [id(w) for w in twin.weights], "the fused model holds other weights"
        embedding = twin.backbone.token_embedding
        reverse_calls = []
        call = embedding.call

        def counted(inputs, reverse=False, call=call, seen=reverse_calls):
            seen.append(reverse)
            return call(inputs, reverse=reverse)

        embedding.call = counted
        own.compile(optimizer=keras.optimizers.SGD(0.5), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                    weighted_metrics=[])
        fused.compile(optimizer=keras.optimizers.SGD(0.5))
        fit = dict(sample_weight=sw, epochs=3, batch_size=2, shuffle=False, verbose=0)
        expected = own.fit(x, y, **fit).history["loss"]
        got = fused.fit(x, y, **fit).history["loss"]
        np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL, err_msg=f"{name}: loss per epoch")
        # a batch of another shape: Keras retraces its step for any batch and length (TensorFlow)
        short = dict(sample_weight=sw[:3, :7], epochs=1, batch_size=3, shuffle=False, verbose=0)
        x_short = {k: v[:3, :7] for k, v in x.items()}
        expected.append(own.fit(x_short, y[:3, :7], **short).history["loss"][0])
        got.append(fused.fit(x_short, y[:3, :7], **short).history["loss"][0])
        np.testing.assert_allclose(got[-1], expected[-1], rtol=RTOL, atol=ATOL, err_msg=f"{name}: another shape")
        for w_own, w_twin in zip(own.weights, twin.weights):
            np.testing.assert_allclose(keras.ops.convert_to_numpy(w_twin), keras.ops.convert_to_numpy(w_own),
                                       rtol=W_RTOL, atol=W_ATOL, err_msg=f"{name}: {w_own.path} after training")
        assert reverse_calls and not any(reverse_calls), f"{name}: the fused model computed logits"
        assert expected[-1] < expected[0]  # it trained
        print(f"{name} on {backend}: losses {', '.join(f'{v:.6f}' for v in got)} and weights equal KerasHub's own")
    for bad, says in ((keras.Sequential([keras.layers.Dense(2)]), "expected a keras_hub causal LM"),):
        try:
            fuse_lm_head(bad)
        except TypeError as exc:
            assert says in str(exc), exc
        else:
            raise AssertionError("fuse_lm_head accepted a model that is not a causal LM")
    backbone = keras_hub.models.LlamaBackbone(**models["llama"][2])
    scaled = keras.Model(backbone.input, keras.layers.Rescaling(0.5)(backbone.token_embedding(backbone.output, reverse=True)))
    scaled.backbone = backbone
    try:
        fuse_lm_head(scaled)
    except TypeError as exc:
        assert "rescaling" in str(exc), exc
    else:
        raise AssertionError("fuse_lm_head accepted logits post-processed by another layer")
    print(f"refusals on {backend}: not a causal LM, a layer after the head")


if __name__ == "__main__":
    main(sys.argv[1])
