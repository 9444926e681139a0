"""The shared machinery of the bit-sequence environments: task description, scoring, the env.

A `Task` says what an episode looks like (sizes, observation bounds, how to sample a batch); the
`BitSequenceEnv` here and the `BitSequenceVectorEnv` in `memtasks.vector` step through episodes a
task's sampler produced. `Scorer` turns predictions into bit errors and rewards for a batch of
episodes (a single env is a batch of one), so both kinds of env score the same way.

Every task gets from these base classes, by subclassing: the reward modes and the solved
threshold (`SOLVED_RETURN`, in `spec.reward_threshold`), the action-space variants
(`action_space="multibinary" | "multidiscrete" | "discrete"`), input validation (actions must be
finite bits or probabilities in [0, 1]; options and episode sizes have upper limits), rendering on a
canvas of fixed size, and the curriculum hook `set_difficulty(...)`. A new task provides:

1. A `Task` subclass: `input_size`, `output_size`, `option_keys` (the `reset` options that pin
   difficulty), `difficulty_keys` (the constructor arguments a curriculum may change, e.g.
   ("min_length", "max_length")), `observation_bounds`, `sample` and `max_episode_length`. Its
   `__init__` validates its arguments and stores each one as an attribute of the same name
   (`self.bits = bits`): `with_difficulty` rebuilds the task from them.
2. An env subclass of `BitSequenceEnv` whose `__init__` takes the task's arguments plus
   `reward_mode`, `render_mode` and `action_space`, and calls
   `super().__init__(task, reward_mode, render_mode, action_space)`; a vector subclass of
   `memtasks.vector.BitSequenceVectorEnv` likewise, plus `num_envs` and `autoreset_mode`.
3. Registration in `memtasks/__init__.py`: its entry points in `_ENTRY_POINTS` and its named
   levels (kwargs of Easy, Medium, Hard) in `LEVELS`; `_register` does the rest (ids, levels,
   vector entry points, reward threshold).

Dimensions: B batch, T time, I input size, O output size.
"""

from __future__ import annotations

import dataclasses
import inspect
from abc import ABC, abstractmethod
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from memtasks import render
from memtasks.sampling import MAX_LENGTH, MAX_REPEATS, TaskBatch, check_episode_size, check_int

REWARD_MODES = ("none", "bit", "vector", "sparse")
RENDER_MODES = ("ansi", "rgb_array")
SINGLE_RENDER_MODES = ("human", "ansi", "rgb_array")  # "human" draws with matplotlib
ACTION_SPACES = ("multibinary", "multidiscrete", "discrete")
MAX_DISCRETE_BITS = 16
"""`action_space="discrete"` needs O <= 16 (Discrete(2**O) joint actions)."""
SOLVED_RETURN = 0.95
"""The solved threshold (`spec.reward_threshold`): a mean episode return above 0.95. Every RL
reward mode pays 1.0 for a perfect episode, so it reads as 95 % of the bits ("bit"), of the
scored steps ("vector") or of the episodes ("sparse") right. None for reward_mode="none"."""
OPTION_LIMITS = {"length": MAX_LENGTH, "repeats": MAX_REPEATS}
"""Upper limits of the `reset` options; an option not listed here is limited to MAX_LENGTH."""


