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

# Upper limits, so that a typo cannot allocate gigabytes (a bad value raises a ValueError naming
# the argument and its allowed range). They are far beyond the papers' sizes (8 bits, lengths up
# to 20 in training and 120 in tests, up to 10 repeats).
MAX_BITS = 1024
"""Largest `bits` (word size) of a task."""
MAX_LENGTH = 10_000
"""Largest sequence length, in the training range or pinned by `options={"length": n}`."""
MAX_REPEATS = 1_000
"""Largest repeat count of RepeatCopy, in the training range or pinned by `options`."""
MAX_EPISODE_VALUES = 2**24
"""Largest T * (I + O) of one episode (16,777,216 float32 values, 64 MiB)."""


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


def check_episode_size(num_steps: int, input_size: int, output_size: int) -> None:
    """Raise a ValueError when an episode of `num_steps` steps would exceed `MAX_EPISODE_VALUES`."""
    values = int(num_steps) * (int(input_size) + int(output_size))
    if values > MAX_EPISODE_VALUES:
        raise ValueError(
            f"an episode of {num_steps} steps x {input_size + output_size} channels "
            f"({values:,} values) exceeds the limit of {MAX_EPISODE_VALUES:,} values "
            "(memtasks.sampling.MAX_EPISODE_VALUES): lower the length, repeats or bits"
        )


def check_copy_args(bits: int, min_length: int, max_length: int) -> None:
    """Validate the Copy task's arguments (see `sample_copy`)."""
    check_int("bits", bits, 1, MAX_BITS)
    check_int("min_length", min_length, 1, MAX_LENGTH)
    check_int("max_length", max_length, 1, MAX_LENGTH)
    check_range("min_length", min_length, "max_length", max_length)


def check_repeat_copy_args(
    bits: int,
    min_length: int,
    max_length: int,
    min_repeats: int,
    max_repeats: int,
    repeat_norm: float,
    normalisation: str,
    zero_items: float = 0.0,
) -> None:
    """Validate the RepeatCopy task's arguments (see `sample_repeat_copy`)."""
    check_copy_args(bits, min_length, max_length)
    check_int("min_repeats", min_repeats, 1, MAX_REPEATS)
    check_int("max_repeats", max_repeats, 1, MAX_REPEATS)
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
    if (
        isinstance(zero_items, bool)
        or not isinstance(zero_items, (int, float, np.integer, np.floating))
        or not 0 <= zero_items <= 1
    ):
        raise ValueError(f"zero_items must be a number in [0, 1], got {zero_items!r}")


def _lengths(
    rng: np.random.Generator, batch_size: int, low: int, high: int, pinned, name: str, limit: int
):
    if pinned is None:
        return rng.integers(low, high + 1, size=batch_size)
    return np.full(batch_size, check_int(name, pinned, 1, limit), dtype=np.int64)


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
    if length is not None:
        check_int("length", length, 1, MAX_LENGTH)
    steps = copy_episode_length(max_length if length is None else length)
    check_episode_size(steps, bits + 1, bits)
    return _sample_copy(rng, batch_size, bits, min_length, max_length, length)


