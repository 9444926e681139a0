"""Where the 128-256 slot repeat-copy NTMs of section 19 go wrong at (length 20, repeats 10).

For each checkpoint, episodes 0..E-1 (reset seeds) at (20, 10) with the checkpoint's own 256
slots, traced once; two markdown tables from the same episodes:

1. How many are perfect, how many are wrong only at the end marker's step, and for the rest the
   first wrong output step, as the repetition it falls in and the item's place in the repetition
   (items 1..10 are the training range's lengths, 11..20 past it), and the bit errors of a wrong
   episode.
2. Whether whole failures come with a repeated item. At (20, 10) about half of all sequences hold
   some 8-bit item twice (1 - 256!/(236! x 256^20) = 0.53; at length 10 about one in six), and a
   model that finds its place by content could jump from an item's second copy to its first.
   Split by whether the sequence repeats an item: how many go wrong in the copy (item bits of the
   L x R output steps) and how many fail whole (50 or more wrong output steps); for each whole
   failure, the item at which it first goes wrong and where the second copies sit.

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

LENGTH, REPEATS, BITS = 20, 10, 8
WHOLE = 50  # wrong output steps
LISTED = 20  # whole failures listed one by one; more are counted


def listed(whole: list[str]) -> str:
    if len(whole) > LISTED:
        return f"{len(whole)}, not listed"
    return "; ".join(whole) or "-"


def main(runs: str, episodes: int) -> None:
    torch.set_num_threads(1)
    where, repeated_rows = [], []
    for path in sorted(glob.glob(f"{runs}/seed[1-5]/checkpoints/last.pt")):
        seed = re.search(r"seed(\d+)", path).group(1)
        loaded = load_circuit(path)
        perfect = marker_only = 0
        errors, repetitions, places = [], Counter(), Counter()
        counts = {True: [0, 0, 0], False: [0, 0, 0]}  # episodes, copy wrong, whole
        whole = []
        for episode in range(episodes):
            trace = trace_episode(
                loaded.circuit, loaded.config, seed=episode, length=LENGTH, repeats=REPEATS
            )
            recall = np.nonzero(trace.mask)[0]  # the output steps, the end marker's last
            wrong = (trace.outputs[recall] > 0.5) != (trace.targets[recall] > 0.5)
            wrong_steps = np.flatnonzero(wrong.any(-1))  # output steps with a wrong bit

            copy_wrong = wrong[: LENGTH * REPEATS, :-1].any(-1)  # the items' bits only
            items = [tuple(row) for row in (trace.inputs[1 : LENGTH + 1, :BITS] > 0.5)]
            repeated = len(set(items)) < LENGTH
            count = counts[repeated]
            count[0] += 1
            count[1] += bool(copy_wrong.any())
            if copy_wrong.sum() >= WHOLE:
                count[2] += 1
                seconds = [i + 1 for i in range(LENGTH) if items[i] in items[:i]]
                first = int(np.flatnonzero(copy_wrong)[0]) % LENGTH + 1
                whole.append(f"{first} ({', '.join(map(str, seconds)) or '-'})")

            if wrong_steps.size == 0:
                perfect += 1
            elif (wrong_steps == LENGTH * REPEATS).all():
                marker_only += 1
            else:
                errors.append(int(wrong.sum()))
                j = int(wrong_steps[0])  # output step of the first mistake
                repetitions[min(j // LENGTH + 1, REPEATS + 1)] += 1  # REPEATS + 1: the marker
                places["1-10" if j % LENGTH < 10 else "11-20"] += 1
        reps = ", ".join(f"{r}: {n}" for r, n in sorted(repetitions.items()))
        where.append(
            f"| {seed} | {episodes} | {perfect} | {marker_only} | {len(errors)} | "
            f"{np.median(errors) if errors else float('nan'):.0f} | {reps} | "
            f"{places['1-10']} / {places['11-20']} |"
        )
        yes, no = counts[True], counts[False]
        repeated_rows.append(
            f"| {seed} | {yes[0]} | {yes[1]} / {yes[2]} | {no[0]} | {no[1]} / {no[2]} | "
            f"{listed(whole)} |"
        )
    print(
        "| seed | episodes | perfect | wrong only at the end marker | copy wrong | bit errors of a "
        "copy-wrong episode (median) | first wrong step in repetition (count) | first wrong item "
        "of its repetition: 1-10 / 11-20 |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(where))
    print(
        "\n| seed | episodes with a repeated item | of them copy wrong / whole | episodes "
        "without | of them copy wrong / whole | whole failures: first wrong item (second copies "
        "at) |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    print("\n".join(repeated_rows))
    print(
        f"\nEpisodes (reset seeds) 0..{episodes - 1} at (length {LENGTH}, repeats {REPEATS}); "
        f"whole: {WHOLE} or more wrong output steps; item places count from 1. Made by "
        f"`python docs/results/rc-ff-reads2-cut2-n128-256-20k/failures.py {runs} {episodes}`."
    )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
