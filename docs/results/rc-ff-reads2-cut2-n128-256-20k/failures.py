"""Where the 128-256 slot repeat-copy NTMs of section 19 go wrong at (length 20, repeats 10).

For each checkpoint, episodes 0..E-1 (reset seeds) at (20, 10) with the checkpoint's own 256 slots:
how many are perfect, how many are wrong only at the end marker's step, and for the rest the
first wrong output step, as the repetition it falls in and the item's place in the repetition
(items 1..10 are the training range's lengths, 11..20 past it), and the bit errors of a wrong
episode. Prints a markdown table.

    python docs/results/rc-ff-reads2-cut2-n128-256-20k/failures.py /work/pilot20 200 \
        > docs/results/rc-ff-reads2-cut2-n128-256-20k/failures.md
"""

from __future__ import annotations

import glob
import re
import sys
from collections import Counter

import numpy as np
import torch

from memagents.evaluation import load_circuit, trace_episode

LENGTH, REPEATS = 20, 10


def main(runs: str, episodes: int) -> None:
    torch.set_num_threads(1)
    print(
        "| seed | episodes | perfect | wrong only at the end marker | copy wrong | bit errors of a "
        "copy-wrong episode (median) | first wrong step in repetition (count) | first wrong item "
        "of its repetition: 1-10 / 11-20 |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for path in sorted(glob.glob(f"{runs}/seed[1-5]/checkpoints/last.pt")):
        seed = re.search(r"seed(\d+)", path).group(1)
        loaded = load_circuit(path)
        perfect = marker_only = 0
        errors, repetitions, places = [], Counter(), Counter()
        for episode in range(episodes):
            trace = trace_episode(
                loaded.circuit, loaded.config, seed=episode, length=LENGTH, repeats=REPEATS
            )
            scored = trace.mask > 0
            wrong = ((trace.outputs > 0.5) != (trace.targets > 0.5)) & scored[:, None]
            wrong_steps = np.flatnonzero(wrong.any(-1))
            first_output = int(np.flatnonzero(scored)[0])
            marker_step = first_output + LENGTH * REPEATS
            if wrong_steps.size == 0:
                perfect += 1
                continue
            if (wrong_steps == marker_step).all():
                marker_only += 1
                continue
            errors.append(int(wrong.sum()))
            j = int(wrong_steps[0]) - first_output  # output step of the first mistake
            repetitions[min(j // LENGTH + 1, REPEATS + 1)] += 1  # REPEATS + 1: the marker
            places["1-10" if j % LENGTH < 10 else "11-20"] += 1
        reps = ", ".join(f"{r}: {n}" for r, n in sorted(repetitions.items()))
        print(
            f"| {seed} | {episodes} | {perfect} | {marker_only} | {len(errors)} | "
            f"{np.median(errors) if errors else float('nan'):.0f} | {reps} | "
            f"{places['1-10']} / {places['11-20']} |"
        )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