class Task(ABC):
    """What an episode of a task looks like. Subclasses validate their kwargs in `__init__`.

    Attributes:
        input_size: I, channels of an observation.
        output_size: O, channels of a target (and of an action).
        option_keys: the `reset(options=...)` keys that pin difficulty, e.g. ("length",).
        difficulty_keys: the constructor arguments `with_difficulty` may change (the training
            range of a curriculum), e.g. ("min_length", "max_length"). They must not change
            the observation or action space.
    """

    input_size: int
    output_size: int
    option_keys: tuple[str, ...] = ("length",)
    difficulty_keys: tuple[str, ...] = ()

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

    def action_space(self, kind: str = "multibinary") -> spaces.Space:
        """The action space of one env: see `make_action_space`."""
        return make_action_space(kind, int(self.output_size))

    def parse_options(self, options: dict[str, Any] | None, ignore=("reset_mask",)) -> dict:
        """Validate `reset` options; returns the pinned values, e.g. {"length": 50}.

        Each value is an integer in [1, OPTION_LIMITS[key]], and the longest episode they allow
        must fit `memtasks.sampling.MAX_EPISODE_VALUES`.
        """
        pinned = {}
        for key, value in (options or {}).items():
            if key in ignore:
                continue
            if key not in self.option_keys:
                raise ValueError(
                    f"unknown reset option {key!r}; allowed options: {self.option_keys}"
                )
            if value is not None:
                limit = OPTION_LIMITS.get(key, MAX_LENGTH)
                pinned[key] = check_int(f"options[{key!r}]", value, 1, limit)
        if pinned:
            self.check_size(**pinned)
        return pinned

    def check_size(self, **pinned: int) -> None:
        """Raise a ValueError when the longest episode (with `pinned` options) is too large."""
        steps = int(self.max_episode_length(**pinned))
        check_episode_size(steps, int(self.input_size), int(self.output_size))

    def arguments(self) -> dict[str, Any]:
        """The constructor arguments of this task, read from the attributes of the same name."""
        names = [
            name
            for name, parameter in inspect.signature(type(self).__init__).parameters.items()
            if name != "self" and parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        ]
        return {name: getattr(self, name) for name in names}

    def difficulty(self) -> dict[str, Any]:
        """The current training range, e.g. {"min_length": 1, "max_length": 20}."""
        return {key: getattr(self, key) for key in self.difficulty_keys}

    def with_difficulty(self, **changes: Any) -> Task:
        """A new task with the training range in `changes` (keys from `difficulty_keys`).

        Raises a ValueError for an unknown key, a bad value (the constructor's own checks), an
        episode over the size limit, or a change of the observation or action space.
        """
        unknown = sorted(set(changes) - set(self.difficulty_keys))
        if unknown:
            raise ValueError(
                f"set_difficulty got unknown keys {unknown}; allowed: {self.difficulty_keys}"
            )
        task = type(self)(**{**self.arguments(), **changes})
        task.check_size()
        if task.observation_space() != self.observation_space() or (
            task.action_space() != self.action_space()
        ):
            raise ValueError(
                f"set_difficulty({changes}) would change the observation or action space; "
                "make a new env instead"
            )
        return task


def make_action_space(kind: str, output_size: int) -> spaces.Space:
    """The action space of one env with O = `output_size` target bits.

    "multibinary": `MultiBinary(O)` (the default). "multidiscrete": `MultiDiscrete([2] * O)`, the
    same bits as int64 choices (sb3-contrib's RecurrentPPO, PufferLib). "discrete":
    `Discrete(2**O)` joint actions, action k plays bit i = (k >> i) & 1 (least significant
    first); only for O <= MAX_DISCRETE_BITS (SB3's DQN, tabular methods).
    """
    check_action_kind(kind, output_size)
    if kind == "multibinary":
        return spaces.MultiBinary(output_size)
    if kind == "multidiscrete":
        return spaces.MultiDiscrete(np.full(output_size, 2, dtype=np.int64))
    return spaces.Discrete(2**output_size)


def check_action_kind(kind: str, output_size: int) -> str:
    """Raise a ValueError for an unknown action space or a too large Discrete one."""
    if kind not in ACTION_SPACES:
        raise ValueError(f"action_space must be one of {ACTION_SPACES}, got {kind!r}")
    if kind == "discrete" and output_size > MAX_DISCRETE_BITS:
        raise ValueError(
            f"action_space='discrete' needs Discrete(2**{output_size}) actions; at most "
            f"{MAX_DISCRETE_BITS} bits (use 'multibinary' or 'multidiscrete')"
        )
    return kind


def check_reward_mode(reward_mode: str) -> str:
    if reward_mode not in REWARD_MODES:
        raise ValueError(f"reward_mode must be one of {REWARD_MODES}, got {reward_mode!r}")
    return reward_mode


def check_render_mode(
    render_mode: str | None, allowed: tuple[str, ...] = RENDER_MODES
) -> str | None:
    if render_mode is not None and render_mode not in allowed:
        raise ValueError(f"render_mode must be None or one of {allowed}, got {render_mode!r}")
    return render_mode


