"""Draw the training curves of scripts/train_rl.py runs (and RecurrentPPO's) on one figure.

    python scripts/train_rl.py --agent ntm --run-name rl_ntm --no-visdom      # likewise dnc, lstm
    (the task of examples/README.md: add --env memtasks/Copy-v0 and its --env-kwarg settings)
    python examples/sb3_recurrent_ppo_copy.py
    python examples/plot_rl_curves.py --runs runs/rl_lstm runs/rl_ntm runs/rl_dnc \
        --recurrent-ppo examples/sb3_recurrent_ppo_copy.csv --out examples/rl_copy_curves.png

Plots the mean return of the training episodes (sampled actions) per log window against episodes.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", nargs="+", required=True, help="run folders of train_rl.py")
    parser.add_argument("--recurrent-ppo", help="CSV of examples/sb3_recurrent_ppo_copy.py")
    parser.add_argument("--out", default="examples/rl_copy_curves.png")
    parser.add_argument("--title", default="Copy-v0, 2 bits, lengths 1..3, bit reward")
    args = parser.parse_args()

    figure, axes = plt.subplots(figsize=(6, 3.6), dpi=80)
    for run in args.runs:
        run = Path(run)
        config = json.loads((run / "config.json").read_text())
        lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        train = [line for line in lines if line["kind"] == "train"]
        solved = [line for line in lines if line["kind"] == "solved"]
        label = f"{config['agent']} (train_rl.py)"
        if solved:
            label += f": > 0.95 at {solved[0]['episodes']:,} episodes"
        axes.plot(
            [line["episodes"] for line in train],
            [line["episode_return"] for line in train],
            label=label,
        )
    if args.recurrent_ppo:
        with open(args.recurrent_ppo) as handle:
            rows = list(csv.DictReader(handle))
        axes.plot(
            [int(row["episodes"]) for row in rows],
            [float(row["mean_return_last_100"]) for row in rows],
            label="sb3-contrib RecurrentPPO (LSTM 64)",
            linestyle="--",
        )
    axes.axhline(0.95, color="grey", linestyle=":", linewidth=1)
    axes.set(
        xlabel="training episodes",
        ylabel="mean episode return",
        title=args.title,
        ylim=(0.4, 1.0),
    )
    axes.legend(loc="lower right", fontsize=7)
    figure.tight_layout()
    figure.savefig(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
