"""Checkpoints that survive anything: atomic writes, safe loads, clear errors.

A checkpoint is one ``torch.save`` file holding plain data only (tensors, numbers, strings, lists,
dicts), so it loads with ``torch.load(weights_only=True)``: a crafted file cannot run code.

Layout of the saved dict (version 2; ``training_checkpoint`` is the one place that builds it)::

    format       "memagents-checkpoint"
    version      2
    kind         "supervised" (scripts/train.py) or "rl" (scripts/train_rl.py)
    config       the run's TrainConfig or RLConfig as a dict
    circuit      {"name": str, "input_size": int, "output_size": int, "config": dict}
    model        the circuit's state_dict
    optimizer    the optimizer's state_dict, or None in an exported (model-only) checkpoint
    extra        other training state by name (the RL baseline), {} when none
    step         training steps (updates) done
    sequences    training sequences (episodes) seen
    rng          {"python": ..., "numpy": ..., "torch": tensor}  (see ``capture_rng_state``)
    metrics      the last evaluation's figures, a dict
    elapsed_s    seconds of training so far
    solved_at    the record of the evaluation that solved the task, or None

Version 1 files (``train_config`` / ``rl_config`` instead of ``kind`` and ``config``) load as
version 2.

Writing goes to a temporary file in the same folder, is fsync'ed, then renamed over the old file,
and the folder is fsync'ed: a crash or SIGKILL at any moment leaves either the old or the new
checkpoint, never a torn one. A state holding a NaN or an infinity is never written
(``assert_finite_state``).
"""

from __future__ import annotations

import math
import os
import pickle
import random
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

FORMAT = "memagents-checkpoint"
VERSION = 2
KINDS = ("supervised", "rl")
REQUIRED_KEYS = ("format", "version", "kind", "config", "circuit", "model", "step")


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be used; the message names the file and the problem."""


def training_checkpoint(
    *,
    kind: str,
    config: Mapping[str, Any],
    circuit: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None,
    step: int,
    sequences: int,
    extra: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    elapsed_s: float = 0.0,
    solved_at: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The checkpoint of a training run, as ``save_checkpoint`` writes it (the layout above).

    Args:
        kind: "supervised" or "rl".
        config: the run's config as a dict (``config.to_dict()``).
        circuit: a circuit of ``memagents.circuits`` (its name, sizes and ``config()`` are kept).
        optimizer: the optimizer (None: a model-only checkpoint, which cannot be resumed).
        extra: other training state, name -> state_dict.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return {
        "format": FORMAT,
        "version": VERSION,
        "kind": kind,
        "config": dict(config),
        "circuit": {
            "name": circuit.name,
            "input_size": int(circuit.input_size),
            "output_size": int(circuit.output_size),
            "config": circuit.config(),
        },
        "model": circuit.state_dict(),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "extra": dict(extra or {}),
        "step": int(step),
        "sequences": int(sequences),
        "rng": capture_rng_state(),
        "metrics": dict(metrics or {}),
        "elapsed_s": float(elapsed_s),
        "solved_at": None if solved_at is None else dict(solved_at),
    }


def exported_checkpoint(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The model-only copy of a loaded checkpoint: no optimizer, extra or RNG state."""
    exported = {key: value for key, value in payload.items() if key not in ("extra", "rng")}
    exported["optimizer"] = None
    return exported


def _tensors(value: Any):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _tensors(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)


