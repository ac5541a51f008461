"""Peak extra memory of a forward + backward in torch: unilosses beside F.cross_entropy.

Each variant runs in a fresh subprocess (:func:`unilosses.bench.memory`): it
allocates (2048, 50257) float32 logits, resets the kernel's resident-set
high-water mark (``/proc/self/clear_refs``), runs the loss and its backward, and
reads the high-water mark (``VmHWM``). Peak minus the resident size before the
call is the memory the loss needed at its peak; it is also printed in units of
the logits' size, so that a one-hot of the logits (one more such array) would
show up as +1::

    python benchmarks/memory.py             # label_smoothing=0.1: plain, class weights, ignore_index, focal
    python benchmarks/memory.py --quick     # (64, 1000)
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from unilosses.bench import memory  # noqa: E402

PAIRS = (
    ("native", "unilosses"),
    ("native-weights", "unilosses-weights"),
    ("native-ignore", "unilosses-ignore"),
    ("unilosses", "focal"),
    ("unilosses-weights", "focal-weights"),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="(64, 1000) logits, one run per variant")
    parser.add_argument("--repeats", type=int, help="runs per variant (the smallest peak is kept)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    variants = tuple(dict.fromkeys(v for pair in PAIRS for v in pair))
    m = memory(args.quick, variants, args.repeats)
    if args.json:
        print(json.dumps(m, indent=2))
        return 0
    shape = m["native"]["shape"]
    print(f"forward + backward, label_smoothing=0.1, logits {shape[0]} x {shape[1]} float32, "
          f"method: {m['native']['method']}\n")
    print("| variant | reference | peak extra | reference peak extra | ratio | in logits' sizes |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for ref, ours in PAIRS:
        a, b = m[ours]["extra_bytes"], m[ref]["extra_bytes"]
        size = m[ours]["logits_bytes"]
        print(f"| {ours} | {ref} | {a / 2**20:.0f} MiB | {b / 2**20:.0f} MiB | {a / b:.2f} | "
              f"{a / size:.2f} vs {b / size:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
