"""Where the repeat-copy NTMs of section 17 (seeds 2-4, trained on 128 slots) look when they stop.

For one episode (seed 0) of (length 10, repeats 5) and (10, 10), with 128 and with 256 slots:
the rows written (norm at least 5% of the largest) and each read head's total weight on the
unwritten rows, at the first output step, midway, two steps and one step before the end marker
is due, and at the end marker's step; and the end-marker output there. Prints a markdown table.

    python docs/results/rc-ff-reads2-cut2-at-256/gauge.py \
        /work/sweeps/ntm-repeat-copy-ff-reads2-cut2 > docs/results/rc-ff-reads2-cut2-at-256/gauge.md
"""

from __future__ import annotations

import glob
import re
import sys

import numpy as np
import torch

from memagents.evaluation import load_circuit, trace_episode

UNWRITTEN = 0.05


def main(sweep: str) -> None:
    torch.set_num_threads(1)
    print(
        "| seed | slots | length, repeats | output step | rows written | read head 0 on "
        "unwritten rows | read head 1 on unwritten rows | end marker output at the due step |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for path in sorted(glob.glob(f"{sweep}/*seed=[234]*/run/checkpoints/last.pt")):
        seed = re.search(r"seed=(\d+)", path).group(1)
        for slots in (128, 256):
            loaded = load_circuit(path, memory_size=slots)
            for length, repeats in ((10, 5), (10, 10)):
                trace = trace_episode(
                    loaded.circuit, loaded.config, seed=0, length=length, repeats=repeats
                )
                norms = np.linalg.norm(trace.memory, axis=-1)  # (T, N), after each step
                unwritten = norms < UNWRITTEN * norms.max(-1, keepdims=True)
                due = length * repeats  # the end marker's output step
                first = length + 2  # the first output step
                marker = float(trace.outputs[first + due, -1])
                for j in (0, due // 2, due - 2, due - 1, due):
                    t = first + j  # the read weights at t address the memory after t - 1
                    heads = [float(trace.read_weights[t, h][unwritten[t - 1]].sum())
                             for h in range(trace.read_weights.shape[1])]  # fmt: skip
                    print(f"| {seed} | {slots} | {length}, {repeats} | {j} | "
                          f"{int((~unwritten[t - 1]).sum())} | {heads[0]:.3f} | {heads[1]:.3f} | "
                          + (f"{marker:.2g} |" if j == due else "|"))  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1])
