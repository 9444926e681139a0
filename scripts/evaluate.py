r"""Generalisation of trained models: a markdown table, a plot, and the NTM's head weights.

    python scripts/evaluate.py \
        --model NTM=checkpoints/ntm-copy.pt --model DNC=checkpoints/dnc-copy.pt \
        --model LSTM=checkpoints/lstm-copy.pt --lengths 10 20 30 50 80 120 --out docs/results

Several checkpoints per model (seeds), each figure the median (min-max) over them:

    python scripts/evaluate.py --model 'NTM=runs/sweeps/x/*/run/checkpoints/last.pt' \
        --model DNC=runs/dnc-1,runs/dnc-2 --conditions items=2 items=6 items=10 items=20

--model NAME=PATH[,PATH...]: each PATH is a checkpoint file, a run folder (its last checkpoint)
or a glob pattern (quote it: the script expands it, sorted). --lengths L1 L2 ... pins sequence
lengths; --conditions C1 C2 ... pins any reset options the task takes, each a length (80) or
KEY=VALUE[,KEY=VALUE] (length=20,repeats=10 for RepeatCopy, items=20 for AssociativeRecall,
num_inputs=40,num_outputs=32 for PrioritySort); give one of the two.

Writes into --out:
    generalisation.md    bit errors per sequence under each condition (one checkpoint per model:
                         and % perfect sequences; several: median (min-max) over them and their
                         number), and the command that made it
    generalisation.png   bit errors per sequence against the condition, one line per model (the
                         median; several checkpoints: their range as a shaded band)
    training_curves.png  loss against sequences seen (--curve NAME=RUN_DIR)
    weights_<name>.png   write and read weights over one episode (--weights-model, --weights-length;
                         the model's first checkpoint); several heads of a kind (an 8 + 8-head
                         priority-sort NTM): each slot's largest weight over them, or with
                         --weights-heads each one panel per head
    placement_<name>.png on PrioritySort: the slot written against each input's priority and
                         the slot read at each output step (the paper's figure 17), with the
                         rank correlation of priority and write slot and the share of reads
                         in priority order

On DynamicNGrams, generalisation.md also holds each model's cost in bits per sequence against the
optimal estimator's on the same sequences and the gap in percent, median (min-max) over its
checkpoints.
"""

from __future__ import annotations

import argparse
import glob
import shlex
import sys
from pathlib import Path

import matplotlib
import numpy as np
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from memagents.checkpoint import CheckpointError  # noqa: E402
from memagents.evaluation import (  # noqa: E402
    Condition,
    check_conditions,
    condition_figures,
    condition_label,
    condition_name,
    conditions_table,
    dynamic_ngrams_task,
    load_circuit,
    ngrams_cost,
    parse_condition,
    trace_episode,
)
from memagents.runs import CHECKPOINT_NAME, read_metrics  # noqa: E402
from memagents.sweeps import median_range, spread  # noqa: E402


def parse_curve(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=RUN_DIR, got {text!r}")
    return name, Path(path)


def parse_model(text: str) -> tuple[str, list[str]]:
    name, sep, paths = text.partition("=")
    if not sep or not name or not paths or not all(paths.split(",")):
        raise argparse.ArgumentTypeError(f"expected NAME=PATH[,PATH...], got {text!r}")
    return name, paths.split(",")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=parse_model, action="append", required=True,
                        metavar="NAME=PATH[,PATH...]", help="a model's checkpoint(s): files, run "
                        "folders or quoted glob patterns")  # fmt: skip
    parser.add_argument(
        "--curve", type=parse_curve, action="append", default=[], metavar="NAME=RUN_DIR"
    )
    parser.add_argument("--lengths", type=int, nargs="+", help="default: 10 20 30 50 80 120")
    parser.add_argument(
        "--conditions", nargs="+", metavar="CONDITION",
        help="80, length=20,repeats=10, items=20, ... (instead of --lengths)",
    )  # fmt: skip
    parser.add_argument("--sequences", type=int, default=1000, help="sequences per condition")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-threads", type=int, default=1, help="torch threads (default 1, as "
                        "training: a second thread can make a step several times slower on a "
                        "busy 2-core machine; 0: torch's default)")  # fmt: skip
    parser.add_argument("--memory-size", type=int, help="evaluate NTMs and DNCs with this many "
                        "memory slots (default: as trained)")  # fmt: skip
    parser.add_argument("--out", default="docs/results")
    parser.add_argument("--weights-model", help="NAME of the model whose head weights are drawn")
    parser.add_argument("--weights-length", type=int, default=20)
    parser.add_argument(
        "--weights-heads", choices=HEADS_SHOWN, default="max", help="several heads of a kind: "
        "max, each slot's largest weight over them; each, one panel per head",
    )  # fmt: skip
    return parser.parse_args(argv)


