"""The single envs: checkers, registration, determinism, episode layout, rewards, errors."""

import pickle
import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import memtasks
from memtasks.sampling import sample_copy, sample_repeat_copy

COPY_IDS = ("memtasks/Copy-v0", "memtasks/RepeatCopy-v0")  # tests that use their kwargs
ENV_KWARGS = [
    {},
    {"reward_mode": "bit", "render_mode": "rgb_array"},
    {"reward_mode": "vector", "render_mode": "ansi"},
    {"reward_mode": "sparse"},
]


def test_task_ids_are_registered_with_vector_entry_points_and_no_step_limit():
    assert memtasks.TASK_IDS[:2] == ("memtasks/Copy-v0", "memtasks/RepeatCopy-v0")
    registered = [env_id for env_id in gym.registry if env_id.startswith("memtasks/")]
    assert sorted(registered) == sorted(memtasks.ALL_IDS)
    assert {"memtasks/Copy-Easy-v0", "memtasks/RepeatCopy-Hard-v0"} <= set(memtasks.LEVEL_IDS)
    for env_id in memtasks.ALL_IDS:
        spec = gym.spec(env_id)
        assert isinstance(spec.entry_point, str) and isinstance(spec.vector_entry_point, str)
        assert spec.max_episode_steps is None
        unsolvable = any(env_id.startswith(task[:-3]) for task in memtasks.UNSOLVABLE_IDS)
        assert spec.reward_threshold == (None if unsolvable else 0.95)
    memtasks._register()  # idempotent: no error, no duplicate-registration warning


