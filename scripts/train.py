"""Train an NTM, DNC or LSTM on a memtasks task (or any env that follows its convention).

    python scripts/train.py --agent dnc     # the seed's DNC on RepeatCopy, until solved
    python scripts/train.py --agent ntm     # the NTM paper's copy task
    python scripts/train.py --preset lstm-copy --max-steps 2000
    python scripts/train.py --resume <run name or folder>     # continue a stopped run
    python scripts/train.py --list-presets

A run writes runs/<name>/ (config, log, metrics.jsonl, checkpoints/last.pt, plots/). Live curves go
to visdom (start it with `python scripts/visdom_server.py`); without a server they are PNG files.
Ctrl-C or SIGTERM writes a checkpoint and says how to resume; a crash leaves the last checkpoint.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

import torch

from memagents.agent import NonFiniteLossError, SupervisedAgent, env_sizes, evaluate, make_envs
from memagents.checkpoint import (
    CheckpointError,
    capture_rng_state,
    load_checkpoint,
    save_checkpoint,
)
from memagents.circuits import build_circuit
from memagents.config import DEFAULT_PRESET, PRESETS, TrainConfig, resolve_config
from memagents.runs import (
    CHECKPOINT_NAME,
    EXIT_CODES,
    TrainingLoop,
    add_run_arguments,
    circuit_record,
    default_run_name,
    log_run_start,
    open_outputs,
    pick_device,
    resolve_run_dir,
    restore_training,
    run_overrides,
    setup_logging,
)

log = logging.getLogger("memagents.train")

EVAL_SEED = 10_007  # periodic evaluations all use the same sequences, so they compare
SOLVED_SEED = 20_011  # the confirming evaluation uses sequences of its own

OVERRIDE_FLAGS = {
    # flag: (TrainConfig field, type)
    "--env": ("env_id", str),
    "--batch-size": ("batch_size", int),
    "--optimizer": ("optimizer", str),
    "--lr": ("lr", float),
    "--clip-grad": ("clip_grad", float),
    "--max-steps": ("max_steps", int),
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


def collect_overrides(args: argparse.Namespace) -> dict:
    overrides = run_overrides(args, OVERRIDE_FLAGS)
    if args.same_length_batches:
        overrides["same_length_batches"] = True
    return overrides


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list_presets:
        for name, preset in sorted(PRESETS.items()):
            print(f"{name}: {json.dumps(preset.to_dict())}")
        return 0

    overrides = collect_overrides(args)
    checkpoint = None
    if args.resume:
        run_dir = resolve_run_dir(args.resume, args.runs_dir)
        checkpoint_path = run_dir / CHECKPOINT_NAME
        try:
            checkpoint = load_checkpoint(checkpoint_path)
        except CheckpointError as error:
            print(f"error: cannot resume: {error}", file=sys.stderr)
            return 2
        base = TrainConfig.from_dict(checkpoint["train_config"])
        config = dataclasses.replace(base, **overrides) if overrides else base
        run_name = run_dir.name
    else:
        try:
            config = resolve_config(args.agent, args.preset, overrides)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        run_name = args.run_name or default_run_name()
        run_dir = Path(args.runs_dir) / run_name
        if (run_dir / CHECKPOINT_NAME).exists():
            print(
                f"error: run {run_dir} already has a checkpoint; resume it with "
                f"--resume {run_name} or pick another --run-name",
                file=sys.stderr,
            )
            return 2
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    setup_logging(run_dir / "train.log")
    return train(config, run_dir, args, checkpoint)


def train(config: TrainConfig, run_dir: Path, args: argparse.Namespace, checkpoint) -> int:
    run_name = run_dir.name
    device = pick_device(config.device)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    torch.manual_seed(config.seed)
    try:
        envs = make_envs(config.env_id, config.batch_size, config.env_kwargs)
        eval_envs = make_envs(config.env_id, min(config.eval_sequences, 256), config.env_kwargs)
    except Exception as error:  # gymnasium raises several types for a bad id or kwargs
        log.error("cannot make env %r with %s: %s", config.env_id, config.env_kwargs, error)
        return 2
    input_size, output_size = env_sizes(envs)
    circuit = build_circuit(config.agent, input_size, output_size, **config.circuit_kwargs)
    circuit = circuit.to(device)
    agent = SupervisedAgent(circuit, envs, config)
    checkpoint_path = run_dir / CHECKPOINT_NAME
    elapsed_before = 0.0
    solved_at = None
    if checkpoint is not None:
        try:
            restore_training(checkpoint, checkpoint_path, circuit, agent.optimizer, config.lr)
        except CheckpointError as error:
            log.error("cannot resume: %s", error)
            return 2
        agent.step = checkpoint["step"]
        agent.sequences = checkpoint["sequences"]
        elapsed_before = checkpoint.get("elapsed_s", 0.0)
        solved_at = checkpoint.get("solved_at")
        log.info("resumed run %s at step %d from %s", run_name, agent.step, checkpoint_path)
    metrics, plotter = open_outputs(run_dir, args, agent.step if checkpoint else None)
    log_run_start(
        log,
        run_dir=run_dir,
        device=device,
        env_id=config.env_id,
        env_kwargs=config.env_kwargs,
        sizes=(input_size, output_size),
        circuit=circuit,
        config=config.to_dict(),
        plotter=plotter,
    )
    loop = TrainingLoop.for_config(
        config,
        log=log,
        run_dir=run_dir,
        script="train.py",
        show_progress=not args.no_progress,
        elapsed_before=elapsed_before,
    )
    last_eval: dict | None = None

    def write_checkpoint() -> None:
        save_checkpoint(
            checkpoint_path,
            {
                "circuit": circuit_record(config.agent, (input_size, output_size), circuit),
                "model": circuit.state_dict(),
                "optimizer": agent.optimizer.state_dict(),
                "step": agent.step,
                "sequences": agent.sequences,
                "train_config": config.to_dict(),
                "rng": capture_rng_state(),
                "metrics": last_eval or {},
                "elapsed_s": loop.elapsed(),
                "solved_at": solved_at,
            },
        )

    def train_step() -> tuple[dict[str, float], dict[str, str]]:
        batch, ms_per_sequence = agent.train_step()
        values = dict(
            loss_bits=batch.loss_bits,
            bit_errors=batch.bit_errors,
            perfect=batch.perfect,
            ms_per_sequence=ms_per_sequence,
        )
        return values, dict(loss=f"{batch.loss_bits:.3f}", bit_errors=f"{batch.bit_errors:.2f}")

    def on_log(step: int, means: dict[str, float]) -> None:
        metrics.write(
            "train", step=step, sequences=agent.sequences, **means, elapsed_s=loop.elapsed()
        )
        for window, kind, title, ylabel in (
            ("loss", "loss_bits", "loss (bits/sequence)", "bits"),
            ("bit_errors", "bit_errors", "bit errors per sequence", "bits"),
        ):
            plotter.line(
                window,
                agent.sequences,
                {"train": means[kind]},
                title=title,
                xlabel="sequences",
                ylabel=ylabel,
            )

    def on_eval(step: int) -> None:
        nonlocal last_eval, solved_at
        result = evaluate(circuit, eval_envs, config.eval_sequences, seed=EVAL_SEED)
        elapsed = loop.elapsed()
        last_eval = dict(
            step=step, sequences=agent.sequences, elapsed_s=elapsed, **result._asdict()
        )
        metrics.write("eval", **last_eval)
        plotter.line(
            "bit_errors",
            agent.sequences,
            {"eval": result.bit_errors},
            title="bit errors per sequence",
            xlabel="sequences",
            ylabel="bits",
        )
        log.info(
            "step %d (%d sequences, %.0f s): eval loss %.4f bits, bit errors %.3f, perfect %.3f",
            step,
            agent.sequences,
            elapsed,
            result.loss_bits,
            result.bit_errors,
            result.perfect,
        )
        if solved_at is None and result.bit_errors < config.solved_bit_errors:
            confirm = evaluate(circuit, eval_envs, config.solved_sequences, seed=SOLVED_SEED)
            if confirm.bit_errors < config.solved_bit_errors:
                elapsed = loop.elapsed()
                solved_at = dict(
                    step=step, sequences=agent.sequences, elapsed_s=elapsed, **confirm._asdict()
                )
                metrics.write("solved", **solved_at)
                log.info(
                    "SOLVED at step %d: %.4f bit errors per sequence over %d sequences, %.0f s",
                    step,
                    confirm.bit_errors,
                    confirm.num_sequences,
                    elapsed,
                )

    def on_failure(error: Exception) -> None:
        kept = (
            f"the last good checkpoint ({checkpoint_path}) is kept"
            if checkpoint_path.exists()
            else "no checkpoint was written yet"
        )
        log.error(
            "stopped: %s; %s. Resume with a lower learning rate, for example\n"
            "    python scripts/train.py --resume %s --lr %g",
            error,
            kept,
            run_dir,
            config.lr / 10,
        )

    try:
        status = loop.run(
            step=lambda: agent.step,
            train_step=train_step,
            on_log=on_log,
            on_eval=on_eval,
            write_checkpoint=write_checkpoint,
            solved=lambda: solved_at is not None,
            failure=NonFiniteLossError,
            on_failure=on_failure,
        )
    finally:
        metrics.close()
        pngs = plotter.save_pngs()
    log.info(
        "summary: %s after %d steps, %d sequences, %.0f s",
        "non-finite loss" if status == "failed" else status,
        agent.step,
        agent.sequences,
        loop.elapsed(),
    )
    if last_eval:
        log.info(
            "summary: last eval at step %d: bit errors %.4f per sequence, perfect %.3f",
            last_eval["step"],
            last_eval["bit_errors"],
            last_eval["perfect"],
        )
    if solved_at:
        log.info(
            "summary: solved at step %d (%d sequences) in %.0f s: %.4f bit errors over %d "
            "sequences",
            solved_at["step"],
            solved_at["sequences"],
            solved_at["elapsed_s"],
            solved_at["bit_errors"],
            solved_at["num_sequences"],
        )
    else:
        log.info(
            "summary: not solved (threshold %.2f bit errors per sequence)", config.solved_bit_errors
        )
    log.info("summary: run folder %s, checkpoint %s, %d plots", run_dir, checkpoint_path, len(pngs))
    return EXIT_CODES[status]


if __name__ == "__main__":
    sys.exit(main())
