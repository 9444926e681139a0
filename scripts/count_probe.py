r"""Where a repeat-copy circuit keeps the count, and when it stops: is the count held linearly
past the training range, or squashed on the way in?

    python scripts/count_probe.py --checkpoint 'runs/sweeps/rc/*/run/checkpoints/last.pt' \
        --length 5 --out docs/results/rc/count-probe.md

For each checkpoint (an NTM or a DNC with an LSTM controller, trained on memtasks/RepeatCopy-v0),
over one episode per count R = 1..--max-repeats at --length items (the same items, episode seed
0, so only the count changes):
- stop after repetitions: the output steps before the circuit first raises the end marker,
  divided by the length (inf where it never does), at the counts in --report;
- count units: the controller's LSTM cells right after the count step (the step that shows it);
  the --units cells whose value follows the count most closely over the training range
  (|correlation|), and for each the count its value at R = --max-repeats stands for on the
  straight line fitted to it over the training range ("R_max reads as": R_max itself where the
  cell holds the count linearly far past training, the largest trained count where it stopped
  rising with training). The median over those units goes in the table.
With --trace-units H ...: below the table, for each checkpoint, count in --report and unit, the
unit's cell at the end of each repetition (the count step, then every --length output steps).
A markdown table goes to stdout (and --out), with the command that made it.
"""

from __future__ import annotations

import argparse
import glob
import shlex
import sys
from pathlib import Path

import numpy as np
import torch

from memagents.agent import make_envs, rollout
from memagents.checkpoint import CheckpointError
from memagents.controllers import LSTMController
from memagents.evaluation import checkpoint_label, length_options, load_circuit


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", action="append", required=True,
                        help="a checkpoint file or a quoted glob (repeatable)")  # fmt: skip
    parser.add_argument("--length", type=int, default=5)
    parser.add_argument("--max-repeats", type=int, default=30)
    parser.add_argument("--report", type=int, nargs="+", default=[10, 12, 15, 20, 25, 30],
                        help="the counts whose stop the table shows")  # fmt: skip
    parser.add_argument("--units", type=int, default=3)
    parser.add_argument("--trace-units", type=int, nargs="+", default=[],
                        help="LSTM cells to follow repetition by repetition")  # fmt: skip
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    if args.length < 1 or args.units < 1 or args.max_repeats < 2:
        parser.error("--length and --units must be >= 1, --max-repeats >= 2")
    if not all(1 <= r <= args.max_repeats for r in args.report):
        parser.error(f"--report: each count must be in 1..{args.max_repeats}")
    return args


@torch.no_grad()
def probe_counts(circuit, config, length: int, max_repeats: int):
    """The stop (in repetitions) and the controller's cells after the count step, per count.

    Returns:
        stops (max_repeats,), cells (max_repeats, H): row R - 1 for count R, and per count the
        cells at the end of each repetition (R + 1, H): the count step, then every L steps.
    """
    envs = make_envs(config.env_id, 1, config.env_kwargs)
    stops, cells, repetitions = [], [], []
    try:
        for repeats in range(1, max_repeats + 1):
            batch = rollout(circuit, envs, seed=0, options=length_options(length, repeats),
                            keep_states=True)  # fmt: skip
            steps = int(batch.lengths[0])
            # items at steps 1..L, the count at L + 1, the output from L + 2
            cells.append(batch.states[length + 1].controller.cell[0].float().cpu().numpy())
            ends = range(length + 1, min(steps, length + 2 + length * repeats), length)
            repetitions.append(
                np.stack([batch.states[t].controller.cell[0].float().cpu().numpy() for t in ends])
            )
            end = torch.sigmoid(batch.logits[0, length + 2 : steps, -1]) > 0.5
            raised = torch.nonzero(end).flatten()
            stops.append(float(raised[0]) / length if len(raised) else float("inf"))
    finally:
        envs.close()
    return np.array(stops), np.stack(cells), repetitions


def count_units(cells: np.ndarray, trained: int, units: int) -> tuple[list[int], list[float]]:
    """The `units` cells that follow the count most closely over counts 1..trained, and the
    count each one's value at the largest count stands for on its training-range line."""
    counts = np.arange(1, len(cells) + 1, dtype=float)
    inside = cells[:trained]
    spread = inside.std(0)
    corr = np.zeros(cells.shape[1])
    live = spread > 1e-6
    centred = inside[:, live] - inside[:, live].mean(0)
    x = counts[:trained] - counts[:trained].mean()
    corr[live] = np.abs(x @ centred) / (np.linalg.norm(x) * np.linalg.norm(centred, axis=0))
    chosen = [int(h) for h in np.argsort(-corr)[:units]]
    reads = []
    for h in chosen:
        slope, intercept = np.polyfit(counts[:trained], inside[:, h], 1)
        reads.append(float((cells[-1, h] - intercept) / slope) if slope != 0 else float("nan"))
    return chosen, reads


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)
    paths = []
    for pattern in args.checkpoint:
        paths.extend(Path(p) for p in (sorted(glob.glob(pattern)) or [pattern]))
    head = ["checkpoint", *(f"stop at {r}" for r in args.report), "count units",
            f"{args.max_repeats} reads as"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    traces: list[str] = []
    for path in paths:
        try:
            loaded = load_circuit(path)
        except (CheckpointError, OSError) as error:
            print(f"error: {path}: {error}", file=sys.stderr)
            return 2
        config = loaded.config
        controller = getattr(loaded.circuit, "controller", None)
        if not config.env_id.endswith("RepeatCopy-v0") or not isinstance(
            controller, LSTMController
        ):
            print(f"error: {path}: needs a circuit with an LSTM controller trained on "
                  "memtasks/RepeatCopy-v0", file=sys.stderr)  # fmt: skip
            return 2
        trained = int(config.env_kwargs.get("max_repeats", 10))
        if args.max_repeats <= trained:
            print(f"error: --max-repeats must be past the training range (1..{trained})",
                  file=sys.stderr)  # fmt: skip
            return 2
        stops, cells, repetitions = probe_counts(
            loaded.circuit, config, args.length, args.max_repeats
        )
        name = checkpoint_label(path)
        for repeats in args.report:
            for unit in args.trace_units:
                values = " ".join(f"{v:.2f}" for v in repetitions[repeats - 1][:, unit])
                traces.append(f"- {name}, count {repeats}, unit {unit}: {values}")
        units, reads = count_units(cells, trained, args.units)
        cells_text = [f"{stops[r - 1]:.1f}" for r in args.report]
        lines.append(f"| {name} | " + " | ".join(cells_text)
                     + f" | {', '.join(map(str, units))} | {np.median(reads):.1f} |")  # fmt: skip
        print(lines[-1], flush=True)
    command = shlex.join(["python", "scripts/count_probe.py", *(argv or sys.argv[1:])])
    table = "\n".join(lines) + (
        f"\n\nLength {args.length}, one episode per count (seed 0). Made by `{command}`.\n"
    )
    if traces:
        table += "\nCells at the end of each repetition (the count step first):\n\n"
        table += "\n".join(traces) + "\n"
    print()
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
