"""The tasks in other RL codebases: Stable-Baselines3, sb3-contrib, TorchRL, Gymnasium's wrappers,
and the action wrappers of ``memagents.rl`` for libraries that cannot take MultiBinary actions.

Each library run is a few thousand environment steps; the learning check of RecurrentPPO is slow.
"""

from __future__ import annotations

import warnings
from functools import partial

import gymnasium as gym
import numpy as np
import pytest
import torch

from memtasks.wrappers import MultiBinaryToDiscrete, MultiBinaryToMultiDiscrete

SMALL = dict(bits=2, min_length=1, max_length=3)
QUALIFIED = "memtasks:memtasks/Copy-v0"
COPY_IDS = ("memtasks/Copy-v0", "memtasks/RepeatCopy-v0")  # tests that pass their kwargs


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def oracle_episode(env: gym.Env, to_action, seed: int = 0) -> tuple[float, dict]:
    """Play the target the info announces (mapped by ``to_action``); returns (return, last info)."""
    _, info = env.reset(seed=seed)
    total, terminated, truncated = 0.0, False, False
    while not (terminated or truncated):
        _, reward, terminated, truncated, info = env.step(to_action(info["target"]))
        total += reward
    return total, info


# Stable-Baselines3


@pytest.mark.parametrize("env_id", COPY_IDS)
@pytest.mark.parametrize("wrapper", [None, MultiBinaryToDiscrete, MultiBinaryToMultiDiscrete])
def test_sb3_check_env(env_id, wrapper):
    from stable_baselines3.common.env_checker import check_env

    env = gym.make(env_id, bits=3, reward_mode="bit")
    if wrapper is not None:
        env = wrapper(env)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # check_env only warns about some problems: fail on them
        check_env(env, warn=True)


def test_sb3_ppo_trains_through_make_vec_env_and_monitor_logs_bit_errors():
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    length = 2
    venv = make_vec_env(
        QUALIFIED,
        n_envs=4,
        seed=0,
        env_kwargs=dict(bits=2, min_length=length, max_length=length, reward_mode="bit"),
        monitor_kwargs=dict(info_keywords=("bit_errors", "is_perfect")),
    )
    model = PPO("MlpPolicy", venv, n_steps=128, batch_size=128, n_epochs=2, seed=0, device="cpu")
    model.learn(total_timesteps=2048)
    assert model.num_timesteps >= 2048
    episodes = list(model.ep_info_buffer)
    assert len(episodes) >= 100  # 2048 steps of 5-step episodes
    for episode in episodes:
        # Monitor took bit_errors from the final info: the return follows from it exactly.
        assert episode["l"] == 2 * length + 1
        assert episode["r"] == pytest.approx(1.0 - episode["bit_errors"] / (2 * length), abs=1e-5)
        assert episode["is_perfect"] == (episode["bit_errors"] == 0)


def test_sb3_dqn_trains_on_the_discrete_wrapper():
    from stable_baselines3 import DQN
    from stable_baselines3.common.env_util import make_vec_env

    venv = make_vec_env(
        QUALIFIED,
        n_envs=1,
        seed=0,
        env_kwargs=dict(SMALL, reward_mode="bit"),
        wrapper_class=MultiBinaryToDiscrete,
        monitor_kwargs=dict(info_keywords=("bit_errors",)),
    )
    assert venv.action_space == gym.spaces.Discrete(4)
    model = DQN("MlpPolicy", venv, learning_starts=200, buffer_size=2000, seed=0, device="cpu")
    model.learn(total_timesteps=2000)
    assert len(model.ep_info_buffer) > 0
    assert all(0 <= e["bit_errors"] <= 2 * 3 for e in model.ep_info_buffer)


# sb3-contrib RecurrentPPO


def recurrent_ppo(seed: int = 0):
    sb3_contrib = pytest.importorskip("sb3_contrib", reason="pip install sb3-contrib")
    from stable_baselines3.common.env_util import make_vec_env

    venv = make_vec_env(
        QUALIFIED,
        n_envs=8,
        seed=seed,
        env_kwargs=dict(SMALL, reward_mode="bit"),
        wrapper_class=MultiBinaryToMultiDiscrete,
        monitor_kwargs=dict(info_keywords=("bit_errors",)),
    )
    return sb3_contrib.RecurrentPPO(
        "MlpLstmPolicy",
        venv,
        n_steps=128,
        batch_size=256,
        n_epochs=4,
        learning_rate=1e-3,
        gamma=1.0,
        seed=seed,
        device="cpu",
        policy_kwargs=dict(lstm_hidden_size=64),
    )


