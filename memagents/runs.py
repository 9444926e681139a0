"""Run folders: a run has a name and a folder with its config, log, metrics, checkpoints, plots.

runs/<name>/
    config.json          the TrainConfig, as resolved
    train.log            the log of every session of the run
    metrics.jsonl        one JSON object a line: {"kind": "train" | "eval" | "solved", "step", ...}
    checkpoints/last.pt  the latest checkpoint (atomic)
    plots/*.png          the curves (and test-mode heatmaps), written without a visdom server
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

CHECKPOINT_NAME = "checkpoints/last.pt"


def default_run_name() -> str:
    """The seed's signature: MACHINE_TIMESTAMP (host name, then yymmddHHMMSS)."""
    host = socket.gethostname().split(".")[0] or "machine"
    return f"{host}_{time.strftime('%y%m%d%H%M%S')}"


def resolve_run_dir(name_or_path: str, runs_dir: str | Path = "runs") -> Path:
    """A run given by name (a folder under ``runs_dir``) or by its folder's path."""
    candidate = Path(name_or_path)
    if candidate.is_dir() and (candidate / "config.json").is_file():
        return candidate
    return Path(runs_dir) / name_or_path


class MetricsWriter:
    """Appends JSON lines to ``metrics.jsonl``, flushed at every line."""

    def __init__(self, path: Path, truncate_after_step: int | None = None) -> None:
        self.path = path
        if truncate_after_step is not None and path.is_file():
            # A resumed run replays the steps after its last checkpoint: drop their old lines.
            kept = [
                line
                for line in path.read_text().splitlines()
                if line.strip() and json.loads(line).get("step", 0) <= truncate_after_step
            ]
            path.write_text("".join(line + "\n" for line in kept))
        self._handle = path.open("a")

    def write(self, kind: str, **fields: Any) -> None:
        self._handle.write(json.dumps({"kind": kind, **fields}) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class TqdmHandler(logging.Handler):
    """Logs through ``tqdm.write`` so log lines do not break the progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # pragma: no cover - logging must never kill a run
            self.handleError(record)


def setup_logging(log_file: Path | None, level: int = logging.INFO) -> None:
    """Log to the console (through tqdm) and, when given, to a file."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
    console = TqdmHandler()
    console.setFormatter(fmt)
    root.addHandler(console)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(log_file)
        file_handler.setFormatter(fmt)
        root.addHandler(file_handler)
    root.setLevel(level)


def pick_device(name: str):
    """``cpu``, ``cuda`` or ``auto`` (CUDA when torch sees a device) as a ``torch.device``."""
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' asked for, but torch sees no CUDA device")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


class Stop(Exception):
    """Raised from the SIGTERM handler, so a terminated run checkpoints like a Ctrl-C."""


def raise_stop(signum, frame) -> None:
    """SIGTERM handler: ``signal.signal(signal.SIGTERM, raise_stop)``."""
    raise Stop(f"signal {signum}")


def log_run_start(
    log: logging.Logger,
    *,
    run_dir: Path,
    device,
    env_id: str,
    env_kwargs: dict,
    sizes: tuple[int, int],
    circuit,
    config: dict[str, Any],
    plotter,
    circuit_label: str = "circuit:",
) -> None:
    """What a run logs at its start: where, the task, the circuit's structure, the config."""
    log.info("run %s in %s on %s", run_dir.name, run_dir, device)
    log.info("task %s %s: input size %d, output size %d", env_id, env_kwargs, *sizes)
    log.info("%s\n%s", circuit_label, circuit)
    log.info("parameters: %d", sum(p.numel() for p in circuit.parameters()))
    log.info("config: %s", json.dumps(config))
    if plotter.connected:
        log.info("visdom: live plots in env %r", run_dir.name)


def open_outputs(run_dir: Path, args, resumed_at: int | None):
    """A run's metrics file and plotter: `metrics.jsonl` (its lines after `resumed_at`, the step
    a resumed run starts from, dropped) and a Plotter on the run's visdom env (PNG files in
    `plots/`), from the scripts' --visdom-server, --visdom-port and --no-visdom."""
    from memagents.plotting import Plotter

    metrics = MetricsWriter(run_dir / "metrics.jsonl", truncate_after_step=resumed_at)
    plotter = Plotter(
        env=run_dir.name,
        out_dir=run_dir / "plots",
        server=args.visdom_server,
        port=args.visdom_port,
        enabled=not args.no_visdom,
    )
    return metrics, plotter


def circuit_record(name: str, sizes: tuple[int, int], circuit) -> dict[str, Any]:
    """The ``circuit`` entry of a checkpoint: what rebuilds it with ``build_circuit``."""
    input_size, output_size = sizes
    return {
        "name": name,
        "input_size": input_size,
        "output_size": output_size,
        "config": circuit.config(),
    }


def restore_training(checkpoint: dict, path: Path, circuit, optimizer, lr: float, **extra) -> None:
    """Load a resumable checkpoint's circuit, optimizer (with ``lr`` applied, so a resumed run
    may lower it) and any ``extra`` modules (name -> module with ``load_state_dict``), and the
    RNG states.

    Raises:
        CheckpointError: the checkpoint is model-only (exported) or does not fit.
    """
    from memagents.checkpoint import CheckpointError, load_model_state, restore_rng_state

    if checkpoint.get("optimizer") is None:
        raise CheckpointError(
            f"checkpoint {path}: model-only (exported), it has no optimizer state to resume; "
            "train a new run instead"
        )
    load_model_state(circuit, checkpoint["model"], path)
    try:
        optimizer.load_state_dict(checkpoint["optimizer"])
        for name, module in extra.items():
            module.load_state_dict(checkpoint[name])
    except (ValueError, KeyError) as error:
        message = f"checkpoint {path}: cannot restore the training state ({error})"
        raise CheckpointError(message) from error
    for group in optimizer.param_groups:
        group["lr"] = lr
    restore_rng_state(checkpoint["rng"])


def add_run_arguments(parser, override_flags: dict[str, tuple[str, type]]) -> None:
    """The command-line arguments every training script shares: one flag per overridable config
    field (``{"--lr": ("lr", float), ...}``), task/circuit kwargs, the run folder, visdom."""
    for flag, (name, kind) in override_flags.items():
        parser.add_argument(flag, dest=name, type=kind, default=None, help=f"override {name}")
    parser.add_argument(
        "--env-kwarg", action="append", default=[], metavar="KEY=VALUE", help="task argument"
    )
    parser.add_argument(
        "--circuit-kwarg", action="append", default=[], metavar="KEY=VALUE", help="circuit argument"
    )
    parser.add_argument(
        "--no-stop-when-solved", action="store_true", help="train to --max-steps even when solved"
    )
    parser.add_argument("--run-name", help="name of the run (default: MACHINE_TIMESTAMP)")
    parser.add_argument("--runs-dir", default="runs", help="folder of the runs (default: runs)")
    parser.add_argument("--resume", metavar="RUN", help="continue a run (its name or folder)")
    parser.add_argument("--no-visdom", action="store_true", help="no visdom; PNG plots only")
    parser.add_argument("--visdom-server", default="http://localhost")
    parser.add_argument("--visdom-port", type=int, default=8097)
    parser.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")


def run_overrides(args, override_flags: dict[str, tuple[str, type]]) -> dict[str, Any]:
    """The config overrides that ``add_run_arguments``'s flags were given."""
    from memagents.config import parse_kwarg

    overrides = {
        name: getattr(args, name)
        for name, _ in override_flags.values()
        if getattr(args, name) is not None
    }
    if args.env_kwarg:
        overrides["env_kwargs"] = dict(parse_kwarg(text) for text in args.env_kwarg)
    if args.circuit_kwarg:
        overrides["circuit_kwargs"] = dict(parse_kwarg(text) for text in args.circuit_kwarg)
    if args.no_stop_when_solved:
        overrides["stop_when_solved"] = False
    return overrides


EXIT_CODES = {"finished": 0, "interrupted": 130, "failed": 3}
"""A training script's exit status for each way its loop can end."""


class TrainingLoop:
    """The loop the training scripts share: steps with a progress bar, a log, an evaluation and a
    checkpoint at their cadences, a stop once solved, and what ends a run early.

    Ctrl-C or SIGTERM writes a checkpoint and logs how to resume (`python scripts/<script>
    --resume <run>`); `failure` (say, a non-finite loss) writes none, so the last good one stays,
    and goes to `on_failure`. The step's own work, what is logged, evaluated and checkpointed,
    is the script's, through the callbacks of `run`.
    """

    def __init__(
        self,
        *,
        log: logging.Logger,
        run_dir: Path,
        script: str,
        max_steps: int,
        log_every: int,
        eval_every: int,
        checkpoint_every: int,
        stop_when_solved: bool,
        show_progress: bool,
        elapsed_before: float = 0.0,
    ) -> None:
        self.log = log
        self.run_dir = run_dir
        self.script = script
        self.max_steps = max_steps
        self.log_every = log_every
        self.eval_every = eval_every
        self.checkpoint_every = checkpoint_every
        self.stop_when_solved = stop_when_solved
        self.show_progress = show_progress
        self.elapsed_before = elapsed_before
        self.start = time.perf_counter()

    @classmethod
    def for_config(cls, config, *, log, run_dir, script, show_progress, elapsed_before):
        """The loop for a TrainConfig or an RLConfig (their max_steps, log_every, eval_every,
        checkpoint_every and stop_when_solved)."""
        return cls(
            log=log,
            run_dir=run_dir,
            script=script,
            max_steps=config.max_steps,
            log_every=config.log_every,
            eval_every=config.eval_every,
            checkpoint_every=config.checkpoint_every,
            stop_when_solved=config.stop_when_solved,
            show_progress=show_progress,
            elapsed_before=elapsed_before,
        )

    def elapsed(self) -> float:
        """Seconds of training in this run, earlier sessions of a resumed run included."""
        return self.elapsed_before + time.perf_counter() - self.start

    def run(
        self,
        *,
        step: Callable[[], int],
        train_step: Callable[[], tuple[dict[str, float], dict[str, str]]],
        on_log: Callable[[int, dict[str, float]], None],
        on_eval: Callable[[int], None],
        write_checkpoint: Callable[[], None],
        solved: Callable[[], bool],
        failure: type[Exception],
        on_failure: Callable[[Exception], None],
    ) -> str:
        """Train until max_steps (or solved); returns "finished", "interrupted" or "failed".

        Args:
            step: the number of updates done so far.
            train_step: one update; returns the values to average over the log window and the
                progress bar's postfix.
            on_log: (step, the window's means), every log_every steps and at the last.
            on_eval: (step), every eval_every steps and at the last.
            write_checkpoint: writes the checkpoint, every checkpoint_every steps, at the end,
                and on Ctrl-C or SIGTERM.
            solved: whether the run is solved (checked after each step's log and evaluation).
        """
        status = "finished"
        window: list[dict[str, float]] = []
        previous_handler = signal.signal(signal.SIGTERM, raise_stop)
        progress = tqdm(
            total=self.max_steps,
            initial=step(),
            desc=self.run_dir.name,
            disable=not self.show_progress,
            dynamic_ncols=True,
        )
        self.start = time.perf_counter()
        try:
            while step() < self.max_steps:
                values, postfix = train_step()
                window.append(values)
                progress.update(1)
                progress.set_postfix(postfix)
                done = step()
                if done % self.log_every == 0 or done == self.max_steps:
                    on_log(done, {key: float(np.mean([w[key] for w in window])) for key in values})
                    window.clear()
                if done % self.eval_every == 0 or done == self.max_steps:
                    on_eval(done)
                if done % self.checkpoint_every == 0:
                    write_checkpoint()
                if self.stop_when_solved and solved():
                    break
            write_checkpoint()
        except (KeyboardInterrupt, Stop) as reason:
            status = "interrupted"
            progress.close()
            write_checkpoint()
            self.log.warning(
                "interrupted (%s) at step %d: checkpoint written to %s; resume with\n"
                "    python scripts/%s --resume %s",
                reason or "Ctrl-C",
                step(),
                self.run_dir / CHECKPOINT_NAME,
                self.script,
                self.run_dir,
            )
        except failure as error:
            status = "failed"
            progress.close()
            on_failure(error)
        finally:
            signal.signal(signal.SIGTERM, previous_handler)
            progress.close()
        return status