@pytest.mark.parametrize("env_id", memtasks.ALL_IDS)
@pytest.mark.parametrize("kwargs", ENV_KWARGS)
def test_gymnasium_check_env(env_id, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.make(env_id, **kwargs)
        check_env(env.unwrapped)


@pytest.mark.parametrize("env_id", memtasks.TASK_IDS)
def test_gymnasium_check_env_standard_normalisation(env_id):
    kwargs = {"normalisation": "standard", "max_repeats": 5} if "Repeat" in env_id else {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(gym.make(env_id, **kwargs).unwrapped)


@pytest.mark.parametrize("env_id", memtasks.ALL_IDS)
def test_stable_baselines3_check_env(env_id):
    sb3_checker = pytest.importorskip(
        "stable_baselines3.common.env_checker", reason="stable-baselines3 is not installed"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sb3_checker.check_env(gym.make(env_id, reward_mode="bit").unwrapped, warn=True)


def _rollout(env, seed, episodes=3):
    """Every array the env returns over a few episodes, as bytes, with seeded random actions."""
    env.action_space.seed(seed)
    record = []
    observation, info = env.reset(seed=seed)
    for _ in range(episodes):
        record += [observation.tobytes(), info["target"].tobytes(), info["mask"].tobytes()]
        terminated = False
        while not terminated:
            step = env.step(env.action_space.sample())
            observation, reward, terminated, truncated, info = step
            record += [observation.tobytes(), info["target"].tobytes(), repr(reward)]
            record += [repr(terminated), repr(truncated), repr(sorted(info))]
        record += [repr(info["bit_errors"]), repr(info["is_perfect"])]
        observation, info = env.reset()
    return record


@pytest.mark.parametrize("env_id", memtasks.ALL_IDS)
def test_same_seed_same_episodes_byte_for_byte(env_id):
    first = _rollout(gym.make(env_id, reward_mode="bit"), seed=7)
    second = _rollout(gym.make(env_id, reward_mode="bit"), seed=7)
    assert first == second
    assert first != _rollout(gym.make(env_id, reward_mode="bit"), seed=8)


@pytest.mark.parametrize(
    ("env_id", "sampler", "kwargs"),
    [
        ("memtasks/Copy-v0", sample_copy, {"bits": 3, "max_length": 4}),
        ("memtasks/RepeatCopy-v0", sample_repeat_copy, {"max_length": 3, "max_repeats": 3}),
    ],
)
def test_episode_is_the_samplers_episode(env_id, sampler, kwargs):
    """Fixed seed: the env steps through exactly sampler(default_rng(seed), 1)[0]."""
    for seed in range(4):
        batch = sampler(np.random.default_rng(seed), 1, **kwargs)
        env = gym.make(env_id, **kwargs)
        observation, info = env.reset(seed=seed)
        T = int(batch.lengths[0])
        for t in range(T):
            np.testing.assert_array_equal(observation, batch.inputs[0, t])
            np.testing.assert_array_equal(info["target"], batch.targets[0, t])
            assert info["mask"] == batch.mask[0, t]
            assert "bit_errors" not in info
            observation, reward, terminated, truncated, info = env.step(info["target"])
            assert terminated is (t == T - 1) and truncated is False
            assert isinstance(reward, float) and reward == 0.0
        assert not observation.any() and not info["target"].any() and info["mask"] == 0.0
        assert info["bit_errors"] == 0 and type(info["bit_errors"]) is int
        assert info["is_perfect"] is True
        with pytest.raises(RuntimeError, match="reset"):
            env.step(info["target"])


def _play(env, policy, options=None):
    """Return (sum of rewards in order, final info) of one episode; policy(target, t, mask)."""
    observation, info = env.reset(seed=3, options=options)
    total, terminated, t = 0.0, False, 0
    while not terminated:
        action = policy(info["target"], t, info["mask"])
        observation, reward, terminated, truncated, info = env.step(action)
        total += reward
        t += 1
    return total, info


def perfect(target, t, mask):
    return target


def all_wrong(target, t, mask):
    return 1 - target


def half_bits_wrong(target, t, mask):
    action = target.copy()
    action[: target.shape[0] // 2] = 1 - action[: target.shape[0] // 2]
    return action


def first_half_of_output_right(target, t, mask):
    # Copy with length 4: steps 5, 6 right; 7, 8 wrong (scored steps are 5..8).
    return target if t < 7 else 1 - target


@pytest.mark.parametrize(
    ("reward_mode", "policy", "expected_return", "perfect_episode"),
    [
        ("none", perfect, 0.0, True),
        ("bit", perfect, 1.0, True),
        ("vector", perfect, 1.0, True),
        ("sparse", perfect, 1.0, True),
        ("bit", all_wrong, 0.0, False),
        ("vector", all_wrong, 0.0, False),
        ("sparse", all_wrong, 0.0, False),
        ("bit", half_bits_wrong, 0.5, False),
        ("vector", half_bits_wrong, 0.0, False),
        ("bit", first_half_of_output_right, 0.5, False),
        ("vector", first_half_of_output_right, 0.5, False),
        ("sparse", first_half_of_output_right, 0.0, False),
    ],
)
def test_rewards(reward_mode, policy, expected_return, perfect_episode):
    env = gym.make("memtasks/Copy-v0", bits=4, reward_mode=reward_mode)
    total, info = _play(env, policy, options={"length": 4})
    assert total == pytest.approx(expected_return, abs=1e-12)
    assert info["is_perfect"] is perfect_episode
    if policy is all_wrong:
        assert info["bit_errors"] == 4 * 4  # 4 scored steps of 4 wrong bits
    if perfect_episode and reward_mode != "none":
        assert total == 1.0  # exactly


@pytest.mark.parametrize("reward_mode", ["bit", "vector"])
def test_perfect_return_is_exactly_one_for_every_length(reward_mode):
    env = gym.make("memtasks/RepeatCopy-v0", reward_mode=reward_mode)
    for length in range(1, 12):
        for repeats in (1, 3, 7):
            total, _ = _play(env, perfect, options={"length": length, "repeats": repeats})
            assert total == 1.0, (length, repeats)


def test_sparse_reward_only_on_the_last_step():
    env = gym.make("memtasks/Copy-v0", reward_mode="sparse")
    observation, info = env.reset(seed=0)
    rewards, terminated = [], False
    while not terminated:
        observation, reward, terminated, truncated, info = env.step(info["target"])
        rewards.append(reward)
    assert rewards[-1] == 1.0 and not any(rewards[:-1])


def test_probability_actions_are_thresholded_at_one_half():
    env = gym.make("memtasks/Copy-v0", bits=4, reward_mode="bit")
    total, info = _play(env, lambda target, t, mask: 0.1 + 0.8 * target, {"length": 3})
    assert total == 1.0 and info["is_perfect"]
    total, info = _play(env, lambda target, t, mask: target > 0.5, {"length": 3})  # bools
    assert info["is_perfect"]
    # Exactly 0.5 is a 0: an all-0.5 prediction gets exactly the scored 1-bits wrong.
    unwrapped = env.unwrapped
    _, info = _play(env, lambda target, t, mask: np.full(4, 0.5), {"length": 3})
    episode = unwrapped._episode
    ones_scored = int((episode.targets[0] * episode.mask[0, :, None]).sum())
    assert ones_scored > 0 and info["bit_errors"] == ones_scored


@pytest.mark.parametrize("env_id", COPY_IDS)
@pytest.mark.parametrize("bad_action", [np.zeros(3), np.zeros((1, 5)), np.zeros(9), 1])
def test_action_of_wrong_shape_is_a_value_error(env_id, bad_action):
    env = gym.make(env_id, bits=4).unwrapped  # RepeatCopy: O = 5; Copy: O = 4
    env.reset(seed=0)
    if np.shape(bad_action) == (env.task.output_size,):
        bad_action = np.zeros(env.task.output_size + 1)
    with pytest.raises(ValueError, match=r"action must have shape \((4|5),\)"):
        env.step(bad_action)


BAD_KWARGS = [
    ("memtasks/Copy-v0", {"bits": 0}, r"bits must be an integer in \[1, 1024\], got 0"),
    ("memtasks/Copy-v0", {"bits": 2.5}, r"bits must be an integer in \[1, 1024\], got 2.5"),
    (
        "memtasks/Copy-v0",
        {"min_length": 0},
        r"min_length must be an integer in \[1, 10000\], got 0",
    ),
    (
        "memtasks/Copy-v0",
        {"max_length": -3},
        r"max_length must be an integer in \[1, 10000\], got -3",
    ),
    ("memtasks/Copy-v0", {"min_length": 5, "max_length": 4}, r"min_length must be <= max_length"),
    ("memtasks/Copy-v0", {"reward_mode": "dense"}, r"reward_mode must be one of \('none', 'bit'"),
    ("memtasks/Copy-v0", {"render_mode": "rgb"}, r"render_mode must be None or one of"),
    ("memtasks/RepeatCopy-v0", {"bits": -1}, r"bits must be an integer in \[1, 1024\]"),
    ("memtasks/RepeatCopy-v0", {"min_length": 3}, r"min_length must be <= max_length"),
    (
        "memtasks/RepeatCopy-v0",
        {"min_repeats": 0},
        r"min_repeats must be an integer in \[1, 1000\]",
    ),
    (
        "memtasks/RepeatCopy-v0",
        {"max_repeats": True},
        r"max_repeats must be an integer in \[1, 1000\]",
    ),
    ("memtasks/RepeatCopy-v0", {"min_repeats": 4}, r"min_repeats must be <= max_repeats"),
    ("memtasks/RepeatCopy-v0", {"repeat_norm": -1.0}, r"repeat_norm must be a finite number > 0"),
    ("memtasks/RepeatCopy-v0", {"repeat_norm": float("inf")}, r"repeat_norm must be a finite"),
    ("memtasks/RepeatCopy-v0", {"normalisation": "minmax"}, r"normalisation must be one of"),
    ("memtasks/RepeatCopy-v0", {"zero_items": -0.1}, r"zero_items must be a number in \[0, 1\]"),
    ("memtasks/RepeatCopy-v0", {"reward_mode": None}, r"reward_mode must be one of"),
]


@pytest.mark.filterwarnings("ignore:.*render_mode='rgb' that is not in the possible")
@pytest.mark.parametrize(("env_id", "kwargs", "message"), BAD_KWARGS)
@pytest.mark.parametrize("vectorised", [False, True])
def test_bad_kwargs_raise_at_make_time(env_id, kwargs, message, vectorised):
    with pytest.raises(ValueError, match=message):
        if vectorised:
            gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point", **kwargs)
        else:
            gym.make(env_id, **kwargs)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"length": 0}, r"options\['length'\] must be an integer in \[1, 10000\], got 0"),
        ({"repeats": 2.5}, r"options\['repeats'\] must be an integer in \[1, 1000\]"),
        ({"speed": 3}, r"unknown reset option 'speed'; allowed options: \('length', 'repeats'\)"),
    ],
)
def test_bad_options_are_value_errors(options, message):
    env = gym.make("memtasks/RepeatCopy-v0")
    with pytest.raises(ValueError, match=message):
        env.reset(seed=0, options=options)
    with pytest.raises(ValueError, match="unknown reset option 'repeats'"):
        gym.make("memtasks/Copy-v0").reset(options={"repeats": 2})


