"""Loading trained circuits, generalisation over task conditions (lengths and other reset
options), the DynamicNGrams cost against the optimum, and what a circuit does inside an episode.

Shapes: T time steps, N memory slots, W word size, R read heads, H write heads, I input size,
O output size.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from memagents.agent import (
    BatchMetrics,
    batch_sampler,
    batch_seed,
    evaluate,
    make_envs,
    rollout,
    sequence_loss_bits,
    unroll_batch,
)
from memagents.checkpoint import CheckpointError, load_checkpoint, load_model_state
from memagents.circuits import build_circuit
from memagents.config import TrainConfig, apply_overrides
from memagents.plotting import Plotter
from memagents.rl import RLConfig
from memagents.runs import CHECKPOINT_NAME, resolve_run_dir
from memagents.sweeps import median_range


class Loaded(NamedTuple):
    circuit: torch.nn.Module
    config: TrainConfig | RLConfig
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


def checkpoint_label(path: str | Path) -> str:
    """A sweep trial's checkpoint by its settings (the trial's params.json), others by path."""
    path = Path(path)
    for folder in list(path.parents)[:4]:
        params = folder / "params.json"
        if params.is_file():
            settings = json.loads(params.read_text())
            return ", ".join(f"{key}={value}" for key, value in sorted(settings.items()))
    return str(path)


def load_circuit(
    path: str | Path, device: str | torch.device = "cpu", *, memory_size: int | None = None
) -> Loaded:
    """Rebuild the circuit a checkpoint describes and load its weights (safely).

    ``memory_size``: rebuild an NTM or a DNC with this many slots instead of the trained number.
    No weight of either depends on the slot count but the NTM's initial head weights: with more
    slots those keep their trained values on the trained slots and start the added ones 30 nats
    under the smallest, so a head starts where it was trained to start (e^-30 of the weight
    elsewhere); with fewer, the first slots' (as ``NTMAccess.initial_state(B, memory_size)``
    trains on). What it is for: a model trained on 128 slots whose write head walks one slot a
    step wraps into its own sequence after 128 steps; with more slots it does not, and a stop
    that moves with the slot count is not a count (docs/results/length-generalisation.md,
    section 18). The config of the Loaded it returns says the slots it has.
    """
    path = Path(path)
    checkpoint = load_checkpoint(path, map_location=device)
    spec = checkpoint["circuit"]
    try:
        config_class = RLConfig if checkpoint["kind"] == "rl" else TrainConfig
        config = config_class.from_dict(checkpoint["config"])
        settings = dict(spec["config"])
        state = checkpoint["model"]
        if memory_size is not None:
            if spec["name"] not in ("ntm", "dnc"):
                raise ValueError(
                    f"memory_size {memory_size}: a {spec['name']} circuit has no memory"
                )
            overrides: dict[str, Any] = {"circuit_kwargs": {"memory_size": memory_size}}
            if getattr(config, "min_train_memory_size", 0) > memory_size:
                overrides["min_train_memory_size"] = memory_size  # what a smaller memory allows
            config = apply_overrides(config, overrides)  # checks memory_size
            settings["memory_size"] = memory_size
            state = _with_memory_size(state, memory_size)
        circuit = build_circuit(spec["name"], spec["input_size"], spec["output_size"], **settings)
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"checkpoint {path}: cannot rebuild its circuit ({error})") from error
    load_model_state(circuit, state, path)
    circuit.to(device).eval()
    return Loaded(circuit, config, checkpoint, path)


def _with_memory_size(state: dict[str, torch.Tensor], memory_size: int) -> dict[str, torch.Tensor]:
    """An NTM's or a DNC's state dict for ``memory_size`` slots (see load_circuit): only the
    NTM's initial head weight logits (heads, N) depend on the slot count."""
    state = dict(state)
    for key, value in state.items():
        if key.endswith("initial_weight_logits"):  # NTM: (heads, N)
            added = value.new_full(
                (value.shape[0], max(0, memory_size - value.shape[-1])), float(value.min()) - 30.0
            )
            state[key] = torch.cat([value[:, :memory_size], added], dim=-1)
    return state


def length_options(length: int, repeats: int | None = None) -> dict[str, int]:
    """``reset`` options that pin the sequence length (and the repeat count, for RepeatCopy)."""
    options = {"length": int(length)}
    if repeats is not None:
        options["repeats"] = int(repeats)
    return options


EVALUATION_SEED = 30_011
"""The data seed of after-training figures (generalisation, the N-grams cost): every model is
scored on the same sequences."""

