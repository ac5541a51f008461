"""``unilosses.torch.fuse_lm_head``: Hugging Face causal LMs whose loss never builds the logits.

Each architecture is a tiny model with random weights built from its config class (no download):
the fused model's loss and every parameter's gradient are held to the same model unfused (HF's
own forward and ``ForCausalLMLoss``), with ``-100`` labels, ``num_items_in_batch`` and
``shift_labels``, tied and untied embeddings; a stock ``Trainer`` run ends with the same
parameters; layouts it cannot fuse are refused. Runs in the ``hf`` nox session (transformers is
the ``hf`` extra); skipped where transformers is not installed.
"""

from __future__ import annotations

import copy
import pathlib

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
from conftest import selected  # noqa: E402

pytestmark = selected("torch")

import unilosses.torch as ut  # noqa: E402
from unilosses.bench.peak import run_child  # noqa: E402

V, D, HEADS = 97, 32, 4
#: the tiny config every architecture shares: 2 layers, hidden 32, 4 heads (2 for keys and values)
TINY = {
    "vocab_size": V, "hidden_size": D, "intermediate_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": HEADS, "num_key_value_heads": 2, "max_position_embeddings": 64,
    "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2,
}
#: architecture -> (config class, ForCausalLM class, what differs from TINY). Gemma's softcap, Cohere's
#: and Granite's scales are set where the tiny logits feel them (the defaults barely bend logits of
#: a random model whose weights are 0.02).
ARCHS = {
    "llama": ("LlamaConfig", "LlamaForCausalLM", {"head_dim": D // HEADS}),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", {}),
    "qwen3": ("Qwen3Config", "Qwen3ForCausalLM", {"head_dim": D // HEADS}),
    "mistral": ("MistralConfig", "MistralForCausalLM", {"head_dim": D // HEADS}),
    "gemma2": ("Gemma2Config", "Gemma2ForCausalLM", {"head_dim": D // HEADS, "final_logit_softcapping": 0.05}),
    "gemma3": ("Gemma3TextConfig", "Gemma3ForCausalLM", {"head_dim": D // HEADS, "final_logit_softcapping": 0.05}),
    "phi3": ("Phi3Config", "Phi3ForCausalLM", {}),
    "cohere": ("CohereConfig", "CohereForCausalLM", {"logit_scale": 8.0}),
    "granite": ("GraniteConfig", "GraniteForCausalLM", {"logits_scaling": 0.125}),
}


def tiny(arch: str, *, tied: bool | None = None, seed: int = 0, **overrides: object) -> torch.nn.Module:
    """A tiny ``arch`` model with random weights (seeded), float32, in training mode (no dropout)."""
    config_name, model_name, extra = ARCHS[arch]
    options = {**TINY, **extra, **overrides}
    if tied is not None:
        options["tie_word_embeddings"] = tied
    config = getattr(transformers, config_name)(**options)
    torch.manual_seed(seed)
    model = getattr(transformers, model_name)(config)
    with torch.no_grad():  # larger weights than HF's 0.02 init: logits that bend under softcap and scale
        for p in model.parameters():
            if p.ndim == 2:
                p.normal_(0.0, 0.3, generator=torch.Generator().manual_seed(seed + p.numel()))
    return model.float().train()


def batch(seed: int = 0, b: int = 3, t: int = 11) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, labels): labels are the inputs with a prompt (and padding) of -100."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, V, (b, t), generator=g)
    labels = ids.clone()
    labels[0, :4] = -100  # a prompt
    labels[1, -3:] = -100  # padding
    return ids, labels


def step(model: torch.nn.Module, *args: object, **kwargs: object) -> tuple[object, dict[str, torch.Tensor]]:
    """One forward + backward: (outputs, each parameter's gradient by name)."""
    model.zero_grad(set_to_none=True)
    out = model(*args, **kwargs)
    out.loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    return out, grads


def assert_same(fused: tuple, unfused: tuple) -> None:
    (out, grads), (ref, ref_grads) = fused, unfused
    assert out.logits is None and ref.logits is not None
    torch.testing.assert_close(out.loss, ref.loss, rtol=1e-5, atol=0)
    assert grads.keys() == ref_grads.keys() and grads
    for name in grads:  # every parameter, the embedding (tied to the head or not) and the head included
        scale = ref_grads[name].abs().max().item()
        torch.testing.assert_close(grads[name], ref_grads[name], rtol=1e-4, atol=1e-5 * scale, msg=name)


def padding_free(ids: torch.Tensor) -> dict[str, torch.Tensor]:
    """What HF's padding-free collator (``DataCollatorWithFlattening``) passes: one row of packed
    sequences, ``position_ids`` restarting at each, ``shift_labels`` with -100 where a sequence ends."""
    lengths = [5, 4, ids.numel() - 9]
    flat = ids.reshape(1, -1)
    positions = torch.cat([torch.arange(n) for n in lengths]).reshape(1, -1)
    labels = flat.clone()
    shift = torch.cat([flat[:, 1:], torch.full((1, 1), -100)], dim=1)
    ends = torch.tensor(lengths).cumsum(0) - 1
    shift[0, ends] = -100
    labels[0, 0] = -100
    return {"input_ids": flat, "position_ids": positions, "labels": labels, "shift_labels": shift}


MODES = ["mean", "num_items_in_batch", "shift_labels"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("arch", list(ARCHS))
def test_fused_equals_hf(arch: str, mode: str) -> None:
    model = tiny(arch)
    ids, labels = batch()
    if mode == "mean":
        kwargs: dict[str, object] = {"input_ids": ids, "labels": labels}
    elif mode == "num_items_in_batch":  # the Trainer's count over the accumulated micro-batches
        kwargs = {"input_ids": ids, "labels": labels, "num_items_in_batch": torch.tensor(41)}
    else:
        kwargs = padding_free(ids)
    unfused = step(model, **kwargs)
    ut.fuse_lm_head(model)
    assert_same(step(model, **kwargs), unfused)


@pytest.mark.parametrize(("arch", "tied"), [("llama", True), ("qwen2", True), ("gemma2", False), ("cohere", False)])
def test_tied_and_untied_embeddings(arch: str, tied: bool) -> None:
    model = tiny(arch, tied=tied)
    assert (model.lm_head.weight is model.model.embed_tokens.weight) == tied
    ids, labels = batch(1)
    unfused = step(model, ids, labels=labels, num_items_in_batch=30)  # an int, as custom loops pass it
    ut.fuse_lm_head(model)
    assert_same(step(model, ids, labels=labels, num_items_in_batch=30), unfused)


def test_a_head_with_a_bias() -> None:
    model = tiny("llama", tied=False)
    model.lm_head.bias = torch.nn.Parameter(torch.randn(V, generator=torch.Generator().manual_seed(3)))
    ids, labels = batch(2)
    unfused = step(model, ids, labels=labels)
    assert_same(step(ut.fuse_lm_head(model), ids, labels=labels), unfused)


@pytest.mark.parametrize("num_items_in_batch", [None, 0])
def test_no_label_counts(num_items_in_batch: int | None) -> None:
    """Every label -100: HF's loss is NaN (0 / 0), the fused one 0 with zero gradients (documented)."""
    model = tiny("llama")
    ids, labels = batch()
    labels = torch.full_like(labels, -100)
    assert torch.isnan(model(ids, labels=labels, num_items_in_batch=num_items_in_batch).loss)
    out, grads = step(ut.fuse_lm_head(model), ids, labels=labels, num_items_in_batch=num_items_in_batch)
    assert out.loss.item() == 0.0 and all(not g.any() for g in grads.values())


def test_without_labels_the_model_is_unchanged() -> None:
    model = tiny("gemma2")
    ids, _ = batch()
    with torch.no_grad():
        before, before_last = model(ids), model(ids, logits_to_keep=1)
        ut.fuse_lm_head(model)
        after = model(ids)
        last = model(ids, logits_to_keep=1)
        as_tuple = model(ids, return_dict=False)
    torch.testing.assert_close(after.logits, before.logits, rtol=0, atol=0)
    torch.testing.assert_close(last.logits, before_last.logits, rtol=0, atol=0)
    assert isinstance(as_tuple, tuple)


def test_outputs_with_labels() -> None:
    """``logits`` None; ``hidden_states``, ``return_dict=False`` and ``logits_to_keep`` as HF's."""
    model = tiny("llama")
    ids, labels = batch()
    with torch.no_grad():
        ref = model(ids, labels=labels, output_hidden_states=True)
        ut.fuse_lm_head(model)
        out = model(ids, labels=labels, output_hidden_states=True)
        as_tuple = model(ids, labels=labels, return_dict=False)
        kept = model(ids[:, :5], labels=labels[:, :5], logits_to_keep=5)  # all 5 positions kept
        kept_ref = ut.unfuse_lm_head(model)(ids[:, :5], labels=labels[:, :5])
    assert out.logits is None and len(out.hidden_states) == len(ref.hidden_states) == 3
    for a, b in zip(out.hidden_states, ref.hidden_states):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert isinstance(as_tuple, tuple) and as_tuple[1] is None  # HF's places: (loss, logits, ...)
    torch.testing.assert_close(as_tuple[0], ref.loss, rtol=1e-5, atol=0)
    torch.testing.assert_close(kept.loss, kept_ref.loss, rtol=1e-5, atol=0)


def test_fuse_twice_and_unfuse() -> None:
    model, other = tiny("qwen2"), tiny("qwen2")
    cls_forward = type(model).forward
    assert ut.fuse_lm_head(model) is model
    fused = model.forward
    assert ut.fuse_lm_head(model) is model and model.forward is fused  # a second call: no change
    assert "forward" not in other.__dict__ and type(model).forward is cls_forward  # this instance only
    ids, labels = batch()
    assert model(ids, labels=labels).logits is None and other(ids, labels=labels).logits is not None
    assert ut.unfuse_lm_head(model) is model
    assert "forward" not in model.__dict__ and model(ids, labels=labels).logits is not None
    assert ut.unfuse_lm_head(model) is model  # not fused: nothing to do


def test_a_copy_is_fused_on_its_own() -> None:
    """``copy.deepcopy`` of a fused model: fused, and its forward runs the copy."""
    model = ut.fuse_lm_head(tiny("llama"))
    twin = copy.deepcopy(model)
    with torch.no_grad():
        for p in twin.parameters():
            p.mul_(2.0)
    ids, labels = batch()
    out, ref = twin(ids, labels=labels), ut.unfuse_lm_head(copy.deepcopy(twin))(ids, labels=labels)
    assert out.logits is None and ref.logits is not None
    torch.testing.assert_close(out.loss, ref.loss, rtol=1e-5, atol=0)


def test_an_instance_forward_is_kept() -> None:
    """A forward set on the instance before (accelerate's hooks set one) runs without labels and is
    put back by unfuse."""
    model = tiny("llama")
    calls = []
    inner = model.forward

    def hooked(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return inner(*args, **kwargs)

    model.forward = hooked
    ut.fuse_lm_head(model)
    ids, labels = batch()
    with torch.no_grad():
        model(ids)
        assert calls == [1]
        assert model(ids, labels=labels).logits is None
    ut.unfuse_lm_head(model)
    assert model.forward is hooked


def test_the_signature_is_the_models() -> None:
    """The Trainer reads ``forward``'s signature: ``**kwargs`` (it then passes ``num_items_in_batch``)."""
    import inspect

    model = tiny("llama")
    before = inspect.signature(model.forward)
    assert inspect.signature(ut.fuse_lm_head(model).forward) == before


def test_chunk_size() -> None:
    model = tiny("mistral")
    ids, labels = batch()
    unfused = step(model, ids, labels=labels)
    assert_same(step(ut.fuse_lm_head(model, chunk_size=7), ids, labels=labels), unfused)
    with pytest.raises(ValueError, match="chunk_size: expected a positive number"):
        ut.fuse_lm_head(tiny("mistral"), chunk_size=0)
    with pytest.raises(TypeError, match="chunk_size: expected a positive number"):
        ut.fuse_lm_head(tiny("mistral"), chunk_size=2.0)


class _Doubled(transformers.LlamaForCausalLM):
    """Another post-processing of the logits, which fuse_lm_head does not know."""

    def forward(self, input_ids=None, labels=None, **kwargs):  # noqa: ANN001, ANN003, ANN201
        outputs = self.model(input_ids=input_ids, **kwargs)
        hidden_states = outputs.last_hidden_state
        logits = self.lm_head(hidden_states)
        logits = logits * 2.0
        loss = None
        if labels is not None:
            loss = self.loss_function(logits=logits, labels=labels, vocab_size=self.config.vocab_size, **kwargs)
        return transformers.modeling_outputs.CausalLMOutputWithPast(loss=loss, logits=logits)


class _Tagged(transformers.LlamaForCausalLM):
    """A parameter the forward uses for something else than the base model."""

    def forward(self, input_ids=None, labels=None, temperature=1.0, **kwargs):  # noqa: ANN001, ANN003, ANN201
        outputs = self.model(input_ids=input_ids, **kwargs)
        hidden_states = outputs.last_hidden_state / temperature
        logits = self.lm_head(hidden_states)
        loss = None
        if labels is not None:
            loss = self.loss_function(logits=logits, labels=labels, vocab_size=self.config.vocab_size, **kwargs)
        return transformers.modeling_outputs.CausalLMOutputWithPast(loss=loss, logits=logits)


def _config(**extra: object) -> object:
    return transformers.LlamaConfig(**{**TINY, "head_dim": D // HEADS, **extra})


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: torch.nn.Linear(3, 4), TypeError, r"model: expected a Hugging Face \*ForCausalLM model, got Linear"),
        (lambda: transformers.LlamaModel(_config()), TypeError, r"got LlamaModel \(no \*ForCausalLM class\)"),
        (lambda: transformers.LlamaForSequenceClassification(_config()), TypeError, r"\*ForCausalLM"),
        (lambda: _with(tiny("llama"), lm_head=torch.nn.Sequential(torch.nn.Linear(D, V))), TypeError,
         r"model.lm_head: expected a torch.nn.Linear .* got Sequential"),
        (lambda: _with(tiny("llama"), loss_function=lambda **kw: 0), ValueError,
         r"model.loss_function: expected HF's ForCausalLMLoss, got '<lambda>'"),
        (lambda: transformers.MixtralForCausalLM(transformers.MixtralConfig(**TINY, num_local_experts=2,
                                                                            head_dim=D // HEADS)),
         ValueError, r"MixtralForCausalLM.forward updates loss by"),
        (lambda: _Doubled(_config()), ValueError, r"_Doubled.forward computes the logits by `logits = logits \* 2.0`"),
        (lambda: _Tagged(_config()), ValueError, r"uses its parameters \['temperature'\] other than by passing"),
    ],
    ids=["not-a-model", "base-model", "classifier", "wrapped-head", "custom-loss", "moe-aux-loss",
         "other-post-processing", "other-parameter"],
)
def test_unsupported_layouts_refuse(make, error, match) -> None:  # noqa: ANN001
    model = make()
    with pytest.raises(error, match=match):
        ut.fuse_lm_head(model)
    assert "forward" not in getattr(model, "__dict__", {})  # nothing changed


def _with(model: torch.nn.Module, **attributes: object) -> torch.nn.Module:
    for name, value in attributes.items():
        setattr(model, name, value)
    return model


class _Rows(torch.utils.data.Dataset):
    """A tiny language-modelling data set: input_ids and labels (a -100 prompt in some rows)."""

    def __init__(self, n: int = 12, t: int = 10) -> None:
        g = torch.Generator().manual_seed(5)
        self.ids = torch.randint(3, V, (n, t), generator=g)
        self.labels = self.ids.clone()
        self.labels[::3, :4] = -100

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "labels": self.labels[i]}


def _train(model: torch.nn.Module, out: pathlib.Path) -> dict[str, torch.Tensor]:
    args = transformers.TrainingArguments(
        output_dir=str(out), per_device_train_batch_size=2, gradient_accumulation_steps=2, max_steps=3,
        learning_rate=0.1, optim="sgd", seed=0, data_seed=0, report_to=[], save_strategy="no",
        logging_strategy="no", use_cpu=True, dataloader_num_workers=0, disable_tqdm=True,
    )
    transformers.Trainer(model=model, args=args, train_dataset=_Rows()).train()
    return {n: p.detach().clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("arch", ["llama", "gemma2"])
def test_trainer_ends_with_the_same_parameters(arch: str, tmp_path: pathlib.Path) -> None:
    """A stock Trainer (gradient accumulation: it passes num_items_in_batch) on the fused model and
    on the same model unfused."""
    model = tiny(arch)
    start = copy.deepcopy(model)
    unfused = _train(model, tmp_path / "unfused")
    fused = _train(ut.fuse_lm_head(copy.deepcopy(start)), tmp_path / "fused")
    moved = max((unfused[n] - start.state_dict()[n]).abs().max().item() for n in unfused)
    assert moved > 1e-3  # the run trained
    for name in unfused:
        torch.testing.assert_close(fused[name], unfused[name], rtol=1e-4, atol=1e-6, msg=name)


def memory_child(variant: str, vocab: int, tokens: int) -> None:
    """A fresh process: the peak memory one forward + backward of a small Llama adds (JSON line)."""
    import json

    from unilosses.bench.peak import peak_extra, single_thread_child

    single_thread_child("torch")
    config = transformers.LlamaConfig(**{**TINY, "vocab_size": vocab, "hidden_size": 64, "head_dim": 16})
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config).train()
    if variant == "fused":
        ut.fuse_lm_head(model)
    ids = torch.randint(3, vocab, (tokens // 512, 512), generator=torch.Generator().manual_seed(0))
    model(ids[:1, :64], labels=ids[:1, :64]).loss.backward()  # warm-up: first-call allocations
    model.zero_grad(set_to_none=False)  # the gradient buffers exist before the measured step, in both
    print(json.dumps({"variant": variant, **peak_extra(lambda: model(ids, labels=ids).loss.backward())}))


def test_peak_memory_fused_against_unfused(record_property: pytest.FixtureRequest) -> None:
    """A Llama (hidden 64, 2 layers) training step at V=32,000 and 2,048 tokens, where the logits
    dominate: the fused step's extra peak is under a fifth of the unfused one's."""
    from concurrent.futures import ThreadPoolExecutor

    shape = (32000, 2048)
    with ThreadPoolExecutor(2) as pool:  # two processes at once: each measures its own peak
        fused, unfused = pool.map(
            lambda variant: run_child("test_hf", "memory_child", variant, shape)["extra_bytes"], ["fused", "unfused"]
        )
    ratio = fused / unfused
    record_property("peak_memory_ratio", ratio)
    print(f"\npeak extra memory: fused {fused / 2**20:.0f} MiB, unfused {unfused / 2**20:.0f} MiB, ratio {ratio:.3f}")
    assert ratio < 0.2


def test_the_docs_example_runs() -> None:
    """docs/lm-head.md's Hugging Face example (skipped by tests/test_docs.py, which runs without
    transformers) runs here as shown."""
    from test_docs import DOCS, blocks

    found = [b for b in blocks((DOCS / "lm-head.md").read_text()) if "transformers" in b.code]
    assert found and all(b.skip for b in found)
    namespace: dict[str, object] = {"__name__": "docs_lm_head_hf"}
    for b in found:
        exec(compile(b.code, f"docs/lm-head.md:{b.line}", "exec"), namespace)  # noqa: S102 - the page's example
