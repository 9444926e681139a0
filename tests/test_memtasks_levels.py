"""Features every task gets from the base classes (issue 13, and the env part of issue 11).

Levels (and the frame-stack argument for Easy), the curriculum hook, the action-space variants,
per-env seeds of the native vector env, the fixed render canvas, `spec.reward_threshold`, and
input validation with upper limits.
"""

from __future__ import annotations

import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from numpy.lib.stride_tricks import sliding_window_view

import memtasks
from memtasks.envs.base import SOLVED_RETURN
from memtasks.vector import BitSequenceVectorEnv

COPY_IDS = ("memtasks/Copy-v0", "memtasks/RepeatCopy-v0")


# ----------------------------------------------------------------------------------------------
# Levels


def test_levels_are_registered_with_their_kwargs_and_hard_is_the_ntm_paper():
    assert memtasks.LEVEL_IDS[:3] == (
        "memtasks/Copy-Easy-v0",
        "memtasks/Copy-Medium-v0",
        "memtasks/Copy-Hard-v0",
    )
    assert gym.spec("memtasks/Copy-Hard-v0").kwargs == dict(bits=8, min_length=1, max_length=20)
    hard = gym.make("memtasks/RepeatCopy-Hard-v0").unwrapped.task
    assert (hard.bits, hard.max_length, hard.max_repeats) == (8, 10, 10)  # NTM paper, 4.2
    # Other kwargs pass through, and a level's kwargs can be overridden.
    env = gym.make("memtasks/Copy-Easy-v0", reward_mode="bit", max_length=4)
    assert env.unwrapped.reward_mode == "bit" and env.unwrapped.task.max_length == 4
    vector = gym.make_vec("memtasks/Copy-Easy-v0", 3, vectorization_mode="vector_entry_point")
    assert vector.unwrapped.task.difficulty() == {"min_length": 2, "max_length": 3}


def best_frame_stack_return(task, stack: int, episodes: int = 20_000, seed: int = 0) -> float:
    """The expected "bit" return of the best memoryless policy that sees the last `stack`
    observations (zero before the start), fitted and scored on the same `episodes` samples.

    For each distinct window, the best action predicts each bit's weighted majority over every
    (episode, step) with that window (weight 1 / S on scored steps: the bit reward). Fitting on
    the scored sample itself can only overestimate what such a policy gets on new episodes.
    """
    batch = task.sample(np.random.default_rng(seed), episodes)
    B, T, I = batch.inputs.shape
    padded = np.concatenate([np.zeros((B, stack - 1, I), np.float32), batch.inputs], axis=1)
    windows = sliding_window_view(padded, stack, axis=1)[:, :T]  # (B, T, I, stack)
    keys = np.ascontiguousarray(windows.reshape(B * T, -1))
    _, group = np.unique(keys, axis=0, return_inverse=True)
    group = group.reshape(-1)
    weight = (batch.mask / batch.mask.sum(axis=1, keepdims=True)).reshape(-1) / B  # (B*T,)
    targets = batch.targets.reshape(B * T, -1)  # (B*T, O)
    total = 0.0
    for bit in range(targets.shape[1]):
        ones = np.bincount(group, weights=weight * targets[:, bit])
        zeros = np.bincount(group, weights=weight * (1 - targets[:, bit]))
        total += np.maximum(ones, zeros).sum()
    return total / targets.shape[1]


@pytest.mark.parametrize("env_id", ["memtasks/Copy-Easy-v0", "memtasks/RepeatCopy-Easy-v0"])
def test_easy_defeats_a_frame_stack_of_its_own_length(env_id):
    """A stack of the last max_length observations never holds a word the policy must output
    (the word is max_length + 1 or more steps back), so even the best such policy stays far
    below the threshold; a stack as long as the whole episode reaches it."""
    task = gym.make(env_id).unwrapped.task
    best = best_frame_stack_return(task, task.max_length)
    assert best < SOLVED_RETURN - 0.25, best
    if "Repeat" not in env_id:
        assert best == pytest.approx(0.5, abs=0.01)  # every scored bit is a coin flip
    full = best_frame_stack_return(task, task.max_episode_length())
    assert full > SOLVED_RETURN, full


