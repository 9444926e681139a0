"""Pure batch samplers for the Copy and RepeatCopy tasks: the one source of truth for the data.

Every environment in this package (the single envs and the native vector envs) draws its episodes
from these functions, so a supervised learner that calls a sampler directly sees exactly the data an
agent stepping through the environments sees.

Dimensions: B batch, T time (the longest episode in the batch), I input size, O output size.

A batch holds whole episodes. Episodes in one batch may have different lengths; each row is padded
after its episode's end with zero inputs, zero targets and mask 0, and `lengths` gives each row's
episode length in steps (its valid prefix). The timelines are drawn in the docstrings of
`sample_copy` and `sample_repeat_copy`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

NORMALISATIONS = ("linear", "standard", "none")


class TaskBatch(NamedTuple):
    """A batch of whole episodes, padded to the longest one.

    Attributes:
        inputs: (B, T, I) float32, the observation of every time step.
        targets: (B, T, O) float32, the target of every time step (zero where unscored).
        mask: (B, T) float32, 1.0 on scored steps (the output phase), 0.0 elsewhere and in padding.
        lengths: (B,) int64, each episode's length in steps; row b is padding from lengths[b] on.
    """

    inputs: np.ndarray
    targets: np.ndarray
    mask: np.ndarray
    lengths: np.ndarray


# ----------------------------------------------------------------------------------------------
# Argument checks, shared with the environments (which call them at construction).


def check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    """Return `value` as an int, or raise a ValueError naming `name` and the allowed range."""
    allowed = f">= {low}" if high is None else f"in [{low}, {high}]"
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer {allowed}, got {value!r}")
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be an integer {allowed}, got {value!r}")
    return int(value)


def check_range(min_name: str, min_value: int, max_name: str, max_value: int) -> None:
    """Raise a ValueError when min_value > max_value."""
    if min_value > max_value:
        raise ValueError(
            f"{min_name} must be <= {max_name}, got {min_name}={min_value}, {max_name}={max_value}"
        )


def check_copy_args(bits: int, min_length: int, max_length: int) -> None:
    """Validate the Copy task's arguments (see `sample_copy`)."""
    check_int("bits", bits, 1)
    check_int("min_length", min_length, 1)
    check_int("max_length", max_length, 1)
    check_range("min_length", min_length, "max_length", max_length)


def check_repeat_copy_args(
    bits: int,
    min_length: int,
    max_length: int,
    min_repeats: int,
    max_repeats: int,
    repeat_norm: float,
    normalisation: str,
) -> None:
    """Validate the RepeatCopy task's arguments (see `sample_repeat_copy`)."""
    check_copy_args(bits, min_length, max_length)
    check_int("min_repeats", min_repeats, 1)
    check_int("max_repeats", max_repeats, 1)
    check_range("min_repeats", min_repeats, "max_repeats", max_repeats)
    if (
        isinstance(repeat_norm, bool)
        or not isinstance(repeat_norm, (int, float, np.integer, np.floating))
        or not np.isfinite(repeat_norm)
        or repeat_norm <= 0
    ):
        raise ValueError(f"repeat_norm must be a finite number > 0, got {repeat_norm!r}")
    if normalisation not in NORMALISATIONS:
        raise ValueError(f"normalisation must be one of {NORMALISATIONS}, got {normalisation!r}")


def _lengths(rng: np.random.Generator, batch_size: int, low: int, high: int, pinned, name: str):
    if pinned is None:
        return rng.integers(low, high + 1, size=batch_size)
    return np.full(batch_size, check_int(name, pinned, 1), dtype=np.int64)


def _random_patterns(rng: np.random.Generator, lengths: np.ndarray, bits: int) -> np.ndarray:
    """(B, max(lengths), bits) float32 random bits, zero after each row's length."""
    max_length = int(lengths.max())
    patterns = rng.integers(0, 2, size=(lengths.shape[0], max_length, bits), dtype=np.int8)
    patterns *= (np.arange(max_length) < lengths[:, None])[:, :, None]
    return patterns.astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Copy


def copy_episode_length(length: int | np.ndarray) -> int | np.ndarray:
    """Steps in a Copy episode of a sequence of `length` words: T = 2 * length + 1."""
    return 2 * length + 1