Condition = dict[str, int]
"""A task condition: ``reset`` options that pin an episode's difficulty, e.g. ``{"length": 80}``,
``{"length": 20, "repeats": 10}`` (RepeatCopy), ``{"items": 20}`` (AssociativeRecall),
``{"num_inputs": 40, "num_outputs": 32}`` (PrioritySort). Each task's ``option_keys`` name the
options it takes."""

CONDITION_ABBREVIATIONS = {"length": "L", "repeats": "R"}
"""Short names of options in condition names (``L20_R10``); other options keep their own name
(``items20``). ``length`` and ``repeats`` come first in a name, other options follow in
alphabetical order."""


def parse_condition(text: str) -> Condition:
    """A condition from the command line: a bare integer is a length (``80``), else
    ``KEY=VALUE`` pairs joined by commas (``length=20,repeats=10``, ``items=20``).

    Raises:
        ValueError: a malformed token, a value that is not an integer, an option given twice.
    """
    text = text.strip()
    if text.lstrip("-").isdigit():
        return {"length": int(text)}
    condition: Condition = {}
    for pair in text.split(","):
        key, sep, value = (part.strip() for part in pair.partition("="))
        if not sep or not key.isidentifier():
            raise ValueError(
                f"condition {text!r}: expected LENGTH or KEY=VALUE[,KEY=VALUE] (e.g. 80, "
                "length=20,repeats=10, items=20)"
            )
        if key in condition:
            raise ValueError(f"condition {text!r}: {key} given twice")
        try:
            condition[key] = int(value)
        except ValueError:
            raise ValueError(
                f"condition {text!r}: {key} must be an integer, got {value!r}"
            ) from None
    return _ordered(condition)


def _ordered(condition: Condition) -> Condition:
    """``length``, ``repeats``, then the other options alphabetically."""
    first = [key for key in CONDITION_ABBREVIATIONS if key in condition]
    rest = sorted(key for key in condition if key not in CONDITION_ABBREVIATIONS)
    return {key: condition[key] for key in [*first, *rest]}


def condition_name(condition: Condition) -> str:
    """The condition as part of a column name: ``L80``, ``L20_R10``, ``items20``,
    ``num_inputs40_num_outputs32`` (see ``CONDITION_ABBREVIATIONS`` for the order)."""
    return "_".join(
        f"{CONDITION_ABBREVIATIONS.get(key, key)}{value}"
        for key, value in _ordered(condition).items()
    )


def condition_label(condition: Condition) -> str:
    """The condition as a table heading: ``L=80``, ``L=20 R=10``, ``items=20``."""
    return " ".join(
        f"{CONDITION_ABBREVIATIONS.get(key, key)}={value}"
        for key, value in _ordered(condition).items()
    )


def check_conditions(env_id: str, env_kwargs: dict[str, Any], conditions: list[Condition]) -> None:
    """Raise a one-line ValueError naming the first condition the task refuses (an option it
    does not take, a value out of its range, an episode over the size limit), before any work.

    The env checks the condition as ``reset(options=condition)`` does when the figures are made.
    """
    seen: dict[str, Condition] = {}
    for condition in conditions:
        name = condition_name(condition)
        if name in seen:
            raise ValueError(f"condition {condition_label(condition)} given twice")
        seen[name] = condition
    envs = make_envs(env_id, 1, env_kwargs)
    try:
        for condition in conditions:
            try:
                envs.reset(seed=0, options=dict(condition))
            except ValueError as error:
                raise ValueError(f"condition {condition_label(condition)}: {error}") from None
    finally:
        envs.close()


def condition_figures(
    circuit: torch.nn.Module,
    config: TrainConfig,
    conditions: list[Condition],
    sequences: int,
    *,
    seed: int = EVALUATION_SEED,
    batch_size: int = 100,
) -> dict[str, BatchMetrics]:
    """Figures under each condition (also beyond the training range), by ``condition_name``;
    the env is made with ``config.env_kwargs`` and each condition pins its episodes.

    Raises:
        ValueError: a condition the task refuses (``check_conditions`` says so before any work).
    """
    check_conditions(config.env_id, config.env_kwargs, conditions)
    envs = make_envs(config.env_id, min(batch_size, sequences), config.env_kwargs)
    try:
        return {
            condition_name(condition): evaluate(
                circuit, envs, sequences, seed=seed, options=dict(condition)
            )
            for condition in conditions
        }
    finally:
        envs.close()