def _sample_copy(rng, batch_size, bits, min_length, max_length, length) -> TaskBatch:
    seq_lengths = _lengths(rng, batch_size, min_length, max_length, length, "length", MAX_LENGTH)
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
    zero_items: float = 0.0,
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
        zero_items: each word, once drawn, is set to all zeros with this probability (0 to 1).
            0 (default): the papers' uniform random bits, where an all-zero word comes once in
            2**bits. A training option: a feed-forward NTM that never saw one trained can lose
            the whole copy on it (docs/results/rc-repeated-items).
        length, repeats: pin every episode's length / repeat count (any value >= 1).

    Returns:
        A TaskBatch with inputs (B, T, bits + 2), targets (B, T, bits + 1), mask (B, T),
        lengths (B,).
    """
    check_int("batch_size", batch_size, 1)
    check_repeat_copy_args(
        bits, min_length, max_length, min_repeats, max_repeats, repeat_norm, normalisation,
        zero_items,
    )  # fmt: skip
    if length is not None:
        check_int("length", length, 1, MAX_LENGTH)
    if repeats is not None:
        check_int("repeats", repeats, 1, MAX_REPEATS)
    steps = repeat_copy_episode_length(
        max_length if length is None else length, max_repeats if repeats is None else repeats
    )
    check_episode_size(steps, bits + 2, bits + 1)
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
        zero_items,
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
    zero_items=0.0,
) -> TaskBatch:
    seq_lengths = _lengths(rng, batch_size, min_length, max_length, length, "length", MAX_LENGTH)
    num_repeats = _lengths(
        rng, batch_size, min_repeats, max_repeats, repeats, "repeats", MAX_REPEATS
    )
    patterns = _random_patterns(rng, seq_lengths, bits)  # (B, L, bits)
    if zero_items > 0:  # no draw at 0, so the default's batches are what they always were
        patterns *= (rng.random(patterns.shape[:2]) >= zero_items)[:, :, None]
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


# ----------------------------------------------------------------------------------------------
# AssociativeRecall (the NTM paper, section 4.3)


def check_associative_recall_args(
    bits: int, item_length: int, min_items: int, max_items: int
) -> None:
    """Validate the AssociativeRecall task's arguments (see `sample_associative_recall`)."""
    check_int("bits", bits, 1, MAX_BITS)
    check_int("item_length", item_length, 1, MAX_LENGTH)
    check_int("min_items", min_items, 2, MAX_LENGTH)
    check_int("max_items", max_items, 2, MAX_LENGTH)
    check_range("min_items", min_items, "max_items", max_items)


def associative_recall_episode_length(
    items: int | np.ndarray, item_length: int
) -> int | np.ndarray:
    """Steps in an AssociativeRecall episode of `items` items: T = (items + 2) * (item_length + 1).

    Each item takes item_length + 1 steps (its delimiter, then its vectors); the query takes
    item_length + 2 (delimiter, vectors, delimiter) and the answer item_length.
    """
    return (items + 2) * (item_length + 1)


def sample_associative_recall(
    rng: np.random.Generator,
    batch_size: int,
    *,
    bits: int = 6,
    item_length: int = 3,
    min_items: int = 2,
    max_items: int = 6,
    items: int | None = None,
) -> TaskBatch:
    """Sample a batch of AssociativeRecall episodes (the NTM paper, section 4.3).

    An episode shows `items` items, each `item_length` random `bits`-bit vectors opened by a
    delimiter on its own channel; then a query, a copy of one item (never the last), between two
    delimiters on a second channel. The target is the item that followed the query in the list.
    No other item of the episode equals the queried one, so the answer is unique.

    Timeline for bits=2, item_length=2, items=2, the query is item 0 (T = (2 + 2) * 3 = 12;
    I = bits + 2, O = bits)::

        time           0 1 2 3 4 5 6 7 8 9 10 11
        inputs  bit 0  . 1 0 . 0 0 . 1 0 . .  .
                bit 1  . 1 1 . 1 0 . 1 1 . .  .
                item   1 . . 1 . . . . . . .  .     opens each item
                query  . . . . . . 1 . . 1 .  .     opens and closes the query (= item 0)
        targets bit 0  . . . . . . . . . . 0  0
                bit 1  . . . . . . . . . . 1  0     the item after the query: item 1
        mask           0 0 0 0 0 0 0 0 0 0 1  1     scored on the last item_length steps

    Args:
        rng: the source of all randomness.
        batch_size: B, number of episodes.
        bits: bits per vector (in [1, MAX_BITS]; the paper: 6).
        item_length: vectors per item (in [1, MAX_LENGTH]; the paper: 3).
        min_items, max_items: the number of items is uniform in [min_items, max_items] (in
            [2, MAX_LENGTH]; the paper trained on 2..6 and tested up to 20).
        items: pins every episode's number of items (in [2, MAX_LENGTH], also beyond the range).

    An episode may hold at most MAX_EPISODE_VALUES numbers (T * (I + O)); larger ones raise a
    ValueError.

    Returns:
        A TaskBatch with inputs (B, T, bits + 2), targets (B, T, bits), mask (B, T), lengths (B,)
        where T = (max(items) + 2) * (item_length + 1).
    """
    check_int("batch_size", batch_size, 1)
    check_associative_recall_args(bits, item_length, min_items, max_items)
    if items is not None:
        check_int("items", items, 2, MAX_LENGTH)
    steps = associative_recall_episode_length(max_items if items is None else items, item_length)
    check_episode_size(steps, bits + 2, bits)
    return _sample_associative_recall(
        rng, batch_size, bits, item_length, min_items, max_items, items
    )