def test_the_old_small_config_falls_to_a_short_frame_stack():
    """Why Easy starts at length 2: in the issue's small config (2 bits, lengths 1..3) a stack of
    3 frames already recovers every length-1 episode (1/3 of them)."""
    old = gym.make("memtasks/Copy-v0", bits=2, min_length=1, max_length=3).unwrapped.task
    assert best_frame_stack_return(old, 3) == pytest.approx(1 / 3 + 2 / 3 * 0.5, abs=0.01)


# ----------------------------------------------------------------------------------------------
# Curriculum hook


def _lengths_after(env, resets: int) -> set[int]:
    lengths = set()
    for _ in range(resets):
        env.reset()
        lengths.add(env.unwrapped.episode_length)
    return lengths


def test_set_difficulty_changes_every_later_reset_of_a_single_env():
    env = gym.make("memtasks/Copy-v0", bits=3, max_length=2)
    env.reset(seed=0)
    assert _lengths_after(env, 30) == {3, 5}
    env.unwrapped.set_difficulty(min_length=6, max_length=7)
    assert env.unwrapped.difficulty() == {"min_length": 6, "max_length": 7}
    assert _lengths_after(env, 30) == {13, 15}
    env.reset(options={"length": 1})  # options still pin one episode
    assert env.unwrapped.episode_length == 3
    assert _lengths_after(env, 10) <= {13, 15}
    env.unwrapped.set_difficulty(max_length=9)  # keys not given keep their value
    assert env.unwrapped.difficulty() == {"min_length": 6, "max_length": 9}


@pytest.mark.parametrize(
    ("env_id", "kwargs", "ranges", "message"),
    [
        ("memtasks/Copy-v0", {}, {"bits": 3}, r"unknown keys \['bits'\]"),
        ("memtasks/Copy-v0", {}, {"min_length": 30}, r"min_length must be <= max_length"),
        ("memtasks/Copy-v0", {}, {"max_length": 10**6}, r"max_length must be an integer in"),
        (
            "memtasks/RepeatCopy-v0",
            {"normalisation": "standard", "max_repeats": 3},
            {"max_repeats": 9},  # the count's normalisation, hence its low bound, would change
            r"would change the observation or action space",
        ),
    ],
)
def test_set_difficulty_refuses_bad_ranges_and_leaves_the_env_unchanged(
    env_id, kwargs, ranges, message
):
    env = gym.make(env_id, **kwargs).unwrapped
    before = env.difficulty()
    with pytest.raises(ValueError, match=message):
        env.set_difficulty(**ranges)
    assert env.difficulty() == before


@pytest.mark.parametrize("mode", ["vector_entry_point", "sync"])
def test_set_difficulty_through_call_changes_the_autoresets_of_a_vector_env(mode):
    envs = gym.make_vec(
        "memtasks/RepeatCopy-v0", 4, vectorization_mode=mode, max_length=2, max_repeats=1
    )
    observations, info = envs.reset(seed=0)
    envs.call("set_difficulty", min_length=5, max_length=5, min_repeats=3, max_repeats=3)
    assert envs.call("difficulty")[0]["max_repeats"] == 3
    lengths, started = [], np.zeros(4, dtype=bool)
    steps = np.zeros(4, dtype=int)
    for _ in range(80):  # old episodes run out (<= 7 steps), new ones are 5 * 4 + 3 = 23 steps
        observations, rewards, terminated, truncated, info = envs.step(info["target"])
        steps += 1
        for row in np.flatnonzero(terminated):
            if started[row]:
                lengths.append(int(steps[row]))
            started[row] = True
        steps[terminated] = -1  # NEXT_STEP: the next step starts the new episode
    assert lengths and set(lengths) == {23}