def test_recurrent_ppo_runs_on_the_multidiscrete_wrapper():
    model = recurrent_ppo()
    model.learn(total_timesteps=2048)
    returns = [e["r"] for e in model.ep_info_buffer]
    assert len(returns) == 100 and all(0.0 <= r <= 1.0 for r in returns)


@pytest.mark.slow
def test_recurrent_ppo_learns_the_small_copy_task():
    """Measured (examples/README.md): from about 0.5 to above 0.9 within 100k steps."""
    model = recurrent_ppo()
    model.learn(total_timesteps=4096)
    early = np.mean([e["r"] for e in model.ep_info_buffer])
    model.learn(total_timesteps=100_000, reset_num_timesteps=False)
    late = np.mean([e["r"] for e in model.ep_info_buffer])
    assert early < 0.6 and late > 0.85, (early, late)


# TorchRL


@pytest.mark.parametrize("env_id", COPY_IDS)
def test_torchrl_gym_env(env_id):
    pytest.importorskip("torchrl", reason="pip install torchrl (a release built for this torch)")
    from torchrl.envs import GymEnv
    from torchrl.envs.utils import check_env_specs

    env = GymEnv(env_id, bits=3, reward_mode="bit")
    check_env_specs(env)
    env.set_seed(0)
    rollout = env.rollout(200, break_when_any_done=True)
    output_size = gym.make(env_id, bits=3).action_space.shape[0]
    assert rollout["action"].shape[-1] == env.action_spec.shape[-1] == output_size
    assert rollout["next", "done"][-1].item() and not rollout["next", "done"][:-1].any()
    total = rollout["next", "reward"].sum().item()
    assert 0.0 <= total <= 1.0 + 1e-6


# Gymnasium's wrappers, on every id


@pytest.mark.parametrize("env_id", COPY_IDS)
def test_record_episode_statistics(env_id):
    env = gym.wrappers.RecordEpisodeStatistics(gym.make(env_id, bits=3, reward_mode="bit"))
    total, info = oracle_episode(env, lambda target: target)
    assert total == pytest.approx(1.0)
    assert info["episode"]["r"] == pytest.approx(1.0)
    assert info["episode"]["l"] == env.unwrapped.episode_length
    assert info["bit_errors"] == 0


@pytest.mark.parametrize("env_id", COPY_IDS)
def test_flatten_observation_keeps_flat_observations(env_id):
    env = gym.wrappers.FlattenObservation(gym.make(env_id, bits=3))
    observation, _ = env.reset(seed=0)
    assert env.observation_space == env.unwrapped.observation_space
    assert observation.shape == env.unwrapped.observation_space.shape


@pytest.mark.parametrize("env_id", COPY_IDS)
def test_time_limit_truncates(env_id):
    env = gym.wrappers.TimeLimit(gym.make(env_id, bits=3, min_length=4, max_length=4), 3)
    env.reset(seed=0)
    flags = [env.step(np.zeros(env.action_space.shape, np.int8))[2:4] for _ in range(3)]
    assert flags == [(False, False), (False, False), (False, True)]


@pytest.mark.parametrize("env_id", COPY_IDS)
def test_render_collection_gives_rgb_frames(env_id):
    """The frames RecordVideo writes, without needing moviepy."""
    env = gym.wrappers.RenderCollection(gym.make(env_id, bits=3, render_mode="rgb_array"))
    oracle_episode(env, lambda target: target)
    frames = env.render()
    assert len(frames) == env.unwrapped.episode_length + 1  # reset + every step
    shapes = {frame.shape for frame in frames}
    assert len(shapes) == 1 and frames[0].ndim == 3 and frames[0].shape[2] == 3
    assert all(frame.dtype == np.uint8 for frame in frames)
    assert not np.array_equal(frames[0], frames[-1])  # predictions get drawn