def _sample_associative_recall(
    rng, batch_size, bits, item_length, min_items, max_items, items
) -> TaskBatch:
    if items is None:
        num_items = rng.integers(min_items, max_items + 1, size=batch_size)
    else:
        num_items = np.full(batch_size, check_int("items", items, 2, MAX_LENGTH), dtype=np.int64)
    most = int(num_items.max())
    rows = np.arange(batch_size)
    # (B, n, item_length, bits) random items, then the queried item's index in [0, n - 2].
    contents = rng.integers(0, 2, size=(batch_size, most, item_length, bits), dtype=np.int8)
    query = rng.integers(0, num_items - 1)  # (B,)
    present = np.arange(most)[None, :] < num_items[:, None]  # (B, n)
    # Redraw every other item equal to the queried one, so that the answer is unique.
    while True:
        same = (contents == contents[rows, query][:, None]).all(axis=(2, 3)) & present
        same[rows, query] = False
        clashes = np.argwhere(same)
        if clashes.size == 0:
            break
        redrawn = rng.integers(0, 2, size=(clashes.shape[0], item_length, bits), dtype=np.int8)
        contents[clashes[:, 0], clashes[:, 1]] = redrawn
    contents = (contents * present[:, :, None, None]).astype(np.float32)

    step = item_length + 1
    episode_lengths = associative_recall_episode_length(num_items, item_length)
    num_steps = int(episode_lengths.max())
    inputs = np.zeros((batch_size, num_steps, bits + 2), dtype=np.float32)
    blocks = inputs[:, : most * step].reshape(batch_size, most, step, bits + 2)  # a view
    blocks[:, :, 0, bits] = present
    blocks[:, :, 1:, :bits] = contents
    # The query block starts after each row's last item: delimiter, vectors, delimiter.
    query_start = num_items * step  # (B,)
    within = np.arange(item_length)[None, :]  # (1, item_length)
    inputs[rows, query_start, bits + 1] = 1.0
    inputs[rows[:, None], query_start[:, None] + 1 + within, :bits] = contents[rows, query]
    inputs[rows, query_start + item_length + 1, bits + 1] = 1.0

    answer_steps = query_start[:, None] + item_length + 2 + within  # (B, item_length)
    targets = np.zeros((batch_size, num_steps, bits), dtype=np.float32)
    targets[rows[:, None], answer_steps] = contents[rows, query + 1]
    mask = np.zeros((batch_size, num_steps), dtype=np.float32)
    mask[rows[:, None], answer_steps] = 1.0
    return TaskBatch(inputs, targets, mask, episode_lengths.astype(np.int64))


# ----------------------------------------------------------------------------------------------
# DynamicNGrams (the NTM paper, section 4.4)

MAX_NGRAM_ORDER = 16
"""Largest `order` of DynamicNGrams: 2 ** 15 contexts, one table of that size per episode."""


def check_dynamic_ngrams_args(order: int, length: int) -> None:
    """Validate the DynamicNGrams task's arguments (see `sample_dynamic_ngrams`)."""
    check_int("order", order, 1, MAX_NGRAM_ORDER)
    check_int("length", length, 1, MAX_LENGTH)


