"""A torch training loop: ``unilosses.torch`` modules train a model as torch's own losses do.

The same MLP, from the same initial weights, takes 5 SGD steps with torch's loss and with the
unilosses module given torch's options (the mapping the docs give): the loss of every step and
the parameters at the end must be equal, eagerly and with the model and loss under ``torch.compile``.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import selected

pytestmark = selected("torch")
torch = pytest.importorskip("torch")
import unilosses.torch as ult  # noqa: E402

N, F, C, STEPS = 32, 6, 5, 5


def _data(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, F, generator=g)
    labels = torch.randint(0, C, (N,), generator=g)
    labels[torch.rand(N, generator=g) < 0.25] = -100
    targets = (torch.rand(N, C, generator=g) > 0.5).float()
    return x, labels, targets, torch.rand(C, generator=g) + 0.5


def _train(criterion, target, x, compile_step=False):
    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Linear(F, 8), torch.nn.Tanh(), torch.nn.Linear(8, C))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)

    def forward():
        return criterion(model(x), target)

    # the model and loss compiled in one graph (aot_eager: inductor's C++ build is slow on 2 cores)
    run = torch.compile(forward, fullgraph=True, backend="aot_eager") if compile_step else forward
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = run()
        loss.backward()
        losses.append(float(loss.detach()))
        opt.step()
    return np.array(losses), [p.detach().numpy().copy() for p in model.parameters()]


def _cases(weight):
    return {
        "cross-entropy, class weights, ignore_index, smoothing": (
            torch.nn.CrossEntropyLoss(weight=weight, ignore_index=-100, label_smoothing=0.1),
            ult.SparseCategoricalCrossentropy(from_logits=True, axis=1, class_weight=weight, ignore_index=-100,
                                              label_smoothing=0.1, reduction="mean_with_sample_weight"),
            "labels",
        ),
        "cross-entropy, sum": (
            torch.nn.CrossEntropyLoss(reduction="sum", ignore_index=-100),
            ult.SparseCategoricalCrossentropy(from_logits=True, axis=1, ignore_index=-100, reduction="sum"),
            "labels",
        ),
        "binary cross-entropy with logits, pos_weight": (
            torch.nn.BCEWithLogitsLoss(pos_weight=weight),
            ult.BinaryCrossentropy(from_logits=True, pos_weight=weight, axis=None),
            "targets",
        ),
        "huber": (torch.nn.HuberLoss(delta=0.5), ult.Huber(delta=0.5, axis=None), "targets"),
    }


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_training_steps_equal_torch_losses(compiled) -> None:
    x, labels, targets, weight = _data()
    for name, (native, ours, which) in _cases(weight).items():
        target = labels if which == "labels" else targets
        if compiled and name != "cross-entropy, class weights, ignore_index, smoothing":
            continue  # one compiled case: the compiler, not each loss again
        want_losses, want_params = _train(native, target, x, compiled)
        got_losses, got_params = _train(ours, target, x, compiled)
        np.testing.assert_allclose(got_losses, want_losses, rtol=2e-6, atol=1e-7, err_msg=name)
        for a, b in zip(got_params, want_params):
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6, err_msg=name)
