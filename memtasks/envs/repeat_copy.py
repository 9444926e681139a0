"""The NTM/DNC repeat-copy task as a Gymnasium environment."""

from __future__ import annotations

import numpy as np

from memtasks.envs.base import BitSequenceEnv, Task
from memtasks.sampling import (
    TaskBatch,
    _sample_repeat_copy,
    check_repeat_copy_args,
    normalise_repeats,
    repeat_copy_episode_length,
)

# Upper bound of the repeat-count channel: `options={"repeats": n}` may pin any count, so the
# channel is bounded only by the largest float32 (a finite bound keeps env checkers quiet).
COUNT_HIGH = float(np.finfo(np.float32).max)


class RepeatCopyTask(Task):
    """RepeatCopy: deepmind/dnc layout; see `memtasks.sampling.sample_repeat_copy`."""

    option_keys = ("length", "repeats")
    difficulty_keys = ("min_length", "max_length", "min_repeats", "max_repeats")

    def __init__(
        self,
        bits: int = 4,
        min_length: int = 1,
        max_length: int = 2,
        min_repeats: int = 1,
        max_repeats: int = 2,
        repeat_norm: float = 10.0,
        normalisation: str = "linear",
        zero_items: float = 0.0,
    ):
        check_repeat_copy_args(
            bits, min_length, max_length, min_repeats, max_repeats, repeat_norm, normalisation,
            zero_items,
        )  # fmt: skip
        self.bits, self.min_length, self.max_length = int(bits), int(min_length), int(max_length)
        self.min_repeats, self.max_repeats = int(min_repeats), int(max_repeats)
        self.repeat_norm, self.normalisation = float(repeat_norm), normalisation
        self.zero_items = float(zero_items)
        self.input_size = self.bits + 2
        self.output_size = self.bits + 1

    def observation_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        low = np.zeros(self.input_size, dtype=np.float32)
        high = np.ones(self.input_size, dtype=np.float32)
        # The count is >= 1 and its normalisation increasing, so 1 repeat gives the lowest value.
        lowest = normalise_repeats(
            1,
            min_repeats=self.min_repeats,
            max_repeats=self.max_repeats,
            repeat_norm=self.repeat_norm,
            normalisation=self.normalisation,
        )
        low[-1] = min(0.0, float(lowest))
        high[-1] = COUNT_HIGH
        return low, high

    def sample(self, rng: np.random.Generator, batch_size: int, **pinned: int) -> TaskBatch:
        return _sample_repeat_copy(
            rng,
            batch_size,
            self.bits,
            self.min_length,
            self.max_length,
            self.min_repeats,
            self.max_repeats,
            self.repeat_norm,
            self.normalisation,
            pinned.get("length"),
            pinned.get("repeats"),
            self.zero_items,
        )

    def max_episode_length(self, **pinned: int) -> int:
        return repeat_copy_episode_length(
            pinned.get("length", self.max_length), pinned.get("repeats", self.max_repeats)
        )