@pytest.mark.parametrize("env_id", COPY_IDS)
def test_record_video(env_id, tmp_path):
    pytest.importorskip("moviepy", reason="RecordVideo needs moviepy (pip install moviepy)")
    env = gym.make(env_id, bits=3, render_mode="rgb_array")
    folder = tmp_path / "videos"  # a new folder: RecordVideo warns when it reuses one
    env = gym.wrappers.RecordVideo(env, str(folder), episode_trigger=lambda index: True)
    oracle_episode(env, lambda target: target)
    env.close()
    videos = list(folder.glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 0


# The action wrappers


def test_discrete_wrapper_is_a_bijection_least_significant_bit_first():
    env = MultiBinaryToDiscrete(gym.make("memtasks/Copy-v0", bits=3))
    assert env.action_space == gym.spaces.Discrete(8)
    table = [env.action(k).tolist() for k in range(8)]
    assert table[1] == [1, 0, 0] and table[4] == [0, 0, 1] and table[6] == [0, 1, 1]
    assert len({tuple(bits) for bits in table}) == 8
    assert [env.index(bits) for bits in table] == list(range(8))
    assert all(env.action(k).dtype == np.int8 for k in range(8))


@pytest.mark.parametrize("env_id", COPY_IDS)
def test_discrete_wrapper_plays_the_oracle_perfectly(env_id):
    env = MultiBinaryToDiscrete(gym.make(env_id, bits=3, reward_mode="bit"))
    total, info = oracle_episode(env, env.index)
    assert total == pytest.approx(1.0) and info["is_perfect"]
    total, info = oracle_episode(env, lambda target: env.index(1 - target), seed=1)
    assert info["bit_errors"] > 0 and total < 1.0


def test_multidiscrete_wrapper_passes_bits_through():
    env = MultiBinaryToMultiDiscrete(gym.make("memtasks/Copy-v0", bits=3, reward_mode="bit"))
    assert env.action_space == gym.spaces.MultiDiscrete([2, 2, 2])
    np.testing.assert_array_equal(env.action(np.array([1, 0, 1], np.int64)), [1, 0, 1])
    total, _ = oracle_episode(env, lambda target: target.astype(np.int64))
    assert total == pytest.approx(1.0)


def test_wrappers_refuse_what_they_cannot_map():
    with pytest.raises(ValueError, match="at most 16 bits"):
        MultiBinaryToDiscrete(gym.make("memtasks/Copy-v0", bits=17))
    box = gym.make("Pendulum-v1")
    for wrapper in (MultiBinaryToDiscrete, MultiBinaryToMultiDiscrete):
        with pytest.raises(ValueError, match="MultiBinary"):
            wrapper(box)


# The action_space kwarg: no wrapper needed (issue 13, item 5)


def test_sb3_dqn_trains_on_action_space_discrete():
    from stable_baselines3 import DQN
    from stable_baselines3.common.env_util import make_vec_env

    venv = make_vec_env(
        QUALIFIED,
        n_envs=1,
        seed=0,
        env_kwargs=dict(SMALL, reward_mode="bit", action_space="discrete"),
        monitor_kwargs=dict(info_keywords=("bit_errors",)),
    )
    assert venv.action_space == gym.spaces.Discrete(4)
    model = DQN("MlpPolicy", venv, learning_starts=200, buffer_size=2000, seed=0, device="cpu")
    model.learn(total_timesteps=1000)
    assert len(model.ep_info_buffer) > 0
    assert all(0 <= e["bit_errors"] <= 2 * 3 for e in model.ep_info_buffer)


def test_recurrent_ppo_runs_on_action_space_multidiscrete():
    sb3_contrib = pytest.importorskip("sb3_contrib", reason="pip install sb3-contrib")
    from stable_baselines3.common.env_util import make_vec_env

    venv = make_vec_env(
        "memtasks:memtasks/Copy-Easy-v0",
        n_envs=4,
        seed=0,
        env_kwargs=dict(reward_mode="bit", action_space="multidiscrete"),
    )
    model = sb3_contrib.RecurrentPPO(
        "MlpLstmPolicy", venv, n_steps=64, batch_size=128, n_epochs=1, seed=0, device="cpu"
    )
    model.learn(total_timesteps=512)  # fails at the first update with MultiBinary (docs/RL.md)
    assert len(model.ep_info_buffer) > 0
    assert all(0.0 <= e["r"] <= 1.0 for e in model.ep_info_buffer)


# Our own scripts take the module form (issue 13, item 1)


def test_make_envs_takes_the_module_form():
    from memagents.agent import make_envs

    envs = make_envs("memtasks:memtasks/Copy-Easy-v0", 3, {"reward_mode": "bit"})
    assert envs.spec.id == "memtasks/Copy-Easy-v0" and envs.num_envs == 3
    assert envs.unwrapped.task.difficulty() == {"min_length": 2, "max_length": 3}
    with pytest.raises(ValueError, match="cannot import module 'no_such_module'"):
        make_envs("no_such_module:memtasks/Copy-v0", 2)


# TorchRL (issue 13, items 2 and 3): the module form makes the ids known in worker processes.

TORCHRL_ID = "memtasks:memtasks/Copy-Easy-v0"


def _torchrl():
    return pytest.importorskip("torchrl", reason="pip install torchrl (a release for this torch)")


def test_torchrl_parallel_env_with_the_module_form():
    _torchrl()
    from torchrl.envs import GymEnv, ParallelEnv
    from torchrl.envs.utils import check_env_specs

    envs = ParallelEnv(2, partial(GymEnv, TORCHRL_ID, reward_mode="bit"))
    try:
        check_env_specs(envs)
        rollout = envs.rollout(10)
        assert rollout["next", "reward"].shape[0] == 2
    finally:
        envs.close()


def test_torchrl_gym_env_num_envs_with_the_module_form():
    _torchrl()
    from torchrl.data.tensor_specs import BoundedDiscrete
    from torchrl.envs import GymEnv
    from torchrl.envs.utils import check_env_specs

    env = GymEnv(TORCHRL_ID, num_envs=3, reward_mode="bit")
    try:
        check_env_specs(env)
        assert env.batch_size == torch.Size([3])
        # Gymnasium batches MultiBinary(O) as an int8 Box(0, 1): TorchRL reads BoundedDiscrete.
        assert isinstance(env.action_spec, BoundedDiscrete)
        assert env.action_spec.shape == torch.Size([3, 2])
    finally:
        env.close()


def test_torchrl_gym_wrapper_over_the_native_vector_env_in_same_step_mode():
    _torchrl()
    from torchrl.envs import GymWrapper
    from torchrl.envs.utils import check_env_specs

    vector = gym.make_vec(
        "memtasks/Copy-Easy-v0",
        4,
        vectorization_mode="vector_entry_point",
        reward_mode="bit",
        autoreset_mode="SameStep",  # TorchRL's GymWrapper needs SAME_STEP autoresets
    )
    env = GymWrapper(vector)
    check_env_specs(env)
    rollout = env.rollout(30, break_when_any_done=False)
    assert rollout["next", "reward"].shape == torch.Size([4, 30, 1])
    assert rollout["next", "done"].any()


def test_torchrl_from_pixels_over_episodes_of_different_lengths():
    _torchrl()
    from torchrl.envs import GymEnv
    from torchrl.envs.utils import check_env_specs

    env = GymEnv(TORCHRL_ID, from_pixels=True, pixels_only=False, reward_mode="bit")
    check_env_specs(env)
    rollout = env.rollout(40, break_when_any_done=False)  # several episodes of 5 or 7 steps
    assert rollout["next", "done"].sum() >= 4
    assert rollout["pixels"].shape[1:] == env.observation_spec["pixels"].shape


def test_record_video_over_episodes_of_different_lengths(tmp_path):
    pytest.importorskip("moviepy", reason="RecordVideo needs moviepy (pip install moviepy)")
    env = gym.make("memtasks/Copy-v0", bits=2, max_length=10, render_mode="rgb_array")
    folder = tmp_path / "videos"
    env = gym.wrappers.RecordVideo(
        env, str(folder), episode_trigger=lambda index: index == 0, video_length=60
    )
    for seed in range(6):  # one video across several episodes: frames must keep one size
        oracle_episode(env, lambda target: target, seed=seed)
    env.close()
    videos = list(folder.glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 0


# PufferLib and tianshou: optional (docs/RL.md says which installs beside torch 2.13)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["DummyVectorEnv", "SubprocVectorEnv"])
def test_tianshou_vector_envs_play_the_oracle(backend):
    tianshou_env = pytest.importorskip("tianshou.env", reason="pip install tianshou (2.0.1)")
    factory = partial(
        gym.make, "memtasks:memtasks/Copy-Easy-v0", reward_mode="bit", action_space="multidiscrete"
    )
    envs = getattr(tianshou_env, backend)([factory] * 2)
    try:
        envs.seed([1, 2])
        _, infos = envs.reset()
        totals, done = np.zeros(2), np.zeros(2, dtype=bool)
        while not done.all():
            ids = np.flatnonzero(~done)  # tianshou's vector envs do not autoreset
            actions = np.stack([infos[i]["target"] for i in ids]).astype(np.int64)
            _, rewards, terminated, _, step_infos = envs.step(actions, id=ids)
            totals[ids] += rewards
            done[ids] = terminated
            for i, info in zip(ids, step_infos, strict=True):
                infos[i] = info
        np.testing.assert_allclose(totals, 1.0)
    finally:
        envs.close()


@pytest.mark.slow
def test_pufferlib_takes_action_space_multidiscrete():
    emulation = pytest.importorskip(
        "pufferlib.emulation", reason="PufferLib does not install here (docs/RL.md)"
    )
    env = emulation.GymnasiumPufferEnv(
        env_creator=gym.make,
        env_args=["memtasks:memtasks/Copy-Easy-v0"],
        env_kwargs=dict(reward_mode="bit", action_space="multidiscrete"),
    )
    env.reset(seed=0)
    _, reward, terminal, _, _ = env.step(np.ones(2, dtype=np.int64))
    assert 0.0 <= float(np.asarray(reward).sum()) <= 1.0