def sample_copy(
    rng: np.random.Generator,
    batch_size: int,
    *,
    bits: int = 8,
    min_length: int = 1,
    max_length: int = 20,
    length: int | None = None,
) -> TaskBatch:
    """Sample a batch of Copy episodes (the NTM paper's copy task).

    Timeline for bits=3, length=3 (T = 2 * length + 1 = 7; I = bits + 1, O = bits)::

        time           0 1 2 3 4 5 6
        inputs  bit 0  1 0 1 . . . .
                bit 1  0 1 1 . . . .
                bit 2  1 1 0 . . . .
                delim  . . . 1 . . .     delimiter flag, one step after the sequence
        targets bit 0  . . . . 1 0 1
                bit 1  . . . . 0 1 1     the sequence again, with zero input
                bit 2  . . . . 1 1 0
        mask           0 0 0 0 1 1 1     scored on the last `length` steps

    Args:
        rng: the source of all randomness.
        batch_size: B, number of episodes.
        bits: random bits per word (>= 1).
        min_length, max_length: each episode's length is uniform in [min_length, max_length].
        length: pins every episode's length (any value >= 1, also outside the training range).

    Returns:
        A TaskBatch with inputs (B, T, bits + 1), targets (B, T, bits), mask (B, T), lengths (B,)
        where T = 2 * max(length) + 1.
    """
    check_int("batch_size", batch_size, 1)
    check_copy_args(bits, min_length, max_length)
    return _sample_copy(rng, batch_size, bits, min_length, max_length, length)


def _sample_copy(rng, batch_size, bits, min_length, max_length, length) -> TaskBatch:
    seq_lengths = _lengths(rng, batch_size, min_length, max_length, length, "length")
    patterns = _random_patterns(rng, seq_lengths, bits)  # (B, L, bits)
    max_length_in_batch = patterns.shape[1]
    episode_lengths = copy_episode_length(seq_lengths)
    num_steps = int(episode_lengths.max())
    rows = np.arange(batch_size)

    inputs = np.zeros((batch_size, num_steps, bits + 1), dtype=np.float32)
    inputs[:, :max_length_in_batch, :bits] = patterns
    inputs[rows, seq_lengths, bits] = 1.0

    # Output phase: step t recalls word t - (length + 1), for t in [length + 1, 2 * length].
    source = np.arange(num_steps)[None, :] - (seq_lengths[:, None] + 1)  # (B, T)
    scored = (source >= 0) & (source < seq_lengths[:, None])
    source = np.clip(source, 0, max_length_in_batch - 1)
    targets = patterns[rows[:, None], source] * scored[:, :, None]
    return TaskBatch(inputs, targets, scored.astype(np.float32), episode_lengths.astype(np.int64))


# ----------------------------------------------------------------------------------------------
# RepeatCopy


def repeat_copy_episode_length(length: int | np.ndarray, repeats: int | np.ndarray):
    """Steps in a RepeatCopy episode: T = length * (repeats + 1) + 3."""
    return length * (repeats + 1) + 3


def normalise_repeats(
    repeats: np.ndarray | int,
    *,
    min_repeats: int,
    max_repeats: int,
    repeat_norm: float,
    normalisation: str,
) -> np.ndarray:
    """The value written on the repeat-count channel for `repeats` repetitions (float32).

    "linear": repeats / repeat_norm (deepmind/dnc). "standard": mean 0 and variance 1 over the
    training range, i.e. (repeats - mean) / std of the uniform distribution on
    [min_repeats, max_repeats] (the NTM paper; std is taken as 1 when the range is one value).
    "none": the raw count.
    """
    repeats = np.asarray(repeats, dtype=np.float64)
    if normalisation == "linear":
        values = repeats / repeat_norm
    elif normalisation == "standard":
        mean = (min_repeats + max_repeats) / 2
        variance = ((max_repeats - min_repeats + 1) ** 2 - 1) / 12
        values = (repeats - mean) / (np.sqrt(variance) if variance > 0 else 1.0)
    else:
        values = repeats
    return values.astype(np.float32)


