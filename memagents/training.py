"""Training in process: one loop for supervised and RL runs, used by the scripts and the sweep.

    from memagents import Run, SupervisedTrainer, fit, resolve_config

    config = resolve_config("dnc", None, {"max_steps": 3000})
    with Run.create("runs", "my-dnc") as run:
        run.write_config(config)
        run.open_outputs(resumed_at=None, visdom=False)
        result = fit(SupervisedTrainer(config), run)
    print(result.status, result.solved_at)

A trainer owns the model, the envs and the optimizer, and knows how to take one step, evaluate,
and save or restore itself: ``SupervisedTrainer`` (a ``TrainConfig``: masked cross-entropy on the
targets) and ``PolicyTrainer`` (an ``RLConfig``: PPO on the env's reward). ``fit`` is the loop:
steps, a metrics line every ``log_every``, an evaluation every ``eval_every``, a checkpoint every
``checkpoint_every``, a stop once solved. What it records goes to the run folder (when given)
and to ``callback(kind, record)`` (kinds "train", "eval", "lr_cut", "confirm" for each
confirming evaluation, "solved", "checkpoint"): that is how a sweep hears of a trial's progress.

What ends a run, and what it leaves:
- ``max_steps`` or solved: "finished", a final checkpoint.
- Ctrl-C or SIGTERM: only sets a flag; the step under way completes, then "interrupted" and a
  checkpoint at that step boundary, so a resumed run is exactly a straight one. A second Ctrl-C
  stops at once (KeyboardInterrupt) and the last checkpoint on disk stays as it was.
- A NaN or infinite loss, gradient or parameter: "failed", no update applied where it can be
  helped, nothing written: the last good checkpoint stays.
- A disk that refuses the write: "failed"; the previous checkpoint is intact (atomic writes).
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from memagents.agent import (
    NonFiniteGradientError,
    NonFiniteLossError,
    SupervisedAgent,
    env_sizes,
    evaluate,
    make_envs,
)
from memagents.checkpoint import CheckpointError, load_model_state, restore_rng_state
from memagents.checkpoint import training_checkpoint as checkpoint_payload
from memagents.circuits import CIRCUITS
from memagents.config import TrainConfig, circuit_config
from memagents.rl import PolicyGradientAgent, RLConfig, evaluate_policy
from memagents.runs import Run, pick_device

log = logging.getLogger("memagents.training")

EVAL_SEED = 10_007
"""Periodic evaluations all use the sequences of this seed, so they compare."""
SOLVED_SEED = 20_011
"""The confirming evaluation uses sequences of its own."""
EVAL_BATCH = 256
"""Sequences evaluated in parallel at most."""

Callback = Callable[[str, dict[str, Any]], None]


def _eval_batch_size(num_sequences: int) -> int:
    """The largest batch <= EVAL_BATCH that divides ``num_sequences``, so an evaluation measures
    exactly the number asked for (1000 -> batches of 250); 256 when no divisor is at least 16."""
    for size in range(min(num_sequences, EVAL_BATCH), 15, -1):
        if num_sequences % size == 0:
            return size
    return min(num_sequences, EVAL_BATCH)


class _Trainer:
    """What both trainers share: device, threads, seed, envs, circuit, checkpoint restore."""

    kind = ""
    unit = ""
    script = ""

    def __init__(self, config, device: str | torch.device | None = None) -> None:
        self.config = config
        self.device = pick_device(config.device) if device is None else torch.device(device)
        if config.num_threads:
            torch.set_num_threads(config.num_threads)
        torch.manual_seed(config.seed)
        try:
            self.envs = make_envs(config.env_id, config.batch_size, config.train_task_kwargs)
            self.input_size, self.output_size = env_sizes(self.envs)
        except Exception as error:  # gymnasium raises several types for a bad id or kwargs
            raise ValueError(
                f"cannot make env {config.env_id!r} with {config.train_task_kwargs}: {error}"
            ) from error
        # The config's typed circuit config, checked once when the config was made.
        self.circuit = CIRCUITS[config.agent](self.input_size, self.output_size, config.circuit).to(
            self.device
        )
        self.elapsed_before = 0.0
        self.solved_at: dict[str, Any] | None = None
        self.last_eval: dict[str, Any] | None = None

    @property
    def solved(self) -> bool:
        return self.solved_at is not None

    def checkpoint(self, elapsed_s: float) -> dict[str, Any]:
        """The training state as a checkpoint (``memagents.checkpoint`` layout)."""
        return checkpoint_payload(
            kind=self.kind,
            config=self.config.to_dict(),
            circuit=self.circuit,
            optimizer=self.agent.optimizer,
            extra=self._extra_state(),
            step=self.step,
            sequences=self.count,
            metrics=self.last_eval,
            elapsed_s=elapsed_s,
            solved_at=self.solved_at,
        )

    def restore(self, payload: dict[str, Any], path) -> None:
        """Continue from a checkpoint of this run: weights, optimizer (at `current_lr`),
        extra state, counters, RNG states.

        Raises:
            CheckpointError: the checkpoint is model-only, or of another kind or circuit.
        """
        record = payload["circuit"]
        if payload.get("optimizer") is None:
            raise CheckpointError(
                f"checkpoint {path}: model-only (exported), it has no optimizer state to resume; "
                "train a new run instead"
            )
        if payload["kind"] != self.kind:
            raise CheckpointError(
                f"checkpoint {path}: a {payload['kind']} run's checkpoint, not a {self.kind} one"
            )
        try:
            stored = circuit_config(record["name"], record["config"])
        except (ValueError, TypeError) as error:
            raise CheckpointError(f"checkpoint {path}: its circuit is invalid ({error})") from error
        if record["name"] != self.config.agent or stored != self.config.circuit:
            raise CheckpointError(
                f"checkpoint {path}: it holds a {record['name']} {stored}, but the run's config "
                f"describes a {self.config.agent} {self.config.circuit}"
            )
        load_model_state(self.circuit, payload["model"], path)
        try:
            self.agent.optimizer.load_state_dict(payload["optimizer"])
            self._load_extra_state(payload.get("extra", {}))
            restore_rng_state(payload["rng"])
        except (ValueError, KeyError, TypeError, RuntimeError) as error:
            raise CheckpointError(
                f"checkpoint {path}: cannot restore the training state ({error})"
            ) from error
        self.agent.step = payload["step"]
        self._set_count(payload["sequences"])
        self.elapsed_before = float(payload.get("elapsed_s", 0.0))
        self.solved_at = payload.get("solved_at")
        self.last_eval = payload.get("metrics") or None
        self.apply_lr()

    def current_lr(self) -> float:
        """The learning rate at this point of the run (the config's; see SupervisedTrainer)."""
        return self.config.lr

    def apply_lr(self) -> None:
        """Set every parameter group's rate to `current_lr` (idempotent)."""
        lr = self.current_lr()
        for group in self.agent.optimizer.param_groups:
            group["lr"] = lr

    @property
    def step(self) -> int:
        return self.agent.step

    def after_log(self, step: int, means: dict[str, float], elapsed: float) -> list:
        """Records that a log window leads to (RL: solved); none by default."""
        return []

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _load_extra_state(self, extra: dict[str, Any]) -> None:
        pass


class SupervisedTrainer(_Trainer):
    """Trains a circuit on the masked targets of a task (``TrainConfig``).

    Raises (at construction):
        ValueError: an env that cannot be made, a device that is not there.
    """

    kind = "supervised"
    unit = "sequences"
    script = "train.py"

    def __init__(self, config: TrainConfig, device: str | torch.device | None = None) -> None:
        super().__init__(config, device)
        self.agent = SupervisedAgent(self.circuit, self.envs, config)
        self.eval_envs = make_envs(
            config.env_id, _eval_batch_size(config.eval_sequences), config.task_kwargs
        )
        self.confirm_envs = make_envs(
            config.env_id, _eval_batch_size(config.solved_sequences), config.task_kwargs
        )
        self.last_confirmation: dict[str, Any] | None = None
        # The step of the first evaluation under config.lr_cut_bit_errors, once there was one.
        self.nearly_solved_at: int | None = None
        # The moving average of the weights (config.average_decay), from the step the rate is cut.
        self.average: dict[str, torch.Tensor] | None = None

    @property
    def count(self) -> int:
        return self.agent.sequences

    def _set_count(self, value: int) -> None:
        self.agent.sequences = value

    def cut(self) -> bool:
        """Whether the run is past its rate cut: solved, at or past ``lr_drop_step``, or past an
        evaluation under ``lr_cut_bit_errors``."""
        drop = self.config.lr_drop_step
        return self.solved or (drop > 0 and self.step >= drop) or self.nearly_solved_at is not None

    def current_lr(self) -> float:
        """The config's rate, times ``solved_lr_scale`` once the run is past its cut (``cut``)."""
        return self.config.lr * (self.config.solved_lr_scale if self.cut() else 1.0)

    def update_average(self) -> None:
        """After an update past the cut, move the average of the weights toward them (the first
        such update starts it at the weights)."""
        if not self.config.average_decay or not self.cut():
            return
        weights = self.circuit.state_dict()
        if self.average is None:
            self.average = {name: value.detach().clone() for name, value in weights.items()}
            return
        with torch.no_grad():
            for name, value in weights.items():
                if value.is_floating_point():
                    self.average[name].lerp_(value, 1.0 - self.config.average_decay)
                else:
                    self.average[name].copy_(value)

    @contextlib.contextmanager
    def averaged_weights(self):
        """Within the block the circuit holds the average of its weights (when the run keeps
        one; else its own), the run's model; the trained weights come back after it."""
        if self.average is None:
            yield self.circuit
            return
        state = self.circuit.state_dict()
        trained = {name: value.detach().clone() for name, value in state.items()}
        self.circuit.load_state_dict(self.average)
        try:
            yield self.circuit
        finally:
            self.circuit.load_state_dict(trained)

    def checkpoint(self, elapsed_s: float) -> dict[str, Any]:
        """As ``_Trainer.checkpoint``; with an average of the weights, ``model`` is the average
        (what evaluation and export read) and the trained weights go in ``extra``."""
        payload = super().checkpoint(elapsed_s)
        if self.nearly_solved_at is not None:
            payload["extra"]["nearly_solved_at"] = self.nearly_solved_at
        if self.average is not None:
            payload["extra"]["trained_model"] = payload["model"]
            payload["model"] = dict(self.average)
        return payload

    def _load_extra_state(self, extra: dict[str, Any]) -> None:
        self.nearly_solved_at = extra.get("nearly_solved_at")
        trained = extra.get("trained_model")
        if trained is not None:  # the model just loaded is the average; train on from these
            self.average = {
                name: value.detach().clone() for name, value in self.circuit.state_dict().items()
            }
            self.circuit.load_state_dict(trained)

    def train_step(self) -> dict[str, float]:
        if self.config.lr_drop_step and self.step == self.config.lr_drop_step:
            self.apply_lr()
        metrics, ms_per_sequence = self.agent.train_step()
        self.update_average()
        return dict(
            loss_bits=metrics.loss_bits,
            bit_errors=metrics.bit_errors,
            perfect=metrics.perfect,
            ms_per_sequence=ms_per_sequence,
            skipped=float(self.agent.last_skipped),
        )

    @staticmethod
    def describe_window(means: dict[str, float]) -> str:
        return (
            f"loss {means['loss_bits']:.3f} bits, bit errors {means['bit_errors']:.3f}, "
            f"perfect {means['perfect']:.3f}, {means['ms_per_sequence']:.2f} ms/sequence"
            + (f", {means['skipped']:.0%} of updates skipped" if means.get("skipped") else "")
        )

    def evaluate(self, elapsed: float) -> list[tuple[str, dict[str, Any]]]:
        """The periodic evaluation, and when it is under the threshold the confirming one."""
        config = self.config
        with self.averaged_weights() as circuit:
            result = evaluate(circuit, self.eval_envs, config.eval_sequences, seed=EVAL_SEED)
        self.last_eval = dict(
            step=self.step, sequences=self.count, elapsed_s=elapsed, **result._asdict()
        )
        records = [("eval", self.last_eval)]
        log.info(
            "step %d (%d sequences, %.0f s): eval over %d sequences: loss %.4f bits, "
            "bit errors %.3f per sequence, perfect %.3f",
            self.step,
            self.count,
            elapsed,
            result.num_sequences,
            result.loss_bits,
            result.bit_errors,
            result.perfect,
        )
        nearly = config.lr_cut_bit_errors
        if nearly and not self.cut() and result.bit_errors < nearly:
            self.nearly_solved_at = self.step
            self.apply_lr()  # times solved_lr_scale from the next update on
            records.append(("lr_cut", dict(step=self.step, bit_errors=result.bit_errors,
                                           lr=self.current_lr())))  # fmt: skip
            log.info(
                "step %d: eval under %g bit errors per sequence, learning rate now %g",
                self.step,
                nearly,
                self.current_lr(),
            )
        if self.solved_at is None and result.bit_errors < config.solved_bit_errors:
            with self.averaged_weights() as circuit:
                confirm = evaluate(
                    circuit, self.confirm_envs, config.solved_sequences, seed=SOLVED_SEED
                )
            self.last_confirmation = dict(step=self.step, **confirm._asdict())
            records.append(("confirm", self.last_confirmation))
            if confirm.bit_errors < config.solved_bit_errors:
                self.solved_at = dict(
                    step=self.step, sequences=self.count, elapsed_s=elapsed, **confirm._asdict()
                )
                records.append(("solved", self.solved_at))
                self.apply_lr()  # times solved_lr_scale from here on
                log.info(
                    "SOLVED at step %d: confirmed over %d fresh sequences, %.4f bit errors per "
                    "sequence (threshold %g), %.0f s",
                    self.step,
                    confirm.num_sequences,
                    confirm.bit_errors,
                    config.solved_bit_errors,
                    elapsed,
                )
            else:
                log.info(
                    "step %d: confirmation over %d fresh sequences: %.4f bit errors per "
                    "sequence (threshold %g), not solved yet",
                    self.step,
                    confirm.num_sequences,
                    confirm.bit_errors,
                    config.solved_bit_errors,
                )
        return records

    def summary(self) -> list[str]:
        config = self.config
        lines = []
        if self.last_eval:
            lines.append(
                f"last eval at step {self.last_eval['step']}: bit errors "
                f"{self.last_eval['bit_errors']:.4f} per sequence, perfect "
                f"{self.last_eval['perfect']:.3f} over {self.last_eval['num_sequences']} sequences"
            )
        if self.solved_at:
            lines.append(
                f"solved at step {self.solved_at['step']} ({self.solved_at['sequences']} "
                f"sequences) in {self.solved_at['elapsed_s']:.0f} s: "
                f"{self.solved_at['bit_errors']:.4f} bit errors per sequence over "
                f"{self.solved_at['num_sequences']} fresh sequences"
            )
        elif self.last_confirmation:
            lines.append(
                f"not solved: the last confirmation (step {self.last_confirmation['step']}) over "
                f"{self.last_confirmation['num_sequences']} fresh sequences measured "
                f"{self.last_confirmation['bit_errors']:.4f} bit errors per sequence "
                f"(threshold {config.solved_bit_errors:g}); train longer"
            )
        else:
            lines.append(
                f"not solved: no evaluation reached {config.solved_bit_errors:g} bit errors "
                "per sequence; train longer"
            )
        return lines


class PolicyTrainer(_Trainer):
    """Trains a circuit as a Bernoulli policy on the env's reward alone (``RLConfig``)."""

    kind = "rl"
    unit = "episodes"
    script = "train_rl.py"

    def __init__(self, config: RLConfig, device: str | torch.device | None = None) -> None:
        super().__init__(config, device)
        self.agent = PolicyGradientAgent(self.circuit, self.envs, config)
        self.eval_envs = make_envs(
            config.env_id, _eval_batch_size(config.eval_episodes), config.task_kwargs
        )

    @property
    def count(self) -> int:
        return self.agent.episodes

    def _set_count(self, value: int) -> None:
        self.agent.episodes = value

    def _extra_state(self) -> dict[str, Any]:
        return {"baseline": self.agent.baseline.state_dict()}

    def _load_extra_state(self, extra: dict[str, Any]) -> None:
        self.agent.baseline.load_state_dict(extra["baseline"])

    def train_step(self) -> dict[str, float]:
        metrics, ms_per_episode = self.agent.train_step()
        return dict(
            episode_return=metrics.episode_return,
            bit_errors=metrics.bit_errors,
            perfect=metrics.perfect,
            ms_per_episode=ms_per_episode,
        )

    @staticmethod
    def describe_window(means: dict[str, float]) -> str:
        return (
            f"return {means['episode_return']:.3f}, bit errors {means['bit_errors']:.3f}, "
            f"perfect {means['perfect']:.3f}, {means['ms_per_episode']:.2f} ms/episode"
        )

    def after_log(self, step: int, means: dict[str, float], elapsed: float) -> list:
        config = self.config
        if self.solved_at is not None or means["episode_return"] <= config.solved_return:
            return []
        self.solved_at = dict(
            step=step,
            episodes=self.count,
            elapsed_s=elapsed,
            episode_return=means["episode_return"],
            bit_errors=means["bit_errors"],
        )
        log.info(
            "SOLVED at step %d (%d episodes, %.0f s): mean training return %.4f over the last "
            "%d updates (threshold %g)",
            step,
            self.count,
            elapsed,
            means["episode_return"],
            config.log_every,
            config.solved_return,
        )
        return [("solved", self.solved_at)]

    def evaluate(self, elapsed: float) -> list[tuple[str, dict[str, Any]]]:
        config = self.config
        result = evaluate_policy(self.circuit, self.eval_envs, config.eval_episodes, seed=EVAL_SEED)
        self.last_eval = dict(
            step=self.step, episodes=self.count, elapsed_s=elapsed, **result._asdict()
        )
        log.info(
            "step %d (%d episodes, %.0f s): greedy return %.4f, bit errors %.3f, perfect %.3f",
            self.step,
            self.count,
            elapsed,
            result.episode_return,
            result.bit_errors,
            result.perfect,
        )
        return [("eval", self.last_eval)]

    def summary(self) -> list[str]:
        lines = []
        if self.last_eval:
            lines.append(
                f"last greedy eval at step {self.last_eval['step']}: return "
                f"{self.last_eval['episode_return']:.4f}, bit errors "
                f"{self.last_eval['bit_errors']:.4f}, perfect {self.last_eval['perfect']:.3f}"
            )
        if self.solved_at:
            lines.append(
                f"solved (training return > {self.config.solved_return:g}) at step "
                f"{self.solved_at['step']}, {self.solved_at['episodes']} episodes, "
                f"{self.solved_at['elapsed_s']:.0f} s"
            )
        else:
            lines.append(
                f"not solved: the training return did not exceed {self.config.solved_return:g} "
                "over a log window; train longer"
            )
        return lines


def make_trainer(config, device: str | torch.device | None = None) -> _Trainer:
    """The trainer of a config: SupervisedTrainer for a TrainConfig, PolicyTrainer for an
    RLConfig."""
    if isinstance(config, RLConfig):
        return PolicyTrainer(config, device)
    if isinstance(config, TrainConfig):
        return SupervisedTrainer(config, device)
    raise TypeError(f"expected a TrainConfig or an RLConfig, got {type(config).__name__}")


# -- the loop --------------------------------------------------------------------------------------


class InterruptGuard:
    """While active (in the main thread), SIGINT and SIGTERM only set ``requested``: the loop
    stops at the next step boundary. A second SIGINT raises KeyboardInterrupt at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested: str | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: object) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name
        log.warning(
            "%s: stopping after this step (checkpoint at the step boundary)%s",
            self.requested,
            "; Ctrl-C again to stop at once" if signum == signal.SIGINT else "",
        )

    def __enter__(self) -> InterruptGuard:
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()


@dataclass
class FitResult:
    """How a run of ``fit`` ended."""

    status: str
    """"finished", "interrupted" or "failed"."""
    step: int
    count: int
    """Sequences (supervised) or episodes (RL) trained on."""
    elapsed_s: float
    reason: str = ""
    """Why it failed or was interrupted."""
    cause: str = ""
    """What failed: "non-finite gradient" (the loss finite), "non-finite" (the loss or the
    parameters) or "disk" (the run's files)."""
    solved_at: dict[str, Any] | None = None
    last_eval: dict[str, Any] | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    """Every record of this session, in order (what ``callback`` was given)."""


EXIT_CODES = {"finished": 0, "interrupted": 130, "failed": 3}
"""A training script's exit status for each way a run can end."""


class _Progress:
    """A tqdm bar on a terminal (a few refreshes a second), nothing otherwise."""

    def __init__(self, trainer: _Trainer, show: bool, name: str) -> None:
        self.bar = None
        if show:
            from tqdm import tqdm

            config = trainer.config
            until = "until solved" if config.stop_when_solved else "to max_steps"
            self.bar = tqdm(
                total=None if config.stop_when_solved else config.max_steps,
                initial=trainer.step,
                desc=f"{name} ({until}, at most {config.max_steps:,} steps)",
                unit="step",
                mininterval=0.5,
                dynamic_ncols=True,
            )

    def update(self, trainer: _Trainer, values: dict[str, float]) -> None:
        if self.bar is not None:  # the postfix is formatted only when there is a bar to show it
            self.bar.update(1)
            self.bar.set_postfix_str(trainer.describe_window(values), refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def fit(
    trainer: _Trainer,
    run: Run | None = None,
    *,
    callback: Callback | None = None,
    progress: bool | None = None,
) -> FitResult:
    """Train ``trainer`` until its config's max_steps or max_seconds, or solved (when
    stop_when_solved).

    Args:
        trainer: a SupervisedTrainer or PolicyTrainer (restored first to resume a run).
        run: the run folder to record metrics and plots in and to checkpoint to; None trains
            in memory (records go to ``callback`` only, no checkpoint is written).
        callback: called as ``callback(kind, record)`` for every record ("train", "eval",
            "lr_cut", "confirm", "solved") and after each checkpoint ("checkpoint", {"step",
            "path"}).
        progress: a progress bar (default: when stderr is a terminal). Without one, a log line
            per log window says where training is.
    """
    config = trainer.config
    if progress is None:
        progress = sys.stderr.isatty()
    name = run.name if run is not None else config.agent
    result = FitResult("finished", trainer.step, trainer.count, trainer.elapsed_before)
    started = time.perf_counter()

    def elapsed() -> float:
        return trainer.elapsed_before + time.perf_counter() - started

    def emit(kind: str, fields: dict[str, Any]) -> None:
        record = run.record(kind, **fields) if run is not None else {"kind": kind, **fields}
        result.records.append(record)
        if callback is not None:
            callback(kind, record)

    def save() -> None:
        if run is None:
            return
        path = run.save_checkpoint(trainer.checkpoint(elapsed()))
        if callback is not None:
            callback("checkpoint", {"step": trainer.step, "path": str(path)})

    bar = _Progress(trainer, progress, name)
    window: list[dict[str, float]] = []
    with InterruptGuard() as guard:
        try:
            while trainer.step < config.max_steps and not guard.requested:
                values = trainer.train_step()
                window.append(values)
                bar.update(trainer, values)
                step = trainer.step
                if step % config.log_every == 0 or step == config.max_steps:
                    means = {key: float(np.mean([w[key] for w in window])) for key in values}
                    window.clear()
                    fields = {"step": step, trainer.unit: trainer.count, **means}
                    emit("train", {**fields, "elapsed_s": elapsed()})
                    if not progress:
                        log.info(
                            "step %d (%d %s, %.0f s): %s",
                            step,
                            trainer.count,
                            trainer.unit,
                            elapsed(),
                            trainer.describe_window(means),
                        )
                    for kind, record in trainer.after_log(step, means, elapsed()):
                        emit(kind, record)
                out_of_time = 0 < config.max_seconds <= elapsed()
                if step % config.eval_every == 0 or step == config.max_steps or out_of_time:
                    for kind, record in trainer.evaluate(elapsed()):
                        emit(kind, record)
                if step % config.checkpoint_every == 0:
                    save()
                if config.stop_when_solved and trainer.solved:
                    break
                if out_of_time:
                    result.reason = f"time limit: {config.max_seconds:g} s of training"
                    break
            if guard.requested:
                result.status, result.reason = "interrupted", guard.requested
            save()
        except NonFiniteLossError as error:
            result.status, result.reason = "failed", f"non-finite values: {error}"
            result.cause = "non-finite"
            if isinstance(error, NonFiniteGradientError):
                result.cause = "non-finite gradient"
        except CheckpointError as error:  # a state that holds NaN or infinity, never written
            result.status, result.reason, result.cause = "failed", str(error), "non-finite"
        except OSError as error:  # a full disk, a folder that went away
            result.status, result.reason = "failed", f"cannot write the run's files: {error}"
            result.cause = "disk"
        finally:
            bar.close()
    result.step, result.count, result.elapsed_s = trainer.step, trainer.count, elapsed()
    result.solved_at, result.last_eval = trainer.solved_at, trainer.last_eval
    return result


def start_lines(trainer: _Trainer, run: Run) -> list[str]:
    """What a script logs when a run starts: where, the task, the circuit, the config."""
    config = trainer.config
    label = (
        "circuit" if trainer.kind == "supervised" else "policy: Bernoulli bits from the logits of"
    )
    lines = [
        f"run {run.name} in {run.path} on {trainer.device}",
        f"task {config.env_id} {dict(config.task_kwargs)}: input size {trainer.input_size}, "
        f"output size {trainer.output_size}"
        + (
            f"; training batches on {config.train_task_kwargs}"
            if config.train_task_kwargs != config.task_kwargs
            else ""
        ),
        f"{label}:\n{trainer.circuit}",
        f"parameters: {sum(p.numel() for p in trainer.circuit.parameters())}",
        f"config: {json.dumps(config.to_dict())}",
    ]
    url = run.dashboard_url()
    lines.append(f"live plots: {url}" if url else f"plots: PNG files in {run.plots_dir}")
    return lines


def summary_lines(trainer: _Trainer, result: FitResult, run: Run | None) -> list[str]:
    """What a script prints when a run ends: how, what it reached, where to look, what next."""
    how = {
        "finished": "finished",
        "interrupted": f"interrupted ({result.reason})",
        "failed": f"FAILED ({result.reason})",
    }[result.status]
    lines = [
        f"{how} after {result.step} steps, {result.count} {trainer.unit}, {result.elapsed_s:.0f} s",
        *trainer.summary(),
    ]
    if run is None:
        return lines
    checkpoint = run.checkpoint_path
    if result.status == "failed":
        kept = f"the last good checkpoint {checkpoint} is kept" if checkpoint.exists() else (
            "no checkpoint was written yet"
        )  # fmt: skip
        command = f"python scripts/{trainer.script} --resume {run.path}"
        if result.cause == "disk":
            lines.append(f"{kept}; free some space, then resume: {command}")
        elif result.cause == "non-finite gradient" and hasattr(
            trainer.config, "skip_nonfinite_steps"
        ):
            lines.append(
                f"{kept}; the loss was finite and its gradient overflowed: resume skipping such "
                f"batches, {command} --skip-nonfinite-steps 20, or with a lower learning rate, "
                f"--lr {trainer.config.lr / 10:g}"
            )
        else:
            lines.append(
                f"{kept}; resume with a lower learning rate, for example: "
                f"{command} --lr {trainer.config.lr / 10:g}"
            )
    elif result.status == "interrupted" or not (trainer.solved or result.step < 1):
        lines.append(f"resume: python scripts/{trainer.script} --resume {run.path}")
    lines.append(f"run folder {run.path}; plots in {run.plots_dir}")
    url = run.dashboard_url()
    if url:
        lines.append(f"dashboard {url}")
    if checkpoint.exists():
        lines.append(f"test it: python scripts/test.py --run {run.path}")
    return lines
