"""How seed 4 of section 19 slips in its whole failures at (length 20, repeats 10).

For the episodes named (reset seeds), the repeated items (second copy -> first copy, item places
from 1) and, for the first 24 output steps, the two rows read head 0 weighs most, as the item
written there (rN: a row no item went to) = its weight; "!" marks an output step with a wrong bit.
The read weights at an output step address the memory for the next item, so a pointer on item
j + 1 at step j is on time. Prints a markdown block.

    python docs/results/rc-ff-reads2-cut2-n128-256-20k/slip.py \\
        /work/pilot20/seed4/checkpoints/last.pt 38 67 140 \\
        > docs/results/rc-ff-reads2-cut2-n128-256-20k/slip.md
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from memagents.evaluation import load_circuit, trace_episode

LENGTH, REPEATS, BITS, STEPS = 20, 10, 8, 24


def main(path: str, episodes: list[int]) -> None:
    torch.set_num_threads(1)
    loaded = load_circuit(path)
    print("```")
    for episode in episodes:
        trace = trace_episode(
            loaded.circuit, loaded.config, seed=episode, length=LENGTH, repeats=REPEATS
        )
        items = [tuple(row) for row in (trace.inputs[1 : LENGTH + 1, :BITS] > 0.5)]
        repeated = {
            i + 1: items.index(items[i]) + 1 for i in range(LENGTH) if items[i] in items[:i]
        }
        rows = {int(trace.write_weights[s, 0].argmax()): s for s in range(1, LENGTH + 1)}
        print(f"episode {episode}: repeated items {repeated}")
        recall = np.nonzero(trace.mask)[0]
        cells = []
        for j in range(STEPS):
            t = recall[j]
            weights = trace.read_weights[t, 0]
            right = ((trace.outputs[t, :-1] > 0.5) == (trace.targets[t, :-1] > 0.5)).all()
            top = "/".join(
                f"{rows.get(int(r), f'r{int(r)}')}={weights[r]:.2f}"
                for r in np.argsort(weights)[::-1][:2]
            )
            cells.append(f"{j + 1}:{top}{'' if right else '!'}")
        print(" ".join(cells))
    print("```")
    print(f"\nMade by `python docs/results/rc-ff-reads2-cut2-n128-256-20k/slip.py {path} "
          f"{' '.join(map(str, episodes))}`.")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1], [int(e) for e in sys.argv[2:]])
