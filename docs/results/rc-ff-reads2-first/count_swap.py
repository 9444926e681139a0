"""Why a count of 20 breaks a feed-forward NTM's copy: swap what the count step writes.

A feed-forward controller has no state: the count, given once at step L + 1, reaches the rest of
the episode only through what the circuit does at that step, that is through its interface
vector there. That vector has two parts: what is written (the add and erase vectors: the
memory's content) and where every head goes (keys, gates, strengths, sharpening, shifts: the
addressing). This probe runs the same sequence twice, asked for 10 and for 20 repeats, and gives
one run the other's part at the count step (every other step is the circuit's own):

- "own": the circuit as trained;
- "content from N": the add and erase vectors of the run asked for N repeats;
- "addressing from N": the addressing fields of the run asked for N repeats.

It reports, over 20 episodes (data seeds 0..19; the items are the same whatever the count), the
median repetition at which the circuit first raises the end marker (inf: never), the median
number of repetitions it copies right before the first wrong data bit (the end-marker channel
left out), and the mean bit errors per episode. If the content from 20 breaks the copy of a run
asked for 10 and the content from 10 mends a run asked for 20, the count written into memory is
what throws the heads off; if the addressing does, it is the count step's head movement.

    python docs/results/rc-ff-reads2-first/count_swap.py \
        '/work/sweeps/ntm-repeat-copy-ff-reads2-first*/*seed=[125689]_*/run/checkpoints/last.pt'
"""

from __future__ import annotations

import glob
import sys

import numpy as np
import torch

from memagents.evaluation import checkpoint_label, load_circuit, trace_episode

LENGTHS = [2, 5, 10]
COUNTS = (10, 20)
EPISODES = 20
CONTENT = ("add", "erase")
ADDRESSING = ("keys", "gates", "strengths", "gammas", "shifts")


def field_slices(layout, names) -> list[slice]:
    return [slice(f.offset, f.offset + f.size) for f in map(layout.field, names)]


def run(loaded, length: int, repeats: int, seed: int, *, donor=None, slices=()):
    """One episode; returns (trace, interface vector at the count step). With `donor`, the
    fields `slices` of the count step's interface vector are replaced by the donor's."""
    calls, recorded = [0], {}

    def hook(module, inputs, output):
        calls[0] += 1
        if calls[0] != length + 2:  # call t + 1 is step t; the count is step L + 1
            return None
        recorded["interface"] = output.detach().clone()
        if donor is None:
            return None
        output = output.clone()
        for part in slices:
            output[:, part] = donor[:, part]
        return output

    handle = loaded.circuit.access.interface.register_forward_hook(hook)
    try:
        trace = trace_episode(
            loaded.circuit, loaded.config, length=length, repeats=repeats, seed=seed
        )
    finally:
        handle.remove()
    return trace, recorded["interface"]


def figures(trace, length: int) -> tuple[float, float, float]:
    """(stop, repetitions copied right, bit errors) of one episode."""
    recall = np.nonzero(trace.mask)[0]
    raised = trace.outputs[recall] > 0.5
    wanted = trace.targets[recall] > 0.5
    ends = np.nonzero(raised[:, -1])[0]
    stop = ends[0] / length if len(ends) else np.inf
    wrong = np.nonzero((raised[:, :-1] != wanted[:, :-1]).any(-1))[0]
    right = (wrong[0] if len(wrong) else len(recall) - 1) / length  # the last step: the marker
    return stop, right, float((raised != wanted).sum())


def main(pattern: str) -> None:
    torch.set_num_threads(1)
    print(
        "| checkpoint | length | repeats asked | count step's | stop (repetitions) | "
        "copied right (repetitions) | bit errors |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for path in sorted(glob.glob(pattern)):
        loaded = load_circuit(path)
        layout = loaded.circuit.access.layout
        variants = [
            ("own", ()),
            ("content from {}", field_slices(layout, CONTENT)),
            ("addressing from {}", field_slices(layout, ADDRESSING)),
        ]
        for length in LENGTHS:
            for asked in COUNTS:
                other = COUNTS[1 - COUNTS.index(asked)]
                rows = {name: [] for name, _ in variants}
                for seed in range(EPISODES):
                    _, donor = run(loaded, length, other, seed)
                    for name, slices in variants:
                        trace, _ = run(
                            loaded,
                            length,
                            asked,
                            seed,
                            donor=donor if slices else None,
                            slices=slices,
                        )
                        rows[name].append(figures(trace, length))
                for name, _ in variants:
                    stop, right, errors = np.array(rows[name]).T
                    print(
                        f"| {checkpoint_label(path)} | {length} | {asked} | "
                        f"{name.format(other)} | {np.median(stop):.1f} | "
                        f"{np.median(right):.1f} | {errors.mean():.1f} |"
                    )
    print(
        f"\n{EPISODES} episodes per row (data seeds 0..{EPISODES - 1}); medians of the stop and "
        f"of the repetitions copied right, mean of the bit errors. Made by `python "
        f"docs/results/rc-ff-reads2-first/count_swap.py '{pattern}'`."
    )


if __name__ == "__main__":
    main(sys.argv[1])
