"""What the training scripts share on the command line: run arguments, config overrides, resume.

Every error here is a ValueError (or RunInUseError) with a one-line message, which the scripts
print as ``error: ...`` with exit status 2.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping
from typing import Any

from memagents.checkpoint import CheckpointError
from memagents.config import apply_overrides, parse_kwarg
from memagents.runs import Run


def add_run_arguments(parser: argparse.ArgumentParser, override_flags: dict) -> None:
    """The arguments every training script shares: one flag per overridable config field
    (``{"--lr": ("lr", float), ...}``), task/circuit kwargs, the run folder, visdom, progress."""
    for flag, (name, kind) in override_flags.items():
        parser.add_argument(flag, dest=name, type=kind, default=None, help=f"override {name}")
    parser.add_argument(
        "--env-kwarg", action="append", default=[], metavar="KEY=VALUE", help="task argument"
    )
    parser.add_argument(
        "--train-env-kwarg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="task argument for the training batches only (evaluations use the task's own)",
    )
    parser.add_argument(
        "--circuit-kwarg", action="append", default=[], metavar="KEY=VALUE", help="circuit argument"
    )
    parser.add_argument(
        "--no-stop-when-solved", action="store_true", help="train to --max-steps even when solved"
    )
    parser.add_argument("--run-name", help="name of the run (default: MACHINE-TIMESTAMP)")
    parser.add_argument("--runs-dir", default="runs", help="folder of the runs (default: runs)")
    parser.add_argument("--resume", metavar="RUN", help="continue a run (its name or folder)")
    parser.add_argument("--no-visdom", action="store_true", help="no visdom; PNG plots only")
    parser.add_argument("--visdom-server", default="http://localhost")
    parser.add_argument("--visdom-port", type=int, default=8097)
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (there is none anyway when stderr is not a terminal)",
    )


def run_overrides(args: argparse.Namespace, override_flags: dict) -> dict[str, Any]:
    """The config overrides that ``add_run_arguments``'s flags were given.

    Raises:
        ValueError: a --env-kwarg, --train-env-kwarg or --circuit-kwarg that is not KEY=VALUE.
    """
    overrides = {
        name: getattr(args, name)
        for name, _ in override_flags.values()
        if getattr(args, name) is not None
    }
    if args.env_kwarg:
        overrides["env_kwargs"] = dict(parse_kwarg(text) for text in args.env_kwarg)
    if args.train_env_kwarg:
        overrides["train_env_kwargs"] = dict(parse_kwarg(text) for text in args.train_env_kwarg)
    if args.circuit_kwarg:
        overrides["circuit_kwargs"] = dict(parse_kwarg(text) for text in args.circuit_kwarg)
    if args.no_stop_when_solved:
        overrides["stop_when_solved"] = False
    return overrides


def resumed_config(stored, overrides: Mapping[str, Any]):
    """The stored config of a run with the overrides a resume may make: training settings and
    task kwargs (merged key by key), never the circuit, its kind or the task id.

    Raises:
        ValueError: an override that would change the circuit or the task, or a bad value.
    """
    for name in ("agent", "env_id"):
        if name in overrides and overrides[name] != getattr(stored, name):
            raise ValueError(
                f"{name} cannot change on resume (the run trains {stored.agent} on "
                f"{stored.env_id}); start a new run instead"
            )
    config = apply_overrides(stored, overrides)
    if config.circuit != stored.circuit:
        raise ValueError(
            f"the circuit of a run cannot change on resume ({stored.circuit} -> "
            f"{config.circuit}); start a new run instead"
        )
    return config


def open_resumed_run(args: argparse.Namespace, config_class: type, kind: str, overrides: dict):
    """Open (and lock) the run of ``--resume``, load its checkpoint and settle its config.

    Nothing is written: the run's ``config.json`` is rewritten by the caller only once the
    checkpoint has been restored.

    Returns:
        (run, config, checkpoint)
    Raises:
        ValueError: no such run, a checkpoint that cannot be resumed (CheckpointError is one),
            overrides a resume cannot take, or a config.json that disagrees with the checkpoint.
        RunInUseError: another process trains the run.
    """
    try:
        run = Run.open(args.resume, args.runs_dir)
    except ValueError as error:
        raise ValueError(f"cannot resume: {error}") from error
    try:
        checkpoint = run.load_checkpoint()
        if checkpoint["kind"] != kind:
            script = "train.py" if checkpoint["kind"] == "supervised" else "train_rl.py"
            raise ValueError(
                f"run {run.path} is a {checkpoint['kind']} run; resume it with scripts/{script}"
            )
        stored = config_class.from_dict(checkpoint["config"])
        on_disk = run.read_config()
        if on_disk is not None:
            described = config_class.from_dict(on_disk)
            if (described.agent, described.circuit) != (stored.agent, stored.circuit):
                raise ValueError(
                    f"run {run.path}: its config.json describes a {described.agent} "
                    f"{described.circuit}, its checkpoint a {stored.agent} {stored.circuit}; "
                    "refusing to resume a run whose files disagree"
                )
        config = resumed_config(stored, overrides)
    except (ValueError, CheckpointError) as error:
        run.close()
        raise ValueError(f"cannot resume: {error}") from error
    except BaseException:
        run.close()
        raise
    return run, config, checkpoint


def prepare_run(run: Run, config, args: argparse.Namespace, *, trainer_class, trainer=None,
                checkpoint=None):  # fmt: skip
    """Make the run ready to train: the trainer (built, or restored from ``checkpoint`` on
    resume), then the run's config.json, metrics and plots (visdom from ``args``), and the start of
    its log. Nothing is written before the checkpoint is restored.

    Returns:
        The trainer, or None when the resume was refused (the reason is logged).
    """
    from memagents.training import start_lines

    log = logging.getLogger("memagents.train")
    if checkpoint is not None:
        try:
            trainer = trainer_class(config)
            trainer.restore(checkpoint, run.checkpoint_path)
        except (ValueError, CheckpointError) as error:
            log.error("cannot resume: %s", error)
            return None
        log.info("resumed run %s at step %d from %s", run.name, trainer.step, run.checkpoint_path)
    run.write_config(config)
    run.open_outputs(
        resumed_at=trainer.step if checkpoint is not None else None,
        visdom_server=args.visdom_server,
        visdom_port=args.visdom_port,
        visdom=not args.no_visdom,
    )
    for line in start_lines(trainer, run):
        log.info(line)
    return trainer
