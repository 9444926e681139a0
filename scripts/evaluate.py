r"""Length generalisation of trained models: a markdown table, a plot, and the NTM's head weights.

    python scripts/evaluate.py \
        --model NTM=checkpoints/ntm-copy.pt --model DNC=checkpoints/dnc-copy.pt \
        --model LSTM=checkpoints/lstm-copy.pt --lengths 10 20 30 50 80 120 --out docs/results

Writes into --out:
    generalisation.md    bit errors per sequence (and % perfect sequences) at each length
    generalisation.png   bit errors per sequence against length, one line per model
    training_curves.png  loss against sequences seen (--curve NAME=RUN_DIR)
    weights_<name>.png   write and read weights over one episode (--weights-model, --weights-length)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from memagents.checkpoint import CheckpointError  # noqa: E402
from memagents.evaluation import (  # noqa: E402
    generalisation,
    load_circuit,
    markdown_table,
    trace_episode,
)
from memagents.runs import read_metrics  # noqa: E402


def parse_model(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=CHECKPOINT, got {text!r}")
    return name, Path(path)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=parse_model, action="append", required=True,
                        metavar="NAME=CHECKPOINT")  # fmt: skip
    parser.add_argument(
        "--curve", type=parse_model, action="append", default=[], metavar="NAME=RUN_DIR"
    )
    parser.add_argument("--lengths", type=int, nargs="+", default=[10, 20, 30, 50, 80, 120])
    parser.add_argument("--sequences", type=int, default=1000, help="sequences per length")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="docs/results")
    parser.add_argument("--weights-model", help="NAME of the model whose head weights are drawn")
    parser.add_argument("--weights-length", type=int, default=20)
    return parser.parse_args(argv)


def plot_generalisation(results, lengths, train_max, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    for name, by_length in results.items():
        ax.plot(lengths, [by_length[n].bit_errors for n in lengths], marker="o", label=name)
    if train_max:
        ax.axvline(train_max, color="grey", linestyle=":", label=f"longest trained ({train_max})")
    ax.set_xlabel("sequence length")
    ax.set_ylabel("bit errors per sequence")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_ylim(bottom=0)
    ax.set_title("length generalisation")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


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


def plot_weights(trace, name: str, path: Path) -> None:
    """Write ``weights_figure(trace, name)`` to `path`."""
    fig = weights_figure(trace, name)
    fig.savefig(path)
    plt.close(fig)


def weights_figure(trace, name: str):
    """One episode: input, output probability (grey where not scored), and the first write and
    read heads' weights over time, all on one viridis scale 0..1. The weight panels show the same
    slots (those either head visits, see ``slots_visited``), ticked with the real slot numbers,
    so a slot sits at the same height in both."""
    steps = len(trace.inputs)
    output = np.where(trace.mask[:, None] > 0, trace.outputs, np.nan)  # (T, O)
    panels = [("input", trace.inputs.T, "channel"), ("output", output.T, "channel")]
    heads = [
        (title, weights[:, 0].T)  # (N, T)
        for title, weights in (
            ("write weights", trace.write_weights),
            ("read weights", trace.read_weights),
        )
        if weights is not None
    ]
    low, high = slots_visited([w for _, w in heads]) if heads else (0, 0)
    panels += [(title, w[low : high + 1], "memory slot") for title, w in heads]
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad=(0.8, 0.8, 0.8))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels) + 0.8, 3.4), dpi=100)
    for ax, (title, rows, ylabel) in zip(axes, panels, strict=True):
        first = low if ylabel == "memory slot" else 0
        image = ax.imshow(
            rows,
            aspect="auto",
            cmap=cmap,
            vmin=0.0,
            vmax=1.0,
            origin="lower",
            interpolation="nearest",
            extent=(-0.5, steps - 0.5, first - 0.5, first + rows.shape[0] - 0.5),
        )
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title + (" (grey: not scored)" if title == "output" else ""))
        ax.set_xlabel("time")
        ax.set_ylabel(ylabel)
    fig.suptitle(f"{name}: one episode of {steps} steps")
    fig.tight_layout()
    fig.colorbar(image, ax=axes, fraction=0.02, pad=0.01, label="weight / probability")
    return fig


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for flag, values in (("--lengths", args.lengths), ("--sequences", [args.sequences])):
        if min(values) < 1:
            print(f"error: {flag} must all be >= 1, got {values}", file=sys.stderr)
            return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results, loaded = {}, {}
    for name, path in args.model:
        try:
            loaded[name] = load_circuit(path)
        except CheckpointError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        circuit, config = loaded[name].circuit, loaded[name].config
        results[name] = generalisation(
            circuit, config, args.lengths, args.sequences, seed=args.seed
        )
        print(name, {n: round(m.bit_errors, 4) for n, m in results[name].items()}, flush=True)
    table = markdown_table(results, args.lengths)
    first = next(iter(loaded.values())).config
    train_max = first.env_kwargs.get("max_length")
    header = (
        f"Bit errors per sequence (% perfect sequences) on {first.env_id} "
        f"{first.env_kwargs}, {args.sequences} sequences per length, seed {args.seed}.\n\n"
    )
    (out / "generalisation.md").write_text(header + table + "\n")
    plot_generalisation(results, args.lengths, train_max, out / "generalisation.png")
    print(table)
    written = [out / "generalisation.md", out / "generalisation.png"]
    if args.curve:
        written.append(out / "training_curves.png")
        plot_curves(args.curve, written[-1])
    weights_model = args.weights_model or next(iter(loaded))
    if weights_model not in loaded:
        print(f"error: --weights-model {weights_model!r} is not one of {list(loaded)}",
              file=sys.stderr)  # fmt: skip
        return 2
    model = loaded[weights_model]
    trace = trace_episode(model.circuit, model.config, length=args.weights_length, seed=args.seed)
    written.append(out / f"weights_{weights_model.lower()}.png")
    plot_weights(trace, weights_model, written[-1])
    print("wrote " + ", ".join(str(path) for path in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