def generalisation(
    circuit: torch.nn.Module,
    config: TrainConfig,
    lengths: list[int],
    sequences: int,
    *,
    repeats: int | None = None,
    seed: int = EVALUATION_SEED,
    batch_size: int = 100,
) -> dict[int, BatchMetrics]:
    """Figures at each pinned sequence length (also beyond the training range), by length;
    ``condition_figures`` pins other options too."""
    lengths = list(dict.fromkeys(lengths))
    conditions = [length_options(length, repeats) for length in lengths]
    figures = condition_figures(
        circuit, config, conditions, sequences, seed=seed, batch_size=batch_size
    )
    return {
        length: figures[condition_name(condition)]
        for length, condition in zip(lengths, conditions, strict=True)
    }


class NGramsCost(NamedTuple):
    """A circuit's cost on DynamicNGrams against the optimal estimator's on the same sequences."""

    loss_bits: float  # the circuit's cost: cross-entropy per sequence, in bits (its loss_bits)
    optimal_loss_bits: float  # the optimal (Bayesian) estimator's cost per sequence, in bits
    gap_percent: float  # 100 * (loss_bits - optimal_loss_bits) / optimal_loss_bits
    num_sequences: int  # sequences the figures average over


def dynamic_ngrams_task(env_id: str, env_kwargs: dict[str, Any] | None = None) -> Any | None:
    """The env's ``DynamicNGramsTask`` (its ``order`` says how to predict optimally), or None
    for an env of another task."""
    from memtasks.envs.dynamic_ngrams import DynamicNGramsTask

    envs = make_envs(env_id, 1, env_kwargs)
    try:
        task = getattr(envs, "task", None)
        return task if isinstance(task, DynamicNGramsTask) else None
    finally:
        envs.close()


