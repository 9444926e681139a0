"""The native vector envs: Gymnasium's vector API, same semantics as SyncVectorEnv, sampler data."""

import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv

import memtasks
from memtasks.sampling import sample_copy, sample_repeat_copy
from memtasks.vector import BitSequenceVectorEnv, CopyVectorEnv, RepeatCopyVectorEnv


def _whole_episodes(env, seed, options=None):
    """Step until every env has terminated once (as the supervised agent does).

    Returns per-env lists of (observation, target, mask) up to and including the final step, and
    the per-env final infos (bit_errors, is_perfect).
    """
    observations, info = env.reset(seed=seed, options=options)
    B = observations.shape[0]
    alive = np.ones(B, dtype=bool)
    steps = [[] for _ in range(B)]
    finals = [None] * B
    while alive.any():
        for b in np.flatnonzero(alive):
            steps[b].append((observations[b], info["target"][b], info["mask"][b]))
        observations, rewards, terminated, truncated, info = env.step(info["target"])
        assert not truncated.any()
        for b in np.flatnonzero(alive & terminated):
            assert info["_bit_errors"][b] and info["_is_perfect"][b]
            finals[b] = (int(info["bit_errors"][b]), bool(info["is_perfect"][b]))
        alive &= ~terminated
    return steps, finals


@pytest.mark.parametrize("env_id", memtasks.TASK_IDS)
@pytest.mark.parametrize("mode", ["vector_entry_point", "sync", "async"])
def test_make_vec_in_every_mode(env_id, mode):
    num_envs = 2 if mode == "async" else 5
    env = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode, reward_mode="bit")
    try:
        if mode == "vector_entry_point":
            assert isinstance(env.unwrapped, BitSequenceVectorEnv)
        assert env.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
        output_size = env.single_action_space.n
        steps, finals = _whole_episodes(env, seed=0)
        assert len(steps) == num_envs
        for episode, final in zip(steps, finals, strict=True):
            assert final == (0, True)
            assert episode[0][1].shape == (output_size,)
            assert all(env.single_observation_space.contains(obs) for obs, _, _ in episode)
    finally:
        env.close()


@pytest.mark.parametrize(
    ("env_id", "sampler", "kwargs"),
    [
        ("memtasks/Copy-v0", sample_copy, {"bits": 3, "max_length": 6}),
        ("memtasks/RepeatCopy-v0", sample_repeat_copy, {"max_length": 3, "max_repeats": 4}),
    ],
)
def test_first_episodes_are_the_samplers_batch(env_id, sampler, kwargs):
    """reset(seed=s) starts exactly the episodes of sampler(default_rng(s), B): one source."""
    batch = sampler(np.random.default_rng(11), 6, **kwargs)
    env = gym.make_vec(env_id, num_envs=6, vectorization_mode="vector_entry_point", **kwargs)
    steps, finals = _whole_episodes(env, seed=11)
    for b in range(6):
        T = int(batch.lengths[b])
        assert len(steps[b]) == T
        np.testing.assert_array_equal(np.stack([s[0] for s in steps[b]]), batch.inputs[b, :T])
        np.testing.assert_array_equal(np.stack([s[1] for s in steps[b]]), batch.targets[b, :T])
        np.testing.assert_array_equal([s[2] for s in steps[b]], batch.mask[b, :T])
        assert finals[b] == (0, True)


@pytest.mark.parametrize("env_id", memtasks.TASK_IDS)
@pytest.mark.parametrize("reward_mode", ["bit", "vector", "sparse"])
def test_batch_of_one_equals_the_single_env_step_by_step(env_id, reward_mode):
    """Same seed, same actions: the native vector env of 1 and the single env agree exactly."""
    single = gym.make(env_id, reward_mode=reward_mode)
    vector = gym.make_vec(
        env_id, 1, vectorization_mode="vector_entry_point", reward_mode=reward_mode
    )
    actions = np.random.default_rng(0).random((1000, single.action_space.n))
    observation, info = single.reset(seed=4)
    observations, infos = vector.reset(seed=4)
    for action in actions:
        np.testing.assert_array_equal(observations[0], observation)
        np.testing.assert_array_equal(infos["target"][0], info["target"])
        assert infos["mask"][0] == info["mask"]
        observation, reward, terminated, truncated, info = single.step(action)
        observations, rewards, terminateds, _, infos = vector.step(action[None])
        assert rewards[0] == reward and terminateds[0] == terminated
        if terminated:
            assert infos["bit_errors"][0] == info["bit_errors"]
            assert infos["is_perfect"][0] == info["is_perfect"]
            observation, info = single.reset()  # NEXT_STEP: the vector env resets next step
            observations, rewards, terminateds, _, infos = vector.step(action[None])
            assert rewards[0] == 0.0 and not terminateds[0]
            # The streams part here: the vector env's generator drew nothing at reset(seed).
            break
    else:
        pytest.fail("no episode ended")