def test_sb3_env_method_reaches_set_difficulty():
    pytest.importorskip("stable_baselines3", reason="stable-baselines3 is not installed")
    from stable_baselines3.common.env_util import make_vec_env

    venv = make_vec_env("memtasks:memtasks/Copy-v0", n_envs=2, env_kwargs=dict(max_length=2))
    venv.env_method("set_difficulty", min_length=4, max_length=4)
    assert venv.env_method("difficulty") == [{"min_length": 4, "max_length": 4}] * 2


# ----------------------------------------------------------------------------------------------
# Action spaces


@pytest.mark.parametrize("env_id", COPY_IDS)
@pytest.mark.parametrize(
    ("kind", "space"),
    [
        ("multibinary", gym.spaces.MultiBinary(3)),
        ("multidiscrete", gym.spaces.MultiDiscrete([2, 2, 2])),
        ("discrete", gym.spaces.Discrete(8)),
    ],
)
def test_action_space_kwarg(env_id, kind, space):
    bits = 3 if "Repeat" not in env_id else 2  # O = 3 either way
    env = gym.make(env_id, bits=bits, action_space=kind, reward_mode="bit")
    assert env.action_space == space
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)
    powers = 1 << np.arange(3)
    to_action = (lambda t: int(np.dot(t > 0.5, powers))) if kind == "discrete" else (lambda t: t)
    if kind == "multidiscrete":
        to_action = lambda t: t.astype(np.int64)  # noqa: E731
    _, info = env.reset(seed=1)
    total, terminated = 0.0, False
    while not terminated:
        _, reward, terminated, _, info = env.step(to_action(info["target"]))
        total += reward
    assert total == 1.0 and info["is_perfect"]

    vector = gym.make_vec(
        env_id, 2, vectorization_mode="vector_entry_point", bits=bits, action_space=kind
    )
    assert vector.single_action_space == space
    vector.reset(seed=0)
    vector.step(vector.action_space.sample())