def sample_repeat_copy(
    rng: np.random.Generator,
    batch_size: int,
    *,
    bits: int = 4,
    min_length: int = 1,
    max_length: int = 2,
    min_repeats: int = 1,
    max_repeats: int = 2,
    repeat_norm: float = 10.0,
    normalisation: str = "linear",
    length: int | None = None,
    repeats: int | None = None,
) -> TaskBatch:
    """Sample a batch of RepeatCopy episodes (the NTM/DNC repeat-copy, deepmind/dnc layout).

    Timeline for bits=2, length=2, repeats=2 (T = length * (repeats + 1) + 3 = 9;
    I = bits + 2, O = bits + 1; `n` is the normalised repeat count)::

        time           0 1 2 3 4 5 6 7 8
        inputs  bit 0  . 1 0 . . . . . .
                bit 1  . 0 1 . . . . . .
                start  1 . . . . . . . .     start flag
                count  . . . n . . . . .     repeat count, on its own channel
        targets bit 0  . . . . 1 0 1 0 .
                bit 1  . . . . 0 1 0 1 .     the sequence `repeats` times
                end    . . . . . . . . 1     end marker
        mask           0 0 0 0 1 1 1 1 1     scored on the output phase and the end marker

    Args:
        rng: the source of all randomness.
        batch_size: B, number of episodes.
        bits: random bits per word (>= 1).
        min_length, max_length: sequence length, uniform in [min_length, max_length].
        min_repeats, max_repeats: number of repetitions, uniform in [min_repeats, max_repeats].
        repeat_norm: divisor of the count for normalisation="linear" (> 0).
        normalisation: "linear", "standard" or "none"; see `normalise_repeats`.
        length, repeats: pin every episode's length / repeat count (any value >= 1).

    Returns:
        A TaskBatch with inputs (B, T, bits + 2), targets (B, T, bits + 1), mask (B, T),
        lengths (B,).
    """
    check_int("batch_size", batch_size, 1)
    check_repeat_copy_args(
        bits, min_length, max_length, min_repeats, max_repeats, repeat_norm, normalisation
    )
    return _sample_repeat_copy(
        rng,
        batch_size,
        bits,
        min_length,
        max_length,
        min_repeats,
        max_repeats,
        repeat_norm,
        normalisation,
        length,
        repeats,
    )


def _sample_repeat_copy(
    rng,
    batch_size,
    bits,
    min_length,
    max_length,
    min_repeats,
    max_repeats,
    repeat_norm,
    normalisation,
    length,
    repeats,
) -> TaskBatch:
    seq_lengths = _lengths(rng, batch_size, min_length, max_length, length, "length")
    num_repeats = _lengths(rng, batch_size, min_repeats, max_repeats, repeats, "repeats")
    patterns = _random_patterns(rng, seq_lengths, bits)  # (B, L, bits)
    max_length_in_batch = patterns.shape[1]
    episode_lengths = repeat_copy_episode_length(seq_lengths, num_repeats)
    num_steps = int(episode_lengths.max())
    rows = np.arange(batch_size)
    time = np.arange(num_steps)[None, :]

    inputs = np.zeros((batch_size, num_steps, bits + 2), dtype=np.float32)
    inputs[:, 0, bits] = 1.0
    inputs[:, 1 : max_length_in_batch + 1, :bits] = patterns
    inputs[rows, seq_lengths + 1, bits + 1] = normalise_repeats(
        num_repeats,
        min_repeats=min_repeats,
        max_repeats=max_repeats,
        repeat_norm=repeat_norm,
        normalisation=normalisation,
    )

    # Output phase: step t recalls word (t - (length + 2)) mod length, for length * repeats steps,
    # then the end marker on the episode's last step.
    source = time - (seq_lengths[:, None] + 2)  # (B, T)
    recalling = (source >= 0) & (source < (seq_lengths * num_repeats)[:, None])
    source = np.remainder(np.maximum(source, 0), seq_lengths[:, None])
    targets = np.zeros((batch_size, num_steps, bits + 1), dtype=np.float32)
    targets[:, :, :bits] = patterns[rows[:, None], source] * recalling[:, :, None]
    targets[rows, episode_lengths - 1, bits] = 1.0
    scored = (time >= (seq_lengths[:, None] + 2)) & (time < episode_lengths[:, None])
    return TaskBatch(inputs, targets, scored.astype(np.float32), episode_lengths.astype(np.int64))
