"""Native numpy vector environments: many episodes stepped at once, no Python loop over envs.

The vector env keeps a padded buffer of B whole episodes drawn from the task's batch sampler,
inputs (B, Tcap, I), targets (B, Tcap, O), mask (B, Tcap), and a time index per env. A step
gathers row b at time t[b] for every env. `reset()` fills the buffer with one sampler call of B
episodes; an autoreset loads just the ended rows, from a pool of episodes that one sampler call
fills (4 * B at a time), so the sampler's fixed cost is not paid on every step. Each row is padded
with zeros and mask 0 after its episode's end, which is also how the zero observation, zero target
and mask 0.0 of the last step come about.

Semantics are those of B single envs in a `gymnasium.vector.SyncVectorEnv`: the same info keys,
batched the Gymnasium way (`info["target"]` (B, O), `info["mask"]` (B,) float32,
`info["bit_errors"]` (B,) int64 and `info["is_perfect"]` (B,) bool on the step an env terminates,
each with its `_key` bool mask), and the autoreset modes NEXT_STEP (default), SAME_STEP and
DISABLED. The random streams differ from a SyncVectorEnv's (one generator for the whole batch).

Variable-length episodes: to take a batch of whole episodes, reset and step until every env has
terminated once (`terminated` seen True), ignoring each env's steps after its end (mask 0 there
after the autoreset is up to the caller, e.g. `alive &= ~terminated`). Options passed to `reset`
(`{"length": 50}`) pin that reset's episodes only; autoresets draw from the training range, as
a SyncVectorEnv's autoresets do. The curriculum hook `set_difficulty(**ranges)` (also as
`envs.call("set_difficulty", ...)`, as on a SyncVectorEnv) changes the training range of every
later reset and autoreset.

Seeding: `reset(seed=s)` with an int seeds the batch's one generator. A list of `num_envs` ints
seeds it with all of them (`numpy.random.SeedSequence(seeds)`): every element counts, so
`[1, 2]` and `[1, 99]` give different episodes, but env b does not replay a single env seeded
with `seeds[b]` (a SyncVectorEnv does). A list of another length, or with None in it, is a
ValueError.

Action spaces as in the single env (`action_space="multibinary" | "multidiscrete" | "discrete"`),
batched as Gymnasium batches them (MultiBinary(O) -> an int8 `Box(0, 1, (B, O))`, as a
SyncVectorEnv's; TorchRL reads it as `BoundedDiscrete`, the same values).

Dimensions: B batch (num_envs), T time, I input size, O output size.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from memtasks import render
from memtasks.envs.base import (
    RENDER_MODES,
    Scorer,
    Task,
    check_action_kind,
    check_render_mode,
    check_reward_mode,
    predictions_from_actions,
    solved_spec,
)
from memtasks.envs.copy import CopyTask
from memtasks.envs.repeat_copy import RepeatCopyTask
from memtasks.sampling import TaskBatch, check_int


def _check_autoreset_mode(autoreset_mode: AutoresetMode | str) -> AutoresetMode:
    try:
        return AutoresetMode(autoreset_mode)
    except ValueError:
        allowed = [mode.value for mode in AutoresetMode]
        raise ValueError(
            f"autoreset_mode must be an AutoresetMode or one of {allowed}, got {autoreset_mode!r}"
        ) from None


class BitSequenceVectorEnv(VectorEnv):
    """B episodes of a `Task` stepped at once. See the module docstring for the semantics."""

    metadata = {
        "autoreset_mode": AutoresetMode.NEXT_STEP,
        "render_modes": list(RENDER_MODES),
        "render_fps": 4,
    }

    def __init__(
        self,
        task: Task,
        num_envs: int = 1,
        reward_mode: str = "none",
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        render_mode: str | None = None,
        action_space: str = "multibinary",
    ):
        task.check_size()
        self.task = task
        self.num_envs = check_int("num_envs", num_envs, 1)
        self.reward_mode = check_reward_mode(reward_mode)
        self.autoreset_mode = _check_autoreset_mode(autoreset_mode)
        self.render_mode = check_render_mode(render_mode)
        self.action_kind = check_action_kind(action_space, int(task.output_size))
        self.metadata = {**type(self).metadata, "autoreset_mode": self.autoreset_mode}

        self.single_observation_space = task.observation_space()
        self.single_action_space = task.action_space(self.action_kind)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._canvas_steps = int(task.max_episode_length())

        batch = self.num_envs
        self._rows = np.arange(batch)
        self._allocate(task.max_episode_length() + 1)
        self._lengths = np.zeros(batch, dtype=np.int64)
        self._time = np.zeros(batch, dtype=np.int64)
        self._needs_reset = np.ones(batch, dtype=bool)  # episode over, not yet reset
        self._scorer = Scorer(reward_mode, batch, task.output_size)
        self._started = False
        self._pool: TaskBatch | None = None
        self._pool_next = 0
        self._pool_size = max(4 * batch, 64)

    @property
    def spec(self) -> Any:
        return self._spec

    @spec.setter
    def spec(self, value: Any) -> None:
        self._spec = solved_spec(value, self.reward_mode)

    _spec = None

    def difficulty(self) -> dict[str, Any]:
        """The training range of later resets and autoresets, e.g. {"max_length": 20, ...}."""
        return self.task.difficulty()

    def set_difficulty(self, **ranges: Any) -> None:
        """Curriculum hook: draw every later reset and autoreset from the training range `ranges`.

        As `BitSequenceEnv.set_difficulty`: keys are the task's `difficulty_keys`; episodes under
        way run on; episodes already drawn for autoresets are discarded. The buffers grow when
        the new range has longer episodes. Raises a ValueError for a bad range (no change then).
        """
        self.task = self.task.with_difficulty(**ranges)
        self._pool = None
        self._grow(int(self.task.max_episode_length()) + 1)

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Call the method `name` (or read the attribute) once; the result for each of the B envs.

        As `SyncVectorEnv.call`, so `envs.call("set_difficulty", max_length=10)` works on both.
        """
        attribute = getattr(self, name)
        result = attribute(*args, **kwargs) if callable(attribute) else attribute
        return (result,) * self.num_envs

    def get_attr(self, name: str) -> tuple[Any, ...]:
        """The attribute `name`, once for each of the B envs (as `SyncVectorEnv.get_attr`)."""
        return self.call(name)

    def _allocate(self, capacity: int) -> None:
        """(Re)allocate the episode buffers with room for `capacity` steps."""
        batch, task = self.num_envs, self.task
        self._inputs = np.zeros((batch, capacity, task.input_size), dtype=np.float32)
        self._targets = np.zeros((batch, capacity, task.output_size), dtype=np.float32)
        self._mask = np.zeros((batch, capacity), dtype=np.float32)
        self._predictions = np.zeros((batch, capacity, task.output_size), dtype=np.float32)

    def _grow(self, capacity: int) -> None:
        """Keep the episodes but make room for `capacity` steps."""
        extra = capacity - self._inputs.shape[1]
        if extra <= 0:
            return
        self._inputs = np.pad(self._inputs, ((0, 0), (0, extra), (0, 0)))
        self._targets = np.pad(self._targets, ((0, 0), (0, extra), (0, 0)))
        self._mask = np.pad(self._mask, ((0, 0), (0, extra)))
        self._predictions = np.pad(self._predictions, ((0, 0), (0, extra), (0, 0)))

    def _start_episodes(self, rows: np.ndarray, batch: TaskBatch) -> None:
        """Load the episodes of `batch` (k whole episodes) into `rows` (k,) and start them."""
        num_steps = batch.inputs.shape[1]
        self._grow(num_steps + 1)  # + 1: the zero step returned with the last step
        buffers = (self._inputs, self._targets, self._mask)
        if num_steps + 1 == self._inputs.shape[1]:  # padded to capacity (the pool): one copy
            for buffer, values in zip(buffers, batch[:3], strict=True):
                buffer[rows, :num_steps] = values
        else:
            for buffer, values in zip(buffers, batch[:3], strict=True):
                buffer[rows] = 0
                buffer[rows, :num_steps] = values
        if self.render_mode is not None:
            self._predictions[rows] = 0
        self._lengths[rows] = batch.lengths
        self._time[rows] = 0
        self._needs_reset[rows] = False
        self._scorer.start(rows, batch.mask)

    def _autoreset_episodes(self, count: int) -> TaskBatch:
        """`count` new episodes from the training range for autoresets.

        They come from a pool that one sampler call fills with `pool_size` episodes, padded to the
        buffer's capacity, so the sampler's fixed cost is paid once per many resets.
        """
        pool = self._pool
        if pool is None or self._pool_next + count > pool.lengths.shape[0]:
            pool = self.task.sample(self.np_random, max(self._pool_size, count))
            # Pad to the capacity less the last step, which no episode uses: it stays zero.
            extra = self._inputs.shape[1] - 1 - pool.inputs.shape[1]
            pool = TaskBatch(
                np.pad(pool.inputs, ((0, 0), (0, extra), (0, 0))),
                np.pad(pool.targets, ((0, 0), (0, extra), (0, 0))),
                np.pad(pool.mask, ((0, 0), (0, extra))),
                pool.lengths,
            )
            self._pool, self._pool_next = pool, 0
        taken = slice(self._pool_next, self._pool_next + count)
        self._pool_next += count
        return TaskBatch(*(values[taken] for values in pool))

    def _observe(self) -> tuple[np.ndarray, dict[str, Any]]:
        """Fresh arrays: the observations x_t of every env and their target/mask info."""
        rows, time = self._rows, self._time
        ones = np.ones(self.num_envs, dtype=bool)
        info = {
            "target": self._targets[rows, time],
            "_target": ones,
            "mask": self._mask[rows, time],
            "_mask": ones.copy(),
        }
        return self._inputs[rows, time], info

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset every env, or only those in `options["reset_mask"]` ((B,) bool).

        `seed`: an int, or a list of `num_envs` ints, seeds the batch's one generator (see the
        module docstring). Other options pin difficulty for the episodes of this reset, e.g.
        {"length": 50} or {"repeats": 7}.
        """
        if isinstance(seed, (list, tuple, np.ndarray)):
            self._seed_from_list(list(seed))
            seed = None
        super().reset(seed=seed)
        pinned = self.task.parse_options(options)
        reset_mask = (options or {}).get("reset_mask")
        batch = self.num_envs
        if reset_mask is None:
            capacity = max(self.task.max_episode_length(), self.task.max_episode_length(**pinned))
            if capacity + 1 != self._inputs.shape[1]:
                self._allocate(capacity + 1)
            self._pool = None  # the stream after reset(seed) depends on the seed alone
            self._start_episodes(self._rows, self.task.sample(self.np_random, batch, **pinned))
            self._started = True
            return self._observe()

        reset_mask = np.asarray(reset_mask)
        if reset_mask.shape != (self.num_envs,) or reset_mask.dtype != np.bool_:
            raise ValueError(
                f"options['reset_mask'] must be a bool array of shape ({self.num_envs},), "
                f"got {reset_mask.dtype} {reset_mask.shape}"
            )
        if not self._started:
            raise RuntimeError("call reset() without a reset_mask first")
        rows = np.flatnonzero(reset_mask)
        self._start_episodes(rows, self.task.sample(self.np_random, rows.shape[0], **pinned))
        observations, info = self._observe()
        info["_target"] = reset_mask.copy()
        info["_mask"] = reset_mask.copy()
        return observations, info

    def _seed_from_list(self, seeds: list) -> None:
        if len(seeds) != self.num_envs or any(
            isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0
            for value in seeds
        ):
            raise ValueError(
                f"seed must be an int or a list of {self.num_envs} ints >= 0 (one per env), "
                f"got {seeds!r}"
            )
        sequence = np.random.SeedSequence([int(value) for value in seeds])
        self._np_random = np.random.Generator(np.random.PCG64(sequence))
        self._np_random_seed = -1  # not a single int: see the module docstring

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every env with `actions` (B, O): bits, bools or probabilities (> 0.5 is a 1)."""
        if not self._started:
            raise RuntimeError("call reset() before step()")
        predictions = predictions_from_actions(
            actions, (self.num_envs, self.task.output_size), self.action_kind
        )
        rows, time = self._rows, self._time

        resetting = self._needs_reset
        if self.autoreset_mode == AutoresetMode.DISABLED and resetting.any():
            raise RuntimeError(
                f"envs {np.flatnonzero(resetting).tolist()} have terminated: with "
                "autoreset_mode=DISABLED, reset them with reset(options={'reset_mask': ...})"
            )
        # NEXT_STEP: envs that terminated on the previous step reset now, ignoring their action.
        active = ~resetting
        last = time + 1 == self._lengths
        rewards = self._scorer.score(
            predictions, self._targets[rows, time], self._mask[rows, time], last, active
        )
        if self.render_mode is not None:
            self._predictions[rows, time] = np.where(active[:, None], predictions, 0)
        terminated = last & active
        self._time = time + active
        self._needs_reset = terminated.copy()  # the returned flags stay untouched

        ended = np.flatnonzero(terminated)
        end_info: dict[str, Any] = {}
        if ended.size:
            bit_errors = np.zeros(self.num_envs, dtype=np.int64)
            bit_errors[ended] = self._scorer.bit_errors[ended]
            end_info = {
                "bit_errors": bit_errors,
                "_bit_errors": terminated.copy(),
                "is_perfect": terminated & (bit_errors == 0),
                "_is_perfect": terminated.copy(),
            }

        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            restarting = np.flatnonzero(resetting)
            if restarting.size:
                self._start_episodes(restarting, self._autoreset_episodes(restarting.size))
            observations, info = self._observe()
            info.update(end_info)
        elif self.autoreset_mode == AutoresetMode.SAME_STEP:
            observations, info = self._observe()
            if ended.size:
                # What a SyncVectorEnv reports: the final observation (object array, None for
                # envs that did not end) and the final step's info, then the reset's obs/info.
                final_obs = np.full(self.num_envs, None, dtype=object)
                for row in ended:
                    final_obs[row] = observations[row]
                keep = terminated[:, None]
                final_info = {
                    "target": np.where(keep, info["target"], 0).astype(np.float32),
                    "_target": terminated.copy(),
                    "mask": np.where(terminated, info["mask"], 0).astype(np.float32),
                    "_mask": terminated.copy(),
                    **end_info,
                }
                self._start_episodes(ended, self._autoreset_episodes(ended.size))
                observations, info = self._observe()
                info.update(
                    final_obs=final_obs,
                    _final_obs=terminated.copy(),
                    final_info=final_info,
                    _final_info=terminated.copy(),
                )
        else:
            observations, info = self._observe()
            info.update(end_info)
        truncated = np.zeros(self.num_envs, dtype=bool)
        return observations, rewards, terminated, truncated, info

    def render(self) -> tuple[Any, ...] | None:
        """One frame per env (text or RGB image) of its episode so far, as a SyncVectorEnv."""
        if self.render_mode is None or not self._started:
            return None
        draw = render.render_ansi if self.render_mode == "ansi" else render.render_rgb
        frames = []
        for row in range(self.num_envs):  # rendering only: not a hot path
            length = int(self._lengths[row])
            frames.append(
                draw(
                    self._inputs[row, :length],
                    self._targets[row, :length],
                    self._mask[row, :length],
                    self._predictions[row, :length],
                    int(self._time[row]),
                    **({"canvas_steps": self._canvas_steps} if draw is render.render_rgb else {}),
                )
            )
        return tuple(frames)


