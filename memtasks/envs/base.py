"""The shared machinery of the bit-sequence environments: task description, scoring, the env.

A `Task` says what an episode looks like (sizes, observation bounds, how to sample a batch); the
`BitSequenceEnv` here and the `BitSequenceVectorEnv` in `memtasks.vector` step through episodes a
task's sampler produced. `Scorer` turns predictions into bit errors and rewards for a batch of
episodes (a single env is a batch of one), so both kinds of env score the same way.

Dimensions: B batch, T time, I input size, O output size.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from memtasks import render
from memtasks.sampling import TaskBatch, check_int

REWARD_MODES = ("none", "bit", "vector", "sparse")
RENDER_MODES = ("ansi", "rgb_array")


class Task(ABC):
    """What an episode of a task looks like. Subclasses validate their kwargs in `__init__`.

    Attributes:
        input_size: I, channels of an observation.
        output_size: O, channels of a target (and of an action).
        option_keys: the `reset(options=...)` keys that pin difficulty, e.g. ("length",).
    """

    input_size: int
    output_size: int
    option_keys: tuple[str, ...] = ("length",)

    @abstractmethod
    def observation_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) float32 arrays of shape (I,) that cover every value the task emits."""

    @abstractmethod
    def sample(self, rng: np.random.Generator, batch_size: int, **pinned: int) -> TaskBatch:
        """A batch of whole episodes; `pinned` holds validated option values (e.g. length=50)."""

    @abstractmethod
    def max_episode_length(self, **pinned: int) -> int:
        """The longest episode `sample` can return with these pinned options."""

    def observation_space(self) -> spaces.Box:
        low, high = self.observation_bounds()
        return spaces.Box(low=low, high=high, dtype=np.float32)

    def action_space(self) -> spaces.MultiBinary:
        return spaces.MultiBinary(self.output_size)

    def parse_options(self, options: dict[str, Any] | None, ignore=("reset_mask",)) -> dict:
        """Validate `reset` options; returns the pinned values, e.g. {"length": 50}."""
        pinned = {}
        for key, value in (options or {}).items():
            if key in ignore:
                continue
            if key not in self.option_keys:
                raise ValueError(
                    f"unknown reset option {key!r}; allowed options: {self.option_keys}"
                )
            if value is not None:
                pinned[key] = check_int(f"options[{key!r}]", value, 1)
        return pinned


def check_reward_mode(reward_mode: str) -> str:
    if reward_mode not in REWARD_MODES:
        raise ValueError(f"reward_mode must be one of {REWARD_MODES}, got {reward_mode!r}")
    return reward_mode


def check_render_mode(render_mode: str | None) -> str | None:
    if render_mode is not None and render_mode not in RENDER_MODES:
        raise ValueError(f"render_mode must be None or one of {RENDER_MODES}, got {render_mode!r}")
    return render_mode


