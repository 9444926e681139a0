"""Test a trained circuit: bit errors per length, and one episode step by step.

    python scripts/test.py --run <run name>  --lengths 20 50 120
    python scripts/test.py --checkpoint checkpoints/ntm-copy.pt --lengths 20 50 120

Prints bit errors per sequence at each length (the training range and beyond), then one episode
step by step: input, target and output bits, and where the write and read heads look. Heatmaps of
the write/read weights and memory over time, and the input/target/output grids, go to the visdom
env `<run>-test` when a server answers, and always to PNG files: <run>/test/ for a run, or
runs/checkpoint-tests/<file name>/ for a checkpoint file (not a run folder; --out to choose).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import torch

from memagents.checkpoint import CheckpointError
from memagents.evaluation import (
    describe_episode,
    find_checkpoint,
    generalisation,
    load_circuit,
    markdown_table,
    plot_episode,
    trace_episode,
)
from memagents.plotting import Plotter
from memagents.runs import setup_logging

log = logging.getLogger("memagents.test")
CHECKPOINT_TESTS = "checkpoint-tests"
"""Where a checkpoint file's pictures go, under --runs-dir: a folder no training run uses."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="a run name (folder under --runs-dir) or a run folder")
    source.add_argument("--checkpoint", help="a checkpoint file (or a run folder)")
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument(
        "--lengths", type=int, nargs="+", help="sequence lengths (default: the training maximum)"
    )
    parser.add_argument("--repeats", type=int, help="pin the repeat count (RepeatCopy)")
    parser.add_argument("--sequences", type=int, default=200, help="episodes per length")
    parser.add_argument("--show-length", type=int, help="length of the episode shown step by step")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-threads", type=int, default=1, help="torch threads (default 1, as "
                        "training; 0: torch's default)")  # fmt: skip
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--out",
        help="folder of the PNG files (default: <run>/test, or "
        "<runs-dir>/checkpoint-tests/<file name> for a checkpoint file)",
    )
    parser.add_argument("--no-visdom", action="store_true")
    parser.add_argument("--visdom-server", default="http://localhost")
    parser.add_argument("--visdom-port", type=int, default=8097)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(None)
    for name, value in (("--sequences", args.sequences),):
        if value < 1:
            print(f"error: {name} must be >= 1, got {value}", file=sys.stderr)
            return 2
    if args.num_threads < 0:
        print(f"error: --num-threads must be >= 0, got {args.num_threads}", file=sys.stderr)
        return 2
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    if args.lengths and min(args.lengths) < 1:
        print(f"error: --lengths must all be >= 1, got {args.lengths}", file=sys.stderr)
        return 2
    try:
        path = find_checkpoint(args.run, args.checkpoint, args.runs_dir)
        loaded = load_circuit(path, torch.device(args.device))
    except (CheckpointError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    circuit, config = loaded.circuit, loaded.config
    in_run = path.parent.name == "checkpoints" and (path.parent.parent / "config.json").is_file()
    run_name = path.parent.parent.name if in_run else path.stem
    if args.out:
        out_dir = Path(args.out)
    elif in_run:
        out_dir = path.parent.parent / "test"
    else:  # not among the runs' folders, where it would pass for a training run
        out_dir = Path(args.runs_dir) / CHECKPOINT_TESTS / path.stem
    train_max = config.env_kwargs.get("max_length")
    lengths = args.lengths or [train_max or 10]
    print(
        f"checkpoint {path}: {config.agent} trained {loaded.checkpoint['step']} steps on "
        f"{config.env_id} {config.env_kwargs}"
    )
    print(f"pictures of one episode go to {out_dir}/")
    print(circuit)

    try:  # the task checks the options (a repeat count for a task without repeats, ...)
        results = generalisation(
            circuit, config, lengths, args.sequences, repeats=args.repeats, seed=args.seed
        )
    except ValueError as error:
        print(f"error: {config.env_id}: {error}", file=sys.stderr)
        return 2
    print(f"\nbit errors per sequence (% perfect) over {args.sequences} sequences per length:")
    print(markdown_table({run_name: results}, lengths))

    show_length = args.show_length or lengths[0]
    trace = trace_episode(circuit, config, length=show_length, repeats=args.repeats, seed=args.seed)
    repeats = ""
    if config.env_id.endswith("RepeatCopy-v0"):  # T = length * (repeats + 1) + 3
        repeats = f" and {(len(trace.inputs) - 3) // show_length - 1} repeats"
    print(f"\none episode of length {show_length}{repeats}, step by step:")
    print(describe_episode(trace))

    plotter = Plotter(
        env=f"{run_name}-test",
        out_dir=out_dir,
        server=args.visdom_server,
        port=args.visdom_port,
        enabled=not args.no_visdom,
    )
    plot_episode(plotter, trace)
    pngs = plotter.save_pngs()
    print(
        f"\n{len(pngs)} pictures in {out_dir}/"
        + (f"; visdom: {plotter.env_url}" if plotter.connected else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