DEFAULT_LENGTHS = [10, 20, 30, 50, 80, 120]


def conditions_of(args: argparse.Namespace) -> list[Condition]:
    """The conditions of --lengths or --conditions (default: DEFAULT_LENGTHS)."""
    if args.lengths and args.conditions:
        raise ValueError("give --lengths or --conditions, not both")
    if args.conditions:
        return [parse_condition(token) for token in args.conditions]
    lengths = args.lengths or DEFAULT_LENGTHS
    if min(lengths) < 1:
        raise ValueError(f"--lengths must all be >= 1, got {lengths}")
    return [{"length": length} for length in lengths]


def checkpoint_paths(name: str, patterns: list[str]) -> list[Path]:
    """The checkpoint files of ``--model NAME=PATH[,PATH...]``: each PATH a file, a run folder
    (its ``checkpoints/last.pt``) or a glob pattern (its matches, sorted)."""
    paths: list[Path] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern, recursive=True))
            if not matches:
                raise ValueError(f"--model {name}: {pattern!r} matches no file")
        else:
            matches = [pattern]
        paths += [Path(m) / CHECKPOINT_NAME if Path(m).is_dir() else Path(m) for m in matches]
    twice = sorted({str(path) for path in paths if paths.count(path) > 1})
    if twice:
        raise ValueError(f"--model {name}: checkpoint(s) given more than once: {twice}")
    return paths


def x_axis(conditions: list[Condition]) -> tuple[list[float], str, str | None]:
    """Where each condition sits on the plot's x axis, the axis label, and the option whose
    value x is (None: one place per condition, labelled)."""
    keys = {key for condition in conditions for key in condition}
    if len(keys) == 1 and all(len(condition) == 1 for condition in conditions):
        (key,) = keys
        label = "sequence length" if key == "length" else key
        return [float(condition[key]) for condition in conditions], label, key
    return [float(index) for index in range(len(conditions))], "condition", None


def plot_generalisation(results, conditions, train_max, path: Path) -> None:
    """Write ``generalisation_figure(results, conditions, train_max)`` to `path`."""
    fig = generalisation_figure(results, conditions, train_max)
    fig.savefig(path)
    plt.close(fig)


