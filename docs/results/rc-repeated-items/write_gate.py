"""What the write head does when an all-zero item comes in, and whether that predicts failure.

zero_items.py's paired sequences (the same seed): 20 distinct non-zero items ("no zero item"), the
same with the item at place a set to all zeros ("one zero item"), and with the items at a and b
set to all zeros ("two zero items"). Up to step a - 1 the three run the same. For each kind, at
the input step of the item at place a (in "two zero items", at the first and at the second of
its two zero items in input order), the write head's interpolation gate g (1: address by content,
0: by location) and its largest weight, as medians over the sequences. A write whose largest
weight is under `SMEARED` is counted as smeared, and the failures at (length 20, repeats 10)
(more than repeats.WHOLE_BITS wrong bits) are split by it.

    python docs/results/rc-repeated-items/write_gate.py CHECKPOINT... > write-gate.md
"""

from __future__ import annotations

import sys

import numpy as np
import repeats as task
import torch
import zero_items

from memagents.evaluation import load_circuit
from memagents.kernels.layout import ntm_layout
from memagents.kernels.torch_ops import unpack

LENGTH, REPEATS, SMEARED = 20, 10, 0.7


@torch.no_grad()
def run(circuit, items: np.ndarray, env_kwargs: dict):
    """Wrong bits per sequence, and per input step 1..L the write head's gate and largest weight."""
    inputs, targets, mask = task.episode_batch(items, REPEATS, env_kwargs)
    access = circuit.access
    layout = ntm_layout(access.num_reads, access.num_writes, access.word_size, access.shift_range)
    captured: list[torch.Tensor] = []
    hook = access.interface.register_forward_hook(lambda m, i, out: captured.append(out))
    state = circuit.initial_state(inputs.shape[0])
    wrong = torch.zeros(inputs.shape[0])
    gates, peaks = [], []
    try:
        for t in range(inputs.shape[1]):
            logits, state = circuit(inputs[:, t], state)
            wrong += ((logits > 0).float() != targets[:, t]).sum(-1) * mask[:, t]
            if 1 <= t <= LENGTH:
                gates.append(unpack(captured[-1], layout, access.offsets)["gates"][:, -1])
                peaks.append(state.access.write_weights[:, 0].max(-1).values)
            captured.clear()
    finally:
        hook.remove()
    return wrong.numpy(), torch.stack(gates, 1).numpy(), torch.stack(peaks, 1).numpy()


def main(paths: list[str]) -> None:
    torch.set_num_threads(1)
    print(
        "| checkpoint | sequences | at the item | write gate (median) | largest write "
        f"weight (median) | smeared (< {SMEARED}) | failures: smeared / not smeared |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for path in paths:
        loaded = load_circuit(path)
        circuit, env_kwargs = loaded.circuit.eval(), loaded.config.env_kwargs
        kinds = zero_items.kinds(np.random.default_rng(zero_items.SEED), LENGTH)
        n = np.arange(zero_items.SEQUENCES)
        # the places set to zero, found from the kinds themselves: a (one zero item), b (the other)
        a = (kinds["one zero item"].sum(-1) == 0).argmax(1)
        b = ((kinds["two zero items"].sum(-1) == 0) & (np.arange(LENGTH) != a[:, None])).argmax(1)
        for kind in ("no zero item", "one zero item", "two zero items"):
            wrong, gates, peaks = run(circuit, kinds[kind], env_kwargs)
            failed = wrong > task.WHOLE_BITS
            places = (("a", a),)
            if kind == "two zero items":
                places = (("first", np.minimum(a, b)), ("second", np.maximum(a, b)))
            for label, place in places:
                gate, peak = gates[n, place], peaks[n, place]
                smeared = peak < SMEARED
                print(
                    f"| {path} | {kind} | {label} | {np.median(gate):.3f} | "
                    f"{np.median(peak):.2f} | {smeared.sum()} of {len(peak)} | "
                    f"{failed[smeared].sum()} of {smeared.sum()} / "
                    f"{failed[~smeared].sum()} of {(~smeared).sum()} |"
                )
    print(f"\nMade by `python docs/results/rc-repeated-items/write_gate.py {' '.join(paths)}` "
          "(1 thread).")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
