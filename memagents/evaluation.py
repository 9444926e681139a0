"""Loading trained circuits, length generalisation, and what a circuit does inside an episode.

Shapes: T time steps, N memory slots, W word size, R read heads, H write heads, I input size,
O output size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from memagents.agent import BatchMetrics, evaluate, make_envs, rollout
from memagents.checkpoint import CheckpointError, load_checkpoint, load_model_state
from memagents.circuits import build_circuit
from memagents.config import TrainConfig
from memagents.runs import CHECKPOINT_NAME, resolve_run_dir


class Loaded(NamedTuple):
    circuit: torch.nn.Module
    config: TrainConfig
    checkpoint: dict[str, Any]
    path: Path


def find_checkpoint(run: str | None, checkpoint: str | None, runs_dir: str | Path = "runs") -> Path:
    """The checkpoint file of ``--run NAME`` or ``--checkpoint PATH`` (a file or a run folder)."""
    if (run is None) == (checkpoint is None):
        raise ValueError("give exactly one of --run NAME or --checkpoint PATH")
    if checkpoint is not None:
        path = Path(checkpoint)
        return path / CHECKPOINT_NAME if path.is_dir() else path
    return resolve_run_dir(run, runs_dir) / CHECKPOINT_NAME


def load_circuit(path: str | Path, device: str | torch.device = "cpu") -> Loaded:
    """Rebuild the circuit a checkpoint describes and load its weights (safely)."""
    path = Path(path)
    checkpoint = load_checkpoint(path, map_location=device)
    spec = checkpoint["circuit"]
    try:
        config = TrainConfig.from_dict(checkpoint["train_config"])
        circuit = build_circuit(
            spec["name"], spec["input_size"], spec["output_size"], **spec["config"]
        )
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"checkpoint {path}: cannot rebuild its circuit ({error})") from error
    load_model_state(circuit, checkpoint["model"], path)
    circuit.to(device).eval()
    return Loaded(circuit, config, checkpoint, path)


def length_options(length: int, repeats: int | None = None) -> dict[str, int]:
    """``reset`` options that pin the sequence length (and the repeat count, for RepeatCopy)."""
    options = {"length": int(length)}
    if repeats is not None:
        options["repeats"] = int(repeats)
    return options


def generalisation(
    circuit: torch.nn.Module,
    config: TrainConfig,
    lengths: list[int],
    sequences: int,
    *,
    repeats: int | None = None,
    seed: int = 30_011,
    batch_size: int = 100,
) -> dict[int, BatchMetrics]:
    """Figures at each pinned sequence length (also beyond the training range)."""
    envs = make_envs(config.env_id, min(batch_size, sequences), config.env_kwargs)
    try:
        return {
            length: evaluate(
                circuit,
                envs,
                sequences,
                seed=seed,
                options=length_options(length, repeats),
            )
            for length in lengths
        }
    finally:
        envs.close()


class EpisodeTrace(NamedTuple):
    """One episode, step by step (numpy arrays)."""

    inputs: np.ndarray  # (T, I)
    targets: np.ndarray  # (T, O)
    mask: np.ndarray  # (T,)
    outputs: np.ndarray  # (T, O): probabilities
    write_weights: np.ndarray | None  # (T, H, N)
    read_weights: np.ndarray | None  # (T, R, N)
    memory: np.ndarray | None  # (T, N, W)


@torch.no_grad()
def trace_episode(
    circuit: torch.nn.Module,
    config: TrainConfig,
    *,
    length: int | None = None,
    repeats: int | None = None,
    seed: int = 0,
) -> EpisodeTrace:
    """Roll one episode and keep the circuit's memory and weightings at every step."""
    envs = make_envs(config.env_id, 1, config.env_kwargs)
    options = length_options(length, repeats) if length is not None else None
    try:
        batch = rollout(circuit, envs, seed=seed, options=options, keep_states=True)
    finally:
        envs.close()
    steps = int(batch.lengths[0])

    def stacked(field: str) -> np.ndarray | None:
        access = [getattr(state, "access", None) for state in batch.states[:steps]]
        if any(a is None or not hasattr(a, field) for a in access):
            return None
        return torch.stack([getattr(a, field)[0] for a in access]).float().cpu().numpy()

    return EpisodeTrace(
        inputs=batch.inputs[0, :steps].float().cpu().numpy(),
        targets=batch.targets[0, :steps].float().cpu().numpy(),
        mask=batch.mask[0, :steps].float().cpu().numpy(),
        outputs=torch.sigmoid(batch.logits[0, :steps]).float().cpu().numpy(),
        write_weights=stacked("write_weights"),
        read_weights=stacked("read_weights"),
        memory=stacked("memory"),
    )


def bits(row: np.ndarray, threshold: float = 0.5) -> str:
    return "".join("#" if value > threshold else "." for value in row)


def describe_episode(trace: EpisodeTrace) -> str:
    """The episode as text: per step the input, target, output bits and the heads' focus."""
    lines = ["step | input | target | output | write focus (slot:weight) | read focus"]
    for t in range(len(trace.inputs)):
        target = bits(trace.targets[t]) if trace.mask[t] else " " * trace.targets.shape[1]
        parts = [f"{t:4d}", bits(trace.inputs[t]), target, bits(trace.outputs[t])]
        for weights in (trace.write_weights, trace.read_weights):
            if weights is None:
                parts.append("-")
                continue
            heads = weights[t]  # (heads, N)
            parts.append(" ".join(f"{int(h.argmax()):3d}:{h.max():.2f}" for h in heads))
        lines.append(" | ".join(parts))
    return "\n".join(lines)


def markdown_table(results: dict[str, dict[int, BatchMetrics]], lengths: list[int]) -> str:
    """Bit errors per sequence (and % perfect) by length, one row per model."""
    header = "| model | " + " | ".join(f"L={length}" for length in lengths) + " |"
    rule = "| --- | " + " | ".join("---" for _ in lengths) + " |"
    rows = [header, rule]
    for name, by_length in results.items():
        cells = [
            f"{by_length[length].bit_errors:.3f} ({100 * by_length[length].perfect:.0f}%)"
            for length in lengths
        ]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)
