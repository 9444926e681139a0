"""The NTM paper's copy task as a Gymnasium environment."""

from __future__ import annotations

import numpy as np

from memtasks.envs.base import BitSequenceEnv, Task
from memtasks.sampling import TaskBatch, _sample_copy, check_copy_args, copy_episode_length


class CopyTask(Task):
    """Copy: `bits` random bits per word, length uniform in [min_length, max_length]."""

    option_keys = ("length",)
    difficulty_keys = ("min_length", "max_length")

    def __init__(self, bits: int = 8, min_length: int = 1, max_length: int = 20):
        check_copy_args(bits, min_length, max_length)
        self.bits, self.min_length, self.max_length = int(bits), int(min_length), int(max_length)
        self.input_size = self.bits + 1
        self.output_size = self.bits

    def observation_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return (
            np.zeros(self.input_size, dtype=np.float32),
            np.ones(self.input_size, dtype=np.float32),
        )

    def sample(self, rng: np.random.Generator, batch_size: int, **pinned: int) -> TaskBatch:
        return _sample_copy(
            rng, batch_size, self.bits, self.min_length, self.max_length, pinned.get("length")
        )

    def max_episode_length(self, **pinned: int) -> int:
        return copy_episode_length(pinned.get("length", self.max_length))


class CopyEnv(BitSequenceEnv):
    """Copy a random bit sequence after seeing it once (Graves et al. 2014, the NTM paper).

    ## Description

    The agent sees a sequence of random `bits`-bit words, then a delimiter flag, then zero input
    while it must reproduce the sequence, one word per step. One episode is one sequence, one
    step is one time step; the data come from `memtasks.sampling.sample_copy`. Timeline for
    bits=3, length=3 (T = 2 * length + 1 = 7 steps)::

        time             0 1 2 3 4 5 6
        observation bit0 1 0 1 . . . .
                    bit1 0 1 1 . . . .
                    bit2 1 1 0 . . . .
                    delim. . . 1 . . .     delimiter flag, one step after the sequence
        target      bit0 . . . . 1 0 1
                    bit1 . . . . 0 1 1     the sequence again, with zero input
                    bit2 . . . . 1 1 0
        mask             0 0 0 0 1 1 1     scored on the last `length` steps

    ## Observation Space

    `Box(0, 1, (bits + 1,), float32)`: the input vector of this time step (the last channel is
    the delimiter). The target is never part of the observation.

    ## Action Space

    `MultiBinary(bits)`: the prediction of this step's target. Float probabilities are accepted
    and thresholded (a value > 0.5 is a 1); an action of another shape raises a ValueError.

    ## Rewards

    `reward_mode="none"` (default): 0.0 every step. `"bit"`: on each scored step, the fraction
    of correct bits divided by the number S of scored steps, so a perfect episode returns 1.0.
    `"vector"`: 1 / S for each scored step whose vector is fully correct. `"sparse"`: 1.0 on the
    last step iff the episode is perfect. (For "bit" and "vector" the last step pays what is still
    owed, so a perfect episode's rewards summed in order are exactly 1.0.)

    ## Starting State

    `reset()` samples a new sequence and returns x_0 with `info = {"target": y_0, "mask": m_0}`.
    `options={"length": n}` pins the sequence length for this episode (any n >= 1, also beyond
    `max_length`: length generalisation).

    ## Episode End

    After exactly T = 2 * length + 1 steps: `terminated=True` (a Python bool), a zero
    observation, zero target, mask 0.0, and `info["bit_errors"]` (int: wrong bits on scored steps)
    and `info["is_perfect"]` (bool). `truncated` is always False; there is no step limit.
    Every `info` carries the target and mask of the observation it is returned with.

    ## Arguments

    - `bits` (int >= 1, default 8): random bits per word.
    - `min_length`, `max_length` (ints >= 1, min_length <= max_length, default 1 and 20, the NTM
      paper): range of the sequence length.
    - `reward_mode` ("none", "bit", "vector" or "sparse"; default "none").
    - `render_mode` (None, "ansi" or "rgb_array").

    Bad values raise a ValueError naming the argument and its allowed range when the env is made.

    ## Version History

    - v0: Initial version.

    ## Example

    >>> import gymnasium as gym
    >>> import memtasks
    >>> env = gym.make("memtasks/Copy-v0", bits=3, min_length=2, max_length=2, reward_mode="bit")
    >>> obs, info = env.reset(seed=0)
    >>> obs.shape, info["target"].shape, float(info["mask"])
    ((4,), (3,), 0.0)
    >>> total, terminated = 0.0, False
    >>> while not terminated:  # an oracle: predict the target it is told
    ...     obs, reward, terminated, truncated, info = env.step(info["target"])
    ...     total += reward
    >>> total, info["bit_errors"], info["is_perfect"]
    (1.0, 0, True)
    """

    def __init__(
        self,
        bits: int = 8,
        min_length: int = 1,
        max_length: int = 20,
        reward_mode: str = "none",
        render_mode: str | None = None,
        action_space: str = "multibinary",
    ):
        task = CopyTask(bits, min_length, max_length)
        super().__init__(task, reward_mode, render_mode, action_space)
