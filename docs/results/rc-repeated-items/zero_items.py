"""Is it the repeat, or the all-zero item? Failures by how many items are all zeros.

repeats.py found that a repeated item adds failures only in seeds 4 and 7, most of them in the
variants whose repeated item is 00000000: an all-zero item given twice. This script tests that
directly. `SEQUENCES` sequences of 20 items at (length 20, repeats 10), four kinds that differ
only in which items are all zeros:
- "no zero item": 20 distinct items, none all zeros;
- "one zero item": the same, one item (place uniform) set to all zeros;
- "two zero items": two items (places uniform, distinct) set to all zeros;
- "a non-zero item twice": no zero item, one item copied to another place (a repeat, as in
  repeats.py, but never of the zero item).
The places and the other items are the same across the four kinds (one draw, then changed), so
the kinds are paired. Failures: more than repeats.WHOLE_BITS wrong bits; then the same at (10, 10).

    python docs/results/rc-repeated-items/zero_items.py CHECKPOINT... > zero-items.md
"""

from __future__ import annotations

import sys

import numpy as np
import repeats as task
import torch

from memagents.evaluation import load_circuit

SEQUENCES, SEED = 2000, 7


def kinds(rng: np.random.Generator, length: int) -> dict[str, np.ndarray]:
    """The four kinds of sequence, (SEQUENCES, length, BITS) each, paired row by row."""
    codes = np.stack([rng.choice(np.arange(1, 2**task.BITS), length, replace=False)
                      for _ in range(SEQUENCES)])  # fmt: skip
    places = np.stack([rng.choice(length, 2, replace=False) for _ in range(SEQUENCES)])
    rows = np.arange(SEQUENCES)
    one, two, twice = codes.copy(), codes.copy(), codes.copy()
    one[rows, places[:, 0]] = 0
    two[rows, places[:, 0]] = 0
    two[rows, places[:, 1]] = 0
    twice[rows, places[:, 1]] = codes[rows, places[:, 0]]
    as_bits = lambda c: ((c[..., None] >> np.arange(task.BITS)) & 1).astype(np.float32)  # noqa: E731
    return {
        "no zero item": as_bits(codes),
        "one zero item": as_bits(one),
        "two zero items": as_bits(two),
        "a non-zero item twice": as_bits(twice),
    }


def main(paths: list[str]) -> None:
    torch.set_num_threads(1)
    print(f"{SEQUENCES} sequences of each kind; failures: more than {task.WHOLE_BITS} wrong bits\n")
    for length in (20, 10):
        print(f"(length {length}, repeats 10)\n")
        header = ["checkpoint"] + [f"{kind}: bit errors / failures" for kind in kinds(
            np.random.default_rng(SEED), 2)]  # fmt: skip
        print("| " + " | ".join(header) + " |")
        print("|" + " --- |" * len(header))
        for path in paths:
            loaded = load_circuit(path)
            circuit, env_kwargs = loaded.circuit.eval(), loaded.config.env_kwargs
            cells = [path]
            for items in kinds(np.random.default_rng(SEED), length).values():
                errors = task.bit_errors(circuit, items, 10, env_kwargs)
                cells.append(f"{errors.mean():.2f} / {(errors > task.WHOLE_BITS).sum()}")
            print("| " + " | ".join(cells) + " |")
        print()
    print(f"Made by `python docs/results/rc-repeated-items/zero_items.py {' '.join(paths)}` "
          "(1 thread).")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
