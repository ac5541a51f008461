"""Every failure the peers' suites show today, and why (see :mod:`peers.run`).

Keys are pytest node ids in the build directory (``keras/losses_test.py::DiceTest::
test_correctness``). Each entry is either a deliberate difference (``deliberate``: its
``readme`` phrase, or each of its phrases, must appear in the README's "Known
disagreements") or a defect (``defect``: an issue item number, issue 12's unless
``issue`` says another, or ``item=None`` for a new one, with a one-line reproduction).
``backends`` restricts a Keras entry to those Keras backends; None is all.
``python -m peers`` fails on a failure missing here, and on an entry that no longer fails.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Failure:
    kind: str  # "deliberate" or "defect"
    reason: str
    item: int | None = None  # the issue's item number, for a defect
    #: the phrase naming it in the README's Known disagreements (several: a test that meets several)
    readme: str | tuple[str, ...] | None = None
    backends: tuple[str, ...] | None = None
    issue: int = 12  # the issue whose item ``item`` is

    def applies(self, backend: str | None) -> bool:
        return self.backends is None or backend in self.backends

    def phrases(self) -> tuple[str, ...]:
        return (self.readme,) if isinstance(self.readme, str) else tuple(self.readme or ())

    def describe(self) -> str:
        if self.kind == "defect":
            where = f"issue {self.issue} item {self.item}" if self.item is not None else "NEW defect"
            return f"{where}: {self.reason}"
        return f"{self.reason} (README: {', '.join(self.phrases())})"


def deliberate(reason: str, readme: str | tuple[str, ...], backends: tuple[str, ...] | None = None) -> Failure:
    return Failure("deliberate", reason, readme=readme, backends=backends)


def defect(item: int | None, reason: str, backends: tuple[str, ...] | None = None, issue: int = 12) -> Failure:
    return Failure("defect", reason, item=item, backends=backends, issue=issue)


KL = "keras/losses_test.py::"
OC = "optax/_classification_test.py::"
OR = "optax/_regression_test.py::"
TK = "tf_keras/losses_test.py::"
#: Keras skips its bfloat16 test of these two on its torch backend
NOT_TORCH = ("jax", "tensorflow", "numpy")
#: Keras' TensorFlow and JAX backends refuse a class axis other than -1
TF_JAX = ("jax", "tensorflow")

_BF16 = deliberate(
    "Keras' dtype='bfloat16': unilosses computes 16-bit inputs in float32 and returns float32 (Keras: bfloat16)",
    "**16-bit**",
)
_MESSAGE = deliberate(
    "the error type agrees (ValueError); the message is unilosses' own, naming the parameter",
    "**Error messages**",
)
_CONFIG = deliberate(
    "get_config() lists every option (axis, delta, epsilon, dtype); Keras' holds only name and reduction",
    "**Configs**",
)
_CTC_BLANK = deliberate(
    "the test's labels [1, 2, 0, 2] hold the blank 0 inside a sequence (Keras' label_length counts the non-zero "
    "labels, 3, then reads the first 3: 1, 2, 0); unilosses refuses a blank within the label lengths: ValueError "
    "(NaN in that sample where values are not read: Keras' JAX backend runs the loss under jit)",
    "**CTC's blank inside labels**",
)
_TARGET_CHECK = defect(
    9,
    "regression of item 9's fix: y_true's check has no tolerance, so jax.test_util.check_grads, which also "
    "perturbs the targets by about 1e-5, is refused. repro: ul.categorical_crossentropy(np.array([[-1e-5, 1, 1e-5]]), "
    "np.zeros((1, 3)), from_logits=True) raises ValueError (optax.softmax_cross_entropy: 1.0986)",
)

# ------------------------------------------------------------- tf-keras
_MODES = ("graph", "eager")  # tf-keras' test_combinations runs most tests in a v1 graph and eagerly


def _modes(test: str, modes: tuple[str, ...] = _MODES) -> list[str]:
    """The node ids of ``Class::test`` under each of tf-keras' execution modes."""
    return [f"{TK}{test}_test_mode_{mode}" for mode in modes]