def _ngram_contexts(bits: np.ndarray, order: int) -> np.ndarray:
    """(B, L) int64: the context of each bit, its `order - 1` predecessors as a number.

    The most recent predecessor is the lowest binary digit; bits before the sequence count as 0.
    """
    batch_size, length = bits.shape
    contexts = np.zeros((batch_size, length), dtype=np.int64)
    for back in range(1, min(order, length + 1)):  # order - 1 predecessors at most
        contexts[:, back:] |= bits[:, :-back].astype(np.int64) << (back - 1)
    return contexts


def sample_dynamic_ngrams(
    rng: np.random.Generator,
    batch_size: int,
    *,
    order: int = 6,
    length: int = 200,
) -> TaskBatch:
    """Sample a batch of DynamicNGrams episodes (the NTM paper, section 4.4).

    Each episode draws a fresh `order`-gram distribution over bits: for each of the 2^(order - 1)
    contexts (the previous order - 1 bits), P(next bit = 1) ~ Beta(1/2, 1/2). It then draws
    `length` bits from that table, each given its context; bits before the sequence's start count
    as 0 in the contexts. The paper instead draws the first order - 1 bits i.i.d. Bernoulli(1/2)
    (its footnote 4), which the optimal estimator cannot predict: at order 6 and length 200 its
    optimal cost is about 133 bits per sequence (its figure 13), here about 127.5, so compare
    costs with the paper's only as gaps to the optimum on the same sequences. The agent sees the
    previous bit (0 at step 0) and predicts the next one on every step. The optimal (Bayesian)
    prediction is `dynamic_ngrams_optimal_predictions`.

    Timeline for length=6 (T = length = 6; I = 1, O = 1; the bits are x_0 .. x_5)::

        time           0   1   2   3   4   5
        inputs  bit    .   x0  x1  x2  x3  x4     the previous bit
        targets bit    x0  x1  x2  x3  x4  x5     the next bit
        mask           1   1   1   1   1   1      scored on every step

    Args:
        rng: the source of all randomness.
        batch_size: B, number of episodes.
        order: N of the N-gram, in [1, MAX_NGRAM_ORDER] (the paper: 6, i.e. 32 contexts).
        length: bits per sequence (in [1, MAX_LENGTH]; the paper: 200).

    Returns:
        A TaskBatch with inputs (B, T, 1), targets (B, T, 1), mask (B, T) of ones, lengths (B,).
    """
    check_int("batch_size", batch_size, 1)
    check_dynamic_ngrams_args(order, length)
    return _sample_dynamic_ngrams(rng, batch_size, order, length)


def _sample_dynamic_ngrams(rng, batch_size, order, length) -> TaskBatch:
    check_int("length", length, 1, MAX_LENGTH)
    num_contexts = 2 ** (order - 1)
    table = rng.beta(0.5, 0.5, size=(batch_size, num_contexts))  # (B, 2^(order-1))
    uniforms = rng.random((batch_size, length))
    rows = np.arange(batch_size)
    bits = np.zeros((batch_size, length), dtype=np.int64)
    context = np.zeros(batch_size, dtype=np.int64)
    for t in range(length):  # each bit's context holds the bits just drawn
        bits[:, t] = uniforms[:, t] < table[rows, context]
        context = ((context << 1) | bits[:, t]) & (num_contexts - 1)
    inputs = np.zeros((batch_size, length, 1), dtype=np.float32)
    inputs[:, 1:, 0] = bits[:, :-1]
    targets = bits[:, :, None].astype(np.float32)
    mask = np.ones((batch_size, length), dtype=np.float32)
    return TaskBatch(inputs, targets, mask, np.full(batch_size, length, dtype=np.int64))


