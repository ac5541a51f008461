"""KerasHub causal language models with a fused head: :func:`fuse_lm_head`.

A ``keras_hub.models.*CausalLM`` computes its logits as ``backbone.token_embedding(hidden,
reverse=True)`` (a ``ReversibleEmbedding``: the tied embedding matrix or its own reverse matrix,
Gemma 2's logit soft cap) and trains them with ``SparseCategoricalCrossentropy(from_logits=True)``,
weighted by the preprocessor's padding mask. ``fuse_lm_head(causal_lm)`` returns a
:class:`FusedCausalLM`: a Keras model made of the same backbone (every layer and weight shared with
``causal_lm``) whose output is the backbone's last hidden states, and whose ``compile`` defaults to
:class:`LMHeadLoss`, the same per-token loss computed by :func:`unilosses.linear_cross_entropy` from
those hidden states and the embedding's weights. The logits never exist, in the forward pass or in
the backward pass; Keras' own loss wrapper then weights the per-token values by the padding mask and
reduces them as it does for the causal LM's loss. ``fit`` on it trains ``causal_lm``'s weights.

The layout is checked when fusing: a model whose output is anything but the backbone followed by
its reversible token embedding is a TypeError naming what differs, rather than another loss.
keras_hub is never imported here: a model that is one has imported it already.
"""

from __future__ import annotations

from typing import Any

import keras

import unilosses

__all__ = ["FusedCausalLM", "LMHeadLoss", "fuse_lm_head"]


class LMHeadLoss(keras.losses.Loss):
    """Per token, the cross-entropy of the logits ``embedding(hidden, reverse=True)`` at the label,
    with ``hidden`` the model's output (``y_pred``, ``(batch, time, hidden_dim)``) and ``y_true`` the
    token ids: :func:`unilosses.linear_cross_entropy` of the embedding's weights (its tied matrix or
    its reverse one, its ``logit_soft_cap`` and ``reverse_dtype``). Keras' wrapper applies the sample
    weights (the padding mask) and the ``reduction``, as for ``SparseCategoricalCrossentropy``.
    ``chunk_size``: tokens per chunk of the vocabulary sweep (None: chosen from the shapes)."""

    def __init__(
        self, embedding: Any, chunk_size: int | None = None, name: str = "lm_head_loss",
        reduction: str = "sum_over_batch_size", dtype: Any = None,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.embedding = embedding
        self.chunk_size = chunk_size

    def call(self, y_true: Any, y_pred: Any) -> Any:
        e = self.embedding
        # the variables' current values: inside a traced training step, the traced ones
        weight = keras.ops.convert_to_tensor(e.embeddings if e.tie_weights else e.reverse_embeddings)
        if not e.tie_weights:  # (hidden_dim, vocabulary): linear_cross_entropy takes (vocabulary, hidden_dim)
            weight = keras.ops.transpose(weight)
        hidden = y_pred
        if getattr(e, "reverse_dtype", None) is not None:
            hidden, weight = keras.ops.cast(hidden, e.reverse_dtype), keras.ops.cast(weight, e.reverse_dtype)
        labels = keras.ops.cast(y_true, "int32")  # Keras' wrapper hands the labels over as floats
        return unilosses.linear_cross_entropy(
            labels, hidden, weight, softcap=getattr(e, "logit_soft_cap", None), chunk_size=self.chunk_size,
            reduction="none",
        )

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError(
            "LMHeadLoss holds a layer of its model: save the causal LM itself (the fused model shares its weights)"
        )


class FusedCausalLM(keras.Model):
    """The backbone of a KerasHub causal LM, its last hidden states as output; made by
    :func:`fuse_lm_head`. ``compile``'s defaults are the causal LM's (``Adam(2e-5)``) with
    :class:`LMHeadLoss` as the loss; train it on what the causal LM's preprocessor gives
    (``x, y, sample_weight = causal_lm.preprocessor(texts)``), the weights being the causal LM's."""

    def __init__(self, backbone: Any, chunk_size: int | None = None, **kwargs: Any) -> None:
        inputs = backbone.input
        super().__init__(inputs=inputs, outputs=backbone(inputs), **kwargs)
        # after the graph is built (Keras on torch refuses a layer assigned before Module.__init__)
        self.backbone = backbone
        self.chunk_size = chunk_size

    def compile(self, optimizer: Any = "auto", loss: Any = "auto", **kwargs: Any) -> None:
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(2e-5)
        if loss == "auto":
            loss = LMHeadLoss(self.backbone.token_embedding, chunk_size=self.chunk_size)
        super().compile(optimizer=optimizer, loss=loss, **kwargs)

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError("save the causal LM itself: the fused model shares its weights")


def fuse_lm_head(causal_lm: Any, *, chunk_size: int | None = None) -> FusedCausalLM:
    """A :class:`FusedCausalLM` of ``causal_lm`` (a ``keras_hub.models.*CausalLM``: Llama, Gemma,
    Mistral, Qwen, Phi-3... whose logits are its backbone's ``token_embedding(hidden, reverse=True)``).

    ``causal_lm`` itself is unchanged (``generate`` and ``predict`` keep their logits); the fused model
    shares its weights, so ``fused.fit(x, y, sample_weight=...)`` trains them with the causal LM's own
    loss, its logits never built. A causal LM of another layout, or with a quantized embedding, is a
    TypeError naming what differs."""
    backbone = getattr(causal_lm, "backbone", None)
    embedding = getattr(backbone, "token_embedding", None)
    if backbone is None or embedding is None:
        raise TypeError(
            f"fuse_lm_head: expected a keras_hub causal LM (a .backbone with a .token_embedding), "
            f"got {type(causal_lm).__name__}"
        )
    missing = [a for a in ("embeddings", "tie_weights") if not hasattr(embedding, a)]
    if missing or not isinstance(embedding, keras.layers.Layer):
        raise TypeError(
            f"fuse_lm_head: {type(causal_lm).__name__}.backbone.token_embedding is a {type(embedding).__name__}, "
            "not a ReversibleEmbedding (the layer whose reverse call gives the logits)"
        )
    if getattr(embedding, "quantization_mode", None) is not None:
        raise TypeError(
            f"fuse_lm_head: the token embedding is quantized ({embedding.quantization_mode}): "
            "linear_cross_entropy takes floating-point weights"
        )
    others = [
        layer.name for layer in causal_lm.layers
        if layer is not backbone and layer is not embedding and not isinstance(layer, keras.layers.InputLayer)
    ]
    if others:
        raise TypeError(
            f"fuse_lm_head: {type(causal_lm).__name__} has layers beside its backbone and token embedding "
            f"({', '.join(others)}): its logits are not token_embedding(backbone(x), reverse=True)"
        )
    return FusedCausalLM(backbone, chunk_size=chunk_size, name=f"{causal_lm.name}_fused")
