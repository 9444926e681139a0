"""Does a repeated item make the feed-forward NTM fail at (length 20, repeats 10)? An intervention.

Section 19 found every whole failure of the pointer seeds on a sequence that repeats an item. That
is a correlation over 200 episodes; this script changes one item and nothing else. For each model:
`SEQUENCES` sequences of 20 random 8-bit items drawn with no item twice (the base), then two
variants of each that differ from the base in one item only, the item at place j (2..20, uniform):
- "repeat": item j set to a copy of an earlier item i (uniform on 1..j-1), so the sequence repeats
  one item, at distance d = j - i;
- "control": item j set to a fresh item that is in the sequence nowhere else (one item changed, no
  repeat).
Each sequence is then copied 10 times, the count on the count channel as the env gives it. Bit
errors per sequence (mean), perfect sequences, and failures (sequences with more than
`WHOLE_BITS` wrong bits, about a fifth of the 1,600 bits, far past a few frayed bits) are printed
per variant. The variants are paired with their base, so the table also counts the sequences
that fail in the variant but not in its base, and the other way round: a one-item change that
flips whether a sequence fails. Then the repeat's failures by distance (1-9, which training on
lengths 1..10 holds, and 10-19, which it never holds), and those whose repeated item is the
all-zero word (zero_items.py follows that up). The same at (10, 10), inside the training range.

The circuit is stepped by hand on the inputs built here (RepeatCopy's observations do not depend
on the model's outputs); the layout is the env's: a start marker, the items, the count, then
blank inputs while the copy is output, then the end marker target.

    python docs/results/rc-repeated-items/repeats.py CHECKPOINT... > repeats.md
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from memagents.evaluation import load_circuit
from memtasks.sampling import normalise_repeats

BITS, SEQUENCES, WHOLE_BITS, SEED = 8, 2000, 300, 2026


def episode_batch(items: np.ndarray, repeats: int, env_kwargs: dict):
    """items (B, L, BITS) 0/1 -> inputs (B, T, BITS + 2), targets (B, T, BITS + 1), mask (B, T)."""
    B, L, _ = items.shape
    T = L * (repeats + 1) + 3
    inputs = np.zeros((B, T, BITS + 2), np.float32)
    targets = np.zeros((B, T, BITS + 1), np.float32)
    mask = np.zeros((B, T), np.float32)
    inputs[:, 0, BITS] = 1.0
    inputs[:, 1 : L + 1, :BITS] = items
    inputs[:, L + 1, BITS + 1] = normalise_repeats(
        repeats,
        min_repeats=env_kwargs["min_repeats"],
        max_repeats=env_kwargs["max_repeats"],
        repeat_norm=env_kwargs.get("repeat_norm", 10.0),
        normalisation=env_kwargs.get("normalisation", "standard"),
    )
    targets[:, L + 2 : L + 2 + L * repeats, :BITS] = np.tile(items, (1, repeats, 1))
    targets[:, T - 1, BITS] = 1.0
    mask[:, L + 2 :] = 1.0
    return torch.from_numpy(inputs), torch.from_numpy(targets), torch.from_numpy(mask)


@torch.no_grad()
def bit_errors(circuit, items: np.ndarray, repeats: int, env_kwargs: dict) -> np.ndarray:
    """(B,) wrong output bits per sequence."""
    inputs, targets, mask = episode_batch(items, repeats, env_kwargs)
    state = circuit.initial_state(inputs.shape[0])
    wrong = torch.zeros(inputs.shape[0])
    for t in range(inputs.shape[1]):
        logits, state = circuit(inputs[:, t], state)
        wrong += ((logits > 0).float() != targets[:, t]).sum(-1) * mask[:, t]
    return wrong.numpy()


def distinct_items(rng: np.random.Generator, count: int, length: int) -> np.ndarray:
    """(count, length, BITS): sequences with no item twice (items as 8-bit numbers, no repeats)."""
    codes = np.stack([rng.choice(2**BITS, length, replace=False) for _ in range(count)])
    return ((codes[..., None] >> np.arange(BITS)) & 1).astype(np.float32), codes


def variants(rng: np.random.Generator, length: int):
    """The base sequences and their one-item "repeat" and "control" variants, and the distances."""
    base, codes = distinct_items(rng, SEQUENCES, length)
    j = rng.integers(1, length, SEQUENCES)  # 0-based place of the changed item: 1..L-1
    i = (rng.random(SEQUENCES) * j).astype(int)  # uniform on 0..j-1
    repeat, control = base.copy(), base.copy()
    rows = np.arange(SEQUENCES)
    repeat[rows, j] = base[rows, i]
    for s in range(SEQUENCES):
        fresh = rng.choice(np.setdiff1d(np.arange(2**BITS), codes[s]))
        control[s, j[s]] = (fresh >> np.arange(BITS)) & 1
    return base, repeat, control, j - i


def row(name: str, errors: np.ndarray, base: np.ndarray) -> str:
    whole, base_whole = errors > WHOLE_BITS, base > WHOLE_BITS
    paired = (
        "" if errors is base else f"{(whole & ~base_whole).sum()} / {(base_whole & ~whole).sum()}"
    )
    return (
        f"| {name} | {errors.mean():.2f} | {(errors == 0).mean():.1%} | "
        f"{whole.sum()} ({whole.mean():.1%}) | {paired} |"
    )


def main(paths: list[str]) -> None:
    torch.set_num_threads(1)
    for path in paths:
        loaded = load_circuit(path)
        circuit, env_kwargs = loaded.circuit.eval(), loaded.config.env_kwargs
        print(f"## {path}\n")
        for length in (20, 10):
            rng = np.random.default_rng(SEED)
            base, repeat, control, distance = variants(rng, length)
            errors = {
                name: bit_errors(circuit, items, 10, env_kwargs)
                for name, items in (("base", base), ("repeat", repeat), ("control", control))
            }
            print(f"(length {length}, repeats 10), {SEQUENCES} sequences each\n")
            print(
                f"| sequences | bit errors per sequence | perfect | failures (> {WHOLE_BITS} bits) "
                "| fail here, not in the base / in the base, not here |"
            )
            print("| --- | --- | --- | --- | --- |")
            for name, values in errors.items():
                print(row(name, values, errors["base"]))
            near = distance < 10
            fails = {name: values > WHOLE_BITS for name, values in errors.items()}
            print(
                f"\nrepeat at distance 1-9: {fails['repeat'][near].sum()} failures of "
                f"{near.sum()}; at 10-19: {fails['repeat'][~near].sum()} of {(~near).sum()} "
                f"(control, same places: {fails['control'][near].sum()} and "
                f"{fails['control'][~near].sum()})"
            )
            # the repeated item is all zeros: in how many variants, and how many of those fail
            zero = ~repeat.any(-1)  # (B, L): the places that hold the all-zero item
            twice = zero.sum(-1) >= 2
            print(
                f"repeat variants whose repeated item is all zeros: {twice.sum()}, of them failing "
                f"{fails['repeat'][twice].sum()}; repeat failures with any other item: "
                f"{fails['repeat'][~twice].sum()} of {(~twice).sum()}\n"
            )
    print(
        "Made by `python docs/results/rc-repeated-items/repeats.py "
        + " ".join(paths)
        + "` (1 thread)."
    )


if __name__ == "__main__":
    main(sys.argv[1:])