_RAGGED = deliberate(
    "tf.RaggedTensor inputs: tf-keras computes each row and reduces over the rows; unilosses raises a TypeError "
    "saying what to pass (a dense x.to_tensor() with sample_weight=0 or ignore_index at the padding, or a call per row)",
    "**Ragged tensors**",
)
_NUMPY = deliberate(
    "NumPy inputs give NumPy results (y_pred decides the framework); tf-keras converts them to tf.Tensor, which the "
    "test then evaluates (self.evaluate of a NumPy value: 'Unsupported type', or an empty Session graph); with the "
    "inputs as tensors the values agree",
    "**NumPy inputs**",
)
_BCE_EPSILON = (
    "; with the inputs as tensors the value still differs: tf-keras' binary cross-entropy takes log(p + 1e-7) "
    "after clipping (test_unweighted: 3.833, unilosses and Keras 3: 3.9856)"
)
_TK_MIXED = deliberate(
    "NumPy y_true / y_pred with a tf.constant sample_weight: y_pred decides the framework, a sample_weight of "
    "another one is a TypeError naming both (tf-keras converts everything to tensors)",
    "**Mixed frameworks**",
)
_TK_INTEGER = deliberate(
    "integer y_pred (tf.constant of ints): the unilosses objects refuse it (TypeError); tf-keras casts it to floats",
    "**Integer predictions**",
)
_UNKNOWN_RANK = deliberate(
    "a v1-graph placeholder of unknown rank (tf.compat.v1.placeholder(tf.float32)): tf-keras computes it; "
    "unilosses raises a ValueError naming the input and asking for a shape (None for unknown sizes)",
    "**Unknown rank**",
)