def predictions_from_actions(
    actions: Any, shape: tuple[int, ...], kind: str = "multibinary"
) -> np.ndarray:
    """Bits predicted by `actions`, as a bool array of `shape` (..., O).

    "multibinary" and "multidiscrete": actions of `shape`, bits, bools or probabilities in
    [0, 1] (a value > 0.5 is a 1). "discrete": integers in [0, 2**O) of `shape[:-1]`, action k
    playing bit i = (k >> i) & 1. Raises a ValueError for another shape, a non-finite value or a
    value out of range.
    """
    actions = np.asarray(actions)
    if kind == "discrete":
        output_size = shape[-1]
        if actions.shape != shape[:-1]:
            raise ValueError(
                f"action must have shape {shape[:-1]} (one Discrete(2**{output_size}) index per "
                f"env), got {actions.shape}"
            )
        if actions.dtype.kind not in "iu" or ((actions < 0) | (actions >= 2**output_size)).any():
            raise ValueError(
                f"action must be an integer in [0, {2**output_size}), got {actions.tolist()!r}"
            )
        return ((actions[..., None] >> np.arange(output_size)) & 1).astype(bool)
    if actions.shape != shape:
        raise ValueError(
            f"action must have shape {shape} (one prediction per target bit), got {actions.shape}"
        )
    if actions.dtype == np.bool_:
        return actions
    if actions.dtype.kind not in "iuf":
        raise ValueError(f"action must hold numbers, got dtype {actions.dtype}")
    if actions.dtype.kind == "f" and not np.isfinite(actions).all():
        raise ValueError(f"action must be finite, got {actions.tolist()!r}")
    if (actions < 0).any() or (actions > 1).any():
        raise ValueError(
            f"action must hold bits or probabilities in [0, 1], got {actions.tolist()!r}"
        )
    return actions > 0.5


def solved_spec(spec: Any, reward_mode: str) -> Any:
    """`spec` with reward_threshold None when the reward mode pays nothing ("none")."""
    if spec is not None and reward_mode == "none" and spec.reward_threshold is not None:
        spec = dataclasses.replace(spec, reward_threshold=None)
    return spec


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

    Shared by every task:

    - `action_space`: "multibinary" (default), "multidiscrete" or "discrete" (O <= 16); see
      `make_action_space`. Actions out of range or non-finite raise a ValueError.
    - `render_mode`: "ansi" (text), "rgb_array" (uint8 frames of one fixed size for the env's
      life: (I + 2 * O + 2) * 8 pixels high, T_max * 8 wide, T_max the longest episode of the
      training range at construction; a longer episode scrolls, showing its last T_max steps) or
      "human" (the rgb_array frame in a matplotlib window, drawn on every reset and step; needs
      matplotlib, checked when the env is made).
    - The curriculum hook `set_difficulty(**ranges)`: the training range of every later reset,
      e.g. `env.unwrapped.set_difficulty(max_length=10)`; `difficulty()` reads it back.
    - `spec.reward_threshold` is `SOLVED_RETURN` (0.95) in the RL reward modes, None with
      reward_mode="none".
    """

    metadata = {"render_modes": list(SINGLE_RENDER_MODES), "render_fps": 4}

    def __init__(
        self,
        task: Task,
        reward_mode: str = "none",
        render_mode: str | None = None,
        action_space: str = "multibinary",
    ):
        task.check_size()
        self.task = task
        self.reward_mode = check_reward_mode(reward_mode)
        self.render_mode = check_render_mode(render_mode, SINGLE_RENDER_MODES)
        self.action_kind = check_action_kind(action_space, int(task.output_size))
        self.observation_space = task.observation_space()
        self.action_space = task.action_space(self.action_kind)
        self._scorer = Scorer(reward_mode, 1, task.output_size)
        self._episode: TaskBatch | None = None
        self._time = 0
        self._canvas_steps = int(task.max_episode_length())
        self._figure = None
        if self.render_mode == "human":
            render.require_matplotlib()

    @property
    def spec(self) -> Any:
        return self._spec

    @spec.setter
    def spec(self, value: Any) -> None:
        self._spec = solved_spec(value, self.reward_mode)

    _spec = None

    def difficulty(self) -> dict[str, Any]:
        """The training range of later resets, e.g. {"min_length": 1, "max_length": 20}."""
        return self.task.difficulty()

    def set_difficulty(self, **ranges: Any) -> None:
        """Curriculum hook: draw every later episode from the training range `ranges`.

        Keys are the task's `difficulty_keys` (Copy: min_length, max_length; RepeatCopy also
        min_repeats, max_repeats); keys not given keep their value. The current episode runs
        on unchanged. `reset(options=...)` still pins single episodes. Through wrappers:
        `env.unwrapped.set_difficulty(...)`; in a vector env `envs.call("set_difficulty", ...)`.
        Raises a ValueError for an unknown key or a bad range (the env is then unchanged).
        """
        self.task = self.task.with_difficulty(**ranges)

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
        if self.render_mode == "human":
            self.render()
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
        predictions = predictions_from_actions(action, (self.task.output_size,), self.action_kind)
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
        if self.render_mode == "human":
            self.render()
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
        frame = render.render_rgb(*args, canvas_steps=self._canvas_steps)
        if self.render_mode == "rgb_array":
            return frame
        self._figure = render.show_human(frame, self._figure, self.metadata["render_fps"])
        return None

    def close(self) -> None:
        if self._figure is not None:
            render.close_human(self._figure)
            self._figure = None