def assert_finite_state(payload: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Raise CheckpointError when the model, optimizer or extra state of ``payload`` holds a NaN
    or an infinity: such a state is never written over a good checkpoint."""
    for key in ("model", "optimizer", "extra"):
        for tensor in _tensors(payload.get(key)):
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise CheckpointError(
                    f"checkpoint {path}: not written, the {key} state holds NaN or infinite "
                    "values; the previous checkpoint is kept"
                )


def save_checkpoint(
    path: str | os.PathLike, payload: dict[str, Any], tmp_dir: str | os.PathLike | None = None
) -> Path:
    """Write ``payload`` to ``path`` atomically (temporary file, fsync, rename, fsync folder).

    The temporary file is made in ``tmp_dir`` when it is given and on the same file system as
    ``path`` (so the rename stays atomic), else beside ``path``. A folder that another process
    copies while training runs (Ray Tune's trial folder) then never lists a file that vanishes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "version": VERSION, **payload}
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=temporary_folder(path.parent, tmp_dir)
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o666 & ~_umask())
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


def temporary_folder(folder: Path, tmp_dir: str | os.PathLike | None) -> Path:
    """``tmp_dir`` when it is a folder on the file system of ``folder``, else ``folder``: where
    a file of ``folder`` is written before its atomic rename into place."""
    if tmp_dir is None:
        return folder
    try:
        same_device = os.stat(tmp_dir).st_dev == os.stat(folder).st_dev
    except OSError:
        return folder
    return Path(tmp_dir) if same_device and Path(tmp_dir).is_dir() else folder


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
    if payload.get("version") == 1:
        payload = _from_version_1(payload)
    if payload.get("version") != VERSION:
        raise CheckpointError(
            f"checkpoint {path}: format version {payload.get('version')!r}, "
            f"this code reads versions 1 and {VERSION}"
        )
    missing = [key for key in REQUIRED_KEYS if key not in payload]
    if missing:
        raise CheckpointError(f"checkpoint {path}: missing entries {missing}")
    problem = _layout_problem(payload)
    if problem:
        raise CheckpointError(f"checkpoint {path}: {problem}")
    return payload


def _from_version_1(payload: dict[str, Any]) -> dict[str, Any]:
    """A version 1 checkpoint (train_config / rl_config) in the version 2 layout."""
    payload = dict(payload)
    if "rl_config" in payload:
        payload["kind"], payload["config"] = "rl", payload.pop("rl_config")
        payload.pop("train_config", None)
        payload["extra"] = {"baseline": payload.pop("baseline")} if "baseline" in payload else {}
        payload["sequences"] = payload.pop("episodes", payload.get("sequences", 0))
    elif "train_config" in payload:
        payload["kind"], payload["config"] = "supervised", payload.pop("train_config")
    payload.setdefault("extra", {})
    payload["version"] = VERSION
    return payload


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _layout_problem(payload: Mapping[str, Any]) -> str | None:
    """What is wrong with a loaded checkpoint's entries (types a crafted file could get wrong)."""
    circuit = payload["circuit"]
    if payload["kind"] not in KINDS:
        return f"kind must be one of {KINDS}, got {payload['kind']!r}"
    if not isinstance(payload["config"], Mapping):
        return "its config is not a dict"
    if not (
        isinstance(circuit, Mapping)
        and isinstance(circuit.get("name"), str)
        and _is_count(circuit.get("input_size"))
        and _is_count(circuit.get("output_size"))
        and isinstance(circuit.get("config"), Mapping)
    ):
        return "its circuit record is not {name, input_size, output_size, config}"
    if not isinstance(payload["model"], Mapping):
        return "its model state is not a dict of tensors"
    if not _is_count(payload["step"]) or not _is_count(payload.get("sequences", 0)):
        return f"step and sequences must be integers >= 0, got {payload['step']!r}"
    elapsed = payload.get("elapsed_s", 0.0)
    if not isinstance(elapsed, (int, float)) or not math.isfinite(elapsed):
        return f"elapsed_s must be a finite number, got {elapsed!r}"
    if payload.get("optimizer") is not None:
        if not isinstance(payload["optimizer"], Mapping):
            return "its optimizer state is not a dict"
        rng = payload.get("rng")
        if not (isinstance(rng, Mapping) and {"python", "numpy", "torch"} <= set(rng)):
            return "it has an optimizer but no complete RNG state (python, numpy, torch)"
    if not isinstance(payload.get("extra", {}), Mapping):
        return "its extra state is not a dict"
    return None


def _umask() -> int:
    """The process's umask, read without changing it (os.umask would, for every thread)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


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