def _trace(env, steps, length):
    """Keys, dtypes, shapes of infos and the termination flags over `steps` oracle steps."""
    observations, info = env.reset(seed=0, options={"length": length})
    trace = [(observations.dtype, sorted(info), [(info[k].dtype, info[k].shape) for k in info])]
    for _ in range(steps):
        observations, rewards, terminated, truncated, info = env.step(info["target"])
        described = []
        for key in sorted(info):
            value = info[key]
            if isinstance(value, dict):
                value = {
                    k: (v.dtype, v.shape, v.tolist() if k.startswith("_") else None)
                    for k, v in value.items()
                }
                described.append((key, sorted(value.items())))
            elif key == "final_obs":
                described.append((key, value.dtype, [v is None for v in value]))
            else:
                flags = value.tolist() if key.startswith("_") or key == "is_perfect" else None
                described.append((key, value.dtype, value.shape, flags))
        trace.append((rewards.dtype, terminated.tolist(), truncated.tolist(), described))
    return trace


@pytest.mark.parametrize("autoreset_mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
@pytest.mark.parametrize("env_id", ["memtasks/Copy-v0", "memtasks/RepeatCopy-v0"])
def test_info_batching_and_autoreset_match_sync_vector_env(env_id, autoreset_mode):
    """Every first episode has T = 7 steps, so the native and Sync traces must agree exactly:
    info keys, dtypes, shapes, `_key` flags, termination flags, final_obs/final_info."""
    # Copy: length 3 -> T = 7. RepeatCopy: length 2, one repeat -> T = 2 * 2 + 3 = 7.
    kwargs = {"reward_mode": "bit"} | ({"max_repeats": 1} if "Repeat" in env_id else {})
    native = gym.make_vec(
        env_id, 3, vectorization_mode="vector_entry_point", autoreset_mode=autoreset_mode, **kwargs
    )
    sync = gym.make_vec(
        env_id,
        3,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": autoreset_mode},
        **kwargs,
    )
    length = 3 if env_id == "memtasks/Copy-v0" else 2
    traced_native = _trace(native, 9, length)  # the end, then two steps of new episodes
    assert traced_native == _trace(sync, 9, length)
    assert [any(step[1]) for step in traced_native[1:]] == [False] * 6 + [True, False, False]


def test_next_step_autoreset_ignores_the_action_and_starts_a_new_episode():
    env = CopyVectorEnv(num_envs=2, bits=2, reward_mode="bit")
    observations, info = env.reset(seed=0, options={"length": 1})  # T = 3
    for _ in range(3):
        observations, rewards, terminated, truncated, info = env.step(info["target"])
    assert terminated.tolist() == [True, True] and not observations.any()
    assert info["bit_errors"].tolist() == [0, 0] and info["is_perfect"].tolist() == [True, True]
    observations, rewards, terminated, truncated, info = env.step(np.ones((2, 2)))
    assert rewards.tolist() == [0.0, 0.0] and terminated.tolist() == [False, False]
    assert "bit_errors" not in info
    # New episodes in the training range (1..20), starting at step 0: the delimiter is not yet seen.
    assert env._time.tolist() == [0, 0] and (env._lengths >= 3).all()
    np.testing.assert_array_equal(observations, env._inputs[:, 0])


def test_same_step_autoreset_reports_final_obs_and_final_info():
    env = RepeatCopyVectorEnv(num_envs=2, autoreset_mode="SameStep", reward_mode="sparse")
    observations, info = env.reset(seed=0, options={"length": 1, "repeats": 1})  # T = 5
    for _ in range(4):
        observations, rewards, terminated, truncated, info = env.step(info["target"])
        assert not terminated.any()
    wrong = info["target"].copy()
    wrong[1] = 1 - wrong[1]
    observations, rewards, terminated, truncated, info = env.step(wrong)
    assert terminated.tolist() == [True, True] and rewards.tolist() == [1.0, 0.0]
    final = info["final_info"]
    assert final["bit_errors"].tolist() == [0, 5] and final["is_perfect"].tolist() == [True, False]
    assert info["_final_obs"].all() and not info["final_obs"][0].any()
    assert observations[:, 4].tolist() == [1.0, 1.0]  # the new episodes' start flags
    assert info["mask"].tolist() == [0.0, 0.0]


def test_disabled_autoreset_needs_a_reset_mask():
    env = CopyVectorEnv(num_envs=3, autoreset_mode=AutoresetMode.DISABLED)
    observations, info = env.reset(seed=0, options={"length": 1})
    for _ in range(3):
        observations, rewards, terminated, truncated, info = env.step(info["target"])
    with pytest.raises(RuntimeError, match="reset_mask"):
        env.step(info["target"])
    reset_mask = np.array([True, False, True])
    observations, info = env.reset(options={"reset_mask": reset_mask, "length": 2})
    assert info["_target"].tolist() == [True, False, True]
    assert env._lengths.tolist() == [5, 3, 5] and env._time.tolist() == [0, 3, 0]


def test_reset_options_pin_the_batch_beyond_the_training_range_and_grow_the_buffer():
    env = RepeatCopyVectorEnv(num_envs=4)
    env.reset(seed=0, options={"length": 10, "repeats": 9})
    assert env._lengths.tolist() == [103] * 4 and env._inputs.shape[1] >= 104
    steps, finals = _whole_episodes(env, seed=1, options={"length": 30})
    assert {len(episode) for episode in steps} <= {30 * 2 + 3, 30 * 3 + 3}


def test_probabilities_are_thresholded_and_wrong_shapes_rejected():
    env = CopyVectorEnv(num_envs=3, bits=4, reward_mode="bit")
    observations, info = env.reset(seed=2)
    total = np.zeros(3)
    alive = np.ones(3, dtype=bool)
    while alive.any():
        observations, rewards, terminated, truncated, info = env.step(0.2 + 0.6 * info["target"])
        total += rewards * alive
        alive &= ~terminated
    assert total.tolist() == [1.0, 1.0, 1.0]
    for bad in (np.zeros((3, 5)), np.zeros(4), np.zeros((2, 4))):
        with pytest.raises(ValueError, match=r"action must have shape \(3, 4\)"):
            env.step(bad)


@pytest.mark.parametrize("env_id", memtasks.ALL_IDS)
def test_native_vector_env_is_deterministic_and_picklable(env_id):
    def run(env, actions_seed=0):
        rng = np.random.default_rng(actions_seed)
        out = [env.reset(seed=3)[0].tobytes()]
        for _ in range(30):
            observations, rewards, terminated, _, info = env.step(
                rng.random((4, env.single_action_space.n))
            )
            out += [
                observations.tobytes(),
                rewards.tobytes(),
                terminated.tobytes(),
                info["target"].tobytes(),
            ]
        return out

    def make():
        return gym.make_vec(env_id, 4, vectorization_mode="vector_entry_point", reward_mode="bit")

    assert run(make()) == run(make())
    env = make()
    env.reset(seed=9)
    clone = pickle.loads(pickle.dumps(env))
    actions = np.ones((4, env.single_action_space.n))
    for _ in range(10):
        a, b = env.step(actions), clone.step(actions)
        for x, y in zip(a[:4], b[:4], strict=True):
            np.testing.assert_array_equal(x, y)


def test_vector_render_gives_one_frame_per_env():
    env = RepeatCopyVectorEnv(num_envs=2, render_mode="rgb_array")
    observations, info = env.reset(seed=0, options={"length": 2, "repeats": 2})
    env.step(info["target"])
    frames = env.render()
    assert len(frames) == 2 and frames[0].shape == ((6 + 10 + 2) * 8, 9 * 8, 3)
    text_env = CopyVectorEnv(num_envs=2, render_mode="ansi")
    text_env.reset(seed=0)
    assert all(isinstance(frame, str) for frame in text_env.render())


def test_sync_vector_env_over_single_envs_works_with_the_same_loop():
    env = SyncVectorEnv([lambda: gym.make("memtasks/Copy-v0", bits=3) for _ in range(3)])
    steps, finals = _whole_episodes(env, seed=0)
    assert finals == [(0, True)] * 3
    assert all(len(episode) % 2 == 1 for episode in steps)


def test_autoresets_load_the_samplers_next_batch_in_order():
    """After reset(seed=s)'s batch of B, autoresets take the episodes of the sampler's next call
    (a pool of max(4 * B, 64)) in order; envs ending on the same step in env order."""
    rng = np.random.default_rng(5)
    first = sample_copy(rng, 2, bits=3, max_length=4)
    pool = sample_copy(rng, 64, bits=3, max_length=4)
    env = CopyVectorEnv(num_envs=2, bits=3, max_length=4)
    observations, info = env.reset(seed=5)
    np.testing.assert_array_equal(observations, first.inputs[:, 0])
    restarts = []  # (first observation, whole episode loaded) in the order of the autoresets
    while len(restarts) < 3:
        observations, _, _, _, info = env.step(info["target"])
        restarts += [
            (observations[b], env._inputs[b, : env._lengths[b]].copy(), env._lengths[b])
            for b in np.flatnonzero(env._time == 0)
        ]
    for k, (observation, inputs, length) in enumerate(restarts[:3]):
        assert length == pool.lengths[k]
        np.testing.assert_array_equal(observation, pool.inputs[k, 0])
        np.testing.assert_array_equal(inputs, pool.inputs[k, :length])