def test_discrete_actions_play_bits_least_significant_first_in_single_and_vector_envs():
    env = gym.make("memtasks/Copy-v0", bits=3, action_space="discrete", render_mode="ansi")
    env.reset(seed=0, options={"length": 1})
    env.step(6)  # bits 0, 1, 1
    assert env.render().splitlines()[-3:] == ["pred 0  |.  |", "pred 1  |1  |", "pred 2  |1  |"]
    vector = BitSequenceVectorEnv(
        env.unwrapped.task, num_envs=2, action_space="discrete", render_mode="ansi"
    )
    vector.reset(seed=0, options={"length": 1})
    vector.step(np.array([6, 1]))
    assert vector.render()[1].splitlines()[-3:] == [
        "pred 0  |1  |",
        "pred 1  |.  |",
        "pred 2  |.  |",
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"action_space": "box"}, r"action_space must be one of \('multibinary'"),
        ({"action_space": "discrete", "bits": 17}, r"at most 16 bits"),
    ],
)
def test_bad_action_space_kwarg(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gym.make("memtasks/Copy-v0", **kwargs)
    with pytest.raises(ValueError, match=message):
        gym.make_vec("memtasks/Copy-v0", 2, vectorization_mode="vector_entry_point", **kwargs)


# ----------------------------------------------------------------------------------------------
# Input validation and upper limits (issue 11, "Envs")

BAD_ACTIONS = [
    (np.array([np.nan, 0.0, 1.0]), r"action must be finite"),
    (np.array([np.inf, 0.0, 1.0]), r"action must be finite"),
    (np.array([2, 0, 1]), r"bits or probabilities in \[0, 1\]"),
    (np.array([-1, 0, 1]), r"bits or probabilities in \[0, 1\]"),
    (np.array([1.0001, 0.0, 1.0]), r"bits or probabilities in \[0, 1\]"),
    (np.array(["1", "0", "1"]), r"action must hold numbers"),
]


@pytest.mark.parametrize(("action", "message"), BAD_ACTIONS)
def test_non_finite_and_out_of_range_actions_are_value_errors(action, message):
    env = gym.make("memtasks/Copy-v0", bits=3)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        env.step(action)
    env.step(np.array([0.0, 0.5, 1.0]))  # probabilities in [0, 1] stay accepted
    vector = gym.make_vec("memtasks/Copy-v0", 2, vectorization_mode="vector_entry_point", bits=3)
    vector.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        vector.step(np.stack([action, action]))


@pytest.mark.parametrize("action", [8, -1, 2.0, np.array([1, 2])])
def test_bad_discrete_actions_are_value_errors(action):
    env = gym.make("memtasks/Copy-v0", bits=3, action_space="discrete")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action must (be an integer in \[0, 8\)|have shape)"):
        env.step(action)


def test_numpy_integers_are_accepted_everywhere():
    env = gym.make("memtasks/Copy-v0", bits=np.int64(3), max_length=np.int32(4))
    check_env(env.unwrapped)
    assert env.action_space == gym.spaces.MultiBinary(3)
    env.reset(seed=0, options={"length": np.int64(5)})
    assert env.unwrapped.episode_length == 11
    vector = gym.make_vec(
        "memtasks/RepeatCopy-v0", np.int64(2), vectorization_mode="vector_entry_point",
        bits=np.int16(3), max_repeats=np.uint8(3),
    )  # fmt: skip
    vector.reset(seed=0)
    vector.step(vector.action_space.sample())


@pytest.mark.parametrize(
    ("env_id", "kwargs", "message"),
    [
        ("memtasks/Copy-v0", {"bits": 10**7}, r"bits must be an integer in \[1, 1024\]"),
        ("memtasks/Copy-v0", {"max_length": 10**12}, r"max_length must be an integer in"),
        ("memtasks/RepeatCopy-v0", {"max_repeats": 10**6}, r"max_repeats must be an integer in"),
        (
            "memtasks/Copy-v0",
            {"bits": 1024, "max_length": 10_000},
            r"an episode of 20001 steps x 2049 channels .* exceeds the limit of 16,777,216",
        ),
    ],
)
@pytest.mark.parametrize("vectorised", [False, True])
def test_upper_limits_at_make_time(env_id, kwargs, message, vectorised):
    with pytest.raises(ValueError, match=message):
        if vectorised:
            gym.make_vec(env_id, 2, vectorization_mode="vector_entry_point", **kwargs)
        else:
            gym.make(env_id, **kwargs)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"length": 10**7}, r"options\['length'\] must be an integer in \[1, 10000\]"),
        ({"repeats": 10**4}, r"options\['repeats'\] must be an integer in \[1, 1000\]"),
        ({"length": 10_000, "repeats": 1000}, r"exceeds the limit of 16,777,216 values"),
    ],
)
def test_upper_limits_of_reset_options(options, message):
    env = gym.make("memtasks/RepeatCopy-v0")
    with pytest.raises(ValueError, match=message):
        env.reset(seed=0, options=options)
    vector = gym.make_vec("memtasks/RepeatCopy-v0", 2, vectorization_mode="vector_entry_point")
    with pytest.raises(ValueError, match=message):
        vector.reset(seed=0, options=options)


# ----------------------------------------------------------------------------------------------
# Seeds of the native vector env


def _first_observations(env, seed) -> np.ndarray:
    observations, info = env.reset(seed=seed)
    frames = [observations]
    for _ in range(6):
        observations, *_ = env.step(np.zeros(env.action_space.shape, np.int8))
        frames.append(observations)
    return np.stack(frames)


def test_every_seed_of_a_list_counts():
    env = gym.make_vec("memtasks/Copy-v0", 2, vectorization_mode="vector_entry_point")
    a = _first_observations(env, [1, 2])
    assert np.array_equal(a, _first_observations(env, [1, 2]))
    assert not np.array_equal(a, _first_observations(env, [1, 99]))
    assert not np.array_equal(a, _first_observations(env, [3, 2]))
    assert not np.array_equal(a, _first_observations(env, 1))


