"""Do the writes of the output phase erode the items? Two interventions at test time.

The section 19 models (ntm-repeat-copy-long, seeds 1-5) go wrong at (length 20, repeats 10) late
in the output, a few bits at a time (failures.md). If what the write head writes while the model
recalls wears the items' rows down, silencing it should mend the copy. From the first output step
on (the items and the count are written as trained):

- no erase: every write head's erase vector held at 0 (the add vectors still land);
- no write: the erase held at 0 and the add vectors at 0, so the memory stays as it was after the
  count's step.

For each checkpoint and condition, over 20 episodes (data seeds 0..19): the copy's bit errors per
episode (the item bits of the L x R output steps, not the end marker), the episodes whose copy is
perfect, and where the end marker first comes, in repetitions (median; inf: never).

    python docs/results/rc-ff-reads2-cut2-n128-256-20k/write_probe.py \
        '/work/pilot20/seed[1-5]/checkpoints/last.pt' \
        > docs/results/rc-ff-reads2-cut2-n128-256-20k/write-probe.md
"""

from __future__ import annotations

import glob
import sys

import numpy as np
import torch

from memagents.evaluation import checkpoint_label, load_circuit, trace_episode

CONDITIONS = [(10, 10), (20, 5), (20, 10)]
EPISODES = 50
MODES = ("as trained", "no erase", "no write")


def episode_figures(loaded, length: int, repeats: int, mode: str) -> tuple[float, int, float]:
    """(mean copy bit errors, perfect copies, median stop in repetitions) over the episodes."""
    circuit = loaded.circuit
    erase = circuit.access.layout.field("erase")
    add = circuit.access.layout.field("add")
    calls = [0]

    def interface_hook(module, inputs, output):
        calls[0] += 1
        # call k is step k - 1; the items are steps 1..L, the count step L + 1, then the output
        if mode == "as trained" or calls[0] <= length + 2:
            return None
        output = output.clone()
        output[:, erase.offset : erase.offset + erase.size] = -50.0  # sigmoid -> 0
        if mode == "no write":
            output[:, add.offset : add.offset + add.size] = 0.0
        return output

    handle = circuit.access.interface.register_forward_hook(interface_hook)
    errors, perfect, stops = [], 0, []
    try:
        for seed in range(EPISODES):
            calls[0] = 0
            trace = trace_episode(circuit, loaded.config, length=length, repeats=repeats, seed=seed)
            recall = np.nonzero(trace.mask)[0]
            raised = trace.outputs[recall] > 0.5
            due = length * repeats
            wrong = int((raised[:due, :-1] != (trace.targets[recall][:due, :-1] > 0.5)).sum())
            errors.append(wrong)
            perfect += wrong == 0
            ends = np.nonzero(raised[:, -1])[0]
            stops.append(ends[0] / length if len(ends) else np.inf)
    finally:
        handle.remove()
    return float(np.mean(errors)), perfect, float(np.median(stops))


def main(pattern: str) -> None:
    torch.set_num_threads(1)
    print("| checkpoint | length, repeats | " + " | ".join(
        f"{mode}: copy bit errors / perfect / stop" for mode in MODES) + " |")  # fmt: skip
    print("| --- | --- |" + " --- |" * len(MODES))
    for path in sorted(glob.glob(pattern)):
        loaded = load_circuit(path)
        for length, repeats in CONDITIONS:
            cells = []
            for mode in MODES:
                errors, perfect, stop = episode_figures(loaded, length, repeats, mode)
                cells.append(f"{errors:.1f} / {perfect} / {stop:.1f}")
            print(f"| {checkpoint_label(path)} | {length}, {repeats} | " + " | ".join(cells) + " |")
    print(
        f"\nMeans over {EPISODES} episodes (data seeds 0..{EPISODES - 1}); perfect: episodes whose "
        "copy has no wrong bit; stop: the median end marker, in repetitions. Made by "
        f"`python docs/results/rc-ff-reads2-cut2-n128-256-20k/write_probe.py '{pattern}'`."
    )


if __name__ == "__main__":
    main(sys.argv[1])