TF_KERAS_EXPECTED: dict[str, Failure] = {
    **{node: _RAGGED for test in (
        "BinaryCrossentropyTest::test_ragged_tensors", "BinaryFocalCrossentropyTest::test_ragged_tensors",
        "BinaryWeightedFocalCrossentropyTest::test_ragged_tensors", "CategoricalCrossentropyTest::test_ragged_tensors",
        "CategoricalCrossentropyTest::test_ragged_tensors_ragged_sample_weights",
        "CategoricalFocalCrossentropyTest::test_ragged_tensors",
        "CategoricalFocalCrossentropyTest::test_ragged_tensors_ragged_sample_weights",
        "MeanAbsoluteErrorTest::test_ragged_tensor", "MeanAbsolutePercentageErrorTest::test_ragged_tensors",
        "MeanSquaredErrorTest::test_ragged_tensors", "MeanSquaredLogarithmicErrorTest::test_ragged_tensors",
        "SparseCategoricalCrossentropyTest::test_ragged_tensors", "SparseCategoricalCrossentropyTest::test_ragged_tensors_3d",
        "SparseCategoricalCrossentropyTest::test_ragged_tensors_rank_1",
    ) for node in _modes(test)},
    **{node: _NUMPY for test in (
        "BinaryCrossentropyTest::test_label_smoothing_ndarray",
        "BinaryFocalCrossentropyTest::test_no_reduction", "BinaryFocalCrossentropyTest::test_scalar_weighted",
        "BinaryFocalCrossentropyTest::test_unweighted",
        "BinaryWeightedFocalCrossentropyTest::test_no_reduction",
        "BinaryWeightedFocalCrossentropyTest::test_scalar_weighted", "BinaryWeightedFocalCrossentropyTest::test_unweighted",
        "CategoricalCrossentropyTest::test_label_smoothing_ndarray",
        "CategoricalFocalCrossentropyTest::test_label_smoothing_ndarray", "SparseCategoricalCrossentropyTest::test_non_tensor",
    ) for node in _modes(test)},
    **{node: deliberate(_NUMPY.reason + _BCE_EPSILON, (*_NUMPY.phrases(), "**tf-keras' binary cross-entropy**"))
       for test in ("BinaryCrossentropyTest::test_unweighted", "BinaryCrossentropyTest::test_scalar_weighted")
       for node in _modes(test)},
    **{node: deliberate(_TK_MIXED.reason + _BCE_EPSILON, (*_TK_MIXED.phrases(), "**tf-keras' binary cross-entropy**"))
       for node in _modes("BinaryCrossentropyTest::test_sample_weighted")},
    **{node: _TK_MIXED for test in (
        "BinaryFocalCrossentropyTest::test_sample_weighted", "BinaryWeightedFocalCrossentropyTest::test_sample_weighted",
    ) for node in _modes(test)},
    **{node: _TK_INTEGER for test in (
        "MeanAbsoluteErrorTest::test_all_correct_unweighted", "MeanAbsoluteErrorTest::test_invalid_sample_weight",
        "MeanSquaredErrorTest::test_all_correct_unweighted", "MeanSquaredErrorTest::test_invalid_sample_weight",
    ) for node in _modes(test)},
    **{node: _MESSAGE for test in (
        "CategoricalCrossentropyTest::test_shape_mismatch", "CategoricalFocalCrossentropyTest::test_shape_mismatch",
    ) for node in _modes(test)},
    TK + "KerasLossesTest::test_deserialization_error": _MESSAGE,
    TK + "KerasLossesTest::test_invalid_reduction": deliberate(
        _MESSAGE.reason + "; a bad reduction set on an object is refused when set, not at the next call",
        _MESSAGE.readme or "",
    ),
    **{node: deliberate(
        "tf-keras warns (SyntaxWarning) when the categorical cross-entropy gets (N, 1) inputs, one class, whose loss "
        "is always 0; unilosses returns the same value without a warning",
        "**One-class categorical inputs**",
    ) for test in ("CategoricalCrossentropyTest::test_binary_labels", "CategoricalFocalCrossentropyTest::test_binary_labels")
       for node in _modes(test)},
    **{node: deliberate(
        "tf-keras runs a Loss subclass's call through AutoGraph, so Python if / for over tensors work inside "
        "tf.function; unilosses.Loss calls it as written (Keras 3's Loss.__call__ does not convert it either): "
        "TypeError, len() of a symbolic tensor in the test's Python loop",
        "**AutoGraph**",
    ) for node in _modes("CustomLossTest::test_autograph")},
    TK + "KerasLossesTest::test_loss_wrapper": deliberate(
        "tf-keras' own LossFunctionWrapper (a fallback: unilosses has none) keeps the string 'auto'; the test compares "
        "it with ReductionV2.AUTO, here unilosses.Reduction.AUTO, which is sum_over_batch_size itself (Keras 3's AUTO)",
        "**`Reduction.AUTO`**",
    ),
    **{node: _UNKNOWN_RANK for node in (
        *_modes("KerasLossesTest::test_categorical_crossentropy_loss_with_unknown_rank_tensor", ("graph",)),
        *_modes("KerasLossesTest::test_sparse_categorical_crossentropy_loss_with_unknown_rank_tensor", ("graph",)),
    )},
    **{node: defect(
        None,
        "tf-keras' symbolic inputs (backend.placeholder() in eager mode, a functional model's Input: KerasTensor) are "
        "refused; tf-keras' own functions turn them into a layer. repro: ul.categorical_crossentropy(t, t) with "
        "t = tf_keras.backend.placeholder() raises TypeError 'y_pred: expected an array of NumPy, ... got KerasTensor'",
    ) for node in _modes("KerasLossesTest::test_categorical_crossentropy_loss_with_unknown_rank_tensor", ("eager",))},
}

