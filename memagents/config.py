"""Training configuration: one frozen dataclass and named presets.

The seed picked a row of ``CONFIGS`` by index and edited ``options.py`` to change a setting. Here a
run starts from a named preset and overrides any field from the command line
(``scripts/train.py --preset ntm-copy --lr 3e-4 --env-kwarg max_length=10``).
"""

from __future__ import annotations

import ast
import dataclasses
from dataclasses import dataclass, field
from typing import Any

OPTIMIZERS = ("rmsprop", "adam")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a supervised training run."""

    agent: str = "dnc"
    """Circuit: ``ntm``, ``dnc`` or ``lstm`` (see ``memagents.circuits.build_circuit``)."""
    env_id: str = "memtasks/RepeatCopy-v0"
    """Any registered Gymnasium id that follows the memtasks convention (target/mask in info)."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of the task (``bits``, ``min_length``, ``max_length``, ...)."""
    circuit_kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of the circuit (``memory_size``, ``word_size``, ...)."""
    batch_size: int = 16
    """Episodes per training step, rolled in parallel through ``gymnasium.make_vec``."""
    same_length_batches: bool = False
    """Draw one sequence length per batch (uniform over the task's training range, pinned with
    ``options={"length": n}``) instead of one per sequence. Every sequence's length is still
    uniform over the range, but no step is spent on padding after short episodes: with lengths
    1..20 a mixed batch of 16 runs about 38 steps, a same-length batch 21 on average."""
    optimizer: str = "rmsprop"
    """``rmsprop`` (the seed's) or ``adam``."""
    lr: float = 1e-4
    """Learning rate."""
    rmsprop_alpha: float = 0.9
    """RMSprop smoothing constant (the seed's 0.9, TensorFlow's default decay)."""
    rmsprop_momentum: float = 0.0
    """RMSprop momentum (the NTM paper used 0.9)."""
    eps: float = 1e-10
    """Optimizer epsilon (the seed's 1e-10 for RMSprop)."""
    clip_grad: float = 50.0
    """Clip the global gradient norm to this value (applied; the seed's 50). 0 disables."""
    max_steps: int = 100_000
    """Training steps (batches) at most."""
    eval_every: int = 500
    """Evaluate every this many steps."""
    eval_sequences: int = 256
    """Sequences per periodic evaluation, drawn with a fixed seed so evaluations compare."""
    solved_sequences: int = 1000
    """Sequences of the confirming evaluation that declares the task solved."""
    solved_bit_errors: float = 0.1
    """Solved: mean bit errors per sequence below this (Collier & Beel's threshold)."""
    stop_when_solved: bool = True
    """End the run once solved."""
    checkpoint_every: int = 500
    """Write ``checkpoints/last.pt`` every this many steps (and at the end, on Ctrl-C/SIGTERM)."""
    log_every: int = 50
    """Write a metrics line every this many steps."""
    seed: int = 1
    """Seeds the circuit's initialisation and every batch (batch k is drawn from (seed, k))."""
    device: str = "auto"
    """``cpu``, ``cuda`` or ``auto`` (CUDA when available)."""
    num_threads: int = 1
    """torch intra-op threads on CPU; 0 keeps torch's default. One is fastest for these sizes: a
    step is hundreds of tiny ops, and syncing threads per op costs more than it gains (measured
    with scripts/bench_circuits.py)."""

    def __post_init__(self) -> None:
        checks = [
            (
                self.agent in ("ntm", "dnc", "lstm"),
                f"agent must be ntm, dnc or lstm, got {self.agent!r}",
            ),
            (
                self.optimizer in OPTIMIZERS,
                f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}",
            ),
            (self.device in DEVICES, f"device must be one of {DEVICES}, got {self.device!r}"),
            (self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (self.lr > 0, f"lr must be > 0, got {self.lr}"),
            (self.clip_grad >= 0, f"clip_grad must be >= 0 (0 disables), got {self.clip_grad}"),
            (self.max_steps >= 0, f"max_steps must be >= 0, got {self.max_steps}"),
            (self.eval_every >= 1, f"eval_every must be >= 1, got {self.eval_every}"),
            (self.eval_sequences >= 1, f"eval_sequences must be >= 1, got {self.eval_sequences}"),
            (
                self.solved_sequences >= 1,
                f"solved_sequences must be >= 1, got {self.solved_sequences}",
            ),
            (
                self.checkpoint_every >= 1,
                f"checkpoint_every must be >= 1, got {self.checkpoint_every}",
            ),
            (self.log_every >= 1, f"log_every must be >= 1, got {self.log_every}"),
            (self.num_threads >= 0, f"num_threads must be >= 0, got {self.num_threads}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {unknown}")
        return cls(**data)


_SEED_RMSPROP = dict(optimizer="rmsprop", lr=1e-4, rmsprop_alpha=0.9, eps=1e-10, clip_grad=50.0)
_FAST_RMSPROP = dict(
    optimizer="rmsprop",
    lr=1e-3,
    rmsprop_alpha=0.95,
    rmsprop_momentum=0.9,
    eps=1e-10,
    clip_grad=50.0,
    batch_size=16,
)
_NTM_PAPER_COPY = dict(bits=8, min_length=1, max_length=20)
_NTM_SIZES = dict(memory_size=128, word_size=20, controller_size=100, num_reads=1, num_writes=1)

PRESETS: dict[str, TrainConfig] = {
    # The seed's row 2: DNC on repeat-copy with the seed's sizes, and its RMSprop settings.
    "dnc-repeat-copy-seed": TrainConfig(
        agent="dnc",
        env_id="memtasks/RepeatCopy-v0",
        env_kwargs=dict(bits=4, min_length=1, max_length=2, min_repeats=1, max_repeats=2),
        circuit_kwargs=dict(
            memory_size=16, word_size=16, controller_size=64, num_reads=4, num_writes=1
        ),
        batch_size=16,
        **_SEED_RMSPROP,
    ),
    # The seed's row 1: NTM on the seed's copy task (8 bits, 5..10 words) and its RMSprop settings.
    "ntm-copy-seed": TrainConfig(
        agent="ntm",
        env_id="memtasks/Copy-v0",
        env_kwargs=dict(bits=8, min_length=5, max_length=10),
        circuit_kwargs=dict(_NTM_SIZES),
        batch_size=16,
        **_SEED_RMSPROP,
    ),
    # The NTM paper's copy task: 8 bits, lengths 1..20, memory 128 x 20, LSTM 100, one head each.
    # RMSprop with momentum 0.9 as the NTM paper, at lr 1e-3, and one length per batch: solved in
    # 500-1,500 steps of 16 over 5 seeds, where Adam at 1e-3 and RMSprop at 1e-4 often had not
    # solved it after 6,000 (README, "Results": the sweep).
    "ntm-copy": TrainConfig(
        agent="ntm",
        env_id="memtasks/Copy-v0",
        env_kwargs=dict(_NTM_PAPER_COPY),
        circuit_kwargs=dict(_NTM_SIZES),
        same_length_batches=True,
        **_FAST_RMSPROP,
    ),
    # The papers' baseline: an LSTM on the same copy task (3 x 256, as in the NTM paper), Adam.
    "lstm-copy": TrainConfig(
        agent="lstm",
        env_id="memtasks/Copy-v0",
        env_kwargs=dict(_NTM_PAPER_COPY),
        circuit_kwargs=dict(hidden_size=256, num_layers=3),
        batch_size=16,
        same_length_batches=True,
        optimizer="adam",
        lr=1e-3,
        eps=1e-8,
    ),
    # A DNC on the NTM paper's copy task, at the NTM's sizes, trained like the NTM.
    "dnc-copy": TrainConfig(
        agent="dnc",
        env_id="memtasks/Copy-v0",
        env_kwargs=dict(_NTM_PAPER_COPY),
        circuit_kwargs=dict(_NTM_SIZES),
        same_length_batches=True,
        **_FAST_RMSPROP,
    ),
}
# The default of `--agent dnc`: the seed's task and DNC, trained with Adam at lr 1e-3 (measured:
# solved in about 2,250 steps where the seed's RMSprop at 1e-4 needs about 50,000; README).
PRESETS["dnc-repeat-copy"] = dataclasses.replace(
    PRESETS["dnc-repeat-copy-seed"], optimizer="adam", lr=1e-3, eps=1e-8
)

DEFAULT_PRESET = {"dnc": "dnc-repeat-copy", "ntm": "ntm-copy", "lstm": "lstm-copy"}
"""The preset that ``--agent NAME`` alone trains."""


def parse_kwarg(text: str) -> tuple[str, Any]:
    """``"max_length=10"`` -> ``("max_length", 10)``: a Python literal, else a plain string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"expected KEY=VALUE, got {text!r}")
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return key.strip(), value


def resolve_config(
    agent: str | None, preset: str | None, overrides: dict[str, Any] | None = None
) -> TrainConfig:
    """The preset named (or the agent's default preset), with ``overrides`` applied.

    ``overrides`` may hold any TrainConfig field; ``env_kwargs`` and ``circuit_kwargs`` are merged
    into the preset's rather than replacing them.
    """
    if preset is None:
        if agent is None:
            raise ValueError("give --agent {ntm,dnc,lstm} or --preset NAME")
        preset = DEFAULT_PRESET[agent]
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    config = PRESETS[preset]
    if agent is not None and agent != config.agent:
        raise ValueError(
            f"preset {preset!r} trains agent {config.agent!r}, not {agent!r}; "
            f"drop --agent or pick a {agent} preset"
        )
    overrides = dict(overrides or {})
    for key in ("env_kwargs", "circuit_kwargs"):
        if key in overrides:
            overrides[key] = {**getattr(config, key), **overrides[key]}
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown settings {unknown}")
    return dataclasses.replace(config, **overrides)
