"""Is the count step read as an item when its value is near zero? The count value as a dose.

With the paper's standardised count (mean 0, variance 1 over repeats 1..10), 5 and 6 repetitions
are -0.17 and +0.17 on the count channel, and the count step is otherwise all zeros: the input
that training with `zero_items` teaches the circuit to take as an item. This script holds the
items fixed and sets the count step's value by hand, then scores only the first repetition of the
copy (every count asks for at least one, so the target is the same for every value, and neither
the stop nor the count is scored). The episodes are laid out by repeats.py's `episode_batch`.
`SEQUENCES` sequences of uniform 8-bit items with no all-zero item, at lengths 10 (the training
range's longest) and 20; per count value, the copy's bit errors per sequence in that repetition
(mean), the share of sequences whose first output step is already wrong, and failures (more than
a fifth of the scored bits wrong).

    python docs/results/rc-zero-items/count_value.py CHECKPOINT... > count-value.md
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from memagents.evaluation import load_circuit
from memtasks.sampling import normalise_repeats

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rc-repeated-items"))
import repeats as task  # noqa: E402  (the episode layout, checked bit-equal to the env's)

BITS, SEQUENCES, SEED = task.BITS, 500, 11
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
def first_repetition(circuit, items: np.ndarray, value: float, kwargs: dict):
    """Wrong bits per sequence in the copy's first repetition; is output step 0 already wrong?"""
    L = items.shape[1]
    inputs, targets, _ = task.episode_batch(items, 1, kwargs)
    inputs[:, L + 1, BITS + 1] = value  # the count step, set by hand
    state = circuit.initial_state(inputs.shape[0])
    wrong = torch.zeros(inputs.shape[0], L)
    for t in range(2 * L + 2):  # up to the first repetition's last step; the stop is not scored
        logits, state = circuit(inputs[:, t], state)
        if t >= L + 2:
            wrong[:, t - L - 2] = ((logits[:, :BITS] > 0).float() != targets[:, t, :BITS]).sum(-1)
    return wrong.sum(1).numpy(), (wrong[:, 0] > 0).numpy()


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
        values = [(count_value(r, kwargs), f"({r})") for r in REPEATS] + [(0.0, "(none)")]
        for value, name in sorted(values):
            label = f"{value:+.2f} {name}"
            cells = []
            for length in LENGTHS:
                wrong, first = first_repetition(circuit, item_sets[length], value, kwargs)
                whole = wrong > BITS * length / 5
                cells.append(f"{wrong.mean():.2f} / {first.mean():.0%} / {whole.mean():.0%}")
            print(f"| {path} | {label} | {cells[0]} | {cells[1]} |")
    print(
        f"\n{SEQUENCES} sequences per length (seed {SEED}), the same for every count value; "
        f"made by `python docs/results/rc-zero-items/count_value.py {' '.join(paths)}` (1 thread)."
    )


if __name__ == "__main__":
    main(sys.argv[1:])