@torch.no_grad()
def ngrams_cost(
    circuit: torch.nn.Module,
    config: TrainConfig,
    sequences: int = 1000,
    *,
    seed: int = EVALUATION_SEED,
    batch_size: int = 100,
    options: Condition | None = None,
) -> NGramsCost:
    """The circuit's cost in bits per sequence on DynamicNGrams and the optimal estimator's
    (``memtasks.sampling.dynamic_ngrams_optimal_predictions``) on the same sequences: at least
    `sequences` of them (whole batches), drawn as ``memagents.agent.evaluate`` draws them, so
    ``loss_bits`` is its ``loss_bits`` with this seed.

    Raises:
        ValueError: an env that is not DynamicNGrams (the task has no optimal estimator here).
    """
    from memtasks.envs.dynamic_ngrams import DynamicNGramsTask
    from memtasks.sampling import dynamic_ngrams_optimal_predictions, sequence_cost_bits

    envs = make_envs(config.env_id, min(batch_size, sequences), config.env_kwargs)
    try:
        task, sampler = getattr(envs, "task", None), batch_sampler(envs)
        if not isinstance(task, DynamicNGramsTask) or sampler is None:
            raise ValueError(f"ngrams_cost needs a DynamicNGrams env, got {config.env_id}")
        circuit.eval()
        totals, count = np.zeros(2), 0
        while count < sequences:
            batch = unroll_batch(
                circuit, sampler, seed=batch_seed(seed, count // envs.num_envs), options=options
            )
            model = sequence_loss_bits(batch.logits, batch.targets, batch.mask)  # (B,)
            bits = batch.targets[..., 0].double().cpu().numpy()  # (B, T)
            mask = batch.mask.double().cpu().numpy()  # (B, T)
            optimal = sequence_cost_bits(
                dynamic_ngrams_optimal_predictions(bits, task.order), bits, mask
            )  # (B,)
            totals += [float(model.sum()), float(optimal.sum())]
            count += envs.num_envs
    finally:
        envs.close()
    loss_bits, optimal_loss_bits = totals / count
    gap = 100 * (loss_bits - optimal_loss_bits) / optimal_loss_bits if optimal_loss_bits else np.nan
    return NGramsCost(float(loss_bits), float(optimal_loss_bits), float(gap), count)


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


FOCUS_MIN_WEIGHT = 0.1
"""A head whose largest weight is below this attends nowhere in particular: the trace prints '-'
for it instead of an arbitrary slot (a uniform weighting over N slots has largest weight 1/N)."""


def bits(row: np.ndarray, threshold: float = 0.5) -> str:
    """'#' for each value above `threshold`, '.' otherwise (bits, or probabilities of bits)."""
    return "".join("#" if value > threshold else "." for value in row)


def input_cells(row: np.ndarray) -> str:
    """An input row as text: '.' for 0, '#' for 1, '+' or '-' for any other value (such as
    RepeatCopy's repeat count, a small number on its own channel)."""
    return "".join(
        "." if value == 0 else "#" if value == 1 else "+" if value > 0 else "-" for value in row
    )


def focus(weights: np.ndarray) -> str:
    """Where each head looks: ``slot:weight`` of its largest weight, or '-' below
    ``FOCUS_MIN_WEIGHT``.

    Args:
        weights: (heads, N) one step's weightings.
    """
    return " ".join(
        f"{int(h.argmax()):3d}:{h.max():.2f}" if h.max() >= FOCUS_MIN_WEIGHT else f"{'-':>3}     "
        for h in weights
    )


def describe_episode(trace: EpisodeTrace) -> str:
    """The episode as text: per step the input, target, output bits and the heads' focus.

    Target and output are shown on scored steps only (the output elsewhere is not asked for);
    input values other than 0 and 1 are marked '+'/'-' in the table and listed below it.
    """
    output_size = trace.targets.shape[1]
    lines = ["step | input | target | output | write focus (slot:weight) | read focus"]
    for t in range(len(trace.inputs)):
        scored = bool(trace.mask[t])
        target = bits(trace.targets[t]) if scored else " " * output_size
        output = bits(trace.outputs[t]) if scored else " " * output_size
        parts = [f"{t:4d}", input_cells(trace.inputs[t]), target, output]
        for weights in (trace.write_weights, trace.read_weights):
            parts.append("-" if weights is None else focus(weights[t]))
        lines.append(" | ".join(parts))
    other = np.argwhere((trace.inputs != 0) & (trace.inputs != 1))  # (K, 2): step, channel
    if len(other):
        lines.append(
            "input values other than 0 and 1 ('+', '-'): "
            + ", ".join(f"step {t} channel {i}: {trace.inputs[t, i]:.3g}" for t, i in other)
        )
    return "\n".join(lines)


def plot_episode(plotter: Plotter, trace: EpisodeTrace) -> None:
    """Heatmaps of one episode over time (x: step): input, target and output (grey on steps
    that are not scored; probabilities on a fixed 0..1 scale), each head's weights (0..1, y:
    memory slot) and the memory at the last step (y: slot, x: word)."""
    unscored = trace.mask[:, None] == 0  # (T, 1)
    plotter.heatmap("input", trace.inputs.T, title="input", xlabel="time", ylabel="channel")
    for win, values, title in (
        ("target", trace.targets, "target (grey: not scored)"),
        ("output", trace.outputs, "output probability (grey: not scored)"),
    ):
        plotter.heatmap(
            win,
            np.where(unscored, np.nan, values).T,
            title=title,
            xlabel="time",
            ylabel="channel",
            vmin=0.0,
            vmax=1.0,
        )
    for kind, weights in (("write", trace.write_weights), ("read", trace.read_weights)):
        if weights is None:
            continue
        for head in range(weights.shape[1]):
            plotter.heatmap(
                f"{kind}_weights_{head}",
                weights[:, head].T,
                title=f"{kind} weights, head {head}",
                xlabel="time",
                ylabel="slot",
                vmin=0.0,
                vmax=1.0,
            )
    if trace.memory is not None:
        plotter.heatmap(
            "memory",
            trace.memory[-1],
            title="memory at the last step",
            xlabel="word",
            ylabel="slot",
        )


def markdown_table(results: dict[str, dict[int, BatchMetrics]], lengths: list[int]) -> str:
    """Bit errors per sequence (and % perfect) by length, one row per model (one checkpoint
    each: ``conditions_table``'s layout)."""
    conditions = [length_options(length) for length in lengths]
    by_name = {
        model: [{condition_name(length_options(n)): figures for n, figures in by_length.items()}]
        for model, by_length in results.items()
    }
    return conditions_table(by_name, conditions)


def conditions_table(
    results: dict[str, list[dict[str, BatchMetrics]]], conditions: list[Condition]
) -> str:
    """Bit errors per sequence under each condition, one row per model; `results` holds per
    model one dict per checkpoint, by ``condition_name``.

    With one checkpoint per model a cell is its bit errors and % perfect sequences (the layout of
    ``markdown_table``); with more, the median (min-max) over the checkpoints, and a column says
    how many there are.
    """
    several = any(len(checkpoints) > 1 for checkpoints in results.values())
    names = [condition_name(condition) for condition in conditions]
    header = ["model", *(["checkpoints"] if several else []), *map(condition_label, conditions)]
    rows = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    for model, checkpoints in results.items():
        cells = [model]
        if several:
            cells.append(str(len(checkpoints)))
        for name in names:
            if not several:
                (figures,) = checkpoints
                cells.append(f"{figures[name].bit_errors:.3f} ({100 * figures[name].perfect:.0f}%)")
                continue
            cells.append(median_range([figures[name].bit_errors for figures in checkpoints], ".3f"))
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)
