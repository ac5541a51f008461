"""linear_cross_entropy under jax.jit with the head's weight sharded over the vocabulary.

Run with ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` (tests/test_linear.py does).
Prints one JSON line: the largest difference from the unsharded values and gradients (hidden,
weight, bias; Auto and Explicit mesh axes), the largest collective in the compiled program (in
elements) beside the size of one chunk's logits and of the weight, and the collectives by kind.
"""

from __future__ import annotations

import json
import re
import sys

import jax
import numpy as np
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

import unilosses as ul
from unilosses.backends import linear_generic

N, D, V, CHUNK = 96, 16, 1000, 16  # V = 4 shards of 250 rows
# dW updated in blocks of 100 rows where that is done (one device): with 4 it must not be,
# since slicing W's sharded axis would gather W
linear_generic.DW_BLOCK_ELEMENTS = 100 * D
KW = {"chunk_size": CHUNK, "label_smoothing": 0.1, "z_loss": 1e-3, "ignore_index": -100, "reduction": "mean"}
_KINDS = ("all-reduce", "all-gather", "reduce-scatter", "all-to-all", "collective-permute")
_OP = re.compile(r"=\s*(.*?)\s(" + "|".join(_KINDS) + r")(?:-start)?\(")
_SHAPE = re.compile(r"[a-z]+[0-9]*\[([0-9,]*)\]")


def _inputs() -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, V, N)
    y[::7] = -100
    return (y, rng.standard_normal((N, D)).astype(np.float32), rng.standard_normal((V, D)).astype(np.float32),
            rng.standard_normal(V).astype(np.float32), rng.uniform(0.5, 2.0, V).astype(np.float32))


def _collectives(hlo: str) -> dict[str, int]:
    """The largest operand of each collective kind in the compiled HLO, in elements."""
    out: dict[str, int] = {}
    for line in hlo.splitlines():
        match = _OP.search(line)
        if match:
            result_type, kind = match.groups()
            for dims in _SHAPE.findall(result_type):
                size = int(np.prod([int(d) for d in dims.split(",") if d])) if dims else 1
                out[kind] = max(out.get(kind, 0), size)
    return out


def main() -> None:
    assert jax.device_count() == 4, jax.devices()
    y, h, w, b, cw = _inputs()

    def loss(h: jax.Array, w: jax.Array, b: jax.Array) -> jax.Array:
        return ul.linear_cross_entropy(y, h, w, b, class_weight=cw, **KW)

    step = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))
    ref_value, ref_grads = step(h, w, b)  # one device
    ref = [np.asarray(ref_value), *map(np.asarray, ref_grads)]
    result: dict = {"max_diff": 0.0}
    for axis_type in (AxisType.Auto, AxisType.Explicit):
        mesh = jax.make_mesh((4,), ("vocab",), axis_types=(axis_type,))
        with jax.set_mesh(mesh):
            ws = jax.device_put(w, NamedSharding(mesh, P("vocab", None)))
            bs = jax.device_put(b, NamedSharding(mesh, P("vocab")))
            hs = jax.device_put(h, NamedSharding(mesh, P()))
            value, grads = step(hs, ws, bs)
            got = [np.asarray(value), *map(np.asarray, grads)]
            result["max_diff"] = max(result["max_diff"], *(float(np.max(np.abs(a - e))) for a, e in zip(got, ref)))
            result[f"dW_sharding_{axis_type.name}"] = str(grads[1].sharding.spec)
            collectives = _collectives(step.lower(hs, ws, bs).compile().as_text())
            result[f"collectives_{axis_type.name}"] = collectives
            result["largest_collective"] = max(result.get("largest_collective", 0), *collectives.values(), 0)
    result.update({"chunk_logits": CHUNK * V, "chunk_dh": CHUNK * D, "weight": V * D, "hidden": N * D})
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