def generalisation_figure(results, conditions, train_max):
    """Bit errors per sequence under each condition, one line per model: the median over its
    checkpoints, their range (min-max) as a shaded band when it has several. The x axis is the
    value of the one option the conditions vary (a length, a number of items), else one place per
    condition; the y axis is linear up to 1 bit error, logarithmic above.

    Args:
        results: per model, one dict per checkpoint of BatchMetrics by ``condition_name``.
        train_max: the training range's largest value of the x axis' option, or None.
    """
    xs, xlabel, key = x_axis(conditions)
    names = [condition_name(condition) for condition in conditions]
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    for model, checkpoints in results.items():
        spreads = [spread([figures[n].bit_errors for figures in checkpoints]) for n in names]
        count = len(checkpoints)
        label = model if count == 1 else f"{model} (median of {count}, range shaded)"
        (line,) = ax.plot(xs, [s.median for s in spreads], marker="o", label=label)
        if count > 1:
            ax.fill_between(xs, [s.low for s in spreads], [s.high for s in spreads],
                            color=line.get_color(), alpha=0.2, linewidth=0)  # fmt: skip
    if train_max and key is not None:
        what = "longest trained" if key == "length" else f"largest trained {key}"
        ax.axvline(train_max, color="grey", linestyle=":", label=f"{what} ({train_max})")
    if key is None:
        ax.set_xticks(xs, [condition_label(condition) for condition in conditions])
        ax.tick_params(axis="x", labelrotation=30 if len(conditions) > 4 else 0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("bit errors per sequence")
    ax.set_yscale("symlog", linthresh=1.0)  # 0 .. hundreds of bit errors
    ax.set_ylim(bottom=0)
    ax.set_title("length generalisation" if key == "length" else "generalisation")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_curves(curves: list[tuple[str, Path]], path: Path) -> None:
    """Loss (bits per sequence) against sequences seen, from each run's metrics.jsonl."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    for name, run_dir in curves:
        rows = [row for row in read_metrics(run_dir) if row["kind"] == "train"]
        ax.plot([r["sequences"] for r in rows], [r["loss_bits"] for r in rows], label=name)
    ax.set_xlabel("training sequences")
    ax.set_ylabel("loss (bits per sequence)")
    ax.set_yscale("log")
    ax.set_title("training curves")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


WEIGHT_SHOWN = 0.05
"""The head-weights figure shows the memory slots to which a head gives at least this weight."""


def slots_visited(weights: list[np.ndarray], margin: int = 2) -> tuple[int, int]:
    """The first and last memory slot any head gives at least ``WEIGHT_SHOWN`` at some step,
    widened by `margin` slots (within the memory).

    Args:
        weights: per head, (N, T) weights over time.
    """
    size = weights[0].shape[0]
    visited = np.flatnonzero(np.max([w.max(axis=1) for w in weights], axis=0) >= WEIGHT_SHOWN)
    if not len(visited):
        return 0, size - 1
    return max(int(visited[0]) - margin, 0), min(int(visited[-1]) + margin, size - 1)


def plot_weights(trace, name: str, path: Path, heads: str = "max") -> None:
    """Write ``weights_figure(trace, name, heads)`` to `path`."""
    fig = weights_figure(trace, name, heads)
    fig.savefig(path)
    plt.close(fig)


def priority_placement(trace) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """A PrioritySort episode (inputs: bits, priority, delimiter channels): each input vector's
    priority, the memory slot the write heads favour at its step (the slot of the largest weight
    over slots and heads), the slot the read heads favour at each scored step, and the rank
    correlation (Spearman) of priority with write slot: near +1 or -1 when writes are placed by
    priority, as the paper's NTM placed them (its figure 17), near 0 when not; and the fraction
    of output steps that read the slot where the input due at that step (the k-th highest
    priority at output step k) was written: 1 when the reads go in priority order, wherever the
    writes went.

    Raises:
        ValueError: a trace without write and read weights, or no delimiter step.
    """
    if trace.write_weights is None or trace.read_weights is None:
        raise ValueError("priority placement needs a trace with write and read weights")
    delimiter = trace.inputs[:, -1]
    if not (delimiter > 0).any():
        raise ValueError("priority placement needs a PrioritySort episode (no delimiter step)")
    num_inputs = int(np.argmax(delimiter > 0))
    priorities = trace.inputs[:num_inputs, -2]
    write_slots = trace.write_weights[:num_inputs].max(axis=1).argmax(axis=1)
    read_slots = trace.read_weights[trace.mask > 0].max(axis=1).argmax(axis=1)
    ranks = [np.argsort(np.argsort(v, kind="stable")) for v in (priorities, write_slots)]
    centred = [r - r.mean() for r in ranks]
    norm = float(np.sqrt((centred[0] ** 2).sum() * (centred[1] ** 2).sum()))
    rho = float((centred[0] * centred[1]).sum() / norm) if norm > 0 else 0.0
    due = np.argsort(-priorities, kind="stable")[: len(read_slots)]
    in_order = float(np.mean(write_slots[due] == read_slots)) if len(read_slots) else 0.0
    return priorities, write_slots, read_slots, rho, in_order


def plot_priority_placement(trace, name: str, path: Path) -> tuple[float, float]:
    """Write the priority-sort placement figure (``priority_placement``) to `path`: write slot
    against priority, and read slot against output step; returns the rank correlation and the
    fraction of reads in priority order."""
    priorities, write_slots, read_slots, rho, in_order = priority_placement(trace)
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.5, 3.4), dpi=100)
    left.scatter(priorities, write_slots, s=18)
    left.set_xlabel("priority of the input vector")
    left.set_ylabel("memory slot written")
    left.set_title(f"writes (rank correlation {rho:+.2f})")
    right.plot(np.arange(len(read_slots)), read_slots, "o-", ms=4)
    right.set_xlabel("output step (highest priority first)")
    right.set_ylabel("memory slot read")
    right.set_title(f"reads ({in_order:.0%} at the slot of the input due)")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.suptitle(f"{name}: where one priority-sort episode is written and read")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return rho, in_order


HEADS_SHOWN = ("max", "each")
"""How the head-weights figure shows several heads of a kind: ``max``, one panel per kind with
each slot's largest weight over the heads (where any head looks: one head's weights when there
is one); ``each``, one panel per head, a row per kind."""


def head_panels(trace, heads: str = "max") -> list[list[tuple[str, np.ndarray]]]:
    """The weight panels of ``weights_figure``, in rows: (title, (N, T) weights over time).

    ``max``: one row, a panel per kind (write, read); ``each``: a row per kind, a panel per head.
    """
    if heads not in HEADS_SHOWN:
        raise ValueError(f"heads must be one of {HEADS_SHOWN}, got {heads!r}")
    rows: list[list[tuple[str, np.ndarray]]] = []
    for kind, weights in (("write", trace.write_weights), ("read", trace.read_weights)):
        if weights is None:  # (T, heads, N) otherwise
            continue
        count = weights.shape[1]
        if count == 1:
            panels = [(f"{kind} weights", weights[:, 0].T)]
        elif heads == "each":
            panels = [(f"{kind} head {head}", weights[:, head].T) for head in range(count)]
        else:
            panels = [(f"{kind} weights (max over {count} heads)", weights.max(axis=1).T)]
        rows.append(panels)
    if heads == "max" or all(len(row) == 1 for row in rows):
        return [[panel for row in rows for panel in row]] if rows else []
    return rows


def weights_figure(trace, name: str, heads: str = "max"):
    """One episode: input, output probability (grey where not scored), and the heads' weights
    over time, all on one viridis scale 0..1. With several heads of a kind, ``heads`` says how
    they are drawn (``HEADS_SHOWN``): the largest weight over them per slot, or each head in a
    row of its kind. The weight panels show the same slots (those any head visits, see
    ``slots_visited``), ticked with the real slot numbers, so a slot sits at the same height in
    all of them."""
    steps = len(trace.inputs)
    output = np.where(trace.mask[:, None] > 0, trace.outputs, np.nan)  # (T, O)
    weight_rows = head_panels(trace, heads)
    weights = [w for row in weight_rows for _, w in row]
    low, high = slots_visited(weights) if weights else (0, 0)
    data = [("input", trace.inputs.T, "channel"), ("output", output.T, "channel")]
    cropped = [
        [(title, w[low : high + 1], "memory slot") for title, w in row] for row in weight_rows
    ]
    rows = [data + (cropped[0] if cropped else [])] if len(cropped) <= 1 else [data, *cropped]
    columns = max(len(row) for row in rows)
    width = 3.2 if len(rows) == 1 else 2.6
    fig, axes = plt.subplots(
        len(rows), columns, figsize=(width * columns + 0.8, 3.4 * len(rows)), dpi=100,
        squeeze=False, layout="constrained" if len(rows) > 1 else None,
    )  # fmt: skip
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad=(0.8, 0.8, 0.8))
    for row_axes, panels in zip(axes, rows, strict=True):
        for ax in row_axes[len(panels) :]:
            ax.set_axis_off()
        for ax, (title, values, ylabel) in zip(row_axes, panels, strict=False):
            first = low if ylabel == "memory slot" else 0
            image = ax.imshow(
                values,
                aspect="auto",
                cmap=cmap,
                vmin=0.0,
                vmax=1.0,
                origin="lower",
                interpolation="nearest",
                extent=(-0.5, steps - 0.5, first - 0.5, first + values.shape[0] - 0.5),
            )
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_title(title + (" (grey: not scored)" if title == "output" else ""))
            ax.set_xlabel("time")
            ax.set_ylabel(ylabel)
    fig.suptitle(f"{name}: one episode of {steps} steps")
    if len(rows) == 1:
        fig.tight_layout()
    used = [ax for ax in axes.ravel() if ax.axison]
    fig.colorbar(image, ax=used, fraction=0.02, pad=0.01, label="weight / probability")
    return fig


def ngrams_table(loaded: dict, sequences: int, seed: int) -> str:
    """DynamicNGrams: each model's cost in bits per sequence, the optimal estimator's on the same
    sequences and the gap in percent (``memagents.evaluation.ngrams_cost``), median (min-max)
    over the model's checkpoints, as a markdown table."""
    lines = [
        "Cost in bits per sequence against the optimal Bayesian estimator on the same sequences:",
        "",
        "| model | checkpoints | cost (bits per sequence) | optimal estimator | gap (%) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, models in loaded.items():
        costs = [ngrams_cost(m.circuit, m.config, sequences, seed=seed) for m in models]
        for model, cost in zip(models, costs, strict=True):
            print(f"{name} {model.path}: {cost.loss_bits:.2f} bits, gap {cost.gap_percent:.2f}%")
        cells = [
            median_range([getattr(cost, field) for cost in costs], fmt)
            for field, fmt in (("loss_bits", ".2f"), ("optimal_loss_bits", ".2f"),
                               ("gap_percent", ".2f"))
        ]  # fmt: skip
        lines.append(f"| {name} | {len(models)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    try:
        conditions = conditions_of(args)
        if args.sequences < 1:
            raise ValueError(f"--sequences must all be >= 1, got [{args.sequences}]")
        if args.num_threads < 0:
            raise ValueError(f"--num-threads must be >= 0, got {args.num_threads}")
        names = [name for name, _ in args.model]
        if len(set(names)) < len(names):
            raise ValueError(f"a model NAME given twice in --model: {names}")
        paths = {name: checkpoint_paths(name, patterns) for name, patterns in args.model}
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.weights_model is not None and args.weights_model not in paths:
        print(f"error: --weights-model {args.weights_model!r} is not one of {list(paths)}",
              file=sys.stderr)  # fmt: skip
        return 2
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    loaded = {}
    for name, files in paths.items():
        try:
            loaded[name] = [load_circuit(path, memory_size=args.memory_size) for path in files]
        except CheckpointError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        for model in loaded[name]:
            try:  # before any evaluation: a condition the task refuses
                check_conditions(model.config.env_id, model.config.env_kwargs, conditions)
            except ValueError as error:
                print(f"error: --model {name} ({model.path}, {model.config.env_id}): {error}",
                      file=sys.stderr)  # fmt: skip
                return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    for name, models in loaded.items():
        results[name] = []
        for model in models:
            figures = condition_figures(
                model.circuit, model.config, conditions, args.sequences, seed=args.seed
            )
            results[name].append(figures)
            shown = {condition_label(c): round(figures[condition_name(c)].bit_errors, 4)
                     for c in conditions}  # fmt: skip
            print(name if len(models) == 1 else f"{name} {model.path}", shown, flush=True)
    table = conditions_table(results, conditions)
    first = next(iter(loaded.values()))[0].config
    if dynamic_ngrams_task(first.env_id, first.env_kwargs) is not None:
        table += "\n\n" + ngrams_table(loaded, args.sequences, args.seed)
    _, _, key = x_axis(conditions)
    train_max = first.env_kwargs.get(f"max_{key}") if key else None
    several = any(len(models) > 1 for models in loaded.values())
    per = "length" if key == "length" else "condition"
    what = (
        "Bit errors per sequence, median (min-max) over each model's checkpoints"
        if several
        else "Bit errors per sequence (% perfect sequences)"
    )
    header = (
        f"{what} on {first.env_id} {first.env_kwargs}, {args.sequences} sequences per {per}, "
        f"seed {args.seed}"
        + (f", every model with {args.memory_size} memory slots" if args.memory_size else "")
        + ".\n\n"
    )
    command = "python scripts/evaluate.py " + shlex.join(argv)
    (out / "generalisation.md").write_text(f"{header}{table}\n\nMade by `{command}`.\n")
    plot_generalisation(results, conditions, train_max, out / "generalisation.png")
    print(table)
    print(f"\n(`{command}`)")
    written = [out / "generalisation.md", out / "generalisation.png"]
    if args.curve:
        written.append(out / "training_curves.png")
        plot_curves(args.curve, written[-1])
    weights_model = args.weights_model or next(iter(loaded))
    model = loaded[weights_model][0]
    length = args.weights_length
    try:  # a task without lengths (AssociativeRecall, PrioritySort): an episode as sampled
        check_conditions(model.config.env_id, model.config.env_kwargs, [{"length": length}])
    except ValueError:
        length = None
    trace = trace_episode(model.circuit, model.config, length=length, seed=args.seed)
    written.append(out / f"weights_{weights_model.lower()}.png")
    plot_weights(trace, weights_model, written[-1], args.weights_heads)
    if model.config.env_id == "memtasks/PrioritySort-v0" and trace.write_weights is not None:
        written.append(out / f"placement_{weights_model.lower()}.png")
        rho, in_order = plot_priority_placement(trace, weights_model, written[-1])
        print(
            f"{weights_model}: rank correlation of priority with write slot {rho:+.2f}; "
            f"{in_order:.0%} of output steps read the slot of the input due"
        )
    print("wrote " + ", ".join(str(path) for path in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