class CopyVectorEnv(BitSequenceVectorEnv):
    """`num_envs` Copy episodes stepped at once; kwargs as `memtasks.envs.copy.CopyEnv`."""

    def __init__(
        self,
        num_envs: int = 1,
        bits: int = 8,
        min_length: int = 1,
        max_length: int = 20,
        reward_mode: str = "none",
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        render_mode: str | None = None,
        action_space: str = "multibinary",
    ):
        task = CopyTask(bits, min_length, max_length)
        super().__init__(task, num_envs, reward_mode, autoreset_mode, render_mode, action_space)


class RepeatCopyVectorEnv(BitSequenceVectorEnv):
    """`num_envs` RepeatCopy episodes stepped at once; kwargs as `RepeatCopyEnv`."""

    def __init__(
        self,
        num_envs: int = 1,
        bits: int = 4,
        min_length: int = 1,
        max_length: int = 2,
        min_repeats: int = 1,
        max_repeats: int = 2,
        repeat_norm: float = 10.0,
        normalisation: str = "linear",
        zero_items: float = 0.0,
        reward_mode: str = "none",
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        render_mode: str | None = None,
        action_space: str = "multibinary",
    ):
        task = RepeatCopyTask(
            bits, min_length, max_length, min_repeats, max_repeats, repeat_norm, normalisation,
            zero_items,
        )  # fmt: skip
        super().__init__(task, num_envs, reward_mode, autoreset_mode, render_mode, action_space)
