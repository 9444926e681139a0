"""Where a feed-forward NTM keeps time in repeat copy: how much its memory grows during recall.

A feed-forward controller has no state of its own, so whatever tells it when to stop has to live
in the memory (or the heads' weightings). This traces one episode per condition (data seed 0) and
prints, per checkpoint: the norm of the item rows when recall starts, their change over the
recall relative to that norm (median over rows), the norm of the row after the items at every
repetition's start, and the mean norm of the rows never given an item at the end.

    python docs/results/rc-ff-first/memory_clock.py \
        '/work/sweeps/ntm-repeat-copy-ff-first/*seed=[235]_*/run/checkpoints/last.pt'
"""

from __future__ import annotations

import glob
import sys

import numpy as np
import torch

from memagents.evaluation import checkpoint_label, load_circuit, trace_episode

CONDITIONS = [(10, 10), (20, 10), (10, 20)]


def memory_figures(trace, length: int, repeats: int) -> dict[str, object]:
    memory = trace.memory  # (T, N, W): after each step
    start, end = length + 2, length + 2 + length * repeats  # first and one past the last output
    before = memory[start - 1]  # when recall starts
    items = np.arange(0, length + 1)  # the rows the first write smears over, and the items'
    norms = np.linalg.norm(before[items], axis=-1)
    change = np.linalg.norm(memory[end - 1, items] - before[items], axis=-1) / norms
    after = length + 1
    per_repetition = [
        float(np.linalg.norm(memory[s, after])) for s in range(start - 1, end, length)
    ]
    others = np.setdiff1d(np.arange(memory.shape[1]), np.arange(0, length + 2))
    return dict(
        item_norm=float(np.median(norms)),
        item_change=float(np.median(change)),
        after_row=per_repetition,
        others_end=float(np.linalg.norm(memory[end - 1, others], axis=-1).mean()),
    )


def main(pattern: str) -> None:
    torch.set_num_threads(1)
    print(
        "| checkpoint | length, repeats | item rows' norm at recall | their change over recall "
        "(x norm, median) | row after the items, norm at each repetition's start | "
        "other rows' mean norm at the end |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for path in sorted(glob.glob(pattern)):
        loaded = load_circuit(path)
        for length, repeats in CONDITIONS:
            trace = trace_episode(loaded.circuit, loaded.config, length=length, repeats=repeats)
            f = memory_figures(trace, length, repeats)
            row = ", ".join(f"{x:.0f}" for x in f["after_row"])
            print(
                f"| {checkpoint_label(path)} | {length}, {repeats} | {f['item_norm']:.1f} | "
                f"{f['item_change']:.2f} | {row} | {f['others_end']:.0f} |"
            )
    print(
        "\nOne episode per condition (data seed 0). Made by `python "
        f"docs/results/rc-ff-first/memory_clock.py '{pattern}'`."
    )


if __name__ == "__main__":
    main(sys.argv[1])
