"""Per seed of a sweep: its evaluations over training (256 sequences of the training range each).

Prints a markdown table, one row per trial: the best evaluation (bit errors per sequence) and its
step, how many evaluations were at or under 0.1 and under 2, and the evaluation at the last step.
A run is declared solved only when an evaluation at or under the threshold is confirmed on 1,000
fresh sequences, so "at or under 0.1" counts the chances a run had.

    python docs/results/rc-ff-reads2-average/evaluations.py \
        /work/sweeps/ntm-repeat-copy-ff-reads2-average
"""

from __future__ import annotations

import glob
import json
import re
import sys


def main(sweep: str) -> None:
    print("| seed | best evaluation (step) | at or under 0.1 | under 2 | at the last step |")
    print("| --- | --- | --- | --- | --- |")
    trials = glob.glob(f"{sweep}/*/run/metrics.jsonl")
    seeds = {int(re.search(r"seed=(\d+)", path).group(1)): path for path in trials}
    for seed, path in sorted(seeds.items()):
        with open(path) as lines:
            rows = [json.loads(line) for line in lines]
        evals = [(row["bit_errors"], row["step"]) for row in rows if row["kind"] == "eval"]
        best, best_step = min(evals)
        low = sum(errors <= 0.1 for errors, _ in evals)
        near = sum(errors < 2 for errors, _ in evals)
        last, last_step = evals[-1][0], evals[-1][1]
        print(
            f"| {seed} | {best:.3f} ({best_step:,}) | {low} of {len(evals)} | {near} of "
            f"{len(evals)} | {last:.2f} (step {last_step:,}) |"
        )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: evaluations.py SWEEP_FOLDER")
    main(sys.argv[1])
