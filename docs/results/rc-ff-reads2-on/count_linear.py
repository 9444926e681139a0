"""Would a feed-forward NTM repeat past ten if its count step continued linearly past ten?

A feed-forward controller reads the count once, at step L + 1, and what it does there is the
interface vector: the output of one linear layer over the controller's ReLU units, whose input
(the items read so far and the count) differs between counts only in the count. Over the
training range that vector is a piecewise-linear function of the count; past it, the ReLU units
can switch on or off in ways no training count asked for. This probe asks what the rest of the
circuit does if that step instead continues the trend of the top of the training range.

For each episode (data seeds 0..19; the items do not depend on the count) it records the count
step's interface vector (before its activations) for counts 1..10, fits every component as a
line in the count over counts F..10, and runs the episode asked for 10 and for 20 with the
fitted line's value at that count put in place of the circuit's own at that step:

- "own": the circuit as trained;
- "line over F..10": the whole interface vector from the line fitted over counts F..10 (at 10
  the line reproduces the circuit's own vector only as well as the fit does: the control row).

It reports the median repetition after which the end marker comes (inf: never), the median
number of repetitions copied right before the first wrong data bit, and the mean bit errors per
episode. If the line makes a run asked for 20 copy and stop after 20, the count step is all that
fails past ten; if it stops near 11-15 all the same, the rest of the circuit caps the count too.

    python docs/results/rc-ff-reads2-on/count_linear.py '/work/trainon2lr/seed*/checkpoints/last.pt'
"""

from __future__ import annotations

import glob
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rc-ff-reads2-first"))
from count_swap import figures, run  # noqa: E402  (the same hook and figures as count_swap.py)

from memagents.evaluation import checkpoint_label, load_circuit  # noqa: E402

LENGTHS = [2, 5, 10]
FITS = (9, 7)  # lines over counts 9..10 and 7..10
EPISODES = 20
TRAINED = np.arange(1, 11)


def main(pattern: str) -> None:
    torch.set_num_threads(1)
    print(
        "| checkpoint | length | repeats asked | count step's interface | stop (repetitions) | "
        "copied right (repetitions) | bit errors |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for path in sorted(glob.glob(pattern)):
        loaded = load_circuit(path)
        every = [slice(0, loaded.circuit.access.layout.size)]
        for length in LENGTHS:
            rows: dict[tuple[int, str], list] = {}
            for seed in range(EPISODES):
                vectors = np.stack(
                    [run(loaded, length, int(n), seed)[1][0].numpy() for n in TRAINED]
                )
                for asked in (10, 20):
                    trace, _ = run(loaded, length, asked, seed)
                    rows.setdefault((asked, "own"), []).append(figures(trace, length))
                    for first in FITS:
                        counts = np.arange(first, 11)
                        design = np.stack([counts, np.ones_like(counts)], 1).astype(float)
                        coef, *_ = np.linalg.lstsq(design, vectors[counts - 1], rcond=None)
                        line = torch.tensor(np.array([[asked, 1.0]]) @ coef, dtype=torch.float32)
                        trace, _ = run(loaded, length, asked, seed, donor=line, slices=every)
                        rows.setdefault((asked, f"line over {first}..10"), []).append(
                            figures(trace, length)
                        )
            for (asked, name), values in rows.items():
                stop, right, errors = np.array(values).T
                print(
                    f"| {checkpoint_label(path)} | {length} | {asked} | {name} | "
                    f"{np.median(stop):.1f} | {np.median(right):.1f} | {errors.mean():.1f} |",
                    flush=True,
                )
    print(
        f"\n{EPISODES} episodes per row (data seeds 0..{EPISODES - 1}); medians of the stop and "
        f"of the repetitions copied right, mean of the bit errors. Made by `python "
        f"docs/results/rc-ff-reads2-on/count_linear.py '{pattern}'`."
    )


if __name__ == "__main__":
    main(sys.argv[1])
