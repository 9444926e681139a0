"""Run folders: a run has a name and a folder with its config, log, metrics, checkpoints, plots.

runs/<name>/
    config.json          the run's config (TrainConfig or RLConfig), as resolved
    train.log            the log of every session of the run
    metrics.jsonl        one JSON object a line: {"kind": "train" | "eval" | "lr_cut" | "confirm"
                         | "solved", "step", ...}
    checkpoints/last.pt  the latest checkpoint (atomic; see memagents.checkpoint)
    plots/*.png          the curves (and test-mode heatmaps), written without a visdom server
    .lock                held (flock) by the process that trains the run

A ``Run`` is that folder while one process trains it: it holds the lock, removes what killed
writers left behind, writes the config, the metrics and the checkpoint, and plots.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import socket
import sys
import time
from pathlib import Path
from typing import Any

from memagents.checkpoint import (
    assert_finite_state,
    load_checkpoint,
    save_checkpoint,
    temporary_folder,
)

CHECKPOINT_NAME = "checkpoints/last.pt"
LOCK_NAME = ".lock"
RUN_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")
"""A run name is one path component of letters, digits and ``._+-`` (no separators)."""


def default_run_name() -> str:
    """MACHINE-TIMESTAMP (host name, yymmdd-HHMMSS); no ``_``: visdom reads it as a group."""
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname().split(".")[0]) or "machine"
    return f"{host}-{time.strftime('%y%m%d-%H%M%S')}"


def check_run_name(name: str) -> str:
    """``name`` if it is a valid run name (one folder, no path separators), else ValueError."""
    if not RUN_NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"run name {name!r}: use letters, digits and . _ + - only (no path separators, "
            "at most 128 characters, not starting with a dot)"
        )
    return name


def resolve_run_dir(name_or_path: str, runs_dir: str | Path = "runs") -> Path:
    """A run given by name (a folder under ``runs_dir``) or by its folder's path."""
    candidate = Path(name_or_path)
    if candidate.is_dir() and (candidate / "config.json").is_file():
        return candidate
    return Path(runs_dir) / name_or_path


class RunInUseError(RuntimeError):
    """Another process holds the run's lock."""


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

    def write(self, kind: str, **fields: Any) -> dict[str, Any]:
        record = {"kind": kind, **fields}
        self._handle.write(json.dumps(record) + "\n")
        self._handle.flush()
        return record

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
        handler.close()
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
        raise ValueError("device 'cuda' asked for, but torch sees no CUDA device (use cpu)")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


