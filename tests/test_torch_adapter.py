"""``unilosses.torch``: every Loss class as a ``torch.nn.Module`` in torch's argument order."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from conftest import selected  # noqa: E402

pytestmark = selected("torch")

import unilosses  # noqa: E402
import unilosses.torch as ut  # noqa: E402
from unilosses.conformance import all_cases  # noqa: E402

PAIR = ("y_true", "y_pred")


CLASSES = unilosses.loss_classes()
CLASS_OF = {cls.function.__name__: cls for cls in CLASSES.values()}
CASES = [c for c in all_cases() if c.loss in CLASS_OF]


def test_gaussian_nll_module_takes_torch_order() -> None:
    """GaussianNLLLoss(input, target, var), as torch's module takes them."""
    g = torch.Generator().manual_seed(0)
    mu, y = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    var = torch.rand(5, 3, generator=g) + 0.1
    expected = torch.nn.GaussianNLLLoss()(mu, y, var)
    assert torch.allclose(ut.GaussianNLL(axis=None)(mu, y, var), expected, rtol=1e-6)
    assert torch.allclose(ut.GaussianNLL(axis=None)(mu, y, var=var), expected, rtol=1e-6)


def test_every_loss_class_has_a_module() -> None:
    assert set(CLASSES) <= set(ut.__all__)
    for name, core in CLASSES.items():
        cls = getattr(ut, name)
        assert issubclass(cls, torch.nn.Module) and issubclass(cls, ut.Loss)
        assert cls.unilosses_class is core and cls.__module__ == "unilosses.torch"
        inputs = core.function.spec.inputs
        expected = ["input", "target"] if inputs == PAIR else list(inputs)
        if inputs == ("y_true", "hidden", "weight", "bias"):  # the LM head: Liger's order, target after the tensors
            expected = ["hidden", "weight", "target", "bias"]
        if inputs[:2] == PAIR and len(inputs) > 2:  # torch's order first, then the other inputs:
            expected = ["input", "target", *inputs[2:]]  # GaussianNLLLoss(input, target, var), SupCon's ref_labels, ref_emb
        assert list(inspect.signature(cls.forward).parameters)[1:] == [*expected, "sample_weight"]
        assert "reduction" in inspect.signature(cls).parameters


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_module_matches_the_loss_class(case, rng) -> None:
    """forward in torch's order gives what the unilosses Loss object gives, for every case."""
    core_cls = CLASS_OF[case.loss]
    arrays = case.inputs(rng)
    inputs, options = case.call_args(arrays)
    inputs = tuple(torch.as_tensor(np.asarray(a)) for a in inputs)
    options = {k: torch.as_tensor(np.asarray(v)) if k in core_cls.function.spec.arrays else v for k, v in options.items()}
    if core_cls.function.spec.inputs[:2] == PAIR:  # (input, target, ...): torch's GaussianNLLLoss
        torch_order = (inputs[1], inputs[0], *inputs[2:])
    elif core_cls.function.spec.inputs[0] == "y_true":  # (hidden, weight, target[, bias])
        torch_order = (*inputs[1:3], inputs[0], *inputs[3:])
    else:
        torch_order = inputs
    for reduction in ("none", "sum_over_batch_size", "mean_with_sample_weight"):
        module = getattr(ut, core_cls.__name__)(reduction=reduction, **options)
        expected = core_cls(reduction=reduction, **options)(*inputs)
        actual = module(*torch_order)
        assert isinstance(actual, torch.Tensor)
        np.testing.assert_allclose(actual.numpy(), expected.numpy(), rtol=1e-6, atol=1e-6, equal_nan=True)