@pytest.mark.parametrize("normalisation", ["linear", "standard", "none"])
def test_options_pin_difficulty_beyond_the_training_range(normalisation):
    env = gym.make("memtasks/RepeatCopy-v0", normalisation=normalisation, max_repeats=3)
    for options, steps in [({"length": 20, "repeats": 1}, 43), ({"length": 2, "repeats": 30}, 65)]:
        observation, info = env.reset(seed=0, options=options)
        count = 0
        terminated = False
        while not terminated:
            assert env.observation_space.contains(observation), observation
            observation, reward, terminated, truncated, info = env.step(info["target"])
            count += 1
        assert count == steps
    # The next plain reset is back in the training range (at most 3 * 4 + 3 = 15 steps).
    env.reset()
    assert env.unwrapped.episode_length <= 15
    copy = gym.make("memtasks/Copy-v0")
    copy.reset(seed=1, options={"length": 50})
    assert copy.unwrapped.episode_length == 101


def test_standard_normalisation_emits_negative_counts_inside_the_space():
    env = gym.make("memtasks/RepeatCopy-v0", normalisation="standard", max_repeats=5)
    observation, info = env.reset(seed=0, options={"length": 1, "repeats": 1})
    observation, *_ = env.step(info["target"])
    observation, *_ = env.step(info["target"])  # step 2 holds the count for length 1
    assert observation[-1] < 0 and env.observation_space.contains(observation)
    assert env.observation_space.low[-1] == observation[-1]


