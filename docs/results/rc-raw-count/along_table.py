"""Tables of along.sh's reading: bit errors per sequence by training step, median (min-max) over
the seeds, and per seed at the two goal conditions, beside the run's own evaluation at that step
(256 sequences of the training range, which a user has without any test condition).

    python docs/results/rc-raw-count/along_table.py PER_SEED.txt [PER_SEED.txt ...] > along.md

Each PER_SEED line is evaluate.py's "MODEL PATH {condition: bit errors}", MODEL being step-NNNNN
and PATH seedS/checkpoints/step-NNNNN.pt under the runs folder (RUNS, default /work/zr), whose
metrics.jsonl gives the run's evaluation and the step it was confirmed solved; SEQUENCES (default
300) is the number of sequences per condition the lines were evaluated on.
"""

from __future__ import annotations

import ast
import json
import os
import statistics
import sys
from pathlib import Path

GOALS = ("L=20 R=10", "L=10 R=20")


def read(paths: list[str]) -> dict[int, dict[str, dict[str, float]]]:
    """{step: {seed: {condition: bit errors}}}."""
    table: dict[int, dict[str, dict[str, float]]] = {}
    for path in paths:
        for line in Path(path).read_text().splitlines():
            model, checkpoint, figures = line.split(" ", 2)
            step = int(model.removeprefix("step-"))
            table.setdefault(step, {})[checkpoint.split("/")[0]] = ast.literal_eval(figures)
    return table


def run_records(runs: Path, seed: str) -> tuple[dict[int, float], int | None]:
    """The run's evaluation bit errors by step, and the step it was confirmed solved."""
    evals, solved = {}, None
    for line in (runs / seed / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record["kind"] == "eval":
            evals[record["step"]] = record["bit_errors"]
        elif record["kind"] == "solved" and solved is None:
            solved = record["step"]
    return evals, solved


def cell(values: list[float]) -> str:
    return f"{statistics.median(values):.3g} ({min(values):.3g}-{max(values):.3g})"


def main() -> int:
    table = read(sys.argv[1:])
    runs = Path(os.environ.get("RUNS", "/work/zr"))
    sequences = os.environ.get("SEQUENCES", "300")
    steps = sorted(table)
    seeds = sorted({seed for step in steps for seed in table[step]}, key=lambda s: int(s[4:]))
    conditions = list(next(iter(table[steps[0]].values())))
    records = {seed: run_records(runs, seed) for seed in seeds}

    names = ", ".join(seeds)
    print(
        f"Bit errors per sequence, median (min-max) over {len(seeds)} seeds ({names}), "
        f"{sequences} sequences per condition, by training step.\n"
    )
    print("| step | " + " | ".join(conditions) + " | run's own eval |")
    print("| --- " * (len(conditions) + 2) + "|")
    for step in steps:
        row = [cell([table[step][seed][c] for seed in seeds]) for c in conditions]
        own = cell([records[seed][0][step] for seed in seeds])
        print(f"| {step} | " + " | ".join(row) + f" | {own} |")

    solved = ", ".join(f"{seed} {records[seed][1]}" for seed in seeds)
    print(f"\nConfirmed solved (1,000 sequences under 0.1) at step: {solved}.\n")
    for goal in GOALS:
        print(f"{goal}, per seed (run's own eval in brackets):\n")
        print("| step | " + " | ".join(seeds) + " |")
        print("| --- " * (len(seeds) + 1) + "|")
        for step in steps:
            row = [f"{table[step][s][goal]:.3g} ({records[s][0][step]:.2g})" for s in seeds]
            print(f"| {step} | " + " | ".join(row) + " |")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
