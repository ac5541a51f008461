"""Every failure the peers' suites show today, and why (see :mod:`peers.run`).

Keys are pytest node ids in the build directory (``keras/losses_test.py::DiceTest::
test_correctness``). Each entry is either a deliberate difference (``deliberate``: its
``readme`` phrase must appear in the README's "Known disagreements") or a defect
(``defect``: an issue-12 item number, or ``item=None`` for a new one, with a one-line
reproduction). ``backends`` restricts a Keras entry to those Keras backends; None is all.
``python -m peers`` fails on a failure missing here, and on an entry that no longer fails.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Failure:
    kind: str  # "deliberate" or "defect"
    reason: str
    item: int | None = None  # issue 12's item number, for a defect
    readme: str | None = None  # the phrase naming it in the README's Known disagreements
    backends: tuple[str, ...] | None = None

    def applies(self, backend: str | None) -> bool:
        return self.backends is None or backend in self.backends

    def describe(self) -> str:
        if self.kind == "defect":
            where = f"issue 12 item {self.item}" if self.item is not None else "NEW defect"
            return f"{where}: {self.reason}"
        return f"{self.reason} (README: {self.readme})"


def deliberate(reason: str, readme: str, backends: tuple[str, ...] | None = None) -> Failure:
    return Failure("deliberate", reason, readme=readme, backends=backends)


def defect(item: int | None, reason: str, backends: tuple[str, ...] | None = None) -> Failure:
    return Failure("defect", reason, item=item, backends=backends)


KL = "keras/losses_test.py::"
OC = "optax/_classification_test.py::"
OR = "optax/_regression_test.py::"
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
_DICE = defect(8, "Keras' default axis=None is one Dice / Tversky value for the whole batch; unilosses gives one per sample")
_TARGET_CHECK = defect(
    9,
    "regression of item 9's fix: y_true's check has no tolerance, so jax.test_util.check_grads, which also "
    "perturbs the targets by about 1e-5, is refused. repro: ul.categorical_crossentropy(np.array([[-1e-5, 1, 1e-5]]), "
    "np.zeros((1, 3)), from_logits=True) raises ValueError (optax.softmax_cross_entropy: 1.0986)",
)

EXPECTED: dict[str, Failure] = {
    # ------------------------------------------------------------- Keras
    **{KL + f"{name}::test_dtype_arg": _BF16 for name in (
        "CategoricalCrossentropyTest", "CategoricalFocalCrossentropyTest", "CategoricalHingeTest",
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
    KL + "DiceTest::test_correctness": _DICE,
    KL + "DiceTest::test_binary_segmentation": _DICE,
    KL + "TverskyTest::test_correctness": _DICE,
    KL + "TverskyTest::test_correctness_custom_coefficients": _DICE,
    KL + "TverskyTest::test_binary_segmentation": _DICE,
    KL + "TverskyTest::test_binary_segmentation_custom_coefficients": _DICE,
    # ------------------------------------------------------------- optax
    **{OC + f"{cls}::test_gradient": _TARGET_CHECK for cls in ("SoftmaxCrossEntropyTest", "SafeSoftmaxCrossEntropyTest")},
    **{OC + f"SoftmaxCrossEntropyWithIntegerLabelsTest::test_consistent_with_softmax_cross_entropy_{s}": deliberate(
        "NumPy logits with JAX one-hot labels: y_pred decides the framework, a y_true of another one is a TypeError",
        "**Mixed frameworks**",
    ) for s in ("scalar", "batched")},
    OR + "SquaredErrorTest::test_shape_mismatch": deliberate(
        "targets (4, 1) against predictions (4,): squeezed to y_pred's rank as Keras does; optax raises ValueError",
        "**Shapes**",
    ),
}
