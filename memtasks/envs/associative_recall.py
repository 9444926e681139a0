"""The NTM paper's associative recall task as a Gymnasium environment (and its vector env)."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode

from memtasks.envs.base import BitSequenceEnv, Task
from memtasks.sampling import (
    MAX_LENGTH,
    TaskBatch,
    _sample_associative_recall,
    associative_recall_episode_length,
    check_associative_recall_args,
    check_int,
)
from memtasks.vector import BitSequenceVectorEnv


class AssociativeRecallTask(Task):
    """AssociativeRecall: see `memtasks.sampling.sample_associative_recall`."""

    option_keys = ("items",)
    difficulty_keys = ("min_items", "max_items")

    def __init__(self, bits: int = 6, item_length: int = 3, min_items: int = 2, max_items: int = 6):
        check_associative_recall_args(bits, item_length, min_items, max_items)
        self.bits, self.item_length = bits, item_length
        self.min_items, self.max_items = min_items, max_items
        self.input_size = bits + 2
        self.output_size = bits

    def observation_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return (
            np.zeros(self.input_size, dtype=np.float32),
            np.ones(self.input_size, dtype=np.float32),
        )

    def parse_options(self, options: dict[str, Any] | None, ignore=("reset_mask",)) -> dict:
        items = (options or {}).get("items")
        if items is not None:  # a list needs two items: one to query, one to recall
            check_int("options['items']", items, 2, MAX_LENGTH)
        return super().parse_options(options, ignore)

    def sample(self, rng: np.random.Generator, batch_size: int, **pinned: int) -> TaskBatch:
        return _sample_associative_recall(
            rng,
            batch_size,
            self.bits,
            self.item_length,
            self.min_items,
            self.max_items,
            pinned.get("items"),
        )

    def max_episode_length(self, **pinned: int) -> int:
        return associative_recall_episode_length(
            pinned.get("items", self.max_items), self.item_length
        )


class AssociativeRecallEnv(BitSequenceEnv):
    """Recall the item that followed a queried item in a list (Graves et al. 2014, section 4.3).

    ## Description

    The agent sees a list of items, each `item_length` random `bits`-bit vectors opened by a
    delimiter on the "item" channel; then a query, a copy of one of the items (never the last),
    between two delimiters on the "query" channel. It must then output the item that came right
    after the queried one in the list, one vector per step, with zero input. No other item of the
    episode equals the queried one, so the answer is unique. One episode is one list, one step is
    one time step; the data come from `memtasks.sampling.sample_associative_recall`. Timeline for
    bits=2, item_length=2, items=2, the query is item 0 (T = (items + 2) * (item_length + 1) =
    12 steps)::

        time             0 1 2 3 4 5 6 7 8 9 10 11
        observation bit0 . 1 0 . 0 0 . 1 0 . .  .
                    bit1 . 1 1 . 1 0 . 1 1 . .  .
                    item 1 . . 1 . . . . . . .  .     opens each item
                    query. . . . . . 1 . . 1 .  .     opens and closes the query (= item 0)
        target      bit0 . . . . . . . . . . 0  0
                    bit1 . . . . . . . . . . 1  0     the item after the query: item 1
        mask             0 0 0 0 0 0 0 0 0 0 1  1     scored on the last item_length steps

    ## Observation Space

    `Box(0, 1, (bits + 2,), float32)`: the vector bits, the item delimiter, the query delimiter.
    The target is never part of the observation.

    ## Action Space

    `MultiBinary(bits)` (default): the prediction of this step's target. Float probabilities in
    [0, 1] are accepted and thresholded (a value > 0.5 is a 1). `action_space="multidiscrete"`
    gives `MultiDiscrete([2] * bits)`, `"discrete"` `Discrete(2 ** bits)` joint actions (for
    bits <= 16). An action of another shape or out of range raises a ValueError.

    ## Rewards

    `reward_mode="none"` (default): 0.0 every step. `"bit"`: on each scored step, the fraction
    of correct bits divided by the number S of scored steps (S = item_length), so a perfect
    episode returns 1.0. `"vector"`: 1 / S for each scored step whose vector is fully correct.
    `"sparse"`: 1.0 on the last step iff the episode is perfect. (For "bit" and "vector" the last
    step pays what is still owed, so a perfect episode's rewards summed in order are exactly 1.0.)

    ## Starting State

    `reset()` samples a new list and query and returns x_0 with
    `info = {"target": y_0, "mask": m_0}`. `options={"items": n}` pins the number of items for
    this episode (any n in [2, 10,000], also beyond `max_items`: the paper tests up to 20 after
    training on 2..6).

    ## Episode End

    After exactly T = (items + 2) * (item_length + 1) steps: `terminated=True`, a zero
    observation, zero target, mask 0.0, and `info["bit_errors"]` (int) and `info["is_perfect"]`
    (bool). `truncated` is always False; there is no step limit.

    ## Arguments

    - `bits` (int in [1, 1024], default 6, the paper): bits per vector.
    - `item_length` (int in [1, 10,000], default 3, the paper): vectors per item.
    - `min_items`, `max_items` (ints in [2, 10,000], min_items <= max_items; default 2 and 6, the
      paper): range of the number of items; an episode of n items has
      (n + 2) * (item_length + 1) steps.

    The upper limits are `memtasks.sampling.MAX_BITS` and `MAX_LENGTH`; an episode may also hold
    at most `MAX_EPISODE_VALUES` numbers (T * (I + O), checked with the longest one allowed).
    - `reward_mode` ("none", "bit", "vector" or "sparse"; default "none").
    - `render_mode` (None, "human", "ansi" or "rgb_array"; frames have a fixed size per env).
    - `action_space` ("multibinary", "multidiscrete" or "discrete"; default "multibinary").

    Bad values raise a ValueError naming the argument and its allowed range when the env is made.

    ## Version History

    - v0: Initial version.

    ## Example

    >>> import gymnasium as gym
    >>> import memtasks
    >>> env = gym.make("memtasks/AssociativeRecall-v0", reward_mode="bit")
    >>> obs, info = env.reset(seed=0, options={"items": 20})
    >>> obs.shape, info["target"].shape
    ((8,), (6,))
    >>> steps, total, terminated = 0, 0.0, False
    >>> while not terminated:  # an oracle: predict the target it is told
    ...     obs, reward, terminated, truncated, info = env.step(info["target"])
    ...     steps, total = steps + 1, total + reward
    >>> steps, total, info["is_perfect"]
    (88, 1.0, True)
    """

    def __init__(
        self,
        bits: int = 6,
        item_length: int = 3,
        min_items: int = 2,
        max_items: int = 6,
        reward_mode: str = "none",
        render_mode: str | None = None,
        action_space: str = "multibinary",
    ):
        task = AssociativeRecallTask(bits, item_length, min_items, max_items)
        super().__init__(task, reward_mode, render_mode, action_space)


class AssociativeRecallVectorEnv(BitSequenceVectorEnv):
    """`num_envs` AssociativeRecall episodes stepped at once; kwargs as `AssociativeRecallEnv`.

    Semantics as `memtasks.vector.BitSequenceVectorEnv`; `options={"items": n}` pins a reset.
    """

    def __init__(
        self,
        num_envs: int = 1,
        bits: int = 6,
        item_length: int = 3,
        min_items: int = 2,
        max_items: int = 6,
        reward_mode: str = "none",
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        render_mode: str | None = None,
        action_space: str = "multibinary",
    ):
        task = AssociativeRecallTask(bits, item_length, min_items, max_items)
        super().__init__(task, num_envs, reward_mode, autoreset_mode, render_mode, action_space)
