"""The NTM paper's priority sort task as a Gymnasium environment (and its vector env)."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode

from memtasks.envs.base import BitSequenceEnv, Task
from memtasks.sampling import (
    TaskBatch,
    _sample_priority_sort,
    check_priority_sort_args,
    priority_sort_episode_length,
)
from memtasks.vector import BitSequenceVectorEnv


class PrioritySortTask(Task):
    """PrioritySort: see `memtasks.sampling.sample_priority_sort`."""

    option_keys = ("num_inputs", "num_outputs")
    difficulty_keys = ("num_inputs", "num_outputs")

    def __init__(self, bits: int = 8, num_inputs: int = 20, num_outputs: int = 16):
        check_priority_sort_args(bits, num_inputs, num_outputs)
        self.bits, self.num_inputs, self.num_outputs = bits, num_inputs, num_outputs
        self.input_size = bits + 2
        self.output_size = bits

    def observation_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        low = np.zeros(self.input_size, dtype=np.float32)
        high = np.ones(self.input_size, dtype=np.float32)
        low[self.bits] = -1.0  # the priority channel
        return low, high

    def _counts(self, pinned: dict[str, int]) -> tuple[int, int]:
        return (
            pinned.get("num_inputs", self.num_inputs),
            pinned.get("num_outputs", self.num_outputs),
        )

    def parse_options(self, options: dict[str, Any] | None, ignore=("reset_mask",)) -> dict:
        pinned = super().parse_options(options, ignore)
        num_inputs, num_outputs = self._counts(pinned)
        if num_outputs > num_inputs:
            raise ValueError(
                f"num_outputs must be <= num_inputs, got num_inputs={num_inputs}, "
                f"num_outputs={num_outputs} (pin both in options)"
            )
        return pinned

    def sample(self, rng: np.random.Generator, batch_size: int, **pinned: int) -> TaskBatch:
        num_inputs, num_outputs = self._counts(pinned)
        check_priority_sort_args(self.bits, num_inputs, num_outputs)
        return _sample_priority_sort(rng, batch_size, self.bits, num_inputs, num_outputs)

    def max_episode_length(self, **pinned: int) -> int:
        return priority_sort_episode_length(*self._counts(pinned))


class PrioritySortEnv(BitSequenceEnv):
    """Output the highest-priority vectors, sorted by priority (Graves et al. 2014, section 4.5).

    ## Description

    The agent sees `num_inputs` random `bits`-bit vectors, each with a scalar priority drawn
    uniformly from [-1, 1] on its own channel, then a delimiter. It must then output the
    `num_outputs` vectors of highest priority, highest first, one per step, with zero input (ties,
    which float32 makes possible but rare, keep the input order; the paper's text, section 4.5,
    gives neither the output order nor an end-of-input delimiter). The data come from
    `memtasks.sampling.sample_priority_sort`. Timeline for bits=2, num_inputs=3, num_outputs=2
    with priorities 0.1, 0.7, -0.5 (T = num_inputs + 1 + num_outputs = 6 steps; `+`/`-` a
    positive/negative priority)::

        time                 0 1 2 3 4 5
        observation bit0     1 0 1 . . .
                    bit1     0 1 1 . . .
                    priority + + - . . .     0.1, 0.7, -0.5
                    delim    . . . 1 . .
        target      bit0     . . . . 0 1     vector 1 (0.7), then vector 0 (0.1)
                    bit1     . . . . 1 0
        mask                 0 0 0 0 1 1     scored on the last num_outputs steps

    ## Observation Space

    `Box((bits + 2,), float32)`: the vector bits and the delimiter in [0, 1], the priority in
    [-1, 1]. The target is never part of the observation.

    ## Action Space

    `MultiBinary(bits)` (default): the prediction of this step's target. Float probabilities in
    [0, 1] are accepted and thresholded (a value > 0.5 is a 1). `action_space="multidiscrete"`
    gives `MultiDiscrete([2] * bits)`, `"discrete"` `Discrete(2 ** bits)` joint actions (for
    bits <= 16). An action of another shape or out of range raises a ValueError.

    ## Rewards

    `reward_mode="none"` (default): 0.0 every step. `"bit"`: on each scored step, the fraction
    of correct bits divided by the number S of scored steps (S = num_outputs), so a perfect
    episode returns 1.0. `"vector"`: 1 / S for each scored step whose vector is fully correct.
    `"sparse"`: 1.0 on the last step iff the episode is perfect. (For "bit" and "vector" the last
    step pays what is still owed, so a perfect episode's rewards summed in order are exactly 1.0.)

    ## Starting State

    `reset()` samples new vectors and priorities and returns x_0 with
    `info = {"target": y_0, "mask": m_0}`. `options={"num_inputs": n, "num_outputs": m}` pins
    either or both for this episode (any 1 <= m <= n <= 10,000, also beyond the training
    counts); a value not pinned is the env's own.

    ## Episode End

    After exactly T = num_inputs + 1 + num_outputs steps: `terminated=True`, a zero observation,
    zero target, mask 0.0, and `info["bit_errors"]` (int) and `info["is_perfect"]` (bool).
    `truncated` is always False; there is no step limit.

    ## Arguments

    - `bits` (int in [1, 1024], default 8): bits per vector (the paper does not give it; 8 as its
      copy task).
    - `num_inputs` (int in [1, 10,000], default 20, the paper): vectors shown.
    - `num_outputs` (int in [1, num_inputs], default 16, the paper): vectors to output.
    - `reward_mode` ("none", "bit", "vector" or "sparse"; default "none").
    - `render_mode` (None, "human", "ansi" or "rgb_array"; frames have a fixed size per env).
    - `action_space` ("multibinary", "multidiscrete" or "discrete"; default "multibinary").

    The upper limits are `memtasks.sampling.MAX_BITS` and `MAX_LENGTH`; an episode may also hold
    at most `MAX_EPISODE_VALUES` numbers (T * (I + O)). Bad values raise a ValueError naming the
    argument and its allowed range when the env is made.

    ## Version History

    - v0: Initial version.

    ## Example

    >>> import gymnasium as gym
    >>> import memtasks
    >>> env = gym.make("memtasks/PrioritySort-v0", reward_mode="sparse")
    >>> obs, info = env.reset(seed=0, options={"num_inputs": 40, "num_outputs": 32})
    >>> obs.shape, info["target"].shape
    ((10,), (8,))
    >>> steps, terminated = 0, False
    >>> while not terminated:  # an oracle: predict the target it is told
    ...     obs, reward, terminated, truncated, info = env.step(info["target"])
    ...     steps += 1
    >>> steps, reward, info["is_perfect"]
    (73, 1.0, True)
    """

    def __init__(
        self,
        bits: int = 8,
        num_inputs: int = 20,
        num_outputs: int = 16,
        reward_mode: str = "none",
        render_mode: str | None = None,
        action_space: str = "multibinary",
    ):
        task = PrioritySortTask(bits, num_inputs, num_outputs)
        super().__init__(task, reward_mode, render_mode, action_space)


class PrioritySortVectorEnv(BitSequenceVectorEnv):
    """`num_envs` PrioritySort episodes stepped at once; kwargs as `PrioritySortEnv`.

    Semantics as `memtasks.vector.BitSequenceVectorEnv`; `options={"num_inputs": n,
    "num_outputs": m}` pins a reset.
    """

    def __init__(
        self,
        num_envs: int = 1,
        bits: int = 8,
        num_inputs: int = 20,
        num_outputs: int = 16,
        reward_mode: str = "none",
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        render_mode: str | None = None,
        action_space: str = "multibinary",
    ):
        task = PrioritySortTask(bits, num_inputs, num_outputs)
        super().__init__(task, num_envs, reward_mode, autoreset_mode, render_mode, action_space)