class Run:
    """A run folder while one process trains it.

    ``Run.create`` starts a new run, ``Run.open`` an existing one (to resume); both take the
    run's lock, so a second process on the same run gets ``RunInUseError`` naming the first.
    ``open_outputs`` opens the metrics file and the plotter once the run's config is settled.
    Use it as a context manager, or call ``close``.
    """

    def __init__(self, path: Path, scratch: Path | None = None) -> None:
        self.path = Path(path)
        self.scratch = None if scratch is None else Path(scratch)
        """Where the checkpoint and the config are written before their atomic rename into the
        run folder (None: in the run folder itself). A sweep trial sets it outside the trial
        folder, which Ray Tune copies to its storage while the trial trains."""
        self.metrics: MetricsWriter | None = None
        self.plotter = None
        self._lock_handle = None

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    def create(
        cls, runs_dir: str | Path, name: str | None = None, scratch: Path | None = None
    ) -> Run:
        """A new run ``runs_dir/name`` (default name: MACHINE-TIMESTAMP), locked.

        Raises:
            ValueError: a bad name, or the run already has a checkpoint (resume it instead).
            RunInUseError: another process trains it.
        """
        name = check_run_name(default_run_name() if name is None else name)
        run = cls(Path(runs_dir) / name, scratch)
        run.path.mkdir(parents=True, exist_ok=True)
        run.lock()
        if run.checkpoint_path.exists():
            run.close()
            raise ValueError(
                f"run {run.path} already has a checkpoint; resume it with --resume {name} or "
                "pick another --run-name"
            )
        return run

    @classmethod
    def open(
        cls, name_or_path: str, runs_dir: str | Path = "runs", scratch: Path | None = None
    ) -> Run:
        """An existing run (by name under ``runs_dir`` or by folder), locked.

        Raises:
            ValueError: no such run.
            RunInUseError: another process trains it.
        """
        path = resolve_run_dir(name_or_path, runs_dir)
        if not path.is_dir():
            raise ValueError(f"no run {name_or_path!r} (looked for the folder {path})")
        run = cls(path, scratch)
        run.lock()
        return run

    def lock(self) -> None:
        """Take the run's exclusive lock (held until ``close`` or the process ends), and remove
        temporary checkpoint files that killed writers left."""
        handle = (self.path / LOCK_NAME).open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise RunInUseError(
                f"run {self.path} is in use by {holder}; wait for it to end or pick another "
                "--run-name"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        self._lock_handle = handle
        folders = [self.checkpoint_path.parent, self.path]
        if self.scratch is not None:
            folders.append(self.scratch)
        for folder in folders:
            for orphan in folder.glob(f".{self.checkpoint_path.name}.*.tmp"):
                orphan.unlink(missing_ok=True)
            (folder / ".config.json.tmp").unlink(missing_ok=True)

    # -- files --------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def checkpoint_path(self) -> Path:
        return self.path / CHECKPOINT_NAME

    @property
    def plots_dir(self) -> Path:
        return self.path / "plots"

    def write_config(self, config) -> None:
        """``config.json``: the run's config, as resolved."""
        text = json.dumps(config.to_dict(), indent=2) + "\n"
        tmp = temporary_folder(self.path, self.scratch) / ".config.json.tmp"
        tmp.write_text(text)
        os.replace(tmp, self.path / "config.json")

    def read_config(self) -> dict[str, Any] | None:
        """``config.json`` as a dict, or None when the run has none (or it is unreadable)."""
        try:
            data = json.loads((self.path / "config.json").read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def load_checkpoint(self) -> dict[str, Any]:
        """The run's checkpoint (``memagents.checkpoint.load_checkpoint``)."""
        return load_checkpoint(self.checkpoint_path)

    def save_checkpoint(self, payload: dict[str, Any]) -> Path:
        """Write the checkpoint atomically; a state with a non-finite number is never written.

        Raises:
            CheckpointError: the state holds NaN or infinite values (the old file is kept).
            OSError: the disk refused the write (the old file is kept).
        """
        assert_finite_state(payload, self.checkpoint_path)
        return save_checkpoint(self.checkpoint_path, payload, tmp_dir=self.scratch)

    def open_outputs(
        self,
        *,
        resumed_at: int | None,
        visdom_server: str = "http://localhost",
        visdom_port: int = 8097,
        visdom: bool = True,
    ) -> None:
        """Open ``metrics.jsonl`` (dropping its lines after ``resumed_at``, the step a resumed run
        restarts from) and a Plotter on the run's visdom env, with the recorded history
        replotted (so curves cover every step after a resume)."""
        from memagents.plotting import Plotter

        # A new run starts a fresh file; a resumed one drops the lines its checkpoint has not seen.
        keep_until = -1 if resumed_at is None else resumed_at
        self.metrics = MetricsWriter(self.path / "metrics.jsonl", truncate_after_step=keep_until)
        self.plotter = Plotter(
            env=self.name,
            out_dir=self.plots_dir,
            server=visdom_server,
            port=visdom_port,
            enabled=visdom,
        )
        if resumed_at is not None:
            self.plotter.replay(read_metrics(self.path))

    def record(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Write a metrics line and plot it."""
        record = self.metrics.write(kind, **fields) if self.metrics else {"kind": kind, **fields}
        if self.plotter is not None:
            self.plotter.plot_metrics(record)
        return record

    def dashboard_url(self) -> str | None:
        """The run's visdom page, when a server answered."""
        if self.plotter is None or not self.plotter.connected:
            return None
        return self.plotter.env_url

    def close(self) -> list[Path]:
        """Close the metrics file, write the PNG plots, release the lock. Returns the PNGs."""
        pngs: list[Path] = []
        if self.metrics is not None:
            self.metrics.close()
            self.metrics = None
        if self.plotter is not None:
            pngs = self.plotter.save_pngs()
        if self._lock_handle is not None:
            fcntl.flock(self._lock_handle, fcntl.LOCK_UN)
            self._lock_handle.close()
            self._lock_handle = None
        return pngs

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = [
    "CHECKPOINT_NAME",
    "MetricsWriter",
    "Run",
    "RunInUseError",
    "check_run_name",
    "default_run_name",
    "pick_device",
    "read_metrics",
    "resolve_run_dir",
    "setup_logging",
]
