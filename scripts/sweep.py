"""Run several training configurations in parallel (one thread each) and tabulate time to solved.

    python scripts/sweep.py --preset ntm-copy --jobs 2 --seconds 600 \
        --config "--optimizer adam --lr 1e-3 --eps 1e-8" \
        --config "--lr 1e-3" --seeds 1 2 3

Each configuration x seed is one `scripts/train.py` run (its own run folder under --runs-dir,
`--eval-every` from the command line, stopped when solved or after --seconds). The table gives,
per run, the step, sequences and seconds at which it was solved, or the last evaluation's bit
errors when it was not.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path

from memagents.runs import read_metrics

SCRIPT = Path(__file__).resolve().parent / "train.py"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", required=True)
    parser.add_argument("--config", action="append", required=True, help="train.py overrides")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time")
    parser.add_argument("--seconds", type=float, default=600, help="wall-clock limit per run")
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--runs-dir", default="runs/sweep")
    args = parser.parse_args(argv)

    runs = []
    for index, config in enumerate(args.config):
        for seed in args.seeds:
            name = f"{args.preset}-c{index}-s{seed}"
            command = [
                sys.executable, str(SCRIPT), "--preset", args.preset, *shlex.split(config),
                "--seed", str(seed), "--eval-every", str(args.eval_every), "--run-name", name,
                "--runs-dir", args.runs_dir, "--no-visdom", "--no-progress", "--num-threads", "1",
            ]  # fmt: skip
            runs.append((config, seed, name, command))

    pending, active = list(runs), []
    while pending or active:
        while pending and len(active) < args.jobs:
            config, seed, name, command = pending.pop(0)
            process = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            active.append((process, time.monotonic()))
        for process, started in list(active):
            if process.poll() is not None:
                active.remove((process, started))
            elif time.monotonic() - started > args.seconds:
                process.terminate()  # train.py checkpoints on SIGTERM
                process.wait()
                active.remove((process, started))
        time.sleep(0.5)

    print(
        f"| {args.preset} + overrides | seed | solved at step | sequences | seconds | last eval |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for config, seed, name, _ in runs:
        rows = read_metrics(Path(args.runs_dir) / name)
        solved = next((row for row in rows if row["kind"] == "solved"), None)
        evals = [row for row in rows if row["kind"] == "eval"]
        last = f"{evals[-1]['bit_errors']:.3f} at step {evals[-1]['step']}" if evals else "-"
        if solved:
            cells = [str(solved["step"]), str(solved["sequences"]), f"{solved['elapsed_s']:.0f}"]
        else:
            cells = ["not solved", "-", "-"]
        print(f"| `{config}` | {seed} | " + " | ".join(cells) + f" | {last} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