def dynamic_ngrams_optimal_predictions(bits: np.ndarray, order: int = 6) -> np.ndarray:
    """The optimal estimator's P(x_t = 1 | x_0 .. x_(t-1)) for each bit of each sequence.

    With a Beta(1/2, 1/2) prior on each context's probability, the posterior predictive is
    (N1 + 1/2) / (N1 + N0 + 1), where N1 and N0 count the ones and zeros that followed the same
    context earlier in the sequence (the NTM paper, section 4.4, after Murphy 2012).

    Args:
        bits: (B, L) zeros and ones, e.g. `batch.targets[..., 0]` of `sample_dynamic_ngrams`.
        order: the task's N.

    Returns:
        (B, L) float64 probabilities. Entry t depends only on bits 0..t-1, so padding after a
        sequence's end changes nothing before it.
    """
    bits = np.asarray(bits)
    if bits.ndim != 2:
        raise ValueError(f"bits must have shape (B, L), got {bits.shape}")
    check_int("order", order, 1, MAX_NGRAM_ORDER)
    bits = (bits > 0.5).astype(np.int64)
    batch_size, length = bits.shape
    contexts = _ngram_contexts(bits, order)
    # Group each row's steps by context, in time order; count what came before within a group.
    time = np.arange(length)
    by_context = np.argsort(contexts * length + time[None, :], axis=1)  # (B, L)
    grouped_contexts = np.take_along_axis(contexts, by_context, axis=1)
    grouped_bits = np.take_along_axis(bits, by_context, axis=1)
    ones_before = np.cumsum(grouped_bits, axis=1) - grouped_bits  # in the row, not the group
    starts = np.ones((batch_size, length), dtype=bool)
    starts[:, 1:] = grouped_contexts[:, 1:] != grouped_contexts[:, :-1]
    group_start = np.maximum.accumulate(np.where(starts, time[None, :], 0), axis=1)
    seen = time[None, :] - group_start  # N1 + N0
    ones = ones_before - np.take_along_axis(ones_before, group_start, axis=1)  # N1
    probabilities = np.empty((batch_size, length), dtype=np.float64)
    np.put_along_axis(probabilities, by_context, (ones + 0.5) / (seen + 1.0), axis=1)
    return probabilities


def sequence_cost_bits(
    probabilities: np.ndarray, bits: np.ndarray, mask: np.ndarray | None = None
) -> np.ndarray:
    """(B,) cross-entropy of predictions P(bit = 1) against the bits, summed per sequence, in bits.

    Args:
        probabilities: (B, L) predicted P(x_t = 1), e.g. a model's sigmoid outputs.
        bits: (B, L) the bits that came.
        mask: (B, L) or None (all ones): which steps count.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    bits = np.asarray(bits) > 0.5
    if probabilities.shape != bits.shape or probabilities.ndim != 2:
        raise ValueError(
            f"probabilities and bits must have the same shape (B, L), got "
            f"{probabilities.shape} and {bits.shape}"
        )
    chosen = np.where(bits, probabilities, 1.0 - probabilities)
    with np.errstate(divide="ignore"):
        costs = -np.log2(chosen)
    if mask is not None:
        costs = np.where(np.asarray(mask) > 0, costs, 0.0)
    return costs.sum(axis=1)


def dynamic_ngrams_optimal_cost(batch: TaskBatch, order: int = 6) -> np.ndarray:
    """(B,) the optimal estimator's cost on each sequence of a DynamicNGrams batch, in bits.

    Report a model's gap to the optimum as its `sequence_cost_bits` (the training loss in bits per
    sequence) minus this, on the same sequences. The NTM paper's figure 13 plots this cost.
    """
    bits = batch.targets[..., 0]
    return sequence_cost_bits(dynamic_ngrams_optimal_predictions(bits, order), bits, batch.mask)


# ----------------------------------------------------------------------------------------------
# PrioritySort (the NTM paper, section 4.5)


def check_priority_sort_args(bits: int, num_inputs: int, num_outputs: int) -> None:
    """Validate the PrioritySort task's arguments (see `sample_priority_sort`)."""
    check_int("bits", bits, 1, MAX_BITS)
    check_int("num_inputs", num_inputs, 1, MAX_LENGTH)
    check_int("num_outputs", num_outputs, 1, MAX_LENGTH)
    check_range("num_outputs", num_outputs, "num_inputs", num_inputs)


