"""Train an NTM, DNC or LSTM as a reinforcement-learning policy on a memtasks task.

    python scripts/train_rl.py --agent ntm --env memtasks/Copy-v0          # until solved
    python scripts/train_rl.py --agent dnc --env-kwarg bits=2 --max-steps 2000
    python scripts/train_rl.py --agent lstm --ppo-epochs 1                 # plain REINFORCE
    python scripts/train_rl.py --resume <run name or folder>               # continue a run

The circuit's logits are the logits of O independent Bernoulli bits; actions are sampled from
them and the policy learns from the env's reward alone (``--reward-mode bit`` by default), with
PPO's clipped objective and a per-step moving-average baseline (``memagents.rl``). A run writes
runs/<name>/ (config.json, train.log, metrics.jsonl, checkpoints/last.pt, plots/) like
scripts/train.py; live curves go to visdom when a server answers, PNG files always. The
checkpoint also loads in ``scripts/test.py``. Ctrl-C or SIGTERM writes a checkpoint.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

import torch

from memagents.agent import NonFiniteLossError, env_sizes, make_envs
from memagents.checkpoint import (
    CheckpointError,
    capture_rng_state,
    load_checkpoint,
    save_checkpoint,
)
from memagents.circuits import build_circuit
from memagents.rl import PolicyGradientAgent, RLConfig, evaluate_policy
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

log = logging.getLogger("memagents.train_rl")

EVAL_SEED = 10_007  # every evaluation plays the same episodes, so they compare

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


def collect_overrides(args: argparse.Namespace) -> dict:
    overrides = run_overrides(args, OVERRIDE_FLAGS)
    if args.no_normalize_advantages:
        overrides["normalize_advantages"] = False
    return overrides


def resolve_rl_config(base: RLConfig, overrides: dict) -> RLConfig:
    """``base`` with ``overrides``; ``env_kwargs`` and ``circuit_kwargs`` merge key by key."""
    overrides = dict(overrides)
    for key in ("env_kwargs", "circuit_kwargs"):
        if key in overrides:
            overrides[key] = {**getattr(base, key), **overrides[key]}
    return dataclasses.replace(base, **overrides)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    overrides = collect_overrides(args)
    checkpoint = None
    try:
        if args.resume:
            run_dir = resolve_run_dir(args.resume, args.runs_dir)
            checkpoint_path = run_dir / CHECKPOINT_NAME
            try:
                checkpoint = load_checkpoint(checkpoint_path)
                base = RLConfig.from_dict(checkpoint["rl_config"])
            except (CheckpointError, KeyError) as error:
                print(f"error: cannot resume: {error}", file=sys.stderr)
                return 2
            config = resolve_rl_config(base, overrides)
        else:
            config = resolve_rl_config(RLConfig(), overrides)
            run_dir = Path(args.runs_dir) / (args.run_name or default_run_name())
            if (run_dir / CHECKPOINT_NAME).exists():
                print(
                    f"error: run {run_dir} already has a checkpoint; resume it with "
                    f"--resume {run_dir.name} or pick another --run-name",
                    file=sys.stderr,
                )
                return 2
    except (ValueError, TypeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    setup_logging(run_dir / "train.log")
    return train(config, run_dir, args, checkpoint)


def train(config: RLConfig, run_dir: Path, args: argparse.Namespace, checkpoint) -> int:
    run_name = run_dir.name
    device = pick_device(config.device)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    torch.manual_seed(config.seed)
    try:
        envs = make_envs(config.env_id, config.batch_size, config.full_env_kwargs)
        eval_envs = make_envs(config.env_id, min(config.eval_episodes, 256), config.full_env_kwargs)
        input_size, output_size = env_sizes(envs)
    except Exception as error:  # gymnasium raises several types for a bad id or kwargs
        log.error("cannot make env %r with %s: %s", config.env_id, config.full_env_kwargs, error)
        return 2
    circuit = build_circuit(config.agent, input_size, output_size, **config.full_circuit_kwargs)
    circuit = circuit.to(device)
    agent = PolicyGradientAgent(circuit, envs, config)
    checkpoint_path = run_dir / CHECKPOINT_NAME
    elapsed_before = 0.0
    solved_at = None
    if checkpoint is not None:
        try:
            restore_training(
                checkpoint, checkpoint_path, circuit, agent.optimizer, config.lr,
                baseline=agent.baseline,
            )  # fmt: skip
        except CheckpointError as error:
            log.error("cannot resume: %s", error)
            return 2
        agent.step = checkpoint["step"]
        agent.episodes = checkpoint["episodes"]
        elapsed_before = checkpoint.get("elapsed_s", 0.0)
        solved_at = checkpoint.get("solved_at")
        log.info("resumed run %s at step %d from %s", run_name, agent.step, checkpoint_path)
    metrics, plotter = open_outputs(run_dir, args, agent.step if checkpoint else None)
    log_run_start(
        log,
        run_dir=run_dir,
        device=device,
        env_id=config.env_id,
        env_kwargs=config.full_env_kwargs,
        sizes=(input_size, output_size),
        circuit=circuit,
        config=config.to_dict(),
        plotter=plotter,
        circuit_label="policy: Bernoulli bits from the logits of",
    )

    loop = TrainingLoop.for_config(
        config,
        log=log,
        run_dir=run_dir,
        script="train_rl.py",
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
                "baseline": agent.baseline.state_dict(),
                "step": agent.step,
                "episodes": agent.episodes,
                "sequences": agent.episodes,
                "train_config": config.to_train_config().to_dict(),
                "rl_config": config.to_dict(),
                "rng": capture_rng_state(),
                "metrics": last_eval or {},
                "elapsed_s": loop.elapsed(),
                "solved_at": solved_at,
            },
        )

    def plot(kind: str, episode_return: float, bit_errors: float) -> None:
        plotter.line(
            "return",
            agent.episodes,
            {kind: episode_return},
            title="mean episode return",
            xlabel="episodes",
            ylabel="return",
        )
        plotter.line(
            "bit_errors",
            agent.episodes,
            {kind: bit_errors},
            title="bit errors per episode",
            xlabel="episodes",
            ylabel="bits",
        )

    def train_step() -> tuple[dict[str, float], dict[str, str]]:
        batch, ms_per_episode = agent.train_step()
        values = dict(
            episode_return=batch.episode_return,
            bit_errors=batch.bit_errors,
            perfect=batch.perfect,
            ms_per_episode=ms_per_episode,
        )
        return values, dict(ret=f"{batch.episode_return:.3f}", bit_errors=f"{batch.bit_errors:.2f}")

    def on_log(step: int, means: dict[str, float]) -> None:
        nonlocal solved_at
        elapsed = loop.elapsed()
        metrics.write("train", step=step, episodes=agent.episodes, **means, elapsed_s=elapsed)
        plot("train", means["episode_return"], means["bit_errors"])
        if solved_at is None and means["episode_return"] > config.solved_return:
            solved_at = dict(
                step=step,
                episodes=agent.episodes,
                elapsed_s=elapsed,
                episode_return=means["episode_return"],
                bit_errors=means["bit_errors"],
            )
            metrics.write("solved", **solved_at)
            log.info(
                "SOLVED at step %d (%d episodes, %.0f s): mean training return %.4f over "
                "the last %d updates",
                step,
                agent.episodes,
                elapsed,
                means["episode_return"],
                config.log_every,
            )

    def on_eval(step: int) -> None:
        nonlocal last_eval
        result = evaluate_policy(circuit, eval_envs, config.eval_episodes, seed=EVAL_SEED)
        elapsed = loop.elapsed()
        last_eval = dict(step=step, episodes=agent.episodes, elapsed_s=elapsed, **result._asdict())
        metrics.write("eval", **last_eval)
        plot("eval (greedy)", result.episode_return, result.bit_errors)
        log.info(
            "step %d (%d episodes, %.0f s): greedy return %.4f, bit errors %.3f, perfect %.3f",
            step,
            agent.episodes,
            elapsed,
            result.episode_return,
            result.bit_errors,
            result.perfect,
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
            on_failure=lambda error: log.error("stopped: %s; resume with a lower --lr", error),
        )
    finally:
        metrics.close()
        pngs = plotter.save_pngs()
    log.info(
        "summary: %s after %d updates, %d episodes, %.0f s",
        "non-finite loss" if status == "failed" else status,
        agent.step,
        agent.episodes,
        loop.elapsed(),
    )
    if last_eval:
        log.info(
            "summary: last greedy eval at step %d: return %.4f, bit errors %.4f, perfect %.3f",
            last_eval["step"],
            last_eval["episode_return"],
            last_eval["bit_errors"],
            last_eval["perfect"],
        )
    if solved_at:
        log.info(
            "summary: solved (training return > %.2f) at step %d, %d episodes, %.0f s",
            config.solved_return,
            solved_at["step"],
            solved_at["episodes"],
            solved_at["elapsed_s"],
        )
    else:
        log.info("summary: not solved (training return > %.2f)", config.solved_return)
    log.info("summary: run folder %s, checkpoint %s, %d plots", run_dir, checkpoint_path, len(pngs))
    return EXIT_CODES[status]


if __name__ == "__main__":
    sys.exit(main())