class RepeatCopyEnv(BitSequenceEnv):
    """Copy a random bit sequence a given number of times, then emit an end marker.

    This is the repeat-copy task of the NTM paper (Graves et al. 2014) and the DNC code
    (deepmind/dnc `repeat_copy.py`), NOT old gym's algorithmic "RepeatCopy" tape task of the same
    name (which reverses/repeats characters on a tape with discrete moves).

    ## Description

    The agent sees a start flag, a sequence of random `bits`-bit words, then the number of
    repeats on its own channel; it must then output the sequence that many times and finally
    raise the end marker. The data come from `memtasks.sampling.sample_repeat_copy` (deepmind/dnc
    layout: the NTM paper, section 4.2, describes no start flag, and normalises the count to mean
    0 and variance 1, i.e. normalisation="standard", not the default "linear"). Timeline for
    bits=2, length=2, repeats=2 (T = length * (repeats + 1) + 3 = 9 steps; `n` is the normalised
    repeat count)::

        time             0 1 2 3 4 5 6 7 8
        observation bit0 . 1 0 . . . . . .
                    bit1 . 0 1 . . . . . .
                    start1 . . . . . . . .     start flag
                    count. . . n . . . . .     repeat count, on its own channel
        target      bit0 . . . . 1 0 1 0 .
                    bit1 . . . . 0 1 0 1 .     the sequence `repeats` times
                    end  . . . . . . . . 1     end marker
        mask             0 0 0 0 1 1 1 1 1     scored on the output phase and the end marker

    ## Observation Space

    `Box((bits + 2,), float32)`: bits, start flag, repeat count. The bit and flag channels are in
    [0, 1]; the count channel holds `normalise(repeats)` on one step and 0 elsewhere, so its low
    bound is min(0, normalise(1)) (negative with normalisation="standard") and its high bound
    the largest float32 (any count may be pinned by `options`). The target is never part of the
    observation.

    ## Action Space

    `MultiBinary(bits + 1)`: the prediction of this step's target (bits, end marker). Float
    probabilities are accepted and thresholded (a value > 0.5 is a 1); an action of another shape
    raises a ValueError.

    ## Rewards

    `reward_mode="none"` (default): 0.0 every step. `"bit"`: on each scored step, the fraction
    of correct bits divided by the number S of scored steps, so a perfect episode returns 1.0.
    `"vector"`: 1 / S for each scored step whose vector is fully correct. `"sparse"`: 1.0 on the
    last step iff the episode is perfect. (For "bit" and "vector" the last step pays what is still
    owed, so a perfect episode's rewards summed in order are exactly 1.0.)

    ## Starting State

    `reset()` samples a new sequence and returns x_0 with `info = {"target": y_0, "mask": m_0}`.
    `options={"length": n, "repeats": k}` pins either or both for this episode (any values >= 1,
    also beyond the training range).

    ## Episode End

    After exactly T = length * (repeats + 1) + 3 steps: `terminated=True`, a zero observation,
    zero target, mask 0.0, and `info["bit_errors"]` (int) and `info["is_perfect"]` (bool).
    `truncated` is always False; there is no step limit.

    ## Arguments

    - `bits` (int >= 1, default 4): random bits per word.
    - `min_length`, `max_length` (ints >= 1, min <= max; default 1, 2): sequence length range.
    - `min_repeats`, `max_repeats` (ints >= 1, min <= max; default 1, 2): repeat count range.
    - `repeat_norm` (float > 0, default 10): divisor of the count for "linear" normalisation.
    - `normalisation` ("linear": count / repeat_norm, deepmind/dnc, the default; "standard": mean
      0, variance 1 over the training range, the NTM paper; "none": the raw count). The count
      step is all zeros but for the count, so a count value near 0 ("standard" puts 5 and 6 of
      1..10 at -0.17 and +0.17) makes it nearly an all-zero word.
    - `zero_items` (float in [0, 1], default 0): probability that a word, once drawn, is set to
      all zeros. 0 is the papers' task (an all-zero word once in 2**bits); more is a training
      option, for models that fail on that word (docs/results/rc-repeated-items); models trained
      so may read a count near 0 as one more word (docs/results/length-generalisation.md, 21).
    - `reward_mode` ("none", "bit", "vector" or "sparse"; default "none").
    - `render_mode` (None, "ansi" or "rgb_array").

    The defaults are the DNC configuration of the seed. Bad values raise a ValueError naming the
    argument and its allowed range when the env is made.

    ## Version History

    - v0: Initial version.

    ## Example

    >>> import gymnasium as gym
    >>> import memtasks
    >>> env = gym.make("memtasks/RepeatCopy-v0", reward_mode="sparse")
    >>> obs, info = env.reset(seed=0, options={"length": 3, "repeats": 7})
    >>> obs.shape, info["target"].shape
    ((6,), (5,))
    >>> steps, terminated = 0, False
    >>> while not terminated:
    ...     obs, reward, terminated, truncated, info = env.step(info["target"])
    ...     steps += 1
    >>> steps, reward, info["is_perfect"]
    (27, 1.0, True)
    """

    def __init__(
        self,
        bits: int = 4,
        min_length: int = 1,
        max_length: int = 2,
        min_repeats: int = 1,
        max_repeats: int = 2,
        repeat_norm: float = 10.0,
        normalisation: str = "linear",
        zero_items: float = 0.0,
        reward_mode: str = "none",
        render_mode: str | None = None,
        action_space: str = "multibinary",
    ):
        task = RepeatCopyTask(
            bits, min_length, max_length, min_repeats, max_repeats, repeat_norm, normalisation,
            zero_items,
        )  # fmt: skip
        super().__init__(task, reward_mode, render_mode, action_space)
