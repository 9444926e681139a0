"""Train an NTM, DNC or LSTM on a memtasks task (or any env that follows its convention).

    python scripts/train.py --agent dnc     # the seed's DNC on RepeatCopy, until solved
    python scripts/train.py --agent ntm     # the NTM paper's copy task
    python scripts/train.py --preset lstm-copy --max-steps 2000
    python scripts/train.py --resume <run name or folder>     # continue a stopped run
    python scripts/train.py --list-presets

A run writes runs/<name>/ (config, log, metrics.jsonl, checkpoints/last.pt, plots/). Live curves go
to visdom (start it with `python scripts/visdom_server.py`); without a server they are PNG files.
Ctrl-C or SIGTERM stops at the next step boundary with a checkpoint; a crash leaves the last one.
The loop itself is `memagents.training.fit`, the same one the sweep's trials run.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from memagents.cli import add_run_arguments, open_resumed_run, prepare_run, run_overrides
from memagents.config import DEFAULT_PRESET, PRESETS, TrainConfig, resolve_config
from memagents.runs import Run, RunInUseError, setup_logging
from memagents.training import EXIT_CODES, SupervisedTrainer, fit, summary_lines

log = logging.getLogger("memagents.train")

OVERRIDE_FLAGS = {
    # flag: (TrainConfig field, type)
    "--env": ("env_id", str),
    "--batch-size": ("batch_size", int),
    "--optimizer": ("optimizer", str),
    "--lr": ("lr", float),
    "--clip-grad": ("clip_grad", float),
    "--skip-nonfinite-steps": ("skip_nonfinite_steps", int),
    "--solved-lr-scale": ("solved_lr_scale", float),
    "--lr-drop-step": ("lr_drop_step", int),
    "--lr-cut-bit-errors": ("lr_cut_bit_errors", float),
    "--average-decay": ("average_decay", float),
    "--min-train-memory-size": ("min_train_memory_size", int),
    "--max-steps": ("max_steps", int),
    "--max-seconds": ("max_seconds", float),
    "--eval-every": ("eval_every", int),
    "--eval-sequences": ("eval_sequences", int),
    "--solved-sequences": ("solved_sequences", int),
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
    parser.add_argument("--agent", choices=sorted(DEFAULT_PRESET), help="circuit to train")
    parser.add_argument("--preset", help=f"named configuration: {', '.join(sorted(PRESETS))}")
    parser.add_argument("--list-presets", action="store_true", help="print the presets and exit")
    add_run_arguments(parser, OVERRIDE_FLAGS)
    parser.add_argument(
        "--same-length-batches", action="store_true", help="one sequence length per batch"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list_presets:
        for name, preset in sorted(PRESETS.items()):
            print(f"{name}: {json.dumps(preset.to_dict())}")
        return 0
    setup_logging(None)

    # 1. The config and the run folder: a new run, or the stored config of the run to resume
    #    with the overrides a resume may take. Nothing is written before all of it checks out.
    checkpoint = trainer = None
    try:
        overrides = run_overrides(args, OVERRIDE_FLAGS)
        if args.same_length_batches:
            overrides["same_length_batches"] = True
        if args.resume:
            if args.agent or args.preset:
                raise ValueError(
                    "--agent and --preset cannot be given with --resume: a run keeps its circuit "
                    "and task (the other flags override its settings)"
                )
            run, config, checkpoint = open_resumed_run(args, TrainConfig, "supervised", overrides)
        else:
            config = resolve_config(args.agent, args.preset, overrides)
            trainer = SupervisedTrainer(config)
            run = Run.create(args.runs_dir, args.run_name)
    except (ValueError, RunInUseError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    with run:
        setup_logging(run.path / "train.log")
        # 2. The trainer (circuit, envs, optimizer), restored on resume; then the run's
        #    config, metrics and plots are written (only now: a refused resume changes nothing).
        trainer = prepare_run(run, config, args, trainer_class=SupervisedTrainer, trainer=trainer,
                              checkpoint=checkpoint)  # fmt: skip
        if trainer is None:
            return 2

        # 3. The loop: steps, logs, evaluations, checkpoints, until max_steps or solved.
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