@pytest.mark.parametrize("seed", [[1], [1, 2, 3], [1, None], [1, -2], [1, 2.5]])
def test_a_bad_seed_list_is_a_value_error(seed):
    env = gym.make_vec("memtasks/Copy-v0", 2, vectorization_mode="vector_entry_point")
    with pytest.raises(ValueError, match=r"seed must be an int or a list of 2 ints >= 0"):
        env.reset(seed=seed)


# ----------------------------------------------------------------------------------------------
# Rendering on a canvas of fixed size


def _frames(env, lengths) -> list[np.ndarray]:
    frames = []
    for length in lengths:
        _, info = env.reset(seed=0, options={"length": length})
        frames.append(env.render())
        terminated = False
        while not terminated:
            _, _, terminated, _, info = env.step(info["target"])
            frames.append(env.render())
    return frames


def test_rgb_frames_keep_one_size_whatever_the_episode_length():
    env = gym.make("memtasks/Copy-v0", bits=3, max_length=5, render_mode="rgb_array")
    frames = _frames(env, [1, 3, 5, 10])  # 10: beyond the training range, scrolls
    assert {frame.shape for frame in frames} == {((4 + 6 + 2) * 8, 11 * 8, 3)}
    # A length-1 episode leaves the canvas's right part blank (background colour).
    first_end = frames[3]
    assert (first_end[:, 3 * 8 :] == first_end[0, -1]).all()
    # The scrolled frame ends at the newest step: its last column is the final prediction.
    assert not np.array_equal(frames[-1][:, -8:], frames[-2][:, -8:])

    vector = gym.make_vec(
        "memtasks/Copy-v0", 2, vectorization_mode="vector_entry_point", bits=3, max_length=5,
        render_mode="rgb_array",
    )  # fmt: skip
    _, info = vector.reset(seed=0)
    shapes = set()
    for _ in range(30):
        _, _, _, _, info = vector.step(info["target"])
        shapes |= {frame.shape for frame in vector.render()}
    assert shapes == {((4 + 6 + 2) * 8, 11 * 8, 3)}


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_human_render_mode_draws_with_matplotlib(monkeypatch):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    env = gym.make("memtasks/Copy-v0", bits=2, render_mode="human")
    assert env.unwrapped.render_mode == "human"  # native: no pygame HumanRendering wrapper
    _, info = env.reset(seed=0)
    env.step(info["target"])
    image = env.unwrapped._figure.axes[0].images[0].get_array()
    assert image.shape == ((3 + 2 * 2 + 2) * 8, 41 * 8, 3)  # max_length 20: T_max = 41
    env.close()
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    with pytest.raises(ValueError, match=r"render_mode='human' draws with matplotlib"):
        gym.make("memtasks/Copy-v0", render_mode="human")


# ----------------------------------------------------------------------------------------------
# Solved threshold


SOLVABLE_IDS = [i for i in memtasks.ALL_IDS if not i.startswith(memtasks.UNSOLVABLE_IDS[0][:-3])]


@pytest.mark.parametrize("env_id", [i for i in memtasks.ALL_IDS if "DynamicNGrams" in i])
def test_dynamic_ngrams_has_no_solved_threshold(env_id):
    assert gym.spec(env_id).reward_threshold is None
    assert gym.make(env_id, reward_mode="bit").spec.reward_threshold is None


@pytest.mark.parametrize("env_id", SOLVABLE_IDS)
def test_reward_threshold_in_the_rl_reward_modes(env_id):
    assert gym.spec(env_id).reward_threshold == SOLVED_RETURN
    for mode in ("bit", "vector", "sparse"):
        assert gym.make(env_id, reward_mode=mode).spec.reward_threshold == SOLVED_RETURN
    assert gym.make(env_id).spec.reward_threshold is None  # reward_mode="none" pays nothing
    vector = gym.make_vec(env_id, 2, vectorization_mode="vector_entry_point", reward_mode="bit")
    assert vector.spec.reward_threshold == SOLVED_RETURN
    vector = gym.make_vec(env_id, 2, vectorization_mode="vector_entry_point")
    assert vector.spec.reward_threshold is None
