"""The batch samplers: planted layouts checked channel by channel, invariants, argument errors."""

import numpy as np
import pytest

from memtasks.sampling import (
    normalise_repeats,
    repeat_copy_episode_length,
    sample_copy,
    sample_repeat_copy,
)


class PlantedRng:
    """Stands in for a Generator: `integers` returns the planted arrays in order."""

    def __init__(self, *draws):
        self.draws = list(draws)

    def integers(self, low, high, size=None, dtype=np.int64):
        value = np.asarray(self.draws.pop(0))
        assert value.shape == (size if isinstance(size, tuple) else (size,))
        assert value.min() >= low and value.max() < high
        return value.astype(dtype)


def test_copy_planted_layout():
    lengths = [3, 1]
    patterns = [
        [[1, 0], [0, 1], [1, 1]],
        [[1, 1], [1, 0], [0, 1]],  # only the first word is used: length 1
    ]
    batch = sample_copy(PlantedRng(lengths, patterns), 2, bits=2, min_length=1, max_length=3)
    T = 7  # 2 * 3 + 1
    assert batch.inputs.shape == (2, T, 3) and batch.targets.shape == (2, T, 2)
    assert batch.lengths.tolist() == [7, 3]
    for array in batch[:3]:
        assert array.dtype == np.float32
    # Row 0, channel by channel (time across).
    np.testing.assert_array_equal(batch.inputs[0, :, 0], [1, 0, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(batch.inputs[0, :, 1], [0, 1, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(batch.inputs[0, :, 2], [0, 0, 0, 1, 0, 0, 0])  # delimiter
    np.testing.assert_array_equal(batch.targets[0, :, 0], [0, 0, 0, 0, 1, 0, 1])
    np.testing.assert_array_equal(batch.targets[0, :, 1], [0, 0, 0, 0, 0, 1, 1])
    np.testing.assert_array_equal(batch.mask[0], [0, 0, 0, 0, 1, 1, 1])
    # Row 1: length 1, then padding (zeros, mask 0) from step 3 on.
    np.testing.assert_array_equal(batch.inputs[1, :, 0], [1, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(batch.inputs[1, :, 1], [1, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(batch.inputs[1, :, 2], [0, 1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(batch.targets[1, :, 0], [0, 0, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(batch.targets[1, :, 1], [0, 0, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(batch.mask[1], [0, 0, 1, 0, 0, 0, 0])


def test_repeat_copy_planted_layout():
    lengths, repeats = [2, 1], [2, 1]
    patterns = [[[1, 0], [0, 1]], [[1, 1], [0, 0]]]
    batch = sample_repeat_copy(
        PlantedRng(lengths, repeats, patterns),
        2,
        bits=2,
        min_length=1,
        max_length=2,
        min_repeats=1,
        max_repeats=2,
        repeat_norm=10.0,
        normalisation="linear",
    )
    T = 9  # 2 * (2 + 1) + 3
    assert batch.inputs.shape == (2, T, 4) and batch.targets.shape == (2, T, 3)
    assert batch.lengths.tolist() == [9, 5]
    inputs, targets = batch.inputs, batch.targets
    np.testing.assert_array_equal(inputs[0, :, 0], [0, 1, 0, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(inputs[0, :, 1], [0, 0, 1, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(inputs[0, :, 2], [1, 0, 0, 0, 0, 0, 0, 0, 0])  # start
    np.testing.assert_array_equal(inputs[0, :, 3], np.float32([0, 0, 0, 0.2, 0, 0, 0, 0, 0]))
    np.testing.assert_array_equal(targets[0, :, 0], [0, 0, 0, 0, 1, 0, 1, 0, 0])
    np.testing.assert_array_equal(targets[0, :, 1], [0, 0, 0, 0, 0, 1, 0, 1, 0])
    np.testing.assert_array_equal(targets[0, :, 2], [0, 0, 0, 0, 0, 0, 0, 0, 1])  # end marker
    np.testing.assert_array_equal(batch.mask[0], [0, 0, 0, 0, 1, 1, 1, 1, 1])
    # Row 1: length 1, 1 repeat: T = 5, then padding.
    np.testing.assert_array_equal(inputs[1, :, 0], [0, 1, 0, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(inputs[1, :, 1], [0, 1, 0, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(inputs[1, :, 2], [1, 0, 0, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(inputs[1, :, 3], np.float32([0, 0, 0.1, 0, 0, 0, 0, 0, 0]))
    np.testing.assert_array_equal(targets[1, :, 0], [0, 0, 0, 1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(targets[1, :, 1], [0, 0, 0, 1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(targets[1, :, 2], [0, 0, 0, 0, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(batch.mask[1], [0, 0, 0, 1, 1, 0, 0, 0, 0])


def test_copy_fixed_seed_snapshot():
    """Seed 0 gives these arrays forever: changing the random stream breaks users' seeds."""
    batch = sample_copy(np.random.default_rng(0), 1, bits=2, min_length=2, max_length=2)
    words = batch.inputs[0, :2, :2]
    expected_inputs = np.zeros((5, 3), np.float32)
    expected_inputs[:2, :2] = words
    expected_inputs[2, 2] = 1
    np.testing.assert_array_equal(batch.inputs[0], expected_inputs)
    np.testing.assert_array_equal(batch.targets[0, 3:], words)
    np.testing.assert_array_equal(words, [[0, 1], [1, 1]])  # the snapshot itself


@pytest.mark.parametrize("seed", range(5))
def test_copy_invariants(seed):
    batch = sample_copy(np.random.default_rng(seed), 16, bits=5, min_length=1, max_length=9)
    B, T, _ = batch.inputs.shape
    assert T == batch.lengths.max()
    seq_lengths = (batch.lengths - 1) // 2
    assert np.all((seq_lengths >= 1) & (seq_lengths <= 9))
    np.testing.assert_array_equal(batch.mask.sum(axis=1), seq_lengths)
    for b in range(B):  # the test may loop; the sampler may not
        length, steps = seq_lengths[b], batch.lengths[b]
        np.testing.assert_array_equal(
            batch.targets[b, length + 1 : steps], batch.inputs[b, :length, :5]
        )
        assert not batch.inputs[b, steps:].any() and not batch.targets[b, steps:].any()
        assert not batch.mask[b, steps:].any()
        assert batch.inputs[b, :, 5].sum() == 1 and batch.inputs[b, length, 5] == 1


@pytest.mark.parametrize("seed", range(5))
def test_repeat_copy_invariants(seed):
    rng = np.random.default_rng(seed)
    batch = sample_repeat_copy(rng, 16, bits=3, max_length=4, max_repeats=3, repeat_norm=3.0)
    counts = batch.inputs[:, :, 4].sum(axis=1) * 3.0
    repeats = np.rint(counts).astype(int)
    seq_lengths = (batch.lengths - 3) // (repeats + 1)
    np.testing.assert_array_equal(repeat_copy_episode_length(seq_lengths, repeats), batch.lengths)
    np.testing.assert_array_equal(batch.mask.sum(axis=1), seq_lengths * repeats + 1)
    for b in range(16):
        length, steps = seq_lengths[b], batch.lengths[b]
        words = batch.inputs[b, 1 : length + 1, :3]
        recalled = batch.targets[b, length + 2 : steps - 1, :3]
        np.testing.assert_array_equal(recalled, np.tile(words, (repeats[b], 1)))
        assert batch.targets[b, :, 3].sum() == 1 and batch.targets[b, steps - 1, 3] == 1
        assert not batch.inputs[b, steps:].any() and not batch.mask[b, steps:].any()


def test_zero_items_default_draws_the_same_batches_and_sets_words_to_zero_at_its_rate():
    def sample(seed, **kwargs):
        return sample_repeat_copy(
            np.random.default_rng(seed), 400, bits=8, length=10, max_repeats=3, **kwargs
        )

    # 0 draws nothing more: the task's batches are what they were without the option
    for plain, zero in zip(sample(3), sample(3, zero_items=0.0), strict=True):
        np.testing.assert_array_equal(plain, zero)
    batch = sample(3, zero_items=0.25)
    words = batch.inputs[:, 1:11, :8]  # (B, 10, bits)
    zero = ~words.any(-1)
    # 0.25 of words set to zeros, plus the 1 in 256 of uniform bits: 0.2529 of 4,000 words
    assert abs(zero.mean() - 0.2529) < 0.03
    # the targets repeat the same words, zeros included
    repeats = np.rint(batch.inputs[:, 11, 9] * 10.0).astype(int)
    for b in range(5):
        recalled = batch.targets[b, 12 : 12 + 10 * repeats[b], :8]
        np.testing.assert_array_equal(recalled, np.tile(words[b], (repeats[b], 1)))
    assert not sample(3, zero_items=1.0).inputs[:, 1:11, :8].any()


def test_pinned_length_and_repeats_beyond_training_range():
    batch = sample_repeat_copy(np.random.default_rng(0), 3, length=12, repeats=7)
    assert batch.lengths.tolist() == [12 * 8 + 3] * 3
    assert sample_copy(np.random.default_rng(0), 2, length=50).inputs.shape == (2, 101, 9)


def test_standard_normalisation_has_mean_0_variance_1_over_the_training_range():
    values = normalise_repeats(
        np.arange(1, 8), min_repeats=1, max_repeats=7, repeat_norm=1.0, normalisation="standard"
    )
    np.testing.assert_allclose([values.mean(), values.var()], [0.0, 1.0], atol=1e-6)
    single = normalise_repeats(
        3, min_repeats=3, max_repeats=3, repeat_norm=1.0, normalisation="standard"
    )
    assert single == 0.0


@pytest.mark.parametrize(
    ("sampler", "kwargs", "message"),
    [
        (sample_copy, {"bits": 0}, r"bits must be an integer in \[1, 1024\], got 0"),
        (sample_copy, {"min_length": 3, "max_length": 2}, r"min_length must be <= max_length"),
        (sample_copy, {"min_length": -1}, r"min_length must be an integer in \[1, 10000\]"),
        (sample_copy, {"length": 0}, r"length must be an integer in \[1, 10000\]"),
        (sample_copy, {"batch_size": 0}, r"batch_size must be an integer >= 1"),
        (sample_repeat_copy, {"min_repeats": 0}, r"min_repeats must be an integer in \[1, 1000\]"),
        (sample_repeat_copy, {"repeat_norm": 0.0}, r"repeat_norm must be a finite number > 0"),
        (sample_repeat_copy, {"normalisation": "zscore"}, r"normalisation must be one of"),
        (sample_repeat_copy, {"repeats": -2}, r"repeats must be an integer in \[1, 1000\]"),
        (sample_repeat_copy, {"zero_items": 1.5}, r"zero_items must be a number in \[0, 1\]"),
        (sample_repeat_copy, {"zero_items": float("nan")}, r"zero_items must be a number in"),
    ],
)
def test_sampler_argument_errors(sampler, kwargs, message):
    kwargs = {"batch_size": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        sampler(np.random.default_rng(0), **kwargs)