def priority_sort_episode_length(num_inputs: int, num_outputs: int) -> int:
    """Steps in a PrioritySort episode: T = num_inputs + 1 + num_outputs."""
    return num_inputs + 1 + num_outputs


def sample_priority_sort(
    rng: np.random.Generator,
    batch_size: int,
    *,
    bits: int = 8,
    num_inputs: int = 20,
    num_outputs: int = 16,
) -> TaskBatch:
    """Sample a batch of PrioritySort episodes (the NTM paper, section 4.5).

    The agent sees `num_inputs` random `bits`-bit vectors, each with a priority uniform in
    [-1, 1] on its own channel, then a delimiter; it must then output the `num_outputs` vectors
    of highest priority, highest first (ties, which float32 makes possible but rare, keep the
    input order). The paper's text gives neither the output order nor an end-of-input delimiter.

    Timeline for bits=2, num_inputs=3, num_outputs=2 with priorities 0.1, 0.7, -0.5
    (T = num_inputs + 1 + num_outputs = 6; I = bits + 2, O = bits; `+` a positive and `-` a
    negative priority)::

        time              0 1 2 3 4 5
        inputs  bit 0     1 0 1 . . .
                bit 1     0 1 1 . . .
                priority  + + - . . .     0.1, 0.7, -0.5
                delim     . . . 1 . .
        targets bit 0     . . . . 0 1     vector 1 (0.7), then vector 0 (0.1)
                bit 1     . . . . 1 0
        mask              0 0 0 0 1 1     scored on the last num_outputs steps

    Args:
        rng: the source of all randomness.
        batch_size: B, number of episodes.
        bits: bits per vector (in [1, MAX_BITS]; the paper does not say; 8 as its copy task).
        num_inputs: vectors shown (in [1, MAX_LENGTH]; the paper: 20).
        num_outputs: vectors to output, in [1, num_inputs] (the paper: 16).

    An episode may hold at most MAX_EPISODE_VALUES numbers (T * (I + O)); larger ones raise a
    ValueError.

    Returns:
        A TaskBatch with inputs (B, T, bits + 2), targets (B, T, bits), mask (B, T), lengths (B,).
    """
    check_int("batch_size", batch_size, 1)
    check_priority_sort_args(bits, num_inputs, num_outputs)
    steps = priority_sort_episode_length(num_inputs, num_outputs)
    check_episode_size(steps, bits + 2, bits)
    return _sample_priority_sort(rng, batch_size, bits, num_inputs, num_outputs)


def _sample_priority_sort(rng, batch_size, bits, num_inputs, num_outputs) -> TaskBatch:
    vectors = rng.integers(0, 2, size=(batch_size, num_inputs, bits), dtype=np.int8)
    priorities = rng.uniform(-1.0, 1.0, size=(batch_size, num_inputs)).astype(np.float32)
    num_steps = priority_sort_episode_length(num_inputs, num_outputs)
    inputs = np.zeros((batch_size, num_steps, bits + 2), dtype=np.float32)
    inputs[:, :num_inputs, :bits] = vectors
    inputs[:, :num_inputs, bits] = priorities
    inputs[:, num_inputs, bits + 1] = 1.0
    ranked = np.argsort(-priorities, axis=1, kind="stable")[:, :num_outputs]  # (B, num_outputs)
    targets = np.zeros((batch_size, num_steps, bits), dtype=np.float32)
    targets[:, num_inputs + 1 :] = np.take_along_axis(vectors, ranked[:, :, None], axis=1)
    mask = np.zeros((batch_size, num_steps), dtype=np.float32)
    mask[:, num_inputs + 1 :] = 1.0
    return TaskBatch(inputs, targets, mask, np.full(batch_size, num_steps, dtype=np.int64))
