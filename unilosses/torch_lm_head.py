"""Hugging Face causal language models with a fused head: :func:`fuse_lm_head`.

``fuse_lm_head(model)`` gives one ``transformers`` ``*ForCausalLM`` instance a ``forward`` that,
when ``labels`` are given, takes the base model's last hidden states and computes HF's loss with
:func:`unilosses.linear_cross_entropy` (the logits never exist, in the forward pass or in the
backward pass); without ``labels`` the class's own ``forward`` runs, logits and all. Only that
instance changes (its ``forward`` attribute, a ``_FusedForward``); :func:`unfuse_lm_head`
restores it.

The new ``forward`` replays the class's own: it is read once, from the class's source, when the
model is fused, and accepted only where it is the standard one: ``outputs = self.model(...)``,
``logits = self.lm_head(hidden_states)``, then only the post-processings known here (Gemma's
``final_logit_softcapping``, Cohere's ``logit_scale``, Granite's ``logits_scaling``), then
``loss = self.loss_function(...)`` with HF's causal loss, returned in a ``CausalLMOutputWithPast``.
Any other layout is a TypeError or ValueError naming what differs, rather than another loss.
transformers is never imported here: a model that is one has imported it already.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import textwrap
import types
from collections.abc import Callable
from typing import Any

import torch

import unilosses

__all__ = ["fuse_lm_head", "unfuse_lm_head"]

#: the forward's parameters that the fused forward handles itself rather than passing to ``self.model``
_OWN = ("labels", "logits_to_keep")
#: ``logits = self.lm_head(hidden_states)`` (transformers 5), or with the positions sliced (4.x),
#: upcast or not (the fused loss is float32 anyway)
_HEAD = re.compile(r"self\.lm_head\(hidden_states(\[[^\]]*\])?\)(\.float\(\))?")
#: the logits' post-processings understood here: the statement's right-hand side -> what it does
_POST: dict[str, str | None] = {
    "logits / self.config.final_logit_softcapping": "softcap",
    "torch.tanh(logits)": "softcap",
    "logits * self.config.final_logit_softcapping": "softcap",
    "logits * self.logit_scale": "scale",
    "logits / self.config.logits_scaling": "inverse_scale",
    "logits.float()": None,  # HF's loss upcasts anyway; linear_cross_entropy's result is float32
}


@dataclasses.dataclass(frozen=True)
class _Plan:
    """What the fused forward does for one model, decided when it is fused."""

    original: Callable[..., Any] | None  # the instance's own ``forward`` attribute before (accelerate's hooks)
    signature: inspect.Signature  # the class's forward, without ``self``
    to_model: tuple[tuple[str, str | None, Any], ...]  # (base model keyword, forward parameter or None, constant)
    kwargs_to_model: bool  # ``self.model(..., **kwargs)``
    var_keyword: str | None  # the name of the forward's ``**kwargs``
    softcap: bool
    scale: bool
    inverse_scale: bool
    output: type  # the output class the forward returns (CausalLMOutputWithPast)
    fields: tuple[str, ...]  # its fields other than loss and logits, taken from the base model's outputs
    slicer: Callable[[Any, Any], Any]


def fuse_lm_head(model: Any, *, chunk_size: int | None = None) -> Any:
    """Make ``model(input_ids, labels=...)`` compute its loss without building the logits.

    After it, a Hugging Face ``*ForCausalLM`` model called with ``labels`` (and
    ``num_items_in_batch``, ``shift_labels``, ``ignore_index`` as HF's loss takes them) returns HF's
    loss, and the same gradients for every parameter, through
    :func:`unilosses.linear_cross_entropy`: the ``(tokens x vocab)`` logits never exist.
    Only this instance changes (its ``forward``); the class and other instances are untouched.

    Parameters
    ----------
    model : transformers ``*ForCausalLM``
        A model with the standard layout: a base model ``model.model`` returning the hidden states
        and a ``torch.nn.Linear`` head ``model.lm_head`` (tied to the embedding or not), with HF's
        causal loss (``model.loss_function``). Llama, Mistral, Qwen2/3, Gemma 2/3 (their final
        logit softcap), Phi-3, Cohere (``logit_scale``), Granite (``logits_scaling``) and every
        other model whose ``forward`` is the standard one.
    chunk_size : int, optional
        Tokens per chunk, passed to :func:`unilosses.linear_cross_entropy` (its default otherwise).

    Returns
    -------
    model
        The same object, fused. Fusing a fused model again changes nothing but a ``chunk_size`` given.

    Raises
    ------
    TypeError
        If ``model`` is not a causal LM of the standard layout (no ``model.model``, a head that is
        not a ``torch.nn.Linear``, such as a LoRA-wrapped head, or a class that is no
        ``*ForCausalLM``).
    ValueError
        If its ``forward`` does something to the logits or the loss not known here (another
        post-processing, an auxiliary loss, another loss function or output class), or its
        source cannot be read.

    Notes
    -----
    With ``labels``, ``outputs.logits`` is None (as with Liger-Kernel's patched models): ask for
    them with a call without ``labels``; ``return_dict=False`` gives HF's tuple with None in the
    logits' place. ``logits_to_keep`` and the base model's outputs (``hidden_states``,
    ``attentions``, the cache) behave as before. The loss is HF's:
    the labels shifted by one (or ``shift_labels`` as given), ``ignore_index=-100``, the mean over
    the labels that count, or their sum divided by ``num_items_in_batch`` when it is given (the
    ``Trainer``'s gradient accumulation); where no label counts, 0 (HF's is NaN). Its ``W`` gradient is handed to autograd once (see
    :func:`unilosses.linear_cross_entropy`): a second backward through the same graph is a
    RuntimeError.
    """
    fused = getattr(model, "__dict__", {}).get("forward")
    if isinstance(fused, _FusedForward):
        if chunk_size is not None:
            fused.chunk_size = _chunk_size(chunk_size)
        return model
    fused = _FusedForward(model, _plan(model), _chunk_size(chunk_size))
    object.__setattr__(model, "forward", fused)  # the instance's attribute: nn.Module.__call__ calls it
    return model


def unfuse_lm_head(model: Any) -> Any:
    """Undo :func:`fuse_lm_head`: ``model``'s ``forward`` is what it was before (a no-op on a model
    that is not fused). Returns ``model``."""
    fused = getattr(model, "__dict__", {}).get("forward")
    if not isinstance(fused, _FusedForward):
        return model
    if fused.plan.original is None:
        del model.__dict__["forward"]
    else:
        object.__setattr__(model, "forward", fused.plan.original)
    return model


def _chunk_size(value: Any) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise (ValueError if isinstance(value, int) and not isinstance(value, bool) else TypeError)(
            f"chunk_size: expected a positive number of tokens or None, got {value!r}"
        )
    return value


def _plan(model: Any) -> _Plan:
    """Check ``model``'s layout and read its class's forward: a TypeError or ValueError naming what
    is not the standard causal LM."""
    cls = type(model)
    name = cls.__name__
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model: expected a Hugging Face *ForCausalLM torch model, got {name}")
    if not any(c.__name__.endswith("ForCausalLM") for c in cls.__mro__):
        raise TypeError(f"model: expected a Hugging Face *ForCausalLM model, got {name} (no *ForCausalLM class)")
    base, head = getattr(model, "model", None), getattr(model, "lm_head", None)
    if not isinstance(base, torch.nn.Module):
        raise TypeError(f"model: {name} has no base model `model.model` (the standard layout); cannot fuse its head")
    if type(head) is not torch.nn.Linear:
        raise TypeError(
            f"model.lm_head: expected a torch.nn.Linear (weight (vocab, hidden)), got {type(head).__name__} "
            f"in {name}; cannot fuse it (a wrapped head, such as LoRA's, computes something else)"
        )
    loss_fn = getattr(model, "loss_function", None)
    if getattr(loss_fn, "__name__", None) != "ForCausalLMLoss":
        raise ValueError(
            f"model.loss_function: expected HF's ForCausalLMLoss, got {getattr(loss_fn, '__name__', loss_fn)!r} "
            f"in {name}; cannot fuse another loss"
        )
    forward = cls.forward
    try:
        source = textwrap.dedent(inspect.getsource(forward))
    except (OSError, TypeError) as e:
        raise ValueError(f"model: cannot read {name}.forward's source ({e}); cannot check that it is standard") from None
    fn = next(n for n in ast.walk(ast.parse(source)) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))
    signature = inspect.signature(forward)
    params = list(signature.parameters.values())[1:]  # without self
    signature = signature.replace(parameters=params)
    names = {p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    var_keyword = next((p.name for p in params if p.kind is p.VAR_KEYWORD), None)
    if "labels" not in names:
        raise ValueError(f"model: {name}.forward takes no `labels`; cannot fuse its loss")

    def refuse(what: str) -> ValueError:
        return ValueError(f"model: {name}.forward {what}; fuse_lm_head knows the standard causal LM forward only")

    calls = [n for n in ast.walk(fn) if isinstance(n, ast.Call) and ast.unparse(n.func) == "self.model"]
    if len(calls) != 1:
        raise refuse(f"calls self.model {len(calls)} times (expected once)")
    (call,) = calls
    if call.args:
        raise refuse("passes positional arguments to self.model")
    to_model: list[tuple[str, str | None, Any]] = []
    kwargs_to_model = False
    for kw in call.keywords:
        if kw.arg is None:
            if var_keyword is None or ast.unparse(kw.value) != var_keyword:
                raise refuse(f"passes **{ast.unparse(kw.value)} to self.model")
            kwargs_to_model = True
        elif isinstance(kw.value, ast.Name) and kw.value.id in names:
            to_model.append((kw.arg, kw.value.id, None))
        elif isinstance(kw.value, ast.Constant):
            to_model.append((kw.arg, None, kw.value.value))
        else:
            raise refuse(f"passes {kw.arg}={ast.unparse(kw.value)} to self.model")
    unused = names - {p for _, p, _ in to_model if p} - set(_OWN)
    if unused:
        raise refuse(f"uses its parameters {sorted(unused)} other than by passing them to self.model")
    post: set[str] = set()
    head_calls = 0
    for node in ast.walk(fn):
        if isinstance(node, (ast.AugAssign, ast.AnnAssign)) and ast.unparse(node.target) in ("logits", "loss"):
            raise refuse(f"updates {ast.unparse(node.target)} by `{ast.unparse(node)}`")
        if not isinstance(node, ast.Assign):
            continue
        targets = {ast.unparse(t) for t in node.targets}
        value = ast.unparse(node.value)
        if "logits" in targets:
            if _HEAD.fullmatch(value):
                head_calls += 1
            elif value in _POST:
                effect = _POST[value]
                if effect is not None:
                    post.add(effect)
            else:
                raise refuse(f"computes the logits by `logits = {value}`")
        if "loss" in targets and value != "None" and not value.startswith("self.loss_function("):
            raise refuse(f"computes the loss by `loss = {value}`")
    if head_calls != 1:
        raise refuse("does not compute `logits = self.lm_head(hidden_states)` once")
    if "softcap" in post and not all(s in source for s in _POST if _POST[s] == "softcap"):
        raise refuse("caps the logits another way than Gemma's final_logit_softcapping")
    returns = [n for n in ast.walk(fn) if isinstance(n, ast.Return)]
    kinds = {ast.unparse(r.value.func) for r in returns if isinstance(r.value, ast.Call)}
    if len(kinds) != 1 or len(returns) != sum(isinstance(r.value, ast.Call) for r in returns):
        raise refuse("does not return one output class")
    (kind,) = kinds
    namespace = inspect.unwrap(forward).__globals__  # the names the forward's module sees
    output = namespace.get(kind)
    if kind != "CausalLMOutputWithPast" or not dataclasses.is_dataclass(output):
        raise refuse(f"returns {kind} (expected CausalLMOutputWithPast: other outputs carry other losses)")
    slicer = namespace.get("slice_logits_to_keep", _slice)
    return _Plan(
        original=model.__dict__.get("forward"),
        signature=signature,
        to_model=tuple(to_model),
        kwargs_to_model=kwargs_to_model,
        var_keyword=var_keyword,
        softcap="softcap" in post,
        scale="scale" in post,
        inverse_scale="inverse_scale" in post,
        output=output,  # type: ignore[arg-type]
        fields=tuple(f.name for f in dataclasses.fields(output) if f.name not in ("loss", "logits")),
        slicer=slicer,
    )


def _slice(hidden: Any, logits_to_keep: Any) -> Any:
    """transformers 4.x: the last ``logits_to_keep`` positions (0: all), or the positions given."""
    keep = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
    return hidden[:, keep, :]


class _FusedForward:
    """A fused model's ``forward`` (see :func:`fuse_lm_head`): without ``labels`` the one it
    replaced; with them, the base model's hidden states into :func:`unilosses.linear_cross_entropy`,
    and ``outputs.logits`` None.

    An object rather than a closure: ``copy.deepcopy`` and pickling of the model take it along,
    bound to the copy. Its ``__signature__`` is the class's forward's (``Trainer`` reads it)."""

    def __init__(self, model: Any, plan: _Plan, chunk_size: int | None) -> None:
        self.model = model
        self.plan = plan
        self.chunk_size = chunk_size
        self.__signature__ = plan.signature
        self.__doc__ = type(self).__doc__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        model, plan = self.model, self.plan
        arguments = plan.signature.bind(*args, **kwargs).arguments
        if arguments.get("labels") is None:
            original = plan.original or types.MethodType(type(model).forward, model)
            return original(*args, **kwargs)
        extra = dict(arguments.get(plan.var_keyword, {})) if plan.var_keyword else {}
        return_dict = extra.pop("return_dict", None)
        if return_dict is None:
            return_dict = getattr(getattr(model, "config", None), "return_dict", True)
        call = {k: (arguments.get(p, plan.signature.parameters[p].default) if p else c) for k, p, c in plan.to_model}
        if plan.kwargs_to_model:
            call.update(extra)
        outputs = model.model(**call)
        hidden = outputs[0]
        keep = arguments.get("logits_to_keep", 0)
        if not (isinstance(keep, int) and keep == 0):
            hidden = plan.slicer(hidden, keep)
        loss = _causal_lm_loss(model, plan, self.chunk_size, hidden, arguments["labels"], extra)
        out = plan.output(loss=loss, logits=None, **{f: getattr(outputs, f, None) for f in plan.fields})
        if return_dict:
            return out
        return (loss, None, *out.to_tuple()[1:])  # HF's tuple, None where the logits were


def _causal_lm_loss(model: Any, plan: _Plan, chunk_size: int | None, hidden: Any, labels: Any, extra: dict) -> Any:
    """HF's ``ForCausalLMLoss`` of ``lm_head(hidden)`` after the model's post-processing, fused."""
    ignore_index = extra.get("ignore_index", -100)
    shift_labels = extra.get("shift_labels")
    num_items = extra.get("num_items_in_batch")
    head = model.lm_head
    weight, bias = head.weight, head.bias
    scale: Any = None
    if plan.scale:
        scale = model.logit_scale
    if plan.inverse_scale:
        scale = 1.0 / model.config.logits_scaling
    if scale is not None:  # (h s) @ W.T + b s = s (h @ W.T + b): the logits scaled, never built
        hidden = hidden * scale
        bias = None if bias is None else bias * scale
    softcap = model.config.final_logit_softcapping if plan.softcap else None
    if shift_labels is None:  # tokens < n predict n; the last one predicts nothing
        labels = torch.nn.functional.pad(labels, (0, 1), value=ignore_index)
        shift_labels = labels[..., 1:]
    y = shift_labels.reshape(-1).to(hidden.device)
    h = hidden.reshape(-1, hidden.shape[-1])
    options: dict[str, Any] = {"ignore_index": ignore_index, "softcap": softcap, "chunk_size": chunk_size}
    if num_items is None:  # torch's mean over the labels that count
        return unilosses.linear_cross_entropy(y, h, weight, bias, reduction="mean_with_sample_weight", **options)
    if torch.is_tensor(num_items):
        num_items = num_items.to(h.device)
    return unilosses.linear_cross_entropy(y, h, weight, bias, reduction="sum", normalizer=num_items, **options)