def predictions_from_actions(actions: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Bits predicted by `actions` (bits, bools or probabilities; a value > 0.5 is a 1).

    Raises a ValueError when the actions do not have `shape`.
    """
    actions = np.asarray(actions)
    if actions.shape != shape:
        raise ValueError(
            f"action must have shape {shape} (one prediction per target bit), got {actions.shape}"
        )
    if actions.dtype == np.bool_:
        return actions
    return actions > 0.5


class Scorer:
    """Bit errors and rewards of a batch of episodes, step by step.

    Rewards (each episode's return for a perfect one is 1.0; S = scored steps of the episode):
    "none" 0.0 always; "bit" (fraction of correct bits) / S on every scored step; "vector" 1 / S
    for every scored step whose vector is fully correct; "sparse" 1.0 on the last step iff no bit
    was wrong. For "bit" and "vector" the last step pays the credit still owed (credit / S minus
    what was paid so far), so that the rewards of a perfect episode, summed in order, give exactly
    1.0 rather than 1.0 up to rounding.
    """

    def __init__(self, reward_mode: str, batch_size: int, output_size: int):
        self.reward_mode = check_reward_mode(reward_mode)
        self.output_size = output_size
        self.bit_errors = np.zeros(batch_size, dtype=np.int64)
        self.scored_steps = np.ones(batch_size, dtype=np.int64)
        self.credit = np.zeros(batch_size, dtype=np.float64)
        self.paid = np.zeros(batch_size, dtype=np.float64)

    def start(self, rows: np.ndarray | slice, mask: np.ndarray) -> None:
        """Start new episodes in `rows`; `mask` (k, T) is their scored-step mask."""
        self.bit_errors[rows] = 0
        self.scored_steps[rows] = np.maximum(mask.sum(axis=1), 1).astype(np.int64)
        self.credit[rows] = 0.0
        self.paid[rows] = 0.0

    def score(
        self,
        predictions: np.ndarray,
        targets: np.ndarray,
        mask: np.ndarray,
        last: np.ndarray,
        active: np.ndarray | None = None,
    ) -> np.ndarray:
        """Score one step of every episode; returns rewards (B,) float64.

        Args:
            predictions: (B, O) bool, the predicted bits.
            targets: (B, O) float32, this step's targets.
            mask: (B,) float32, whether this step is scored.
            last: (B,) bool, whether this is the episode's last step.
            active: (B,) bool or None (all), rows that take a step; others get reward 0.
        """
        scored = mask > 0
        if active is not None:
            scored = scored & active
            last = last & active
        errors = np.count_nonzero(predictions != (targets > 0.5), axis=1) * scored
        self.bit_errors += errors
        rewards = np.zeros(errors.shape[0], dtype=np.float64)
        if self.reward_mode == "sparse":
            rewards[last & (self.bit_errors == 0)] = 1.0
        elif self.reward_mode != "none":
            if self.reward_mode == "bit":
                credit = (1.0 - errors / self.output_size) * scored
            else:
                credit = ((errors == 0) & scored).astype(np.float64)
            self.credit += credit
            rewards = credit / self.scored_steps
            rewards[last] = self.credit[last] / self.scored_steps[last] - self.paid[last]
            self.paid += rewards
        return rewards


class BitSequenceEnv(gym.Env[np.ndarray, np.ndarray]):
    """One episode = one sequence of a `Task`; one step = one time step.

    See `memtasks.envs.copy.CopyEnv` and `memtasks.envs.repeat_copy.RepeatCopyEnv` for the
    documented tasks. `reset` returns x_0 with info {"target": y_0, "mask": m_0}; `step(a_t)`
    scores a_t against y_t and returns x_{t+1} with the target and mask of x_{t+1}. The last step
    returns terminated=True, a zero observation, zero target, mask 0.0 and, in its info,
    "bit_errors" (int) and "is_perfect" (bool).
    """

    metadata = {"render_modes": list(RENDER_MODES), "render_fps": 4}

    def __init__(self, task: Task, reward_mode: str = "none", render_mode: str | None = None):
        self.task = task
        self.reward_mode = check_reward_mode(reward_mode)
        self.render_mode = check_render_mode(render_mode)
        self.observation_space = task.observation_space()
        self.action_space = task.action_space()
        self._scorer = Scorer(reward_mode, 1, task.output_size)
        self._episode: TaskBatch | None = None
        self._time = 0

    def _info(self) -> dict[str, Any]:
        episode = self._episode
        return {
            "target": episode.targets[0, self._time].copy(),
            "mask": episode.mask[0, self._time],
        }

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new episode. `options` may pin difficulty, e.g. {"length": 50}."""
        super().reset(seed=seed)
        pinned = self.task.parse_options(options, ignore=())
        batch = self.task.sample(self.np_random, 1, **pinned)
        # One zero step after the end: the observation, target and mask returned with the last step.
        self._episode = TaskBatch(
            np.pad(batch.inputs, ((0, 0), (0, 1), (0, 0))),
            np.pad(batch.targets, ((0, 0), (0, 1), (0, 0))),
            np.pad(batch.mask, ((0, 0), (0, 1))),
            batch.lengths,
        )
        self._predictions = np.zeros((int(batch.lengths[0]), self.task.output_size), np.float32)
        self._scorer.start(slice(None), batch.mask)
        self._time = 0
        return self._episode.inputs[0, 0].copy(), self._info()

    @property
    def episode_length(self) -> int:
        """T, the number of steps of the current episode."""
        if self._episode is None:
            raise RuntimeError("call reset() before reading episode_length")
        return int(self._episode.lengths[0])

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._episode is None:
            raise RuntimeError("call reset() before step()")
        if self._time >= self.episode_length:
            raise RuntimeError("the episode has ended: call reset() before step()")
        predictions = predictions_from_actions(action, (self.task.output_size,))
        episode, time = self._episode, self._time
        last = time + 1 == self.episode_length
        reward = self._scorer.score(
            predictions[None], episode.targets[:, time], episode.mask[:, time], np.array([last])
        )
        self._predictions[time] = predictions
        self._time = time + 1
        info = self._info()
        if last:
            bit_errors = int(self._scorer.bit_errors[0])
            info["bit_errors"] = bit_errors
            info["is_perfect"] = bit_errors == 0
        observation = episode.inputs[0, self._time].copy()
        return observation, float(reward[0]), bool(last), False, info

    def render(self) -> str | np.ndarray | None:
        """The episode so far: input, target and prediction bit grids (text or RGB image)."""
        if self.render_mode is None or self._episode is None:
            return None
        episode = self._episode
        length = self.episode_length
        args = (
            episode.inputs[0, :length],
            episode.targets[0, :length],
            episode.mask[0, :length],
            self._predictions,
            self._time,
        )
        if self.render_mode == "ansi":
            return render.render_ansi(*args)
        return render.render_rgb(*args)