def _cross_entropy_inputs(rng: np.random.Generator, shape: tuple[int, ...], dtype: torch.dtype):
    n, c = shape[0], shape[1]
    logits = torch.tensor(rng.standard_normal(shape) * 2, dtype=dtype, requires_grad=True)
    labels = rng.integers(0, c, (n, *shape[2:]))
    labels.flat[rng.choice(labels.size, labels.size // 4, replace=False)] = -100
    weight = torch.tensor(rng.uniform(0.2, 3.0, c), dtype=dtype)
    return logits, torch.as_tensor(labels), weight


@pytest.mark.parametrize("shape", [(16, 5), (4, 5, 3, 6)], ids=["NC", "NCHW"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_matches_torch_cross_entropy(shape, dtype, rng) -> None:
    logits, labels, weight = _cross_entropy_inputs(rng, shape, dtype)
    ours = ut.SparseCategoricalCrossentropy(
        from_logits=True, class_weight=weight, ignore_index=-100, label_smoothing=0.1, axis=1,
        reduction="mean_with_sample_weight",
    )
    theirs = torch.nn.CrossEntropyLoss(weight=weight, ignore_index=-100, label_smoothing=0.1)
    value = ours(logits, labels)
    (grad,) = torch.autograd.grad(value, logits)
    expected = theirs(logits, labels)
    (expected_grad,) = torch.autograd.grad(expected, logits)
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-12}
    assert value.dtype == dtype and value.shape == ()
    torch.testing.assert_close(value, expected, **tol)
    torch.testing.assert_close(grad, expected_grad, **tol)
    # torch's "sum" and "none" too
    for r in ("sum", "none"):
        ours.reduction = r
        torch.testing.assert_close(
            ours(logits, labels), torch.nn.CrossEntropyLoss(
                weight=weight, ignore_index=-100, label_smoothing=0.1, reduction=r)(logits, labels),
            **tol,
        )


def test_to_float64_converts_buffers(rng) -> None:
    logits, labels, weight = _cross_entropy_inputs(rng, (12, 4), torch.float32)
    module = ut.SparseCategoricalCrossentropy(
        from_logits=True, class_weight=weight, ignore_index=-100, reduction="mean_with_sample_weight"
    )
    assert module.class_weight.dtype == torch.float32
    assert module.to(torch.float64) is module
    assert module.class_weight.dtype == torch.float64
    torch.testing.assert_close(module.class_weight, weight.double())
    logits64 = logits.detach().double()
    value = module(logits64, labels)
    assert value.dtype == torch.float64
    expected = torch.nn.CrossEntropyLoss(weight=weight.double(), ignore_index=-100)(logits64, labels)
    torch.testing.assert_close(value, expected, rtol=1e-12, atol=1e-12)
    module.to("meta")  # buffers follow devices too
    assert module.class_weight.device.type == "meta"


def test_state_dict_round_trip(rng) -> None:
    logits, labels, weight = _cross_entropy_inputs(rng, (12, 4), torch.float32)
    module = ut.SparseCategoricalCrossentropy(from_logits=True, class_weight=weight, ignore_index=-100)
    state = module.state_dict()
    assert list(state) == ["class_weight"]
    torch.testing.assert_close(state["class_weight"], weight)
    other = ut.SparseCategoricalCrossentropy(from_logits=True, class_weight=torch.ones(4), ignore_index=-100)
    assert not torch.equal(other(logits, labels), module(logits, labels))
    other.load_state_dict(state)
    torch.testing.assert_close(other.class_weight, weight)
    torch.testing.assert_close(other(logits, labels), module(logits, labels))
    # no array option given: no buffer in the state dict
    assert list(ut.SparseCategoricalCrossentropy().state_dict()) == []


def test_repr_shows_options() -> None:
    module = ut.SparseCategoricalCrossentropy(
        from_logits=True, class_weight=[1.0, 2.0, 0.5], ignore_index=-100, label_smoothing=0.1, axis=1,
        reduction="mean_with_sample_weight",
    )
    text = repr(module)
    assert text.startswith("SparseCategoricalCrossentropy(")
    for part in ("from_logits=True", "label_smoothing=0.1", "ignore_index=-100", "axis=1",
                 "class_weight=[1.0, 2.0, 0.5]", "reduction='mean_with_sample_weight'"):
        assert part in text
    assert "epsilon" not in text  # defaults are left out
    assert repr(ut.MeanSquaredError()) == "MeanSquaredError(reduction='sum_over_batch_size')"


def test_list_options_become_float_buffers() -> None:
    module = ut.SparseCategoricalCrossentropy(class_weight=[1, 2, 3])
    assert module.class_weight.dtype == torch.get_default_dtype()
    assert module.class_weight.tolist() == [1.0, 2.0, 3.0]


def test_binary_pos_weight_matches_torch(rng) -> None:
    z = torch.tensor(rng.standard_normal((6, 4)) * 3, dtype=torch.float32, requires_grad=True)
    y = torch.tensor(rng.integers(0, 2, (6, 4)), dtype=torch.float32)
    pw = torch.tensor(rng.uniform(0.5, 3.0, 4), dtype=torch.float32)
    ours = ut.BinaryCrossentropy(from_logits=True, pos_weight=pw, axis=None)
    theirs = torch.nn.BCEWithLogitsLoss(pos_weight=pw)
    value, expected = ours(z, y), theirs(z, y)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(torch.autograd.grad(value, z)[0], torch.autograd.grad(expected, z)[0])
    assert list(ours.state_dict()) == ["pos_weight"]


def test_sample_weight_positional_and_keyword(rng) -> None:
    logits, labels, weight = _cross_entropy_inputs(rng, (10, 3), torch.float32)
    labels = labels.clamp(min=0)
    sw = torch.tensor(rng.uniform(0, 2, 10), dtype=torch.float32)
    module = ut.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")
    expected = (torch.nn.functional.cross_entropy(logits, labels, reduction="none") * sw).sum()
    torch.testing.assert_close(module(logits, labels, sw), expected)
    torch.testing.assert_close(module(logits, labels, sample_weight=sw), expected)
    torch.testing.assert_close(module(input=logits, target=labels, sample_weight=sw), expected)
    with pytest.raises(TypeError):
        module(logits)


def test_default_reduction_is_sum_over_batch_size(rng) -> None:
    logits, labels, weight = _cross_entropy_inputs(rng, (10, 3), torch.float32)
    module = ut.SparseCategoricalCrossentropy(from_logits=True, class_weight=weight, ignore_index=-100)
    assert module.reduction == "sum_over_batch_size"
    per_sample = torch.nn.functional.cross_entropy(logits, labels, weight=weight, ignore_index=-100, reduction="none")
    torch.testing.assert_close(module(logits, labels), per_sample.sum() / (labels != -100).sum())


def test_bad_options_raise_at_construction() -> None:
    with pytest.raises(ValueError, match="label_smoothing"):
        ut.SparseCategoricalCrossentropy(label_smoothing=1.5)
    with pytest.raises(ValueError, match="reduction"):
        ut.MeanSquaredError(reduction="average")
    with pytest.raises(TypeError, match="unexpected"):
        ut.MeanSquaredError(from_logits=True)
    with pytest.raises(TypeError, match="name"):
        ut.MeanSquaredError(name="mse")


def _three_input(name: str) -> type:
    if not hasattr(ut, name):
        pytest.skip(f"unilosses has no {name}")
    return getattr(ut, name)


def test_margin_ranking_matches_torch(rng) -> None:
    cls = _three_input("MarginRanking")
    x1 = torch.tensor(rng.standard_normal(9), requires_grad=True)
    x2 = torch.tensor(rng.standard_normal(9))
    target = torch.tensor(rng.choice([-1.0, 1.0], 9))
    value = cls(margin=0.3)(x1, x2, target)
    expected = torch.nn.MarginRankingLoss(margin=0.3)(x1, x2, target)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(torch.autograd.grad(value, x1)[0], torch.autograd.grad(expected, x1)[0])


def test_triplet_margin_matches_torch(rng) -> None:
    cls = _three_input("TripletMargin")
    a, p, n = (torch.tensor(rng.standard_normal((7, 5))) for _ in range(3))
    torch.testing.assert_close(cls(margin=0.5)(a, p, n), torch.nn.TripletMarginLoss(margin=0.5)(a, p, n))
    torch.testing.assert_close(
        cls(margin=0.5)(anchor=a, positive=p, negative=n), torch.nn.TripletMarginLoss(margin=0.5)(a, p, n)
    )


def test_cosine_embedding_matches_torch(rng) -> None:
    cls = _three_input("CosineEmbedding")
    x1, x2 = (torch.tensor(rng.standard_normal((8, 4))) for _ in range(2))
    target = torch.tensor(rng.choice([-1.0, 1.0], 8))
    torch.testing.assert_close(
        cls(margin=0.2)(x1, x2, target), torch.nn.CosineEmbeddingLoss(margin=0.2)(x1, x2, target)
    )
