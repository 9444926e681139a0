"""Checkpoints that survive anything: atomic writes, safe loads, clear errors.

A checkpoint is one ``torch.save`` file holding plain data only (tensors, numbers, strings, lists,
dicts), so it loads with ``torch.load(weights_only=True)``: a crafted file cannot run code.

Layout of the saved dict::

    format       "memagents-checkpoint"
    version      1
    circuit      {"name": str, "input_size": int, "output_size": int, "config": dict}
    model        the circuit's state_dict
    optimizer    the optimizer's state_dict, or None in an exported (model-only) checkpoint
    step         training steps done
    sequences    training sequences seen
    train_config the run's TrainConfig as a dict
    rng          {"python": ..., "numpy": ..., "torch": tensor}  (see ``capture_rng_state``)
    metrics      the last evaluation's figures, a dict

Writing goes to a temporary file in the same folder, is fsync'ed, then renamed over the old file,
and the folder is fsync'ed: a crash or SIGKILL at any moment leaves either the old or the new
checkpoint, never a torn one.
"""

from __future__ import annotations

import os
import pickle
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

FORMAT = "memagents-checkpoint"
VERSION = 1
REQUIRED_KEYS = ("format", "version", "circuit", "model", "step", "train_config")


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be used; the message names the file and the problem."""


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``path`` atomically (temporary file, fsync, rename, fsync folder)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "version": VERSION, **payload}
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        # Never leave a half-written temporary behind; the old checkpoint is untouched.
        Path(tmp_name).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint safely (``weights_only=True``) and check its layout.

    Raises:
        CheckpointError: the file is missing, truncated or corrupt, holds code or objects that a
            weights-only load refuses, or is not a memagents checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: no such file")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"checkpoint {path}: refused by the safe (weights_only) loader, it holds objects "
            f"other than tensors and plain data, or is corrupt ({_first_line(error)})"
        ) from error
    except Exception as error:  # torch.load fails on garbage in many ways (IndexError too)
        raise CheckpointError(
            f"checkpoint {path}: unreadable, the file is truncated or corrupt "
            f"({type(error).__name__}: {_first_line(error)})"
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path}: not a memagents checkpoint (no format tag)")
    if payload.get("version") != VERSION:
        raise CheckpointError(
            f"checkpoint {path}: format version {payload.get('version')!r}, "
            f"this code reads version {VERSION}"
        )
    missing = [key for key in REQUIRED_KEYS if key not in payload]
    if missing:
        raise CheckpointError(f"checkpoint {path}: missing entries {missing}")
    return payload


def load_model_state(module: torch.nn.Module, state_dict: dict, path: str | os.PathLike) -> None:
    """``module.load_state_dict`` with an error that names the file and the mismatch."""
    try:
        module.load_state_dict(state_dict)
    except RuntimeError as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        detail = "; ".join(lines[1:4]) if len(lines) > 1 else lines[0]
        raise CheckpointError(
            f"checkpoint {path}: its weights do not match the circuit it describes ({detail})"
        ) from error


def capture_rng_state() -> dict[str, Any]:
    """The python, numpy (global) and torch RNG states as weights-only-loadable data."""
    name, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002 (the global stream)
    return {
        "python": random.getstate(),
        "numpy": [name, torch.from_numpy(np.asarray(keys).copy()), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of ``capture_rng_state``."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    numpy_state = (name, keys.numpy().astype(np.uint32), pos, has_gauss, cached)
    np.random.set_state(numpy_state)  # noqa: NPY002 (the global stream)
    torch.set_rng_state(state["torch"])
