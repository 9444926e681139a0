"""Is the count step read as an item when its value is near zero? The count value as a dose.

With the paper's standardised count (mean 0, variance 1 over repeats 1..10), 5 and 6 repetitions
are -0.17 and +0.17 on the count channel, and the count step is otherwise all zeros: the input
that training with `zero_items` teaches the circuit to take as an item. This script holds the
items fixed and sets the count step's value by hand, then scores only the first repetition of the
copy (every count asks for at least one, so the target is the same for every value, and neither
the stop nor the count is scored). `SEQUENCES` sequences of uniform 8-bit
items with no all-zero item, at lengths 10 (the training range's longest) and 20; per count value,
the copy's bit errors per sequence in those repetitions (mean), the share of sequences whose
first output step is already wrong, and failures (more than a fifth of the scored bits wrong).

    python docs/results/rc-zero-items/count_value.py CHECKPOINT... > count-value.md
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from memagents.evaluation import load_circuit
from memtasks.sampling import normalise_repeats

BITS, SEQUENCES, SEED, SCORED = 8, 500, 11, 1
LENGTHS = (10, 20)
REPEATS = (1, 2, 3, 4, 5, 6, 7, 8, 10, 20)  # the counts whose values are fed, and 0.0


def count_value(repeats: int, kwargs: dict) -> float:
    """The value the env writes on the count channel for `repeats`, under the checkpoint's task."""
    return float(
        normalise_repeats(
            repeats,
            min_repeats=kwargs["min_repeats"],
            max_repeats=kwargs["max_repeats"],
            repeat_norm=kwargs.get("repeat_norm", 10.0),
            normalisation=kwargs.get("normalisation", "standard"),
        )
    )


@torch.no_grad()
def scored_copy(circuit, items: np.ndarray, value: float):
    """Wrong bits per sequence in the first SCORED repetitions; is output step 0 already wrong?"""
    B, L, _ = items.shape
    T = L + 2 + L * SCORED
    inputs = np.zeros((B, T, BITS + 2), np.float32)
    inputs[:, 0, BITS] = 1.0
    inputs[:, 1 : L + 1, :BITS] = items
    inputs[:, L + 1, BITS + 1] = value
    targets = np.tile(items, (1, SCORED, 1))  # (B, L * SCORED, BITS)
    state = circuit.initial_state(B)
    wrong = np.zeros((B, L * SCORED))
    x = torch.from_numpy(inputs)
    for t in range(T):
        logits, state = circuit(x[:, t], state)
        if t >= L + 2:
            bits = (logits[:, :BITS] > 0).float().numpy()
            wrong[:, t - L - 2] = (bits != targets[:, t - L - 2]).sum(-1)
    return wrong.sum(1), wrong[:, 0] > 0


def main(paths: list[str]) -> None:
    torch.set_num_threads(1)
    rng = np.random.default_rng(SEED)
    print(
        "| checkpoint | count value (repeats) | length 10: bit errors in the first repetition / "
        "first step wrong / failures | length 20: the same |"
    )
    print("| --- | --- | --- | --- |")
    item_sets = {}
    for length in LENGTHS:
        codes = rng.integers(1, 2**BITS, (SEQUENCES, length))
        item_sets[length] = ((codes[..., None] >> np.arange(BITS)) & 1).astype(np.float32)
    for path in paths:
        loaded = load_circuit(path)
        circuit, kwargs = loaded.circuit.eval(), loaded.config.env_kwargs
        values = {f"{count_value(r, kwargs):+.2f} ({r})": count_value(r, kwargs) for r in REPEATS}
        values["+0.00 (none)"] = 0.0
        for label, value in sorted(values.items(), key=lambda kv: kv[1]):
            cells = []
            for length in LENGTHS:
                wrong, first = scored_copy(circuit, item_sets[length], value)
                whole = wrong > BITS * length * SCORED / 5
                cells.append(f"{wrong.mean():.2f} / {first.mean():.0%} / {whole.mean():.0%}")
            print(f"| {path} | {label} | {cells[0]} | {cells[1]} |")
    print(
        f"\n{SEQUENCES} sequences per length (seed {SEED}), the same for every count value; "
        f"made by `python docs/results/rc-zero-items/count_value.py {' '.join(paths)}` (1 thread)."
    )


if __name__ == "__main__":
    main(sys.argv[1:])
