"""Do the section 19 models fail whole on sequences in which an item comes twice?

At (length 20, repeats 10) about half of all sequences hold some 8-bit item twice (1 - 256!/(236! x
256^20) = 0.53); at length 10 about one in six does. A model that finds its place in the memory by
content could jump from an item's second copy to its first. For each checkpoint, episodes 0..E-1
(reset seeds) at (20, 10) with its own 256 slots, split by whether the sequence repeats an item:
how many go wrong in the copy (item bits of the L x R output steps), and how many fail whole (50
or more wrong output steps); for each whole failure, the item at which it first goes wrong and
where the repeated items' second copies sit. Prints a markdown table.

    python docs/results/rc-ff-reads2-cut2-n128-256-20k/repeated_items.py /work/pilot20 200 \
        > docs/results/rc-ff-reads2-cut2-n128-256-20k/repeated-items.md
"""

from __future__ import annotations

import glob
import re
import sys

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
    print(
        "| seed | episodes with a repeated item | of them copy wrong / whole | episodes without | "
        "of them copy wrong / whole | whole failures: first wrong item (second copies at) |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for path in sorted(glob.glob(f"{runs}/seed[1-5]/checkpoints/last.pt")):
        seed = re.search(r"seed(\d+)", path).group(1)
        loaded = load_circuit(path)
        counts = {True: [0, 0, 0], False: [0, 0, 0]}  # episodes, copy wrong, whole
        whole = []
        for episode in range(episodes):
            trace = trace_episode(
                loaded.circuit, loaded.config, seed=episode, length=LENGTH, repeats=REPEATS
            )
            recall = np.nonzero(trace.mask)[0][: LENGTH * REPEATS]
            raised = trace.outputs[recall, :-1] > 0.5
            wrong = (raised != (trace.targets[recall, :-1] > 0.5)).any(-1)
            items = [tuple(row) for row in (trace.inputs[1 : LENGTH + 1, :BITS] > 0.5)]
            repeated = len(set(items)) < LENGTH
            count = counts[repeated]
            count[0] += 1
            count[1] += bool(wrong.any())
            if wrong.sum() >= WHOLE:
                count[2] += 1
                seconds = [i + 1 for i in range(LENGTH) if items[i] in items[:i]]
                first = int(np.flatnonzero(wrong)[0]) % LENGTH + 1
                whole.append(f"{first} ({', '.join(map(str, seconds)) or '-'})")
        yes, no = counts[True], counts[False]
        print(
            f"| {seed} | {yes[0]} | {yes[1]} / {yes[2]} | {no[0]} | {no[1]} / {no[2]} | "
            f"{listed(whole)} |"
        )
    print(
        f"\nEpisodes (reset seeds) 0..{episodes - 1} at (length {LENGTH}, repeats {REPEATS}); "
        f"whole: {WHOLE} or more wrong output steps; item places count from 1. Made by "
        f"`python docs/results/rc-ff-reads2-cut2-n128-256-20k/repeated_items.py {runs} {episodes}`."
    )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
