"""What a feed-forward NTM's two read heads do in repeat-copy recall, inside and past the counts
seen in training.

Traces episodes per condition (data seeds 0..E-1) and reports, for each read head h, over the
output steps:
- walks the items: the share of output steps whose largest weight is on the row of the item due
  at that step or the next one (a feed-forward controller gets the previous step's read, so a
  walking head reads each item one step ahead);
- peak: its largest weight, mean (near 1 a focused head, near 1/N = 0.008 a read of the whole
  memory's average);
- its row: the row it is on most over repetitions 2..min(R, 10) (the counts seen in training),
  and its mean weight on that row there and over repetitions 11..R (blank where R <= 10). A head
  that parks keeps its weight on one row; a walking head has about 1/L there.

    python docs/results/rc-ff-reads2-first/second_head.py \
        '/work/sweeps/ntm-repeat-copy-ff-reads2-first/*/run/checkpoints/last.pt'
"""

from __future__ import annotations

import glob
import sys

import numpy as np
import torch

from memagents.evaluation import checkpoint_label, load_circuit, trace_episode

CONDITIONS = [(10, 10), (20, 10), (2, 20), (10, 15), (10, 20)]
EPISODES = 20


def head_figures(trace, length: int, repeats: int, head: int) -> dict[str, float]:
    read = trace.read_weights[:, head]  # (T, N)
    slots = trace.write_weights[1 : length + 1, 0].argmax(-1)  # item i is written at step i + 1
    start, outputs = length + 2, length * repeats
    steps = read[start : start + outputs]  # (L * R, N)
    j = np.arange(outputs)
    position = steps.argmax(-1)
    walks = (position == slots[j % length]) | (position == slots[(j + 1) % length])
    inside = steps[length : min(repeats, 10) * length]  # repetitions 2..min(R, 10)
    row = int(np.bincount(inside.argmax(-1), minlength=read.shape[1]).argmax())
    past = steps[10 * length :, row]
    return dict(
        walks=float(walks.mean()),
        peak=float(steps.max(-1).mean()),
        on_row_inside=float(inside[:, row].mean()),
        on_row_past=float(past.mean()) if len(past) else float("nan"),
    )


def main(pattern: str) -> None:
    torch.set_num_threads(1)
    print(
        "| checkpoint | length, repeats | read head | walks the items | peak | weight on its row, "
        "repetitions 2-10 | weight on its row, past the 10th |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for path in sorted(glob.glob(pattern)):
        loaded = load_circuit(path)
        for length, repeats in CONDITIONS:
            traces = [
                trace_episode(
                    loaded.circuit, loaded.config, length=length, repeats=repeats, seed=seed
                )
                for seed in range(EPISODES)
            ]
            for head in range(traces[0].read_weights.shape[1]):
                figures = [head_figures(trace, length, repeats, head) for trace in traces]
                mean = {name: float(np.mean([f[name] for f in figures])) for name in figures[0]}
                past = "" if np.isnan(mean["on_row_past"]) else f"{mean['on_row_past']:.2f}"
                print(
                    f"| {checkpoint_label(path)} | {length}, {repeats} | {head} | "
                    f"{100 * mean['walks']:.0f}% | {mean['peak']:.2f} | "
                    f"{mean['on_row_inside']:.2f} | {past} |"
                )
    print(
        f"\nMeans over {EPISODES} episodes per condition (data seeds 0..{EPISODES - 1}). Made by "
        f"`python docs/results/rc-ff-reads2-first/second_head.py '{pattern}'`."
    )


if __name__ == "__main__":
    main(sys.argv[1])
