"""Per seed of a sweep run with ``lr_cut_bit_errors``: where its rate was cut, and how its
evaluations (256 sequences of the training range each) went before and after the cut.

Prints a markdown table, one row per trial: the step of the cut and the evaluation that made it,
the step the run was declared solved (an evaluation under 0.1 confirmed on 1,000 fresh
sequences), the best evaluation after the cut and its step, how many evaluations after the cut
were under 0.1, and the evaluation at the last step. Given a second sweep of the same setting
without the cut, it also checks that each seed's evaluations are identical to that sweep's up to
the cut (runs are a pure function of the seed on one machine, so the cut is the only change).

    python docs/results/rc-ff-reads2-cut2/evaluations.py \
        /work/sweeps/ntm-repeat-copy-ff-reads2-cut2 [/work/sweeps/ntm-repeat-copy-ff-reads2-average]
"""

from __future__ import annotations

import glob
import json
import re
import sys


def records(sweep: str) -> dict[int, list[dict]]:
    """Each seed's metrics records, by seed."""
    found = {}
    for path in glob.glob(f"{sweep}/*/run/metrics.jsonl"):
        seed = int(re.search(r"seed=(\d+)", path).group(1))
        with open(path) as lines:
            found[seed] = [json.loads(line) for line in lines]
    return found


def main(sweep: str, before: str | None) -> None:
    earlier = records(before) if before else {}
    head = "| seed | cut at step (eval) | solved at step | best after the cut (step) |"
    head += " evaluations under 0.1 after the cut | at the last step |"
    if earlier:
        head += " identical to the sweep without the cut up to the cut |"
    print(head)
    print("| --- " * head.count(" |") + "|")
    for seed, rows in sorted(records(sweep).items()):
        evals = [row for row in rows if row["kind"] == "eval"]
        cuts = [row for row in rows if row["kind"] == "lr_cut"]
        solved = [row for row in rows if row["kind"] == "solved"]
        cut_step = cuts[0]["step"] if cuts else None
        after = [row for row in evals if cut_step is not None and row["step"] > cut_step]
        cell = f"{cut_step:,} ({cuts[0]['bit_errors']:.2f})" if cuts else "none"
        solved_cell = f"{solved[0]['step']:,}" if solved else "no"
        line = f"| {seed} | {cell} | {solved_cell} | "
        if after:
            best = min(after, key=lambda row: row["bit_errors"])
            low = sum(row["bit_errors"] < 0.1 for row in after)
            line += f"{best['bit_errors']:.3f} ({best['step']:,}) | {low} of {len(after)} | "
        else:
            line += "- | - | "
        line += f"{evals[-1]['bit_errors']:.3f} (step {evals[-1]['step']:,}) |"
        if earlier:
            upto = cut_step if cut_step is not None else evals[-1]["step"]
            mine = [(r["step"], r["bit_errors"]) for r in evals if r["step"] <= upto]
            theirs = [
                (r["step"], r["bit_errors"])
                for r in earlier.get(seed, [])
                if r["kind"] == "eval" and r["step"] <= upto
            ]
            line += f" {'yes' if mine == theirs and mine else 'no'} ({len(mine)} evaluations) |"
        print(line)


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        raise SystemExit("usage: evaluations.py SWEEP_FOLDER [SWEEP_FOLDER_WITHOUT_THE_CUT]")
    main(sys.argv[1], sys.argv[2] if len(sys.argv) == 3 else None)
