"""The NTM paper's dynamic N-grams task as a Gymnasium environment (and its vector env)."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode

from memtasks.envs.base import BitSequenceEnv, Task
from memtasks.sampling import (
    TaskBatch,
    _sample_dynamic_ngrams,
    check_dynamic_ngrams_args,
    dynamic_ngrams_optimal_predictions,
)
from memtasks.vector import BitSequenceVectorEnv


class DynamicNGramsTask(Task):
    """DynamicNGrams: see `memtasks.sampling.sample_dynamic_ngrams`."""

    option_keys = ("length",)
    difficulty_keys = ("order", "length")

    def __init__(self, order: int = 6, length: int = 200):
        check_dynamic_ngrams_args(order, length)
        self.order, self.length = order, length
        self.min_length = self.max_length = length  # one length: same-length batches work
        self.input_size = 1
        self.output_size = 1

    def observation_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(1, dtype=np.float32), np.ones(1, dtype=np.float32)

    def sample(self, rng: np.random.Generator, batch_size: int, **pinned: int) -> TaskBatch:
        return _sample_dynamic_ngrams(
            rng, batch_size, self.order, pinned.get("length", self.length)
        )

    def max_episode_length(self, **pinned: int) -> int:
        return pinned.get("length", self.length)

    def optimal_predictions(self, targets: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """(B, T, 1) float32: the optimal estimator's P(next bit = 1), 0 where mask is 0.

        Args:
            targets: (B, T, 1) the episodes' targets (the bits). mask: (B, T).
        """
        probabilities = dynamic_ngrams_optimal_predictions(targets[..., 0], self.order)
        return (probabilities * mask)[..., None].astype(np.float32)


class DynamicNGramsEnv(BitSequenceEnv):
    """Predict the next bit of a sequence from an unknown N-gram model (Graves et al. 2014, 4.4).

    ## Description

    Every episode draws a fresh `order`-gram distribution over bits: for each of the
    2^(order - 1) contexts (the previous order - 1 bits), the probability that the next bit is 1
    is drawn from Beta(1/2, 1/2). It then draws `length` bits from that table (bits before the
    start count as 0 in the contexts; the paper instead draws the first order - 1 bits i.i.d.
    Bernoulli(1/2), its footnote 4, which puts its optimal cost near 133 bits per sequence against
    about 127.5 here: see `memtasks.sampling.sample_dynamic_ngrams`). On every step the agent
    sees the previous bit and predicts the next one; it can only do well by counting, in the
    episode so far, what followed each context. The data come from
    `memtasks.sampling.sample_dynamic_ngrams`. Timeline for length=6 (T = length steps; the bits
    are x_0 .. x_5)::

        time             0   1   2   3   4   5
        observation bit  .   x0  x1  x2  x3  x4     the previous bit
        target      bit  x0  x1  x2  x3  x4  x5     the next bit
        mask             1   1   1   1   1   1      scored on every step

    This is a prediction task: even the optimal predictor gets many bits wrong. What to report is
    the cost in bits per sequence (the cross-entropy of the predicted probabilities, a supervised
    agent's `loss_bits`) against the optimal estimator's on the same sequences:
    `memtasks.sampling.dynamic_ngrams_optimal_cost(batch, order)`.

    ## Observation Space

    `Box(0, 1, (1,), float32)`: the previous bit (0 at step 0). The target is never part of the
    observation.

    ## Action Space

    `MultiBinary(1)` (default): the predicted next bit. Float probabilities in [0, 1] are accepted
    and thresholded (a value > 0.5 is a 1). `action_space="multidiscrete"` gives
    `MultiDiscrete([2])`, `"discrete"` `Discrete(2)`. An action of another shape or out of range
    raises a ValueError.

    ## Rewards

    `reward_mode="none"` (default): 0.0 every step. `"bit"` and `"vector"` (the same here, one bit
    a step): 1 / T for each correct prediction. `"sparse"`: 1.0 on the last step iff every
    prediction was right (rare even for the optimal predictor). (The last step pays what is still
    owed, so a perfect episode's rewards summed in order are exactly 1.0.)

    ## Starting State

    `reset()` draws a new table and sequence and returns x_0 with `info = {"target": y_0,
    "mask": m_0, "optimal_prediction": p_0}`; every `info` carries `optimal_prediction` ((1,)
    float32), the optimal (Bayesian) estimator's P(target = 1) given the bits so far,
    (N1 + 1/2) / (N1 + N0 + 1) with N1, N0 the ones and zeros that followed the current context
    earlier in the episode. `options={"length": n}` pins the sequence length for this episode
    (any n in [1, 10,000]).

    ## Episode End

    After exactly T = length steps: `terminated=True`, a zero observation, zero target, mask 0.0,
    optimal_prediction 0.0, and `info["bit_errors"]` (int) and `info["is_perfect"]` (bool).
    `truncated` is always False; there is no step limit.

    ## Arguments

    - `order` (int in [1, 16], default 6, the paper): N of the N-gram; 2^(order - 1) contexts.
      The upper limit, `memtasks.sampling.MAX_NGRAM_ORDER`, keeps a table at 32,768 numbers.
    - `length` (int in [1, 10,000], default 200, the paper): bits per sequence
      (`memtasks.sampling.MAX_LENGTH`).
    - `reward_mode` ("none", "bit", "vector" or "sparse"; default "none").
    - `render_mode` (None, "human", "ansi" or "rgb_array"; frames have a fixed size per env).
    - `action_space` ("multibinary", "multidiscrete" or "discrete"; default "multibinary").

    Bad values raise a ValueError naming the argument and its allowed range when the env is made.

    ## Version History

    - v0: Initial version.

    ## Example

    >>> import gymnasium as gym
    >>> import memtasks
    >>> env = gym.make("memtasks/DynamicNGrams-v0", reward_mode="bit")
    >>> obs, info = env.reset(seed=0)
    >>> obs.shape, info["target"].shape, info["optimal_prediction"]
    ((1,), (1,), array([0.5], dtype=float32))
    >>> steps, total, terminated = 0, 0.0, False
    >>> while not terminated:  # follow the optimal estimator
    ...     obs, reward, terminated, truncated, info = env.step(info["optimal_prediction"])
    ...     steps, total = steps + 1, total + reward
    >>> steps, 0.5 < total < 1.0
    (200, True)
    """

    def __init__(
        self,
        order: int = 6,
        length: int = 200,
        reward_mode: str = "none",
        render_mode: str | None = None,
        action_space: str = "multibinary",
    ):
        super().__init__(DynamicNGramsTask(order, length), reward_mode, render_mode, action_space)
        self._optimal: np.ndarray | None = None
        self._optimal_episode: TaskBatch | None = None

    def _info(self) -> dict[str, Any]:
        info = super()._info()
        episode = self._episode
        if self._optimal_episode is not episode:  # a new episode: (1, T + 1, 1) predictions
            self._optimal = self.task.optimal_predictions(episode.targets, episode.mask)
            self._optimal_episode = episode
        info["optimal_prediction"] = self._optimal[0, self._time].copy()
        return info


class DynamicNGramsVectorEnv(BitSequenceVectorEnv):
    """`num_envs` DynamicNGrams episodes stepped at once; kwargs as `DynamicNGramsEnv`.

    Semantics as `memtasks.vector.BitSequenceVectorEnv`; every info also carries
    `optimal_prediction` (B, 1) float32 with its `_optimal_prediction` flags, as a SyncVectorEnv
    of `DynamicNGramsEnv` would (also in `final_info` with autoreset_mode SAME_STEP).
    """

    def __init__(
        self,
        num_envs: int = 1,
        order: int = 6,
        length: int = 200,
        reward_mode: str = "none",
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        render_mode: str | None = None,
        action_space: str = "multibinary",
    ):
        self._optimal = np.zeros((0, 0, 1), dtype=np.float32)  # (B, capacity, 1), filled below
        task = DynamicNGramsTask(order, length)
        super().__init__(task, num_envs, reward_mode, autoreset_mode, render_mode, action_space)

    def _start_episodes(self, rows: np.ndarray, batch: TaskBatch) -> None:
        super()._start_episodes(rows, batch)
        capacity = self._mask.shape[1]
        if self._optimal.shape[:2] != (self.num_envs, capacity):  # the buffers were (re)made
            kept = np.zeros((self.num_envs, capacity, 1), dtype=np.float32)
            overlap = min(capacity, self._optimal.shape[1])
            kept[: self._optimal.shape[0], :overlap] = self._optimal[:, :overlap]
            self._optimal = kept
        num_steps = batch.targets.shape[1]
        self._optimal[rows] = 0.0
        self._optimal[rows, :num_steps] = self.task.optimal_predictions(batch.targets, batch.mask)

    def _observe(self) -> tuple[np.ndarray, dict[str, Any]]:
        observations, info = super()._observe()
        info["optimal_prediction"] = self._optimal[self._rows, self._time]
        info["_optimal_prediction"] = np.ones(self.num_envs, dtype=bool)
        return observations, info

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        observations, info = super().reset(seed=seed, options=options)
        if (options or {}).get("reset_mask") is not None:
            info["_optimal_prediction"] = info["_target"].copy()
        return observations, info

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        observations, rewards, terminated, truncated, info = super().step(actions)
        final_info = info.get("final_info")
        if final_info is not None:  # SAME_STEP: the final step's prediction is the zero step's
            final_info["optimal_prediction"] = np.zeros((self.num_envs, 1), dtype=np.float32)
            final_info["_optimal_prediction"] = info["_final_info"].copy()
        return observations, rewards, terminated, truncated, info
