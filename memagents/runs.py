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
import socket
import sys
import time
from pathlib import Path
from typing import Any

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
