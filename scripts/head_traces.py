r"""How trained NTMs copy at long lengths: where the heads go, episode by episode (copy task).

    python scripts/head_traces.py --checkpoint checkpoints/ntm-copy.pt --lengths 20 80 120
    python scripts/head_traces.py --checkpoint 'runs/sweeps/x/*/run/checkpoints/last.pt' \
        --lengths 80 120 --episodes 20 --out docs/results/head-traces.md

For each checkpoint and length, over --episodes fresh episodes of memtasks/Copy-v0 (seeds 0..E-1),
from the traced weightings and memory (head 0 of each kind):
- bit errors per sequence (mean) and the share of perfect episodes;
- start found: the share of episodes whose read head, at the first recall step, is on the slot
  the write head wrote the first item to (largest weight);
- read mass on unwritten rows: the read head's mean total weight, over the input steps, on rows
  not yet written (row norm below 5% of the largest row norm at that step);
- unwritten rows left when the delimiter comes;
- overwritten: the mean relative change of the sequence's rows during recall (0: the write head
  leaves them alone).
A markdown table goes to stdout (and --out), with the command that made it; a sweep trial's
checkpoint is named by its settings (its params.json).
"""

from __future__ import annotations

import argparse
import glob
import json
import shlex
import sys
from pathlib import Path

import numpy as np
import torch

from memagents.checkpoint import CheckpointError
from memagents.evaluation import load_circuit, trace_episode

UNWRITTEN = 0.05
"""A row is unwritten while its norm is below this fraction of the largest row norm."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", action="append", required=True,
                        help="a checkpoint file or a quoted glob (repeatable)")  # fmt: skip
    parser.add_argument("--lengths", type=int, nargs="+", default=[20, 80, 120])
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    if args.episodes < 1 or min(args.lengths) < 1:
        parser.error("--episodes and --lengths must be >= 1")
    return args


def episode_figures(trace, length: int) -> dict[str, float]:
    """The figures of one copy episode of `length` items (input steps 0..L-1, delimiter at L)."""
    write = trace.write_weights[:, 0]  # (T, N)
    read = trace.read_weights[:, 0]
    memory = trace.memory  # (T, N, W): after each step
    recall = np.nonzero(trace.mask)[0]
    first_slot = int(write[0].argmax())
    norms = np.linalg.norm(memory, axis=-1)  # (T, N)
    unwritten = norms < UNWRITTEN * norms.max(-1, keepdims=True)
    # the read weights used at step t address the memory after step t - 1
    mass = [float(read[t][unwritten[t - 1]].sum()) for t in range(1, length)]
    rows = write[:length].argmax(-1)
    before, after = memory[length][rows], memory[-1][rows]
    errors = ((trace.outputs[recall] > 0.5) != (trace.targets[recall] > 0.5)).sum()
    return dict(
        bit_errors=float(errors),
        perfect=float(errors == 0),
        start_found=float(int(read[recall[0]].argmax()) == first_slot),
        unwritten_mass=float(np.mean(mass)) if mass else float("nan"),
        unwritten_rows=float(unwritten[length - 1].sum()),
        overwritten=float(np.abs(after - before).mean() / (np.abs(before).mean() + 1e-12)),
    )


COLUMNS = [
    ("bit_errors", "bit errors / seq", "{:.2f}"),
    ("perfect", "perfect", "{:.0%}"),
    ("start_found", "start found", "{:.0%}"),
    ("unwritten_mass", "read mass on unwritten rows", "{:.2f}"),
    ("unwritten_rows", "unwritten rows at delimiter", "{:.0f}"),
    ("overwritten", "overwritten in recall", "{:.3f}"),
]


def label(path: Path) -> str:
    """A sweep trial's checkpoint by its settings (the trial's params.json), others by path."""
    for folder in list(path.parents)[:4]:
        params = folder / "params.json"
        if params.is_file():
            settings = json.loads(params.read_text())
            return ", ".join(f"{key}={value}" for key, value in sorted(settings.items()))
    return str(path)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)
    paths = []
    for pattern in args.checkpoint:
        found = sorted(glob.glob(pattern)) or [pattern]
        paths.extend(Path(p) for p in found)
    lines = [
        "| checkpoint | length | " + " | ".join(title for _, title, _ in COLUMNS) + " |",
        "| --- | --- | " + " | ".join("---" for _ in COLUMNS) + " |",
    ]
    for path in paths:
        try:
            loaded = load_circuit(path)
        except (CheckpointError, OSError) as error:
            print(f"error: {path}: {error}", file=sys.stderr)
            return 2
        if loaded.circuit.name != "ntm" or "Copy-v0" not in loaded.config.env_id:
            print(f"error: {path}: needs an NTM trained on memtasks/Copy-v0", file=sys.stderr)
            return 2
        for length in args.lengths:
            rows = [
                episode_figures(
                    trace_episode(loaded.circuit, loaded.config, length=length, seed=seed), length
                )
                for seed in range(args.episodes)
            ]
            means = {key: float(np.mean([r[key] for r in rows])) for key, _, _ in COLUMNS}
            cells = [fmt.format(means[key]) for key, _, fmt in COLUMNS]
            lines.append(f"| {label(path)} | {length} | " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    command = shlex.join(["python", "scripts/head_traces.py", *(argv or sys.argv[1:])])
    table = "\n".join(lines) + f"\n\nMeans over {args.episodes} episodes. Made by `{command}`.\n"
    print()
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