def test_render_ansi_and_rgb_array():
    env = gym.make("memtasks/Copy-v0", bits=2, render_mode="ansi")
    observation, info = env.reset(seed=0, options={"length": 2})
    for _ in range(5):
        observation, reward, terminated, truncated, info = env.step(np.array([1, 0]))
    text = env.render()
    assert text.splitlines()[2] == "in 2    |..1..|"  # delimiter channel
    assert text.splitlines()[3] == "mask    |...11|"
    assert text.splitlines()[-2] == "pred 0  |11111|"
    assert len(text.splitlines()) == 3 + 1 + 2 + 2

    env = gym.make("memtasks/RepeatCopy-v0", render_mode="rgb_array")
    observation, info = env.reset(seed=0, options={"length": 2, "repeats": 2})
    frames = [env.render()]
    terminated = False
    while not terminated:
        observation, reward, terminated, truncated, info = env.step(info["target"])
        frames.append(env.render())
    # Fixed size per episode length: (I + 2 * O + 2) cells high, T cells wide, 8 px a cell.
    assert {frame.shape for frame in frames} == {((6 + 10 + 2) * 8, 9 * 8, 3)}
    assert all(frame.dtype == np.uint8 for frame in frames)
    assert not np.array_equal(frames[0], frames[-1])


def test_pickling_mid_episode():
    env = gym.make("memtasks/RepeatCopy-v0", reward_mode="bit")
    observation, info = env.reset(seed=5, options={"length": 2, "repeats": 3})
    observation, *_, info = env.step(info["target"])
    clone = pickle.loads(pickle.dumps(env))
    for _ in range(4):
        action = np.ones(5)
        a, b = env.step(action), clone.step(action)
        np.testing.assert_array_equal(a[0], b[0])
        assert a[1:4] == b[1:4]
        np.testing.assert_array_equal(a[4]["target"], b[4]["target"])


BLOCK_TORCH = """
import sys
class BlockTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this test")
sys.meta_path.insert(0, BlockTorch())
try:
    import torch
except ImportError:
    pass
else:
    raise SystemExit("torch was not blocked")
import gymnasium
assert "memtasks" not in sys.modules
env = gymnasium.make("memtasks:memtasks/RepeatCopy-v0")  # no prior import of memtasks
env.reset(seed=0)
vector_env = gymnasium.make_vec("memtasks/Copy-v0", num_envs=3)
vector_env.reset(seed=0)
vector_env.step(vector_env.action_space.sample())
assert "memtasks" in sys.modules and "torch" not in sys.modules, sorted(sys.modules)
print("ok")
"""


def test_memtasks_imports_and_makes_envs_with_torch_blocked():
    result = subprocess.run(
        [sys.executable, "-c", BLOCK_TORCH], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
