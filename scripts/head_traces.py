r"""How trained NTMs and DNCs copy and repeat-copy past their training range: where the heads go,
episode by episode.

    python scripts/head_traces.py --checkpoint checkpoints/ntm-copy.pt --lengths 20 80 120
    python scripts/head_traces.py --checkpoint 'runs/sweeps/x/*/run/checkpoints/last.pt' \
        --lengths 80 120 --episodes 20 --out docs/results/head-traces.md
    python scripts/head_traces.py --checkpoint 'runs/sweeps/rc/*/run/checkpoints/last.pt' \
        --conditions length=10,repeats=10 length=20,repeats=10 length=10,repeats=20

For each checkpoint and length, over --episodes fresh episodes of memtasks/Copy-v0 (seeds 0..E-1),
from the traced weightings and memory (head 0 of each kind):
- bit errors per sequence (mean), the share of perfect episodes, and the first wrong output step
  (median; the sequence's length where none is wrong);
- start found: the share of episodes whose read head, at the first recall step, is on the slot
  the write head wrote the first item to (largest weight); where it is instead (median signed
  offset in slots, circular), and how focused (its largest weight, mean: near 1 a sharp jump,
  near 1/N a read spread over the memory);
- read mass on unwritten rows: the read head's mean total weight, over the input steps, on rows
  not yet written (row norm below 5% of the largest row norm at that step);
- unwritten rows left when the delimiter comes;
- first write peak: the write head's largest weight when the first item is written (near 1: the
  first item lands on one row; spread, it blurs into many);
- overwritten: the mean relative change of the sequence's rows during recall (0: the write head
  leaves them alone);
- read mass at the last recall step: the read weighting's total (an NTM's is 1 by construction;
  a DNC's read modes can lose mass to rows with no successor in the link matrix, step by step).
For an NTM or a DNC trained on memtasks/RepeatCopy-v0, over episodes of each --conditions
(length and repeats; items at steps 1..L, the count at L+1, the output from L+2):
- bit errors per sequence and the share of perfect episodes;
- first wrong step: the output steps before the first wrong bit (median over episodes), beside
  the training range's longest output (max_length x max_repeats steps);
- read on the due slot: the share of output steps whose read head (largest weight) is on the slot
  the write head wrote the due item to (item j mod L at output step j). At the step that wraps
  from the last item to the first a trained head is often between the two, so a model that
  loops well scores a little under 100%;
- end marker after repetitions: the output steps before the circuit first raises the end marker,
  divided by the length (median; the repeats asked for where it stops on time, inf where it
  never does);
- write peak: the write head's largest weight while the items come in (mean over the items; near
  1 each item lands on one row, low it is smeared over many);
- write revisits: for each item after the first, the largest cosine between its write weighting
  and an earlier item's (mean over the items): near 0 every item goes to rows of its own, near 1
  the write head writes over rows an earlier item went to;
- write head back on an item: the output steps before the write head's largest weight is first
  on a row an item went to (median; inf where it never is): a write head that walks one slot a
  step comes round a memory of N slots after N steps, into the sequence;
- overwritten in recall: as for copy, the items' rows from the end of the input to the end.
A markdown table goes to stdout (and --out), with the command that made it; a sweep trial's
checkpoint is named by its settings (its params.json).
"""

from __future__ import annotations

import argparse
import glob
import shlex
import sys
from pathlib import Path

import numpy as np
import torch

from memagents.checkpoint import CheckpointError
from memagents.evaluation import checkpoint_label, load_circuit, parse_condition, trace_episode

