"""Train an NTM, DNC or LSTM as a reinforcement-learning policy on a memtasks task.

    python scripts/train_rl.py --agent ntm                         # Copy-Easy-v0, until solved
    python scripts/train_rl.py --agent ntm --env memtasks/RepeatCopy-Easy-v0
    python scripts/train_rl.py --agent dnc --env-kwarg bits=2 --max-steps 2000
    python scripts/train_rl.py --agent lstm --ppo-epochs 1                 # plain REINFORCE
    python scripts/train_rl.py --resume <run name or folder>               # continue a run

The circuit's logits are the logits of O independent Bernoulli bits; actions are sampled from
them and the policy learns from the env's reward alone (``--reward-mode bit`` by default), with
PPO's clipped objective and a per-step moving-average baseline (``memagents.rl``). A run writes
runs/<name>/ (config.json, train.log, metrics.jsonl, checkpoints/last.pt, plots/) like
scripts/train.py, through the same loop (``memagents.training.fit``); the checkpoint also loads
in ``scripts/test.py``. Ctrl-C or SIGTERM stops at the next update with a checkpoint.
"""

from __future__ import annotations

import argparse
import logging
import sys

from memagents.cli import add_run_arguments, open_resumed_run, prepare_run, run_overrides
from memagents.config import apply_overrides
from memagents.rl import DEFAULT_RL_CONFIG, RLConfig
from memagents.runs import Run, RunInUseError, setup_logging
from memagents.training import EXIT_CODES, PolicyTrainer, fit, summary_lines

log = logging.getLogger("memagents.train_rl")

OVERRIDE_FLAGS = {
    # flag: (RLConfig field, type)
    "--agent": ("agent", str),
    "--env": ("env_id", str),
    "--reward-mode": ("reward_mode", str),
    "--batch-size": ("batch_size", int),
    "--optimizer": ("optimizer", str),
    "--lr": ("lr", float),
    "--clip-grad": ("clip_grad", float),
    "--gamma": ("gamma", float),
    "--baseline-decay": ("baseline_decay", float),
    "--ppo-epochs": ("ppo_epochs", int),
    "--clip-ratio": ("clip_ratio", float),
    "--entropy-coef": ("entropy_coef", float),
    "--max-steps": ("max_steps", int),
    "--max-seconds": ("max_seconds", float),
    "--eval-every": ("eval_every", int),
    "--eval-episodes": ("eval_episodes", int),
    "--solved-return": ("solved_return", float),
    "--checkpoint-every": ("checkpoint_every", int),
    "--log-every": ("log_every", int),
    "--seed": ("seed", int),
    "--device": ("device", str),
    "--num-threads": ("num_threads", int),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_run_arguments(parser, OVERRIDE_FLAGS)
    parser.add_argument(
        "--no-normalize-advantages", action="store_true", help="keep the raw advantages"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(None)

    # 1. The config and the run folder (nothing is written before all of it checks out).
    checkpoint = trainer = None
    try:
        overrides = run_overrides(args, OVERRIDE_FLAGS)
        if args.no_normalize_advantages:
            overrides["normalize_advantages"] = False
        if args.resume:
            run, config, checkpoint = open_resumed_run(args, RLConfig, "rl", overrides)
        else:
            config = apply_overrides(DEFAULT_RL_CONFIG, overrides)
            trainer = PolicyTrainer(config)
            run = Run.create(args.runs_dir, args.run_name)
    except (ValueError, RunInUseError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    with run:
        setup_logging(run.path / "train.log")
        # 2. The trainer (policy, envs, optimizer, baseline), restored on resume; then the run's
        #    config, metrics and plots are written (only now: a refused resume changes nothing).
        trainer = prepare_run(run, config, args, trainer_class=PolicyTrainer, trainer=trainer,
                              checkpoint=checkpoint)  # fmt: skip
        if trainer is None:
            return 2

        # 3. The loop: updates, logs, greedy evaluations, checkpoints, until max_steps or solved.
        result = fit(trainer, run, progress=False if args.no_progress else None)

        for line in summary_lines(trainer, result, run):
            log.info("summary: %s", line)
    return EXIT_CODES[result.status]


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("stopped at once by a second Ctrl-C; the last checkpoint is intact", file=sys.stderr)
        sys.exit(130)