EXPECTED: dict[str, Failure] = {
    # ------------------------------------------------------------- Keras
    **{KL + f"{name}::test_dtype_arg": _BF16 for name in (
        "CategoricalCrossentropyTest", "CategoricalFocalCrossentropyTest", "CategoricalGeneralizedCrossEntropyTest",
        "CategoricalHingeTest", "CircleTest",
        "CosineSimilarityTest", "DiceTest", "HingeTest", "HuberLossTest", "KLDivergenceTest", "LogCoshTest",
        "MeanAbsoluteErrorTest", "MeanAbsolutePercentageErrorTest", "MeanSquaredErrorTest",
        "MeanSquaredLogarithmicErrorTest", "PoissonTest", "SparseCategoricalCrossentropyTest",
        "SquaredHingeTest", "TverskyTest",
    )},
    KL + "BinaryCrossentropyTest::test_dtype_arg": deliberate(_BF16.reason, _BF16.readme or "", NOT_TORCH),
    KL + "BinaryFocalCrossentropyTest::test_dtype_arg": deliberate(_BF16.reason, _BF16.readme or "", NOT_TORCH),
    KL + "BinaryCrossentropyTest::test_shape_mismatch": _MESSAGE,
    KL + "CategoricalCrossentropyTest::test_shape_mismatch": _MESSAGE,
    # reduction="abc": the test's last assertion; its loss values before it pass
    KL + "HingeTest::test_unweighted": _MESSAGE,
    KL + "SquaredHingeTest::test_unweighted": _MESSAGE,
    KL + "CategoricalHingeTest::test_unweighted": _MESSAGE,
    KL + "CosineSimilarityTest::test_config": _CONFIG,
    KL + "HuberLossTest::test_config": _CONFIG,
    KL + "LogCoshTest::test_config": _CONFIG,
    KL + "MeanSquaredErrorTest::test_base_function_reduction": deliberate(
        "unilosses.mean_squared_error refuses an integer y_pred (TypeError); Keras' function casts it",
        "**Integer predictions**",
    ),
    KL + "SparseCategoricalCrossentropyTest::test_binary_segmentation_different_axis": deliberate(
        "axis=0 works on every backend; the test expects Keras' ValueError on TensorFlow and JAX", "**Class axis**", TF_JAX
    ),
    KL + "SparseCategoricalCrossentropyTest::test_multi_class_segmentation_different_axis": deliberate(
        "axis=0 works on every backend; the test expects Keras' ValueError on TensorFlow and JAX", "**Class axis**", TF_JAX
    ),
    KL + "CTCTest::test_correctness": _CTC_BLANK,
    KL + "CTCTest::test_dtype_arg": _CTC_BLANK,  # and a float32 result (Keras: bfloat16), as _BF16
    # ------------------------------------------------------------- optax
    **{OC + f"{cls}::test_gradient": _TARGET_CHECK for cls in ("SoftmaxCrossEntropyTest", "SafeSoftmaxCrossEntropyTest")},
    **{OC + f"SoftmaxCrossEntropyWithIntegerLabelsTest::test_consistent_with_softmax_cross_entropy_{s}": deliberate(
        "NumPy logits with JAX one-hot labels: y_pred decides the framework, a y_true of another one is a TypeError",
        "**Mixed frameworks**",
    ) for s in ("scalar", "batched")},
    OC + "GeneralizedKLDivergenceTest::test_deprecated_alias": deliberate(
        "unilosses.convex_kl_divergence is generalized_kl_divergence itself, with no DeprecationWarning",
        "**Deprecated names**",
    ),
    "optax/_segmentation_test.py::DiceLossTest::test_probability_validation": deliberate(
        "dice(class_axis=-1) takes any per-class probabilities in [0, 1] (multi-label masks); optax wants them "
        "to sum to 1 along the classes (ValueError)",
        "**Dice's probabilities**",
    ),
    OR + "SquaredErrorTest::test_shape_mismatch": deliberate(
        "targets (4, 1) against predictions (4,): squeezed to y_pred's rank as Keras does; optax raises ValueError",
        "**Shapes**",
    ),
    **TF_KERAS_EXPECTED,
}