UNWRITTEN = 0.05
"""A row is unwritten while its norm is below this fraction of the largest row norm."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", action="append", required=True,
                        help="a checkpoint file or a quoted glob (repeatable)")  # fmt: skip
    parser.add_argument("--lengths", type=int, nargs="+", default=[20, 80, 120],
                        help="copy: the lengths")  # fmt: skip
    parser.add_argument("--conditions", nargs="+", default=["length=10,repeats=10"],
                        help="repeat copy: length=L,repeats=R ...")  # fmt: skip
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--memory-size", type=int, help="trace with this many memory slots "
                        "(default: as trained)")  # fmt: skip
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    if args.episodes < 1 or min(args.lengths) < 1:
        parser.error("--episodes and --lengths must be >= 1")
    try:
        args.conditions = [parse_condition(text) for text in args.conditions]
    except ValueError as error:
        parser.error(str(error))
    for condition in args.conditions:
        if set(condition) != {"length", "repeats"} or min(condition.values()) < 1:
            parser.error(f"--conditions: each needs length >= 1 and repeats >= 1, got {condition}")
    return args


def overwritten(before: np.ndarray, after: np.ndarray) -> float:
    """How much rows changed from ``before`` to ``after``: mean |change| over mean |before|."""
    return float(np.abs(after - before).mean() / (np.abs(before).mean() + 1e-12))


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
    wrong = (trace.outputs[recall] > 0.5) != (trace.targets[recall] > 0.5)  # (steps, bits)
    errors = wrong.sum()
    wrong_steps = np.nonzero(wrong.any(-1))[0]
    slots = read.shape[-1]
    offset = (int(read[recall[0]].argmax()) - first_slot + slots // 2) % slots - slots // 2
    return dict(
        bit_errors=float(errors),
        perfect=float(errors == 0),
        start_found=float(offset == 0),
        start_offset=float(offset),
        start_peak=float(read[recall[0]].max()),
        unwritten_mass=float(np.mean(mass)) if mass else float("nan"),
        unwritten_rows=float(unwritten[length - 1].sum()),
        first_write_peak=float(write[0].max()),
        overwritten=overwritten(before, after),
        first_wrong=float(wrong_steps[0]) if len(wrong_steps) else float(len(recall)),
        end_mass=float(read[recall[-1]].sum()),
    )


def repeat_copy_figures(trace, length: int, repeats: int) -> dict[str, float]:
    """The figures of one repeat-copy episode (items at steps 1..L, output from L + 2)."""
    write = trace.write_weights[:, 0]  # (T, N)
    read = trace.read_weights[:, 0]
    recall = np.nonzero(trace.mask)[0]
    outputs = length * repeats
    slots = write[1 : length + 1].argmax(-1)  # where item i went
    expected = slots[np.arange(outputs) % length]
    actual = read[length + 2 : length + 2 + outputs].argmax(-1)
    raised = trace.outputs[recall] > 0.5  # (steps, bits)
    wrong = raised != (trace.targets[recall] > 0.5)
    wrong_steps = np.nonzero(wrong.any(-1))[0]
    # The end marker is the target's last channel; where the circuit first raises it, counted in
    # repetitions of the sequence (the number it made before stopping; never raised: inf).
    ends = np.nonzero(raised[:, -1])[0]
    items = write[1 : length + 1]  # (L, N): item i is written at step i + 1
    unit = items / np.maximum(np.linalg.norm(items, axis=-1, keepdims=True), 1e-12)
    cosines = unit @ unit.T
    revisits = [cosines[i, :i].max() for i in range(1, length)]
    # During the output: the first step the write head's largest weight is on a row an item went
    # to (a walking write head that wraps round the memory), and how much the items' rows change
    # from the end of the input to the end of the episode.
    onto_items = np.isin(write[length + 2 : length + 2 + outputs].argmax(-1), slots)
    returns = np.nonzero(onto_items)[0]
    changed = float("nan")
    if trace.memory is not None:
        changed = overwritten(trace.memory[length + 1][slots], trace.memory[-1][slots])
    return dict(
        bit_errors=float(wrong.sum()),
        perfect=float(not wrong.any()),
        first_wrong=float(wrong_steps[0]) if len(wrong_steps) else float(len(recall)),
        on_slot=float(np.mean(actual == expected)),
        end_repetition=float(ends[0] / length) if len(ends) else float("inf"),
        write_peak=float(items.max(-1).mean()),
        write_revisits=float(np.mean(revisits)) if revisits else float("nan"),
        write_returns=float(returns[0]) if len(returns) else float("inf"),
        overwritten=changed,
    )


REPEAT_COLUMNS = [
    ("bit_errors", "bit errors / seq", "{:.2f}"),
    ("perfect", "perfect", "{:.0%}"),
    ("first_wrong", "first wrong step (median)", "{:.0f}"),
    ("on_slot", "read on the due slot", "{:.0%}"),
    ("end_repetition", "end marker after repetitions (median)", "{:.1f}"),
    ("write_peak", "write peak", "{:.2f}"),
    ("write_revisits", "write revisits", "{:.2f}"),
    ("write_returns", "write head back on an item at output step (median)", "{:.0f}"),
    ("overwritten", "overwritten in recall", "{:.3f}"),
]

COLUMNS = [
    ("bit_errors", "bit errors / seq", "{:.2f}"),
    ("perfect", "perfect", "{:.0%}"),
    ("first_wrong", "first wrong step (median)", "{:.0f}"),
    ("start_found", "start found", "{:.0%}"),
    ("start_offset", "read - start at recall (slots, median)", "{:+.0f}"),
    ("start_peak", "read peak at recall", "{:.2f}"),
    ("unwritten_mass", "read mass on unwritten rows", "{:.2f}"),
    ("unwritten_rows", "unwritten rows at delimiter", "{:.0f}"),
    ("first_write_peak", "first write peak", "{:.2f}"),
    ("overwritten", "overwritten in recall", "{:.3f}"),
    ("end_mass", "read mass at the last recall step", "{:.2f}"),
]


MEDIANS = {"start_offset", "first_wrong", "end_repetition", "write_returns"}
"""The columns summarised by their median over episodes (the others by their mean)."""


def task_of(env_id: str) -> str | None:
    """ "copy" or "repeat" for the envs this script traces, else None."""
    name = env_id.rsplit("/", 1)[-1]
    return {"Copy-v0": "copy", "RepeatCopy-v0": "repeat"}.get(name)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)
    paths = []
    for pattern in args.checkpoint:
        found = sorted(glob.glob(pattern)) or [pattern]
        paths.extend(Path(p) for p in found)
    lines: list[str] = []
    task = None
    horizons = set()
    for path in paths:
        try:
            loaded = load_circuit(path, memory_size=args.memory_size)
        except (CheckpointError, OSError) as error:
            print(f"error: {path}: {error}", file=sys.stderr)
            return 2
        kind = task_of(loaded.config.env_id)
        if loaded.circuit.name not in ("ntm", "dnc") or kind is None:
            print(f"error: {path}: needs an NTM or a DNC trained on memtasks/Copy-v0 or "
                  "memtasks/RepeatCopy-v0", file=sys.stderr)  # fmt: skip
            return 2
        if task is not None and kind != task:
            print(f"error: {path}: copy and repeat-copy checkpoints in one table", file=sys.stderr)
            return 2
        task = kind
        columns = COLUMNS if kind == "copy" else REPEAT_COLUMNS
        if not lines:
            first = "length" if kind == "copy" else "length, repeats"
            lines = [
                f"| checkpoint | {first} | " + " | ".join(title for _, title, _ in columns) + " |",
                "| --- | --- | " + " | ".join("---" for _ in columns) + " |",
            ]
        if kind == "copy":
            cases = [({"length": length}, length) for length in args.lengths]
        else:
            kwargs = loaded.config.env_kwargs
            horizons.add(kwargs.get("max_length", 0) * kwargs.get("max_repeats", 0))
            cases = [(c, f"{c['length']}, {c['repeats']}") for c in args.conditions]
        for condition, name in cases:
            rows = []
            for seed in range(args.episodes):
                trace = trace_episode(loaded.circuit, loaded.config, seed=seed, **condition)
                if kind == "copy":
                    rows.append(episode_figures(trace, condition["length"]))
                else:
                    rows.append(
                        repeat_copy_figures(trace, condition["length"], condition["repeats"])
                    )
            summary = {key: float(np.mean([r[key] for r in rows])) for key, _, _ in columns}
            for key in MEDIANS & summary.keys():
                summary[key] = float(np.median([r[key] for r in rows]))
            cells = [fmt.format(summary[key]) for key, _, fmt in columns]
            lines.append(f"| {checkpoint_label(path)} | {name} | " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    command = shlex.join(["python", "scripts/head_traces.py", *(argv or sys.argv[1:])])
    notes = f"Means over {args.episodes} episodes (the columns marked median: medians)"
    if args.memory_size:
        notes += f"; every checkpoint with {args.memory_size} memory slots"
    if task == "repeat":
        notes += ("; the training range's longest output: "
                  + ", ".join(f"{h} steps" for h in sorted(horizons)))  # fmt: skip
    table = "\n".join(lines) + f"\n\n{notes}. Made by `{command}`.\n"
    print()
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
